"""`gql-app persist`, in-process (tests/app/test_cli.py runs the command as a subprocess;
tests/graphql/transport/test_persisted_clients.py runs it on relay-compiler's manifest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from gql_app.cli import main
from tests.support.manifests import INVALID, ME, POSTS, apollo_manifest, sha256


@pytest.fixture
def persist(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """`gql-app persist ARGS...` on the test's database: (exit status, stdout, stderr)."""
    monkeypatch.setenv("DATABASE_URL", database_url)

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(["persist", *args])
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_persist_registers_a_manifest_once_and_lists_it(persist: Any, tmp_path: Path) -> None:
    manifest = tmp_path / "persisted-query-manifest.json"
    manifest.write_bytes(orjson.dumps(apollo_manifest(ME, POSTS)))
    assert persist(str(manifest)) == (0, "registered 2 documents (0 already registered)\n", "")
    assert persist(str(manifest)) == (0, "registered 0 documents (2 already registered)\n", "")
    assert persist("--list")[1].splitlines() == [
        f"{sha256(ME)}  Me  sha256:{sha256(ME)}",
        f"{sha256(POSTS)}  Posts  sha256:{sha256(POSTS)}",
    ]


def test_persist_refuses_a_manifest_with_an_invalid_document(persist: Any, tmp_path: Path) -> None:
    manifest = tmp_path / "persisted_queries.json"
    manifest.write_bytes(orjson.dumps({"good": ME, "bad": INVALID}))
    code, _, err = persist(str(manifest))
    assert (code, err) == (
        1,
        "gql-app: error: "
        f"{manifest}: document 'bad': Cannot query field 'noSuchField' on type 'User'."
        "; nothing was registered\n",
    )
    assert persist("--list")[1] == "no documents are registered\n"


def test_persist_refuses_another_text_under_a_registered_id(persist: Any, tmp_path: Path) -> None:
    manifest = tmp_path / "persisted_queries.json"
    manifest.write_bytes(orjson.dumps({"one": ME}))
    persist(str(manifest))
    manifest.write_bytes(orjson.dumps({"one": POSTS, "two": POSTS}))
    code, _, err = persist(str(manifest))
    assert (code, "document 'one' is registered with another text" in err) == (1, True)
    assert persist("--list")[1].splitlines() == [f"one  Me  sha256:{sha256(ME)}"]


def test_persist_takes_a_file_or_list(persist: Any) -> None:
    assert persist() == (1, "", "gql-app: error: persist takes a manifest FILE, or --list\n")
