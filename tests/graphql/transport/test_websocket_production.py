"""Production mode's switches hold on the socket as over HTTP: no introspection, no field
suggestions (one server on SQLite: the switches touch no database)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.realtime import connected, receive, subscribe
from tests.support.server import Served, serving


@pytest.fixture(scope="module")
def production(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("production")
    database = folder / "test.db"
    database.write_bytes(sqlite_template.read_bytes())
    with serving(
        f"sqlite+aiosqlite:///{database}", folder / "serve.log", environment="production"
    ) as served:
        yield served


async def test_introspection_is_refused_over_the_socket_in_production(production: Served) -> None:
    socket = await connected(production.base_url)
    await subscribe(socket, "i", "{ __schema { types { name } } }")
    message = await receive(socket)
    await socket.close()
    assert (message["id"], message["type"]) == ("i", "error")
    assert "introspection" in message["payload"][0]["message"].lower()


async def test_field_suggestions_are_hidden_over_the_socket_in_production(
    production: Served,
) -> None:
    socket = await connected(production.base_url)
    await subscribe(socket, "s", "{ postz { totalCount } }")
    message = await receive(socket)
    await socket.close()
    assert message["type"] == "error"
    assert "Did you mean" not in message["payload"][0]["message"]
