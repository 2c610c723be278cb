"""The request body as ASGI delivers it, for middlewares that read it and pass it on."""

from __future__ import annotations

from starlette.types import Message, Receive


async def receive_body(receive: Receive) -> tuple[list[Message], bytes]:
    """Every message of the request up to its last body part (or a disconnect), and the body
    they carry: the messages let the app downstream receive the request again."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    if len(messages) == 1:
        return messages, messages[0].get("body", b"")
    return messages, b"".join(message.get("body", b"") for message in messages)
