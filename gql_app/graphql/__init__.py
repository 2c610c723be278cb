"""The GraphQL layer: schema, types, resolvers, context, limits and cost; transport/ and execution/."""
