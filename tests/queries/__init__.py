"""Tests of gql_app.queries: the SQL statements."""
