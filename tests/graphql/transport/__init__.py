"""Tests of gql_app.graphql.transport: the spec router, GraphiQL and the fast path."""
