"""graphql-transport-ws at /graphql on real `gql-app serve` processes (issue 14), on both
databases: events across processes, completion, per-viewer resolution, limits and close codes."""

from __future__ import annotations

import uuid

import httpx
import pytest
import websockets

from tests.graphql.transport.conftest import ALLOWED_ORIGIN, Live
from tests.support.app import AuthUser
from tests.support.realtime import (
    ADD_COMMENT,
    COMMENT_ADDED,
    DELETE_ACCOUNT,
    DELETE_POST,
    PASSWORD,
    POST_UPDATED,
    UPDATE_POST,
    StalledReader,
    call,
    close_code,
    connected,
    make_member,
    new_post,
    open_socket,
    receive,
    send,
    subscribe,
    until_live,
)

LOGOUT = "mutation { logout { __typename } }"
# A client that stops reading is sent more than the sockets' buffers hold (a few megabytes)
# and SUBSCRIPTION_QUEUE_SIZE events: 60 events, each with all the post's comments so far
# (up to 600 kB), 18 MB in all.
LARGE_COMMENTS = 60
EVERY_COMMENT = (
    "subscription($post: ID!) { commentAdded(postId: $post) "
    "{ body post { comments(first: 100) { edges { node { body } } } } } }"
)


def _large(number: int) -> str:
    return f"{number:04d}".ljust(10_000, "x")


async def member(live: Live) -> AuthUser:
    return await make_member(live.url, f"u{uuid.uuid4().hex[:12]}")


async def test_comments_added_through_the_other_server_arrive_once_in_order(live: Live) -> None:
    author = await member(live)
    post = await new_post(live.writer.base_url, author)
    socket = await connected(live.subscribed.base_url)
    await subscribe(socket, "1", COMMENT_ADDED, post=post)

    async def probe(attempt: int) -> None:
        await call(live.writer.base_url, ADD_COMMENT, author, post=post, body=f"probe {attempt}")

    await until_live(socket, probe)
    for number in range(5):
        await call(live.writer.base_url, ADD_COMMENT, author, post=post, body=f"comment {number}")
    bodies = [(await receive(socket))["payload"]["data"]["commentAdded"]["body"] for _ in range(5)]
    await call(live.writer.base_url, DELETE_POST, author, id=post)
    assert bodies == [f"comment {number}" for number in range(5)]
    assert await receive(socket) == {"id": "1", "type": "complete"}
    await socket.close()


async def test_an_event_is_resolved_with_the_subscribers_own_viewer(live: Live) -> None:
    author, reader = await member(live), await member(live)
    post = await new_post(live.writer.base_url, author)
    own, other = (
        await connected(live.subscribed.base_url, author),
        await connected(live.subscribed.base_url, reader),
    )
    await subscribe(own, "1", COMMENT_ADDED, post=post)
    await subscribe(other, "1", COMMENT_ADDED, post=post)

    async def probe(attempt: int) -> None:
        await call(live.writer.base_url, ADD_COMMENT, author, post=post, body=f"probe {attempt}")

    seen_by_author = await until_live(own, probe)
    seen_by_reader = await receive(other)
    author_view = seen_by_author["payload"]["data"]["commentAdded"]
    assert author_view["author"] == {
        "username": author.username,
        "email": f"{author.username}@example.com",
    }
    assert author_view["post"] == {"title": "Live"}
    assert seen_by_reader["payload"]["data"]["commentAdded"]["author"]["email"] is None
    await own.close()
    await other.close()


async def test_a_subscriber_leaving_its_group_leaves_the_others_subscribed(live: Live) -> None:
    author = await member(live)
    post = await new_post(live.writer.base_url, author)
    leaving, staying = (
        await connected(live.subscribed.base_url),
        await connected(live.subscribed.base_url),
    )
    await subscribe(leaving, "1", COMMENT_ADDED, post=post)
    await subscribe(staying, "1", COMMENT_ADDED, post=post)

    async def probe(attempt: int) -> None:
        await call(live.writer.base_url, ADD_COMMENT, author, post=post, body=f"probe {attempt}")

    await until_live(leaving, probe)
    await receive(staying)
    await leaving.close()
    await call(live.writer.base_url, ADD_COMMENT, author, post=post, body="after")
    message = await receive(staying)
    assert message["payload"]["data"]["commentAdded"]["body"] == "after"
    await staying.close()


async def test_deleting_a_post_completes_its_update_subscription(live: Live) -> None:
    author = await member(live)
    post = await new_post(live.writer.base_url, author)
    socket = await connected(live.subscribed.base_url)
    await subscribe(socket, "u", POST_UPDATED, post=post)

    async def probe(attempt: int) -> None:
        await call(live.writer.base_url, UPDATE_POST, author, id=post, title=f"Title {attempt}")

    update = await until_live(socket, probe)
    await call(live.writer.base_url, DELETE_POST, author, id=post)
    assert update["payload"]["data"]["postUpdated"]["title"].startswith("Title")
    assert await receive(socket) == {"id": "u", "type": "complete"}
    await socket.close()


async def test_post_added_of_an_author_sees_only_that_authors_posts(live: Live) -> None:
    followed, other = await member(live), await member(live)
    socket = await connected(live.subscribed.base_url)
    query = "subscription($author: ID) { postAdded(authorId: $author) { author { username } } }"
    await subscribe(socket, "all", query)
    await subscribe(socket, "one", query, author=followed.id)

    async def probe(attempt: int) -> None:
        await new_post(live.writer.base_url, other)

    first = await until_live(socket, probe)
    await new_post(live.writer.base_url, followed)
    later = [await receive(socket), await receive(socket)]
    authors = {
        (message["id"], message["payload"]["data"]["postAdded"]["author"]["username"])
        for message in later
    }
    assert first["id"] == "all"
    assert authors == {("all", followed.username), ("one", followed.username)}
    await socket.close()


async def test_an_unknown_post_is_an_error_before_any_event(live: Live) -> None:
    socket = await connected(live.subscribed.base_url)
    await subscribe(socket, "1", COMMENT_ADDED, post="UG9zdDo5OTk5OTk5")  # Post:9999999
    message = await receive(socket)
    assert message["type"] in ("next", "error")
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert [error["extensions"]["code"] for error in errors] == ["NOT_FOUND"]
    await socket.close()


async def test_a_malformed_post_id_is_a_bad_user_input_error(live: Live) -> None:
    socket = await connected(live.subscribed.base_url)
    await subscribe(socket, "1", COMMENT_ADDED, post="not an id")
    message = await receive(socket)
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert [error["extensions"]["code"] for error in errors] == ["BAD_USER_INPUT"]
    await socket.close()


async def test_a_syntax_error_gets_an_error_message(live: Live) -> None:
    socket = await connected(live.subscribed.base_url)
    await subscribe(socket, "bad", "{ posts {")
    message = await receive(socket)
    assert (message["id"], message["type"]) == ("bad", "error")
    assert message["payload"][0]["message"].startswith("Syntax Error")
    await socket.close()


async def test_queries_run_over_the_socket_as_the_connections_user(live: Live) -> None:
    user = await member(live)
    socket = await connected(live.subscribed.base_url, user)
    await subscribe(socket, "q", "{ me { username } }")
    result = await receive(socket)
    assert result["payload"]["data"] == {"me": {"username": user.username}}
    assert await receive(socket) == {"id": "q", "type": "complete"}
    await socket.close()


async def test_a_document_over_a_limit_gets_an_error_message(live: Live) -> None:
    socket = await connected(live.subscribed.base_url)
    nested = "author { posts { edges { node { " * 4 + "id" + " } } } }" * 4
    deep = "{ posts { edges { node { " + nested + " } } } }"
    await subscribe(socket, "deep", deep)
    message = await receive(socket)
    assert message["type"] == "error"
    assert message["id"] == "deep"
    assert "QUERY_TOO_DEEP" in {error["extensions"]["code"] for error in message["payload"]}
    await socket.close()


async def test_operations_past_the_connections_limit_get_an_error(live: Live) -> None:
    author = await member(live)
    post = await new_post(live.writer.base_url, author)
    socket = await connected(live.subscribed.base_url)
    for number in range(3):
        await subscribe(socket, str(number), COMMENT_ADDED, post=post)
    await subscribe(socket, "over", COMMENT_ADDED, post=post)
    message = await receive(socket)
    assert (message["id"], message["type"]) == ("over", "error")
    assert message["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    await socket.close()


async def test_a_revoked_token_closes_the_socket_with_4403(live: Live) -> None:
    user = await member(live)
    socket = await connected(live.subscribed.base_url, user)
    await call(live.writer.base_url, LOGOUT, user)
    assert await close_code(socket) == 4403


async def test_an_unknown_token_at_init_closes_with_4403(live: Live) -> None:
    socket = await open_socket(live.subscribed.base_url)
    await send(socket, {"type": "connection_init", "payload": {"AUTHORIZATION": "Bearer nope"}})
    assert await close_code(socket) == 4403


async def test_the_upgrade_requests_authorization_header_authenticates(live: Live) -> None:
    user = await member(live)
    socket = await open_socket(live.subscribed.base_url, headers=user.headers)
    await send(socket, {"type": "connection_init"})
    assert await receive(socket) == {"type": "connection_ack"}
    await subscribe(socket, "q", "{ me { username } }")
    assert (await receive(socket))["payload"]["data"] == {"me": {"username": user.username}}
    await socket.close()


async def test_a_client_without_the_subprotocol_is_closed_with_4406(live: Live) -> None:
    socket = await open_socket(live.subscribed.base_url, subprotocols=("graphql-ws",))
    assert await close_code(socket) == 4406


async def test_a_message_that_is_not_json_closes_with_4400(live: Live) -> None:
    socket = await connected(live.subscribed.base_url)
    await socket.send("{not json")
    assert await close_code(socket) == 4400


async def test_a_subscribe_without_a_query_closes_with_4400(live: Live) -> None:
    socket = await connected(live.subscribed.base_url)
    await send(socket, {"id": "1", "type": "subscribe", "payload": {"query": 5}})
    assert await close_code(socket) == 4400


async def test_subscribe_before_connection_init_closes_with_4401(live: Live) -> None:
    socket = await open_socket(live.subscribed.base_url)
    await subscribe(socket, "1", "{ __typename }")
    assert await close_code(socket) == 4401


async def test_no_connection_init_in_time_closes_with_4408(live: Live) -> None:
    socket = await open_socket(live.subscribed.base_url)
    assert await close_code(socket) == 4408


async def test_a_second_subscriber_with_the_same_id_closes_with_4409(live: Live) -> None:
    author = await member(live)
    post = await new_post(live.writer.base_url, author)
    socket = await connected(live.subscribed.base_url)
    await subscribe(socket, "same", COMMENT_ADDED, post=post)
    await subscribe(socket, "same", COMMENT_ADDED, post=post)
    assert await close_code(socket) == 4409


async def test_a_second_connection_init_closes_with_4429(live: Live) -> None:
    socket = await connected(live.subscribed.base_url)
    await send(socket, {"type": "connection_init"})
    assert await close_code(socket) == 4429


async def test_an_upgrade_from_a_foreign_origin_is_refused_with_403(live: Live) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await open_socket(live.subscribed.base_url, headers={"Origin": "https://evil.example"})
    assert refused.value.response.status_code == 403


async def test_an_upgrade_from_an_allowed_origin_is_accepted(live: Live) -> None:
    socket = await open_socket(live.subscribed.base_url, headers={"Origin": ALLOWED_ORIGIN})
    await send(socket, {"type": "connection_init"})
    assert await receive(socket) == {"type": "connection_ack"}
    await socket.close()


async def test_an_upgrade_from_the_servers_own_origin_is_accepted(live: Live) -> None:
    socket = await open_socket(
        live.subscribed.base_url, headers={"Origin": live.subscribed.base_url}
    )
    await send(socket, {"type": "connection_init"})
    assert await receive(socket) == {"type": "connection_ack"}
    await socket.close()


async def test_upgrades_past_max_websockets_are_refused_with_503(live: Live) -> None:
    sockets = [await connected(live.subscribed.base_url) for _ in range(8)]
    with pytest.raises(websockets.InvalidStatus) as refused:
        await open_socket(live.subscribed.base_url)
    for socket in sockets:
        await socket.close()
    assert refused.value.response.status_code == 503


async def test_a_plain_get_of_the_endpoint_is_still_http(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.subscribed.base_url) as client:
        response = await client.get("/graphql", params={"query": "{ __typename }"})
    assert response.json()["data"] == {"__typename": "Query"}


async def test_compression_offered_by_the_client_is_declined_by_default(live: Live) -> None:
    socket = await connected(live.subscribed.base_url)  # websockets offers permessage-deflate
    assert socket.request is not None
    assert socket.response is not None
    assert "permessage-deflate" in socket.request.headers["Sec-WebSocket-Extensions"]
    assert "Sec-WebSocket-Extensions" not in socket.response.headers
    await socket.close()


async def test_deleting_an_account_completes_the_subscriptions_on_its_posts(live: Live) -> None:
    author = await make_member(live.url, f"u{uuid.uuid4().hex[:12]}", password=PASSWORD)
    commented, updated = (
        await new_post(live.writer.base_url, author),
        await new_post(live.writer.base_url, author),
    )
    comments, updates = (
        await connected(live.subscribed.base_url),
        await connected(live.subscribed.base_url),
    )
    await subscribe(comments, "c", COMMENT_ADDED, post=commented)
    await subscribe(updates, "u", POST_UPDATED, post=updated)

    async def comment(attempt: int) -> None:
        await call(live.writer.base_url, ADD_COMMENT, author, post=commented, body=f"{attempt}")

    async def update(attempt: int) -> None:
        await call(live.writer.base_url, UPDATE_POST, author, id=updated, title=f"T {attempt}")

    await until_live(comments, comment)
    await until_live(updates, update)
    await call(live.writer.base_url, DELETE_ACCOUNT, author, v={"password": PASSWORD})
    assert await receive(comments) == {"id": "c", "type": "complete"}
    assert await receive(updates) == {"id": "u", "type": "complete"}
    await comments.close()
    await updates.close()


async def test_a_subscriber_that_stops_reading_is_closed_with_4413(live: Live) -> None:
    author = await member(live)
    post = await new_post(live.writer.base_url, author)
    slow = await StalledReader.connect(live.subscribed.base_url)
    reader = await connected(live.subscribed.base_url)

    async def probe(attempt: int) -> None:
        await call(live.writer.base_url, ADD_COMMENT, author, post=post, body=f"p{attempt}")

    # One group: the reader sees each event the slow member is offered.
    for socket in (slow, reader):
        await subscribe(socket, "1", EVERY_COMMENT, post=post)
        await until_live(socket, probe)
    for number in range(LARGE_COMMENTS):  # the slow client reads none of them meanwhile
        body = _large(number)
        await call(live.writer.base_url, ADD_COMMENT, author, post=post, body=body)
        # The group resolved the comment, and offered it to the slow member, before the next.
        while (await receive(reader))["payload"]["data"]["commentAdded"]["body"] != body:
            continue
    assert await slow.close_code() == 4413
    slow.close()
    await reader.close()
