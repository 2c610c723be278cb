"""gql_app: a GraphQL API over async SQLAlchemy; the packages name its layers (README, "Where things are")."""
