"""How operations reach the schema: the spec HTTP router and the fast path in front of it."""
