"""Statements per request depend on the depth of the query, never on the rows (contract 4)."""

import httpx
import pytest
from sqlalchemy import event

from gql_app.core.config import load_settings
from gql_app.core.resources import resources_of
from gql_app.db import RequestSession
from gql_app.domain.seed import seed
from tests.support.app import StatementLog, graphql_data, running_app

BENCHMARK = """
query Benchmark {
  users(first: 50) {
    edges { node { username posts(first: 10) {
      edges { node { title comments(first: 5) {
        edges { node { body author { username } } }
      } } }
    } } }
  }
}
"""


async def _statements(client: httpx.AsyncClient, sql_log: StatementLog, query: str) -> list[str]:
    sql_log.clear()
    await graphql_data(client, query)
    return sql_log.queries()


async def test_benchmark_operation_costs_the_same_few_statements_for_5_or_200_users(
    client: httpx.AsyncClient, db: RequestSession, sql_log: StatementLog
) -> None:
    counts = []
    for users in (5, 200):
        async with db.transaction(write=True) as session:
            await seed(session, users=users, posts_per_user=12, comments_per_post=6, reset=True)
        statements = await _statements(client, sql_log, BENCHMARK)
        counts.append(len(statements))
    # the users page, the posts of all those users, their comments, the comments' authors
    assert counts == [4, 4], statements


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_benchmark_operation_reads_the_same_few_statements_straight_on_the_driver(
    client: httpx.AsyncClient, db: RequestSession, driver_sql_log: StatementLog
) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=60, posts_per_user=12, comments_per_post=6)
    # The first use of a connection adds asyncpg's introspection of the id array type.
    await graphql_data(client, BENCHMARK)
    statements = await _statements(client, driver_sql_log, BENCHMARK)
    assert len(statements) == 4, statements
    assert all(statement.startswith("SELECT") for statement in statements), statements


async def test_benchmark_operation_returns_every_nested_page(
    client: httpx.AsyncClient, db: RequestSession
) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=60, posts_per_user=12, comments_per_post=6)
    users = (await graphql_data(client, BENCHMARK))["users"]["edges"]
    posts = [post["node"] for user in users for post in user["node"]["posts"]["edges"]]
    comments = [comment["node"] for post in posts for comment in post["comments"]["edges"]]
    assert (len(users), len(posts), len(comments)) == (50, 50 * 10, 50 * 10 * 5)
    assert all(comment["author"]["username"].startswith("user") for comment in comments)


async def test_counts_and_total_counts_add_one_statement_per_level(
    client: httpx.AsyncClient, db: RequestSession, sql_log: StatementLog
) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=30, posts_per_user=3, comments_per_post=2)
    query = """{ users(first: 30) { totalCount edges { node { postCount
        posts(first: 2) { totalCount edges { node { commentCount
          comments(first: 1) { totalCount edges { node { post { title } } } } } } } } } } }"""
    statements = await _statements(client, sql_log, query)
    # pages: users, posts, comments; counts: users, posts per user, comments per post;
    # the posts of the comments (one batch)
    assert len(statements) == 7, statements


async def test_in_lists_bind_at_most_loader_batch_size_ids(
    database_url: str, db: RequestSession
) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=5, posts_per_user=2, comments_per_post=1)
    settings = load_settings(database_url=database_url, loader_batch_size=2)
    query = "{ users { edges { node { username postCount } } } }"
    async with running_app(settings) as (app, client):
        log = StatementLog()
        engine = resources_of(app).engine.sync_engine
        event.listen(engine, "before_cursor_execute", lambda *a: log.statements.append(str(a[2])))
        data = await graphql_data(client, query)
    counts = [edge["node"]["postCount"] for edge in data["users"]["edges"]]
    assert counts == [2] * 5
    # the users page, then the post counts of 5 users in batches of 2, 2 and 1
    assert len(log.queries()) == 4


MIXED_LOOKUPS = """
query {
  a: node(id: "VXNlcjox") { ... on User { username } ... on Post { body } }
  b: user(id: "VXNlcjoy") { username }
}"""


async def test_lookups_of_one_type_selecting_fields_of_others_share_one_statement(
    client: httpx.AsyncClient, db: RequestSession, sql_log: StatementLog
) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=2, posts_per_user=1, comments_per_post=0, reset=True)
    statements = await _statements(client, sql_log, MIXED_LOOKUPS)
    assert len(statements) == 1, statements
