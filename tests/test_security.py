"""Password hashing and verification (argon2id, legacy bcrypt) and bearer token primitives."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from passlib.hash import bcrypt as bcrypt_handler

from gql_app import accounts, queries, security
from gql_app.config import Settings
from gql_app.db import RequestSession
from gql_app.security import (
    bearer_token,
    hash_password,
    hash_token,
    new_token,
    password_context,
    verify_password,
)
from tests.conftest import create_legacy_user

PASSWORD = "correct horse battery"
bcrypt = bcrypt_handler.using(rounds=4)  # a legacy hash; its cost is not under test


async def test_new_hashes_are_argon2id() -> None:
    assert (await hash_password(PASSWORD)).startswith("$argon2id$")


async def test_the_right_password_verifies_without_a_rehash() -> None:
    assert await verify_password(PASSWORD, await hash_password(PASSWORD)) == (True, None)


async def test_a_wrong_password_does_not_verify() -> None:
    assert await verify_password("wrong password", await hash_password(PASSWORD)) == (False, None)


async def test_a_long_password_is_hashed_whole_not_truncated() -> None:
    password = "p" * 127 + "q"
    stored = await hash_password(password)
    assert await verify_password(password, stored) == (True, None)
    assert await verify_password("p" * 128, stored) == (False, None)
    assert await verify_password(password[:72], stored) == (False, None)


async def test_a_bcrypt_hash_verifies_and_comes_with_an_argon2id_replacement() -> None:
    ok, new_hash = await verify_password(PASSWORD, bcrypt.hash(PASSWORD))
    assert ok and new_hash is not None and new_hash.startswith("$argon2id$")
    assert await verify_password(PASSWORD, new_hash) == (True, None)


async def test_a_wrong_password_against_bcrypt_gives_no_replacement() -> None:
    assert await verify_password("wrong password", bcrypt.hash(PASSWORD)) == (False, None)


async def test_a_bcrypt_hash_of_a_password_over_72_bytes_verifies_and_rehashes_it_whole() -> None:
    password = "é" * 50  # 100 bytes: legacy bcrypt hashed the first 72
    ok, new_hash = await verify_password(password, bcrypt.hash(password.encode()[:72]))
    assert ok and new_hash is not None
    assert await verify_password(password, new_hash) == (True, None)
    assert await verify_password("é" * 36, new_hash) == (False, None)


async def test_an_unknown_user_costs_a_real_hash_verification(verified_hashes: list[str]) -> None:
    assert await verify_password(PASSWORD, None) == (False, None)
    assert len(verified_hashes) == 1
    assert password_context.identify(verified_hashes[0]) == "argon2"
    assert verified_hashes[0].startswith("$argon2id$")


async def test_hashing_and_verifying_run_off_the_event_loop_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[threading.Thread] = []
    hash_, verify = password_context.hash, password_context.verify

    def hash_spy(secret: str, **kwargs: Any) -> str:
        threads.append(threading.current_thread())
        return hash_(secret, **kwargs)

    def verify_spy(secret: str | bytes, stored: str, **kwargs: Any) -> bool:
        threads.append(threading.current_thread())
        return verify(secret, stored, **kwargs)

    monkeypatch.setattr(password_context, "hash", hash_spy)
    monkeypatch.setattr(password_context, "verify", verify_spy)
    await verify_password(PASSWORD, await hash_password(PASSWORD))
    assert len(threads) == 2
    assert threading.main_thread() not in threads
    assert threading.current_thread() not in threads


def test_tokens_carry_at_least_256_random_bits_and_are_stored_hashed() -> None:
    token, token_hash = new_token()
    assert len(token) * 6 >= 256  # url-safe base64: 6 bits a character
    assert token_hash == hash_token(token) and token not in token_hash
    assert len(token_hash) == 64
    assert len({new_token()[0] for _ in range(100)}) == 100


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc123", "abc123"),
        ("bearer   abc123  ", "abc123"),
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic dXNlcjpwYXNz", None),
        ("Token abc123", None),
        ("Bearer " + "x" * 257, None),
    ],
)
def test_bearer_token_is_read_from_the_authorization_header(
    header: str | None, expected: str | None
) -> None:
    assert bearer_token(header) == expected


def test_production_argon2id_cost_is_above_the_owasp_baseline() -> None:
    assert security.ARGON2_MEMORY_KIB >= 19 * 1024
    assert security.ARGON2_PASSES >= 2


async def _stored_hash(db: RequestSession, username: str) -> str:
    async with db.transaction() as session:
        user = await queries.user_by_username(session, username)
    assert user is not None
    return user.password_hash


async def test_logging_in_replaces_a_stored_bcrypt_hash_with_argon2id(
    db: RequestSession, settings: Settings
) -> None:
    await create_legacy_user(db, "legacy", PASSWORD)
    await accounts.login(db, settings, login="legacy", password=PASSWORD, address="")
    stored = await _stored_hash(db, "legacy")
    assert stored.startswith("$argon2id$")
    assert (await accounts.login(db, settings, login="legacy", password=PASSWORD, address="")).token
    assert await _stored_hash(db, "legacy") == stored
