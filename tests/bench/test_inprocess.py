"""bench.inprocess: requests driven through the app in process, measured."""

from __future__ import annotations

import httpx
import orjson
import pytest
from fastapi import FastAPI

from bench.inprocess import METRICS, OFF, FailedRequest, drive, measure, settings_for
from bench.load import Request
from bench.operations import BY_NAME, Rows
from gql_app.db import RequestSession
from gql_app.domain.seed import seed
from tests.support.app import MakeUser

ROWS = Rows(user_ids=(1, 2, 3), usernames=(), post_ids=())


@pytest.fixture
async def seeded(app_client: tuple[FastAPI, httpx.AsyncClient], db: RequestSession) -> FastAPI:
    """The app, over a database holding the users `ROWS` names."""
    async with db.transaction(write=True) as session:
        await seed(session, users=3, posts_per_user=1, comments_per_post=1)
    return app_client[0]


async def test_measuring_counts_every_request_and_its_python_calls(seeded: FastAPI) -> None:
    bodies = BY_NAME["tiny"].requests(6, ROWS, [])
    measured = await measure(seeded, bodies, concurrency=2)
    assert measured.requests == 6
    assert measured.calls > 100
    assert measured.cpu_ms > 0


async def test_a_request_answered_with_errors_fails_the_measure(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, _ = app_client
    with pytest.raises(FailedRequest, match="invalid id"):
        await drive(app, Request(b'{"query": "{ user(id: \\"nope\\") { username } }"}'))


async def test_a_request_with_a_token_is_driven_signed_in(
    app_client: tuple[FastAPI, httpx.AsyncClient], make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    app, _ = app_client
    token = alice.headers["Authorization"].removeprefix("Bearer ")
    answer = await drive(app, Request(b'{"query": "{ me { username } }"}', token))
    assert orjson.loads(answer)["data"] == {"me": {"username": "alice"}}


async def test_with_observability_off_no_call_is_opentelemetrys_or_prometheus_clients(
    seeded: FastAPI,
) -> None:
    bodies = BY_NAME["tiny"].requests(10, ROWS, [])
    measured = await measure(seeded, bodies, concurrency=1)
    assert measured.calls > 100
    assert measured.library_calls == 0
    assert measured.observability_calls > 0  # the hooks, each one comparison


def test_a_mode_sets_what_serve_would_turn_on() -> None:
    assert settings_for(METRICS).metrics_port == 9
    assert settings_for(OFF).metrics_port is None
