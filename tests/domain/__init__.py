"""Tests of gql_app.domain: account input, passwords and tokens, throttling."""
