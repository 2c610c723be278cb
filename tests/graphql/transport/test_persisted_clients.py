"""Real clients over the wire, against `gql-app serve` on both databases: Apollo Client 4's
PersistedQueryLink (POST, and GET with `useGETForHashedQueries`), and Relay's compiler and
runtime (tests/node_clients/): documents compiled against schema.graphql, persisted with
`gql-app persist` from relay-compiler's own manifest and named by `documentId` only, using
`@connection`, `@refetchable`, `@prependEdge`, `@appendEdge` and `@deleteRecord`.

Each script runs once per server and prints what it saw; the tests read it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS
from tests.support.postgres import IN_CI
from tests.support.server import Served, served_database, serving

ROOT = Path(__file__).resolve().parents[3]
NODE_CLIENTS = ROOT / "tests" / "node_clients"
GQL_APP = str(Path(sys.executable).with_name("gql-app"))


def _node(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def node_clients() -> Path:
    """tests/node_clients, installed: skips without node or its packages, fails so under CI."""
    if shutil.which("node") is None:
        reason = "node is not installed"
    elif not (NODE_CLIENTS / "node_modules" / "relay-runtime").is_dir():
        reason = "the node clients are not installed: run `npm ci --prefix tests/node_clients`"
    else:
        return NODE_CLIENTS
    if IN_CI:
        pytest.fail(f"CI=true but the node clients cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def relay_build(node_clients: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """relay-compiler's output for tests/node_clients/relay/src, in a folder of its own: the
    artifacts in `__generated__` and the manifest `persisted_queries.json`."""
    folder = tmp_path_factory.mktemp("relay")
    shutil.copytree(node_clients / "relay" / "src", folder / "src")
    config = json.loads((node_clients / "relay" / "relay.config.json").read_text())
    config["schema"] = str(ROOT / "schema.graphql")
    (folder / "relay.config.json").write_text(json.dumps(config))
    (folder / "__generated__").mkdir()
    (folder / "persisted_queries.json").write_text("{}")
    _node(node_clients / "node_modules" / ".bin" / "relay-compiler", cwd=folder)
    return folder


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, relay_build: Path
) -> Iterator[Served]:
    """`gql-app serve` (PERSISTED_QUERIES=apq) with Relay's manifest registered."""
    folder = tmp_path_factory.mktemp("clients")
    url = served_database(request, folder)
    manifest = str(relay_build / "persisted_queries.json")
    persist = subprocess.run(
        [GQL_APP, "persist", manifest],
        env=os.environ | {"DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert persist.returncode == 0, persist.stderr
    with serving(url, folder / "serve.log") as served:
        yield served


@pytest.fixture(scope="module")
def apollo(server: Served, node_clients: Path) -> dict[str, Any]:
    output: dict[str, Any] = json.loads(
        _node("node", node_clients / "apollo.mjs", f"{server.base_url}/graphql")
    )
    return output


@pytest.fixture(scope="module")
def relay(server: Served, node_clients: Path, relay_build: Path) -> dict[str, Any]:
    output: dict[str, Any] = json.loads(
        _node(
            "node",
            node_clients / "relay.mjs",
            f"{server.base_url}/graphql",
            relay_build / "__generated__",
        )
    )
    return output


def _sent(requests: list[dict[str, Any]]) -> list[tuple[str, bool, int, str | None]]:
    return [(r["method"], r["query"], r["status"], r["code"]) for r in requests]


NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"


def test_apollo_resends_an_unknown_hash_with_its_query_once(apollo: dict[str, Any]) -> None:
    assert _sent(apollo["post"]["requests"]) == [
        ("POST", False, 200, NOT_FOUND),
        ("POST", True, 200, None),
        ("POST", False, 200, None),
    ]
    first, second = apollo["post"]["results"]
    assert first == second
    assert first["codes"] == []
    assert "posts" in first["data"]


def test_apollo_gets_hashed_queries(apollo: dict[str, Any]) -> None:
    """`useGETForHashedQueries`: the hash over GET; the one resend with the text is a POST."""
    assert _sent(apollo["get"]["requests"]) == [
        ("GET", False, 200, NOT_FOUND),
        ("POST", True, 200, None),
        ("GET", False, 200, None),
    ]
    first, second = apollo["get"]["results"]
    assert first == second
    assert isinstance(first["data"]["users"]["totalCount"], int)


def test_apollo_posts_mutations_even_with_get_for_hashed_queries(apollo: dict[str, Any]) -> None:
    assert _sent(apollo["mutation"]["requests"]) == [
        ("POST", False, 200, NOT_FOUND),
        ("POST", True, 200, None),
        ("POST", False, 200, None),
    ]
    assert apollo["mutation"]["results"] == ["AuthSuccess", "AuthSuccess"]


def test_apollo_sees_the_code_of_an_invalid_query(apollo: dict[str, Any]) -> None:
    codes = [result["codes"] for result in apollo["invalid"]["results"]]
    assert codes == [["GRAPHQL_VALIDATION_FAILED"]] * 2


def test_relay_names_every_document_by_its_id_alone(relay: dict[str, Any]) -> None:
    assert relay["sent"]
    assert {(r["text"], tuple(r["parameters"])) for r in relay["sent"]} == {
        (False, ("documentId", "variables"))
    }


def test_relay_prepends_the_new_posts_edge(relay: dict[str, Any]) -> None:
    assert relay["feedBefore"] == ["second", "first"]
    assert relay["feedAfterPrepend"] == ["third", "second", "first"]


def test_relay_appends_the_new_comments_edge(relay: dict[str, Any]) -> None:
    assert relay["commentsAfterAppend"] == ["one", "two"]


def test_relay_deletes_the_deleted_posts_record(relay: dict[str, Any]) -> None:
    assert relay["feedAfterDelete"] == ["third", "second", None]


def test_relay_refetches_from_the_new_edges_cursor(relay: dict[str, Any]) -> None:
    assert relay["pagedFromNewEdge"] == ["second"]
