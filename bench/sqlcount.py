"""SQL statements per request, from pg_stat_statements (counted by the server itself)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

T = TypeVar("T")
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "START")


@dataclass(frozen=True)
class StatementCount:
    """Statements per request: work (queries) and transaction control, and the texts seen."""

    queries: float
    control: float
    texts: tuple[str, ...]


def _is_control(query: str) -> bool:
    return query.lstrip().upper().startswith(CONTROL)


class StatementCounter:
    """Counts the statements run in one database between `reset()` and `read()`.

    `admin_dsn` may point at another database of the server: the view covers them all.
    """

    def __init__(self, admin_dsn: str, database: str) -> None:
        self._dsn = admin_dsn
        self._database = database

    def _run(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async def connected() -> T:
            connection = await asyncpg.connect(self._dsn)
            try:
                return await work(connection)
            finally:
                await connection.close()

        return asyncio.run(connected())

    def available(self) -> str | None:
        """None when counting works, else why not (no pg_stat_statements, or no rights)."""

        async def probe(connection: asyncpg.Connection) -> None:
            await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await connection.execute("SELECT pg_stat_statements_reset()")

        try:
            self._run(probe)
        except asyncpg.PostgresError as exc:
            return str(exc).splitlines()[0]
        return None

    def reset(self) -> None:
        self._run(lambda connection: connection.execute("SELECT pg_stat_statements_reset()"))

    def read(self, requests: int) -> StatementCount:
        rows = self._run(
            lambda connection: connection.fetch(
                "SELECT s.query, s.calls FROM pg_stat_statements AS s"
                " JOIN pg_database AS d ON d.oid = s.dbid"
                " WHERE d.datname = $1 AND s.toplevel"
                " AND s.query NOT LIKE '%pg_stat_statements%'",
                self._database,
            )
        )
        control = sum(row["calls"] for row in rows if _is_control(row["query"]))
        total = sum(row["calls"] for row in rows)
        texts = tuple(
            sorted(
                f"{row['calls'] / requests:g}x {' '.join(row['query'].split())[:200]}"
                for row in rows
                if not _is_control(row["query"])
            )
        )
        return StatementCount((total - control) / requests, control / requests, texts)
