"""GraphQL over HTTP per the spec (graphql.github.io/graphql-over-http), GraphiQL self-hosted.

Stock Strawberry answers 200 `application/json` to nearly everything, plain text for its own
errors, 400 to a mutation over GET and 500 to some malformed bodies. `SpecGraphQLRouter` keeps
its execution, WebSocket, multipart and streaming paths and changes only the HTTP contract:

- `Accept` is negotiated: `application/graphql-response+json` when the client names it (and
  ranks it no lower than `application/json`), `application/json` when the client names only that,
  gives only wildcards or sends no `Accept` (what graphql-http's audits expect), else 406.
- A POST body must be `application/json` in UTF-8 (or multipart when uploads are enabled),
  else 415; it must be a JSON object whose `query` and `operationName` are strings and whose
  `variables` and `extensions` are objects, else 400. GET takes the same in the query string.
- A mutation over GET is 405 with `Allow: POST` (the spec's MUST); the other methods HTTP
  defines are 405 with `Allow: GET, POST`.
- With `application/graphql-response+json` a response without `data` (the request failed before
  execution: parse, validation, variable coercion, unknown operation) is 400, one with `data`
  (even null) is 200; with `application/json` every executed request is 200.
- Every failure body is `{"errors": [{"message": ...}]}`, never plain text.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any, Final, Literal, cast, overload

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.websockets import WebSocket
from strawberry.exceptions import MissingQueryError
from strawberry.fastapi import GraphQLRouter
from strawberry.fastapi.router import Context
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, GraphQLRequestProtocol
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.streaming import AsyncTextStream, HTTPStreamTransport
from strawberry.http.typevars import RootValue
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult, SubscriptionExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET

from gql_app.core.errors import OPERATION_RESOLUTION_FAILURE, PublicError
from gql_app.graphql.context import Context as OperationContext
from gql_app.graphql.execution.response_size import stopped_execution
from gql_app.graphql.transport.multipart import counted, revocable, streaming_context
from gql_app.graphql.unreadable import LONE_SURROGATE, has_lone_surrogate, overlong_integer

GRAPHQL_RESPONSE_JSON: Final = "application/graphql-response+json"
JSON: Final = "application/json"
METHOD_NOT_ALLOWED: Final = "METHOD_NOT_ALLOWED"
SUBSCRIPTION_NEEDS_STREAM: Final = (
    "A subscription streams its results: send it over a WebSocket (graphql-transport-ws) or "
    "with Accept: multipart/mixed;subscriptionSpec=1.0."
)
# The methods HTTP defines (RFC 9110 and PATCH) but GET and POST; CONNECT takes no path.
_OTHER_METHODS: Final = ["HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]

# The hash admits the one stylesheet GraphiQL injects (react-remove-scroll-bar's scroll lock
# when a dialog opens; its offsets are all 0 on this page, which never scrolls, so its text is
# fixed). Were it blocked, nothing would change on screen but the browser would log a violation.
_SCROLL_LOCK_STYLE_HASH: Final = "'sha256-Y/huXlwoYkVyQlxwSVcCi1RCDGDCSVBzDt0hYP9qlTc='"
GRAPHIQL_CSP: Final = (
    f"default-src 'none'; script-src 'self'; style-src 'self' {_SCROLL_LOCK_STYLE_HASH}; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_GRAPHIQL_DIR: Final = Path(__file__).resolve().parents[2] / "static" / "graphiql"
_GRAPHIQL_ASSETS: Final = {
    "react.production.min.js": "text/javascript",
    "react-dom.production.min.js": "text/javascript",
    "graphiql.min.js": "text/javascript",
    "graphiql.min.css": "text/css",
    "graphiql-init.js": "text/javascript",
    "graphiql-init.css": "text/css",
}
_PARAMETER_TYPES: Final = {
    "query": (str, "a string"),
    "operationName": (str, "a string"),
    "variables": (dict, "an object"),
    "extensions": (dict, "an object"),
}

# The media type negotiated for the request being handled: set in `run`, read by
# `create_response`, which Strawberry calls without the request. None leaves Strawberry's
# stock response (streaming clients).
_response_media_type: ContextVar[str | None] = ContextVar("graphql_response_media_type")


class _HTTPError(HTTPException):
    """Strawberry's HTTPException, with response headers (`Allow` on a 405) and a code."""

    def __init__(
        self, status_code: int, reason: str, headers: Mapping[str, str], code: str
    ) -> None:
        super().__init__(status_code, reason)
        self.headers = headers
        self.code = code


@dataclass(frozen=True, slots=True)
class _GraphiQL:
    """The page template and a digest of the assets: their URLs change when the files do,
    so browsers may cache them for good."""

    page: Template
    version: str


@functools.cache
def _graphiql() -> _GraphiQL:
    digest = hashlib.sha256()
    for name in sorted(_GRAPHIQL_ASSETS):
        digest.update((_GRAPHIQL_DIR / name).read_bytes())
    page = Template((_GRAPHIQL_DIR / "index.html").read_text(encoding="utf-8"))
    return _GraphiQL(page=page, version=digest.hexdigest()[:16])


def _media_ranges(accept: str) -> list[tuple[str, str, float]]:
    """The (type, subtype, q) of each media range of an `Accept` header; malformed q is 0."""
    ranges = []
    for part in accept.split(","):
        media_range, *parameters = part.split(";")
        kind, _, subtype = media_range.strip().lower().partition("/")
        if not kind or not subtype:
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
                if not 0.0 <= quality <= 1.0:
                    quality = 0.0
        ranges.append((kind, subtype, quality))
    return ranges


def _quality(ranges: list[tuple[str, str, float]], media_type: str) -> tuple[float, int]:
    """q of `media_type` from the most specific matching range (RFC 9110, 12.5.1), and that
    specificity: 2 named, 1 `type/*`, 0 `*/*`, -1 no match."""
    kind, _, subtype = media_type.partition("/")
    best = (0.0, -1)
    for range_kind, range_subtype, quality in ranges:
        if (range_kind, range_subtype) == (kind, subtype):
            specificity = 2
        elif range_kind == kind and range_subtype == "*":
            specificity = 1
        elif (range_kind, range_subtype) == ("*", "*"):
            specificity = 0
        else:
            continue
        if specificity > best[1]:
            best = (quality, specificity)
    return best


def negotiate_media_type(accept: str | None) -> str | None:
    """The response media type for an `Accept` header, None when neither JSON type is acceptable.

    Ties go to `application/graphql-response+json` only when the client names it: wildcards and
    a missing header get `application/json`, which every client understands.
    """
    if accept is None or not accept.strip():
        return JSON
    ranges = _media_ranges(accept)

    def rank(media_type: str) -> tuple[float, int, bool]:
        quality, specificity = _quality(ranges, media_type)
        preferred = GRAPHQL_RESPONSE_JSON if specificity == 2 else JSON
        return quality, specificity, media_type == preferred

    best = max((GRAPHQL_RESPONSE_JSON, JSON), key=rank)
    return best if rank(best)[0] > 0 else None


def _accepts_html(accept: str | None) -> bool:
    """The client names text/html: a browser navigating, not a GraphQL client."""
    quality, specificity = _quality(_media_ranges(accept or ""), "text/html")
    return specificity == 2 and quality > 0


def content_type(header: str | None) -> tuple[str, str | None]:
    """The media type of a `Content-Type` header, lowercased, and its charset if given."""
    media_type, *parameters = (header or "").split(";")
    charset = None
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media_type.strip().lower(), charset


def _read_integer(digits: str) -> int:
    problem = overlong_integer(digits)
    if problem is not None:
        raise HTTPException(400, problem)
    return int(digits)


def _request_data(parameters: object, protocol: GraphQLRequestProtocol) -> GraphQLRequestData:
    """Check the request parameters' types (400 rather than a 500 from deeper down)."""
    if not isinstance(parameters, dict):
        raise HTTPException(400, "The GraphQL request must be a JSON object.")
    for name, (kind, description) in _PARAMETER_TYPES.items():
        value = parameters.get(name)
        if value is not None and not isinstance(value, kind):
            raise HTTPException(400, f"The `{name}` parameter must be {description} or null.")
    return GraphQLRequestData(
        query=parameters.get("query"),
        variables=parameters.get("variables"),
        operation_name=parameters.get("operationName"),
        extensions=parameters.get("extensions"),
        protocol=protocol,
    )


def _request_error(message: str, code: str) -> PreExecutionError:
    return PreExecutionError(data=None, errors=[GraphQLError(message, extensions={"code": code})])


def failed_before_execution(result: ExecutionResult | GraphQLExecutionResult) -> bool:
    """No data and no error at a field path: the request failed before execution (parse,
    validation, variable coercion, unknown operation).

    The GraphQL spec leaves `data` out of such a response; field errors always carry a path.
    """
    return (
        result.data is None
        and bool(result.errors)
        and all(
            error.path is None and not stopped_execution(error) for error in result.errors or ()
        )
    )


class SpecGraphQLRouter(GraphQLRouter[Context, RootValue]):
    """Strawberry's FastAPI router, speaking GraphQL over HTTP per the spec (see the module).

    It takes GraphQLRouter's arguments. `graphql_ide="graphiql"` (the default) serves the
    vendored GraphiQL to a browser's `GET` (`Accept: text/html`, no `query`), its assets under
    `<path>/static/`, behind a CSP of 'self' (and one hashed stylesheet); the other IDEs
    Strawberry knows load from CDNs and are refused. With `graphql_ide=None` no page or asset
    route exists and a browser's `GET` is an ordinary GraphQL request without a query: 400 with
    JSON errors.
    """

    def __init__(
        self,
        schema: BaseSchema,
        path: str = "",
        graphql_ide: Literal["graphiql"] | None = "graphiql",
        **kwargs: Any,
    ) -> None:
        if graphql_ide not in ("graphiql", None):
            raise ValueError(f"graphql_ide must be 'graphiql' or None, not {graphql_ide!r}")
        super().__init__(schema, path, graphql_ide, **kwargs)
        # Starlette would answer them 405 with FastAPI's `{"detail": ...}` and `Allow: GET`.
        self.add_api_route(
            path, self._method_not_allowed, methods=_OTHER_METHODS, include_in_schema=False
        )
        if graphql_ide is not None:
            _graphiql()  # missing vendored files fail here, at start-up, not on a page view
            self.add_api_route(
                f"{path.rstrip('/')}/static/{{version}}/{{name}}",
                self._graphiql_asset,
                methods=["GET"],
                include_in_schema=False,
            )

    @overload
    async def run(
        self,
        request: Request,
        context: Context = UNSET,
        root_value: RootValue | None = UNSET,
    ) -> Response: ...

    @overload
    async def run(
        self,
        request: WebSocket,
        context: Context = UNSET,
        root_value: RootValue | None = UNSET,
    ) -> WebSocket: ...

    async def run(
        self,
        request: Request | WebSocket,
        context: Context = UNSET,
        root_value: RootValue | None = UNSET,
    ) -> Response | WebSocket:
        """Negotiate the media type first, then let Strawberry run; its errors become JSON."""
        if self.is_websocket_request(request):
            return await super().run(request, context, root_value)
        request = cast(Request, request)
        adapter = self.request_adapter_class(request)
        if self.should_render_graphql_ide(adapter):
            return await self.render_graphql_ide(request)
        media_type: str | None = None
        if self._get_stream_transport_from_headers(adapter.headers) is None:
            media_type = negotiate_media_type(adapter.headers.get("accept"))
            if media_type is None:
                reason = f"Not acceptable: this endpoint answers {GRAPHQL_RESPONSE_JSON} or {JSON}."
                return self._error_response(HTTPException(406, reason), JSON)
        token = _response_media_type.set(media_type)
        streaming = streaming_context.set(
            context if media_type is None and isinstance(context, OperationContext) else None
        )
        try:
            return await super().run(request, context, root_value)
        except HTTPException as error:
            return self._error_response(error, media_type or JSON)
        finally:
            streaming_context.reset(streaming)
            _response_media_type.reset(token)

    def _stream_result(
        self,
        request: Request,
        result: SubscriptionExecutionResult,
        transport: HTTPStreamTransport,
    ) -> AsyncTextStream:
        """Strawberry's stream, ended when its token is revoked and counted (multipart.py)."""
        watched, transport = revocable(request.scope, result, transport, self.encode_json_string)
        stream = cast(SubscriptionExecutionResult, counted(watched))
        return super()._stream_result(request, stream, transport)

    def wants_stream(self, headers: Mapping[str, str]) -> bool:
        """The client asks for a streaming transport (multipart or server-sent events)."""
        return self._get_stream_transport_from_headers(headers) is not None

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """Only for a browser: Strawberry also serves the page to `Accept: */*` (curl)."""
        return (
            self.graphql_ide is not None
            and request.method == "GET"
            and request.query_params.get("query") is None
            and _accepts_html(request.headers.get("accept"))
        )

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        graphiql = _graphiql()
        static = f"{request.url.path.rstrip('/')}/static/{graphiql.version}"
        return HTMLResponse(
            graphiql.page.substitute(static=html.escape(static)),
            headers={
                "Content-Security-Policy": GRAPHIQL_CSP,
                "X-Content-Type-Options": "nosniff",
                "Vary": "Accept",
            },
        )

    async def _method_not_allowed(self, request: Request) -> Response:
        error = _HTTPError(
            405,
            f"{request.method} is not allowed: use GET or POST.",
            {"Allow": "GET, POST"},
            METHOD_NOT_ALLOWED,
        )
        media_type = negotiate_media_type(request.headers.get("accept")) or JSON
        return self._error_response(error, media_type)

    async def _graphiql_asset(self, version: str, name: str) -> Response:
        if version != _graphiql().version or name not in _GRAPHIQL_ASSETS:
            return self._error_response(HTTPException(404, "Not Found"), JSON)
        return FileResponse(
            _GRAPHIQL_DIR / name,
            media_type=_GRAPHIQL_ASSETS[name],
            headers={
                "Cache-Control": "public, max-age=31536000, immutable",
                "X-Content-Type-Options": "nosniff",
            },
        )

    def encode_json(self, data: object) -> str | bytes:
        """orjson: a large result encodes ten times faster than with the standard library.
        What orjson refuses (integers beyond 64 bits) the standard library still writes."""
        try:
            return orjson.dumps(data)
        except TypeError:
            return super().encode_json(data)

    def parse_json(self, data: str | bytes) -> Any:
        """UTF-8 only (the spec's MUST); undecodable or too deeply nested input is a 400, and
        so is what Python cannot pass on (gql_app/graphql/unreadable.py)."""
        try:
            text = data.decode() if isinstance(data, bytes) else data
            parsed = json.loads(text, parse_int=_read_integer)
        except (ValueError, RecursionError) as error:
            raise HTTPException(400, f"The request is not valid UTF-8 JSON: {error}") from error
        if has_lone_surrogate(parsed):
            raise HTTPException(400, LONE_SURROGATE)
        return parsed

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Strawberry's parsing made strict: 415 for other content types, 400 for a body that is
        not an object and for parameters of the wrong type (Strawberry checks only some)."""
        transport = self._get_stream_transport_from_headers(request.headers)
        protocol: GraphQLRequestProtocol = transport.protocol if transport else "http"
        parameters = await self._request_parameters(request)
        if isinstance(parameters, list):
            batch = [_request_data(item, protocol) for item in parameters]
            self._validate_batch_request(batch, protocol=protocol)
            return batch
        return _request_data(parameters, protocol)

    async def _request_parameters(self, request: AsyncHTTPRequestAdapter) -> object:
        if request.method == "GET":
            return self.parse_query_params(request.query_params)
        media_type, charset = content_type(request.content_type)
        if media_type == JSON and charset in (None, "utf-8"):
            return self.parse_json(await request.get_body())
        if media_type == "multipart/form-data" and self.multipart_uploads_enabled:
            return await self.parse_multipart(request)
        given = request.content_type or "none"
        raise HTTPException(415, f"Unsupported Content-Type ({given}): send {JSON} in UTF-8.")

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: RootValue | None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Strawberry's, but an operation GET may not run is a 405, and an unknown operation
        name is a GraphQL request error (its status then follows the media type)."""
        method = request_adapter.method
        # A subscription streams: over a WebSocket or multipart HTTP, never a single result.
        allowed = OperationType.from_http(method) - {OperationType.SUBSCRIPTION}
        if method == "GET" and not self.allow_queries_via_get:
            allowed -= {OperationType.QUERY}
        try:
            return await self.schema.execute(
                request_data.query,
                variable_values=request_data.variables,
                context_value=context,
                root_value=root_value,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as error:
            if error.operation_type is OperationType.SUBSCRIPTION:
                return _request_error(SUBSCRIPTION_NEEDS_STREAM, PublicError.code)
            reason = error.as_http_error_reason(method)
            if method == "GET":
                raise _HTTPError(405, reason, {"Allow": "POST"}, METHOD_NOT_ALLOWED) from error
            return PreExecutionError(data=None, errors=[GraphQLError(reason)])
        except CannotGetOperationTypeError as error:
            return _request_error(error.as_http_error_reason(), OPERATION_RESOLUTION_FAILURE)
        except MissingQueryError as error:
            raise HTTPException(400, "No GraphQL query found in the request.") from error

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        if failed_before_execution(result):
            response.pop("data", None)
        return response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """The negotiated media type, and its status code unless a resolver set one."""
        media_type = _response_media_type.get(None)
        if media_type is None:
            return super().create_response(response_data, sub_response)
        failed = (
            media_type == GRAPHQL_RESPONSE_JSON
            and not isinstance(response_data, list)
            and "data" not in response_data
        )
        response = Response(
            self.encode_json(response_data),
            status_code=sub_response.status_code or (400 if failed else 200),
            media_type=f"{media_type}; charset=utf-8",
            headers={"Vary": "Accept"},
        )
        response.headers.raw.extend(sub_response.headers.raw)
        return response

    def _error_response(self, error: HTTPException, media_type: str) -> Response:
        headers = {"Vary": "Accept"}
        body: dict[str, object] = {"message": error.reason}
        if isinstance(error, _HTTPError):
            headers.update(error.headers)
            body["extensions"] = {"code": error.code}
        return Response(
            self.encode_json({"errors": [body]}),
            status_code=error.status_code,
            media_type=f"{media_type}; charset=utf-8",
            headers=headers,
        )


__all__ = [
    "GRAPHIQL_CSP",
    "GRAPHQL_RESPONSE_JSON",
    "JSON",
    "SpecGraphQLRouter",
    "content_type",
    "failed_before_execution",
    "negotiate_media_type",
]
