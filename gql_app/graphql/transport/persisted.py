"""Persisted operations: Apollo's automatic persisted queries (APQ) and trusted documents.

A pure ASGI middleware in front of the fast path and the spec router: the one place where a
request that names its document (instead of sending it) gets its text. The request then goes
on as if the client had sent the text, so the parse, validation and plan caches and the fast
path serve it as they serve any other (the `persistedQuery` extension is taken out of it).

- APQ (`PERSISTED_QUERIES=apq`, Apollo's protocol): `extensions.persistedQuery` is
  `{"version": 1, "sha256Hash": "<hex>"}`. Without `query`, a hash this worker was given
  (a bounded LRU of `APQ_CACHE_SIZE`), or that a trusted document has, runs; another is
  answered `PersistedQueryNotFound` (HTTP 200, `application/json`: the client then resends
  with the query). With `query`, the text is registered under the hash when its SHA-256 is
  the hash, and refused otherwise (nothing registered).
- Trusted documents (`gql-app persist`, the `persisted_documents` table): a request may name
  one by `documentId` (`sha256:<hex>` or the manifest's id) or by its APQ hash. With
  `PERSISTED_QUERIES=only` nothing else runs: a document text that is not registered is
  refused (`PERSISTED_QUERY_NOT_ALLOWED`) before it is parsed, and the APQ cache is unused.
- `PERSISTED_QUERIES=off`: any request naming a document is answered
  `PersistedQueryNotSupported`, so Apollo's link sends full queries from then on.

GET takes the same parameters in its query string (`extensions` and `variables` as JSON);
the rest of GET's rules (queries only, 405 for a mutation) are the router's. Everything this
module does not recognise goes on untouched: the spec router reports it.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from gql_app import queries
from gql_app.core.config import PersistedQueries, Settings
from gql_app.core.errors import DatabaseUnavailable, error_body
from gql_app.core.lru import LRU
from gql_app.core.resources import resources_of
from gql_app.db import describe_error, public_database_error
from gql_app.graphql.manifests import document_hash
from gql_app.graphql.transport.http import JSON, content_type
from gql_app.http.headers import header
from gql_app.http.messages import received

logger = logging.getLogger(__name__)

PERSISTED_QUERY_NOT_FOUND: Final = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_NOT_SUPPORTED: Final = "PERSISTED_QUERY_NOT_SUPPORTED"
PERSISTED_QUERY_NOT_ALLOWED: Final = "PERSISTED_QUERY_NOT_ALLOWED"
PERSISTED_QUERY_HASH_MISMATCH: Final = "PERSISTED_QUERY_HASH_MISMATCH"
PERSISTED_QUERY_INVALID: Final = "PERSISTED_QUERY_INVALID"
_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_DOCUMENT_ID_PREFIX: Final = "sha256:"


class _Refusal(Exception):
    """The answer to a request this module refuses: a coded GraphQL error."""

    def __init__(self, message: str, code: str, status: int = 200) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def _persisted_hash(extension: object) -> str:
    """The hash of a valid `persistedQuery` extension (version 1, a hex SHA-256)."""
    if (
        not isinstance(extension, dict)
        or extension.get("version") != 1
        or not isinstance(extension.get("sha256Hash"), str)
        or not _SHA256.fullmatch(extension["sha256Hash"].lower())
    ):
        raise _Refusal(
            'extensions.persistedQuery must be {"version": 1, "sha256Hash": "<hex SHA-256>"}.',
            PERSISTED_QUERY_INVALID,
            400,
        )
    found: str = extension["sha256Hash"].lower()
    return found


def _json(raw: bytes | str) -> tuple[object, bool]:
    """Parsed JSON (None if it is not), and whether orjson parsed it. orjson refuses some
    JSON the router's parser reads (NaN, lone surrogate escapes): those are read as the
    router reads them, so that nothing it would run escapes the checks here."""
    try:
        return orjson.loads(raw), True
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw), False
    except ValueError:
        return None, False  # the router reports it


def _without_persisted_query(parameters: dict[str, Any]) -> None:
    extensions = {k: v for k, v in parameters["extensions"].items() if k != "persistedQuery"}
    if extensions:
        parameters["extensions"] = extensions
    else:
        del parameters["extensions"]


class PersistedDocuments:
    """The middleware (see the module), for requests to `path`."""

    def __init__(self, app: ASGIApp, *, settings: Settings, path: str) -> None:
        self.app = app
        self.path = path
        self.mode = settings.persisted_queries
        self.everything = self.mode is PersistedQueries.ONLY
        self.automatic: LRU[str, str] = LRU(settings.apq_cache_size)
        # Trusted documents found in the database, by the key they were asked for: they never
        # change once registered, so a worker reads each from the database once.
        self.trusted: LRU[str, str] = LRU(settings.query_cache_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
        elif scope["method"] == "POST":
            await self._post(scope, receive, send)
        elif scope["method"] == "GET":
            await self._get(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _concerns(self, raw: bytes) -> bool:
        """Whether a body or query string may name a document (or, with
        PERSISTED_QUERIES=only, send one): a bytes search, no parsing."""
        return self.everything or b"persistedQuery" in raw or b"documentId" in raw

    async def _get(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw: bytes = scope["query_string"]
        if not self._concerns(raw):
            await self.app(scope, receive, send)
            return
        parameters: dict[str, Any] = dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
        decoded = dict(parameters)
        if "extensions" in parameters:  # as the router reads it: JSON text in a query string
            decoded["extensions"], _ = _json(parameters["extensions"])
        try:
            resolved = await self._resolve(scope, decoded)
        except _Refusal as refusal:
            await _refuse(send, refusal)
            return
        if resolved is not None:
            if "extensions" in resolved:
                resolved["extensions"] = orjson.dumps(resolved["extensions"]).decode()
            scope = {**scope, "query_string": urlencode(resolved).encode()}
        await self.app(scope, receive, send)

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = await received(receive)
        body = request.body
        # Other media types go on untouched: the router refuses them (415).
        if self._concerns(body) and content_type(header(scope, b"content-type"))[0] == JSON:
            parameters, strict = _json(body)
            try:
                if isinstance(parameters, list):  # a batch: each operation on its own
                    resolved = [await self._resolve(scope, item) or item for item in parameters]
                    rewritten = any(a is not b for a, b in zip(resolved, parameters, strict=True))
                    replacement: object = resolved if rewritten else None
                else:
                    replacement = await self._resolve(scope, parameters)
            except _Refusal as refusal:
                await _refuse(send, refusal)
                return
            if replacement is not None:
                # Handed on parsed, as the fast path would parse the new body, when orjson
                # read the old one: JSON it reads, it writes back as it was.
                request = request.replaced(
                    orjson.dumps(replacement), replacement if strict else None
                )
        await self.app(scope, request, send)

    async def _resolve(self, scope: Scope, parameters: object) -> dict[str, Any] | None:
        """The request's parameters with the text of the document it names, or None when
        they stay as they are. Raises `_Refusal`."""
        if not isinstance(parameters, dict):
            return None
        extensions = parameters.get("extensions")
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        document_id = parameters.get("documentId")
        query = parameters.get("query")
        if persisted is not None or document_id is not None:
            if self.mode is PersistedQueries.OFF:
                raise _Refusal("PersistedQueryNotSupported", PERSISTED_QUERY_NOT_SUPPORTED)
            if persisted is not None:
                query = await self._by_hash(scope, _persisted_hash(persisted), query)
            else:
                query = await self._by_document_id(scope, document_id, query)
            resolved = {
                **{k: v for k, v in parameters.items() if k != "documentId"},
                "query": query,
            }
            if persisted is not None:
                _without_persisted_query(resolved)
            return resolved
        if self.mode is PersistedQueries.ONLY and isinstance(query, str):
            await self._trusted_text(scope, query)
        return None

    async def _by_hash(self, scope: Scope, sha256: str, query: object) -> str:
        """APQ: the text of `sha256`, registering `query` under it when given."""
        if isinstance(query, str):
            if document_hash(query) != sha256:
                raise _Refusal(
                    "The query's SHA-256 is not extensions.persistedQuery.sha256Hash: "
                    "nothing was registered.",
                    PERSISTED_QUERY_HASH_MISMATCH,
                    400,
                )
            if self.mode is PersistedQueries.ONLY:
                await self._trusted_text(scope, query)
            else:
                self.automatic.put(sha256, query)
            return query
        found = None if self.mode is PersistedQueries.ONLY else self.automatic.get(sha256)
        if found is None:
            found = await self._trusted(scope, sha256)
        if found is None:
            raise _Refusal("PersistedQueryNotFound", PERSISTED_QUERY_NOT_FOUND)
        return found

    async def _by_document_id(self, scope: Scope, document_id: object, query: object) -> str:
        if not isinstance(document_id, str) or query is not None:
            raise _Refusal(
                "`documentId` must be a string, sent without `query`.",
                PERSISTED_QUERY_INVALID,
                400,
            )
        found = await self._trusted(scope, document_id.removeprefix(_DOCUMENT_ID_PREFIX))
        if found is None:
            raise _Refusal(
                f"No document is registered with the id {document_id!r}.",
                PERSISTED_QUERY_NOT_FOUND,
            )
        return found

    async def _trusted_text(self, scope: Scope, query: str) -> None:
        """`PERSISTED_QUERIES=only`: refuse `query` unless it is a registered document."""
        if await self._trusted(scope, document_hash(query)) != query:
            raise _Refusal(
                "Only registered documents run here (PERSISTED_QUERIES=only): this one is not.",
                PERSISTED_QUERY_NOT_ALLOWED,
                400,
            )

    async def _trusted(self, scope: Scope, key: str) -> str | None:
        """The registered document of id (or SHA-256) `key`, or None."""
        found = self.trusted.get(key)
        if found is None:
            try:
                async with resources_of(scope).engine.connect() as connection:
                    found = await queries.persisted_document(connection, key)
            except Exception as exc:
                logger.warning("reading a persisted document failed: %s", describe_error(exc))
                public = public_database_error(exc) or DatabaseUnavailable(
                    "The database cannot be used; retry later."
                )
                raise _Refusal(public.message, public.code, 503) from exc
            if found is not None:
                self.trusted.put(key, found)
        return found


async def _refuse(send: Send, refusal: _Refusal) -> None:
    body = error_body(refusal.message, refusal.code)
    await send(
        {
            "type": "http.response.start",
            "status": refusal.status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


__all__ = [
    "PERSISTED_QUERY_HASH_MISMATCH",
    "PERSISTED_QUERY_INVALID",
    "PERSISTED_QUERY_NOT_ALLOWED",
    "PERSISTED_QUERY_NOT_FOUND",
    "PERSISTED_QUERY_NOT_SUPPORTED",
    "PersistedDocuments",
]
