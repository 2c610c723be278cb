"""Behind PgBouncer in transaction pooling mode, at the session layer."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from gql_app.core.config import Settings
from gql_app.core.errors import QueryTimeout
from gql_app.db import create_engine
from tests.reliability.conftest import DATABASE, reliability_settings
from tests.reliability.pgbouncer import PgBouncer
from tests.support.sessions import request_session

_SLEEP = text("SELECT pg_sleep(:seconds)")
_SHOW_TIMEOUT = text("SHOW statement_timeout")


@pytest.fixture
def bouncer_url(pgbouncer: PgBouncer, reliability_url: str) -> str:
    return pgbouncer.url(DATABASE)


async def _run_units(settings: Settings, units: int, concurrency: int) -> list[BaseException]:
    """`units` small read units from `concurrency` sessions at once; the errors they raised."""
    engine = create_engine(settings)
    errors: list[BaseException] = []

    async def worker(count: int) -> None:
        session = request_session(engine)
        try:
            for number in range(count):
                try:
                    async with session.transaction() as db:
                        await db.execute(
                            text("SELECT count(*) FROM users WHERE id > :n"), {"n": number}
                        )
                        await db.execute(
                            text("SELECT count(*) FROM posts WHERE id > :n"), {"n": number}
                        )
                except Exception as exc:  # noqa: BLE001 - collected for the assertion
                    errors.append(exc)
        finally:
            await session.close()

    try:
        await asyncio.gather(*(worker(units // concurrency) for _ in range(concurrency)))
    finally:
        await engine.dispose()
    return errors


async def test_without_the_pgbouncer_setting_prepared_statements_break(bouncer_url: str) -> None:
    settings = reliability_settings(bouncer_url, db_pool_size=8, db_pool_timeout=10)
    errors = await _run_units(settings, units=400, concurrency=8)
    assert errors, "expected prepared statement errors behind PgBouncer"
    assert all("prepared statement" in str(error) for error in errors), errors[0]


async def test_with_the_pgbouncer_setting_prepared_statements_are_safe(
    bouncer_url: str, reliability_url: str
) -> None:
    settings = reliability_settings(
        bouncer_url,
        db_pool_size=8,
        db_pool_timeout=10,
        db_pgbouncer=True,
        listen_database_url=reliability_url,
    )
    assert await _run_units(settings, units=400, concurrency=8) == []


async def test_without_the_pgbouncer_setting_the_statement_timeout_silently_vanishes(
    bouncer_url: str,
) -> None:
    engine = create_engine(reliability_settings(bouncer_url, db_statement_timeout_ms=250))
    try:
        async with engine.connect() as connection:
            timeout = (await connection.execute(_SHOW_TIMEOUT)).scalar_one()
    finally:
        await engine.dispose()
    assert timeout == "0"


async def test_with_the_pgbouncer_setting_the_statement_timeout_fires(
    bouncer_url: str, reliability_url: str
) -> None:
    settings = reliability_settings(
        bouncer_url,
        db_statement_timeout_ms=250,
        db_pgbouncer=True,
        listen_database_url=reliability_url,
    )
    engine = create_engine(settings)
    session = request_session(engine)
    try:
        with pytest.raises(QueryTimeout):
            async with session.transaction() as db:
                await db.execute(_SLEEP, {"seconds": 2})
        async with session.transaction() as db:
            timeout = (await db.execute(_SHOW_TIMEOUT)).scalar_one()
    finally:
        await session.close()
        await engine.dispose()
    assert timeout == "250ms"
