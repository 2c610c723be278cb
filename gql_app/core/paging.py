"""The neutral paging types the queries, loaders and GraphQL types share: `Page` and `Slice`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

DEFAULT_PAGE_SIZE = 20

Key = tuple[Any, ...]
RowT = TypeVar("RowT")


class Page(NamedTuple):
    """Which rows a connection asks for, in the ordering's terms.

    The rows are those after `after` and before `before` (sort keys, exclusive); `limit` of
    them from the start, or from the end when `backward` (`last`). Hashable: DataLoaders
    key nested connections by `(parent id, page)`, hashed several times per parent (a
    named tuple hashes in C, a dataclass in Python).
    """

    limit: int
    after: Key | None = None
    before: Key | None = None
    backward: bool = False


@dataclass(frozen=True, slots=True)
class Slice(Generic[RowT]):
    """The rows of one page, in the ordering's order, and whether more lie on either side."""

    rows: Sequence[RowT]
    has_previous: bool
    has_next: bool


def slice_rows(rows: Sequence[RowT], page: Page) -> Slice[RowT]:
    """Trim what a query fetched for `page` (up to `limit + 1` rows, reversed when backward).

    The extra row tells whether another page follows in the direction of travel. In the
    other direction, a page that starts from a cursor reports more rows without a query:
    Relay allows it, and the cursor came from a row there.
    """
    has_more = len(rows) > page.limit
    kept = list(rows[: page.limit])
    if page.backward:
        kept.reverse()
        return Slice(kept, has_previous=has_more, has_next=page.before is not None)
    return Slice(kept, has_previous=page.after is not None, has_next=has_more)
