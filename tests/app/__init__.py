"""Tests of the composition: the app (health, production mode, logs) and the `gql-app` command."""
