"""/readyz tells a load balancer why the service cannot serve: pool exhausted or database down."""

from __future__ import annotations

from gql_app.core.resources import resources_of
from tests.reliability.conftest import reliability_settings
from tests.support.app import running_app
from tests.support.postgres import PostgresCluster


async def test_readyz_is_503_database_busy_while_the_pool_is_exhausted(
    reliability_url: str,
) -> None:
    settings = reliability_settings(reliability_url, db_pool_size=1, db_pool_timeout=0.5)
    async with running_app(settings) as (app, client):
        async with resources_of(app).engine.connect():
            busy = await client.get("/readyz")
        ready = await client.get("/readyz")
    assert busy.status_code == 503
    assert {key: busy.json()[key] for key in ("status", "code")} == {
        "status": "busy",
        "code": "DATABASE_BUSY",
    }
    assert ready.status_code == 200


async def test_readyz_is_503_database_unavailable_while_the_server_is_down(
    reliability_url: str, own_postgres: PostgresCluster
) -> None:
    async with running_app(reliability_settings(reliability_url)) as (_, client):
        own_postgres.stop()
        try:
            down = await client.get("/readyz")
        finally:
            own_postgres.start()
        ready = await client.get("/readyz")
    assert down.status_code == 503
    assert {key: down.json()[key] for key in ("status", "code")} == {
        "status": "unavailable",
        "code": "DATABASE_UNAVAILABLE",
    }
    assert ready.status_code == 200
