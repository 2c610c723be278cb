"""Settings: defaults, URL normalisation and start-up validation naming the variable."""

from pathlib import Path

import pytest

from gql_app.core.config import Settings, SettingsError, SslMode, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DATABASE_URL",
        "DB_POOL_SIZE",
        "DB_SSL_MODE",
        "DB_SSL_CA",
        "DATABASE_REPLICA_URLS",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_use_the_embedded_sqlite_file_and_documented_pool() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./gql_app.db"
    assert settings.is_sqlite
    assert (settings.db_pool_size, settings.db_max_overflow) == (10, 20)
    assert settings.db_pool_timeout == 30
    assert settings.db_statement_timeout_ms == 5000
    assert not settings.db_pgbouncer


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_SIZE", "3")
    assert load_settings().db_pool_size == 3


@pytest.mark.parametrize(
    "raw", ["postgres://u:p@db.example:5432/app", "postgresql://u:p@db.example:5432/app"]
)
def test_plain_postgres_urls_map_to_asyncpg(raw: str) -> None:
    url = load_settings(database_url=raw).url
    assert url.drivername == "postgresql+asyncpg"
    assert (url.host, url.port, url.database) == ("db.example", 5432, "app")


def test_libpq_sslmode_becomes_the_tls_mode_and_leaves_the_url() -> None:
    raw = "postgresql://u@db.example/app?sslmode=require&application_name=x"
    settings = load_settings(database_url=raw)
    assert dict(settings.url.query) == {}
    assert settings.ssl_for(raw) == (SslMode.REQUIRE, None)


def test_db_ssl_mode_wins_over_the_url(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    raw = "postgresql://u@db.example/app?sslmode=require"
    settings = load_settings(database_url=raw, db_ssl_mode="verify-full", db_ssl_ca=str(ca))
    assert settings.ssl_for(raw) == (SslMode.VERIFY_FULL, ca)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DB_POOL_SIZE", "many"),
        ("DB_POOL_SIZE", "0"),
        ("DB_POOL_TIMEOUT", "-1"),
        ("DB_SSL_MODE", "sometimes"),
        ("DB_SSL_CA", "/no/such/ca.pem"),
        ("DATABASE_URL", "mysql://root@localhost/app"),
        ("DATABASE_URL", "not a url"),
        ("DATABASE_URL", "postgresql://u@h/db?sslmode=maybe"),
        ("ENVIRONMENT", "staging"),
        ("LOG_LEVEL", "loud"),
        ("LOG_FORMAT", "xml"),
        ("METRICS_PORT", "0"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
    ],
)
def test_an_invalid_setting_fails_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=f"^invalid settings: {variable}: "):
        load_settings()


@pytest.mark.parametrize(
    ("variables", "enabled"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
                "OTEL_TRACES_EXPORTER": "none",
            },
            False,
        ),
    ],
)
def test_tracing_is_on_when_opentelemetrys_variables_ask_for_an_exporter(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], enabled: bool
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert load_settings().tracing_enabled is enabled


def test_settings_are_immutable() -> None:
    settings: Settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.db_pool_size = 5


def test_replica_urls_are_a_comma_separated_list_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@primary/app")
    monkeypatch.setenv("DATABASE_REPLICA_URLS", " postgres://u@r1/app , postgresql://u@r2/app,")
    settings = load_settings()
    assert settings.replica_urls == ("postgres://u@r1/app", "postgresql://u@r2/app")


def test_there_are_no_replicas_by_default_and_their_pools_are_the_primarys_size() -> None:
    settings = load_settings(database_url="postgresql://u@primary/app", db_pool_size=7)
    assert settings.replica_urls == ()
    assert settings.replica_pool_size == 7
    assert settings.replica_max_lag_ms == 1000


def test_db_replica_pool_size_sizes_the_replica_pools() -> None:
    settings = load_settings(db_pool_size=7, db_replica_pool_size=3)
    assert settings.replica_pool_size == 3


def test_sqlite_has_no_replicas_whatever_the_setting() -> None:
    settings = load_settings(database_replica_urls="postgresql://u@r1/app")
    assert settings.is_sqlite
    assert settings.replica_urls == ()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("postgresql://u@r1/app,sqlite+aiosqlite:///r.db", "replica 2: replicas are PostgreSQL"),
        ("mysql://u@r1/app", "replica 1: unsupported database 'mysql'"),
        ("postgresql://u@r1/app?sslmode=sometimes", "replica 1: unknown sslmode"),
    ],
)
def test_a_replica_url_that_is_not_postgresql_fails_naming_the_replica(
    raw: str, problem: str
) -> None:
    with pytest.raises(SettingsError, match=f"DATABASE_REPLICA_URLS: {problem}"):
        load_settings(database_url="postgresql://u@primary/app", database_replica_urls=raw)


@pytest.mark.parametrize("listen_url", [None, "postgresql://app@bouncer:6432/db"])
def test_behind_pgbouncer_a_listen_url_that_is_not_direct_is_refused_in_one_line(
    listen_url: str | None,
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(
            database_url="postgresql://app@bouncer:6432/db",
            db_pgbouncer=True,
            listen_database_url=listen_url,
        )
    assert "LISTEN_DATABASE_URL" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_behind_pgbouncer_a_direct_listen_url_is_taken() -> None:
    settings = load_settings(
        database_url="postgresql://app@bouncer:6432/db",
        db_pgbouncer=True,
        listen_database_url="postgresql://app@primary:5432/db",
    )
    assert settings.listen_database_url == "postgresql://app@primary:5432/db"
