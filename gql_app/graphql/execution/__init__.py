"""Compiled execution of queries: graphql-core's result, much faster (marker, plan, compiler, run).

graphql-core completes a result field by field: a resolve info, a resolver call through
Strawberry's wrappers (argument conversion, extensions), an asyncio task per async
resolver and a type dispatch per value. For ~9,000 fields that is most of a large
request's CPU. Here a validated query is compiled once (cached by document, operation
name and the values of the variables its `@skip`/`@include` read) into a plan of its
selection sets; a run then walks the result one depth at a time over every object of that
depth together:

- plain attribute fields are read with `getattr`, `__typename` is a constant;
- resolvers are Strawberry's own functions, called with arguments converted once per
  request (not once per object) and one shared `Info` per field;
- a resolver with a batch form (`batched`: the DataLoader-backed relation fields) is not
  called per object: its batch form is called once per depth with every object's source
  and returns each object's value or error, in one coroutine instead of one per object;
- the coroutines of one depth run together, each in a task of its own, so their DataLoader
  calls land in the same batch, as they do under graphql-core;
- values are completed as graphql-core completes them: the same coercion of leaves (values
  the built-in scalars return unchanged are copied as they are), type checks, error
  messages, error locations and paths; an error in a nullable field or list item nulls it
  and is reported there. Paths are built only for errors, from where each object lies.

Mutations run their root fields on stock execution and complete each payload through a plan
(`mutations`). Anything else falls back to stock execution: subscriptions, introspection,
`@defer`/`@stream`, fields with Strawberry field extensions or permission classes,
resolvers that read `info.path`, awaitables where graphql-core would accept them but a
plan does not (in lists, from type resolvers), and an error in a non-null position (which
of the other errors graphql-core still reports once the null propagates depends on the
order its tasks ran in). A query that falls back while running only
read: stock execution then runs it again from the start, with the same loaders.
"""
