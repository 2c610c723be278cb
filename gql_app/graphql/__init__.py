"""The GraphQL layer: schema, types, resolvers, context, limits, cost; transport/, execution/."""
