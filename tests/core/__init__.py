"""Tests of gql_app.core: settings and concurrency slots."""
