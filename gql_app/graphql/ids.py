"""Relay global ids: the urlsafe base64 of `TypeName:pk`, opaque to clients.

Only the form `encode_global_id` produces decodes: base64 decoders accept many spellings of
one value (no padding, `+` and `/`, bytes they skip, other trailing bits), and so would a
number with a leading zero; an id must name its row in one spelling only, or caches, logs
and limits keyed by ids would tell apart what is one row.
"""

from __future__ import annotations

import base64
import binascii

from gql_app.core.errors import BadUserInput

MAX_ID_LENGTH = 256
MAX_PK = 2**63 - 1


# What `base64.urlsafe_b64encode` does, in one call rather than three: an id is encoded for
# every object of a response (bench/RESULTS.md, "Per-request overhead (issue 13, round 2)").
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def encode_global_id(type_name: str, pk: int) -> str:
    raw = f"{type_name}:{pk}".encode()
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).decode()


def decode_global_id(global_id: str) -> tuple[str, int]:
    """The type name and primary key in `global_id`; `BadUserInput` when it is malformed."""
    try:
        if len(global_id) > MAX_ID_LENGTH:
            raise ValueError("too long")
        decoded = base64.urlsafe_b64decode(global_id.encode("ascii")).decode()
        type_name, _, pk = decoded.partition(":")
        if not (type_name.isalpha() and type_name.isascii() and pk.isdigit() and pk.isascii()):
            raise ValueError("not TypeName:pk")
        number = int(pk)
        if not 0 < number <= MAX_PK:
            raise ValueError("pk out of range")
        if encode_global_id(type_name, number) != global_id:
            raise ValueError("not the canonical encoding")
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise BadUserInput(f"invalid id {global_id[:40]!r}: use an id the API returned") from exc
    return type_name, number


def decode_id_of(global_id: str, type_name: str) -> int:
    """The primary key of a `type_name` id; `BadUserInput` for an id of another type."""
    found, pk = decode_global_id(global_id)
    if found != type_name:
        raise BadUserInput(f"invalid id {global_id[:40]!r}: not the id of a {type_name}")
    return pk
