"""bench.profile's classifier: each sampled stack goes to the component of its innermost
known frame, and a thread waiting for work counts as idle."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.profile import classify, shares

LOOP = "Runner.run (asyncio/runners.py:118);Loop__run (loop.c:20313)"


@pytest.mark.parametrize("wait", ["epoll_wait (libc.so.6)", "epoll_pwait (libc.so.6)"])
def test_a_loop_waiting_in_epoll_is_idle(wait: str) -> None:
    assert classify(f"{LOOP};{wait}") == "idle"


def test_a_stack_goes_to_its_innermost_known_component() -> None:
    stack = f"{LOOP};_DriverReads.execute (gql_app/db.py:500);Connection.fetch (asyncpg/x.py:7)"
    assert classify(stack) == "asyncpg"
    assert classify(f"{LOOP};_DriverReads.execute (gql_app/db.py:500)") == "gql_app"


def test_shares_leave_idle_samples_out(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.write_text(
        f"{LOOP};epoll_pwait (libc.so.6) 50\n"
        f"{LOOP};gc_collect_main (libpython3.11.so.1.0) 1\n"
        f"{LOOP};User.from_row (gql_app/graphql/types.py:3) 3\n"
    )
    assert shares(raw) == [("gql_app", 75.0), ("garbage collection", 25.0)]
