"""Manifests of trusted documents are read in each client's format and checked against the
schema (gql_app/graphql/manifests.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from gql_app.graphql.manifests import ManifestError, read_manifest
from tests.support.manifests import (
    INVALID,
    ME,
    POSTS,
    apollo_manifest,
    codegen_manifest,
    relay_manifest,
    sha256,
)

FORMATS: dict[str, Callable[..., Any]] = {
    "apollo": apollo_manifest,
    "relay": relay_manifest,
    "codegen": codegen_manifest,
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_gives_its_ids_and_documents(name: str) -> None:
    manifest = FORMATS[name](ME, POSTS)
    rows = read_manifest(orjson.dumps(manifest))
    ids = [op["id"] for op in manifest["operations"]] if name == "apollo" else list(manifest)
    assert [(row.id, row.document, row.sha256) for row in rows] == [
        (ids[0], ME, sha256(ME)),
        (ids[1], POSTS, sha256(POSTS)),
    ]
    assert [row.operation_name for row in rows] == ["Me", "Posts"]


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_one_invalid_document_refuses_the_manifest_naming_it(name: str) -> None:
    manifest = FORMATS[name](ME, INVALID)
    broken_id = manifest["operations"][1]["id"] if name == "apollo" else list(manifest)[1]
    with pytest.raises(ManifestError, match=f"document '{broken_id}': Cannot query field"):
        read_manifest(orjson.dumps(manifest))


def test_a_document_that_does_not_parse_is_named() -> None:
    with pytest.raises(ManifestError, match="document 'x': Syntax Error"):
        read_manifest(orjson.dumps({"x": "query {"}))


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[]", b'{"a": 1}', b'{"format": "apollo-persisted-query-manifest"}'],
    ids=["not JSON", "a list", "not strings", "an Apollo manifest of another version"],
)
def test_what_is_no_manifest_is_refused(raw: bytes) -> None:
    with pytest.raises(ManifestError):
        read_manifest(raw)
