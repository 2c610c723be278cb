"""The user queries and the integrity the database enforces (DESIGN.md contract 5)."""

from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gql_app import queries
from gql_app.db import RequestSession
from gql_app.db.models import AuthToken, Comment, Post, User, utcnow


async def _user(
    db: RequestSession, username: str = "alice", email: str = "alice@example.com"
) -> int:
    async with db.transaction(write=True) as session:
        user = await queries.create_user(
            session, username=username, email=email, password_hash="hash"
        )
        return user.id


async def test_created_user_is_found_by_id_username_and_email(db: RequestSession) -> None:
    user_id = await _user(db)
    async with db.transaction() as session:
        by_id = await queries.user_by_id(session, user_id)
        by_name = await queries.user_by_username(session, "alice")
        by_email = await queries.user_by_email(session, "alice@example.com")
    assert by_id is not None
    assert by_name is not None
    assert by_email is not None
    assert by_id.id == by_name.id == by_email.id == user_id
    assert by_id.created_at.tzinfo is not None


async def test_email_lookup_ignores_case(db: RequestSession) -> None:
    user_id = await _user(db, email="Alice@Example.COM")
    async with db.transaction() as session:
        found = await queries.user_by_email(session, "alice@example.com")
    assert found is not None
    assert found.id == user_id
    assert found.email == "Alice@Example.COM"


async def test_missing_users_are_none(db: RequestSession) -> None:
    async with db.transaction() as session:
        assert await queries.user_by_id(session, 12345) is None
        assert await queries.user_by_username(session, "nobody") is None
        assert await queries.user_by_email(session, "nobody@example.com") is None


async def test_username_lookup_is_exact_not_a_pattern(db: RequestSession) -> None:
    await _user(db, username="a_c")
    async with db.transaction() as session:
        assert await queries.user_by_username(session, "abc") is None
        assert await queries.user_by_username(session, "' OR 1=1 --") is None


async def test_duplicate_username_raises_username_taken(db: RequestSession) -> None:
    await _user(db)
    with pytest.raises(queries.UsernameTakenError):
        await _user(db, email="other@example.com")


async def test_duplicate_email_differing_in_case_raises_email_taken(db: RequestSession) -> None:
    await _user(db)
    with pytest.raises(queries.EmailTakenError):
        await _user(db, username="alice2", email="ALICE@example.com")


async def test_a_taken_username_leaves_the_transaction_usable(db: RequestSession) -> None:
    async with db.transaction(write=True) as session:
        await queries.create_user(session, username="bob", email="b@x.io", password_hash="h")
        with pytest.raises(queries.UsernameTakenError):
            await queries.create_user(session, username="bob", email="c@x.io", password_hash="h")
        await queries.create_user(session, username="carol", email="c@x.io", password_hash="h")
    async with db.transaction() as session:
        assert await queries.count_users(session) == 2


async def test_a_too_short_username_is_refused_by_the_database(db: RequestSession) -> None:
    with pytest.raises(IntegrityError):
        await _user(db, username="ab")


async def test_deleting_a_user_deletes_their_posts_comments_and_tokens(
    db: RequestSession,
) -> None:
    alice, bob = await _user(db), await _user(db, "bob", "bob@example.com")
    async with db.transaction(write=True) as session:
        post = Post(author_id=alice, title="t", body="b")
        session.add(post)
        await session.flush()
        session.add_all(
            [
                Comment(post_id=post.id, author_id=bob, body="on alice's post"),
                AuthToken(user_id=alice, token_hash="x" * 64, expires_at=utcnow() + timedelta(1)),
            ]
        )
    async with db.transaction(write=True) as session:
        await session.delete(await session.get(User, alice))
    async with db.transaction() as session:
        counts = [
            (await session.execute(select(func.count()).select_from(model))).scalar_one()
            for model in (User, Post, Comment, AuthToken)
        ]
    assert counts == [1, 0, 0, 0]


async def test_a_post_needs_an_existing_author(db: RequestSession) -> None:
    with pytest.raises(IntegrityError):
        async with db.transaction(write=True) as session:
            session.add(Post(author_id=999, title="t", body="b"))


async def _comment(db: RequestSession, *, post_id: int, author_id: int) -> None:
    async with db.transaction(write=True) as session:
        await queries.insert_comment(
            session, post_id=post_id, author_id=author_id, body="b", now=utcnow()
        )


async def _post(db: RequestSession, author_id: int) -> int:
    async with db.transaction(write=True) as session:
        row = await queries.insert_post(
            session, author_id=author_id, title="t", body="b", now=utcnow()
        )
    post_id: int = row[0]
    return post_id


async def test_a_comment_on_a_missing_post_raises_post_missing(db: RequestSession) -> None:
    author_id = await _user(db)
    with pytest.raises(queries.PostMissingError):
        await _comment(db, post_id=999, author_id=author_id)


async def test_a_comment_by_a_missing_author_raises_author_missing(db: RequestSession) -> None:
    post_id = await _post(db, await _user(db))
    with pytest.raises(queries.AuthorMissingError):
        await _comment(db, post_id=post_id, author_id=999)


async def test_a_comment_is_inserted_without_a_savepoint(
    db: RequestSession, engine: AsyncEngine
) -> None:
    author_id = await _user(db)
    post_id = await _post(db, author_id)
    statements: list[str] = []
    event.listen(
        engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2])
    )
    await _comment(db, post_id=post_id, author_id=author_id)
    assert [s.split()[0] for s in statements if not s.startswith("BEGIN")] == ["INSERT"]
