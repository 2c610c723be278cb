"""The client address the login throttle counts: the peer, or X-Forwarded-For behind
trusted proxies only."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Any

from gql_app.client_address import client_address
from gql_app.config import load_settings

PROXIES = (ip_network("10.0.0.0/8"),)


def _scope(peer: str, forwarded: str | None = None) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return {"client": (peer, 4321), "headers": headers}


def test_the_peer_is_the_client_without_trusted_proxies() -> None:
    assert client_address(_scope("203.0.113.5", "198.51.100.1"), ()) == "203.0.113.5"


def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    assert client_address(_scope("203.0.113.5", "198.51.100.1"), PROXIES) == "203.0.113.5"


def test_the_right_most_untrusted_hop_is_the_client_behind_trusted_proxies() -> None:
    scope = _scope("10.0.0.1", "1.1.1.1, 198.51.100.7, 10.0.0.2")
    assert client_address(scope, PROXIES) == "198.51.100.7"


def test_a_trusted_peer_without_forwarded_for_is_the_client() -> None:
    assert client_address(_scope("10.0.0.1"), PROXIES) == "10.0.0.1"


def test_trusted_proxies_are_read_as_comma_separated_addresses_and_networks() -> None:
    settings = load_settings(trusted_proxies="10.0.0.0/8, ::1")
    assert settings.trusted_proxies == (ip_network("10.0.0.0/8"), ip_network("::1"))
