"""Health endpoints: liveness, and readiness that needs the database at the code's migration
(and reports the replicas without depending on them)."""

import logging
import shutil
from pathlib import Path

import httpx
import pytest

from gql_app.core.config import load_settings
from gql_app.db import migrate
from tests.support.app import AppWith, running_app
from tests.support.net import free_port
from tests.support.postgres import Replicated


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


async def test_readyz_reports_each_replica_and_stays_ready_while_one_is_unreachable(
    replicated: Replicated, replicated_app: AppWith
) -> None:
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    async with replicated_app(database_replica_urls=f"{replicated.replica_url},{down}") as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    up, unreachable = body["replicas"]
    assert (up["name"], up["reachable"], up["inRotation"]) == ("replica 1", True, True)
    assert up["lagMs"] >= 0
    assert (unreachable["name"], unreachable["reachable"]) == ("replica 2", False)
    assert unreachable["problem"].startswith("unreachable: database unreachable")


async def test_sqlite_ignores_replica_urls_and_says_so_at_start_up(
    sqlite_template: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shutil.copyfile(sqlite_template, tmp_path / "test.db")
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'test.db'}",
        database_replica_urls="postgresql://postgres@127.0.0.1:1/nothing",
    )
    with caplog.at_level(logging.WARNING, logger="gql_app.app"):
        async with running_app(settings) as (_, client):
            response = await client.get("/readyz")
    assert response.json() == {"status": "ready", "revision": migrate.head_revision()}
    assert [record.getMessage() for record in caplog.records] == [
        "DATABASE_REPLICA_URLS is ignored: DATABASE_URL is SQLite, which has no replicas;"
        " every read goes to DATABASE_URL"
    ]
