"""Labelled examples for classification: a JSONL file, one {"text": ..., "label": ...} object per line.

Labels are integers or strings (never both); the classes are the distinct labels, sorted, and class i is the
head's output i. A run holds out its own validation split: a fixed shuffle of the file (SPLIT_SEED, not
train.seed, so every method and every run on the same file is judged on the same examples). Batches are
right-padded to their longest text; `attention_mask` marks the real tokens. The trainer visits the training
examples in shuffled epochs (`ShuffledExamples`), a function of (seed, epoch) alone, so resuming needs no
sampler state. On the validation split every evaluation also scores accuracy, macro-F1 and the confusion
matrix (`scores`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..device import autocast, to_device
from ..errors import LanternError
from ..io import jsonl_objects

SPLIT_SEED = 0


def read_examples(path: str | Path, text_field: str = "text", label_field: str = "label") -> list[tuple[str, Any]]:
    """(text, label) of every non-blank line; a line that is not a JSON object, lacks a field, or whose label is
    neither an integer nor a string is a one-line error naming the line."""
    examples = []
    for number, record in jsonl_objects(path):
        for field in (text_field, label_field):
            if field not in record:
                raise LanternError(f"{path}, line {number}: no field {field!r} (choose fields with --text-field "
                                   "and --label-field)")
        text, label = record[text_field], record[label_field]
        if not isinstance(text, str) or not text.strip():
            raise LanternError(f"{path}, line {number}: {text_field!r} must be a non-empty string")
        if isinstance(label, bool) or not isinstance(label, (int, str)):
            raise LanternError(f"{path}, line {number}: a label must be an integer or a string, got {label!r}")
        examples.append((text, label))
    if not examples:
        raise LanternError(f"{path}: no examples")
    return examples


def label_names(examples: list[tuple[str, Any]], path: str | Path = "data") -> list[str]:
    """The classes of a training file, sorted (integers by value), as strings; at least two."""
    values = {label for _, label in examples}
    if len({type(v) for v in values}) > 1:
        raise LanternError(f"{path}: the labels mix integers and strings")
    if len(values) < 2:
        raise LanternError(f"{path}: every example has the label {values.pop()!r}; a classifier needs two "
                           "classes or more")
    return [str(v) for v in sorted(values)]


def split_examples(examples: list, val_fraction: float) -> tuple[list, list]:
    """(train, validation): a fixed shuffle of the examples, the last val_fraction held out (at least one each)."""
    if len(examples) < 2:
        raise LanternError(f"{len(examples)} example(s) cannot be split into training and validation")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(examples))
    n_val = min(max(1, round(len(examples) * val_fraction)), len(examples) - 1)
    return [examples[i] for i in order[:-n_val]], [examples[i] for i in order[-n_val:]]


def encode_text(tokenizer, text: str, max_length: int) -> list[int]:
    """The ids a classifier reads: `[CLS] text [SEP]` for a BERT vocabulary, else the text's tokens; the first
    max_length (the specials kept)."""
    if hasattr(tokenizer, "encode_for_model"):
        return tokenizer.encode_for_model(text, max_length=max_length)[0]
    return tokenizer.encode(text)[:max_length]


def confusion_scores(confusion: torch.Tensor) -> dict[str, Any]:
    """Accuracy, macro-F1 (the mean over classes of 2PR/(P+R), 0 for a class never predicted nor present)
    and the matrix itself (row: true class, column: predicted) from a confusion matrix."""
    confusion = confusion.double()
    hits = confusion.diag()
    predicted, actual = confusion.sum(0), confusion.sum(1)
    f1 = torch.where(predicted + actual > 0, 2 * hits / (predicted + actual).clamp_min(1), torch.zeros_like(hits))
    return {"accuracy": (hits.sum() / confusion.sum()).item(), "f1": f1.mean().item(),
            "confusion": confusion.long().tolist()}


class LabelledExamples:
    """The tokenized examples of one split: what the trainer and `lantern eval` ask of a split, for a classifier
    (model keyword arguments ids, attention_mask, labels)."""

    def __init__(self, ids: list[list[int]], labels: list[int], classes: list[str], name: str = "data") -> None:
        self.ids, self.labels, self.classes, self.name = ids, torch.tensor(labels, dtype=torch.long), classes, name

    @classmethod
    def from_examples(cls, examples: list[tuple[str, Any]], tokenizer, classes: list[str], max_length: int,
                      name: str = "data") -> "LabelledExamples":
        index = {label: i for i, label in enumerate(classes)}
        unknown = sorted({str(label) for _, label in examples} - set(index))
        if unknown:
            raise LanternError(f"the {name} examples have label {unknown[0]!r}, which is not one of the classes "
                               f"({', '.join(classes)})")
        return cls([encode_text(tokenizer, text, max_length) for text, _ in examples],
                   [index[str(label)] for _, label in examples], classes, name)

    def __len__(self) -> int:
        return len(self.ids)

    def check_fits(self, block_size: int) -> None:
        longest = max(map(len, self.ids))
        if longest > block_size:
            raise LanternError(f"the {self.name} split has a {longest}-token example; the model reads at most "
                               f"{block_size} (lower finetune.max_length)")

    def tokens_per_example(self, block_size: int | None = None) -> float:
        return sum(map(len, self.ids)) / len(self.ids)

    def inputs_at(self, indices: torch.Tensor, block_size: int | None = None) -> dict[str, torch.Tensor]:
        """The classifier's keyword arguments for the examples at `indices`, right-padded to the longest."""
        rows = [self.ids[i] for i in indices.tolist()]
        length = max(map(len, rows))
        ids = torch.zeros(len(rows), length, dtype=torch.long)
        mask = torch.zeros(len(rows), length, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, :len(row)] = 1
        return {"ids": ids, "attention_mask": mask, "labels": self.labels[indices]}

    def random_inputs(self, batch_size: int, block_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.inputs_at(torch.randint(len(self), (batch_size,), generator=generator), block_size)

    @torch.no_grad()
    def predict(self, model: torch.nn.Module, device: torch.device, dtype: torch.dtype = torch.float32,
                batch_size: int = 64) -> torch.Tensor:
        """(N, classes) probabilities of every example, in order (batched by length, so little padding)."""
        was_training = model.training
        model.eval()
        order = sorted(range(len(self)), key=lambda i: len(self.ids[i]))
        probs = torch.empty(len(self), len(self.classes))
        for start in range(0, len(order), batch_size):
            chosen = torch.tensor(order[start:start + batch_size])
            inputs = self.inputs_at(chosen)
            del inputs["labels"]
            with autocast(device, dtype):
                logits = model(**to_device(inputs, device)).logits
            probs[chosen] = logits.float().softmax(-1).cpu()
        model.train(was_training)
        return probs

    def scores(self, model: torch.nn.Module, device: torch.device, dtype: torch.dtype = torch.float32) -> dict:
        """{"accuracy", "f1", "confusion"} of the model's predictions on every example of the split."""
        predicted = self.predict(model, device, dtype).argmax(-1)
        n = len(self.classes)
        confusion = torch.bincount(self.labels * n + predicted, minlength=n * n).view(n, n)
        return confusion_scores(confusion)


class ShuffledExamples:
    """Training order: epoch e visits every example once, in a shuffle seeded by (seed, e); `starts(first,
    count)` gives examples first .. first + count - 1 of that endless sequence (the window samplers' contract)."""

    def __init__(self, data: LabelledExamples, seed: int) -> None:
        self.data, self.seed = data, seed
        self._plan: tuple[int, torch.Tensor] | None = None

    def order(self, epoch: int) -> torch.Tensor:
        if self._plan is None or self._plan[0] != epoch:
            self._plan = (epoch, torch.from_numpy(np.random.default_rng([self.seed, epoch]).permutation(len(self.data))))
        return self._plan[1]

    def starts(self, first: int, count: int) -> torch.Tensor:
        pieces = []
        while count > 0:  # a step's examples may span the end of one epoch and the start of the next
            epoch, offset = divmod(first, len(self.data))
            take = min(count, len(self.data) - offset)
            pieces.append(self.order(epoch)[offset:offset + take])
            first, count = first + take, count - take
        return torch.cat(pieces)

    def epochs(self, examples: int) -> float:
        return examples / len(self.data)


def labelled_splits(config, tokenizer) -> tuple[LabelledExamples, LabelledExamples]:
    """(train, validation) of a classification run: data.input[0] split as SPLIT_SEED says, or data.val_input
    held out whole; classes from finetune.labels (set from the training file when the run began)."""
    ft = config.finetune
    if tokenizer is None or len(config.data.input) != 1:
        raise LanternError("a classification run starts from a base run (train.init_from) and reads one JSONL "
                           "file (data.input)")
    path = config.data.input[0]
    examples = read_examples(path, ft.text_field, ft.label_field)
    classes = ft.labels or label_names(examples, path)
    if config.data.val_input:
        train, val = examples, read_examples(config.data.val_input, ft.text_field, ft.label_field)
    else:
        train, val = split_examples(examples, config.data.val_fraction)
    return (LabelledExamples.from_examples(train, tokenizer, classes, ft.max_length, "train"),
            LabelledExamples.from_examples(val, tokenizer, classes, ft.max_length, "validation"))
