"""What one request may ask of the server, and the API key: the guard rails in front of the model.

A public endpoint must bound the work a single request can cause: the body size (read before any JSON is
parsed), the prompt length, the number of new tokens, the number of choices, the time a generation may
run and how many requests may wait. Everything past a limit is a 4xx JSON error, never a crash.
"""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import LanternError


@dataclass(frozen=True)
class ServeLimits:
    max_body_bytes: int = 1 << 20  # 1 MiB of JSON is far more than any prompt a small model can use
    max_prompt_tokens: int = 8192  # longer prompts are refused (the model itself sees its last block_size)
    max_new_tokens: int = 1024  # ceiling on max_tokens
    default_new_tokens: int = 128  # when a request does not say (capped at max_new_tokens)
    max_choices: int = 8  # ceiling on n
    max_stop: int = 4  # stop sequences per request, as OpenAI allows
    max_stop_chars: int = 200  # a stop sequence is held back while it may still complete: each token costs its length
    max_messages: int = 1000  # chat history: every message is rendered (and most dropped) before the model runs
    request_timeout: float = 120.0  # seconds a request may spend in the queue and generating
    max_waiting: int = 256  # requests queued beyond this get 503 (the server is overloaded)
    max_active: int = 16  # generations at once (continuous batching: they share one forward pass per step)
    batch_rows: int = 32  # rows of the shared KV cache per model (a request with n choices takes n)
    batching: bool = True  # False: each request decodes alone, interleaved token by token (the old policy)
    attention_max_tokens: int = 64  # attention maps are T x T per head: keep the picture and the JSON small
    projection_max_tokens: int = 2000

    def validate(self) -> "ServeLimits":
        for name, value in vars(self).items():
            if isinstance(value, bool):
                continue
            if not (math.isfinite(value) and value > 0):
                raise LanternError(f"serve limit {name} must be a positive number, got {value}")
        return self


def key_matches(header: str | None, api_key: str) -> bool:
    """`Authorization: Bearer KEY`, compared in constant time (no timing hints about the key)."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), api_key.encode())


class BodySizeLimit:
    """ASGI middleware: refuse request bodies over `max_bytes` with 413 before the app parses them.

    A declared Content-Length is checked first; a chunked body is counted as it arrives. The accepted body is
    buffered and replayed to the app, and later `receive` calls pass through so disconnects are still seen."""

    def __init__(self, app: ASGIApp, max_bytes: int, error_response) -> None:
        self.app, self.max_bytes, self.error_response = app, max_bytes, error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._too_large(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left before sending the body
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._too_large(scope, receive, send)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self.error_response(413, f"request body larger than {self.max_bytes} bytes", "request_too_large")
        await response(scope, receive, send)


class ApiKeyCheck:
    """ASGI middleware: with a key set, /v1 and /api requests need `Authorization: Bearer KEY` (else 401).

    It runs before anything reads the body, so a wrong key learns nothing about the request's validity.
    The playground page itself is public; it asks for the key and sends it with its API calls."""

    PROTECTED = ("/v1/", "/api/")

    def __init__(self, app: ASGIApp, api_key: str | None, error_response) -> None:
        self.app, self.api_key, self.error_response = app, api_key, error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.api_key and scope["type"] == "http" and scope["path"].startswith(self.PROTECTED):
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            if not key_matches(header, self.api_key):
                response = self.error_response(401, "missing or wrong API key (send 'Authorization: Bearer KEY')",
                                               "invalid_api_key")
                return await response(scope, receive, send)
        await self.app(scope, receive, send)
