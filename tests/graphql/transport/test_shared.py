"""A member of a shared subscription falls behind alone, and every document that is not a
subscription takes the ordinary path."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from gql_app.graphql.transport.shared import FellBehind, Member, is_subscription

DROPPED = "gql_app_subscription_events_dropped_total"


async def test_a_member_past_its_queue_size_falls_behind() -> None:
    member = Member(size=2)
    for number in range(3):
        member.offer(("next", str(number)))
    items = aiter(member)
    received = [await anext(items), await anext(items)]
    with pytest.raises(FellBehind):
        await anext(items)
    assert received == [("next", "0"), ("next", "1")]


@pytest.mark.usefixtures("metrics_on")
def test_each_event_a_member_past_its_queue_size_misses_is_counted_as_dropped() -> None:
    before = REGISTRY.get_sample_value(DROPPED) or 0
    member = Member(size=2)
    for number in range(5):
        member.offer(("next", str(number)))
    assert REGISTRY.get_sample_value(DROPPED) == before + 3


async def test_a_member_ends_after_its_last_item() -> None:
    member = Member(size=2)
    member.offer(("next", "{}"))
    member.offer(("complete", ""))
    assert [item async for item in member] == [("next", "{}"), ("complete", "")]


@pytest.mark.parametrize(
    ("query", "name", "expected"),
    [
        ("subscription { postAdded { id } }", None, True),
        ("query A { me { id } } subscription B { postAdded { id } }", "B", True),
        ("query A { me { id } } subscription B { postAdded { id } }", "A", False),
        ("{ me { id } }", None, False),
        ("subscription {", None, False),
    ],
)
def test_only_subscription_operations_are_shared(
    query: str, name: str | None, expected: bool
) -> None:
    assert is_subscription(query, name) is expected
