"""`python -m bench.inprocess`: `tiny` requests to the app in this process (the ASGI transport:
no server, no network), with both off, metrics on or tracing on (to bench/traced.py's
exporter), for figures a shared machine cannot blur (bench/RESULTS.md, "Observability cost"):

- `--profile`: Python calls per request (cProfile), and how many are observability's;
- under `valgrind --tool=callgrind`, with `PYTHONHASHSEED=0`: the instructions of a run with
  `--requests N` minus those of one with `--requests 0` are N requests'.

The database (`--database-url`, PostgreSQL) needs user 1: `gql-app seed` gives it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
from collections.abc import Sequence

from gql_app.core.config import Settings, load_settings
from gql_app.graphql.ids import encode_global_id
from tests.support.app import running_app

OFF, METRICS, TRACING = "off", "metrics", "tracing"
WARM_UP = 50
TINY = {
    "query": "query Tiny($id: ID!) { user(id: $id) { username } }",
    "operationName": "Tiny",
    "variables": {"id": encode_global_id("User", 1)},
}
_OBSERVABILITY = (
    "gql_app/core/observability.py",
    "gql_app/core/metrics.py",
    "gql_app/core/tracing.py",
)
_LIBRARIES = ("/opentelemetry/", "/prometheus_client/")


def _settings(database_url: str, mode: str) -> Settings:
    overrides: dict[str, object] = {}
    if mode == METRICS:
        overrides["metrics_port"] = 9  # never served: the figures are only written
    elif mode == TRACING:
        from bench import traced  # noqa: F401  (installs the provider, turns tracing on)

        overrides["otel_traces_exporter"] = "otlp"
    return load_settings(database_url=database_url, environment="production", **overrides)


async def _run(settings: Settings, requests: int, profile: cProfile.Profile | None) -> None:
    async with running_app(settings) as (_, client):
        for _ in range(WARM_UP):
            (await client.post("/graphql", json=TINY)).raise_for_status()
        if profile is not None:
            profile.enable()
        for _ in range(requests):
            await client.post("/graphql", json=TINY)
        if profile is not None:
            profile.disable()


def _calls(profile: cProfile.Profile, requests: int) -> str:
    stats = pstats.Stats(profile)
    ours = theirs = 0
    for (file, _line, _name), (_cc, calls, *_rest) in stats.stats.items():  # type: ignore[attr-defined]
        ours += calls if file.endswith(_OBSERVABILITY) else 0
        theirs += calls if any(part in file for part in _LIBRARIES) else 0
    total = stats.total_calls  # type: ignore[attr-defined]
    return (
        f"{total / requests:,.0f} Python calls per request; gql_app's observability "
        f"{ours / requests:.1f}, OpenTelemetry and prometheus-client {theirs / requests:.1f}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.inprocess", description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--mode", choices=(OFF, METRICS, TRACING), default=OFF)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    profile = cProfile.Profile() if args.profile else None
    asyncio.run(_run(_settings(args.database_url, args.mode), args.requests, profile))
    if profile is not None and args.requests:
        print(f"{args.mode}: {_calls(profile, args.requests)}")


if __name__ == "__main__":
    main()
