"""Keyset pagination in GraphQL: Relay arguments checked into a `Page`, and opaque cursors.

A cursor is the urlsafe base64 of a JSON array: the name of the ordering it belongs to,
then the sort key of its row (for example `["posts:newest", "2025-01-01T00:00:00+00:00",
42]`). It needs no secret: a cursor only says where a page starts, and a tampered one is
refused here, before any SQL. Nothing here knows about SQL or GraphQL types.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from gql_app.core.errors import BadUserInput
from gql_app.core.paging import DEFAULT_PAGE_SIZE, Key, Page
from gql_app.domain.input import holds_nul

MAX_CURSOR_LENGTH = 1024
BIGINT = range(-(2**63), 2**63)  # the integer keys' column type on both dialects


def _encode_value(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def encode_cursor(ordering: str, key: Key) -> str:
    payload = json.dumps([ordering, *map(_encode_value, key)], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode_value(value: object, kind: type) -> object:
    if kind is datetime and isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        return parsed.astimezone(UTC)  # OverflowError past year 9999 or before year 1 in UTC
    if kind is int and type(value) is int and value in BIGINT:
        return value
    if kind is str and isinstance(value, str) and not holds_nul(value):
        value.encode()  # UnicodeEncodeError for a lone surrogate, which no database stores
        return value
    raise ValueError("wrong type")


def decode_cursor(cursor: str, ordering: str, key_types: Sequence[type]) -> Key:
    """The sort key in `cursor`; `BadUserInput` unless it is a cursor of `ordering`."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(payload, list) or len(payload) != len(key_types) + 1:
            raise ValueError("wrong shape")
        if payload[0] != ordering:
            raise ValueError("cursor of another connection or ordering")
        return tuple(map(_decode_value, payload[1:], key_types))
    except (ValueError, UnicodeError, binascii.Error, OverflowError, RecursionError) as exc:
        raise BadUserInput(
            f"invalid cursor {cursor[:40]!r}: use a cursor this connection returned"
        ) from exc


def _checked_count(name: str, value: int | None, max_size: int) -> int | None:
    if value is not None and not 0 <= value <= max_size:
        raise BadUserInput(f"`{name}` must be between 0 and {max_size} (got {value})")
    return value


def page_from_arguments(
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    ordering: str,
    key_types: Sequence[type],
    max_size: int,
) -> Page:
    """Check the Relay arguments of a connection and decode its cursors.

    `first` and `last` are exclusive; with neither, the first `DEFAULT_PAGE_SIZE` rows.
    """
    if first is not None and last is not None:
        raise BadUserInput("pass either `first` or `last`, not both")
    first = _checked_count("first", first, max_size)
    last = _checked_count("last", last, max_size)
    return Page(
        limit=last if last is not None else first if first is not None else DEFAULT_PAGE_SIZE,
        after=decode_cursor(after, ordering, key_types) if after is not None else None,
        before=decode_cursor(before, ordering, key_types) if before is not None else None,
        backward=last is not None,
    )
