"""Typed SQLAlchemy 2.0 models; the database schema itself comes from the Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SQLColumnExpression,
    String,
    Text,
    func,
)
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

USERNAME_MIN, USERNAME_MAX = 3, 50
EMAIL_MAX = 120
TITLE_MAX = 200
PERSISTED_ID_MAX = 200

# BIGINT ids on PostgreSQL; SQLite only auto-increments a column declared INTEGER.
Id = BigInteger().with_variant(Integer(), "sqlite")


def login_name(value: SQLColumnExpression[str]) -> ColumnElement[str]:
    """The form in which usernames and emails are compared: lower-cased BY THE DATABASE.

    Lookups, unique indexes and the login throttle all use this one expression, so what a
    login matches and what it is counted under never differ (Python's lowercasing does not
    agree with PostgreSQL's, e.g. on 'İ').
    """
    return func.lower(value)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both dialects (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        result: datetime = value
        return result.replace(tzinfo=UTC) if result.tzinfo is None else result.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _created_at() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, server_default=func.now())


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("length(username) BETWEEN 3 AND 50", name="username_length"),
        CheckConstraint("length(email) <= 120", name="email_length"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now()
    )


# Usernames and emails are unique whatever their case, enforced by the database (DESIGN.md
# contract 5); usernames keep the case they were written in.
Index("uq_users_username_lower", login_name(User.username), unique=True)
Index("uq_users_email_lower", login_name(User.email), unique=True)


def trigram_index(name: str, column: InstrumentedAttribute[str]) -> Index:
    """A GIN trigram index on `lower(column)`, serving `lower(column) LIKE lower(:p)` (the
    contains filters of gql_app/queries/pages.py) on PostgreSQL (migration 0005; none on SQLite)."""
    lowered = func.lower(column).label(name)
    return Index(
        name,
        lowered,
        postgresql_using="gin",
        postgresql_ops={lowered.name: "gin_trgm_ops"},
    )


trigram_index("ix_users_username_lower_trgm", User.username)


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_created_at_id", "created_at", "id"),
        Index("ix_posts_author_id_created_at_id", "author_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now()
    )


trigram_index("ix_posts_title_lower_trgm", Post.title)
trigram_index("ix_posts_body_lower_trgm", Post.body)


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_post_id_created_at_id", "post_id", "created_at", "id"),
        Index("ix_comments_author_id_created_at_id", "author_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()


class AuthToken(Base):
    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginFailure(Base):
    """A throttle counter: the failed password checks of one key in its current window.

    The window starts at the key's first failure and lasts LOGIN_FAILURE_WINDOW_SECONDS.
    `throttle_key` is a hash, never the identifier typed (people type passwords there too).
    """

    __tablename__ = "login_failures"

    throttle_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class PersistedDocument(Base):
    """A trusted document (`gql-app persist`): an operation a client build names by its id.

    `id` is the id the client's manifest gives it (a SHA-256 for Apollo's and GraphQL Code
    Generator's, Relay's own hash for Relay's); `sha256` is the hex SHA-256 of `document`, so
    an APQ hash or a `documentId` of `sha256:<hex>` finds it too.
    """

    __tablename__ = "persisted_documents"

    id: Mapped[str] = mapped_column(String(PERSISTED_ID_MAX), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    document: Mapped[str] = mapped_column(Text)
    operation_name: Mapped[str | None] = mapped_column(String(PERSISTED_ID_MAX))
    created_at: Mapped[datetime] = _created_at()
