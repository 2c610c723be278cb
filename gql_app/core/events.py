"""Events: what a committed write tells subscribers (DESIGN.md contract 12).

An event names rows by id and never carries their data: a NOTIFY payload is capped at
8,000 bytes, and by the time a subscriber reads it the row may have changed again. Every
process encodes and decodes events here, so a payload another version of the service
cannot read is dropped, not guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

# The one channel every worker LISTENs on (a PostgreSQL identifier).
CHANNEL: Final = "gql_app_events"


# What joins a payload's fields: the kind, then the post's, the row's and the author's ids.
# PostgreSQL joins them alike when a write notifies in its own statement
# (gql_app/queries/events.py, `notifying`).
SEPARATOR: Final = ":"


class EventKind(StrEnum):
    COMMENT_ADDED = "comment_added"
    POST_ADDED = "post_added"
    POST_UPDATED = "post_updated"
    POST_DELETED = "post_deleted"


@dataclass(frozen=True, slots=True)
class Event:
    """`row_id` is the comment's (comment_added) or the post's; `post_id` the post's;
    `author_id` the author's of the row."""

    kind: EventKind
    post_id: int
    row_id: int
    author_id: int

    def payload(self) -> str:
        return SEPARATOR.join((self.kind, str(self.post_id), str(self.row_id), str(self.author_id)))


def parse_event(payload: str) -> Event | None:
    """The event of `payload`, or None if it is not one this version writes."""
    kind, *ids = payload.split(SEPARATOR)
    if kind not in EventKind.__members__.values() or len(ids) != 3:
        return None
    try:
        post_id, row_id, author_id = (int(part) for part in ids)
    except ValueError:
        return None
    return Event(EventKind(kind), post_id, row_id, author_id)
