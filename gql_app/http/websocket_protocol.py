"""The WebSocket protocol `gql-app serve` runs: uvicorn's websockets (sans-I/O) one, going
away politely.

On shutdown uvicorn closes every open socket with 1012 (service restart). A server that is
stopping is, to its clients, going away (1001): graphql-ws and browsers then reconnect,
to this worker's successor or another one. uvicorn stops accepting upgrades first.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

GOING_AWAY = 1001


class GoingAwayWebSocketProtocol(WebSocketsSansIOProtocol):
    def shutdown(self) -> None:
        if self.handshake_complete and self.initial_response is None and not self.close_sent:
            self.stop_keepalive()
            self.queue.put_nowait({"type": "websocket.disconnect", "code": GOING_AWAY})
            self.conn.send_close(GOING_AWAY, "server shutting down")
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()
        else:
            super().shutdown()
