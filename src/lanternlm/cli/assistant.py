"""From base model to assistant: `lantern data chat|preferences` (instruction data from the shared data sets),
`lantern finetune chat` (supervised fine-tuning on the assistant's tokens) and `lantern finetune dpo`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .app import app
from .finetune import (LORA_RANK, LORA_TARGETS, OVERWRITE, PROMPT_TOKENS, QUIET, RESUME, _adapter_fields,
                       _check_start, _run, finetune_app)
from .options import DEVICE, SET_OPTION

data_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                       help="Build instruction data from plain data sets (docs/assistant.md).")
app.add_typer(data_app, name="data")

TRANSLATION = typer.Option(None, "--translation", help="Tatoeba TSV (english<TAB>french): \"Translate to French: ...\" tasks.")
SENTIMENT = typer.Option(None, "--sentiment", help="Sentiment JSONL (text, label 0/1): \"Is this review positive or negative?\" tasks.")
STORIES = typer.Option(None, "--stories", help="Stories separated by <|endoftext|>: \"Continue the story: ...\" tasks.")
PER_TASK = typer.Option(1000, "--per-task", help="Examples drawn from each source.")
SEED = typer.Option(0, "--seed", min=0, help="Which examples are drawn, and their order.")
OUT_FILE = typer.Option(..., "--out", "-o", help="JSONL file to write.")


def _write(records: list[dict], out: Path, what: str) -> None:
    from ..io import check_writable, write_text_atomic

    check_writable(out)
    write_text_atomic(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    typer.echo(f"wrote {len(records):,} {what} -> {out}")


@data_app.command("chat")
def data_chat_command(out: Path = OUT_FILE, translation: Optional[Path] = TRANSLATION,
                      sentiment: Optional[Path] = SENTIMENT, stories: Optional[Path] = STORIES,
                      per_task: int = PER_TASK, seed: int = SEED) -> None:
    """Write conversations ({"messages": [user, assistant]}) for `lantern finetune chat`."""
    from ..finetune.builders import build_conversations

    _write(build_conversations(translation, sentiment, stories, per_task, seed), out, "conversations")


@data_app.command("preferences")
def data_preferences_command(out: Path = OUT_FILE, translation: Optional[Path] = TRANSLATION,
                             sentiment: Optional[Path] = SENTIMENT, stories: Optional[Path] = STORIES,
                             per_task: int = PER_TASK, seed: int = SEED) -> None:
    """Write preference pairs ({"prompt", "chosen", "rejected"}) for `lantern finetune dpo`: the right answer
    preferred to a wrong one."""
    from ..finetune.builders import build_preferences

    _write(build_preferences(translation, sentiment, stories, per_task, seed), out, "preference pairs")


OUT_RUN = typer.Option(..., "--out", "-o", help="Run directory to create (or continue with --resume).")
BASE = typer.Option(None, "--base", help="The pretrained GPT run to tune.")
LEARNING_RATE = typer.Option(None, "--learning-rate", "--lr", help="Peak learning rate; default by method.")


@finetune_app.command("chat")
def chat_command(
    out: Path = OUT_RUN,
    base: Optional[Path] = BASE,
    data: Optional[Path] = typer.Option(None, "--data", help="Conversations JSONL, one {\"messages\": [...]} per line (`lantern data chat` writes one); a fixed share is held out [data.val_fraction]."),
    method: str = typer.Option("lora", "--method", "-m", help="full (every weight) | lora (low-rank adapters) | prompt (soft prompt)."),
    epochs: float = typer.Option(2.0, "--epochs", help="Passes over the training conversations."),
    batch_size: int = typer.Option(16, "--batch-size", help="Conversations per step (one per row, right-padded)."),
    learning_rate: Optional[float] = LEARNING_RATE,
    lora_rank: int = LORA_RANK,
    lora_targets: str = LORA_TARGETS,
    prompt_tokens: int = PROMPT_TOKENS,
    overrides: list[str] = SET_OPTION,
    resume: bool = RESUME,
    overwrite: bool = OVERWRITE,
    device: Optional[str] = DEVICE,
    quiet: bool = QUIET,
) -> None:
    """Supervised chat fine-tuning: each conversation rendered with the chat template, the loss on the
    assistant's tokens only (its words and end-of-turn marker). `lantern chat RUN` then talks with it."""
    from ..finetune import chat_config

    _check_start(resume, base, data, overwrite, epochs, batch_size)
    fields = _adapter_fields(lora_rank, 2.0 * lora_rank, 0.0, lora_targets, prompt_tokens, "")
    _run(lambda extra: chat_config(base, data, method, epochs, batch_size, learning_rate, extra, **fields),
         out, resume, overwrite, overrides, device, quiet)


@finetune_app.command("dpo")
def dpo_command(
    out: Path = OUT_RUN,
    base: Optional[Path] = BASE,
    data: Optional[Path] = typer.Option(None, "--data", help="Preference JSONL, one {\"prompt\", \"chosen\", \"rejected\"} per line (`lantern data preferences` writes one)."),
    beta: float = typer.Option(0.1, "--beta", help="β: the reward scale; larger keeps the policy closer to the reference."),
    epochs: float = typer.Option(1.0, "--epochs", help="Passes over the training pairs."),
    batch_size: int = typer.Option(8, "--batch-size", help="Pairs per step."),
    learning_rate: Optional[float] = LEARNING_RATE,
    lora_rank: int = LORA_RANK,
    lora_targets: str = LORA_TARGETS,
    overrides: list[str] = SET_OPTION,
    resume: bool = RESUME,
    overwrite: bool = OVERWRITE,
    device: Optional[str] = DEVICE,
    quiet: bool = QUIET,
) -> None:
    """Preference tuning (DPO) of a LoRA adapter; the reference is the base with the adapter off. Metrics:
    loss, reward margin and preference accuracy on the held-out pairs (RUN/metrics.jsonl)."""
    from ..finetune import dpo_config

    _check_start(resume, base, data, overwrite, epochs, batch_size)
    fields = _adapter_fields(lora_rank, 2.0 * lora_rank, 0.0, lora_targets, 20, "")
    del fields["prompt_tokens"], fields["prompt_init"]
    _run(lambda extra: dpo_config(base, data, beta, epochs, batch_size, learning_rate, extra, **fields),
         out, resume, overwrite, overrides, device, quiet)
