"""Network helpers of the tests: a free local port, waiting for a server to listen, reading
what it sends until it closes, a proxy that can drop its connections silently."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    """Return once something accepts connections on `port`; fail if `process` exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} (exit status {process.poll()})")


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


class SilencingProxy:
    """A TCP proxy to `port` on this host, run in the test's event loop. `silence()` is a
    network drop that sends no packet: the connections open then stay open but carry nothing
    more either way (no FIN, no RST, no error); connections made later carry bytes again."""

    def __init__(self, port: int) -> None:
        self._target = port
        self._server: asyncio.Server | None = None
        self._connections: list[_Carried] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def __aenter__(self) -> SilencingProxy:
        self._server = await asyncio.start_server(self._carry, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for connection in self._connections:
            connection.close()

    def silence(self) -> None:
        for connection in self._connections:
            connection.silent = True

    async def _carry(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        server, to_server = await asyncio.open_connection("127.0.0.1", self._target)
        carried = _Carried((to_client, to_server))
        self._connections.append(carried)
        for reader, writer in ((client, to_server), (server, to_client)):
            task = asyncio.get_running_loop().create_task(carried.pump(reader, writer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


class _Carried:
    def __init__(self, writers: tuple[asyncio.StreamWriter, asyncio.StreamWriter]) -> None:
        self.writers = writers
        self.silent = False

    async def pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if not self.silent:  # silent: read and dropped, as a dead link would
                writer.write(data)
                await writer.drain()
        if not self.silent:
            writer.close()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()
