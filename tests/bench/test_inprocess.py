"""bench/inprocess.py: tiny requests to the app in this process, their calls counted."""

from __future__ import annotations

import cProfile

import pytest

from bench import inprocess
from tests.support.app import MakeUser


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_profiled_requests_give_their_calls_and_none_of_opentelemetry_when_off(
    database_url: str, make_user: MakeUser
) -> None:
    await make_user("alice")  # user 1, whose username tiny reads
    settings = inprocess._settings(database_url, inprocess.OFF)
    profile = cProfile.Profile()
    await inprocess._run(settings, 5, profile)
    line = inprocess._calls(profile, 5)
    assert "Python calls per request" in line
    assert line.endswith("OpenTelemetry and prometheus-client 0.0")
