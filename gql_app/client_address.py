"""The address of the client a request comes from, as the login throttle counts it.

The peer of the connection, unless the peer is one of `TRUSTED_PROXIES`: then the right-most
hop of `X-Forwarded-For` that is not a trusted proxy (hops to its left were written by the
client and prove nothing).
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address

from starlette.types import Scope

from gql_app.asgi_headers import header

Networks = tuple[IPv4Network | IPv6Network, ...]


def _trusted(hop: str, proxies: Networks) -> bool:
    try:
        address = ip_address(hop)
    except ValueError:
        return False
    return any(address in network for network in proxies)


def client_address(scope: Scope, proxies: Networks) -> str:
    """The client's address ('' when the server does not know its peer)."""
    client = scope.get("client")
    address: str = client[0] if client else ""
    if not proxies or not _trusted(address, proxies):
        return address
    forwarded = header(scope, b"x-forwarded-for")
    hops = [hop.strip() for hop in forwarded.split(",")] if forwarded else []
    while hops and _trusted(address, proxies):
        address = hops.pop()
    return address
