"""Fresh request ids (gql_app/http/request_id.py): 32 hex digits, never repeated, not even by
workers forked from one parent; the response header that carries them."""

from __future__ import annotations

import multiprocessing
import re

from starlette.datastructures import MutableHeaders

from gql_app.http.request_id import fresh_id, with_request_id


def test_fresh_ids_are_32_hex_digits() -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", fresh_id())


def test_fresh_ids_do_not_repeat() -> None:
    ids = {fresh_id() for _ in range(10_000)}
    assert len(ids) == 10_000


def test_forked_workers_do_not_repeat_each_others_ids() -> None:
    fork = multiprocessing.get_context("fork")
    with fork.Pool(2) as pool:
        children = pool.starmap(_ids, [(100,), (100,)])
    parent = _ids(100)
    assert len({*parent, *children[0], *children[1]}) == 300


def _ids(count: int) -> list[str]:
    return [fresh_id() for _ in range(count)]


def test_the_request_id_header_is_added_after_the_others() -> None:
    headers = [(b"content-type", b"application/json"), (b"vary", b"Accept")]
    assert with_request_id(headers, b"abc") == [*headers, (b"x-request-id", b"abc")]


def test_the_request_id_header_replaces_the_ones_a_response_has_as_starlette_does() -> None:
    headers = [
        (b"x-request-id", b"old"),
        (b"content-type", b"application/json"),
        (b"x-request-id", b"older"),
    ]
    message = {"headers": list(headers)}
    MutableHeaders(scope=message)["X-Request-ID"] = "abc"
    assert with_request_id(headers, b"abc") == message["headers"]
