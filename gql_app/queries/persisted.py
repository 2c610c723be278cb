"""Trusted documents (`gql-app persist`): registering a manifest's operations, and finding one
by its id or the SHA-256 of its text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import bindparam, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gql_app.db.models import PersistedDocument


class DocumentRow(NamedTuple):
    id: str
    sha256: str
    document: str
    operation_name: str | None


_find = (
    select(PersistedDocument.document)
    .where(
        or_(
            PersistedDocument.id == bindparam("key"),
            PersistedDocument.sha256 == bindparam("key"),
        )
    )
    .limit(1)
)

_insert = text(
    "INSERT INTO persisted_documents (id, sha256, document, operation_name)"
    " VALUES (:id, :sha256, :document, :operation_name)"
    " ON CONFLICT (id) DO NOTHING"
)

_by_ids = select(PersistedDocument.id, PersistedDocument.sha256).where(
    PersistedDocument.id.in_(bindparam("ids", expanding=True))
)

_listed = select(
    PersistedDocument.id,
    PersistedDocument.sha256,
    PersistedDocument.document,
    PersistedDocument.operation_name,
).order_by(PersistedDocument.operation_name, PersistedDocument.id)


async def persisted_document(connection: AsyncConnection, key: str) -> str | None:
    """The text of the document registered under id `key`, or whose SHA-256 is `key`."""
    found: str | None = (await connection.execute(_find, {"key": key})).scalar()
    return found


async def registered_hashes(session: AsyncSession, ids: Sequence[str]) -> dict[str, str]:
    """The SHA-256 of each of `ids` already registered, by id."""
    rows = await session.execute(_by_ids, {"ids": list(ids)})
    return {row.id: row.sha256 for row in rows}


async def register_documents(session: AsyncSession, documents: Sequence[DocumentRow]) -> None:
    """Register `documents`; an id already registered keeps its document."""
    if documents:
        await session.execute(_insert, [row._asdict() for row in documents])


async def persisted_documents(session: AsyncSession) -> list[DocumentRow]:
    """Every registered document, by operation name."""
    rows = await session.execute(_listed)
    return [DocumentRow(*row) for row in rows]
