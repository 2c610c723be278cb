"""Helpers the tests share: PostgreSQL clusters, the app in process, GraphQL calls."""
