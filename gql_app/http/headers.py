"""A request header read straight from the ASGI scope.

Starlette's `Headers` builds an object per request and, for a header the request lacks,
raises and catches a `KeyError` inside `Mapping.get`: on the fast path, three such lookups
per request cost more than the scan they do. ASGI servers give header names in lowercase.
"""

from __future__ import annotations

from starlette.types import Scope


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header `name` (lowercase), decoded as latin-1; None without one."""
    for key, value in scope["headers"]:
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None
