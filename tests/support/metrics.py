"""`gql-app serve`'s metrics port scraped with prometheus-client's own text parser, and the
wait for figures a worker counts in plain Python and flushes every `FLUSH_SECONDS`
(gql_app/core/metrics.py): a scrape shows a request within that lag, not at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gql_app.core.metrics import FLUSH_SECONDS

# A flush's lag, with room for a saturated machine to run the flushing thread late.
WAIT_SECONDS = 20 * FLUSH_SECONDS
_POLL_SECONDS = 0.05
# The real-time figures, of both subscription transports.
SOCKETS, ACTIVE = "gql_app_websocket_connections", "gql_app_subscriptions_active"
DELIVERED = "gql_app_subscription_events_delivered_total"


@dataclass
class Scrape:
    """The samples of one scrape, by metric sample name and labels."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float:
        return self.samples[(name, frozenset(labels.items()))]

    def total(self, name: str) -> float:
        """`name`'s samples added up, whatever their labels."""
        return sum(value for (sample, _), value in self.samples.items() if sample == name)

    def labels_of(self, name: str, label: str) -> set[str]:
        return {dict(key)[label] for sample, key in self.samples if sample == name}


def scrape(port: int) -> Scrape:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return Scrape(samples)


def scrape_when(port: int, ready: Callable[[Scrape], bool]) -> Scrape:
    """The first scrape that is `ready`, or the last one once `WAIT_SECONDS` passed (for the
    test to assert on)."""
    deadline = time.monotonic() + WAIT_SECONDS
    metrics = scrape(port)
    while not ready(metrics) and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        metrics = scrape(port)
    return metrics


def _holds(metrics: Scrape, wanted: dict[str, float]) -> bool:
    return all(metrics.value(name) == value for name, value in wanted.items())


async def settled(port: int, wanted: dict[str, float]) -> Scrape:
    """The first scrape whose unlabelled figures read `wanted`, or the last one once
    `WAIT_SECONDS` passed (the server also notices a close a little later)."""
    deadline = time.monotonic() + WAIT_SECONDS
    metrics = scrape(port)
    while not _holds(metrics, wanted) and time.monotonic() < deadline:
        await asyncio.sleep(_POLL_SECONDS)
        metrics = scrape(port)
    return metrics
