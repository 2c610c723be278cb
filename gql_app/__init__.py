"""gql_app: a GraphQL API over async SQLAlchemy; its packages are its layers (README)."""
