"""`lantern inspect ...`: look inside a model; `inspect params` sizes one from its config; `lantern trace` follows
one text through every stage of a forward pass."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app
from ..errors import LanternError
from .options import DEVICE, SET_OPTION

inspect_app = typer.Typer(help="Look inside models: sizes, costs and what they compute.", no_args_is_help=True)
app.add_typer(inspect_app, name="inspect")

FALLBACK_VOCAB = 65  # the bundled Tiny Shakespeare's characters, for configs whose tokenizer sets the vocabulary


@inspect_app.command("params")
def params_command(
    target: Optional[Path] = typer.Argument(None, help="A config TOML file or a run directory (or use --preset)."),
    preset: Optional[str] = typer.Option(None, help="Preset name (see `lantern presets`)."),
    overrides: list[str] = SET_OPTION,
    dtype: str = typer.Option("float32", help="Bytes per value for weights and KV cache: float32 | bfloat16 | float16 | int8."),
) -> None:
    """Parameter breakdown (embedding, attention, MLP, norms, head), FLOPs per token and KV-cache bytes per token."""
    from ..config import apply_overrides, load_config_file, load_preset
    from ..inspect.params import BYTES_PER_VALUE, report
    from ..runs import load_run_config

    if dtype not in BYTES_PER_VALUE:
        raise LanternError(f"--dtype must be one of {', '.join(BYTES_PER_VALUE)}, got {dtype!r}")
    if (target is None) == (preset is None):
        raise LanternError("give a config file or run directory, or --preset NAME (one of them)")
    if preset:
        config = load_preset(preset)
    elif target.is_dir():
        config = load_run_config(target)
    else:
        config = load_config_file(target)
    config = apply_overrides(config, overrides).validate()
    if config.model.vocab_size == 0:
        config.model.vocab_size = FALLBACK_VOCAB
        typer.echo(f"(vocab_size comes from the tokenizer; assuming {FALLBACK_VOCAB}, Tiny Shakespeare's characters: "
                   "--set vocab_size=N for another)\n")
    typer.echo(report(config.model, dtype))


@app.command("trace")
def trace_command(
    run: Path = typer.Argument(..., help="Run directory."),
    text: str = typer.Argument(..., help="Text to send through the model, e.g. \"ROMEO:\"."),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="p = softmax(logits / T) for the last stage."),
    top: int = typer.Option(5, "--top", help="How many of the most likely next tokens to list."),
    as_json: bool = typer.Option(False, "--json", help="Print the trace as JSON (every stage, shape and value)."),
    device: Optional[str] = DEVICE,
) -> None:
    """Every stage of one forward pass with its tensor shape: tokens, ids, embeddings, each block (residual
    norm, attention entropy per head, active neurons), final norm, logits, probabilities, the chosen token."""
    import json

    from ..device import resolve_device
    from ..inspect.trace import render, trace
    from ..runs import load_run

    loaded = load_run(run, resolve_device(device or "auto"))
    result = trace(loaded.model, loaded.tokenizer, text, temperature, top)
    typer.echo(json.dumps(result.to_dict(), ensure_ascii=False) if as_json else render(result))
