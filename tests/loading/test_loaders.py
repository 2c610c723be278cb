"""gql_app.loading.loaders: a request's DataLoaders, each made on first use."""

from sqlalchemy import select

from gql_app import queries
from gql_app.db import RequestSession
from gql_app.db.models import User
from gql_app.domain.seed import seed
from gql_app.loading.loaders import Loaders

EMAIL = 2  # position in a `queries.USER_ROW` row


async def test_no_loader_is_made_before_it_is_used(db: RequestSession) -> None:
    loaders = Loaders(db, batch_size=10)
    assert not any(name in vars(loaders) for name in ("users", "posts", "comments", "pages"))
    assert loaders.users is loaders.users
    assert "users" in vars(loaders)
    assert "posts" not in vars(loaders)


async def test_each_relation_has_one_loader_made_when_first_asked_for(db: RequestSession) -> None:
    pages = Loaders(db, batch_size=10).pages
    assert len(pages) == 0
    assert pages[queries.USER_POSTS, None] is pages[queries.USER_POSTS, None]
    assert pages[queries.POST_COMMENTS, None] is not pages[queries.USER_POSTS, None]
    assert len(pages) == 2


async def test_rows_of_other_columns_come_from_another_loader(db: RequestSession) -> None:
    pages = Loaders(db, batch_size=10).pages
    without_body = pages[queries.USER_POSTS, frozenset()]
    assert pages[queries.USER_POSTS, frozenset(("body",))] is not without_body
    assert pages[queries.USER_POSTS, None] is not without_body


async def test_lookups_of_other_columns_come_from_another_loader(db: RequestSession) -> None:
    users = Loaders(db, batch_size=10).users
    lean = users[frozenset()]
    assert users[frozenset()] is lean
    assert users[frozenset(("email",))] is not lean
    assert users[None] is not lean


async def test_a_lookup_asked_for_columns_its_table_lacks_shares_the_loader_reading_none(
    db: RequestSession,
) -> None:
    users = Loaders(db, batch_size=10).users
    assert users[frozenset(("body", "updated_at"))] is users[frozenset()]
    assert users[frozenset(("body", "email"))] is users[frozenset(("email",))]


async def test_a_lean_lookup_caches_no_row_for_a_full_one(db: RequestSession) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=1, posts_per_user=0, comments_per_post=0, reset=True)
        (pk,) = (await session.scalars(select(User.id))).all()
    users = Loaders(db, batch_size=10).users
    lean = await users[frozenset()].load(pk)
    full = await users[None].load(pk)
    assert lean is not None
    assert full is not None
    assert lean[EMAIL] is None
    assert full[EMAIL] is not None


async def test_lazy_loaders_load_rows_and_counts(db: RequestSession) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=2, posts_per_user=3, comments_per_post=0, reset=True)
        ids = list((await session.scalars(select(User.id).order_by(User.id))).all())
    loaders = Loaders(db, batch_size=10)
    users = await loaders.users[None].load_many([*ids, max(ids) + 1])
    assert [row is not None for row in users] == [True, True, False]
    assert await loaders.counts[queries.USER_POSTS].load_many(ids) == [3, 3]
