"""Client manifests of trusted documents, in the three formats `gql-app persist` reads."""

from __future__ import annotations

import hashlib
from typing import Any

ME = "query Me { me { username } }"
POSTS = "query Posts { posts(first: 2) { edges { node { title } } } }"
INVALID = "query Broken { me { noSuchField } }"


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def apollo_manifest(*documents: str) -> dict[str, Any]:
    """Apollo's persisted-query manifest of `documents` (ids are their SHA-256)."""
    return {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": sha256(body), "name": body.split()[1], "type": "query", "body": body}
            for body in documents
        ],
    }


def relay_manifest(*documents: str) -> dict[str, str]:
    """Relay's persisted_queries.json: ids of Relay's own (an MD5 of the text)."""
    return {
        hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(): body for body in documents
    }


def codegen_manifest(*documents: str) -> dict[str, str]:
    """GraphQL Code Generator's persisted documents: ids are the SHA-256."""
    return {sha256(body): body for body in documents}
