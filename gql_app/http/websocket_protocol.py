"""The WebSocket protocol `gql-app serve` runs: uvicorn's websockets one, going away politely.

On shutdown uvicorn closes every open socket with 1012 (service restart). A server that is
stopping is, to its clients, going away (1001): graphql-ws and browsers then reconnect,
to this worker's successor or another one. uvicorn stops accepting upgrades first.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_impl import WebSocketProtocol

GOING_AWAY = 1001


class GoingAwayWebSocketProtocol(WebSocketProtocol):
    def shutdown(self) -> None:
        if self.handshake_completed_event.is_set():
            self.ws_server.closing = True
            self.fail_connection(GOING_AWAY, "server shutting down")
            self.transport.close()
        else:
            super().shutdown()
