"""Tests of gql_app.http: the ASGI middlewares and the HTTP surface they guard."""
