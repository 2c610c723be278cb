"""`header` (gql_app/http/headers.py): a request header read from the ASGI scope."""

from __future__ import annotations

from gql_app.http.headers import header

SCOPE = {
    "headers": [
        (b"accept", b"application/json"),
        (b"x-note", b"caf\xe9"),
        (b"accept", b"text/html"),
    ]
}


def test_the_first_value_of_a_header_is_read() -> None:
    assert header(SCOPE, b"accept") == "application/json"


def test_a_missing_header_is_none() -> None:
    assert header(SCOPE, b"authorization") is None


def test_values_are_decoded_as_latin_1() -> None:
    assert header(SCOPE, b"x-note") == "café"
