"""The benchmark's report: ratios to the floor, the targets table, what parity ignores."""

from bench.load import LoadResult
from bench.measure import Measurement
from bench.operations import BY_NAME
from bench.report import DOUBLE, FLOOR, MB, SINGLE, render


def _measured(
    server: str, operation: str, rate: float, rss_mb: tuple[int, ...] = ()
) -> Measurement:
    load = LoadResult(
        requests=int(rate * 10),
        seconds=10,
        p50_ms=10,
        p90_ms=20,
        p99_ms=25,
        max_ms=30,
        errors=0,
        error_sample="",
    )
    rss = [size * MB for size in rss_mb]
    return Measurement(server, operation, loads=[load], peak_rss=rss, rss_after_runs=rss)


def _report(results: list[Measurement]) -> str:
    operations = [(name, BY_NAME[name].title) for name in ("nested", "tiny", "login")]
    return render({(m.server, m.operation): m for m in results}, operations, [], {})


def test_report_gives_every_operation_its_ratio_to_the_floor() -> None:
    report = _report(
        [
            _measured(FLOOR, "login", 20),
            _measured(SINGLE, "login", 10),
            _measured(DOUBLE, "login", 16),
        ]
    )
    assert "req/s ÷ floor: gql_app (1 worker) 0.50×, gql_app (2 workers) 0.80×" in report
    assert "| login: gql_app ÷ floor req/s | 0.50× | (none) |  |" in report


def test_report_checks_scaling_and_memory_targets() -> None:
    report = _report(
        [
            _measured(FLOOR, "tiny", 100),
            _measured(SINGLE, "tiny", 40),
            _measured(DOUBLE, "tiny", 64),
            _measured(SINGLE, "nested", 5, rss_mb=(100, 104, 105)),
            _measured(DOUBLE, "nested", 8, rss_mb=(100, 120, 140)),
        ]
    )
    assert "| tiny: 2 workers ÷ 1 worker req/s | 1.60× | ≥ 1.5× | met |" in report
    assert "| tiny: gql_app p99 ÷ p50 | 2.5 | ≤ 3 | met |" in report
    single, double = (
        f"| nested, {server}: RSS growth, first run to last | {growth} | ≤ +10% (no growth) "
        for server, growth in ((SINGLE, "+5%"), (DOUBLE, "+40%"))
    )
    assert single + "| met |" in report
    assert double + "| **missed** |" in report
    assert "| nested: gql_app ÷ floor req/s | n/a | ≥ 0.25× |  |" in report


def test_report_says_when_scaling_was_not_measured() -> None:
    report = _report([_measured(FLOOR, "tiny", 100), _measured(SINGLE, "tiny", 40)])
    assert "| tiny: 2 workers ÷ 1 worker req/s | n/a | ≥ 1.5× |  |" in report


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
