"""Pages of related rows read the optional columns they are asked for, and only those."""

from gql_app import queries
from gql_app.core.paging import Page
from gql_app.db import RequestSession
from gql_app.domain.seed import seed

BODY, UPDATED_AT = 3, 5  # positions in a `queries.POST_ROW` row


async def _pages(
    db: RequestSession, ids: list[int], columns: frozenset[str] | None
) -> dict[int, list[tuple[object, ...]]]:
    async def read(reads: queries.Reader) -> dict[int, list[tuple[object, ...]]]:
        pages = await queries.related_pages(reads, queries.USER_POSTS, ids, Page(limit=5), columns)
        return {pk: [tuple(row) for row in rows] for pk, rows in pages.items()}

    return await db.read(read)


async def test_related_rows_hold_null_in_the_optional_columns_not_asked_for(
    db: RequestSession,
) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=2, posts_per_user=2, comments_per_post=0)
    ids = [1, 2]
    every = await _pages(db, ids, None)
    bodies = await _pages(db, ids, frozenset(("body",)))
    neither = await _pages(db, ids, frozenset())
    assert sum(len(rows) for rows in every.values()) == 4
    for pk in ids:
        for full, with_body, lean in zip(every[pk], bodies[pk], neither[pk], strict=True):
            assert lean == (*full[:BODY], None, full[BODY + 1], None)
            assert with_body == (*full[:UPDATED_AT], None)
            assert full[BODY] is not None
            assert full[UPDATED_AT] is not None


EMAIL = 2  # position in a `queries.USER_ROW` row


async def test_rows_looked_up_by_id_hold_null_in_the_optional_columns_not_asked_for(
    db: RequestSession,
) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=2, posts_per_user=1, comments_per_post=0)
    every = await db.read(lambda reads: queries.users_by_ids(reads, [1, 2]))
    lean = await db.read(lambda reads: queries.users_by_ids(reads, [1, 2], frozenset()))
    assert sorted(lean) == sorted(every) == [1, 2]
    for pk, row in every.items():
        assert row[EMAIL] is not None
        assert tuple(lean[pk]) == (*row[:EMAIL], None, *row[EMAIL + 1 :])


async def test_a_root_page_holds_null_in_the_optional_columns_not_asked_for(
    db: RequestSession,
) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=2, posts_per_user=2, comments_per_post=0)
    first = Page(limit=3)
    every = await db.read(lambda reads: queries.page_of(reads, queries.POSTS_NEWEST, first))
    bodies = frozenset(("body",))
    with_body = await db.read(
        lambda reads: queries.page_of(reads, queries.POSTS_NEWEST, first, bodies)
    )
    assert len(every) == 4  # one more than the page, as `page_of` reads
    for full, lean in zip(every, with_body, strict=True):
        assert full[UPDATED_AT] is not None
        assert tuple(lean) == (*full[:UPDATED_AT], None)
