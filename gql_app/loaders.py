"""Per-request DataLoaders: every lookup a request makes, batched (DESIGN.md contract 4).

Each batch runs as its own read unit of work on the request's session (`RequestSession.read`,
contracts 1 and 2): the session's lock serializes the batches, each returns its connection
before the next starts. `max_batch_size`
bounds every `IN` list: a batch larger than `LOADER_BATCH_SIZE` ids runs as several.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from gql_app import queries
from gql_app.dataloader import DataLoader
from gql_app.db import Reads, RequestSession
from gql_app.graphql.pagination import Page
from gql_app.queries import Record

RelatedKey = tuple[int, Page]


@dataclass(frozen=True, slots=True)
class Loaders:
    """The DataLoaders of one request (or one mutation: writes start a fresh set).

    `pages` and `counts` serve each relation of `queries.RELATIONS`: one page of related
    rows per `(parent id, page)`, and how many related rows a parent has.
    """

    user: DataLoader[int, Record | None]
    post: DataLoader[int, Record | None]
    comment: DataLoader[int, Record | None]
    pages: Mapping[queries.Relation, DataLoader[RelatedKey, list[Record]]]
    counts: Mapping[queries.Relation, DataLoader[int, int]]


ByIds = Callable[[queries.Reader, Sequence[int]], Awaitable[dict[int, Record]]]


def create_loaders(db: RequestSession, batch_size: int) -> Loaders:
    def by_id(query: ByIds) -> DataLoader[int, Record | None]:
        async def load(ids: list[int]) -> list[Record | None]:
            rows = await db.read(lambda connection: query(connection, ids))
            return [rows.get(pk) for pk in ids]

        return DataLoader(load, max_batch_size=batch_size)

    def related(relation: queries.Relation) -> DataLoader[RelatedKey, list[Record]]:
        async def load(keys: list[RelatedKey]) -> list[list[Record]]:
            # Parents asking for the same page share a statement; usually all of them do.
            parents_by_page: dict[Page, list[int]] = defaultdict(list)
            for parent_id, page in keys:
                parents_by_page[page].append(parent_id)

            async def read(connection: Reads) -> dict[RelatedKey, list[Record]]:
                found: dict[RelatedKey, list[Record]] = {}
                for page, parent_ids in parents_by_page.items():
                    pages = await queries.related_pages(connection, relation, parent_ids, page)
                    found |= {(parent_id, page): rows for parent_id, rows in pages.items()}
                return found

            found = await db.read(read)
            return [found[key] for key in keys]

        return DataLoader(load, max_batch_size=batch_size)

    def count(relation: queries.Relation) -> DataLoader[int, int]:
        async def load(parent_ids: list[int]) -> list[int]:
            counts = await db.read(
                lambda connection: queries.related_counts(connection, relation, parent_ids)
            )
            return [counts.get(parent_id, 0) for parent_id in parent_ids]

        return DataLoader(load, max_batch_size=batch_size)

    return Loaders(
        user=by_id(queries.users_by_ids),
        post=by_id(queries.posts_by_ids),
        comment=by_id(queries.comments_by_ids),
        pages={relation: related(relation) for relation in queries.RELATIONS},
        counts={relation: count(relation) for relation in queries.RELATIONS},
    )
