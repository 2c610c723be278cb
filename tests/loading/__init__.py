"""Tests of gql_app.loading: the DataLoader and the per-request loaders."""
