"""`gql-app serve` with `METRICS_PORT`: its figures scraped with prometheus-client's own text
parser after a known sequence of requests, on both databases; the label cap; two workers'
figures added up; the JSON access log that replaces uvicorn's."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gql_app.cli import _metrics_directory
from tests.conftest import BACKENDS
from tests.support.metrics import Scrape, scrape, scrape_when
from tests.support.net import free_port
from tests.support.server import Served, served_database, serving

FEED = "query Feed { posts(first: 2) { edges { node { title } } } }"
BAD_CURSOR = '{ users(first: 1, after: "bogus") { totalCount } }'
ANONYMOUS_MUTATION = 'mutation { createPost(input: {title: "t", body: "b"}) { __typename } }'
REQUESTS = "gql_app_graphql_requests_total"
SETTINGS = {
    "access_log": "true",
    "log_format": "json",
    "metrics_max_operations": 3,
    "db_echo": "true",  # SQLAlchemy's lines too, in the same format
}


@dataclass
class Run:
    served: Served
    metrics_port: int
    log: Path
    request_ids: list[str]
    feed_cost: int
    metrics: Scrape


def _send(http: httpx.Client, served: Served, query: str, ids: list[str]) -> httpx.Response:
    response = http.post(f"{served.base_url}/graphql", json={"query": query})
    ids.append(response.headers["X-Request-ID"])
    return response


@pytest.fixture(scope="module", params=BACKENDS)
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """A server with metrics on, sent: Feed three times (the full path, then the fast path),
    B, C, D and E (the cap is 3 names: D and E are `other`), a bad cursor, an unknown field
    and an anonymous mutation; then scraped once the worker flushed them all."""
    folder = tmp_path_factory.mktemp("metrics")
    log = folder / "serve.log"
    metrics_port = free_port()
    url = served_database(request, folder)
    with serving(url, log, metrics_port=metrics_port, **SETTINGS) as served, httpx.Client() as http:
        ids: list[str] = []
        feed = [_send(http, served, FEED, ids).json() for _ in range(3)]
        for name in "BCDE":
            _send(http, served, f"query {name} {{ me {{ id }} }}", ids)
        for query in (BAD_CURSOR, "{ nope }", ANONYMOUS_MUTATION):
            _send(http, served, query, ids)
        yield Run(
            served,
            metrics_port,
            log,
            ids,
            feed[0]["extensions"]["cost"]["requested"],
            scrape_when(metrics_port, lambda metrics: metrics.total(REQUESTS) == len(ids)),
        )


def test_requests_are_counted_by_operation_type_and_outcome(run: Run) -> None:
    requests = "gql_app_graphql_requests_total"
    assert run.metrics.value(requests, operation="Feed", type="query", outcome="ok") == 3
    assert run.metrics.value(requests, operation="B", type="query", outcome="ok") == 1
    assert run.metrics.value(requests, operation="anonymous", type="mutation", outcome="ok") == 1
    bad = run.metrics.value(requests, operation="anonymous", type="query", outcome="BAD_USER_INPUT")
    assert bad == 1
    invalid = "GRAPHQL_VALIDATION_FAILED"
    assert run.metrics.value(requests, operation="anonymous", type="query", outcome=invalid) == 1


def test_operation_names_beyond_metrics_max_operations_are_other(run: Run) -> None:
    requests = "gql_app_graphql_requests_total"
    operations = run.metrics.labels_of(requests, "operation")
    assert operations == {"Feed", "B", "C", "anonymous", "other"}
    assert run.metrics.value(requests, operation="other", type="query", outcome="ok") == 2


def test_latency_statements_and_cost_are_observed_per_request(run: Run) -> None:
    feed = {"operation": "Feed", "type": "query"}
    duration = "gql_app_graphql_request_duration_seconds_count"
    assert run.metrics.value(duration, **feed, outcome="ok") == 3
    assert run.metrics.value("gql_app_graphql_statements_sum", **feed) == 3  # one page each
    assert run.metrics.value("gql_app_graphql_cost_sum", **feed) == 3 * run.feed_cost


def test_errors_are_counted_by_code(run: Run) -> None:
    assert run.metrics.value("gql_app_graphql_errors_total", code="BAD_USER_INPUT") == 1
    assert run.metrics.value("gql_app_graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED") == 1


def test_the_pool_is_reported_with_every_connection_back(run: Run) -> None:
    assert run.metrics.value("gql_app_db_pool_size", pool="primary") > 0
    assert run.metrics.value("gql_app_db_pool_checked_out", pool="primary") == 0
    assert run.metrics.value("gql_app_db_pool_waiting", pool="primary") == 0
    assert run.metrics.value("gql_app_db_pool_wait_seconds_count", pool="primary") >= 1
    assert run.metrics.value("gql_app_db_reconnects_total", pool="primary") == 0
    assert run.metrics.labels_of("gql_app_db_pool_size", "pool") == {"primary"}


def test_the_figures_of_the_worker_and_of_subscriptions_exist_at_zero(run: Run) -> None:
    for name in (
        "gql_app_admission_waiting",
        "gql_app_password_hashes_in_flight",
        "gql_app_websocket_connections",
        "gql_app_subscriptions_active",
        "gql_app_subscription_events_delivered_total",
        "gql_app_subscription_events_dropped_total",
        "gql_app_db_statement_timeouts_total",
        "gql_app_db_stale_statement_reruns_total",
    ):
        assert run.metrics.value(name) == 0, name


def test_the_api_port_does_not_serve_the_metrics(run: Run) -> None:
    assert httpx.get(f"{run.served.base_url}/metrics").status_code == 404


def _log_entries(run: Run) -> list[dict[str, object]]:
    """Every line `serve` wrote but the command's own (`gql-app: migrated ...`), parsed."""
    lines = run.log.read_text().splitlines()
    return [json.loads(line) for line in lines if not line.startswith("gql-app: ")]


def test_each_request_has_one_json_access_line_and_uvicorn_writes_none(run: Run) -> None:
    entries = _log_entries(run)
    access = [entry for entry in entries if entry["logger"] == "gql_app.access"]
    assert [entry["request_id"] for entry in access][: len(run.request_ids)] == run.request_ids
    assert not any(entry["logger"] == "uvicorn.access" for entry in entries)


def test_uvicorn_and_sqlalchemy_write_json_lines_too(run: Run) -> None:
    loggers = {entry["logger"] for entry in _log_entries(run)}
    assert loggers >= {"uvicorn.error", "gql_app.access", "sqlalchemy.engine.Engine"}


def _wait_for_startups(log: Path, workers: int) -> None:
    """Until `workers` workers have started their app (each logs it once)."""
    deadline = time.monotonic() + 60
    while log.read_text().count("Application startup complete") < workers:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


def test_two_workers_figures_are_added_up(sqlite_template: Path, tmp_path: Path) -> None:
    shutil.copyfile(sqlite_template, tmp_path / "test.db")
    url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    metrics_port = free_port()
    log = tmp_path / "serve.log"
    with serving(url, log, 2, metrics_port=metrics_port) as served:
        _wait_for_startups(log, 2)
        for _ in range(4):  # a connection each: the workers take turns accepting them
            with httpx.Client() as http:
                http.post(f"{served.base_url}/graphql", json={"query": FEED}).raise_for_status()
        metrics = scrape_when(metrics_port, lambda metrics: metrics.total(REQUESTS) == 4)
        # A graceful stop: killed, the supervisor would leave its workers running.
        served.process.send_signal(signal.SIGTERM)
        served.process.wait(timeout=60)
    feed = {"operation": "Feed", "type": "query", "outcome": "ok"}
    assert metrics.value(REQUESTS, **feed) == 4
    # each worker's pool of SQLite's 5
    assert metrics.value("gql_app_db_pool_size", pool="primary") == 2 * 5


def test_a_given_multiprocess_directory_is_emptied_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (tmp_path / "counter_4242.db").write_bytes(b"a previous run's figures")
    assert _metrics_directory() is None  # not serve's to remove
    assert list(tmp_path.iterdir()) == []


def test_without_one_serve_makes_a_multiprocess_directory_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # restored (unset) after the test
    made = _metrics_directory()
    try:
        assert made is not None
        assert made.is_dir()
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(made)
    finally:
        if made is not None:
            shutil.rmtree(made)


def _live_gauge_pids(folder: Path) -> set[int]:
    """The workers whose live gauges (`livesum`) the multiprocess directory holds."""
    return {int(path.stem.rsplit("_", 1)[1]) for path in folder.glob("gauge_livesum_*.db")}


def test_a_worker_that_died_no_longer_counts_in_the_live_gauges(
    sqlite_template: Path, tmp_path: Path
) -> None:
    shutil.copyfile(sqlite_template, tmp_path / "test.db")
    url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    folder, log, metrics_port = tmp_path / "multiprocess", tmp_path / "serve.log", free_port()
    settings = {"metrics_port": metrics_port, "prometheus_multiproc_dir": folder}
    with serving(url, log, 2, **settings) as served:
        _wait_for_startups(log, 2)
        first = _live_gauge_pids(folder)
        assert len(first) == 2
        dead = min(first)
        os.kill(dead, signal.SIGKILL)
        _wait_for_startups(log, 3)  # the supervisor replaced it
        metrics = scrape(metrics_port)
        live = _live_gauge_pids(folder)
        served.process.send_signal(signal.SIGTERM)
        served.process.wait(timeout=60)
    assert dead not in live
    assert metrics.value("gql_app_db_pool_size", pool="primary") == 2 * 5  # the live two
    assert _live_gauge_pids(folder) == set()  # and none once the server stopped
