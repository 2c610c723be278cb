"""PgBouncer in transaction pooling mode, run from the Debian package's binary: for the
reliability tests and the soak benchmark (`bench/soak --pgbouncer`)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.net import free_port, wait_for_port

_INI = """\
[databases]
* = host=127.0.0.1 port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {root}/users.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = {server_pool_size}
; what a typical deployment does about asyncpg's statement_timeout startup parameter
ignore_startup_parameters = statement_timeout
logfile = {root}/pgbouncer.log
"""


@dataclass(frozen=True)
class PgBouncer:
    port: int

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")


@contextmanager
def running_pgbouncer(binary: str, server_port: int, server_pool_size: int) -> Iterator[PgBouncer]:
    """PgBouncer on a free port of 127.0.0.1, trusting every client, in front of the PostgreSQL
    on `server_port`, with `server_pool_size` server connections per database; as `postgres`
    when run as root (PgBouncer refuses root)."""
    root = Path(tempfile.mkdtemp(prefix="gql_app_pgbouncer_"))
    port = free_port()
    (root / "users.txt").write_text('"postgres" ""\n')
    ini = root / "pgbouncer.ini"
    values = {"server_port": server_port, "port": port, "root": root}
    ini.write_text(_INI.format(server_pool_size=server_pool_size, **values))
    command = [binary, str(ini)]
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        # setpriv execs PgBouncer itself: runuser would stay its parent, and on SIGTERM wait
        # 2 s before it killed it
        user = ["--reuid=postgres", "--regid=postgres", "--init-groups"]
        command = ["setpriv", *user, *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield PgBouncer(port)
    finally:
        process.send_signal(signal.SIGTERM)  # PgBouncer 1.18: immediate shutdown
        process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
