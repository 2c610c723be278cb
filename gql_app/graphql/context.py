"""The per-request context (DESIGN.md contract 1): session, loaders, viewer, request id, address."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Scope
from strawberry.fastapi import BaseContext

from gql_app import queries
from gql_app.core.config import Settings
from gql_app.core.resources import Resources, resources_of
from gql_app.db import RequestSession
from gql_app.db.models import User, utcnow
from gql_app.domain.security import bearer_token, hash_token
from gql_app.graphql.execution.response_size import ResponseBudget
from gql_app.graphql.transport.fanout import Fanout, fanout_of
from gql_app.http.client_address import client_address
from gql_app.http.headers import header
from gql_app.http.request_id import request_id_of
from gql_app.loading.loaders import Loaders

# What a client sends back of a response's `extensions.readAfter` (as ASGI names headers).
READ_AFTER_REQUEST_HEADER = b"x-read-after"


class Context(BaseContext):
    """What every resolver of one operation shares.

    All database access goes through `db`, whose lock serializes the concurrently resolved
    fields; `loaders` batch their lookups.
    """

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        read_after: str | None,
        fanout: Fanout,
        settings: Settings,
        request_id: str,
        authorization: str | None,
        client_address: str,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__()
        self._sessionmaker = sessionmaker
        # Reads come after this commit position, if the request sent one (read_after.py).
        self.db = RequestSession(sessionmaker, read_after=read_after)
        self.fanout = fanout  # the worker's subscriptions (gql_app/graphql/transport/fanout.py)
        self._resolving = False  # holds a slot of `fanout.resolving`
        self.settings = settings
        self.request_id = request_id
        self.client_address = client_address  # what the login throttle counts per address
        self.loop = loop  # the running loop (`Resources.loop`)
        self.loaders = Loaders(self.db, settings.loader_batch_size, loop)
        self.response_budget = ResponseBudget(settings.max_response_bytes)
        token = bearer_token(authorization)
        # The hash of the request's bearer token, as stored: None without one.
        self.token_hash = hash_token(token) if token is not None else None
        self._viewer: asyncio.Future[User | None] | None = None

    def renew_loaders(self) -> None:
        """Forget what the loaders cached: a mutation calls this after it wrote."""
        self.loaders = Loaders(self.db, self.settings.loader_batch_size, self.loop)

    async def begin_event(self) -> None:
        """Before a subscription's next event: a new session, loaders and response budget,
        the old session closed (each event resolves in its own: DESIGN.md contract 1), and
        one of the worker's slots for resolving events (`Fanout.resolving`). With replicas
        it reads the primary, where the event's commit is visible (DESIGN.md contract 13)."""
        await self.db.close()
        self.db = RequestSession(self._sessionmaker)
        self.db.use_primary()  # the event's commit is visible there, maybe not on a replica
        self.renew_loaders()
        self.response_budget = ResponseBudget(self.settings.max_response_bytes)
        await self.hold_resolving()

    async def hold_resolving(self) -> None:
        """Take one of the worker's slots for real-time work (`Fanout.resolving`,
        `SUBSCRIPTION_CONCURRENCY`), unless held: an operation over a socket, a
        subscription's set-up, an event's resolution. The admission of HTTP requests does
        not see them; this bounds what they ask of the pool."""
        if not self._resolving:
            await self.fanout.resolving.acquire()
            self._resolving = True

    def release_resolving(self) -> None:
        """The work is done (its result is about to be sent): its slot is free."""
        if self._resolving:
            self._resolving = False
            self.fanout.resolving.release()

    def act_as(self, user: User | None) -> None:
        """Resolve the rest of the operation as `user`: after login, logout or deletion."""
        self._viewer = self.loop.create_future()
        self._viewer.set_result(user)

    async def viewer(self) -> User | None:
        """The user of the request's `Authorization: Bearer` token, or None.

        Looked up at most once per request, on first use. It takes the session's lock: call
        it before opening a transaction, never inside one.
        """
        if self._viewer is None:
            self._viewer = self.loop.create_task(self._find_viewer())
        return await self._viewer

    async def _find_viewer(self) -> User | None:
        """Read on the primary (DESIGN.md contract 13) in a read unit, then held by the
        session as the ORM object it would have loaded (`RequestSession.adopt`): account
        mutations change the viewer in place."""
        token_hash = self.token_hash
        if token_hash is None:
            return None
        now = utcnow()
        user = await self.db.read(
            lambda reads: queries.user_by_token_hash(reads, token_hash, now), primary=True
        )
        return self.db.adopt(user) if user is not None else None


class _OperationContext:
    """`operation_context`'s context manager. A class, not an async generator: one is
    entered per operation, and an async generator costs the loop's first-iteration hook and
    a weak set."""

    __slots__ = ("_context",)

    def __init__(self, context: Context) -> None:
        self._context = context

    async def __aenter__(self) -> Context:
        return self._context

    async def __aexit__(self, *_exc_info: object) -> None:
        self._context.release_resolving()
        await self._context.db.close()


def operation_context(
    resources: Resources, *, request_id: str, authorization: str | None, scope: Scope
) -> _OperationContext:
    """The context of one operation: its own session (closed when the block ends, however it
    ends) and loaders, its viewer, request id and client address (from the ASGI `scope`).
    The session's reads come after the commit position of the `X-Read-After` header, if
    the request sends one (gql_app/graphql/read_after.py).
    Every transport builds its context here. The session connects on its first unit of
    work, so a context made but never entered holds nothing."""
    return _OperationContext(
        Context(
            sessionmaker=resources.sessionmaker,
            read_after=header(scope, READ_AFTER_REQUEST_HEADER),
            fanout=fanout_of(scope),
            settings=resources.settings,
            request_id=request_id,
            authorization=authorization,
            client_address=client_address(scope, resources.settings.trusted_proxies),
            loop=resources.loop,
        )
    )


async def get_context(request: Request) -> AsyncIterator[Context]:
    """The context getter of the GraphQL router (a FastAPI dependency, closed when the
    request ends)."""
    async with operation_context(
        resources_of(request),
        request_id=request_id_of(request.scope),
        authorization=request.headers.get("authorization"),
        scope=request.scope,
    ) as context:
        yield context
