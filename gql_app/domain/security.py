"""Passwords (passlib, hashed off the event loop) and bearer tokens (DESIGN.md contract 7)."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import TypeVar

from passlib.context import CryptContext

from gql_app.core.config import DEFAULT_PASSWORD_HASH_CONCURRENCY
from gql_app.core.observability import count_password_hashes
from gql_app.core.slots import slot_lent

T = TypeVar("T")

# argon2id's cost, above OWASP's baseline of 19 MiB and 2 passes.
ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES = 65536, 3, 4

# argon2id for new hashes; bcrypt hashes still verify and are re-hashed on the next login.
password_context = CryptContext(
    schemes=["argon2", "bcrypt"],
    deprecated="auto",
    argon2__type="ID",
    argon2__memory_cost=ARGON2_MEMORY_KIB,
    argon2__rounds=ARGON2_PASSES,
    argon2__parallelism=ARGON2_LANES,
)


TOKEN_BYTES = 32  # 256 bits
# bcrypt only ever read this many bytes of a password: a legacy hash is checked against them.
BCRYPT_MAX_BYTES = 72


class PasswordHashBusy(Exception):
    """Every place in the worker's hashing queue is taken: try again in a second."""

    retry_after_seconds = 1

    def __init__(self) -> None:
        super().__init__("the password hashing queue is full")


class HashQueue:
    """At most `concurrency` password hashes run at once (on threads of their own), and as
    many again wait for one; a hash asked for beyond that is refused at once.

    Each argon2id hash is tens of milliseconds of CPU and 64 MiB: queued without a bound, a
    flood of logins (60 for unknown users) held a concurrent query up for seconds, the GIL
    and cores busy with hashes. Refusing at the door costs nothing, and a client retries.
    """

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.taken = 0  # places taken: hashes running or waiting for a thread
        self._lock = threading.Lock()  # places are given back on the hashing threads
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="password-hash")

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """`work(*args)` on a hashing thread; `PasswordHashBusy` when the queue is full."""
        with self._lock:
            if self.taken >= 2 * self.concurrency:
                raise PasswordHashBusy
            self.taken += 1
        count_password_hashes(1)
        try:
            # In the caller's context: what the hash logs carries the request's id.
            future: Future[T] = self._threads.submit(contextvars.copy_context().run, work, *args)
        except BaseException:
            self._give_back(None)
            raise
        # Given back when the hash ends (or, cancelled, never starts), not when its caller stops.
        future.add_done_callback(self._give_back)
        async with slot_lent():
            return await asyncio.wrap_future(future)

    def _give_back(self, _done: object) -> None:
        with self._lock:
            self.taken -= 1
        count_password_hashes(-1)

    def close(self) -> None:
        """No more hashes; those in the queue still finish."""
        self._threads.shutdown(wait=False)


hash_queue = HashQueue(DEFAULT_PASSWORD_HASH_CONCURRENCY)


def configure_hashing(concurrency: int) -> None:
    """The worker's hashing queue takes `PASSWORD_HASH_CONCURRENCY` (at app start-up)."""
    global hash_queue
    if hash_queue.concurrency != concurrency:
        hash_queue.close()
        hash_queue = HashQueue(concurrency)


async def hash_password(password: str) -> str:
    """The argon2id hash of `password`, computed in the hashing queue (`PasswordHashBusy`)."""
    return await hash_queue.run(password_context.hash, password)


@cache
def _dummy_hash() -> str:
    """A hash of a random password, verified for unknown users so they cost the same work."""
    return password_context.hash(secrets.token_urlsafe(TOKEN_BYTES))


def _verify(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    if password_hash is None:
        password_context.verify(password, _dummy_hash())
        return False, None
    secret: str | bytes = password
    if password_context.identify(password_hash) == "bcrypt":
        secret = password.encode()[:BCRYPT_MAX_BYTES]
    if not password_context.verify(secret, password_hash):
        return False, None
    if password_context.needs_update(password_hash):
        return True, password_context.hash(password)
    return True, None


async def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Whether `password` matches, and the hash to store instead (None if it is current).

    Runs in the hashing queue (`PasswordHashBusy` when it is full). A `password_hash` of None
    (no such user) verifies against a dummy hash and fails, costing what a real check costs
    (no user enumeration by timing).
    A legacy bcrypt hash is checked against the first 72 bytes, as bcrypt hashed them, and
    replaced by an argon2id hash of the whole password.
    """
    return await hash_queue.run(_verify, password, password_hash)


def new_token() -> tuple[str, str]:
    """A fresh opaque bearer token and the hash stored in its place."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """SHA-256 of the token: tokens carry 256 random bits, so a fast hash is enough."""
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 256:
        return None
    return token
