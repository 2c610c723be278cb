"""One measurement: an operation's load against one running server, with its costs."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import procstat
from bench.load import LoadResult, Request, run_wrk, write_requests
from bench.operations import Operation
from bench.servers import Server
from bench.sqlcount import StatementCount, StatementCounter


@dataclass(frozen=True)
class LoadPlan:
    seconds: float
    warmup_seconds: float
    connections: int
    count_requests: int
    repeats: int = 1  # measured windows per server, alternating with the other servers'


@dataclass
class Measurement:
    """What one (server, operation) pair gave."""

    server: str
    operation: str
    loads: list[LoadResult] = field(default_factory=list)  # one per repeat
    statements: StatementCount | None = None
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    peak_rss: list[int] = field(default_factory=list)  # max over workers, per repeat
    rss_after_runs: list[int] = field(default_factory=list)  # max over workers, per repeat
    restarted_workers: int = 0
    failure: str | None = None
    sample: Any = None  # the first response's `data`, for the parity check
    # CPU the whole machine spent busy during the windows: the server's, wrk's, PostgreSQL's
    # and whatever else ran (the machine is shared), in seconds.
    machine_cpu_seconds: float = 0.0
    # The machine's load average (1 minute) as each window began: how busy the others kept it.
    load_averages: list[float] = field(default_factory=list)

    @property
    def load(self) -> LoadResult | None:
        """The repeat of median throughput."""
        ranked = sorted(self.loads, key=lambda load: load.rate)
        return ranked[len(ranked) // 2] if ranked else None

    @property
    def cpu_percent(self) -> float:
        return 100 * self.cpu_seconds / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def machine_cpu_percent(self) -> float:
        return 100 * self.machine_cpu_seconds / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def load_average(self) -> float:
        return sum(self.load_averages) / len(self.load_averages) if self.load_averages else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        requests = sum(load.requests for load in self.loads)
        return 1000 * self.cpu_seconds / requests if requests else 0.0


def _post(server: Server, request: Request) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if request.token:
        headers["Authorization"] = f"Bearer {request.token}"
    return httpx.post(server.url, content=request.body, headers=headers, timeout=120)


def _failure(response: httpx.Response, expect: str) -> str | None:
    text = response.text
    if response.status_code != 200 or '"errors"' in text or expect not in text:
        return f"HTTP {response.status_code}: {text[:300]}"
    return None


IDLE_CPU_SHARE = 0.05


def wait_idle(servers: list[Server], timeout: float = 180) -> None:
    """Drain: wait until the servers have worked off requests that wrk gave up on (they run
    them on), so one server's backlog never lands in another's window."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [pid for server in servers for pid in server.processes()]
        before = procstat.cpu_seconds(pids)
        time.sleep(0.5)
        if procstat.cpu_seconds(pids) - before < IDLE_CPU_SHARE * 0.5 * len(servers):
            return


@dataclass(frozen=True)
class Load:
    """What one server is sent for one operation: the wrk request file and what answers hold."""

    requests_file: Path
    expect: str


def prepare(
    server: Server,
    operation: Operation,
    requests: list[Request],
    plan: LoadPlan,
    counter: StatementCounter | None,
    workdir: Path,
) -> tuple[Measurement, Load]:
    """Check one answer, count the statements of a few requests, then warm the server up."""
    result = Measurement(server.name, operation.name)
    expect = operation.expected(peer=server.peer)
    load = Load(workdir / f"{operation.name}-{server.port}.requests", expect)
    first = _post(server, requests[0])
    result.failure = _failure(first, expect)
    if result.failure:
        return result, load
    result.sample = orjson.loads(first.content).get("data")
    if counter is not None:
        counter.reset()
        for request in requests[1 : plan.count_requests + 1]:
            _post(server, request)
        result.statements = counter.read(plan.count_requests)
    write_requests(load.requests_file, requests)
    run_wrk(
        server.url, load.requests_file, seconds=plan.warmup_seconds, connections=plan.connections
    )
    return result, load


def window(server: Server, result: Measurement, load: Load, plan: LoadPlan) -> None:
    """One measured window of `load` against `server`, added to `result`."""
    restarts = server.restarts()
    result.load_averages.append(os.getloadavg()[0])
    for pid in server.workers():
        procstat.reset_peak(pid)
    pids = server.processes()
    cpu_before, wall_before = procstat.cpu_seconds(pids), time.monotonic()
    machine_before = procstat.machine_busy_seconds()
    figures = run_wrk(
        server.url,
        load.requests_file,
        seconds=plan.seconds,
        connections=plan.connections,
        expect=load.expect,
    )
    cpu = procstat.cpu_seconds(pids) - cpu_before
    wall = time.monotonic() - wall_before
    result.machine_cpu_seconds += procstat.machine_busy_seconds() - machine_before
    memories = [m for m in map(procstat.memory_if_alive, server.workers()) if m is not None]
    result.peak_rss.append(max((m.peak for m in memories), default=0))
    result.rss_after_runs.append(max((m.rss for m in memories), default=0))
    result.loads.append(figures)
    result.cpu_seconds += cpu
    result.wall_seconds += wall
    result.restarted_workers += server.restarts() - restarts
