"""Compiled execution answers exactly what Strawberry's stock execution answers.

Differential: every query document the test suite sends (the GraphQL string literals of
tests/, found by parsing them) and queries hypothesis-graphql generates from schema.graphql
run on the same data through a schema with `COMPILED_EXECUTION` on and one with it off;
data and errors (message, path, locations, extensions) must be identical. Mutations are
not compared: the compiled path never runs them (a test below checks it falls back).
"""

import ast
import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    VariableDefinitionNode,
    parse,
    validate,
)
from graphql.language import ListTypeNode, NamedTypeNode, NonNullTypeNode, TypeNode
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes, queries
from sqlalchemy.ext.asyncio import AsyncEngine

from gql_app import queries as gql_queries
from gql_app.core.config import Settings, load_settings
from gql_app.db import RequestSession, create_engine, create_sessionmaker
from gql_app.domain.seed import seed
from gql_app.graphql.context import Context
from gql_app.graphql.ids import encode_global_id
from gql_app.graphql.schema import Schema, build_schema
from gql_app.graphql.transport.fanout import Fanout
from tests.support.app import CompiledRuns, MakeUser

ROOT = Path(__file__).resolve().parents[3]
SDL = (ROOT / "schema.graphql").read_text()
STOCK = build_schema(load_settings(compiled_execution=False))
COMPILED = build_schema(load_settings(compiled_execution=True))
ROOT_FIELDS = ("me", "user", "userByUsername", "users", "post", "posts", "node")


def _queries_in(path: Path) -> Iterator[str]:
    """String literals of a Python file that are valid query documents of the schema."""
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        try:
            document = parse(node.value)
        except GraphQLError:
            continue
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if (
            operations
            and all(op.operation is OperationType.QUERY for op in operations)
            and not validate(STOCK._schema, document)
        ):
            yield node.value


SUITE_QUERIES = sorted(
    {query for path in sorted((ROOT / "tests").rglob("test_*.py")) for query in _queries_in(path)}
)


@dataclass(frozen=True)
class Dataset:
    ids: dict[str, list[str]]  # global ids by type name
    usernames: list[str]
    headers: dict[str, str]


@pytest.fixture
async def dataset(db: RequestSession, make_user: MakeUser) -> Dataset:
    async with db.transaction(write=True) as session:
        await seed(session, users=5, posts_per_user=3, comments_per_post=2)
    viewer = await make_user("viewer")
    ids = {
        "User": [encode_global_id("User", pk) for pk in (1, 2, 3, 6, 999)],
        "Post": [encode_global_id("Post", pk) for pk in (1, 4, 15, 999)],
        "Comment": [encode_global_id("Comment", pk) for pk in (1, 30, 999)],
    }
    return Dataset(ids, ["user00001", "user00004", "viewer", "nobody"], viewer.headers)


def _named(type_node: TypeNode) -> str:
    while isinstance(type_node, NonNullTypeNode | ListTypeNode):
        type_node = type_node.type
    assert isinstance(type_node, NamedTypeNode)
    return type_node.name.value


def _value(definition: VariableDefinitionNode, dataset: Dataset, choice: int) -> Any:
    """A value for a variable, chosen among existing and missing objects by `choice`."""
    name, type_name = definition.variable.name.value, _named(definition.type)
    values: dict[str, list[Any]] = {
        "ID": [*dataset.ids["User"], *dataset.ids["Post"], *dataset.ids["Comment"], "bad"],
        "Int": [2, 1, 0, 5],
        "String": [*dataset.usernames, "ser"],
        "Boolean": [True, False],
    }
    if name in ("after", "before"):
        return None
    found = values.get(type_name)
    if found is None:
        return None  # input objects and enums keep their defaults (or fail alike)
    value = found[choice % len(found)]
    return [value] if isinstance(definition.type, ListTypeNode) else value


def _variables(query: str, dataset: Dataset, choice: int) -> dict[str, Any]:
    document = parse(query)
    definitions = [
        definition
        for operation in document.definitions
        if isinstance(operation, OperationDefinitionNode)
        for definition in operation.variable_definitions or ()
    ]
    return {
        d.variable.name.value: _value(d, dataset, choice + i) for i, d in enumerate(definitions)
    }


@asynccontextmanager
async def _engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    try:
        yield engine
    finally:
        await engine.dispose()


def _comparable(result: Any) -> tuple[Any, list[tuple[Any, ...]]]:
    errors = sorted(
        (
            error.message,
            tuple(error.path or ()),
            tuple((loc.line, loc.column) for loc in error.locations or ()),
            repr(error.extensions),
        )
        for error in result.errors or ()
    )
    return result.data, errors


async def _run(
    schema: Schema,
    engine: AsyncEngine,
    settings: Settings,
    query: str,
    variables: dict[str, Any],
    headers: dict[str, str] | None,
) -> tuple[Any, list[tuple[Any, ...]]]:
    sessionmaker = create_sessionmaker(engine)
    context = Context(
        sessionmaker=sessionmaker,
        read_after=None,
        fanout=Fanout(settings, engine, sessionmaker),
        settings=settings,
        request_id="differential",
        authorization=(headers or {}).get("Authorization"),
        client_address="127.0.0.1",
        loop=asyncio.get_running_loop(),
    )
    try:
        return _comparable(await schema.execute(query, variables, context))
    finally:
        await context.db.close()


async def _compare(
    settings: Settings, query: str, variables: dict[str, Any], headers: dict[str, str] | None
) -> None:
    async with _engine(settings) as engine:
        stock = await _run(STOCK, engine, settings, query, variables, headers)
        fast = await _run(COMPILED, engine, settings, query, variables, headers)
    assert fast[0] == stock[0], query
    assert _same_errors(fast[1], stock[1]), query


def _same_errors(fast: list[tuple[Any, ...]], stock: list[tuple[Any, ...]]) -> bool:
    """Equal, or (two errors or more, a null propagating from one) graphql-core's race.

    When a null propagates, graphql-core cancels the sibling fields still running and
    drops their errors: which ones it reports depends on which tasks ran first (a warm
    DataLoader changes it between two stock runs). The plan falls back to stock execution
    then, so both sides ran graphql-core; one error set holds the other.
    """
    if fast == stock:
        return True
    larger, smaller = (set(fast), set(stock)) if len(fast) > len(stock) else (set(stock), set(fast))
    return len(larger) >= 2 and smaller < larger


def test_the_suite_sends_queries_to_compare() -> None:
    assert len(SUITE_QUERIES) >= 20


@pytest.mark.parametrize("query", SUITE_QUERIES)
async def test_suite_query_answers_as_stock_execution_does(
    settings: Settings, dataset: Dataset, query: str
) -> None:
    for choice, headers in enumerate((None, dataset.headers, None)):
        await _compare(settings, query, _variables(query, dataset, choice), headers)


async def test_most_suite_queries_run_compiled(
    settings: Settings, dataset: Dataset, compiled_runs: CompiledRuns
) -> None:
    for query in SUITE_QUERIES:
        await _compare(settings, query, _variables(query, dataset, 0), None)
    assert compiled_runs.count >= len(SUITE_QUERIES) * 3 // 4


async def test_mutations_fall_back_to_stock_execution(
    client: httpx.AsyncClient, dataset: Dataset, compiled_runs: CompiledRuns
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": 'mutation { addComment(input: {postId: "x", body: "b"}) { __typename } }'},
        headers=dataset.headers,
    )
    assert response.json()["data"] == {"addComment": {"__typename": "ValidationError"}}
    assert compiled_runs.count == 0


RELATIONS_QUERY = """
{ posts(first: 4) { edges { node { title author { username }
    comments(first: 2) { edges { node { body author { username } post { title } } } }
} } } }"""


# When a null propagates, stock execution (graphql-core) leaves the coroutines of sibling
# resolvers it had not awaited yet unawaited: Python warns when they are collected, which
# the tests marked so make happen before they end (`gc.collect()`).
UNAWAITED_SIBLINGS = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@UNAWAITED_SIBLINGS
async def test_vanished_rows_answer_as_stock_execution_does(
    settings: Settings, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user deleted while the request ran: the batch forms report it where the resolvers
    do (in a non-null field: the null propagates and the plan falls back)."""
    users_by_ids = gql_queries.users_by_ids

    async def without_user_2(session: Any, ids: Any, columns: Any = None) -> dict[int, Any]:
        rows = await users_by_ids(session, ids, columns)
        rows.pop(2, None)
        return rows

    monkeypatch.setattr(gql_queries, "users_by_ids", without_user_2)
    await _compare(settings, RELATIONS_QUERY, {}, None)
    await _compare(settings, '{ user(id: "VXNlcjoy") { username posts { totalCount } } }', {}, None)
    gc.collect()


@UNAWAITED_SIBLINGS
async def test_failing_batches_answer_as_stock_execution_does(
    settings: Settings, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch whose statement fails: every object of it gets the (masked) error."""

    async def failing(*_: Any) -> dict[int, Any]:
        raise RuntimeError("the statement failed")

    for name in ("related_pages", "posts_by_ids", "related_counts"):
        with monkeypatch.context() as patch:
            patch.setattr(gql_queries, name, failing)
            await _compare(settings, RELATIONS_QUERY, {}, None)
            await _compare(
                settings, "{ posts(first: 3) { edges { node { commentCount } } } }", {}, None
            )
    gc.collect()


def _id_strategy(dataset_ids: list[str]) -> st.SearchStrategy[Any]:
    return st.sampled_from([*dataset_ids, "bad", ""]).map(nodes.String)


@pytest.mark.parametrize("backend", ["sqlite"])
@hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_generated_query_answers_as_stock_execution_does(
    settings: Settings, dataset: Dataset, data: st.DataObject
) -> None:
    ids = [i for group in dataset.ids.values() for i in group]
    root = data.draw(st.sampled_from(ROOT_FIELDS), label="root field")
    query = data.draw(
        queries(SDL, fields=[root], custom_scalars={"ID": _id_strategy(ids)}), label="query"
    )
    headers = data.draw(st.sampled_from([None, dataset.headers]), label="headers")
    asyncio.run(_compare(settings, str(query), {}, headers))
