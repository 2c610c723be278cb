"""`python -m bench.profile`: where gql_app's CPU goes under load, by component.

Starts `gql-app serve` (one worker) on the bench database, loads it with one operation
through wrk, samples it with py-spy (native frames, so the garbage collector shows) and
prints the share of samples whose innermost frame lies in each component.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import threading
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from bench import workload
from bench.database import (
    DEFAULT_CLUSTER_DIR,
    Dataset,
    asyncpg_dsn,
    bench_cluster,
    command,
    ensure_dataset,
)
from bench.load import run_wrk, write_requests
from bench.operations import BY_NAME
from bench.servers import gql_app_server

# The first pattern found in a sample's innermost frames names its component.
COMPONENTS = (
    ("garbage collection", ("gc_collect", "collect_generations", "gc_collect_main")),
    # py-spy names a package's file from the package ("(graphql/...)"); gql_app/graphql/
    # is gql_app's.
    ("graphql-core execution", ("(graphql/execution/",)),
    ("graphql-core parse/validate", ("(graphql/language/", "(graphql/validation/")),
    ("graphql-core other", ("(graphql/",)),
    ("strawberry", ("strawberry/",)),
    ("gql_app", ("gql_app/",)),
    ("sqlalchemy", ("sqlalchemy/",)),
    ("asyncpg", ("asyncpg/",)),
    ("json", ("orjson", "json/")),
    ("asyncio", ("asyncio/", "uvloop")),
    ("HTTP (uvicorn, starlette, fastapi)", ("uvicorn/", "starlette/", "fastapi/", "httptools")),
    ("pydantic", ("pydantic",)),
)
# Innermost frames of a thread waiting for work (uvloop waits in epoll_pwait).
IDLE = ("epoll_wait", "epoll_pwait", "select.epoll", "_run_once (uvloop", "poll (")


def classify(stack: str) -> str:
    """The component of one collapsed stack (frames root first, `;`-separated)."""
    frames = stack.split(";")
    if any(marker in frames[-1] for marker in IDLE):
        return "idle"
    for frame in reversed(frames):
        for name, patterns in COMPONENTS:
            if any(pattern in frame for pattern in patterns):
                return name
    return "other (interpreter, C)"


def shares(raw: Path) -> list[tuple[str, float]]:
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            counts[classify(stack)] += int(count)
    counts.pop("idle", None)
    total = sum(counts.values()) or 1
    return [(name, 100 * count / total) for name, count in counts.most_common()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench.profile", description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--cluster-dir", type=Path, default=DEFAULT_CLUSTER_DIR)
    parser.add_argument("--op", default="nested", choices=sorted(BY_NAME))
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--out", type=Path, default=Path("bench/runs/profile"))
    return parser


def profile(args: argparse.Namespace, url: str) -> list[tuple[str, float]]:
    py_spy = command("py-spy", "pip install py-spy")
    args.out.mkdir(parents=True, exist_ok=True)
    ensure_dataset(url, Dataset())
    dsn = asyncpg_dsn(url)
    rows = asyncio.run(workload.read_rows(dsn))
    start = asyncio.run(workload.marks(dsn))
    tokens = asyncio.run(workload.sign_in(dsn, rows.user_ids))
    operation = BY_NAME[args.op]
    requests_file = args.out / f"{args.op}.requests"
    write_requests(requests_file, operation.requests(2000, rows, tokens))
    raw = args.out / f"{args.op}.collapsed"
    env = dict(item.split("=", 1) for item in args.env)
    try:
        with gql_app_server(url, 1, args.out / "server.log", env) as server:
            load = threading.Thread(
                target=run_wrk,
                args=(server.url, requests_file),
                kwargs={"seconds": args.seconds + 4, "connections": args.connections},
            )
            load.start()
            subprocess.run(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(server.pid),
                    "--native",
                    "--rate",
                    "250",
                    "--duration",
                    str(args.seconds),
                    "--format",
                    "raw",
                    "-o",
                    str(raw),
                ],
                check=True,
                capture_output=True,
            )
            load.join()
    finally:
        asyncio.run(workload.undo_writes(dsn, start))
    return shares(raw)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    with ExitStack() as stack:
        url = args.database_url or stack.enter_context(bench_cluster(args.cluster_dir))
        print(f"CPU of gql_app (1 worker) under {args.op}, by innermost component:")
        for name, share in profile(args, url):
            print(f"  {share:5.1f} %  {name}")


if __name__ == "__main__":
    main()
