"""The `gql-app` command: serve, migrate, seed, export-schema, db-status.

Every failure is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from types import FrameType
from typing import NoReturn, TypeVar

from gql_app import queries
from gql_app.core.config import Settings, SettingsError, load_settings
from gql_app.db import (
    APPLICATION_NAME,
    RequestSession,
    create_engine,
    create_sessionmaker,
    describe_error,
    migrate,
)

T = TypeVar("T")


class CommandError(Exception):
    """A failure to report as one line."""


def _fail(message: str) -> NoReturn:
    print(f"gql-app: error: {message}", file=sys.stderr)
    raise SystemExit(1)


def _run(work: Callable[[], Awaitable[T]]) -> T:
    """Run async work, turning database failures into `CommandError`."""

    async def guarded() -> T:
        try:
            return await work()
        except CommandError:
            raise
        except Exception as exc:  # reported as one line by main()
            raise CommandError(describe_error(exc)) from exc

    return asyncio.run(guarded())


def _ensure_migrated(settings: Settings, *, migrate_now: bool) -> None:
    head = migrate.head_revision()
    current = _run(lambda: migrate.database_revision(settings))
    if current == head:
        return
    if settings.is_sqlite or migrate_now:
        revision = _run(lambda: migrate.upgrade(settings))
        print(f"gql-app: migrated the database to {revision}", file=sys.stderr)
        return
    raise CommandError(
        f"the database is at migration {current or 'none'}, the code needs {head}: "
        "run `gql-app migrate` (or `gql-app serve --migrate`)"
    )


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    _ensure_migrated(settings, migrate_now=args.migrate)
    # uvicorn re-raises SIGTERM once it has shut down gracefully; a clean stop exits 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        "gql_app.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        reload=args.reload,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        log_level="info",
        access_log=settings.access_log,
        timeout_keep_alive=settings.keep_alive_seconds,
        http="gql_app.http.protocol:LimitedHttpToolsProtocol",
        ws="gql_app.http.websocket_protocol:GoingAwayWebSocketProtocol",
        limit_concurrency=settings.max_connections or None,
        # uvicorn would take X-Forwarded-For from any peer on loopback; the client address
        # is the app's to decide, from TRUSTED_PROXIES alone (gql_app/http/client_address.py).
        proxy_headers=False,
    )


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    revision = _run(lambda: migrate.upgrade(settings, args.revision))
    print(f"database at migration {revision or 'base'} (head {migrate.head_revision()})")


def cmd_seed(settings: Settings, args: argparse.Namespace) -> None:
    from gql_app.domain.seed import SeedError, seed

    _ensure_migrated(settings, migrate_now=False)

    async def work() -> dict[str, int]:
        engine = create_engine(settings)
        session = RequestSession(create_sessionmaker(engine))
        try:
            async with session.transaction(write=True) as db:
                return await seed(
                    db,
                    users=args.users,
                    posts_per_user=args.posts_per_user,
                    comments_per_post=args.comments_per_post,
                    reset=args.reset,
                    progress=args.users >= 1000,
                )
        except SeedError as exc:
            raise CommandError(str(exc)) from None
        finally:
            await session.close()
            await engine.dispose()

    counts = _run(work)
    print(f"seeded {counts['users']} users, {counts['posts']} posts, {counts['comments']} comments")


def cmd_export_schema(settings: Settings, args: argparse.Namespace) -> None:
    from gql_app.graphql.schema import schema

    sys.stdout.write(schema.as_str() + "\n")


def cmd_db_status(settings: Settings, args: argparse.Namespace) -> None:
    async def work() -> list[str]:
        engine = create_engine(settings)
        try:
            async with engine.connect() as connection:
                current = await migrate.current_revision(connection)
                lines = [
                    f"database:   {settings.url.render_as_string(hide_password=True)}",
                    f"migration:  {current or 'none'} (head {migrate.head_revision()})"
                    + ("" if current == migrate.head_revision() else "  BEHIND"),
                    (
                        f"pool:       size {settings.db_pool_size}, overflow "
                        f"{settings.db_max_overflow}, timeout {settings.db_pool_timeout:g}s, "
                        f"recycle {settings.db_pool_recycle}s"
                    ),
                ]
                if not settings.is_sqlite:
                    lines.append(f"tls:        {await queries.connection_tls(connection) or 'off'}")
                    states = await queries.connections_by_state(connection, APPLICATION_NAME)
                    summary = ", ".join(f"{state} {count}" for state, count in states)
                    lines.append(f"connections of {APPLICATION_NAME}: {summary or 'none'}")
                return lines
        finally:
            await engine.dispose()

    print("\n".join(_run(work)))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gql-app", description="The gql_app GraphQL API.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true", help="restart on code changes")
    serve.add_argument(
        "--migrate", action="store_true", help="apply pending migrations before serving"
    )
    serve.set_defaults(handler=cmd_serve)

    migrate_cmd = commands.add_parser("migrate", help="migrate the database (default: head)")
    migrate_cmd.add_argument(
        "revision", nargs="?", default="head", help="target: head, a revision id, -1 or base"
    )
    migrate_cmd.set_defaults(handler=cmd_migrate)

    seed = commands.add_parser("seed", help="insert deterministic demo data")
    seed.add_argument("--users", type=int, default=100)
    seed.add_argument("--posts-per-user", type=int, default=10)
    seed.add_argument("--comments-per-post", type=int, default=5)
    seed.add_argument("--reset", action="store_true", help="delete all users and their data first")
    seed.set_defaults(handler=cmd_seed)

    export = commands.add_parser("export-schema", help="print the GraphQL SDL")
    export.set_defaults(handler=cmd_export_schema)

    status = commands.add_parser("db-status", help="migration revision, pool and connections")
    status.set_defaults(handler=cmd_db_status)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        args.handler(settings, args)
    except (SettingsError, CommandError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
