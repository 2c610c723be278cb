"""The per-request context: session, DataLoaders, viewer, request id and client address
(DESIGN.md contract 1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from strawberry.fastapi import BaseContext

from gql_app import queries
from gql_app.client_address import client_address
from gql_app.config import Settings
from gql_app.db import RequestSession
from gql_app.graphql.response_size import ResponseBudget
from gql_app.loaders import Loaders
from gql_app.models import User, utcnow
from gql_app.request_id import request_id_of
from gql_app.security import bearer_token, hash_token

if TYPE_CHECKING:
    from gql_app.app import Resources


class Context(BaseContext):
    """What every resolver of one operation shares.

    All database access goes through `db`, whose lock serializes the concurrently resolved
    fields; `loaders` batch their lookups.
    """

    def __init__(
        self,
        *,
        db: RequestSession,
        settings: Settings,
        request_id: str,
        authorization: str | None,
        client_address: str,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__()
        self.db = db
        self.settings = settings
        self.request_id = request_id
        self.client_address = client_address  # what the login throttle counts per address
        self.loop = loop  # the running loop (`Resources.loop`)
        self.loaders = Loaders(db, settings.loader_batch_size, loop)
        self.response_budget = ResponseBudget(settings.max_response_bytes)
        token = bearer_token(authorization)
        # The hash of the request's bearer token, as stored: None without one.
        self.token_hash = hash_token(token) if token is not None else None
        self._viewer: asyncio.Future[User | None] | None = None

    def renew_loaders(self) -> None:
        """Forget what the loaders cached: a mutation calls this after it wrote."""
        self.loaders = Loaders(self.db, self.settings.loader_batch_size, self.loop)

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
        if self.token_hash is None:
            return None
        async with self.db.transaction() as session:
            return await queries.user_by_token_hash(session, self.token_hash, utcnow())


async def request_session(request: Request) -> AsyncIterator[RequestSession]:
    """FastAPI dependency: the request's session, closed when the request ends, however."""
    resources: Resources = request.app.state.resources
    db = RequestSession(resources.sessionmaker)
    try:
        yield db
    finally:
        await db.close()


async def get_context(
    request: Request, db: Annotated[RequestSession, Depends(request_session)]
) -> Context:
    """The context getter of the GraphQL router."""
    resources: Resources = request.app.state.resources
    return Context(
        db=db,
        settings=resources.settings,
        request_id=request_id_of(request.scope),
        authorization=request.headers.get("authorization"),
        client_address=client_address(request.scope, resources.settings.trusted_proxies),
        loop=resources.loop,
    )
