"""The ASGI middlewares: request id, body limit, admission, and the header reader they share."""
