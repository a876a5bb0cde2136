"""The web app: the OpenAI-compatible API (/v1), the playground API (/api) and the playground page (/).

`create_app` wires the pieces: models from run directories, one scheduler (the worker thread that owns
every model call), request limits, the optional API key, and JSON errors for everything that goes wrong.
`serve` runs it with uvicorn.
"""

from __future__ import annotations

import socket
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import LanternError

from ..classic.vectors import WordVectors
from . import inside_api, openai_api, playground_api
from .errors import error_response, install_error_handlers
from .limits import ApiKeyCheck, BodySizeLimit, ServeLimits
from .registry import ServedModel
from .scheduler import GenerationTimeout, Overloaded, Scheduler
from .state import ServerState

STATIC = Path(__file__).parent / "static"


def create_app(models: dict[str, ServedModel], limits: ServeLimits | None = None, api_key: str | None = None,
               runs_dir: str | Path | None = None, vectors: WordVectors | None = None) -> FastAPI:
    limits = (limits or ServeLimits()).validate()
    scheduler = Scheduler(limits.max_active, limits.max_waiting, limits.request_timeout)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        scheduler.start()
        yield
        scheduler.stop()

    app = FastAPI(title="Lantern", summary="OpenAI-compatible API and playground for Lantern models",
                  lifespan=lifespan)
    app.state.lantern = ServerState(models, limits, scheduler, Path(runs_dir) if runs_dir else None, api_key, vectors)
    install_error_handlers(app)

    @app.exception_handler(Overloaded)
    async def _overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        return error_response(503, str(exc), "overloaded")

    @app.exception_handler(GenerationTimeout)
    async def _timeout(request: Request, exc: GenerationTimeout) -> JSONResponse:
        return error_response(504, str(exc), "timeout")

    app.include_router(openai_api.router)
    app.include_router(playground_api.router)
    app.include_router(inside_api.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def playground() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    # outermost first: the key is checked before the body is read, the body size before it is parsed
    app.add_middleware(InternalErrors, error_response=error_response)
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes, error_response=error_response)
    app.add_middleware(ApiKeyCheck, api_key=api_key, error_response=error_response)
    return app


class InternalErrors:
    """ASGI middleware: an unexpected exception becomes a JSON 500 *response* (not a re-raised error, which
    would make the server drop the client's keep-alive connection). Once a response has started (a stream),
    the route reports errors itself."""

    def __init__(self, app: ASGIApp, error_response) -> None:
        self.app, self.error_response = app, error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            response = self.error_response(500, f"internal error ({exc.__class__.__name__}: {exc})", "internal_error")
            await response(scope, receive, send)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or a one-line error saying why not (port in use, no permission, bad host)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise LanternError(f"cannot listen on {host}:{port}: unknown host ({exc})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise LanternError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def serve(app: FastAPI, sock: socket.socket) -> None:
    """Run the app with uvicorn on a socket from `listening_socket` (bound first, so a bad address is one
    clear line before anything is loaded)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="info", timeout_graceful_shutdown=5))
    server.run(sockets=[sock])
