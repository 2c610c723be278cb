"""A lean graphql-transport-ws subscriber for bench/fanout: many sockets in one process.

The benchmark's client shares the machine's cores with the server it measures; a client
that spends more per message than the server would measure itself. Each socket is an
asyncio protocol around the `websockets` library's sans-I/O client (the handshake, framing
and masking are the library's): a received message is handed to a callback from
`data_received`, with no task, queue or wake-up per message. Like browsers and the `ws`
library, it offers compression (`permessage-deflate`); the server decides
(`WS_PER_MESSAGE_DEFLATE`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI, parse_uri

from bench.servers import Server

PROTOCOL = "graphql-transport-ws"
OPEN_CONCURRENCY = 50  # handshakes under way at once


class Subscriber(asyncio.Protocol):
    """One socket: `connection_init`, then `subscribe` operations; every text message of
    the server (but `ping`, answered with `pong`) goes to `on_message`."""

    def __init__(self, uri: WebSocketURI, on_message: Callable[[Subscriber, bytes], None]) -> None:
        self.protocol = ClientProtocol(
            uri,
            subprotocols=[Subprotocol(PROTOCOL)],
            extensions=[ClientPerMessageDeflateFactory()],  # offered, as browsers do
        )
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.acknowledged: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.live: asyncio.Future[None] = loop.create_future()  # set by the caller

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                if self.protocol.handshake_exc is not None:
                    self._fail(self.protocol.handshake_exc)
                    return
                self.send({"type": "connection_init"})
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                text = bytes(event.data)
                if text.startswith(b'{"type":"connection_ack"'):
                    self.acknowledged.set_result(None)
                elif text.startswith(b'{"type":"ping"'):
                    self.send({"type": "pong"})
                else:
                    self.on_message(self, text)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, message: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        self._flush()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _flush(self) -> None:
        if self.transport is not None:
            data = self.protocol.data_to_send()
            if data:
                self.transport.write(b"".join(data))

    def _fail(self, exc: BaseException) -> None:
        for future in (self.acknowledged, self.live):
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning


async def connect(url: str, on_message: Callable[[Subscriber, bytes], None]) -> Subscriber:
    """A socket to the graphql-transport-ws endpoint at `url` (ws://), acknowledged."""
    uri = parse_uri(url)
    loop = asyncio.get_running_loop()
    _, subscriber = await loop.create_connection(
        lambda: Subscriber(uri, on_message), uri.host, uri.port
    )
    await subscriber.acknowledged
    return subscriber


async def connect_many(
    url: str, count: int, on_message: Callable[[Subscriber, bytes], None]
) -> list[Subscriber]:
    """`count` acknowledged sockets to `url`, `OPEN_CONCURRENCY` handshakes at a time."""
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def one() -> Subscriber:
        async with gate:
            return await connect(url, on_message)

    return await asyncio.gather(*(one() for _ in range(count)))


def ws_url(server: Server) -> str:
    return server.url.replace("http://", "ws://")
