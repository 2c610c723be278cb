"""Tests of gql_app.db: engines, sessions, TLS, migrations and database roles."""
