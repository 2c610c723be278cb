"""`serve --workers N` with metrics on: uvicorn's supervisor, telling prometheus-client's
multiprocess mode of every worker that ended.

Each worker writes its gauges to files of its own pid; the live gauges (pool, admission,
sockets) of a worker that ended would count on in the sum until its files are removed,
which `mark_process_dead` does. The supervisor is the one that sees workers end: killed as
unresponsive and replaced, retired by a restart (SIGHUP), or stopped with the server.
"""

from __future__ import annotations

from pathlib import Path
from socket import socket

from prometheus_client.multiprocess import mark_process_dead
from uvicorn import Config
from uvicorn.supervisors import Multiprocess


class MeteredWorkers(Multiprocess):
    """uvicorn's `Multiprocess`, removing the live gauges of each worker once it ended."""

    def __init__(self, config: Config, sockets: list[socket], directory: Path) -> None:
        super().__init__(config, sockets)
        self.directory = directory

    def _pids(self) -> set[int]:
        return {process.pid for process in self.processes if process.pid is not None}

    def _forget(self, pids: set[int]) -> None:
        for pid in pids:
            mark_process_dead(pid, str(self.directory))  # type: ignore[no-untyped-call]

    def keep_subprocess_alive(self) -> None:
        before = self._pids()
        super().keep_subprocess_alive()
        self._forget(before - self._pids())

    def restart_all(self) -> None:
        before = self._pids()
        super().restart_all()
        self._forget(before - self._pids())

    def join_all(self) -> None:
        super().join_all()
        self._forget(self._pids())
