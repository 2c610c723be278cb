"""The benchmark's report: per-operation figures, gql_app's ratios to the peer (PostGraphile)
and the floors, and the targets, which `--check` turns into an exit status."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bench.measure import Measurement
from bench.servers import FLOOR, JSON_FLOOR, METRICS, PEER, VARIANTS, gql_app_name

MB = 1024 * 1024

SINGLE = gql_app_name(1)
DOUBLE = gql_app_name(2)

# gql_app (one worker) ÷ PostGraphile, req/s, side by side in one run (issue 13).
PEER_TARGETS = {"nested": 1.5, "tiny": 1.0, "page": 1.2, "write": 0.5}
# Every operation's latency tail: p99 ÷ p50 at most this.
MAX_P99_OVER_P50 = 3.0
# Two workers on two cores: CPU per request within this share above one worker's.
CPU_PER_REQUEST_SCALING = (("tiny", "write"), 0.10)
RSS_TARGET_MB = 150.0
# "No growth": RSS after the last nested run within this share above RSS after the first.
RSS_GROWTH_TOLERANCE = 0.10
NESTED_STATEMENTS_TARGET = 5
# Metrics on: at most this share of tiny's throughput lost against both off (issue 16).
OBSERVABILITY_TARGETS = {(METRICS, "tiny"): 0.95}


@dataclass(frozen=True)
class Verdict:
    """One check of the targets: `ok` is None when it could not be measured."""

    check: str
    measured: str
    target: str
    ok: bool | None
    # Counted by `--check` even when not measured (the ratios to the peer are the point).
    required: bool = False

    @property
    def missed(self) -> bool:
        return self.ok is False or (self.ok is None and self.required)


def _ms(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _row(m: Measurement) -> str:
    load = m.load
    if m.failure or load is None:
        return f"| {m.server} | failed: {(m.failure or 'no load')[:120]} |" + " |" * 10
    statements = (
        f"{m.statements.queries:g} (+{m.statements.control:g} tx)" if m.statements else "n/a"
    )
    tail = load.p99_ms / load.p50_ms if load.p50_ms else 0.0
    rss = f"{max(m.peak_rss, default=0) / MB:.0f}"
    if m.restarted_workers:
        rss += f" ({m.restarted_workers} workers killed by uvicorn as unresponsive)"
    windows = " / ".join(f"{window.rate:,.0f}" for window in m.loads)
    errors = sum(window.errors for window in m.loads)
    return (
        f"| {m.server} | {load.rate:,.1f} | {windows} | {_ms(load.p50_ms)} | {_ms(load.p99_ms)} "
        f"| {tail:.1f} | {errors} | {statements} | {m.cpu_percent:.0f} "
        f"| {m.cpu_ms_per_request:.2f} | {m.machine_cpu_percent:.0f} | {m.load_average:.1f} "
        f"| {rss} |"
    )


# req/s and latencies are the median window's; errors and CPU add up all windows. Machine
# CPU % is the whole machine's busy time in the windows (of 100 % per core): the server's,
# wrk's, PostgreSQL's and the other users' of a shared machine; load avg its 1-minute load
# average as each window began, averaged over the windows.
HEADER = (
    "| server | req/s | each window | p50 ms | p99 ms | p99/p50 | errors | SQL/req | CPU % "
    "| CPU ms/req | machine CPU % | load avg | peak RSS MB/worker |\n"
    "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|"
)


def _rate(results: dict[tuple[str, str], Measurement], server: str, operation: str) -> float:
    found = results.get((server, operation))
    load = found.load if found and not found.failure else None
    return load.rate if load else 0.0


def _mark(ok: bool | None) -> str:
    return "" if ok is None else "met" if ok else "**missed**"


def _quotient(results: dict[tuple[str, str], Measurement], over: str, operation: str) -> float:
    """gql_app's (one worker) req/s ÷ `over`'s, 0 when either did not run."""
    theirs, ours = _rate(results, over, operation), _rate(results, SINGLE, operation)
    return ours / theirs if theirs and ours else 0.0


def _times(value: float) -> str:
    return f"{value:.2f}×" if value else "n/a"


def _ratios(results: dict[tuple[str, str], Measurement], operation: str) -> str:
    """One line under an operation's figures: gql_app's req/s and CPU per request against
    the peer's and the floors'."""
    shares = []
    for other in (PEER, FLOOR, JSON_FLOOR):
        shares.append(f"÷ {other} {_times(_quotient(results, other, operation))}")
    ours, theirs = results.get((SINGLE, operation)), results.get((PEER, operation))
    cpu = (
        f"; CPU per request, PostGraphile's ÷ gql_app's: "
        f"{theirs.cpu_ms_per_request / ours.cpu_ms_per_request:.2f}×"
        if ours and theirs and ours.cpu_ms_per_request and theirs.cpu_ms_per_request
        else ""
    )
    return f"gql_app (1 worker) req/s {', '.join(shares)}{cpu}"


def _growth(rss_after_runs: list[int]) -> tuple[str, bool | None]:
    """The growth of RSS from the first nested run to the last, and its verdict."""
    if len(rss_after_runs) < 2:
        return "n/a (one run)", None
    first, last = rss_after_runs[0], rss_after_runs[-1]
    growth = (last - first) / first if first else 0.0
    return f"{growth:+.0%}", growth <= RSS_GROWTH_TOLERANCE


def _operation_verdicts(
    results: dict[tuple[str, str], Measurement], operation: str
) -> Iterable[Verdict]:
    ours = results.get((SINGLE, operation))
    if operation in PEER_TARGETS:
        quotient = _quotient(results, PEER, operation)
        wanted = PEER_TARGETS[operation]
        yield Verdict(
            f"{operation}: gql_app ÷ PostGraphile req/s",
            _times(quotient),
            f"≥ {wanted:g}×",
            quotient >= wanted if quotient else None,
            required=ours is not None,
        )
    for other in (FLOOR, JSON_FLOOR):
        if (other, operation) in results:
            quotient = _quotient(results, other, operation)
            yield Verdict(f"{operation}: gql_app ÷ {other} req/s", _times(quotient), "", None)
    if ours and ours.load and ours.load.p50_ms:
        tail = ours.load.p99_ms / ours.load.p50_ms
        yield Verdict(
            f"{operation}: gql_app p99 ÷ p50",
            f"{tail:.1f}",
            f"≤ {MAX_P99_OVER_P50:g}",
            tail <= MAX_P99_OVER_P50,
        )
    one, two = results.get((SINGLE, operation)), results.get((DOUBLE, operation))
    scaled, tolerance = CPU_PER_REQUEST_SCALING
    if operation in scaled and one and two and one.cpu_ms_per_request and two.cpu_ms_per_request:
        share = two.cpu_ms_per_request / one.cpu_ms_per_request - 1
        yield Verdict(
            f"{operation}: CPU per request, 2 workers against 1",
            f"{share:+.0%}",
            f"≤ {tolerance:+.0%}",
            share <= tolerance,
        )


def _observability_verdicts(
    results: dict[tuple[str, str], Measurement], operation: str
) -> Iterable[Verdict]:
    """Each variant (metrics on, tracing on) against one worker with both off: req/s and
    CPU per request, side by side in one run."""
    off = results.get((SINGLE, operation))
    for variant in VARIANTS:
        on = results.get((gql_app_name(1, variant), operation))
        if off is None or on is None:
            continue
        base = _rate(results, SINGLE, operation)
        quotient = _rate(results, on.server, operation) / base if base else 0.0
        cpu = (
            f" (CPU ms/req {off.cpu_ms_per_request:.2f} → {on.cpu_ms_per_request:.2f})"
            if off.cpu_ms_per_request and on.cpu_ms_per_request
            else ""
        )
        wanted = OBSERVABILITY_TARGETS.get((variant, operation))
        yield Verdict(
            f"{operation}: {variant} on ÷ off req/s",
            f"{_times(quotient)}{cpu}",
            f"≥ {wanted:g}×" if wanted else "",
            (quotient >= wanted if quotient else None) if wanted else None,
        )


def _memory_verdicts(results: dict[tuple[str, str], Measurement]) -> Iterable[Verdict]:
    for server in (SINGLE, DOUBLE):
        nested = results.get((server, "nested"))
        if nested and nested.peak_rss:
            peak = max(nested.peak_rss) / MB
            yield Verdict(
                f"nested, {server}: peak RSS per worker (max of runs)",
                f"{peak:.0f} MB",
                f"≤ {RSS_TARGET_MB:g} MB",
                peak <= RSS_TARGET_MB,
            )
            after = " → ".join(f"{rss / MB:.0f}" for rss in nested.rss_after_runs)
            yield Verdict(f"nested, {server}: RSS after each run", f"{after} MB", "", None)
            growth, ok = _growth(nested.rss_after_runs)
            yield Verdict(
                f"nested, {server}: RSS growth, first run to last",
                growth,
                f"≤ {RSS_GROWTH_TOLERANCE:+.0%} (no growth)",
                ok,
            )


def verdicts(results: dict[tuple[str, str], Measurement], operations: list[str]) -> list[Verdict]:
    """Every check of the targets for what ran, in the report's order."""
    found = [v for operation in operations for v in _operation_verdicts(results, operation)]
    found += [v for operation in operations for v in _observability_verdicts(results, operation)]
    found += _memory_verdicts(results)
    nested = results.get((SINGLE, "nested"))
    if nested and nested.statements:
        count = nested.statements.queries
        found.append(
            Verdict(
                "nested: SQL statements per request",
                f"{count:g}",
                f"≤ {NESTED_STATEMENTS_TARGET}",
                count <= NESTED_STATEMENTS_TARGET,
            )
        )
    return found


def misses(found: list[Verdict]) -> list[str]:
    """The checks `--check` fails on, each named with its figure and target."""
    return [
        f"{v.check} {v.measured if v.ok is not None else 'not measured'} (target {v.target})"
        for v in found
        if v.missed
    ]


def _targets(results: dict[tuple[str, str], Measurement], operations: list[str]) -> list[str]:
    lines = ["| check | measured | target | |", "|---|---:|---:|---|"]
    for v in verdicts(results, operations):
        mark = "**not measured**" if v.missed and v.ok is None else _mark(v.ok)
        lines.append(f"| {v.check} | {v.measured} | {v.target} | {mark} |")
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
    out += [
        "## Against PostGraphile, the floors and the targets",
        "",
        *_targets(results, [n for n, _ in ops]),
    ]
    title = "## Parity (gql_app's `data` equals each floor's, and the peer's but for spellings)"
    out += ["", title, ""]
    out += ["Values each request makes anew (new ids, tokens, expiry times) are left out.", ""]
    out += [f"- {name}: {verdict}" for name, verdict in parity.items()]
    for server in (SINGLE, PEER):
        out += ["", f"## SQL statements of {server}, per request", ""]
        for name, _ in ops:
            measured = results.get((server, name))
            if measured and measured.statements:
                out.append(f"- {name}:")
                out += [f"  - `{text}`" for text in measured.statements.texts]
    return "\n".join(out) + "\n"
