"""Drives a server with `wrk` (a separate process) and reads its figures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).parent / "lua" / "requests.lua"
RESULT_PREFIX = "BENCH_RESULT "


class LoadError(RuntimeError):
    """wrk is missing or did not report."""


@dataclass(frozen=True)
class Request:
    """One HTTP request of a load: the JSON body and, when signed in, the bearer token."""

    body: bytes
    token: str | None = None


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    error_sample: str

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def write_requests(path: Path, requests: list[Request]) -> None:
    """The request file `requests.lua` reads: "<Authorization or ->\\t<body>" per line."""
    with path.open("wb") as out:
        for request in requests:
            auth = f"Bearer {request.token}".encode() if request.token else b"-"
            if b"\n" in request.body or b"\t" in request.body:
                raise ValueError("request bodies must be compact JSON on one line")
            out.write(auth + b"\t" + request.body + b"\n")


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise LoadError("wrk not found: install it (Debian: apt-get install wrk)")
    return found


def run_wrk(
    url: str,
    requests_file: Path,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    expect: str = '{"data":',
    timeout_seconds: int = 60,
) -> LoadResult:
    """Run wrk for `seconds` against `url` with the requests of `requests_file`."""
    command = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_seconds}s",
        "-s",
        str(LUA_SCRIPT),
        url,
    ]
    env = os.environ | {"BENCH_REQUESTS": str(requests_file), "BENCH_EXPECT": expect}
    done = subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=seconds + timeout_seconds + 30,
    )
    line = next((line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)), None)
    if line is None:
        raise LoadError(f"wrk did not report (exit {done.returncode}): {done.stderr.strip()}")
    raw = json.loads(line.removeprefix(RESULT_PREFIX))
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1e3,
        p90_ms=raw["p90_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
        max_ms=raw["max_us"] / 1e3,
        errors=raw["socket_errors"] + raw["timeouts"] + raw["bad_responses"],
        error_sample=raw["bad_sample"],
    )
