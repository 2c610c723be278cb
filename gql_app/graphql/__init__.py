"""The GraphQL layer: schema, types, resolvers, context and the HTTP router."""
