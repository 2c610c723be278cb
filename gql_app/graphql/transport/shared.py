"""Shared subscriptions: subscribers whose results cannot differ share one resolution.

Two subscriptions over WebSockets with the same document, variables, operation name and
token (the anonymous ones: none) get the same results, whatever their selection: the
viewer is the same. The worker resolves such a group once per event, in one operation of
its own (`resolution.resolve`: its own session, loaders, viewer), serializes the
payload once, and hands it to each member, which adds its id and sends it. Each member has
its own bounded queue (`SUBSCRIPTION_QUEUE_SIZE`): a slow client falls behind alone. The
group ends when its stream does (the post was deleted: every member completes) or when
its last member leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Final

from graphql import GraphQLError, OperationType, get_operation_ast, parse
from starlette.types import Scope

from gql_app.core.observability import count_events_dropped, count_subscriptions
from gql_app.core.resources import Resources
from gql_app.graphql.schema import Schema
from gql_app.graphql.transport.resolution import resolve

Key = tuple[str, str, str | None, str | None]
# What a member receives: ("next", payload JSON), ("error", errors JSON), or ("complete", "").
Item = tuple[str, str]
_COMPLETE: Final[Item] = ("complete", "")


def is_subscription(query: str, operation_name: str | None) -> bool:
    """The document's operation is a subscription (a document that does not parse is not:
    the ordinary path reports its error)."""
    try:
        operation = get_operation_ast(parse(query), operation_name)
    except GraphQLError:
        return False
    return operation is not None and operation.operation is OperationType.SUBSCRIPTION


class FellBehind(Exception):
    """The member's queue was full: its client reads too slowly."""


@dataclass(eq=False)
class Member:
    """One subscription of a group: its queue of serialized items."""

    size: int
    items: deque[Item] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    behind: bool = False

    def offer(self, item: Item) -> None:
        if len(self.items) >= self.size and item is not _COMPLETE:
            self.behind = True
            count_events_dropped()
        else:
            self.items.append(item)
        self.ready.set()

    async def __aiter__(self) -> AsyncIterator[Item]:
        while True:
            while not self.items:
                if self.behind:
                    raise FellBehind
                self.ready.clear()
                await self.ready.wait()
            item = self.items.popleft()
            yield item
            if item[0] != "next":
                return


class _Group:
    def __init__(self, shared: SharedSubscriptions, key: Key) -> None:
        self.shared = shared
        self.key = key
        self.members: set[Member] = set()
        self.task: asyncio.Task[None] | None = None

    def publish(self, item: Item) -> None:
        for member in list(self.members):
            member.offer(item)

    async def next(self, payload: dict[str, Any]) -> None:
        self.publish(("next", _json(payload)))

    async def error(self, errors: list[GraphQLError]) -> None:
        self.end(_errors(errors))

    async def complete(self) -> None:
        self.end(_COMPLETE)

    def end(self, item: Item) -> None:
        """The last item: the group is forgotten first, so a new subscriber starts anew."""
        self.shared.forget(self)
        self.publish(item)
        if item is not _COMPLETE:
            self.publish(_COMPLETE)


class SharedSubscriptions:
    """The worker's groups of subscriptions that share a resolution."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._groups: dict[Key, _Group] = {}

    @property
    def groups(self) -> int:
        return len(self._groups)

    def forget(self, group: _Group) -> None:
        if self._groups.get(group.key) is group:
            del self._groups[group.key]

    @contextlib.asynccontextmanager
    async def member(
        self,
        resources: Resources,
        scope: Scope,
        authorization: str | None,
        request: dict[str, Any],
    ) -> AsyncIterator[Member]:
        """A membership of the group of `request` (made and started if there is none),
        left when the block ends; the last member to leave stops the group."""
        variables = json.dumps(request.get("variables") or {}, sort_keys=True)
        key = (request["query"], variables, request.get("operationName"), authorization)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(self, key)
            group.task = resources.loop.create_task(
                self._run(group, resources, scope, authorization, request)
            )
        joined = Member(resources.settings.subscription_queue_size)
        group.members.add(joined)
        count_subscriptions(1)
        try:
            yield joined
        finally:
            group.members.discard(joined)
            count_subscriptions(-1)
            if not group.members and group.task is not None:
                self.forget(group)
                group.task.cancel()

    async def _run(
        self,
        group: _Group,
        resources: Resources,
        scope: Scope,
        authorization: str | None,
        request: dict[str, Any],
    ) -> None:
        await resolve(self.schema, resources, scope, authorization, request, group)


def _errors(errors: list[GraphQLError]) -> Item:
    return ("error", _json([error.formatted for error in errors]))


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
