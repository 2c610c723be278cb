"""The soak's load generator, a process of its own: `concurrency` clients send a mix of the
benchmark's operations for `duration` seconds and print one JSON summary line.

Run by `bench/soak`; reads its plan (server URL, rows, tokens) as JSON on stdin.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from bench.operations import BY_NAME, Operation, Rows

OPERATIONS = {
    "page": BY_NAME["page"],
    "tiny": BY_NAME["tiny"],
    # A nested read of the size a page shows, not the benchmark's 50 x 10 x 5 stress case.
    "nested": replace(
        BY_NAME["nested"], variables=lambda _i, _rows: {"users": 10, "posts": 5, "comments": 3}
    ),
    "login": BY_NAME["login"],
    "write": BY_NAME["write"],
}
# The mix, out of 20 requests: reads, nested reads, logins and writes.
MIX = ("page",) * 8 + ("tiny",) * 4 + ("nested",) * 3 + ("login",) * 1 + ("write",) * 4
REQUEST_TIMEOUT = 60.0


@dataclass
class Tally:
    """What the clients saw: latencies, and every outcome that was not the expected one."""

    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)

    def record(self, seconds: float, status: int, outcome: str) -> None:
        self.latencies.append(seconds)
        self.statuses[status] += 1
        self.outcomes[outcome] += 1

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def percentile(fraction: float) -> float:
            return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0

        return {
            "requests": len(ordered),
            "p50_ms": percentile(0.50) * 1000,
            "p99_ms": percentile(0.99) * 1000,
            "max_ms": (ordered[-1] if ordered else 0.0) * 1000,
            "outcomes": dict(self.outcomes),
            "statuses": {str(status): count for status, count in self.statuses.items()},
        }


def outcome(operation: Operation, response: httpx.Response) -> str:
    """ "ok", the `extensions.code` of a GraphQL error, a typed result's `__typename`, or
    "HTTP <status>" for a response that is none of these."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        codes = {str((error.get("extensions") or {}).get("code", "NO_CODE")) for error in errors}
        return ",".join(sorted(codes))
    if response.status_code != 200 or not isinstance(body.get("data"), dict):
        return f"HTTP {response.status_code}"
    if operation.expect in response.text:
        return "ok"
    payload = next(iter(body["data"].values()), None)
    typename = payload.get("__typename") if isinstance(payload, dict) else None
    return f"typed {typename}" if typename else "unexpected data"


async def client(
    http: httpx.AsyncClient,
    plan: dict[str, Any],
    rows: Rows,
    start: int,
    deadline: float,
    tally: Tally,
) -> None:
    tokens: list[str] = plan["tokens"]
    index = start
    while time.monotonic() < deadline:
        operation = OPERATIONS[MIX[index % len(MIX)]]
        headers = {"content-type": "application/json"}
        if operation.signed_in:
            headers["authorization"] = f"Bearer {tokens[index % len(tokens)]}"
        began = time.monotonic()
        try:
            response = await http.post(
                plan["url"], content=operation.body(index, rows), headers=headers
            )
        except httpx.HTTPError as exc:
            tally.record(time.monotonic() - began, 0, f"transport {type(exc).__name__}")
        else:
            tally.record(
                time.monotonic() - began, response.status_code, outcome(operation, response)
            )
        index += plan["concurrency"]


async def soak(plan: dict[str, Any]) -> dict[str, Any]:
    rows = Rows(**{name: tuple(values) for name, values in plan["rows"].items()})
    tally = Tally()
    deadline = time.monotonic() + plan["duration"]
    limits = httpx.Limits(max_connections=plan["concurrency"])
    async with httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT) as http:
        await asyncio.gather(
            *(client(http, plan, rows, n, deadline, tally) for n in range(plan["concurrency"]))
        )
    return tally.summary()


def main() -> None:
    plan = json.load(sys.stdin)
    print(json.dumps(asyncio.run(soak(plan))), flush=True)


if __name__ == "__main__":
    main()
