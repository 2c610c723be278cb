"""Settings from environment variables (pydantic-settings), validated once at start-up."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./gql_app.db"
# Two argon2id hashes at once keep both cores of a small server busy, no more.
DEFAULT_PASSWORD_HASH_CONCURRENCY = 2


class SettingsError(ValueError):
    """A setting is invalid; the message names the environment variable."""


class SslMode(StrEnum):
    DISABLE = "disable"
    REQUIRE = "require"
    VERIFY_FULL = "verify-full"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class PersistedQueries(StrEnum):
    """`PERSISTED_QUERIES`: what a request may name instead of sending its document."""

    APQ = "apq"  # automatic persisted queries: any valid document runs, and may be registered
    ONLY = "only"  # trusted documents: only what `gql-app persist` registered runs
    OFF = "off"  # no persisted queries at all


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


# libpq's sslmode values, as cloud providers put them in URLs, mapped onto ours.
_LIBPQ_SSLMODES = {
    "disable": SslMode.DISABLE,
    "allow": SslMode.DISABLE,
    "prefer": SslMode.DISABLE,
    "require": SslMode.REQUIRE,
    "verify-ca": SslMode.VERIFY_FULL,
    "verify-full": SslMode.VERIFY_FULL,
}
# libpq query options that asyncpg does not take as connect arguments.
_LIBPQ_ONLY_OPTIONS = frozenset(
    {"sslmode", "sslrootcert", "sslcert", "sslkey", "application_name", "connect_timeout"}
)


def normalize_database_url(raw: str) -> URL:
    """Parse a database URL, mapping `postgres://` and `postgresql://` onto asyncpg.

    libpq-only query options are removed here; `parse_url_ssl` reads the TLS ones.
    """
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL: {exc}") from None
    backend = url.get_backend_name()
    if backend in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    else:
        raise ValueError(f"unsupported database {backend!r}: use postgresql:// or sqlite://")
    if url.get_driver_name() not in ("asyncpg", "aiosqlite"):
        raise ValueError(f"unsupported driver {url.get_driver_name()!r}: use asyncpg or aiosqlite")
    return url.difference_update_query(_LIBPQ_ONLY_OPTIONS)


def parse_url_ssl(raw: str) -> tuple[SslMode | None, str | None]:
    """The TLS mode and CA file a libpq-style URL asks for (`?sslmode=...&sslrootcert=...`)."""
    query = make_url(raw).query
    mode = query.get("sslmode")
    ca = query.get("sslrootcert")
    mode_value = mode if isinstance(mode, str) or mode is None else mode[-1]
    ca_value = ca if isinstance(ca, str) or ca is None else ca[-1]
    if mode_value is None:
        return None, ca_value
    if mode_value not in _LIBPQ_SSLMODES:
        raise ValueError(f"unknown sslmode {mode_value!r}")
    return _LIBPQ_SSLMODES[mode_value], ca_value


def _comma_separated(value: object) -> object:
    """A string as the tuple of its comma-separated parts, stripped; other values as given."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


_ORIGIN = re.compile(r"\*|https?://[^/\s:]+(:\d{1,5})?")


class Settings(BaseSettings):
    """Every knob of the service; each field is read from the upper-case variable of its name."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    migration_database_url: str | None = None
    # The worker's LISTEN connection (gql_app/db/listener.py): DATABASE_URL when unset.
    listen_database_url: str | None = None

    db_pool_size: int = Field(10, ge=1, le=1000)
    db_max_overflow: int = Field(20, ge=0, le=1000)
    db_pool_timeout: float = Field(30.0, gt=0)
    db_pool_recycle: int = Field(1800, ge=-1, description="seconds; -1 never recycles")
    db_ping_after_seconds: float = Field(1.0, ge=0, description="0: ping at every checkout")
    db_statement_timeout_ms: int = Field(5000, ge=0)
    db_ssl_mode: SslMode | None = None
    db_ssl_ca: Path | None = None
    db_echo: bool = False
    db_pgbouncer: bool = False
    db_connect_timeout: float = Field(5.0, gt=0)
    # Streaming replicas for reads (gql_app/db/replicas.py); PostgreSQL only.
    database_replica_urls: Annotated[tuple[str, ...], NoDecode] = ()
    db_replica_pool_size: int | None = Field(None, ge=1, le=1000, description="DB_POOL_SIZE")
    replica_max_lag_ms: int = Field(1000, ge=0)
    replica_check_interval_ms: int = Field(500, ge=10, le=60_000)
    replica_check_timeout_ms: int = Field(1000, ge=10, le=60_000)

    shutdown_grace_seconds: int = Field(10, ge=1)
    # Observability (gql_app/core/observability.py, metrics.py, tracing.py).
    access_log: bool = False
    log_format: LogFormat | None = Field(None, description="None: json in production")
    log_level: LogLevel = LogLevel.INFO
    slow_operation_ms: int = Field(1000, ge=0, description="0: no slow-operation log")
    metrics_port: int | None = Field(None, ge=1, le=65535, description="None: no metrics")
    metrics_host: str = "127.0.0.1"
    metrics_max_operations: int = Field(100, ge=1, le=10_000, description="operation labels")
    # OpenTelemetry's own variables: either turns tracing on (the SDK reads the rest).
    otel_exporter_otlp_endpoint: str | None = None
    otel_traces_exporter: str | None = None
    keep_alive_seconds: int = Field(75, ge=1)
    # The HTTP edge (gql_app/http/protocol.py): what a client must send, and how fast.
    max_header_bytes: int = Field(32_768, ge=1_024, description="request line and headers")
    header_timeout_seconds: float = Field(10.0, gt=0)
    body_timeout_seconds: float = Field(30.0, gt=0)
    max_connections: int = Field(1_000, ge=0, description="per worker; 0: no limit")
    # ... and what it keeps for a client that does not read.
    send_timeout_seconds: float = Field(30.0, gt=0)
    max_buffered_response_bytes: int = Field(64 * 1024 * 1024, ge=1_024, description="per worker")
    max_concurrent_requests: int = Field(6, ge=0, description="0: no limit")
    gc_young_threshold: int = Field(
        10_000, ge=100, le=1_000_000, description="gql_app/core/collector.py"
    )
    environment: Environment = Environment.DEVELOPMENT

    graphiql: bool | None = Field(None, description="None: on in development, off in production")
    max_page_size: int = Field(100, ge=1, le=10_000)
    loader_batch_size: int = Field(500, ge=1, le=10_000, description="bound of IN lists")

    # Hardening: None follows ENVIRONMENT (on in development, off in production).
    introspection: bool | None = None
    field_suggestions: bool | None = None
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    query_max_cost: int = Field(50_000, ge=1)
    query_scan_cost: int = Field(1_000, ge=0, description="cost of a count or search scan")
    query_max_depth: int = Field(15, ge=1)
    query_max_aliases: int = Field(30, ge=0)
    query_max_tokens: int = Field(2_000, ge=1)
    query_validation_budget: int = Field(20_000, ge=1_000)
    max_request_bytes: int = Field(102_400, ge=1_024)
    max_response_bytes: int = Field(8 * 1024 * 1024, ge=1_024)
    max_batch_size: int = Field(0, ge=0, le=100, description="0: batching off")

    # Performance (gql_app/graphql/performance.py and execution/).
    compiled_execution: bool = True
    query_cache_size: int = Field(256, ge=1, le=100_000, description="query texts remembered")
    persisted_queries: PersistedQueries = PersistedQueries.APQ
    apq_cache_size: int = Field(1_000, ge=1, le=1_000_000, description="per worker")

    # Real-time (gql_app/graphql/transport/websocket.py and fanout.py).
    max_websockets: int = Field(10_000, ge=0, description="per worker; 0: none accepted")
    max_subscriptions_per_connection: int = Field(20, ge=1, le=10_000)
    subscription_queue_size: int = Field(100, ge=1, le=100_000, description="events")
    # Events a worker resolves at once; with MAX_CONCURRENT_REQUESTS within DB_POOL_SIZE.
    subscription_concurrency: int = Field(4, ge=1, le=1_000)
    ws_connection_init_timeout_seconds: float = Field(10.0, gt=0)
    ws_keepalive_seconds: float = Field(15.0, gt=0, description="between server pings")
    ws_auth_recheck_seconds: float = Field(2.0, gt=0, description="token still valid?")
    # Off: per-socket zlib state and a compression per message per socket (bench/RESULTS.md).
    ws_per_message_deflate: bool = False
    # An idle LISTEN connection is pinged this often, and lost if a ping is not answered
    # within as long: a connection dropped without a packet is replaced within twice this.
    listen_ping_seconds: float = Field(5.0, gt=0)

    token_ttl_days: int = Field(14, ge=1, le=3650)
    login_max_failures: int = Field(5, ge=1, description="per account and client address")
    login_max_failures_per_account: int = Field(50, ge=1, description="from every address")
    login_max_failures_per_address: int = Field(50, ge=1, description="across accounts")
    login_failure_window_seconds: int = Field(900, ge=1)
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    password_hash_concurrency: int = Field(
        DEFAULT_PASSWORD_HASH_CONCURRENCY, ge=1, le=64, description="per worker; as many wait"
    )

    @field_validator("database_url", "migration_database_url", "listen_database_url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        if value is not None:
            normalize_database_url(value)
            parse_url_ssl(value)
        return value

    @field_validator("database_replica_urls", mode="before")
    @classmethod
    def _replica_urls(cls, value: object) -> object:
        """A comma-separated list of PostgreSQL URLs, in the forms `DATABASE_URL` takes."""
        value = _comma_separated(value)
        if isinstance(value, list | tuple):
            for number, url in enumerate(value, start=1):
                if not isinstance(url, str):
                    raise ValueError(f"replica {number} is not a URL")
                try:
                    parsed = normalize_database_url(url)
                    parse_url_ssl(url)
                except ValueError as exc:
                    raise ValueError(f"replica {number}: {exc}") from None
                if parsed.get_backend_name() != "postgresql":
                    raise ValueError(f"replica {number}: replicas are PostgreSQL servers")
        return value

    @field_validator("otel_traces_exporter")
    @classmethod
    def _known_exporter(cls, value: str | None) -> str | None:
        """The exporters `serve` sets up: `otlp` (OTEL_EXPORTER_OTLP_*), `console`, `none`."""
        if value is not None and value.strip().lower() not in ("otlp", "console", "none"):
            raise ValueError(f"not otlp, console or none: {value!r}")
        return value

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        """`LOG_LEVEL=INFO` as well as `info`."""
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        """A comma-separated list of origins (`https://app.example.com`), or `*`."""
        value = _comma_separated(value)
        if isinstance(value, list | tuple):
            for origin in value:
                if not isinstance(origin, str) or not _ORIGIN.fullmatch(origin):
                    raise ValueError(f"not an origin (scheme://host[:port]) or *: {origin!r}")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        """A comma-separated list of addresses or CIDR networks (`10.0.0.0/8, ::1`)."""
        if not isinstance(value, str):
            return value
        try:
            return tuple(ip_network(part.strip()) for part in value.split(",") if part.strip())
        except ValueError as exc:
            raise ValueError(f"not an address or network: {exc}") from None

    @field_validator("db_ssl_ca")
    @classmethod
    def _ssl_ca_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file {str(value)!r}")
        return value

    @model_validator(mode="after")
    def _direct_listen_url(self) -> Settings:
        """LISTEN needs a session of its own on the server: through a transaction-pooling
        PgBouncer it does not work, so behind one the listen URL must be given, and differ."""
        if self.db_pgbouncer and self.listen_database_url in (None, self.database_url):
            raise ValueError(
                "LISTEN_DATABASE_URL must name a direct PostgreSQL connection (not PgBouncer) "
                "when DB_PGBOUNCER=true: LISTEN does not work through transaction pooling"
            )
        return self

    @cached_property
    def url(self) -> URL:
        """The application's database URL, on the async driver."""
        return normalize_database_url(self.database_url)

    @cached_property
    def migration_url(self) -> URL:
        """The owner's URL migrations run with (falls back to the application's)."""
        return normalize_database_url(self.migration_database_url or self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def replica_urls(self) -> tuple[str, ...]:
        """The replicas reads may use: none on SQLite, which ignores `DATABASE_REPLICA_URLS`."""
        return () if self.is_sqlite else self.database_replica_urls

    @property
    def replica_pool_size(self) -> int:
        return self.db_replica_pool_size or self.db_pool_size

    def _unless_production(self, setting: bool | None) -> bool:
        """The setting if given, else on in development and off in production."""
        return setting if setting is not None else self.environment is Environment.DEVELOPMENT

    @property
    def log_json(self) -> bool:
        """JSON log lines: `LOG_FORMAT`, else in production."""
        if self.log_format is not None:
            return self.log_format is LogFormat.JSON
        return self.environment is Environment.PRODUCTION

    @property
    def tracing_enabled(self) -> bool:
        """An OTLP endpoint or a traces exporter other than `none` is configured."""
        if self.otel_traces_exporter is not None:
            return self.otel_traces_exporter.strip().lower() != "none"
        return bool(self.otel_exporter_otlp_endpoint)

    @property
    def graphiql_enabled(self) -> bool:
        return self._unless_production(self.graphiql)

    @property
    def introspection_enabled(self) -> bool:
        return self._unless_production(self.introspection)

    @property
    def field_suggestions_enabled(self) -> bool:
        return self._unless_production(self.field_suggestions)

    def ssl_for(self, raw_url: str) -> tuple[SslMode, Path | None]:
        """TLS mode and CA file: `DB_SSL_MODE`/`DB_SSL_CA` win over the URL's libpq options."""
        url_mode, url_ca = parse_url_ssl(raw_url)
        mode = self.db_ssl_mode or url_mode or SslMode.DISABLE
        ca = self.db_ssl_ca or (Path(url_ca) if url_ca else None)
        return mode, ca


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into one message naming each variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper() or "SETTINGS"
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{name}: {message}" if error["loc"] else message)
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
