"""Least privilege: docs/roles.sql's owner migrates, its application role serves the API and
can change rows only, never the schema. On a throwaway cluster of its own (roles are global)."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from gql_app import queries
from gql_app.core.config import Settings, load_settings
from gql_app.db import create_engine, migrate
from gql_app.db.models import utcnow
from gql_app.domain.security import new_token
from tests.support.app import bearer_headers, graphql_data, running_app
from tests.support.postgres import PostgresCluster, run_async_blocking
from tests.support.sessions import request_session

ROLES_SQL = Path(__file__).resolve().parents[2] / "docs" / "roles.sql"


@pytest.fixture(scope="module")
def roles_cluster(postgres_bindir: Path) -> Iterator[PostgresCluster]:
    """A server on which docs/roles.sql ran, as the README tells an administrator to run it."""
    cluster = PostgresCluster(postgres_bindir)
    try:
        cluster.init()
        cluster.start()
        psql = [str(postgres_bindir / "psql"), "-h", "127.0.0.1", "-p", str(cluster.port)]
        subprocess.run(
            [*psql, "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-f", str(ROLES_SQL)],
            check=True,
            capture_output=True,
        )
        yield cluster
    finally:
        cluster.remove()


def _url(cluster: PostgresCluster, role: str) -> str:
    return f"postgresql://{role}@127.0.0.1:{cluster.port}/gql_app"


@pytest.fixture(scope="module")
def least_privilege(roles_cluster: PostgresCluster) -> Settings:
    """The app on the application role, migrated with the owner's URL."""
    settings = load_settings(
        database_url=_url(roles_cluster, "gql_app"),
        migration_database_url=_url(roles_cluster, "gql_owner"),
    )
    run_async_blocking(migrate.upgrade(settings))
    return settings


@pytest.fixture
async def app_role(roles_cluster: PostgresCluster) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(_url(roles_cluster, "gql_app"))
    try:
        yield connection
    finally:
        await connection.close()


async def _user_with_token(settings: Settings, username: str) -> dict[str, str]:
    """A user and a bearer token, written through the application role."""
    engine = create_engine(settings)
    session = request_session(engine)
    token, token_hash = new_token()
    try:
        async with session.transaction(write=True) as db:
            user = await queries.create_user(
                db, username=username, email=f"{username}@example.com", password_hash="-"
            )
            await queries.create_token(
                db, user_id=user.id, token_hash=token_hash, expires_at=utcnow() + timedelta(days=1)
            )
    finally:
        await session.close()
        await engine.dispose()
    return bearer_headers(token)


async def _create_post(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    data = await graphql_data(
        client,
        'mutation { createPost(input: {title: "Roles", body: "Rows only"}) {'
        " ... on CreatePostSuccess { post { id } } } }",
        headers=headers,
    )
    post_id: str = data["createPost"]["post"]["id"]
    return post_id


async def test_the_application_role_is_ready_once_the_owner_migrated(
    least_privilege: Settings,
) -> None:
    async with running_app(least_privilege) as (_, client):
        response = await client.get("/readyz")
    assert response.status_code == 200, response.text


async def test_the_application_role_serves_reads_and_writes(least_privilege: Settings) -> None:
    headers = await _user_with_token(least_privilege, "rowsonly")
    async with running_app(least_privilege) as (_, client):
        post_id = await _create_post(client, headers)
        await graphql_data(
            client,
            'mutation($post: ID!) { addComment(input: {postId: $post, body: "Fine"}) {'
            " ... on AddCommentSuccess { comment { id } } } }",
            {"post": post_id},
            headers=headers,
        )
        data = await graphql_data(
            client,
            "query($post: ID!) { post(id: $post) { title author { username }"
            " comments { edges { node { body } } } } }",
            {"post": post_id},
        )
        deleted = await graphql_data(
            client,
            "mutation($post: ID!) { deletePost(input: {id: $post}) {"
            " ... on DeletePostSuccess { deletedPostId } } }",
            {"post": post_id},
            headers=headers,
        )
    assert data["post"] == {
        "title": "Roles",
        "author": {"username": "rowsonly"},
        "comments": {"edges": [{"node": {"body": "Fine"}}]},
    }
    assert deleted["deletePost"] == {"deletedPostId": post_id}


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE users",
        "ALTER TABLE users ADD COLUMN x int",
        "CREATE TABLE intruder (id int)",
        "TRUNCATE users CASCADE",
    ],
    ids=["drop", "alter", "create", "truncate"],
)
async def test_the_application_role_cannot_change_the_schema_or_empty_a_table(
    least_privilege: Settings, app_role: asyncpg.Connection, statement: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_role.execute(statement)


async def test_the_owner_owns_every_table_the_migrations_made(
    least_privilege: Settings, app_role: asyncpg.Connection
) -> None:
    owners = await app_role.fetch(
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
    )
    assert [row["tableowner"] for row in owners] == ["gql_owner"]
