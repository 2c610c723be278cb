"""Request sessions made by hand, for tests that drive the database layer themselves."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gql_app.db import RequestSession, create_sessionmaker


def request_session(engine: AsyncEngine) -> RequestSession:
    """A request's session on `engine`, as the app opens one per operation."""
    return RequestSession(create_sessionmaker(engine))
