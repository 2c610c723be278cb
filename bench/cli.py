"""`python -m bench`: seed, start the servers, load each with wrk in alternating windows,
print the report (`--check`: exit non-zero naming every operation below its target)."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import asdict
from functools import partial
from pathlib import Path

from sqlalchemy.engine import make_url

from bench import environment, workload
from bench.database import (
    BENCH_DB,
    DEFAULT_CLUSTER_DIR,
    Dataset,
    asyncpg_dsn,
    bench_cluster,
    ensure_dataset,
    persist_documents,
)
from bench.idle import idle_subscriptions
from bench.measure import Load, LoadPlan, Measurement, prepare, wait_idle, window
from bench.operations import (
    BY_NAME,
    Operation,
    Rows,
    persisted_manifest,
    same_rows,
)
from bench.report import SINGLE, misses, render, verdicts
from bench.servers import (
    FLOOR,
    JSON_FLOOR,
    PEER,
    VARIANTS,
    Server,
    floor_server,
    gql_app_name,
    gql_app_server,
    peer_server,
)
from bench.sqlcount import StatementCounter
from gql_app.graphql.ids import encode_global_id

REQUESTS_PER_FILE = 2000
RUNS_DIR = Path(__file__).parent / "runs"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument(
        "--database-url",
        help="PostgreSQL to use (default: a cluster of the bench's own, with pg_stat_statements)",
    )
    parser.add_argument("--cluster-dir", type=Path, default=DEFAULT_CLUSTER_DIR)
    parser.add_argument("--ops", default=",".join(BY_NAME), help="operations, comma-separated")
    parser.add_argument(
        "--servers",
        default="floor,json-floor,peer,1",
        help="comma-separated: floor, json-floor, peer (PostGraphile) and gql_app worker "
        "counts, each alone or with metrics or tracing on (1+metrics, 1+tracing)",
    )
    parser.add_argument("--seconds", type=float, default=15, help="length of each measured run")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured load before each run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=2, help="measured windows per server and operation"
    )
    parser.add_argument(
        "--nested-repeats", type=int, default=3, help="windows of nested (RSS growth)"
    )
    parser.add_argument("--count-requests", type=int, default=10, help="requests for SQL counts")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for gql-app serve (repeatable), e.g. COMPILED_EXECUTION=false",
    )
    parser.add_argument(
        "--idle-subscriptions",
        type=int,
        default=0,
        metavar="N",
        help="N graphql-ws subscriptions held open on each gql_app server while it is measured",
    )
    parser.add_argument("--out", type=Path, help="where logs and the report go")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit non-zero, naming every operation below its target",
    )
    return parser


def _servers(
    spec: str, url: str, out: Path, env: dict[str, str]
) -> Iterator[tuple[str, Callable[[], AbstractContextManager[Server]]]]:
    for item in spec.split(","):
        if item == FLOOR:
            yield FLOOR, partial(floor_server, url, out / "floor.log")
        elif item == "json-floor":
            yield JSON_FLOOR, partial(floor_server, url, out / "json-floor.log", JSON_FLOOR)
        elif item == "peer":
            yield PEER, partial(peer_server, url, out / "peer.log")
        else:
            count, _, variant = item.partition("+")
            if variant and variant not in VARIANTS:
                raise SystemExit(f"bench: not {' or '.join(VARIANTS)}: {item}")
            workers = int(count)
            log = out / f"gql_app-{item}.log"
            yield (
                gql_app_name(workers, variant or None),
                partial(gql_app_server, url, workers, log, env, variant or None),
            )


def _parity(
    results: dict[tuple[str, str], Measurement], operations: list[Operation]
) -> dict[str, str]:
    found = {}
    for operation in operations:
        ours = results.get((SINGLE, operation.name))
        for name in (FLOOR, JSON_FLOOR):
            floor = results.get((name, operation.name))
            key = f"{operation.name} ({name})"
            if floor is None or ours is None or floor.failure or ours.failure:
                found[key] = "not compared (a server failed or did not run)"
            else:
                same = operation.comparable(floor.sample) == operation.comparable(ours.sample)
                found[key] = "equal" if same else "**DIFFERENT**"
        peer = results.get((PEER, operation.name))
        if peer is not None and ours is not None and not (peer.failure or ours.failure):
            same = same_rows(operation.comparable(peer.sample)) == same_rows(
                operation.comparable(ours.sample)
            )
            found[f"{operation.name} ({PEER}, ids and spellings aside)"] = (
                "equal" if same else "**DIFFERENT**"
            )
    return found


def _save(
    out: Path,
    results: dict[tuple[str, str], Measurement],
    operations: list[Operation],
    context: list[str],
) -> str:
    """Write the report and the raw figures (after every measurement: a crash keeps them)."""
    report = render(
        results, [(o.name, o.title) for o in operations], context, _parity(results, operations)
    )
    (out / "report.md").write_text(report)
    raw = {f"{server}/{op}": asdict(m) | {"sample": None} for (server, op), m in results.items()}
    (out / "results.json").write_text(json.dumps(raw, indent=1, default=str))
    return report


def _windows(
    servers: list[tuple[str, Server]],
    operation: Operation,
    plan: LoadPlan,
    prepared: dict[str, tuple[Measurement, Load]],
) -> None:
    """The measured windows, alternating between the servers (the order reversed every other
    round, so none is always first after a drain), the machine drained before each."""
    for turn in range(plan.repeats):
        order = servers if turn % 2 == 0 else servers[::-1]
        for name, server in order:
            if name not in prepared or prepared[name][0].failure:
                continue
            print(f"bench: {operation.name}: window {turn + 1}: {name}", flush=True)
            wait_idle([server for _, server in servers])
            window(server, *prepared[name], plan)


def run(args: argparse.Namespace, url: str) -> tuple[str, list[str]]:
    """Measure; the report and the checks missed."""
    operations = [BY_NAME[name] for name in args.ops.split(",")]
    out: Path = args.out or RUNS_DIR / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    dataset_state = ensure_dataset(url, Dataset())
    manifest = persisted_manifest(operations)
    if manifest:
        persist_documents(url, manifest, out / "persisted-documents.json")
    dsn = asyncpg_dsn(url)
    database = make_url(url).database or BENCH_DB
    counter = StatementCounter(dsn, database)
    counting_problem = counter.available()
    context = environment.describe(dsn, args, dataset_state, counting_problem)
    rows: Rows = asyncio.run(workload.read_rows(dsn))
    start = asyncio.run(workload.marks(dsn))
    tokens = asyncio.run(workload.sign_in(dsn, rows.user_ids))
    env = dict(item.split("=", 1) for item in args.env)
    if args.idle_subscriptions:  # the sockets count towards MAX_CONNECTIONS (default 1,000)
        env.setdefault("MAX_CONNECTIONS", str(1_000 + args.idle_subscriptions))
    results: dict[tuple[str, str], Measurement] = {}
    try:
        with ExitStack() as running:
            servers = [
                (name, running.enter_context(start_server()))
                for name, start_server in _servers(args.servers, url, out, env)
            ]
            if args.idle_subscriptions:
                post = encode_global_id("Post", rows.post_ids[0])
                for name, server in servers:
                    if name.startswith("gql_app"):
                        running.enter_context(
                            idle_subscriptions(server, args.idle_subscriptions, post)
                        )
            for operation in operations:
                before = asyncio.run(workload.marks(dsn))
                plan = LoadPlan(
                    seconds=args.seconds,
                    warmup_seconds=args.warmup,
                    connections=args.connections,
                    count_requests=args.count_requests,
                    repeats=args.nested_repeats if operation.name == "nested" else args.rounds,
                )
                prepared = {}
                for name, server in servers:
                    if server.peer and operation.peer is None:
                        continue
                    print(f"bench: {operation.name}: {name}: warm-up", flush=True)
                    requests = operation.requests(REQUESTS_PER_FILE, rows, tokens, peer=server.peer)
                    wait_idle([server for _, server in servers])
                    prepared[name] = prepare(
                        server,
                        operation,
                        requests,
                        plan,
                        None if counting_problem else counter,
                        out,
                    )
                    results[(name, operation.name)] = prepared[name][0]
                _windows(servers, operation, plan, prepared)
                if operation.writes:
                    asyncio.run(workload.undo_writes(dsn, before))
                _save(out, results, operations, context)
    finally:
        asyncio.run(workload.undo_writes(dsn, start))
    missed = misses(verdicts(results, [o.name for o in operations]))
    return _save(out, results, operations, context), missed


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    with ExitStack() as stack:
        url = args.database_url or stack.enter_context(bench_cluster(args.cluster_dir))
        report, missed = run(args, url)
    print(report)
    if args.check and missed:
        raise SystemExit("bench: below target: " + "; ".join(missed))
