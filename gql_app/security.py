"""Password hashing with passlib, run off the event loop (DESIGN.md contract 7)."""

from __future__ import annotations

import asyncio

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
