"""The HTTP edge of a real `gql-app serve`, met with raw sockets: head size, slow clients,
the connection cap, aborted uploads and the routes a GraphQL API does not serve."""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS
from tests.support.net import read_until_closed
from tests.support.server import Served, served_database, serving

MAX_CONNECTIONS = 8
GENEROUS = 15.0  # seconds a test waits for what takes a second or two
SETTINGS = {
    "header_timeout_seconds": 1,
    "body_timeout_seconds": 1,
    "max_connections": MAX_CONNECTIONS,
}


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, Path]]:
    """One server per backend for the module (these tests write nothing), and its log."""
    folder = tmp_path_factory.mktemp("edges")
    log = folder / "serve.log"
    with serving(served_database(request, folder), log, **SETTINGS) as served:
        yield served, log


@pytest.fixture
def port(server: tuple[Served, Path]) -> int:
    return server[0].port


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=GENEROUS)


def error_code(response: bytes) -> str:
    body = json.loads(response.partition(b"\r\n\r\n")[2])
    code: str = body["errors"][0]["extensions"]["code"]
    return code


def test_header_over_max_header_bytes_is_431_before_50_mb_are_read(port: int) -> None:
    total, sent = 50 * 1024 * 1024, 0
    with connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ")
        while sent < total and not select.select([sock], [], [], 0.01)[0]:
            try:
                sock.sendall(b"a" * 65536)
            except OSError:  # refused and closed while sending
                break
            sent += 65536
        response = read_until_closed(sock)
    assert sent < total
    assert response.startswith(b"HTTP/1.1 431 ")
    assert error_code(response) == "REQUEST_HEADER_TOO_LARGE"


def test_large_authorization_and_cookie_fit_under_max_header_bytes(port: int) -> None:
    headers = {"Authorization": "Bearer " + "t" * 8192, "Cookie": "session=" + "c" * 8192}
    response = httpx.get(f"http://127.0.0.1:{port}/healthz", headers=headers)
    assert response.status_code == 200


def test_head_not_complete_in_header_timeout_is_408_and_closed(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        response = read_until_closed(sock)
    assert response.startswith(b"HTTP/1.1 408 ")
    assert error_code(response) == "REQUEST_TIMEOUT"


def test_connection_sending_nothing_is_closed_after_header_timeout(port: int) -> None:
    with connect(port) as sock:
        assert read_until_closed(sock) == b""


def test_body_not_complete_in_body_timeout_is_408_and_closed(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n" + b'{"query": "{ __typename }"'
        )
        response = read_until_closed(sock)
    assert response.startswith(b"HTTP/1.1 408 ")
    assert error_code(response) == "REQUEST_TIMEOUT"


def test_aborted_uploads_log_no_traceback(server: tuple[Served, Path], port: int) -> None:
    served, log = server
    start = log.stat().st_size
    for _ in range(20):
        with connect(port) as sock:
            sock.sendall(
                b"POST /graphql HTTP/1.1\r\nHost: localhost\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n" + b" " * 500
            )
    # A request answered after them: the loop has run on past the aborted ones.
    assert httpx.get(f"{served.base_url}/healthz").status_code == 200
    logged = log.read_bytes()[start:].decode()
    assert "Traceback" not in logged
    assert "ERROR" not in logged


def test_connections_over_max_connections_get_503(port: int) -> None:
    held: list[socket.socket] = []
    try:
        for _ in range(MAX_CONNECTIONS - 1):  # kept alive, idle: not the head timeout's to close
            held.append(sock := connect(port))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        held.append(last := connect(port))
        last.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert read_until_closed(last).startswith(b"HTTP/1.1 503 ")
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"])
def test_openapi_and_its_pages_are_not_served(port: int, path: str) -> None:
    assert httpx.get(f"http://127.0.0.1:{port}{path}").status_code == 404


def test_trailing_slash_is_not_redirected_to_the_host_header(port: int) -> None:
    response = httpx.get(
        f"http://127.0.0.1:{port}/graphql/",
        params={"query": "{ __typename }"},
        headers={"Host": "attacker.example"},
    )
    assert response.status_code == 404
    assert "location" not in response.headers


@pytest.mark.parametrize("method", ["HEAD", "PUT"])
def test_other_methods_on_graphql_are_405_with_allow(port: int, method: str) -> None:
    response = httpx.request(method, f"http://127.0.0.1:{port}/graphql")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


def test_put_on_graphql_is_405_with_a_graphql_error_body(port: int) -> None:
    response = httpx.put(f"http://127.0.0.1:{port}/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 405
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
