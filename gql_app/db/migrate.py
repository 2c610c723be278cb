"""Alembic driven from code: its configuration, the head revision and the database's own."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from gql_app.core.config import Settings
from gql_app.db import create_migration_engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(settings: Settings, connection: Connection | None = None) -> Config:
    """Alembic's configuration; env.py takes the settings (or an open connection) from it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["settings"] = settings
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str | None:
    """The newest revision the code knows."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(connection: AsyncConnection) -> str | None:
    """The revision the database is at (None for an empty database)."""
    return await connection.run_sync(_current)


async def _with_migration_connection(
    settings: Settings, work: Callable[[Connection], str | None]
) -> str | None:
    engine = create_migration_engine(settings)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


async def database_revision(settings: Settings) -> str | None:
    """The revision of the database the settings point at, read with the owner's URL."""
    return await _with_migration_connection(settings, _current)


async def upgrade(settings: Settings, revision: str = "head") -> str | None:
    """Migrate up (or down, for a revision below the current one) and return the new revision."""

    def run(connection: Connection) -> str | None:
        config = alembic_config(settings, connection)
        current = _current(connection)
        script = ScriptDirectory.from_config(config)
        going_down = (
            revision == "base"
            or revision.startswith("-")
            or (
                revision not in ("head", "heads")
                and current is not None
                and script.get_revision(current) is not None
                and revision in {rev.revision for rev in script.iterate_revisions(current, "base")}
                and revision != current
            )
        )
        if going_down:
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)
        connection.commit()
        return _current(connection)

    return await _with_migration_connection(settings, run)
