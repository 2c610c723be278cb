"""The worker's token registry (revocation.py) on both databases: a check calls back the
watchers of the tokens that are no longer live, and only those, however many batches the
watched tokens take."""

from __future__ import annotations

from functools import partial

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gql_app import queries
from gql_app.core.config import Settings
from gql_app.db import create_sessionmaker
from gql_app.db.models import utcnow
from gql_app.domain.security import bearer_token, hash_token
from gql_app.graphql.transport import revocation
from gql_app.graphql.transport.revocation import Revocations
from tests.support.realtime import make_member
from tests.support.sessions import request_session

TOKENS = 5


async def _token_hashes(settings: Settings) -> list[str]:
    hashes = []
    for number in range(TOKENS):
        user = await make_member(settings.database_url, f"watched{number}")
        token = bearer_token(user.headers["Authorization"])
        assert token is not None
        hashes.append(hash_token(token))
    return hashes


async def _revoke(engine: AsyncEngine, token_hashes: list[str]) -> None:
    session = request_session(engine)
    try:
        async with session.transaction(write=True) as db:
            for token_hash in token_hashes:
                await queries.revoke_token(db, token_hash, utcnow())
    finally:
        await session.close()


async def test_a_check_calls_back_exactly_the_watchers_of_revoked_tokens_in_every_batch(
    settings: Settings, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(revocation, "CHECK_BATCH", 2)  # five tokens: three statements
    hashes = await _token_hashes(settings)
    registry = Revocations(settings, create_sessionmaker(engine))
    called: list[str] = []
    for token_hash in hashes:
        registry.watch(token_hash, partial(called.append, token_hash))
    revoked = [hashes[0], hashes[3], hashes[4]]
    await _revoke(engine, revoked)
    await registry.check()
    await registry.check()
    assert sorted(called) == sorted(revoked)
    assert registry.tokens == TOKENS - len(revoked)


async def test_a_watch_given_up_is_not_called_back(settings: Settings, engine: AsyncEngine) -> None:
    [token_hash, *_] = await _token_hashes(settings)
    registry = Revocations(settings, create_sessionmaker(engine))
    called: list[str] = []
    forget = registry.watch(token_hash, lambda: called.append(token_hash))
    forget()
    await _revoke(engine, [token_hash])
    await registry.check()
    assert called == []
    assert registry.tokens == 0
