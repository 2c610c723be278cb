"""Field metadata giving a resolver its batch form (`batched`): what types need of compiled runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

BATCH_KEY = "gql_app.compiled.batch"


Batch = Callable[..., Awaitable[Sequence[Any]]]


def batched(batch: Batch) -> Mapping[str, Any]:
    """Field metadata (`strawberry.field(metadata=...)`) giving a resolver its batch form.

    A plan calls `batch(sources, **arguments)` once per field and depth with the sources of
    every object of that depth (the arguments and `info` as the resolver takes them) and
    expects one value, or exception, per source: what the resolver returns, or raises, for
    it. Stock execution keeps calling the resolver.
    """
    return {BATCH_KEY: batch}
