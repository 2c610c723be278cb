"""The request body as ASGI delivers it, read once for the middlewares that read it and pass it on.

The first middleware to read the body (the body limit) hands the app downstream a `Replay`:
a `receive` that gives the same messages again, and holds the body they carry. A middleware
after it that reads the body too (`received`) takes it from the replay, with no message
received again; one that rewrites it hands on a replay of the new body, and may attach the
parameters it parsed from it, for the next not to parse them again.
"""

from __future__ import annotations

from starlette.types import Message, Receive


class Replay:
    """A `receive` that gives back the request's messages, already read, then the
    connection's own; with the body they carry (`body`) and, when a middleware parsed it and
    handed it on, what it parsed (`parameters`)."""

    __slots__ = ("body", "messages", "parameters", "receive", "started")

    def __init__(
        self,
        messages: list[Message],
        body: bytes,
        receive: Receive,
        parameters: object = None,
    ) -> None:
        self.messages = messages
        self.body = body
        self.receive = receive
        self.parameters = parameters
        self.started = False  # a message was given back: the replay is no longer whole

    async def __call__(self) -> Message:
        self.started = True
        return self.messages.pop(0) if self.messages else await self.receive()

    def replaced(self, body: bytes, parameters: object) -> Replay:
        """A replay of `body` instead of this one's (whose messages it never gives back)."""
        return Replay([{"type": "http.request", "body": body}], body, self.receive, parameters)


def replay_of(messages: list[Message], receive: Receive) -> Replay:
    """The replay of `messages`, the request's up to its last body part (or a disconnect)."""
    if len(messages) == 1:
        body: bytes = messages[0].get("body", b"")
    else:
        body = b"".join(message.get("body", b"") for message in messages)
    return Replay(messages, body, receive)


async def received(receive: Receive) -> Replay:
    """Every message of the request up to its last body part (or a disconnect), as a replay
    for the app downstream: the one `receive` is, if it is a whole replay already."""
    if type(receive) is Replay and not receive.started:
        return receive
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    return replay_of(messages, receive)
