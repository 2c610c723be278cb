"""Batch forms of resolvers (`execution.marker.batched`) answer exactly what the resolvers answer.

A small schema of its own, whose nullable batch fields return values, errors, nulls and
lists holding all three: a compiled plan, calling each batch form once per depth, gives the
data and errors (message, path, locations) stock execution gives calling the resolvers.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any

import strawberry
from graphql import ExecutionResult, parse

from gql_app.graphql.execution.marker import batched
from gql_app.graphql.execution.run import Run
from gql_app.graphql.types import only

CALLS: Counter[str] = Counter()


def _half(thing: Thing) -> int | Exception:
    return thing.pk // 2 if thing.pk % 2 == 0 else ValueError(f"{thing.pk} is odd")


async def halves(things: Sequence[Thing]) -> list[int | Exception]:
    CALLS["half"] += 1
    await asyncio.sleep(0)
    return [_half(thing) for thing in things]


def _children(thing: Thing, count: int) -> list[Thing | Exception | None] | Exception:
    if thing.pk % 3 == 0:
        return LookupError(f"{thing.pk} has no children")
    children: list[Thing | Exception | None] = [Thing(pk=thing.pk * 10 + i) for i in range(count)]
    if count > 1:
        children[1] = ValueError(f"child 1 of {thing.pk}")
    if count > 2:
        children[2] = None
    return children


async def children_of(things: Sequence[Thing], count: int) -> list[Any]:
    CALLS["children"] += 1
    return [_children(thing, count) for thing in things]


async def grids(things: Sequence[Thing]) -> list[Any]:
    CALLS["grid"] += 1
    return [[[Thing(pk=t.pk + 1), ValueError("bad cell")], [None, Thing(pk=t.pk)]] for t in things]


async def failing(things: Sequence[Thing]) -> list[Any]:
    CALLS["broken"] += 1
    raise RuntimeError("the batch failed")


async def too_few(things: Sequence[Thing]) -> list[Any]:
    return [1]


# The resolvers, as the batch forms answer for one object.


async def half_of(self: Thing) -> int | None:
    return only(await halves([self]))


async def children_of_one(self: Thing, count: int) -> list[Thing | None] | None:
    children: list[Thing | None] = only(await children_of([self], count))
    return children


async def grid_of(self: Thing) -> list[list[Thing | None]] | None:
    grid: list[list[Thing | None]] = only(await grids([self]))
    return grid


async def broken_of(self: Thing) -> str | None:
    broken: str = only(await failing([self]))
    return broken


async def too_few_of(self: Thing) -> int | None:
    value: int = only(await too_few([self]))
    return value


@strawberry.type
class Thing:
    pk: int
    half: int | None = strawberry.field(resolver=half_of, metadata=batched(halves))
    children: list[Thing | None] | None = strawberry.field(
        resolver=children_of_one, metadata=batched(children_of)
    )
    grid: list[list[Thing | None]] | None = strawberry.field(
        resolver=grid_of, metadata=batched(grids)
    )
    broken: str | None = strawberry.field(resolver=broken_of, metadata=batched(failing))
    too_few: int | None = strawberry.field(resolver=too_few_of, metadata=batched(too_few))


@strawberry.type
class Query:
    @strawberry.field
    def things(self, count: int) -> list[Thing]:
        return [Thing(pk=pk) for pk in range(1, count + 1)]


SCHEMA = strawberry.Schema(query=Query)
QUERY = """
{ things(count: 4) {
    pk half broken
    children(count: 3) { pk half children(count: 2) { pk half } }
    grid { pk half }
    ... on Thing { again: half }
} }"""


async def _compiled(query: str) -> ExecutionResult:
    built = SCHEMA.execution_context_class.build(SCHEMA._schema, parse(query))
    assert not isinstance(built, list)
    run = Run(built, SCHEMA)
    return await run.execute(run.compiler.root())


def _comparable(result: Any) -> tuple[Any, list[tuple[Any, ...]]]:
    errors = sorted(
        (
            error.message,
            tuple(error.path or ()),
            tuple((loc.line, loc.column) for loc in error.locations or ()),
        )
        for error in result.errors or ()
    )
    return result.data, errors


async def test_batch_forms_answer_as_the_resolvers_do() -> None:
    stock = await SCHEMA.execute(QUERY)
    CALLS.clear()
    fast = await _compiled(QUERY)
    assert _comparable(fast) == _comparable(stock)
    errors = _comparable(fast)[1]
    assert ("the batch failed", ("things", 3, "broken"), ((3, 13),)) in errors
    assert ("bad cell", ("things", 3, "grid", 0, 1), ((5, 5),)) in errors
    assert ("3 is odd", ("things", 1, "grid", 0, 0, "half"), ((5, 15),)) in errors
    assert ("child 1 of 20", ("things", 1, "children", 0, "children", 1), ((4, 34),)) in errors
    assert ("3 has no children", ("things", 2, "children"), ((4, 5),)) in errors
    # Once per field and depth: things' halves (both aliases), children's, grandchildren's
    # and the grid cells'.
    assert CALLS == {"half": 5, "children": 2, "grid": 1, "broken": 1}


async def test_a_batch_form_must_answer_each_object() -> None:
    result = await _compiled("{ things(count: 2) { tooFew } }")
    assert result.data == {"things": [{"tooFew": None}, {"tooFew": None}]}
    errors = result.errors or []
    assert [error.path for error in errors] == [["things", 0, "tooFew"], ["things", 1, "tooFew"]]
    assert "not one value per object" in errors[0].message
