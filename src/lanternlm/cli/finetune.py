"""`lantern finetune classify|lm|merge`, `lantern classify`, `lantern eval fewshot`: adapting a run to a task."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app, eval_app
from .options import DEVICE, SET_OPTION, progress_console

finetune_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                           help="Adapt a pretrained run to a task: a classifier head, LoRA, a soft prompt, or all "
                                "weights (docs/finetuning.md).")
app.add_typer(finetune_app, name="finetune")

METHOD = typer.Option("full", "--method", "-m", help="full (every weight) | head (the head only) | lora (low-rank "
                                                     "adapters + head) | prompt (soft prompt + head).")
LORA_RANK = typer.Option(8, "--lora-rank", help="LoRA rank r (ΔW = B·A·alpha/r).")
LORA_ALPHA = typer.Option(16.0, "--lora-alpha", help="LoRA alpha: the update is scaled by alpha/r.")
LORA_DROPOUT = typer.Option(0.0, "--lora-dropout", help="Dropout on the LoRA adapter's input.")
LORA_TARGETS = typer.Option("q,v", "--lora-targets", help="Layers to adapt, comma-separated: q, k, v, o (attention), "
                                                          "ff_in, ff_out (feed-forward), or all.")
PROMPT_TOKENS = typer.Option(20, "--prompt-tokens", help="Soft prompt: virtual tokens prepended to every input.")
PROMPT_INIT = typer.Option("", "--prompt-init", help="Soft prompt: start from this text's token embeddings "
                                                     "(default: random vocabulary rows).")
RESUME = typer.Option(False, "--resume", help="Continue the run in --out from its newest checkpoint.")
OVERWRITE = typer.Option(False, "--overwrite", help="Replace the run in --out (only a Lantern run is replaced).")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")


def _adapter_fields(lora_rank, lora_alpha, lora_dropout, lora_targets, prompt_tokens, prompt_init) -> dict:
    return {"lora_rank": lora_rank, "lora_alpha": lora_alpha, "lora_dropout": lora_dropout,
            "lora_targets": [t.strip() for t in lora_targets.split(",") if t.strip()],
            "prompt_tokens": prompt_tokens, "prompt_init": prompt_init}


def _check_start(resume: bool, base, data, overwrite: bool, epochs: float, batch_size: int) -> None:
    """A labelled-data run starts from --base and --data, or resumes with neither (classify, chat, dpo)."""
    from ..errors import LanternError

    if not resume and (base is None or data is None):
        raise LanternError("give --base RUN and --data FILE.jsonl (or --resume to continue the run in --out)")
    if resume and (base or data or overwrite):
        raise LanternError("--resume continues a run with its own config; drop --base/--data/--overwrite")
    if batch_size <= 0 or not 0 < epochs <= 10_000:
        raise LanternError(f"--batch-size must be positive and --epochs in (0, 10000], got {batch_size} and {epochs}")


def _run(config_of, out: Path, resume: bool, overwrite: bool, overrides: list[str], device, quiet: bool) -> None:
    """Build the config (or read the run's own when resuming), fine-tune, print the figures."""
    from ..config import apply_overrides
    from ..errors import LanternError
    from ..finetune import finetune
    from ..runs import RunExistsError, load_run_config

    extra = list(overrides) + ([f"train.device={device}"] if device else [])
    config = apply_overrides(load_run_config(out), extra).validate() if resume else config_of(extra)
    try:
        result = finetune(config, out, resume=resume, overwrite=overwrite, quiet=quiet)
    except RunExistsError as exc:
        raise LanternError(f"{exc.root} already holds a run ({exc.state}); use --resume to continue it, "
                           "--overwrite to replace it, or choose another --out") from None
    best = result.best
    scores = ", ".join(f"{name[4:]} {best[name]:.4f}" for name in ("val_accuracy", "val_f1", "val_reward_margin", "val_loss")
                       if name in best)
    share = 100 * result.trainable / max(result.total, 1)
    adapter = f", adapter {result.adapter_bytes:,} bytes" if result.adapter_bytes else ""
    speed = f", {result.tokens_per_sec:,.0f} tokens/s" if result.tokens_per_sec else ""
    typer.echo(f"fine-tuned {result.steps} steps (best step {result.best_step}): {scores}; trainable "
               f"{result.trainable:,} of {result.total:,} parameters ({share:.2f} %){adapter}{speed} -> "
               f"{result.run_dir}")


@finetune_app.command("classify")
def classify_command(
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to create (or continue with --resume)."),
    base: Optional[Path] = typer.Option(None, "--base", help="The pretrained run to adapt (a GPT or BERT run)."),
    data: Optional[Path] = typer.Option(None, "--data", help="JSONL file, one {\"text\": ..., \"label\": ...} per line; a fixed share is held out for validation [data.val_fraction]."),
    text_field: str = typer.Option("text", "--text-field", help="JSONL field holding the text."),
    label_field: str = typer.Option("label", "--label-field", help="JSONL field holding the label (integer or string)."),
    method: str = METHOD,
    epochs: float = typer.Option(3.0, "--epochs", help="Passes over the training examples (early stopping may end sooner)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Examples per step."),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", "--lr", help="Peak learning rate; default by method (full 5e-5, head 2e-3, lora 1e-3, prompt 1e-2)."),
    max_length: int = typer.Option(128, "--max-length", help="Tokens read per text (longer texts are cut)."),
    pooling: str = typer.Option("auto", "--pooling", help="auto (decoder: last token; encoder: its own) | last | cls | mean."),
    lora_rank: int = LORA_RANK,
    lora_alpha: float = LORA_ALPHA,
    lora_dropout: float = LORA_DROPOUT,
    lora_targets: str = LORA_TARGETS,
    prompt_tokens: int = PROMPT_TOKENS,
    prompt_init: str = PROMPT_INIT,
    overrides: list[str] = SET_OPTION,
    resume: bool = RESUME,
    overwrite: bool = OVERWRITE,
    device: Optional[str] = DEVICE,
    quiet: bool = QUIET,
) -> None:
    """Train a classifier on labelled JSONL: a linear head on the base's pooled hidden states, and what --method
    trains. Metrics (accuracy, F1, confusion matrix) go to RUN/metrics.jsonl; RUN/adapter.safetensors holds
    what the method added (all but full)."""
    from ..finetune import classify_config

    _check_start(resume, base, data, overwrite, epochs, batch_size)
    fields = _adapter_fields(lora_rank, lora_alpha, lora_dropout, lora_targets, prompt_tokens, prompt_init)
    _run(lambda extra: classify_config(base, data, method, epochs, batch_size, learning_rate, extra,
                                       text_field=text_field, label_field=label_field, max_length=max_length,
                                       pooling=pooling, **fields),
         out, resume, overwrite, overrides, device, quiet)


@finetune_app.command("lm")
def lm_command(
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to create (or continue with --resume)."),
    base: Optional[Path] = typer.Option(None, "--base", help="The pretrained GPT run to adapt."),
    input: list[Path] = typer.Option([], "--input", "-i", metavar="FILE", help="Text to continue training on (.txt or .gz), tokenized with the base's tokenizer."),
    method: str = typer.Option("lora", "--method", "-m", help="lora (low-rank adapters) | prompt (soft prompt) | full (every weight)."),
    steps: int = typer.Option(200, "--steps", help="Optimizer steps [train.max_iters]."),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", "--lr", help="Peak learning rate; default by method (full 3e-4, lora 1e-3, prompt 1e-2)."),
    overrides: list[str] = typer.Option([], "--set", "-s", metavar="KEY=VALUE", help="Override a config field, e.g. --set lora_alpha=32 --set prompt_init='once upon a time' (repeatable)."),
    lora_rank: int = LORA_RANK,
    lora_targets: str = LORA_TARGETS,
    prompt_tokens: int = PROMPT_TOKENS,
    resume: bool = RESUME,
    overwrite: bool = OVERWRITE,
    device: Optional[str] = DEVICE,
    quiet: bool = QUIET,
) -> None:
    """Next-token fine-tuning of a GPT run on new text. `lantern sample/eval/serve RUN` then run the adapted
    model; RUN/adapter.safetensors holds the adapter alone. LoRA's alpha is 2r unless --set lora_alpha=..."""
    from ..errors import LanternError
    from ..finetune import lm_config

    if not resume and (base is None or not input):
        raise LanternError("give --base RUN and --input FILE (or --resume to continue the run in --out)")
    if resume and (base or input or overwrite):
        raise LanternError("--resume continues a run with its own config; drop --base/--input/--overwrite")
    if steps <= 0:
        raise LanternError(f"--steps must be positive, got {steps}")
    fields = _adapter_fields(lora_rank, 2.0 * lora_rank, 0.0, lora_targets, prompt_tokens, "")
    _run(lambda extra: lm_config(base, input, method, steps, learning_rate, extra, **fields),
         out, resume, overwrite, overrides, device, quiet)


@finetune_app.command("merge")
def merge_command(
    adapter: Path = typer.Argument(..., help="An adapter file (RUN/adapter.safetensors of a LoRA run)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the merged run."),
    base: Optional[Path] = typer.Option(None, "--base", help="The base run (default: the one the adapter records)."),
) -> None:
    """Fold a LoRA adapter into its base's weights (W + B·A·alpha/r) and write a plain run."""
    from ..finetune import merge_adapter

    typer.echo(f"merged {adapter} into its base -> {merge_adapter(adapter, out, base)}")


@app.command("classify")
def classify_text_command(
    run: Path = typer.Argument(..., help="A classifier run (`lantern finetune classify`)."),
    texts: list[str] = typer.Argument(..., help="Text(s) to classify."),
    device: Optional[str] = DEVICE,
) -> None:
    """Print each label's probability for the text(s)."""
    from ..data.labelled import LabelledExamples
    from ..device import resolve_device
    from ..errors import LanternError
    from ..runs import load_run

    dev = resolve_device(device or "auto")
    loaded = load_run(run, dev)
    ft = loaded.config.finetune
    if ft.task != "classify":
        raise LanternError(f"{run} is not a classifier run (make one with `lantern finetune classify`)")
    if any(not t.strip() for t in texts):
        raise LanternError("a text to classify is empty")
    examples = LabelledExamples.from_examples([(t, ft.labels[0]) for t in texts], loaded.tokenizer, ft.labels,
                                              ft.max_length)
    probs = examples.predict(loaded.model, dev)
    width = max(map(len, ft.labels))
    for text, row in zip(texts, probs.tolist()):
        typer.echo(text)
        for label, p in sorted(zip(ft.labels, row), key=lambda item: -item[1]):
            typer.echo(f"  {label:<{width}}  {p:6.3f}  {'█' * round(30 * p)}")


def evaluate_classifier(loaded, data: Optional[Path], device) -> None:
    """`lantern eval CLASSIFIER_RUN [--data FILE.jsonl]`: accuracy, macro-F1 and confusion matrix on a labelled
    file, or on the run's own validation split."""
    from ..data.labelled import LabelledExamples, labelled_splits, read_examples

    ft = loaded.config.finetune
    if data is None:
        source, examples = "the run's validation split", labelled_splits(loaded.config, loaded.tokenizer)[1]
    else:
        source = str(data)
        examples = LabelledExamples.from_examples(read_examples(data, ft.text_field, ft.label_field),
                                                  loaded.tokenizer, ft.labels, ft.max_length, str(data))
    scores = examples.scores(loaded.model, device)
    typer.echo(f"{source}: accuracy {scores['accuracy']:.4f}, macro-F1 {scores['f1']:.4f} ({len(examples):,} "
               "examples)")
    cell = max(7, *map(len, ft.labels)) + 1
    typer.echo("confusion matrix (rows: true label, columns: predicted label):")
    typer.echo(" " * cell + "".join(f"{label:>{cell}}" for label in ft.labels))
    for label, row in zip(ft.labels, scores["confusion"]):
        typer.echo(f"{label:>{cell}}" + "".join(f"{count:>{cell}}" for count in row))


@eval_app.command("fewshot")
def fewshot_command(
    run: Path = typer.Argument(..., help="A pretrained run (GPT: label-word likelihood; encoder: similarity)."),
    data: Path = typer.Option(..., "--data", help="JSONL of labelled examples; its fixed validation share is scored, shots come from the rest."),
    train: Optional[Path] = typer.Option(None, "--train", help="JSONL to draw the shots from instead (then all of --data is scored)."),
    shots: str = typer.Option("0,1,4", "--shots", help="Comma-separated numbers of solved examples in the prompt."),
    template: str = typer.Option("default", "--template", help="Prompt template: a TOML file, or a shipped one (default, sentiment)."),
    cot: bool = typer.Option(False, "--cot", help="Chain of thought: the model writes a line of reasoning before the answer is scored."),
    text_field: str = typer.Option("text", "--text-field", help="JSONL field holding the text."),
    label_field: str = typer.Option("label", "--label-field", help="JSONL field holding the label."),
    limit: int = typer.Option(0, "--limit", help="Score only the first N examples; 0 = all."),
    seed: int = typer.Option(0, "--seed", min=0, help="Which training examples become the shots."),
    device: Optional[str] = DEVICE,
    quiet: bool = QUIET,
) -> None:
    """Classify with no training: prompt the model with k solved examples and score each label word's
    likelihood after the prompt; prints accuracy per number of shots."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..config import DataConfig
    from ..data.labelled import label_names, read_examples, split_examples
    from ..device import resolve_device
    from ..errors import LanternError
    from ..finetune.fewshot import draw_shots, evaluate_fewshot, load_template
    from ..runs import load_run

    try:
        counts = [int(k) for k in shots.split(",") if k.strip()]
    except ValueError:
        raise LanternError(f"--shots takes comma-separated whole numbers, got {shots!r}") from None
    if not counts or min(counts) < 0 or limit < 0:
        raise LanternError(f"--shots needs numbers >= 0 and --limit >= 0, got {shots!r} and {limit}")
    chosen_template = load_template(template)
    examples = read_examples(data, text_field, label_field)
    if train is None:  # the split a classifier run on the same file holds out
        pool_examples, test = split_examples(examples, DataConfig().val_fraction)
    else:
        pool_examples, test = read_examples(train, text_field, label_field), examples
    classes = label_names(pool_examples + test, data)
    for k in counts:
        draw_shots(pool_examples, k, seed)  # every count checked before the long work
    test = test[:limit] if limit else test
    dev = resolve_device(device or "auto")
    loaded = load_run(run, dev)
    if loaded.config.finetune.task == "classify":
        raise LanternError(f"{run} is a classifier; few-shot prompting asks a language model (use `lantern eval "
                           f"{run} --data FILE`)")
    console, disabled = progress_console(quiet)
    progress = Progress(TextColumn("[bold]prompting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=console, disable=disabled, transient=True)
    task = progress.add_task("fewshot", total=len(test) * len(counts))
    done = {"before": 0}

    def advance(n: int) -> None:
        progress.update(task, completed=done["before"] + n)

    with progress:
        results = []
        for k in counts:
            results += evaluate_fewshot(loaded.model, loaded.tokenizer, classes, pool_examples, test, [k],
                                        chosen_template, cot, seed, advance)
            done["before"] += len(test)
    how = "label-word likelihood" if loaded.model.can_generate else "embedding similarity"
    typer.echo(f"{data}: {len(test):,} examples, {how}{', chain of thought' if cot else ''}")
    for result in results:
        cut = f" ({result.truncated} prompts cut to the context)" if result.truncated else ""
        typer.echo(f"  {result.shots}-shot: accuracy {result.accuracy:.4f}{cut}")
