"""Passwords (passlib, hashed off the event loop) and bearer tokens (DESIGN.md contract 7)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from passlib.context import CryptContext

# argon2id for new hashes; bcrypt hashes still verify and are re-hashed on the next login.
password_context = CryptContext(
    schemes=["argon2", "bcrypt"],
    deprecated="auto",
    argon2__type="ID",
)


async def hash_password(password: str) -> str:
    """The argon2id hash of `password`, computed in a worker thread."""
    return await asyncio.to_thread(password_context.hash, password)


TOKEN_BYTES = 32  # 256 bits


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
