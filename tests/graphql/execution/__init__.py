"""Tests of gql_app.graphql.execution: compiled plans against stock execution."""
