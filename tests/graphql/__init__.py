"""Tests of gql_app.graphql: schema, resolvers, limits, errors and pagination."""
