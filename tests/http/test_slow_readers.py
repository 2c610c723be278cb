"""Clients that send a request and never read its answer, met with raw sockets on a real
`gql-app serve`: aborted after `SEND_TIMEOUT_SECONDS`, or past `MAX_BUFFERED_RESPONSE_BYTES`
across the worker, and never holding an admission slot meanwhile."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from gql_app import queries
from gql_app.core.config import load_settings
from gql_app.db import create_engine
from tests.conftest import BACKENDS
from tests.support.app import EPOCH
from tests.support.net import read_until_closed
from tests.support.postgres import _TRUNCATE, _asyncpg_dsn, execute_sql, run_async_blocking
from tests.support.server import Served, served_database, serving
from tests.support.sessions import request_session

GENEROUS = 60.0  # seconds a test waits for what takes a few
# More than the kernel's socket buffers take (4 MB), so the rest waits in the worker for the
# client to read: the body of the database's one post, which costs the server next to no CPU
# to read and send (an answer as large built by introspection takes seconds of it).
LARGE_BODY_BYTES = 6_600_000
LARGE = "{ posts(first: 1) { edges { node { body } } } }"
SETTINGS = {"max_response_bytes": 16 * 1024 * 1024}


Server = tuple[Served, Path]


async def write_large_post(url: str) -> None:
    """A post `LARGE_BODY_BYTES` long, and its author, in the database at `url`."""
    engine = create_engine(load_settings(database_url=url))
    db = request_session(engine)
    try:
        async with db.transaction(write=True) as session:
            author = await queries.create_user(
                session, username="writer", email="writer@example.com", password_hash="-"
            )
            await queries.insert_post(
                session, author_id=author.id, title="Large", body="x" * LARGE_BODY_BYTES, now=EPOCH
            )
    finally:
        await db.close()
        await engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def large_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database on each backend whose one post is `LARGE_BODY_BYTES` long, for the module's
    servers; the session's PostgreSQL database is emptied before and after."""
    url = served_database(request, tmp_path_factory.mktemp("readers"))
    empty = _asyncpg_dsn(url), _TRUNCATE
    on_postgres = request.param == "postgresql"
    if on_postgres:
        run_async_blocking(execute_sql(*empty))
    run_async_blocking(write_large_post(url))
    yield url
    if on_postgres:
        run_async_blocking(execute_sql(*empty))


def server_with(**settings: object) -> Callable[..., Iterator[Server]]:
    """A module fixture: `gql-app serve` with `settings` on `large_database`, and its log."""

    @pytest.fixture(scope="module")
    def server(large_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
        log = tmp_path_factory.mktemp("readers") / "serve.log"
        with serving(large_database, log, **SETTINGS, **settings) as served:
            yield served, log

    return server


# It gives a client 1 s to read.
prompt = server_with(send_timeout_seconds=1)
# It buffers next to nothing for clients that do not read, however patient.
bounded = server_with(send_timeout_seconds=3600, max_buffered_response_bytes=1024)
# It waits an hour on a client and runs one GraphQL request at a time.
patient = server_with(send_timeout_seconds=3600, max_concurrent_requests=1)


def not_reading(port: int, requests: int = 1) -> socket.socket:
    """A client that sends `requests` requests for LARGE, pipelined, and reads nothing."""
    body = json.dumps({"query": LARGE}).encode()
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(GENEROUS)
    sock.connect(("127.0.0.1", port))
    sock.sendall((head + body) * requests)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server ends the connection (the keep-alive timeout would take 75 s)."""
    with suppress(ConnectionResetError):
        read_until_closed(sock)
    return True


def logged(log: Path, start: int, text: str, times: int = 1) -> bool:
    """Whether `text` appears `times` in `log` past `start` within GENEROUS seconds."""
    for _ in range(int(GENEROUS * 10)):
        if log.read_bytes()[start:].decode().count(text) >= times:
            return True
        time.sleep(0.1)
    return False


def test_client_not_reading_is_aborted_after_send_timeout(prompt: Server) -> None:
    served, log = prompt
    start = log.stat().st_size
    with not_reading(served.port) as sock:
        assert logged(log, start, "SEND_TIMEOUT_SECONDS=1. Aborted the connection.")
        assert closed_by_server(sock)


def test_responses_buffered_past_the_worker_bound_are_aborted(
    bounded: Server,
) -> None:
    served, log = bounded
    start = log.stat().st_size
    with not_reading(served.port) as sock:
        assert logged(log, start, "MAX_BUFFERED_RESPONSE_BYTES=1024 bytes")
        assert closed_by_server(sock)


def test_clients_not_reading_hold_no_admission_slot(patient: Server) -> None:
    """Each client's second request is built while its first answer waits to be read, then
    waits for it in turn, with the one slot free: a small query still gets its answer."""
    served, _ = patient
    clients = [not_reading(served.port, requests=2) for _ in range(2)]
    try:
        for sock in clients:  # the first answer began: the second request runs
            sock.recv(1, socket.MSG_PEEK)
        response = httpx.post(
            f"{served.base_url}/graphql", json={"query": "{ __typename }"}, timeout=GENEROUS
        )
        assert response.json()["data"] == {"__typename": "Query"}
    finally:
        for sock in clients:
            with suppress(OSError):
                sock.close()


def test_aborted_clients_log_no_error(prompt: Server) -> None:
    served, log = prompt
    start = log.stat().st_size
    # The second request of each runs while the first answer waits: uvicorn knows only the
    # third, the last it read, as the one to tell that the client left.
    clients = [not_reading(served.port, requests=3) for _ in range(2)]
    try:
        assert logged(log, start, "Aborted the connection.", times=len(clients))
        for sock in clients:
            assert closed_by_server(sock)
    finally:
        for sock in clients:
            sock.close()
    # A request answered after them: the loop has run on past the aborted ones.
    assert httpx.get(f"{served.base_url}/healthz").status_code == 200
    output = log.read_bytes()[start:].decode()
    assert "Traceback" not in output
    assert "ERROR" not in output
