"""`lantern train`, `lantern quickstart`, `lantern eval`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from .app import app, eval_app
from .options import DEVICE, SET_OPTION, WEIGHTS

QUICKSTART_PRESET = "shakespeare-char-cpu"


def _print_result(result) -> None:
    def figure(value, spec):
        return "n/a" if value is None else format(value, spec)

    done = f"trained {result.steps} steps" if result.trained_now else f"already trained to {result.steps} steps"
    typer.echo(f"{done}: val loss {figure(result.val_loss, '.4f')}, {figure(result.ms_per_iter, '.1f')} ms/iter, "
               f"{figure(result.tokens_per_sec, ',.0f')} tokens/s -> {result.run_dir}")


def _train(config, out: Path, **options):
    """`train()`, its Python-API wording of "this folder already holds a run" put in the CLI's flags."""
    from ..errors import LanternError
    from ..runs import RunExistsError
    from ..train import train

    try:
        return train(config, out, **options)
    except RunExistsError as exc:
        raise LanternError(f"{exc.root} already holds a run ({exc.state}); use --resume to continue it, "
                           "--overwrite to replace it, or choose another --out") from None


@app.command("train")
def train_command(
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to create (or continue with --resume)."),
    preset: Optional[str] = typer.Option(None, help="Preset name (see `lantern presets`)."),
    config: Optional[Path] = typer.Option(None, "--config", help="A TOML config file (e.g. a run's config.toml)."),
    overrides: list[str] = SET_OPTION,
    input: list[Path] = typer.Option([], "--input", "-i", metavar="FILE", help="Training text file(s), .txt or .gz [data.input]; default: bundled Tiny Shakespeare."),
    val: Optional[Path] = typer.Option(None, "--val", help="Separate validation text [data.val_input]; default: the last data.val_fraction of the input."),
    data: Optional[Path] = typer.Option(None, "--data", help="A `lantern prepare`d token directory [data.data_dir]; its tokenizer is used."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its newest checkpoint (a finished run just reports its figures)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run in --out (only a Lantern run is ever replaced)."),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Start from another run's weights, tokenizer and model shape (fine-tuning)."),
    device: Optional[str] = DEVICE,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a model: a preset or config, plus --set overrides, on your text or the bundled corpus."""
    from ..config import apply_overrides, resolve_config
    from ..errors import LanternError
    from ..runs import load_run_config

    cli_overrides = list(overrides)
    if input:
        cli_overrides.append("data.input=" + ",".join(str(p) for p in input))
    if val:
        cli_overrides.append(f"data.val_input={val}")
    if data:
        cli_overrides.append(f"data.data_dir={data}")
    if device:
        cli_overrides.append(f"train.device={device}")
    if resume:
        if preset or config or init_from or overwrite:
            raise LanternError("--resume continues a run with its own config; "
                               "drop --preset/--config/--init-from/--overwrite")
        run_config = apply_overrides(load_run_config(out), cli_overrides)  # train() validates it
    else:
        run_config = resolve_config(preset, str(config) if config else None, cli_overrides)
    _print_result(_train(run_config, out, resume=resume, overwrite=overwrite, init_from=init_from, quiet=quiet))


@app.command("quickstart")
def quickstart_command(
    out: Path = typer.Option(Path("runs/quickstart"), "--out", "-o", help="Run directory."),
    fresh: bool = typer.Option(False, "--fresh", help="Replace an earlier quickstart run in --out and train again."),
    max_new_tokens: int = typer.Option(500, min=1, max=100_000, help="Length of the sample printed at the end."),
    seed: int = typer.Option(1337, min=0, max=2**63 - 1, help="Sampling seed."),
) -> None:
    """Train the baby GPT (preset shakespeare-char-cpu) on bundled Tiny Shakespeare, then print a sample.

    Running it again continues the run in --out (finishing at once if it is complete) unless --fresh.
    """
    from ..config import resolve_config
    from ..generate import Engine, GenerationConfig
    from ..runs import RunPaths, load_run, load_run_config
    from .generate import stream_to_terminal

    sampling = GenerationConfig(max_new_tokens=max_new_tokens, temperature=0.8, seed=seed).validate()  # before training
    existing = RunPaths(out).config.is_file() and not fresh
    config = load_run_config(out) if existing else resolve_config(QUICKSTART_PRESET)
    _print_result(_train(config, out, resume=existing, overwrite=fresh))
    run = load_run(out)
    typer.echo(f"\n--- sample ({max_new_tokens} characters, temperature 0.8, seed {seed}) ---")
    stream_to_terminal(Engine(run.model, run.tokenizer), "\n", sampling)


@eval_app.command("run")
def eval_command(
    run: Path = typer.Argument(..., help="Run directory."),
    input: Optional[Path] = typer.Option(None, "--input", "-i", metavar="FILE", help="Text file to score (.txt or .gz)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Score the validation split of a `lantern prepare`d directory; for a classifier run, a JSONL file of labelled examples."),
    stride: int = typer.Option(0, help="Sliding-window step in tokens; smaller gives each token more context. 0 = block_size (no overlap)."),
    pairs: Optional[Path] = typer.Option(None, "--pairs", metavar="FILE.tsv", help="Translation runs: score these tab-separated sentence pairs (default: the run's validation pairs)."),
    source_column: int = typer.Option(0, "--source-column", help="With --pairs: the column (from 0) of the source sentence."),
    target_column: int = typer.Option(1, "--target-column", help="With --pairs: the column (from 0) of the reference translation."),
    beam: int = typer.Option(1, "--beam", help="Translation runs: beam search with this many beams; 1 = greedy."),
    length_penalty: float = typer.Option(1.0, "--length-penalty", help="Translation runs with --beam > 1: beam score = log p / length^this, as `lantern translate`."),
    limit: int = typer.Option(0, "--limit", help="Translation runs: score only the first N pairs; 0 = all."),
    tokens: bool = typer.Option(False, "--tokens", help="Also print every scored token with p and -log p (coloured) and the running mean."),
    device: Optional[str] = DEVICE,
    dtype: Optional[str] = WEIGHTS,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Score held-out text: mean loss (nats/token), perplexity = exp(loss), and bits per byte. A translation
    (seq2seq) run: BLEU and chrF of its translations of held-out pairs, and loss per target token.

    Default: the run's own validation split. Bits per byte do not depend on the tokenizer, so character
    and BPE models compare on the same text. --tokens shows the loss of each token: its mean is the loss.
    A classifier run (`lantern finetune classify`) reports accuracy, macro-F1 and the confusion matrix instead;
    an encoder (bert family) is scored on masked tokens: loss and accuracy at the positions BERT's masking
    picks (the run's seed: the same masks every time).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..data import TokenWindows
    from ..data.splits import objective_split, prepared_splits, validation_split
    from ..device import resolve_device
    from ..errors import LanternError
    from ..eval import evaluate_masked, evaluate_windows, token_byte_lengths
    from ..io import read_text
    from ..runs import load_run

    if input and data:
        raise LanternError("give --input or --data, not both")
    dev = resolve_device(device or ("cpu" if dtype == "int8" else "auto"))
    loaded = load_run(run, dev, quantize=dtype)
    if loaded.config.finetune.task == "classify":
        from .finetune import evaluate_classifier

        return evaluate_classifier(loaded, input or data, dev)
    if loaded.model.is_encoder_decoder or pairs is not None:
        from .translate import eval_translation

        if input or data or stride or tokens:
            raise LanternError("--input, --data, --stride and --tokens score a token stream; a translation run "
                               "takes --pairs")
        return eval_translation(loaded, pairs, source_column, target_column, beam, length_penalty, limit, quiet)
    block_size = loaded.model.config.block_size  # an adapted model's soft prompt takes some positions
    if not 0 <= stride <= block_size:
        raise LanternError(f"--stride must be between 1 and block_size ({block_size}), or 0")
    encoder = loaded.config.model.family == "bert"
    if encoder and (stride or tokens):
        raise LanternError("--stride and --tokens are for next-token scoring; an encoder is scored on masked tokens "
                           "in whole windows")
    if encoder and not loaded.config.model.mlm_head:
        raise LanternError(f"{run} has no masked-LM head (a sentence-embedding model), so there is no loss to score; "
                           "use it with `lantern embed`")

    if input is not None:
        source, scored = str(input), TokenWindows.from_text(loaded.tokenizer, read_text(input), str(input))
    elif data is not None:
        source, scored = f"{data} (validation split)", prepared_splits(data, loaded.tokenizer)[2]
    else:
        source, scored = validation_split(loaded.config, loaded.tokenizer)
    scored.check_fits(1)
    progress = Progress(TextColumn("[bold]scoring windows"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=Console(stderr=True), disable=quiet, transient=True)
    task = progress.add_task("eval", total=None)
    follow = lambda done, total: progress.update(task, completed=done, total=total)  # noqa: E731
    per_token: list[tuple[int, float]] = []
    with progress:
        if encoder:
            masked = objective_split(loaded.config, loaded.tokenizer, scored)
            result = evaluate_masked(loaded.model, masked, block_size, device=dev, on_progress=follow)
        else:
            result = evaluate_windows(loaded.model, scored, block_size, token_byte_lengths(loaded.tokenizer),
                                      stride=stride or None, device=dev, on_progress=follow,
                                      on_scored=lambda ids, nll: per_token.extend(zip(ids.tolist(), nll.tolist())))
    if tokens:
        print_token_losses(loaded.tokenizer, per_token, int(scored.window(0, 1)[0]))
    typer.echo(f"{source}: {result.summary()}")


SURPRISE_COLOURS = ((0.5, "green"), (0.1, "yellow"), (0.01, "dark_orange"), (0.0, "red"))  # p at least -> colour


def print_token_losses(tokenizer, per_token: list[tuple[int, float]], first_id: int) -> None:
    """The text coloured by how surprising each token was, then one row per token: p, -log p and the running
    mean of -log p, which after the last token is the cross-entropy."""
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True)
    colour = [next(c for floor, c in SURPRISE_COLOURS if math.exp(-nll) >= floor) for _, nll in per_token]
    text = Text(tokenizer.token_text(first_id), style="dim")  # context only: nothing predicts the first token
    for (token_id, _), style in zip(per_token, colour):
        text.append(tokenizer.token_text(token_id), style=style)
    console.print(text)
    console.print(f"\n{'#':>6}  {'token':<14}{'p':>8}  {'-log p':>8}  {'running mean':>12}"
                  "   (the first token is context only)")
    total = 0.0
    for n, ((token_id, nll), style) in enumerate(zip(per_token, colour), 1):
        total += nll
        row = Text(f"{n:>6}  ")
        row.append(f"{tokenizer.token_text(token_id)!r:<14}", style=style)
        row.append(f"{math.exp(-nll):>8.4f}  {nll:>8.4f}  {total / n:>12.4f}")
        console.print(row)


@app.command("plot")
def plot_command(
    runs: list[Path] = typer.Argument(..., help="One or more run directories."),
    out: Path = typer.Option(Path("loss.png"), "--out", "-o", help="PNG file to write."),
) -> None:
    """Draw train/validation loss and learning-rate curves of one or more runs on one chart."""
    from ..errors import LanternError
    from ..runs import RunPaths
    from ..train.plot import plot_runs

    files = {}
    for run in runs:
        paths = RunPaths(run)
        if not paths.metrics.is_file():
            raise LanternError(f"{run}: no metrics.jsonl (is it a Lantern run?)")
        files[str(run)] = paths.metrics
    plot_runs(files, out)
    typer.echo(f"wrote {out}")


@app.command("presets")
def presets_command() -> None:
    """List the built-in presets."""
    from ..config import load_preset, preset_names

    for name in preset_names():
        m = load_preset(name).model
        typer.echo(f"{name:24} {m.n_layer} layers, {m.n_head} heads, {m.n_embd} dims, block {m.block_size}")
