"""Client build manifests of trusted documents, read and checked for `gql-app persist`.

Three formats are read, told apart by their shape:

- Apollo's persisted-query manifest (`generate-persisted-query-manifest`):
  `{"format": "apollo-persisted-query-manifest", "version": 1,
  "operations": [{"id", "name", "type", "body"}]}`;
- Relay's `persisted_queries.json` (relay-compiler's `persistConfig` with a local file) and
  GraphQL Code Generator's persisted documents (`client` preset, `persistedDocuments`):
  `{"<id>": "<document>"}`.

Every document must parse and validate against the schema; the first that does not makes
the whole manifest refused, with a message naming it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from graphql import GraphQLError, OperationDefinitionNode, parse, validate

from gql_app import queries
from gql_app.db.models import PERSISTED_ID_MAX
from gql_app.graphql.schema import schema

APOLLO_FORMAT = "apollo-persisted-query-manifest"


class ManifestError(ValueError):
    """The manifest cannot be registered; the message says which document and why."""


def document_hash(document: str) -> str:
    """The hex SHA-256 of a document's text, as APQ and trusted documents name it (a lone
    surrogate, which no registered document has, is hashed rather than raised)."""
    return hashlib.sha256(document.encode("utf-8", "surrogatepass")).hexdigest()


def _entries(manifest: Any) -> list[tuple[str, str]]:
    """The (id, document) pairs of a manifest in either shape."""
    if isinstance(manifest, dict) and manifest.get("format") == APOLLO_FORMAT:
        if manifest.get("version") != 1:
            raise ManifestError(f"unsupported {APOLLO_FORMAT} version {manifest.get('version')!r}")
        operations = manifest.get("operations")
        if not isinstance(operations, list) or not all(
            isinstance(op, dict)
            and isinstance(op.get("id"), str)
            and isinstance(op.get("body"), str)
            for op in operations
        ):
            raise ManifestError("`operations` must be a list of objects with string id and body")
        return [(op["id"], op["body"]) for op in operations]
    if isinstance(manifest, dict) and all(
        isinstance(key, str) and isinstance(value, str) for key, value in manifest.items()
    ):
        return list(manifest.items())
    raise ManifestError(
        f'not a manifest: expected {{"format": "{APOLLO_FORMAT}", ...}} (Apollo) or'
        ' {"<id>": "<document>"} (Relay, GraphQL Code Generator)'
    )


def _checked(document_id: str, document: str) -> queries.DocumentRow:
    where = f"document {document_id!r}"
    if not document_id or len(document_id) > PERSISTED_ID_MAX:
        raise ManifestError(f"{where}: an id takes 1 to {PERSISTED_ID_MAX} characters")
    try:
        parsed = parse(document)
    except GraphQLError as error:
        raise ManifestError(f"{where}: {error.message}") from None
    errors = validate(schema._schema, parsed)
    if errors:
        raise ManifestError(f"{where}: {errors[0].message}")
    names = [
        definition.name.value if definition.name else None
        for definition in parsed.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]
    return queries.DocumentRow(
        id=document_id,
        sha256=document_hash(document),
        document=document,
        operation_name=names[0] if len(names) == 1 else None,
    )


def read_manifest(raw: bytes) -> list[queries.DocumentRow]:
    """The documents of a manifest file's bytes, each validated against the schema."""
    try:
        manifest = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ManifestError(f"not JSON: {error}") from None
    return [_checked(document_id, document) for document_id, document in _entries(manifest)]


__all__ = ["ManifestError", "document_hash", "read_manifest"]
