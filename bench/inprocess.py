"""`python -m bench.inprocess`: CPU, garbage collection and Python calls per request.

Drives gql_app's ASGI app in this process (no HTTP server, no load generator: only the
database shares the machine with it) with requests of one operation of bench/operations.py,
`--concurrency` at a time (a signed-in one, such as `write`, with the bearer tokens of
bench/workload.py's `sign_in`), and prints the process CPU time per request, the garbage
collector's part of it (the process CPU time of each collection, from `gc.callbacks`; its
collections per request, the longest), and Python calls per request (cProfile, over another
tenth of the requests), with how many of those calls are gql_app's observability and how
many OpenTelemetry's and prometheus-client's. On a machine shared with other work these move
far less than throughput does. The database is `DATABASE_URL`'s, seeded as bench/run seeds
its own (`gql-app seed --users 1000`).

`--mode metrics` runs with metrics on (written as `serve` writes them, never served), `--mode
tracing` with tracing on to bench/traced.py's discarding exporter. Under `valgrind
--tool=callgrind` with `PYTHONHASHSEED=0`, the instructions of a run with `--requests N`
minus those of one with `--requests 0` are N requests' (bench/RESULTS.md, "Observability
cost").
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.database import asyncpg_dsn
from bench.load import Request
from bench.operations import BY_NAME
from bench.workload import read_rows, sign_in
from gql_app.app import create_app
from gql_app.core.config import Settings, load_settings
from tests.support.app import graphql_post_scope

OFF, METRICS, TRACING = "off", "metrics", "tracing"
_OBSERVABILITY = (
    "gql_app/core/observability.py",
    "gql_app/core/metrics.py",
    "gql_app/core/tracing.py",
)
_LIBRARIES = ("/opentelemetry/", "/prometheus_client/")


class FailedRequest(Exception):
    """A request was not answered 200 with `data` and no `errors`."""


async def drive(app: Any, request: Request) -> bytes:
    """POST `request` to the app's `/graphql` as a server would; the response body."""
    body = request.body
    messages: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:  # the request is whole: wait as a connection without more data does
            await asyncio.Event().wait()
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = graphql_post_scope(
        [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *(
                ((b"authorization", f"Bearer {request.token}".encode()),)
                if request.token is not None
                else ()
            ),
        ]
    )
    await app(scope, receive, send)
    answer = b"".join(message.get("body", b"") for message in messages[1:])
    if messages[0]["status"] != 200 or b'"errors"' in answer:
        raise FailedRequest(answer[:300].decode(errors="replace"))
    return answer


@dataclass(frozen=True)
class Measured:
    requests: int
    cpu_ms: float  # per request
    gc_ms: float  # per request
    collections: float  # per request
    longest_pause_ms: float
    calls: float  # Python calls per request
    observability_calls: float  # of those, in gql_app's observability modules
    library_calls: float  # of those, in OpenTelemetry and prometheus-client

    def line(self, name: str) -> str:
        share = 100 * self.gc_ms / self.cpu_ms if self.cpu_ms else 0.0
        return (
            f"{name}: {self.requests} requests, CPU {self.cpu_ms:.3f} ms/req, garbage"
            f" collection {self.gc_ms:.3f} ms/req ({share:.1f} %, {self.collections:.1f}"
            f" collections/req, longest {self.longest_pause_ms:.1f} ms), Python calls"
            f" {self.calls:,.0f}/req (gql_app's observability {self.observability_calls:.1f},"
            f" OpenTelemetry and prometheus-client {self.library_calls:.1f})"
        )


async def _concurrently(app: Any, bodies: Sequence[Request], concurrency: int) -> None:
    waiting = list(reversed(bodies))

    async def client() -> None:
        while waiting:
            await drive(app, waiting.pop())

    await asyncio.gather(*(client() for _ in range(concurrency)))


async def measure(app: Any, bodies: Sequence[Request], concurrency: int) -> Measured:
    """Run `bodies` through the started `app`, timed; then a tenth of them again, profiled."""
    pauses: list[float] = []
    started = [0.0]

    def watch(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.process_time()
        else:
            pauses.append(time.process_time() - started[0])

    gc.callbacks.append(watch)
    try:
        cpu = time.process_time()
        await _concurrently(app, bodies, concurrency)
        cpu = time.process_time() - cpu
    finally:
        gc.callbacks.remove(watch)
    profiled = bodies[: max(1, len(bodies) // 10)]
    profile = cProfile.Profile()
    profile.enable()
    await _concurrently(app, profiled, concurrency)
    profile.disable()
    count = len(bodies)
    stats = pstats.Stats(profile)
    ours = theirs = 0
    for (file, _line, _name), (_cc, calls, *_rest) in stats.stats.items():  # type: ignore[attr-defined]
        ours += calls if file.endswith(_OBSERVABILITY) else 0
        theirs += calls if any(part in file for part in _LIBRARIES) else 0
    return Measured(
        requests=count,
        cpu_ms=1000 * cpu / count,
        gc_ms=1000 * sum(pauses) / count,
        collections=len(pauses) / count,
        longest_pause_ms=1000 * max(pauses, default=0.0),
        calls=stats.total_calls / len(profiled),  # type: ignore[attr-defined]
        observability_calls=ours / len(profiled),
        library_calls=theirs / len(profiled),
    )


def settings_for(mode: str) -> Settings:
    """The settings of a run in `mode`, the rest from the environment (production mode)."""
    overrides: dict[str, object] = {}
    if mode == METRICS:
        overrides["metrics_port"] = 9  # never served: the figures are only written
    elif mode == TRACING:
        from bench import traced  # noqa: F401  (installs the provider, turns tracing on)

        overrides["otel_traces_exporter"] = "otlp"
    return load_settings(environment="production", **overrides)


async def _main(args: argparse.Namespace) -> None:
    settings = settings_for(args.mode)
    dsn = asyncpg_dsn(settings.database_url)
    rows = await read_rows(dsn)
    operations = [BY_NAME[name] for name in args.ops.split(",")]
    signed_in = any(operation.signed_in for operation in operations)
    tokens = await sign_in(dsn, rows.user_ids) if signed_in else []
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        for operation in operations:
            name = operation.name
            bodies = operation.requests(max(args.requests, args.warmup), rows, tokens)
            for body in bodies[: args.warmup]:
                await drive(app, body)
            if not args.requests:
                continue  # callgrind's baseline: start-up and warm-up only
            bodies = bodies[: args.requests]
            print((await measure(app, bodies, args.concurrency)).line(name), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__)
    parser.add_argument("--ops", default="tiny,page,nested", help="operations, comma-separated")
    parser.add_argument("--requests", type=int, default=200, help="measured requests of each")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests first")
    parser.add_argument("--concurrency", type=int, default=8, help="requests at a time")
    parser.add_argument("--mode", choices=(OFF, METRICS, TRACING), default=OFF)
    args = parser.parse_args()
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
