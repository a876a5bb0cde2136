"""Conversations and preference pairs: the data of chat fine-tuning (SFT) and preference tuning (DPO).

Conversations are JSONL, one {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]} per
line (the format every chat-tuning tool reads), checked line by line where the file is read. Each one is
rendered with the chat template (`tokenizers/chat_template.py`), which also marks the assistant's tokens: its
content and end-of-turn marker, not the role headers. A training row is one conversation, so

    inputs  = ids[:-1]                targets[t] = ids[t + 1] if that token is the assistant's, else ignored

and the loss (mean −log p over the kept targets) falls on what the assistant says and nothing else. Rows are
right-padded to the batch's longest; a causal model's real positions never read the padding, and no row reads
another conversation (no packing, so no cross-talk). A conversation longer than the context is cut to its
first block_size + 1 tokens.

Preference pairs are JSONL, one {"prompt": text or a list of messages, "chosen": text, "rejected": text} per
line: the prompt rendered up to the assistant's header, each response as the assistant's turn; only the
response's tokens (content + end marker) are scored. Batches hand the DPO model (`models/preference.py`) the
chosen and rejected rows and their targets. Both splits are visited in shuffled epochs (`ShuffledExamples`),
a function of (seed, epoch), so resuming is exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import LanternError
from ..io import jsonl_objects
from ..models.base import IGNORE_INDEX
from ..tokenizers import Tokenizer
from ..tokenizers.chat_template import check_messages, render
from .labelled import split_examples


def _checked(messages: Any, where: str, field: str = "messages") -> list[dict[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise LanternError(f"{where}: {field!r} must be a non-empty list of {{\"role\", \"content\"}} objects")
    try:
        check_messages(messages)
    except LanternError as exc:
        raise LanternError(f"{where}: {exc}") from None
    return messages


def read_conversations(path: str | Path) -> list[list[dict[str, str]]]:
    """The conversations of a chat JSONL file; each needs an assistant turn with text (something to learn)."""
    conversations = []
    for number, record in jsonl_objects(path):
        where = f"{path}, line {number}"
        messages = _checked(record.get("messages"), where)
        if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
            raise LanternError(f"{where}: the conversation has no assistant turn with text, so nothing to learn")
        conversations.append(messages)
    if not conversations:
        raise LanternError(f"{path}: no conversations")
    return conversations


def read_preferences(path: str | Path) -> list[tuple[list[dict[str, str]], str, str]]:
    """(prompt messages, chosen, rejected) of a preference JSONL file; a text prompt is one user message."""
    pairs = []
    for number, record in jsonl_objects(path):
        where = f"{path}, line {number}"
        prompt = record.get("prompt")
        if isinstance(prompt, str) and prompt.strip():
            prompt = [{"role": "user", "content": prompt}]
        messages = _checked(prompt, where, "prompt")
        if messages[-1]["role"] == "assistant":
            raise LanternError(f"{where}: the prompt ends with an assistant turn; the responses are that turn")
        for field in ("chosen", "rejected"):
            if not isinstance(record.get(field), str) or not record[field].strip():
                raise LanternError(f"{where}: {field!r} must be a non-empty response text")
        if record["chosen"] == record["rejected"]:
            raise LanternError(f"{where}: 'chosen' and 'rejected' are the same text, so there is no preference")
        pairs.append((messages, record["chosen"], record["rejected"]))
    if not pairs:
        raise LanternError(f"{path}: no preference pairs")
    return pairs


def response_targets(ids: list[int], scored: list[bool], max_tokens: int) -> tuple[list[int], list[int]]:
    """(inputs, targets) of one row: targets[t] = ids[t + 1] where that token is scored, else IGNORE_INDEX; the
    first max_tokens + 1 tokens."""
    ids, scored = ids[:max_tokens + 1], scored[:max_tokens + 1]
    return ids[:-1], [i if keep else IGNORE_INDEX for i, keep in zip(ids[1:], scored[1:])]


def padded(rows: list[list[int]], fill: int) -> torch.Tensor:
    """Rows of different lengths as one (B, longest) tensor, right-padded with `fill`."""
    out = torch.full((len(rows), max(map(len, rows))), fill, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    return out


class _Rows:
    """What the trainer asks of a split whose examples are rows of scored tokens (`inputs_at` is the subclass's)."""

    name = "data"

    def __len__(self) -> int:
        return len(self.lengths)

    def check_fits(self, block_size: int) -> None:  # rows were cut to the context when built
        pass

    def tokens_per_example(self, block_size: int | None = None) -> float:
        return sum(self.lengths) / len(self.lengths)

    def random_inputs(self, batch_size: int, block_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.inputs_at(torch.randint(len(self), (batch_size,), generator=generator), block_size)


class ChatExamples(_Rows):
    """Rendered conversations: the language model's keyword arguments idx and targets (assistant tokens only)."""

    def __init__(self, rows: list[tuple[list[int], list[int]]], name: str = "data") -> None:
        if not rows:
            raise LanternError(f"the {name} split has no conversation with an assistant token inside the context")
        self.rows, self.name = rows, name
        self.lengths = [len(inputs) for inputs, _ in rows]

    @classmethod
    def from_conversations(cls, conversations: list[list[dict[str, str]]], tokenizer: Tokenizer, max_tokens: int,
                           name: str = "data") -> "ChatExamples":
        rows = []
        for messages in conversations:
            rendered = render(messages, tokenizer, add_generation_prompt=False)
            inputs, targets = response_targets(rendered.ids, rendered.assistant_mask, max_tokens)
            if any(t != IGNORE_INDEX for t in targets):  # cut before the assistant spoke: nothing to learn
                rows.append((inputs, targets))
        return cls(rows, name)

    def inputs_at(self, indices: torch.Tensor, block_size: int | None = None) -> dict[str, torch.Tensor]:
        chosen = [self.rows[i] for i in indices.tolist()]
        return {"idx": padded([inputs for inputs, _ in chosen], 0),
                "targets": padded([targets for _, targets in chosen], IGNORE_INDEX)}


def _response_row(prompt: list[dict[str, str]], response: str, tokenizer: Tokenizer,
                  max_tokens: int) -> tuple[list[int], list[int]]:
    """The prompt and one response as the assistant's turn; only the response's tokens are targets. A row
    longer than the context keeps its end (the response), losing the oldest prompt tokens."""
    asked = len(render(prompt, tokenizer, add_generation_prompt=False).ids)
    full = render(prompt + [{"role": "assistant", "content": response}], tokenizer, add_generation_prompt=False)
    ids, scored = full.ids, [False] * asked + full.assistant_mask[asked:]
    return response_targets(ids[-(max_tokens + 1):], scored[-(max_tokens + 1):], max_tokens)


class PreferencePairs(_Rows):
    """Preference pairs: the DPO model's keyword arguments chosen, chosen_targets, rejected, rejected_targets."""

    def __init__(self, chosen: list[tuple[list[int], list[int]]], rejected: list[tuple[list[int], list[int]]],
                 name: str = "data") -> None:
        self.chosen, self.rejected, self.name = chosen, rejected, name
        self.lengths = [len(c[0]) + len(r[0]) for c, r in zip(chosen, rejected)]

    @classmethod
    def from_pairs(cls, pairs: list[tuple[list[dict[str, str]], str, str]], tokenizer: Tokenizer, max_tokens: int,
                   name: str = "data") -> "PreferencePairs":
        chosen = [_response_row(prompt, good, tokenizer, max_tokens) for prompt, good, _ in pairs]
        rejected = [_response_row(prompt, bad, tokenizer, max_tokens) for prompt, _, bad in pairs]
        return cls(chosen, rejected, name)

    def inputs_at(self, indices: torch.Tensor, block_size: int | None = None) -> dict[str, torch.Tensor]:
        picked = indices.tolist()
        inputs = {}
        for side, rows in (("chosen", self.chosen), ("rejected", self.rejected)):
            inputs[side] = padded([rows[i][0] for i in picked], 0)
            inputs[f"{side}_targets"] = padded([rows[i][1] for i in picked], IGNORE_INDEX)
        return inputs

    @torch.no_grad()
    def scores(self, model: torch.nn.Module, device: torch.device, dtype: torch.dtype = torch.float32,
               batch_size: int = 32) -> dict[str, float]:
        """Over every pair: preference accuracy (the share whose implicit reward prefers the chosen response),
        the mean reward margin, and the likelihood accuracy (log π(chosen) > log π(rejected), no reference)."""
        from ..device import autocast, to_device

        was_training = model.training
        model.eval()
        totals = {"accuracy": 0.0, "reward_margin": 0.0, "likelihood_accuracy": 0.0}
        for start in range(0, len(self), batch_size):
            indices = torch.arange(start, min(start + batch_size, len(self)))
            with autocast(device, dtype):
                out = model(**to_device(self.inputs_at(indices), device))
            totals["accuracy"] += (out.margins > 0).sum().item()
            totals["reward_margin"] += out.margins.sum().item()
            totals["likelihood_accuracy"] += (out.policy_chosen > out.policy_rejected).sum().item()
        model.train(was_training)
        return {name: value / len(self) for name, value in totals.items()}


def dialogue_splits(config, tokenizer: Tokenizer) -> tuple[ChatExamples, ChatExamples] | tuple[PreferencePairs,
                                                                                                 PreferencePairs]:
    """(train, validation) of a chat or DPO run: data.input[0] split with the labelled examples' fixed shuffle,
    or data.val_input held out whole."""
    if tokenizer is None or len(config.data.input) != 1:
        raise LanternError(f"a {config.finetune.task} run starts from a base run (train.init_from) and reads one "
                           "JSONL file (data.input)")
    read, build = ((read_conversations, ChatExamples.from_conversations) if config.finetune.task == "chat"
                   else (read_preferences, PreferencePairs.from_pairs))
    examples = read(config.data.input[0])
    if config.data.val_input:
        train, val = examples, read(config.data.val_input)
    else:
        train, val = split_examples(examples, config.data.val_fraction)
    return build(train, tokenizer, config.window_size, "train"), build(val, tokenizer, config.window_size, "validation")
