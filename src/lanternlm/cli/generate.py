"""`lantern sample`: generate text from a trained run, streamed to the terminal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .app import app
from .options import DEVICE


def stream_to_terminal(run, prompt: str, max_new_tokens: int, temperature: float, top_k: int,
                       seed: Optional[int], device=None) -> None:
    from ..generate import Engine

    engine = Engine(run.model, run.tokenizer, device or next(run.model.parameters()).device)
    sys.stdout.write(prompt)
    for piece in engine.stream(prompt, max_new_tokens, temperature=temperature, top_k=top_k, seed=seed):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    print(f"[{engine.stats.summary()}]", file=sys.stderr)


@app.command("sample")
def sample_command(
    run: Path = typer.Argument(..., help="Run directory."),
    prompt: str = typer.Option("\n", "--prompt", "-p", help="Text to continue; longer than the context, only its last block_size tokens are used."),
    max_new_tokens: int = typer.Option(500, "--max-new-tokens", "-n", help="Number of tokens to generate."),
    temperature: float = typer.Option(0.8, "--temperature", "-t", help="Softmax temperature; 0 = greedy."),
    top_k: int = typer.Option(0, "--top-k", "-k", help="Sample only from the k most likely tokens; 0 = all."),
    seed: Optional[int] = typer.Option(None, help="Random seed, for a repeatable sample."),
    device: Optional[str] = DEVICE,
) -> None:
    """Generate text from a trained model, streaming it to the terminal."""
    from ..device import resolve_device
    from ..errors import LanternError
    from ..runs import load_run

    if temperature < 0:
        raise LanternError(f"--temperature must be >= 0, got {temperature}")
    dev = resolve_device(device or "auto")
    loaded = load_run(run, dev)
    stream_to_terminal(loaded, prompt, max_new_tokens, temperature, top_k, seed, dev)
