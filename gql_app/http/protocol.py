"""The HTTP/1.1 protocol `gql-app serve` runs: uvicorn's httptools one, with the limits it lacks.

uvicorn reads a request head of any size (a 50 MB header was read whole and answered 200)
and waits forever for a head or a body that never completes (slowloris). This protocol:

- counts the bytes of each request head as they arrive: past `MAX_HEADER_BYTES` it answers
  431 without reading the head further;
- closes a connection whose head is not complete `HEADER_TIMEOUT_SECONDS` after it began
  (for a new connection, after it opened), and one whose body is not complete
  `BODY_TIMEOUT_SECONDS` after its head: 408 where a response can still be sent.

After such an answer it stops sending, and drops what the client still sends for a moment
before closing, so that the client reads the answer rather than a connection reset.

uvicorn's h11 protocol has a head limit of its own, but answers 400 over it, times out
nothing either, and parses in Python.

A client that does not read leaves its response in the transport's write buffer, where
uvicorn's `close()` keeps it until it flushes. So while a connection's buffer is above the
high-water mark (uvicorn paused writing to it), it is aborted, its buffer freed:

- when its client read nothing for `SEND_TIMEOUT_SECONDS`;
- when the paused connections of the worker buffer more than `MAX_BUFFERED_RESPONSE_BYTES`
  between them: those paused longest first, until they are under it. (A connection that is
  not paused buffers less than the high-water mark, 64 KiB.)
"""

from __future__ import annotations

import asyncio
import functools
from typing import Literal

from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from gql_app.core.config import Settings, load_settings
from gql_app.core.errors import error_body

HEADER_TOO_LARGE = "REQUEST_HEADER_TOO_LARGE"
TIMEOUT = "REQUEST_TIMEOUT"
LINGER_SECONDS = 2.0

Phase = Literal["idle", "head", "body", "closing"]

# Read once per worker process: uvicorn builds a protocol for every connection.
_settings = functools.cache(load_settings)

# The worker's connections whose writing is paused, paused longest first.
_paused: dict[LimitedHttpToolsProtocol, None] = {}


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    settings: Settings

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.settings = _settings()
        self._phase: Phase = "head"  # a new connection owes a head
        self._head_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_phase: Phase = "idle"
        self._keep_deadline()
        self._send_deadline: asyncio.TimerHandle | None = None
        self._unsent = 0
        self._running: RequestResponseCycle | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._end_pause()
        self._disconnect_running()
        super().connection_lost(exc)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        self._running = cycle
        super()._start_asgi_task(cycle, app)

    def _disconnect_running(self) -> None:
        """Tell the request running that its client is gone (the ones queued never run).

        uvicorn tells only the last request it read: behind pipelined requests, the one running
        would write on to the closed transport (under uvloop, a RuntimeError and a traceback).
        """
        if self._running is not None and not self._running.response_complete:
            self._running.disconnected = True

    def pause_writing(self) -> None:
        super().pause_writing()
        _paused[self] = None
        self._arm_send_deadline()
        self._bound_buffered()

    def resume_writing(self) -> None:
        self._end_pause()
        super().resume_writing()

    def _end_pause(self) -> None:
        _paused.pop(self, None)
        if self._send_deadline is not None:
            self._send_deadline.cancel()
            self._send_deadline = None

    def _arm_send_deadline(self) -> None:
        self._unsent = self.transport.get_write_buffer_size()
        self._send_deadline = self.loop.call_later(
            self.settings.send_timeout_seconds, self._send_expired
        )

    def _send_expired(self) -> None:
        if self.transport.get_write_buffer_size() < self._unsent:
            # It reads, slowly: it has the time again, from now, and is the latest paused.
            _paused[self] = _paused.pop(self)
            self._arm_send_deadline()
            return
        seconds = self.settings.send_timeout_seconds
        self._abort(f"The client read nothing for SEND_TIMEOUT_SECONDS={seconds:g}.")

    def _bound_buffered(self) -> None:
        """Abort the connections paused longest while the paused ones buffer over the bound."""
        limit = self.settings.max_buffered_response_bytes
        buffered = sum(paused.transport.get_write_buffer_size() for paused in _paused)
        while buffered > limit:
            oldest = next(iter(_paused))
            buffered -= oldest.transport.get_write_buffer_size()
            oldest._abort(
                "Responses waiting on clients that do not read passed "
                f"MAX_BUFFERED_RESPONSE_BYTES={limit} bytes; this one waited longest."
            )

    def _abort(self, message: str) -> None:
        """Drop the connection and what its write buffer holds; the app's sends go nowhere."""
        self.logger.info("%s Aborted the connection.", message)
        self._end_pause()
        self._disconnect_running()
        self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._phase == "closing":
            return
        if self._phase != "body":
            self._head_bytes += len(data)
            if self._head_bytes > self.settings.max_header_bytes and not self._head_ends(data):
                self._refuse_head(
                    431,
                    "The request head is larger than "
                    f"MAX_HEADER_BYTES={self.settings.max_header_bytes} bytes.",
                    HEADER_TOO_LARGE,
                )
                return
        super().data_received(data)
        self._keep_deadline()

    def _head_ends(self, data: bytes) -> bool:
        """Whether the head ends within the limit in `data`, its last bytes read so far.

        A request pipelined behind it in the same read goes uncounted: at most one read more.
        """
        room = self.settings.max_header_bytes - (self._head_bytes - len(data))
        return data.find(b"\r\n\r\n", 0, room) != -1

    def handle_websocket_upgrade(self) -> None:
        self._phase = "idle"
        super().handle_websocket_upgrade()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = "head"

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._phase = "body"

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._phase = "idle"
        self._head_bytes = 0

    def _keep_deadline(self) -> None:
        """The deadline of the phase the connection is in, armed when the phase begins.

        Idle between requests, the connection is uvicorn's keep-alive timeout's to close.
        """
        if self._phase == self._deadline_phase:
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._deadline_phase = self._phase
        timeout = {
            "head": self.settings.header_timeout_seconds,
            "body": self.settings.body_timeout_seconds,
            "closing": LINGER_SECONDS,
        }.get(self._phase)
        if timeout is not None:
            self._deadline = self.loop.call_later(timeout, self._expired)

    def _expired(self) -> None:
        self._deadline = None
        if self._phase == "head" and self._head_bytes:
            seconds = self.settings.header_timeout_seconds
            message = f"The request head did not arrive within HEADER_TIMEOUT_SECONDS={seconds:g}."
            self._refuse_head(408, message, TIMEOUT)
        elif self._phase == "body" and not self.cycle.response_started:
            # The app waits for the rest of the body: it now learns the client is gone, and
            # nothing it sends is written.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
            seconds = self.settings.body_timeout_seconds
            message = f"The request body did not arrive within BODY_TIMEOUT_SECONDS={seconds:g}."
            self._answer(408, message, TIMEOUT)
        else:
            self.transport.close()

    def _refuse_head(self, status: int, message: str, code: str) -> None:
        """Answer a head that cannot be read; behind a response still due, only close."""
        if self.cycle is not None and not self.cycle.response_complete:
            self.logger.info("%s Closed the connection.", message)
            self.transport.close()
        else:
            self._answer(status, message, code)

    def _answer(self, status: int, message: str, code: str) -> None:
        """Write `status` with a GraphQL error body, then linger and close."""
        self.logger.info("%s Answered %d and closed the connection.", message, status)
        body = error_body(message, code)
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(head))
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self._phase = "closing"
        self._keep_deadline()
