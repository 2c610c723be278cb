"""Relay arguments and opaque cursors, checked before any SQL runs."""

import base64
import json
from datetime import UTC, datetime

import pytest

from gql_app.core.errors import BadUserInput
from gql_app.core.paging import DEFAULT_PAGE_SIZE, Page, slice_rows
from gql_app.graphql.pagination import decode_cursor, encode_cursor, page_from_arguments

KEY_TYPES = (datetime, int)
KEY = (datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), 42)


def _page(
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page:
    return page_from_arguments(
        first=first,
        after=after,
        last=last,
        before=before,
        ordering="posts:newest",
        key_types=KEY_TYPES,
        max_size=100,
    )


def _raw_cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def test_a_cursor_decodes_to_the_key_it_encodes() -> None:
    assert decode_cursor(encode_cursor("posts:newest", KEY), "posts:newest", KEY_TYPES) == KEY


def test_a_cursor_is_opaque_base64() -> None:
    cursor = encode_cursor("posts:newest", KEY)
    assert "42" not in cursor
    assert "posts" not in cursor


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",
        _raw_cursor("a string"),
        _raw_cursor(["posts:newest", "2025-01-02T03:04:05+00:00"]),
        _raw_cursor(["posts:newest", "2025-01-02T03:04:05+00:00", 1, 2]),
        _raw_cursor(["posts:newest", "2025-01-02T03:04:05", 1]),
        _raw_cursor(["posts:newest", "yesterday", 1]),
        _raw_cursor(["posts:newest", "2025-01-02T03:04:05+00:00", "1"]),
        _raw_cursor(["posts:newest", "2025-01-02T03:04:05+00:00", True]),
        _raw_cursor(["posts:newest", "2025-01-02T03:04:05+00:00", 1.5]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "A" * 2000,
    ],
)
def test_a_tampered_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(BadUserInput, match="invalid cursor"):
        decode_cursor(cursor, "posts:newest", KEY_TYPES)


def test_a_text_key_holding_nul_is_refused() -> None:
    cursor = encode_cursor("users:username", ("a\x00b", 1))
    with pytest.raises(BadUserInput, match="invalid cursor"):
        decode_cursor(cursor, "users:username", (str, int))


def test_a_cursor_of_another_ordering_is_refused() -> None:
    with pytest.raises(BadUserInput, match="invalid cursor"):
        decode_cursor(encode_cursor("posts:oldest", KEY), "posts:newest", KEY_TYPES)


def test_without_first_or_last_a_page_is_the_first_twenty() -> None:
    assert _page() == Page(limit=DEFAULT_PAGE_SIZE)


def test_last_pages_backward_from_before() -> None:
    cursor = encode_cursor("posts:newest", KEY)
    assert _page(last=3, before=cursor) == Page(limit=3, before=KEY, backward=True)


def test_first_and_last_together_are_refused() -> None:
    with pytest.raises(BadUserInput, match="either `first` or `last`"):
        _page(first=1, last=1)


@pytest.mark.parametrize(("argument", "value"), [("first", 101), ("last", 101), ("first", -1)])
def test_a_page_size_out_of_bounds_is_refused_naming_the_argument_and_limit(
    argument: str, value: int
) -> None:
    with pytest.raises(BadUserInput, match=f"`{argument}` must be between 0 and 100"):
        _page(**{argument: value})  # type: ignore[arg-type]


def test_slicing_a_forward_page_sees_the_extra_row_as_a_next_page() -> None:
    sliced = slice_rows([1, 2, 3], Page(limit=2))
    assert (list(sliced.rows), sliced.has_previous, sliced.has_next) == ([1, 2], False, True)


def test_slicing_a_backward_page_restores_the_order_and_sees_a_previous_page() -> None:
    sliced = slice_rows([9, 8, 7], Page(limit=2, backward=True))
    assert (list(sliced.rows), sliced.has_previous, sliced.has_next) == ([8, 9], True, False)
