"""The benchmark's hash-only variants (bench/operations.py) send no document text, and once
their manifest is registered gql_app answers them exactly as their text."""

from __future__ import annotations

import httpx
import orjson
import pytest

from bench.operations import BY_NAME, Rows, persisted_manifest
from gql_app import queries
from gql_app.db import RequestSession
from gql_app.domain.seed import seed
from gql_app.graphql.manifests import read_manifest


@pytest.mark.parametrize("name", ["tiny", "page"])
async def test_a_hash_only_variant_is_answered_as_its_text(
    client: httpx.AsyncClient, db: RequestSession, name: str
) -> None:
    text, hashed = BY_NAME[name], BY_NAME[f"{name}-hash"]
    async with db.transaction(write=True) as session:
        await seed(session, users=3, posts_per_user=2, comments_per_post=2)
        manifest = orjson.dumps(persisted_manifest([text, hashed]))
        await queries.register_documents(session, read_manifest(manifest))
    rows = Rows(user_ids=(1, 2, 3), usernames=(), post_ids=())
    body = hashed.body(0, rows)
    assert "query" not in orjson.loads(body)
    headers = {"Content-Type": "application/json"}
    answers = [
        (await client.post("/graphql", content=request, headers=headers)).json()
        for request in (text.body(0, rows), body)
    ]
    assert answers[0] == answers[1]
    assert "errors" not in answers[0]
