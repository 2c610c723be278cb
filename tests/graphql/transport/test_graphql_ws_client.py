"""The real `graphql-ws` npm client (what Apollo's GraphQLWsLink and urql run) subscribes to
a real server, on both databases: events in order, then `complete` when the post goes."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.graphql.transport.conftest import Live
from tests.support.postgres import IN_CI
from tests.support.realtime import (
    ADD_COMMENT,
    COMMENT_ADDED,
    DELETE_POST,
    WAIT_SECONDS,
    call,
    make_member,
    new_post,
    ws_url,
)

NODE_DIR = Path(__file__).resolve().parents[2] / "node_ws"


@pytest.fixture
def subscribe_script() -> Path:
    """The client script, runnable: skips without node or its packages, fails so under CI."""
    if shutil.which("node") is None:
        reason = "node is not installed"
    elif not (NODE_DIR / "node_modules" / "graphql-ws").is_dir():
        reason = "graphql-ws is not installed: run `npm ci --prefix tests/node_ws`"
    else:
        return NODE_DIR / "subscribe.mjs"
    if IN_CI:
        pytest.fail(f"CI=true but the graphql-ws client cannot run: {reason}")
    pytest.skip(reason)


async def line_of(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), WAIT_SECONDS)
    assert line, "the client exited"
    message: dict[str, Any] = json.loads(line)
    return message


async def test_the_graphql_ws_client_receives_comments_then_complete(
    live: Live, subscribe_script: Path
) -> None:
    author = await make_member(live.url, f"u{uuid.uuid4().hex[:12]}")
    post = await new_post(live.writer.base_url, author)
    token = author.headers["Authorization"].removeprefix("Bearer ")
    process = await asyncio.create_subprocess_exec(
        "node",
        str(subscribe_script),
        ws_url(live.subscribed.base_url),
        COMMENT_ADDED,
        json.dumps({"post": post}),
        token,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert await line_of(process) == {"connected": True}
        first = None
        for attempt in range(20):  # a subscription has no acknowledgement: probe until live
            await call(live.writer.base_url, ADD_COMMENT, author, post=post, body=f"p{attempt}")
            try:
                first = await line_of(process)
                break
            except TimeoutError:
                continue
        for body in ("one", "two"):
            await call(live.writer.base_url, ADD_COMMENT, author, post=post, body=body)
        events = [await line_of(process) for _ in range(2)]
        await call(live.writer.base_url, DELETE_POST, author, id=post)
        last = await line_of(process)
        status = await asyncio.wait_for(process.wait(), WAIT_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert first is not None
    assert first["next"]["data"]["commentAdded"]["author"]["email"] == (
        f"{author.username}@example.com"
    )
    assert [event["next"]["data"]["commentAdded"]["body"] for event in events] == ["one", "two"]
    assert (last, status) == ({"complete": True}, 0)
