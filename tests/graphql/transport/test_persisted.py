"""Automatic persisted queries, exactly as Apollo's protocol has them, and trusted documents
(gql_app/graphql/transport/persisted.py)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from gql_app import queries
from gql_app.core.config import load_settings
from gql_app.db import RequestSession
from gql_app.graphql.manifests import read_manifest
from gql_app.graphql.transport.http import GRAPHQL_RESPONSE_JSON
from tests.support.app import AppWith, MakeUser, running_app
from tests.support.manifests import ME, POSTS, relay_manifest, sha256
from tests.support.net import free_port

USER = "query User($id: ID!) { user(id: $id) { username } }"
OTHER = "{ __typename }"
MUTATION = "mutation { logout { __typename } }"


def _persisted(document: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(document)}}


def _hash_only(document: str, **parameters: Any) -> dict[str, Any]:
    return {"extensions": _persisted(document), **parameters}


def _with_text(document: str, **parameters: Any) -> dict[str, Any]:
    return {"query": document, **_hash_only(document, **parameters)}


def _error(response: httpx.Response) -> tuple[int, str, str, str]:
    (error,) = response.json()["errors"]
    return (
        response.status_code,
        response.headers["content-type"],
        error["message"],
        error["extensions"]["code"],
    )


NOT_FOUND = (
    200,
    "application/json; charset=utf-8",
    "PersistedQueryNotFound",
    "PERSISTED_QUERY_NOT_FOUND",
)


async def test_an_unknown_hash_is_persisted_query_not_found(app_with: AppWith) -> None:
    async with app_with() as client:
        response = await client.post(
            "/graphql", json=_hash_only(OTHER), headers={"Accept": GRAPHQL_RESPONSE_JSON}
        )
    assert _error(response) == NOT_FOUND


async def test_the_resend_with_the_query_registers_it(
    app_with: AppWith, make_user: MakeUser
) -> None:
    user = await make_user("apq")
    variables = {"id": user.id}
    async with app_with() as client:
        sent = await client.post("/graphql", json=_with_text(USER, variables=variables))
        named = await client.post("/graphql", json=_hash_only(USER, variables=variables))
    assert sent.json()["data"] == {"user": {"username": "apq"}}
    assert named.json() == sent.json()


async def test_a_query_whose_hash_is_not_the_given_one_is_refused_and_not_registered(
    app_with: AppWith,
) -> None:
    forged = {"query": MUTATION, "extensions": _persisted(OTHER)}
    async with app_with() as client:
        refused = await client.post("/graphql", json=forged)
        named = await client.post("/graphql", json=_hash_only(OTHER))
    assert refused.status_code == 400
    assert _error(refused)[3] == "PERSISTED_QUERY_HASH_MISMATCH"
    assert _error(named) == NOT_FOUND


async def test_get_with_the_hash_only_runs_a_query(app_with: AppWith) -> None:
    async with app_with() as client:
        await client.post("/graphql", json=_with_text(OTHER))
        response = await client.get(
            "/graphql", params={"extensions": orjson.dumps(_persisted(OTHER)).decode()}
        )
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


async def test_get_with_the_hash_of_a_mutation_is_405(app_with: AppWith) -> None:
    async with app_with() as client:
        await client.post("/graphql", json=_with_text(MUTATION))
        response = await client.get(
            "/graphql", params={"extensions": orjson.dumps(_persisted(MUTATION)).decode()}
        )
    assert response.status_code == 405
    assert _error(response)[3] == "METHOD_NOT_ALLOWED"


async def test_with_persisted_queries_off_a_hash_is_not_supported(app_with: AppWith) -> None:
    async with app_with(persisted_queries="off") as client:
        response = await client.post("/graphql", json=_with_text(OTHER))
    assert _error(response) == (
        200,
        "application/json; charset=utf-8",
        "PersistedQueryNotSupported",
        "PERSISTED_QUERY_NOT_SUPPORTED",
    )


async def test_a_hash_the_bounded_cache_forgot_is_not_found_again(app_with: AppWith) -> None:
    async with app_with(apq_cache_size=1) as client:
        await client.post("/graphql", json=_with_text(OTHER))
        await client.post("/graphql", json=_with_text(USER, variables={"id": "1"}))
        forgotten = await client.post("/graphql", json=_hash_only(OTHER))
    assert _error(forgotten) == NOT_FOUND


async def test_another_persisted_query_version_is_refused(app_with: AppWith) -> None:
    extensions = {"persistedQuery": {"version": 2, "sha256Hash": sha256(OTHER)}}
    async with app_with() as client:
        response = await client.post("/graphql", json={"query": OTHER, "extensions": extensions})
    assert response.status_code == 400
    assert _error(response)[3] == "PERSISTED_QUERY_INVALID"


async def test_a_hash_only_request_takes_the_fast_path(
    app_with: AppWith, make_user: MakeUser, full_path_runs: list[str | None]
) -> None:
    user = await make_user("fast")
    body = _hash_only(USER, variables={"id": user.id})
    async with app_with() as client:
        await client.post("/graphql", json=_with_text(USER, variables={"id": user.id}))
        answers = [(await client.post("/graphql", json=body)).json() for _ in range(2)]
    assert full_path_runs == [USER]
    assert [answer["data"] for answer in answers] == [{"user": {"username": "fast"}}] * 2


async def test_other_extensions_are_kept(app_with: AppWith) -> None:
    """They go on to the router with the query (which then takes the full path)."""
    body = _with_text(OTHER)
    body["extensions"]["tracing"] = True
    async with app_with() as client:
        response = await client.post("/graphql", json=body)
    assert response.json()["data"] == {"__typename": "Query"}


@pytest.fixture
async def registered(db: RequestSession) -> dict[str, str]:
    """ME and POSTS registered as trusted documents from a Relay manifest; their ids."""
    manifest = relay_manifest(ME, POSTS)
    async with db.transaction(write=True) as session:
        await queries.register_documents(session, read_manifest(orjson.dumps(manifest)))
    return {document: document_id for document_id, document in manifest.items()}


@pytest.mark.parametrize("mode", ["apq", "only"])
async def test_a_registered_document_runs_by_each_of_its_names(
    app_with: AppWith, registered: dict[str, str], mode: str
) -> None:
    names = [
        {"documentId": registered[ME]},
        {"documentId": f"sha256:{sha256(ME)}"},
        _hash_only(ME),
        {"query": ME},
    ]
    async with app_with(persisted_queries=mode) as client:
        answers = [(await client.post("/graphql", json=body)).json() for body in names]
    assert [answer["data"] for answer in answers] == [{"me": None}] * 4


async def test_get_runs_a_registered_document_by_its_id(
    app_with: AppWith, registered: dict[str, str]
) -> None:
    async with app_with(persisted_queries="only") as client:
        response = await client.get("/graphql", params={"documentId": registered[POSTS]})
    assert response.json()["data"] == {"posts": {"edges": []}}


@pytest.mark.parametrize(
    "body",
    [
        {"query": OTHER},
        {"query": "{ __schema { queryType { name } } }"},
        {"query": "{ me {"},
        _with_text(OTHER),
    ],
    ids=["a query", "introspection", "what would not even parse", "an APQ registration"],
)
async def test_only_mode_refuses_unregistered_text(
    app_with: AppWith, registered: dict[str, str], body: dict[str, Any]
) -> None:
    async with app_with(persisted_queries="only") as client:
        response = await client.post("/graphql", json=body)
    assert response.status_code == 400
    assert _error(response)[3] == "PERSISTED_QUERY_NOT_ALLOWED"


async def test_only_mode_refuses_unregistered_text_over_get(
    app_with: AppWith, registered: dict[str, str]
) -> None:
    async with app_with(persisted_queries="only") as client:
        response = await client.get("/graphql", params={"query": OTHER})
    assert _error(response)[3] == "PERSISTED_QUERY_NOT_ALLOWED"


async def test_only_mode_does_not_register_automatic_persisted_queries(
    app_with: AppWith, registered: dict[str, str]
) -> None:
    async with app_with(persisted_queries="only") as client:
        await client.post("/graphql", json=_with_text(OTHER))
        response = await client.post("/graphql", json=_hash_only(OTHER))
    assert _error(response) == NOT_FOUND


async def test_an_unknown_document_id_is_not_found(
    app_with: AppWith, registered: dict[str, str]
) -> None:
    async with app_with() as client:
        response = await client.post("/graphql", json={"documentId": "sha256:" + "0" * 64})
    assert _error(response)[3] == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_document_id_with_a_query_is_refused(
    app_with: AppWith, registered: dict[str, str]
) -> None:
    async with app_with() as client:
        response = await client.post(
            "/graphql", json={"documentId": registered[ME], "query": OTHER}
        )
    assert response.status_code == 400
    assert _error(response)[3] == "PERSISTED_QUERY_INVALID"


async def test_each_operation_of_a_batch_may_name_its_document(
    app_with: AppWith, registered: dict[str, str]
) -> None:
    batch = [{"documentId": registered[ME]}, _with_text(OTHER)]
    async with app_with(max_batch_size=2) as client:
        response = await client.post("/graphql", json=batch)
    assert [answer["data"] for answer in response.json()] == [{"me": None}, {"__typename": "Query"}]


async def test_only_mode_refuses_a_batch_with_unregistered_text(
    app_with: AppWith, registered: dict[str, str]
) -> None:
    batch = [{"documentId": registered[ME]}, {"query": OTHER}]
    async with app_with(max_batch_size=2, persisted_queries="only") as client:
        response = await client.post("/graphql", json=batch)
    assert _error(response)[3] == "PERSISTED_QUERY_NOT_ALLOWED"


async def test_a_persisted_request_of_another_media_type_is_the_routers_415(
    app_with: AppWith,
) -> None:
    async with app_with() as client:
        response = await client.post(
            "/graphql",
            content=orjson.dumps(_hash_only(OTHER)),
            headers={"Content-Type": "text/plain"},
        )
    assert response.status_code == 415


@pytest.mark.parametrize(
    "body",
    [b'{"query": "{ __typename }", "extra": NaN}', b'{"query": "{ __typename \\ud800 }"}'],
    ids=["NaN, which only the router's parser reads", "a lone surrogate"],
)
async def test_only_mode_reads_what_the_router_would_read(
    app_with: AppWith, registered: dict[str, str], body: bytes
) -> None:
    async with app_with(persisted_queries="only") as client:
        response = await client.post(
            "/graphql", content=body, headers={"Content-Type": "application/json"}
        )
    assert _error(response)[3] == "PERSISTED_QUERY_NOT_ALLOWED"


async def test_a_lookup_when_the_database_is_unreachable_is_503_database_unavailable() -> None:
    """A real failure: nothing listens on the port (the lookup is the request's only read)."""
    url = f"postgresql://gql_app@127.0.0.1:{free_port()}/gql_app"
    settings = load_settings(database_url=url, db_connect_timeout=2)
    async with running_app(settings) as (_, client):
        response = await client.post("/graphql", json={"documentId": "sha256:" + "0" * 64})
    assert response.status_code == 503
    assert _error(response)[3] == "DATABASE_UNAVAILABLE"
    assert "127.0.0.1" not in response.text
