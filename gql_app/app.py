"""The ASGI application: engine lifespan, health endpoints and the GraphQL router."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from gql_app import queries
from gql_app.core.collector import tune_collector
from gql_app.core.config import Settings, load_settings
from gql_app.core.errors import DatabaseBusy, DatabaseUnavailable
from gql_app.core.observability import Observer, RequestRecord
from gql_app.core.resources import Resources, attach_resources, resources_of
from gql_app.db import (
    ReplicaSet,
    create_engine,
    create_sessionmaker,
    describe_error,
    migrate,
    public_database_error,
    replica_set,
    replicas_of,
)
from gql_app.domain import security
from gql_app.graphql.read_after import READ_AFTER_HEADER
from gql_app.graphql.transport.fanout import Fanout
from gql_app.graphql.transport.fast_path import FastQueryPath
from gql_app.graphql.transport.persisted import PersistedDocuments
from gql_app.graphql.transport.revocation import Revocations
from gql_app.graphql.transport.router import create_graphql_router
from gql_app.http.admission import ConcurrencyLimitMiddleware
from gql_app.http.body_limit import BodySizeLimitMiddleware
from gql_app.http.request_id import RequestIdMiddleware

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

logger = logging.getLogger(__name__)
GRAPHQL_PATH = "/graphql"


def start_replicas(settings: Settings, engine: AsyncEngine) -> ReplicaSet | None:
    """The replicas reads may use, if any (SQLite ignores `DATABASE_REPLICA_URLS`, and says so)."""
    if settings.is_sqlite and settings.database_replica_urls:
        logger.warning(
            "DATABASE_REPLICA_URLS is ignored: DATABASE_URL is SQLite, which has no replicas;"
            " every read goes to DATABASE_URL"
        )
    if not settings.replica_urls:
        return None
    return replica_set(settings, engine, queries.REPLICATION)


def _request_metrics(settings: Settings) -> Callable[[RequestRecord, float], None] | None:
    """Each request's figures when metrics are on (`METRICS_PORT`), else None. Imported only
    then: `serve` has set prometheus-client's multiprocess directory by now."""
    if settings.metrics_port is None:
        return None
    from gql_app.core.metrics import request_metrics

    return request_metrics(settings)


def _tracer_provider(settings: Settings) -> TracerProvider | None:
    """The tracer provider when tracing is on (`OTEL_*`), else None: then no OpenTelemetry
    code is imported, let alone run on the request path."""
    if not settings.tracing_enabled:
        return None
    from gql_app.core import tracing

    return tracing.enable(settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the engine is created when it starts and disposed when it stops."""
    settings = settings if settings is not None else load_settings()
    tracer_provider = _tracer_provider(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        security.configure_hashing(settings.password_hash_concurrency)
        engine = create_engine(settings)
        replicas = start_replicas(settings, engine)
        if replicas is not None:
            await replicas.start()
        if tracer_provider is not None:
            from gql_app.core.tracing import instrument_engine

            instrument_engine(engine.sync_engine, tracer_provider)
        loop = asyncio.get_running_loop()
        sessionmaker = create_sessionmaker(engine)
        attach_resources(app, Resources(settings, engine, sessionmaker, loop))
        app.state.fanout = fanout = Fanout(settings, engine, sessionmaker)
        await fanout.start()
        app.state.revocations = revocations = Revocations(settings, sessionmaker)
        await revocations.start()
        tune_collector(settings.gc_young_threshold)
        try:
            yield
        finally:
            await revocations.stop()
            await fanout.stop()
            if replicas is not None:
                await replicas.close()
            await engine.dispose()

    app = FastAPI(
        title="gql_app",
        lifespan=lifespan,
        # A GraphQL API: its schema is the GraphQL one, and the schema explorer is GraphiQL.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # Starlette would redirect `/graphql/` to an absolute URL built from the Host header.
        redirect_slashes=False,
        # FastAPI's native OpenTelemetry asks the global providers on every request (1.5 % of
        # a small request's CPU); gql_app configures none, and logs its errors itself.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    graphql_router = create_graphql_router(settings)
    if settings.compiled_execution:
        app.add_middleware(
            FastQueryPath, router=graphql_router, settings=settings, path=GRAPHQL_PATH
        )
    # Outside the fast path: a request naming its document reaches it with the text.
    app.add_middleware(PersistedDocuments, settings=settings, path=GRAPHQL_PATH)
    if settings.max_concurrent_requests:
        app.add_middleware(
            ConcurrencyLimitMiddleware, limit=settings.max_concurrent_requests, path=GRAPHQL_PATH
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    if settings.cors_origins:  # none by default: browsers then refuse cross-origin calls
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Accept",
                "X-Request-ID",
                READ_AFTER_HEADER,
            ],
            expose_headers=["X-Request-ID", READ_AFTER_HEADER],
            max_age=600,
        )
    app.add_middleware(RequestIdMiddleware, observer=Observer(settings, _request_metrics(settings)))
    if tracer_provider is not None:  # outermost: every line logged carries the trace id
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        app.add_middleware(
            OpenTelemetryMiddleware,
            tracer_provider=tracer_provider,
            exclude_spans=["receive", "send"],
        )
    app.include_router(graphql_router, prefix=GRAPHQL_PATH)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """The process is alive; says nothing of the database."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Ready when the database answers and is at the code's migration revision; with
        replicas, how each is as this worker's last check found it."""
        resources = resources_of(app)
        head = migrate.head_revision()
        try:
            async with resources.engine.connect() as connection:
                await queries.ping(connection)
                revision = await migrate.current_revision(connection)
        except Exception as exc:  # noqa: BLE001 - any failure to reach the database is "not ready"
            reason = describe_error(exc)
            logger.warning("readiness check failed: %s", reason)
            public = public_database_error(exc)
            code = public.code if public is not None else DatabaseUnavailable.code
            status = "busy" if code == DatabaseBusy.code else "unavailable"
            body = {"status": status, "code": code, "reason": reason}
            return JSONResponse(body, status_code=503)
        if revision != head:
            reason = f"database at migration {revision or 'none'}, code expects {head}"
            return JSONResponse({"status": "behind", "reason": reason}, status_code=503)
        ready: dict[str, object] = {"status": "ready", "revision": revision}
        replicas = replicas_of(resources.engine)
        if replicas is not None:  # what they say never makes the worker unready
            ready["replicas"] = replicas.report()
        return JSONResponse(ready)

    return app
