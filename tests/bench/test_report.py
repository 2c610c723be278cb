"""The benchmark's report: ratios to PostGraphile and the floors, the targets `--check`
fails on, what parity ignores."""

from pathlib import Path

import pytest

from bench import cli
from bench.load import LoadResult
from bench.measure import Measurement
from bench.operations import BY_NAME, peer_node_id, same_rows
from bench.report import DOUBLE, MB, SINGLE, misses, render, verdicts
from bench.servers import FLOOR, JSON_FLOOR, METRICS, PEER, TRACING, gql_app_name


def _measured(
    server: str,
    operation: str,
    rate: float,
    rss_mb: tuple[int, ...] = (),
    p99_ms: float = 25,
    cpu_seconds: float = 0.0,
) -> Measurement:
    load = LoadResult(
        requests=int(rate * 10),
        seconds=10,
        p50_ms=10,
        p90_ms=20,
        p99_ms=p99_ms,
        max_ms=30,
        errors=0,
        error_sample="",
    )
    rss = [size * MB for size in rss_mb]
    return Measurement(
        server,
        operation,
        loads=[load],
        peak_rss=rss,
        rss_after_runs=rss,
        cpu_seconds=cpu_seconds,
        wall_seconds=10,
    )


def _results(measured: list[Measurement]) -> dict[tuple[str, str], Measurement]:
    return {(m.server, m.operation): m for m in measured}


def _report(measured: list[Measurement]) -> str:
    operations = [(name, BY_NAME[name].title) for name in ("nested", "tiny", "login")]
    return render(_results(measured), operations, [], {})


def test_report_gives_every_operation_its_ratios_to_the_peer_and_the_floors() -> None:
    report = _report(
        [
            _measured(PEER, "tiny", 50, cpu_seconds=3),
            _measured(FLOOR, "tiny", 100),
            _measured(JSON_FLOOR, "tiny", 80),
            _measured(SINGLE, "tiny", 40, cpu_seconds=2),
        ]
    )
    assert (
        "gql_app (1 worker) req/s ÷ PostGraphile 0.80×, ÷ floor 0.40×, ÷ json floor 0.50×; "
        "CPU per request, PostGraphile's ÷ gql_app's: 1.20×"
    ) in report
    assert "| tiny: gql_app ÷ PostGraphile req/s | 0.80× | ≥ 1× | **missed** |" in report
    assert "| tiny: gql_app ÷ json floor req/s | 0.50× |  |  |" in report


def test_check_names_every_operation_below_its_target_against_the_peer() -> None:
    results = _results(
        [
            _measured(PEER, "nested", 10),
            _measured(SINGLE, "nested", 16),
            _measured(PEER, "tiny", 100),
            _measured(SINGLE, "tiny", 99),
            _measured(PEER, "page", 100),
            _measured(SINGLE, "page", 130),
            _measured(PEER, "write", 100),
            _measured(SINGLE, "write", 40),
        ]
    )
    missed = misses(verdicts(results, ["nested", "tiny", "page", "write"]))
    assert missed == [
        "tiny: gql_app ÷ PostGraphile req/s 0.99× (target ≥ 1×)",
        "write: gql_app ÷ PostGraphile req/s 0.40× (target ≥ 0.5×)",
    ]


def test_check_fails_a_latency_tail_over_three_times_the_median() -> None:
    results = _results([_measured(PEER, "login", 10), _measured(SINGLE, "login", 10, p99_ms=31)])
    assert misses(verdicts(results, ["login"])) == ["login: gql_app p99 ÷ p50 3.1 (target ≤ 3)"]


def test_check_fails_an_operation_the_peer_did_not_answer() -> None:
    results = _results([_measured(FLOOR, "page", 100), _measured(SINGLE, "page", 150)])
    assert misses(verdicts(results, ["page"])) == [
        "page: gql_app ÷ PostGraphile req/s not measured (target ≥ 1.2×)"
    ]


def test_check_compares_cpu_per_request_of_two_workers_with_one() -> None:
    results = _results(
        [
            _measured(PEER, "tiny", 100),
            _measured(SINGLE, "tiny", 100, cpu_seconds=5),
            _measured(DOUBLE, "tiny", 100, cpu_seconds=5.6),
        ]
    )
    assert misses(verdicts(results, ["tiny"])) == [
        "tiny: CPU per request, 2 workers against 1 +12% (target ≤ +10%)"
    ]


def test_check_passes_when_every_target_is_met() -> None:
    results = _results(
        [
            _measured(PEER, "nested", 10),
            _measured(SINGLE, "nested", 15, rss_mb=(100, 104, 105)),
        ]
    )
    assert misses(verdicts(results, ["nested"])) == []


def test_check_exits_non_zero_naming_what_is_below_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Cluster:
        def __enter__(self) -> str:
            return "postgresql://bench"

        def __exit__(self, *_exc: object) -> None:
            return None

    monkeypatch.setattr(cli, "bench_cluster", lambda _root: Cluster())
    monkeypatch.setattr(cli, "run", lambda _args, _url: ("report", ["tiny: too slow"]))
    with pytest.raises(SystemExit, match="below target: tiny: too slow"):
        cli.main(["--check"])
    cli.main([])


def test_report_checks_memory_targets() -> None:
    report = _report(
        [
            _measured(SINGLE, "nested", 5, rss_mb=(100, 104, 105)),
            _measured(DOUBLE, "nested", 8, rss_mb=(100, 120, 140)),
        ]
    )
    single, double = (
        f"| nested, {server}: RSS growth, first run to last | {growth} | ≤ +10% (no growth) "
        for server, growth in ((SINGLE, "+5%"), (DOUBLE, "+40%"))
    )
    assert single + "| met |" in report
    assert double + "| **missed** |" in report
    assert "| nested: gql_app ÷ PostGraphile req/s | n/a | ≥ 1.5× | **not measured** |" in report


def test_parity_ignores_only_what_each_request_makes_anew() -> None:
    login = BY_NAME["login"]
    user = {"id": "VXNlcjox", "username": "user00001"}
    answer = {"__typename": "AuthSuccess", "user": user, "token": "t", "expiresAt": "2030"}
    other = answer | {"token": "u", "expiresAt": "2031"}
    assert login.comparable({"login": answer}) == login.comparable({"login": other})
    someone_else = other | {"user": user | {"username": "user00002"}}
    assert login.comparable({"login": answer}) != login.comparable({"login": someone_else})
    failed = {"login": {"__typename": "InvalidCredentials"}}
    assert login.comparable(failed) == failed


def test_the_peers_answer_equals_gql_apps_when_it_holds_the_same_rows() -> None:
    ours = {
        "posts": {
            "edges": [
                {
                    "node": {
                        "id": "UG9zdDoxMg==",
                        "createdAt": "2025-01-07T12:07:00+00:00",
                        "commentCount": 5,
                    }
                }
            ]
        }
    }
    node = {
        "id": peer_node_id("Post", 12),
        "createdAt": "2025-01-07T12:07:00.000000+00:00",
        "commentCount": {"totalCount": 5},
    }
    theirs = {"posts": {"edges": [{"node": node}]}}
    assert same_rows(ours) == same_rows(theirs)
    other_post = {"posts": {"edges": [{"node": node | {"id": peer_node_id("Post", 13)}}]}}
    assert same_rows(ours) != same_rows(other_post)


def test_metrics_on_is_checked_against_both_off_on_tiny() -> None:
    metrics, tracing = gql_app_name(1, METRICS), gql_app_name(1, TRACING)
    results = _results(
        [
            _measured(SINGLE, "tiny", 100, cpu_seconds=1),
            _measured(metrics, "tiny", 94, cpu_seconds=1),
            _measured(tracing, "tiny", 80, cpu_seconds=1),
        ]
    )
    found = {v.check: v for v in verdicts(results, ["tiny"])}
    assert found["tiny: metrics on ÷ off req/s"].ok is False
    assert found["tiny: metrics on ÷ off req/s"].measured == "0.94× (CPU ms/req 1.00 → 1.06)"
    assert found["tiny: tracing on ÷ off req/s"].ok is None  # measured, no target
    assert "tiny: metrics on ÷ off req/s 0.94× (CPU ms/req 1.00 → 1.06) (target ≥ 0.95×)" in (
        misses(list(found.values()))
    )


def test_a_server_spec_names_its_observability_variant(tmp_path: Path) -> None:
    names = [name for name, _ in cli._servers("1,1+metrics,2+tracing", "url", tmp_path, {})]
    assert names == [SINGLE, gql_app_name(1, METRICS), gql_app_name(2, TRACING)]


def test_an_unknown_variant_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="1\\+logs"):
        list(cli._servers("1+logs", "url", tmp_path, {}))
