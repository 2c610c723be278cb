"""The app's resources (settings, engine, sessions, loop) and the one typed way to reach them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from starlette.types import Scope

from gql_app.core.config import Settings


@dataclass(frozen=True, slots=True)
class Resources:
    """What the app holds for its lifetime: created at start-up, disposed at shutdown."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # The app's event loop, which requests are given rather than ask for: on Python 3.11
    # `asyncio.get_running_loop()` is a getpid syscall.
    loop: asyncio.AbstractEventLoop


def attach_resources(app: Starlette, resources: Resources) -> None:
    """Give `app` its resources, for `resources_of` (at start-up)."""
    app.state.resources = resources


def resources_of(holder: Starlette | HTTPConnection | Scope) -> Resources:
    """The resources of the app that `holder` (the app, a request, an ASGI scope) belongs to."""
    if isinstance(holder, Starlette):
        app = holder
    elif isinstance(holder, HTTPConnection):
        app = holder.app
    else:
        app = holder["app"]
    resources = app.state.resources
    if not isinstance(resources, Resources):
        raise TypeError("the app has no resources: it has not started")
    return resources
