"""The `gql-app` command: serve, migrate, seed, export-schema, db-status, persist.

Every failure is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging.config
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from gql_app import queries
from gql_app.core.config import Settings, SettingsError, load_settings
from gql_app.core.observability import log_config
from gql_app.db import (
    APPLICATION_NAME,
    ReplicaSet,
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


MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def _metrics_directory() -> Path | None:
    """The directory every worker writes its figures to (prometheus-client's multiprocess
    mode), set before anything imports prometheus-client: `PROMETHEUS_MULTIPROC_DIR` when
    given, emptied of a previous run's files; else a new temporary one, returned for `serve`
    to remove when it stops."""
    given = os.environ.get(MULTIPROC_DIR)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return None
    made = Path(tempfile.mkdtemp(prefix="gql-app-metrics-"))
    os.environ[MULTIPROC_DIR] = str(made)
    return made


def _serve_metrics(settings: Settings) -> None:
    """The metrics of every worker, added up, on METRICS_HOST:METRICS_PORT (a thread)."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    try:
        start_http_server(settings.metrics_port or 0, addr=settings.metrics_host, registry=registry)
    except OSError as exc:
        raise CommandError(
            f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port} ({exc})"
        ) from None


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    # What serve logs before uvicorn starts (the migration check's SQL with DB_ECHO) in the
    # format of the rest; uvicorn applies the same configuration again in every worker.
    logging.config.dictConfig(log_config(settings))
    _ensure_migrated(settings, migrate_now=args.migrate)
    made = None
    if settings.metrics_port is not None:
        made = _metrics_directory()
        _serve_metrics(settings)
    try:
        _run_uvicorn(settings, args)
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


def _run_uvicorn(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    # uvicorn re-raises SIGTERM once it has shut down gracefully; a clean stop exits 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    options: dict[str, Any] = {
        "app": "gql_app.app:create_app",
        "factory": True,
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "reload": args.reload,
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        "log_config": log_config(settings),
        "log_level": settings.log_level.value,
        # The app writes the access log itself (ACCESS_LOG), with the request's id and operation.
        "access_log": False,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "http": "gql_app.http.protocol:LimitedHttpToolsProtocol",
        "ws": "gql_app.http.websocket_protocol:GoingAwayWebSocketProtocol",
        "ws_per_message_deflate": settings.ws_per_message_deflate,
        "limit_concurrency": settings.max_connections or None,
        # uvicorn would take X-Forwarded-For from any peer on loopback; the client address
        # is the app's to decide, from TRUSTED_PROXIES alone (gql_app/http/client_address.py).
        "proxy_headers": False,
    }
    if settings.metrics_port is None or args.workers < 2 or args.reload:
        uvicorn.run(**options)
        return
    from gql_app.workers import MeteredWorkers

    config = uvicorn.Config(**options)
    MeteredWorkers(config, [config.bind_socket()], Path(os.environ[MULTIPROC_DIR])).run()


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
            return lines + await _replica_lines(settings, engine)
        finally:
            await engine.dispose()

    print("\n".join(_run(work)))


async def _replica_lines(settings: Settings, engine: AsyncEngine) -> list[str]:
    """db-status's line per replica: reachable, lag, in rotation (as a worker would judge)."""
    if settings.is_sqlite and settings.database_replica_urls:
        return ["replicas:   DATABASE_REPLICA_URLS ignored: SQLite has no replicas"]
    if not settings.replica_urls:
        return []
    replicas = ReplicaSet(settings, engine, queries.REPLICATION)
    try:
        await replicas.settle()
    finally:
        await replicas.close()
    lines = []
    for replica in replicas.replicas:
        state = replica.state
        if state.reachable and state.lag_ms is not None:
            health = f"reachable, lag {state.lag_ms:.0f} ms, "
        else:
            health = "reachable, " if state.reachable else ""
        health += "in rotation" if state.in_rotation else f"out of rotation: {state.problem}"
        url = replica.url.render_as_string(hide_password=True)
        lines.append(f"{replica.name}:  {url}  {health}")
    return lines


def cmd_persist(settings: Settings, args: argparse.Namespace) -> None:
    from gql_app.graphql.manifests import ManifestError, read_manifest

    if (args.file is None) == (not args.list):
        raise CommandError("persist takes a manifest FILE, or --list")
    documents: list[queries.DocumentRow] = []
    if args.file is not None:
        try:
            documents = read_manifest(Path(args.file).read_bytes())
        except OSError as exc:
            raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
        except ManifestError as exc:
            raise CommandError(f"{args.file}: {exc}; nothing was registered") from None
    _ensure_migrated(settings, migrate_now=False)

    async def work() -> list[str]:
        engine = create_engine(settings)
        session = RequestSession(create_sessionmaker(engine))
        try:
            async with session.transaction(write=not args.list) as db:
                if args.list:
                    listed = [
                        f"{row.id}  {row.operation_name or '-'}  sha256:{row.sha256}"
                        for row in await queries.persisted_documents(db)
                    ]
                    return listed or ["no documents are registered"]
                known = await queries.registered_hashes(db, [row.id for row in documents])
                for row in documents:
                    if known.get(row.id, row.sha256) != row.sha256:
                        raise CommandError(
                            f"{args.file}: document {row.id!r} is registered with another "
                            "text; nothing was registered"
                        )
                new = [row for row in documents if row.id not in known]
                await queries.register_documents(db, new)
                return [f"registered {len(new)} documents ({len(known)} already registered)"]
        finally:
            await session.close()
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

    status = commands.add_parser(
        "db-status", help="migration revision, pool, connections and replicas"
    )
    status.set_defaults(handler=cmd_db_status)

    persist = commands.add_parser(
        "persist", help="register a client manifest's trusted documents, or --list them"
    )
    persist.add_argument(
        "file", nargs="?", help="Apollo's, Relay's or GraphQL Code Generator's manifest"
    )
    persist.add_argument("--list", action="store_true", help="show the registered documents")
    persist.set_defaults(handler=cmd_persist)
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
