"""`lantern translate`: translate sentences with an encoder–decoder run, and draw the alignment."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer

from ..errors import LanternError
from .app import app
from .generate import load_engine
from .options import DEVICE, progress_console


@app.command("translate")
def translate_command(
    run: Path = typer.Argument(..., help="Run directory of an encoder–decoder (seq2seq) model."),
    texts: list[str] = typer.Argument(None, help="Sentence(s) to translate, e.g. \"Where do you live?\"."),
    input: Optional[Path] = typer.Option(None, "--input", "-i", metavar="FILE", help="Translate every line of this file (one sentence per line), in batches."),
    beam: int = typer.Option(1, "--beam", "--num-beams", help="Beam search with this many beams; 1 = greedy (or sampling with --temperature)."),
    length_penalty: float = typer.Option(1.0, "--length-penalty", help="Beam score = log p / length^this; > 0 favours longer translations."),
    temperature: float = typer.Option(0.0, "--temperature", "-t", help="0 = greedy; > 0 samples from softmax(logits / T) (with --beam 1)."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling when --temperature > 0; 1 = all tokens."),
    seed: Optional[int] = typer.Option(None, help="Random seed for sampling."),
    max_new_tokens: int = typer.Option(0, "--max-new-tokens", "-n", help="Longest translation in tokens; 0 = the model's window."),
    batch_size: int = typer.Option(32, "--batch-size", help="Sentences decoded together (each beam is a row)."),
    alignment: Optional[Path] = typer.Option(None, "--alignment", metavar="PNG", help="Draw the cross-attention of the (one) translation as a source x target heat-map."),
    layer: Optional[int] = typer.Option(None, "--layer", help="With --alignment: one decoder layer (from 0); default: the mean of all."),
    head: Optional[int] = typer.Option(None, "--head", help="With --alignment and --layer: one head (from 0); default: the mean of the layer's heads."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Re-run the encoder and the whole target every step (the slow reference path)."),
    device: Optional[str] = DEVICE,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or statistics."),
) -> None:
    """Translate sentences (arguments or --input FILE, one per line); translations go to stdout, one per line."""
    from ..generate import GenerationConfig
    from ..generate.translate import translate
    from ..io import check_writable

    if bool(texts) == (input is not None):
        raise LanternError("give the sentences to translate as arguments or with --input FILE (one of them)")
    if batch_size <= 0:
        raise LanternError(f"--batch-size must be positive, got {batch_size}")
    if alignment is None and (layer is not None or head is not None):
        raise LanternError("--layer and --head choose what --alignment draws; give --alignment PNG too")
    config = GenerationConfig(max_new_tokens=max_new_tokens or 1_000_000, temperature=temperature, top_p=top_p,
                              num_beams=beam, length_penalty=length_penalty, seed=seed,
                              use_cache=not no_cache).validate()
    lines = read_sentences(input) if input is not None else list(texts)
    if alignment is not None and len(lines) != 1:
        raise LanternError(f"--alignment draws one translation; {len(lines)} sentences were given")
    if alignment is not None:
        check_writable(alignment)
    engine = load_engine(run, device)
    if alignment is not None and engine.model.is_encoder_decoder:  # a bad --layer/--head: no translation printed
        from ..inspect.alignment import check_heads

        check_heads(engine.model.config.decoder_layers, engine.model.config.n_head, layer, head)
    started = time.perf_counter()
    with sentence_progress(len(lines), quiet or len(lines) < 2 * batch_size) as advance:
        results = translate(engine, lines, config, batch_size, advance)
    seconds = time.perf_counter() - started
    for result in results:
        typer.echo(result.text)
    if not quiet:
        print(f"[{len(results)} sentence(s) in {seconds:.2f} s, {len(results) / seconds:.1f} sentences/s, "
              f"beam {beam}]", file=sys.stderr)
    if alignment is not None:
        draw_alignment(engine, results[0], alignment, layer, head)
        print(f"wrote {alignment}", file=sys.stderr)


def read_sentences(path: Path) -> list[str]:
    """The lines of a file; an empty line is an error naming it (a translation per line keeps lines aligned)."""
    from ..io import read_text

    lines = read_text(path).splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise LanternError(f"{path}:{number}: empty line (one sentence per line)")
    return lines


def sentence_progress(total: int, disabled: bool):
    """A progress bar over sentences on stderr; the context yields a callback taking the number done."""
    from contextlib import contextmanager

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    @contextmanager
    def bar():
        console, off = progress_console(disabled)
        progress = Progress(TextColumn("[bold]translating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            console=console, disable=off, transient=True)
        task = progress.add_task("translate", total=total)
        with progress:
            yield lambda done: progress.update(task, completed=done)

    return bar()


def draw_alignment(engine, result, out: Path, layer: int | None, head: int | None) -> None:
    from ..data.pairs import source_tokenizer
    from ..generate.translate import alignment as alignment_weights
    from ..inspect.alignment import plot_alignment, select_heads

    weights, shown = select_heads(alignment_weights(engine, result), layer, head)
    source_tokens = [source_tokenizer(engine.tokenizer).token_text(i) for i in result.source_ids]
    target_tokens = [engine.tokenizer.token_text(i) for i in result.target_ids] + ["<|endoftext|>"]
    plot_alignment(weights, source_tokens, target_tokens, out,
                   f"{result.source!r} -> {result.text!r}\ncross-attention, {shown}")


def eval_translation(loaded, pairs_path: Optional[Path], source_column: int, target_column: int, beam: int,
                     length_penalty: float, limit: int, quiet: bool) -> None:
    """`lantern eval` of a translation run: BLEU, chrF and loss per target token on held-out pairs."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..data.pairs import is_pairs_directory
    from ..data.prepare_pairs import read_pairs
    from ..eval.translation import score_translations
    from ..generate import Engine, GenerationConfig

    if not loaded.model.is_encoder_decoder:
        raise LanternError(f"--pairs scores a translation; {loaded.paths.root} is a {loaded.config.model.family} "
                           "model (it has no encoder)")
    if limit < 0:
        raise LanternError(f"--limit must be >= 0, got {limit}")
    config = GenerationConfig(max_new_tokens=1_000_000, temperature=0.0, num_beams=beam,
                              length_penalty=length_penalty).validate()
    if pairs_path is None:
        data_dir = loaded.config.data.data_dir
        if not data_dir or not is_pairs_directory(data_dir):
            raise LanternError(f"{loaded.paths.root} records no prepared pairs directory; give --pairs FILE.tsv")
        pairs_path, source_column, target_column = Path(data_dir) / "val.tsv", 0, 1
    pairs = read_pairs(pairs_path, source_column, target_column)
    empty = next((number for number, (s, t) in enumerate(pairs, 1) if not s or not t), None)
    if empty is not None:
        raise LanternError(f"{pairs_path}: pair {empty} has an empty source or reference")
    pairs = pairs[:limit] if limit else pairs
    console, disabled = progress_console(quiet)
    progress = Progress(TextColumn("[bold]translating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=console, disable=disabled, transient=True)
    task = progress.add_task("eval", total=None)
    with progress:
        score = score_translations(Engine(loaded.model, loaded.tokenizer), pairs, config,
                                   on_progress=lambda done, total: progress.update(task, completed=done, total=total))
    shown = f"beam {beam}" + (f", length penalty {length_penalty:g}" if beam > 1 and length_penalty != 1.0 else "")
    typer.echo(f"{pairs_path} ({shown}): {score.summary()}")
