"""`lantern serve`: an OpenAI-compatible API and the web playground for one or more runs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app
from .options import DEVICE, WEIGHTS


@app.command("serve")
def serve_command(
    runs: list[Path] = typer.Argument(..., help="Run directories to serve; each is a model named after its directory."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 exposes the server to your network)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="LANTERN_API_KEY", help="Require 'Authorization: Bearer KEY' on /v1 and /api (also read from LANTERN_API_KEY)."),
    runs_dir: Optional[Path] = typer.Option(None, "--runs-dir", help="Directory whose runs the Training tab lists; default: the first run's parent."),
    vectors: Optional[Path] = typer.Option(None, "--vectors", help="A word2vec vector file (.vec text or .bin) for the Embeddings tab's word analogies."),
    max_tokens: int = typer.Option(1024, "--max-tokens", help="Largest max_tokens a request may ask for."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds a request may wait and generate before it fails with 504."),
    max_body: int = typer.Option(1 << 20, "--max-body", help="Largest request body, in bytes (larger is refused with 413)."),
    batching: bool = typer.Option(True, "--batching/--no-batching", help="Requests for a model share one forward pass per step (continuous batching); --no-batching decodes each alone, interleaved."),
    threads: Optional[int] = typer.Option(None, "--threads", help="PyTorch CPU threads for the model; default: PyTorch's choice (1 is often fastest for small models on a busy machine)."),
    device: Optional[str] = DEVICE,
    dtype: Optional[str] = WEIGHTS,
) -> None:
    """Serve models over HTTP: /v1 (OpenAI-compatible), /api and the playground at http://HOST:PORT/."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        from ..errors import LanternError

        raise LanternError("serving needs FastAPI and uvicorn: pip install 'lanternlm[serve]'") from None
    from ..device import resolve_device
    from ..errors import LanternError
    from ..serve import ServeLimits, create_app, load_models, serve
    from ..serve.app import listening_socket

    if not 0 < port < 65536:
        raise LanternError(f"--port must be in 1..65535, got {port}")
    if threads is not None:
        if threads < 1:
            raise LanternError(f"--threads must be at least 1, got {threads}")
        import torch

        torch.set_num_threads(threads)
    limits = ServeLimits(max_new_tokens=max_tokens, request_timeout=timeout, max_body_bytes=max_body,
                         batching=batching).validate()
    sock = listening_socket(host, port)
    models = load_models(runs, resolve_device(device or ("cpu" if dtype == "int8" else "auto")), dtype)
    word_vectors = None
    if vectors is not None:
        from ..classic.vectors import WordVectors

        word_vectors = WordVectors.load(vectors)
    application = create_app(models, limits, api_key, runs_dir or runs[0].resolve().parent, word_vectors)
    typer.echo(f"serving {', '.join(models)} on http://{host}:{port}/ (playground) and http://{host}:{port}/v1")
    serve(application, sock)
