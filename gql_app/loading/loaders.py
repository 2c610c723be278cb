"""Per-request DataLoaders: every lookup a request makes, batched (DESIGN.md contract 4).

Each batch runs as its own read unit of work on the request's session (`RequestSession.read`,
contracts 1 and 2): the session's lock serializes the batches, each returns its connection
before the next starts. `max_batch_size`
bounds every `IN` list: a batch larger than `LOADER_BATCH_SIZE` ids runs as several.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, Generic, TypeVar

from gql_app import queries
from gql_app.core.paging import Page
from gql_app.db import Reads, RequestSession
from gql_app.loading.dataloader import DataLoader
from gql_app.queries import Record

RelatedKey = tuple[int, Page]
# A relation and the optional columns its rows hold (None: all; `queries.related_pages`).
# Each has its own loader, so a row never reaches a field whose column it lacks.
ProjectedRelation = tuple[queries.Relation, queries.Columns]

ByIds = Callable[[queries.Reader, Sequence[int], queries.Columns], Awaitable[dict[int, Record]]]
KeyT = TypeVar("KeyT")
LoaderT = TypeVar("LoaderT")


# The optional columns of each table's rows: found once, not per request.
_USER_OPTIONAL = queries.optional_of(queries.USER_ROW)
_POST_OPTIONAL = queries.optional_of(queries.POST_ROW)
_COMMENT_OPTIONAL = queries.optional_of(queries.COMMENT_ROW)


class _made_once(Generic[LoaderT]):
    """`functools.cached_property` without its lock (Python 3.11 takes one per first get)."""

    def __init__(self, make: Callable[[Any], LoaderT]) -> None:
        self.make = make
        self.name = make.__name__

    def __get__(self, loaders: Any, owner: type | None = None) -> LoaderT:
        made: LoaderT = self.make(loaders)
        loaders.__dict__[self.name] = made  # found first from now on: a non-data descriptor
        return made


class _EachKey(dict[KeyT, LoaderT]):
    """A loader for each key (a relation, a set of optional columns), made when first used."""

    def __init__(self, make: Callable[[KeyT], LoaderT]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, key: KeyT) -> LoaderT:
        loader = self[key] = self.make(key)
        return loader


class Projections(_EachKey[queries.Columns, DataLoader[int, Record | None]]):
    """A lookup's loader for each set of optional columns, of those its table has: a lookup
    asked for columns of other tables too (`node` selects fields of several types) shares
    the loader of the columns it reads."""

    def __init__(
        self,
        make: Callable[[queries.Columns], DataLoader[int, Record | None]],
        table: frozenset[str],
    ) -> None:
        super().__init__(make)
        self.table = table
        self._whole: dict[int, Record] = {}

    def __getitem__(self, columns: queries.Columns) -> DataLoader[int, Record | None]:
        return super().__getitem__(None if columns is None else columns & self.table)

    def __missing__(self, key: queries.Columns) -> DataLoader[int, Record | None]:
        loader = super().__missing__(key)
        for pk, record in self._whole.items():
            loader.prime(pk, record)
        return loader

    def prime_whole(self, pk: int, record: Record) -> None:
        """Remember a row read with every column: it serves every projection's loader, those
        made from now on too."""
        self._whole[pk] = record
        for loader in self.values():
            loader.prime(pk, record)


class Loaders:
    """The DataLoaders of one request (or one mutation: writes start a fresh set).

    Each is made on first use: most requests use one or two of them. `users`, `posts` and
    `comments` look rows up by id, a loader for each set of optional columns read
    (`queries.Columns`): its cache holds only rows that have those columns. `pages` and
    `counts` serve each relation of `queries.RELATIONS`: one page of related rows per
    `(parent id, page)` (`pages` per relation and the optional columns read), and how many
    related rows a parent has.
    """

    def __init__(
        self, db: RequestSession, batch_size: int, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        # What makes the loaders, apart: a relation's map holds its maker, and a maker that
        # held these Loaders would make a reference cycle, which only the cyclic garbage
        # collector frees (with every row the loaders read).
        self._make = _Makers(db, batch_size, loop)

    @_made_once
    def users(self) -> Projections:
        make = partial(self._make.by_id, queries.users_by_ids)
        return Projections(make, _USER_OPTIONAL)

    @_made_once
    def posts(self) -> Projections:
        make = partial(self._make.by_id, queries.posts_by_ids)
        return Projections(make, _POST_OPTIONAL)

    @_made_once
    def comments(self) -> Projections:
        make = partial(self._make.by_id, queries.comments_by_ids)
        return Projections(make, _COMMENT_OPTIONAL)

    @_made_once
    def pages(self) -> Mapping[ProjectedRelation, DataLoader[RelatedKey, list[Record]]]:
        return _EachKey(self._make.pages)

    @_made_once
    def counts(self) -> Mapping[queries.Relation, DataLoader[int, int]]:
        return _EachKey(self._make.counts)


class _Makers:
    """Makes the DataLoaders of one request: each batch one read unit of `db`."""

    def __init__(
        self, db: RequestSession, batch_size: int, loop: asyncio.AbstractEventLoop | None
    ) -> None:
        self.db = db
        self.batch_size = batch_size
        self.loop = loop  # None: the running loop, when a loader first needs it

    def by_id(self, query: ByIds, columns: queries.Columns) -> DataLoader[int, Record | None]:
        db = self.db

        async def load(ids: list[int]) -> list[Record | None]:
            rows = await db.read(lambda connection: query(connection, ids, columns))
            return [rows.get(pk) for pk in ids]

        return DataLoader(load, max_batch_size=self.batch_size, loop=self.loop)

    def pages(self, projected: ProjectedRelation) -> DataLoader[RelatedKey, list[Record]]:
        db = self.db
        relation, columns = projected

        async def load(keys: list[RelatedKey]) -> list[list[Record]]:
            # Parents asking for the same page share a statement; usually all of them do.
            parents_by_page: dict[Page, list[int]] = defaultdict(list)
            for parent_id, page in keys:
                parents_by_page[page].append(parent_id)

            async def read(connection: Reads) -> dict[RelatedKey, list[Record]]:
                found: dict[RelatedKey, list[Record]] = {}
                for page, parent_ids in parents_by_page.items():
                    pages = await queries.related_pages(
                        connection, relation, parent_ids, page, columns
                    )
                    found |= {(parent_id, page): rows for parent_id, rows in pages.items()}
                return found

            found = await db.read(read)
            return [found[key] for key in keys]

        return DataLoader(load, max_batch_size=self.batch_size, loop=self.loop)

    def counts(self, relation: queries.Relation) -> DataLoader[int, int]:
        db = self.db

        async def load(parent_ids: list[int]) -> list[int]:
            counts = await db.read(
                lambda connection: queries.related_counts(connection, relation, parent_ids)
            )
            return [counts.get(parent_id, 0) for parent_id in parent_ids]

        return DataLoader(load, max_batch_size=self.batch_size, loop=self.loop)
