"""TLS to PostgreSQL per `DB_SSL_MODE`, against a server that refuses unencrypted connections.

The server has a certificate for 127.0.0.1 and localhost, signed by a throwaway CA that
`openssl` makes for this module.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gql_app import queries
from gql_app.core.config import Settings, load_settings
from gql_app.db import create_engine
from tests.app.test_cli import assert_one_line_error, gql_app
from tests.support.postgres import PostgresCluster

# Encrypted TCP connections only; plain ones are rejected outright.
_HBA = """\
hostssl all all 127.0.0.1/32 trust
hostnossl all all 127.0.0.1/32 reject
"""
_SERVER_EXTENSIONS = """\
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA: its certificate and key."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return cert, key


def _make_server_certificate(directory: Path, ca_cert: Path, ca_key: Path) -> tuple[Path, Path]:
    cert, key, request = (directory / f"server.{kind}" for kind in ("crt", "key", "csr"))
    extensions = directory / "server.ext"
    extensions.write_text(_SERVER_EXTENSIONS)
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", request, "-subj", "/CN=localhost",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", request, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", extensions,
    )  # fmt: skip
    return cert, key


@dataclass(frozen=True)
class TlsServer:
    url: str  # postgresql://, no TLS options
    ca: Path  # the CA that signed the server's certificate
    wrong_ca: Path  # a CA that did not


@pytest.fixture(scope="module")
def tls_server(
    postgres_bindir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsServer]:
    directory = tmp_path_factory.mktemp("tls")
    ca_cert, ca_key = _make_ca(directory, "gql_app test CA")
    wrong_ca, _ = _make_ca(directory, "some other CA")
    cert, key = _make_server_certificate(directory, ca_cert, ca_key)
    cluster = PostgresCluster(postgres_bindir, hba=_HBA)
    try:
        cluster.init()
        server_cert = cluster.install_file("server.crt", cert.read_bytes())
        server_key = cluster.install_file("server.key", key.read_bytes())
        cluster.extra_options = (
            f"-c ssl=on -c ssl_cert_file={server_cert} -c ssl_key_file={server_key}"
        )
        cluster.start()
        yield TlsServer(cluster.url, ca_cert, wrong_ca)
    finally:
        cluster.remove()


async def _connection_is_encrypted(settings: Settings) -> bool:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return await queries.connection_tls(connection) is not None
    finally:
        await engine.dispose()


async def test_require_connects_encrypted(tls_server: TlsServer) -> None:
    settings = load_settings(database_url=tls_server.url, db_ssl_mode="require")
    assert await _connection_is_encrypted(settings)


async def test_sslmode_require_in_a_postgresql_url_connects_encrypted(
    tls_server: TlsServer,
) -> None:
    settings = load_settings(database_url=f"{tls_server.url}?sslmode=require")
    assert await _connection_is_encrypted(settings)


async def test_verify_full_with_the_servers_ca_connects_encrypted(tls_server: TlsServer) -> None:
    settings = load_settings(
        database_url=tls_server.url, db_ssl_mode="verify-full", db_ssl_ca=tls_server.ca
    )
    assert await _connection_is_encrypted(settings)


async def test_verify_full_checks_the_host_name_localhost_too(tls_server: TlsServer) -> None:
    url = tls_server.url.replace("127.0.0.1", "localhost")
    settings = load_settings(database_url=url, db_ssl_mode="verify-full", db_ssl_ca=tls_server.ca)
    assert await _connection_is_encrypted(settings)


async def test_disable_is_refused_by_a_server_that_requires_tls(tls_server: TlsServer) -> None:
    outcome = await gql_app("db-status", database_url=tls_server.url, DB_SSL_MODE="disable")
    assert_one_line_error(outcome, "DB_SSL_MODE")


async def test_verify_full_with_another_ca_fails_with_one_line(tls_server: TlsServer) -> None:
    outcome = await gql_app(
        "db-status",
        database_url=tls_server.url,
        DB_SSL_MODE="verify-full",
        DB_SSL_CA=str(tls_server.wrong_ca),
    )
    assert_one_line_error(outcome, "database certificate not trusted")
    assert "DB_SSL_CA" in outcome.err


async def test_db_status_reports_the_tls_of_its_connection(tls_server: TlsServer) -> None:
    outcome = await gql_app(
        "db-status",
        database_url=tls_server.url,
        DB_SSL_MODE="verify-full",
        DB_SSL_CA=str(tls_server.ca),
    )
    assert outcome.code == 0, outcome.err
    assert "tls:        TLSv1.3" in outcome.out
