"""Health endpoints: liveness, and readiness that needs the database at the code's migration."""

import httpx

from gql_app.core.config import load_settings
from gql_app.db import migrate
from tests.support.app import running_app
from tests.support.net import free_port


async def test_healthz_answers_while_the_process_runs(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_reports_the_migration_revision(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "revision": migrate.head_revision()}


async def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    async with running_app(load_settings(database_url=url, db_connect_timeout=2)) as (_, client):
        response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["reason"].startswith("database unreachable")


async def test_readyz_is_503_when_the_database_is_behind(scratch_database_url: str) -> None:
    async with running_app(load_settings(database_url=scratch_database_url)) as (_, client):
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "behind",
        "reason": f"database at migration none, code expects {migrate.head_revision()}",
    }
