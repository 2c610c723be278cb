"""Issue 14: GraphiQL, served offline, runs a subscription. Headless Chromium (Debian's, driven
by playwright-core) opens the page a real server serves, types a subscription, runs it, and
sees a comment added meanwhile in the response pane: the page's WebSocket (its own origin,
allowed by its Content-Security-Policy and the upgrade's Origin check) works end to end."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.graphql.transport.conftest import Live
from tests.support.postgres import IN_CI
from tests.support.realtime import ADD_COMMENT, WAIT_SECONDS, call, make_member, new_post

BROWSER_DIR = Path(__file__).resolve().parents[2] / "graphiql_browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# The browser's start and GraphiQL's first render take a while on a busy machine.
START_SECONDS = 60.0


@pytest.fixture
def browser_script() -> Path:
    """The browser script, runnable: skips without node, Chromium or playwright-core, and
    fails so under CI."""
    if shutil.which("node") is None:
        reason = "node is not installed"
    elif not Path(CHROMIUM).is_file():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)"
    elif not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        reason = "playwright-core is not installed: run `npm ci --prefix tests/graphiql_browser`"
    else:
        return BROWSER_DIR / "subscribe.mjs"
    if IN_CI:
        pytest.fail(f"CI=true but the browser test cannot run: {reason}")
    pytest.skip(reason)


async def line_of(process: asyncio.subprocess.Process, seconds: float) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), seconds)
    assert line, "the browser script exited"
    message: dict[str, Any] = json.loads(line)
    return message


@pytest.mark.parametrize("live", ["sqlite"], indirect=True)  # the page, not the database
async def test_graphiql_runs_a_subscription_and_shows_its_events(
    live: Live, browser_script: Path
) -> None:
    author = await make_member(live.url, f"u{uuid.uuid4().hex[:12]}")
    post = await new_post(live.writer.base_url, author)
    query = f'subscription {{ commentAdded(postId: "{post}") {{ body }} }}'
    process = await asyncio.create_subprocess_exec(
        "node",
        str(browser_script),
        f"{live.subscribed.base_url}/graphql",
        query,
        "seen in the browser",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert await line_of(process, START_SECONDS) == {"running": True}
        seen = None
        for attempt in range(20):  # a subscription has no acknowledgement: probe until live
            body = f"seen in the browser {attempt}"
            await call(live.writer.base_url, ADD_COMMENT, author, post=post, body=body)
            try:
                seen = await line_of(process, 2.0)
                break
            except TimeoutError:
                continue
        assert await asyncio.wait_for(process.wait(), WAIT_SECONDS) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert seen == {"seen": True, "errors": []}
