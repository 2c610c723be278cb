"""The benchmark's report: per-operation figures, ratios to the floor and the targets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bench.measure import Measurement
from bench.servers import gql_app_name

MB = 1024 * 1024
FLOOR = "floor"


SINGLE = gql_app_name(1)
DOUBLE = gql_app_name(2)


@dataclass(frozen=True)
class Target:
    """gql_app (one worker) against the floor: throughput ratio and latency tail."""

    min_ratio: float
    max_p99_over_p50: float | None = None


TARGETS = {
    "nested": Target(0.25, 3.0),
    "tiny": Target(0.4, 3.0),
    "page": Target(0.3),
}
WORKERS_SCALING_TARGET = ("tiny", 1.5)
RSS_TARGET_MB = 150.0
# "No growth": RSS after the last nested run within this share above RSS after the first.
RSS_GROWTH_TOLERANCE = 0.10
NESTED_STATEMENTS_TARGET = 5


def _ms(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _row(m: Measurement) -> str:
    load = m.load
    if m.failure or load is None:
        return f"| {m.server} | failed: {(m.failure or 'no load')[:120]} |" + " |" * 8
    statements = (
        f"{m.statements.queries:g} (+{m.statements.control:g} tx)" if m.statements else "n/a"
    )
    tail = load.p99_ms / load.p50_ms if load.p50_ms else 0.0
    rss = f"{max(m.peak_rss, default=0) / MB:.0f}"
    if m.restarted_workers:
        rss += f" ({m.restarted_workers} workers killed by uvicorn as unresponsive)"
    return (
        f"| {m.server} | {load.rate:,.1f} | {_ms(load.p50_ms)} | {_ms(load.p99_ms)} | {tail:.1f} "
        f"| {load.errors} | {statements} | {m.cpu_percent:.0f} | {m.cpu_ms_per_request:.2f} "
        f"| {rss} |"
    )


HEADER = (
    "| server | req/s | p50 ms | p99 ms | p99/p50 | errors | SQL/req | CPU % | CPU ms/req "
    "| peak RSS MB/worker |\n|---|---:|---:|---:|---:|---:|---|---:|---:|---|"
)


def _rate(results: dict[tuple[str, str], Measurement], server: str, operation: str) -> float:
    found = results.get((server, operation))
    load = found.load if found and not found.failure else None
    return load.rate if load else 0.0


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _ratio(results: dict[tuple[str, str], Measurement], server: str, operation: str) -> str:
    floor, ours = _rate(results, FLOOR, operation), _rate(results, server, operation)
    return f"{ours / floor:.2f}×" if floor and ours else "n/a"


def _ratios(results: dict[tuple[str, str], Measurement], operation: str) -> str:
    """One line under an operation's figures: each gql_app server's req/s ÷ the floor's."""
    servers = dict.fromkeys(server for server, op in results if op == operation and server != FLOOR)
    shares = ", ".join(f"{server} {_ratio(results, server, operation)}" for server in servers)
    return f"req/s ÷ floor: {shares or 'n/a'}"


def _growth(rss_after_runs: list[int]) -> tuple[str, str]:
    """The growth of RSS from the first nested run to the last, and its verdict."""
    if len(rss_after_runs) < 2:
        return "n/a (one run)", ""
    first, last = rss_after_runs[0], rss_after_runs[-1]
    growth = (last - first) / first if first else 0.0
    return f"{growth:+.0%}", _mark(growth <= RSS_GROWTH_TOLERANCE)


def _targets(results: dict[tuple[str, str], Measurement], operations: list[str]) -> list[str]:
    lines = ["| check | measured | target | |", "|---|---:|---:|---|"]
    for operation in operations:
        floor, single = _rate(results, FLOOR, operation), _rate(results, SINGLE, operation)
        target = TARGETS.get(operation)
        wanted = f"≥ {target.min_ratio:g}×" if target else "(none)"
        verdict = _mark(single / floor >= target.min_ratio) if target and floor and single else ""
        lines.append(
            f"| {operation}: gql_app ÷ floor req/s | {_ratio(results, SINGLE, operation)} "
            f"| {wanted} | {verdict} |"
        )
        measured = results.get((SINGLE, operation))
        if target and target.max_p99_over_p50 and measured and measured.load:
            tail = measured.load.p99_ms / measured.load.p50_ms if measured.load.p50_ms else 0.0
            lines.append(
                f"| {operation}: gql_app p99 ÷ p50 | {tail:.1f} | ≤ {target.max_p99_over_p50:g} "
                f"| {_mark(tail <= target.max_p99_over_p50)} |"
            )
    operation, wanted_scaling = WORKERS_SCALING_TARGET
    single, double = _rate(results, SINGLE, operation), _rate(results, DOUBLE, operation)
    scaling = double / single if single and double else None
    lines.append(
        f"| {operation}: 2 workers ÷ 1 worker req/s "
        f"| {'n/a' if scaling is None else f'{scaling:.2f}×'} | ≥ {wanted_scaling:g}× "
        f"| {'' if scaling is None else _mark(scaling >= wanted_scaling)} |"
    )
    for server in (SINGLE, DOUBLE):
        nested = results.get((server, "nested"))
        if nested and nested.peak_rss:
            peak = max(nested.peak_rss) / MB
            lines.append(
                f"| nested, {server}: peak RSS per worker (max of runs) | {peak:.0f} MB "
                f"| ≤ {RSS_TARGET_MB:g} MB "
                f"| {_mark(peak <= RSS_TARGET_MB)} |"
            )
            after = " → ".join(f"{rss / MB:.0f}" for rss in nested.rss_after_runs)
            lines.append(f"| nested, {server}: RSS after each run | {after} MB | | |")
            growth, verdict = _growth(nested.rss_after_runs)
            lines.append(
                f"| nested, {server}: RSS growth, first run to last | {growth} "
                f"| ≤ {RSS_GROWTH_TOLERANCE:+.0%} (no growth) | {verdict} |"
            )
            peaks = " → ".join(f"{peak / MB:.0f}" for peak in nested.peak_rss)
            lines.append(f"| nested, {server}: peak RSS of each run | {peaks} MB | | |")
    nested = results.get((SINGLE, "nested"))
    if nested and nested.statements:
        count = nested.statements.queries
        lines.append(
            f"| nested: SQL statements per request | {count:g} | ≤ {NESTED_STATEMENTS_TARGET} "
            f"| {_mark(count <= NESTED_STATEMENTS_TARGET)} |"
        )
    return lines


def render(
    results: dict[tuple[str, str], Measurement],
    operations: Iterable[tuple[str, str]],
    context: list[str],
    parity: dict[str, str],
) -> str:
    """The whole report as Markdown (readable as it is on a terminal)."""
    ops = list(operations)
    out = ["## Run", "", *context, "", "## Figures", ""]
    for name, title in ops:
        out += [f"### {name}: {title}", "", HEADER]
        out += [_row(m) for (_, op), m in results.items() if op == name]
        out += ["", _ratios(results, name), ""]
    out += ["## Against the floor and the targets", "", *_targets(results, [n for n, _ in ops])]
    out += ["", "## Parity (gql_app's `data` equals the floor's for the same request)", ""]
    out += ["Values each request makes anew (new ids, tokens, expiry times) are left out.", ""]
    out += [f"- {name}: {verdict}" for name, verdict in parity.items()]
    out += ["", "## SQL statements of gql_app (1 worker), per request", ""]
    for name, _ in ops:
        measured = results.get((SINGLE, name))
        if measured and measured.statements:
            out.append(f"- {name}:")
            out += [f"  - `{text}`" for text in measured.statements.texts]
    return "\n".join(out) + "\n"
