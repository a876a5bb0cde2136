"""`lantern prepare --pairs`: a tab-separated file of sentence pairs -> a prepared pairs directory (`data/pairs.py`).

In order: read the two columns (a line without them is an error naming it); drop pairs with an empty side or
more than `max_words` words on a side; hold out a validation part chosen by a fixed seed; train the tokenizer
on the training part only (one BPE over both languages, or one per language); tokenize; drop pairs longer than
`max_tokens` on a side (EOT included); write. Every drop is counted and reported.

The validation part is drawn as whole groups of pairs that share a source or a target sentence (one English
sentence often has several French translations): a sentence seen in training never appears in validation, so
the held-out BLEU measures translation of unseen sentences, not recall. The public file itself was split from
its private holdout the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import LanternError
from ..io import atomic_directory, iter_lines, write_json_atomic
from ..tokenizers import PairTokenizer, Tokenizer, load_tokenizer
from ..tokenizers.bpe_train import train_bpe
from .pairs import ARRAYS, FORMAT_NAME, FORMAT_VERSION, HEADER, TOKENIZER, source_tokenizer
from .prepare import check_output_folder

Progress = Callable[[str], None]


@dataclass
class PairsReport:
    """What happened to the pairs of the input file."""

    read: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> pairs
    train: int = 0
    val: int = 0
    groups: int = 0  # connected groups of pairs sharing a sentence

    def drop(self, reason: str, count: int) -> None:
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + count

    def summary(self) -> str:
        dropped = ", ".join(f"{n:,} {reason}" for reason, n in self.dropped.items()) or "none"
        return (f"read {self.read:,} pairs; dropped {dropped}; kept {self.train:,} train + {self.val:,} validation "
                f"pairs ({self.groups:,} groups of pairs sharing a sentence)")


def read_pairs(path: str | Path, source_column: int = 0, target_column: int = 1) -> list[tuple[str, str]]:
    """(source, target) of every line; a line with too few tab-separated columns is a one-line error."""
    needed = max(source_column, target_column) + 1
    pairs = []
    for number, line in enumerate(iter_lines(path, "pairs file"), 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) < needed:
            raise LanternError(f"{path}:{number}: {len(columns)} tab-separated column(s), but the source and target "
                               f"columns ({source_column}, {target_column}) need {needed}")
        pairs.append((columns[source_column].strip(), columns[target_column].strip()))
    if not pairs:
        raise LanternError(f"{path}: no sentence pairs in the file")
    return pairs


def sentence_groups(pairs: list[tuple[str, str]]) -> list[list[int]]:
    """Pairs joined when they share a source or a target sentence (union-find), as lists of pair indices."""
    parent = list(range(len(pairs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[int, str], int] = {}
    for i, (source, target) in enumerate(pairs):
        for key in ((0, source), (1, target)):
            j = first.setdefault(key, i)
            parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(pairs)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def split_pairs(pairs: list[tuple[str, str]], val_fraction: float, seed: int) -> tuple[list[int], list[int], int]:
    """(train indices, validation indices, number of groups): whole groups, in a seeded random order, go to
    validation until it holds val_fraction of the pairs."""
    groups = sentence_groups(pairs)
    order = np.random.default_rng(seed).permutation(len(groups))
    wanted, val = val_fraction * len(pairs), []
    for g in order:
        if len(val) >= wanted:
            break
        val.extend(groups[g])
    held = set(val)
    return [i for i in range(len(pairs)) if i not in held], sorted(val), len(groups)


def train_pair_tokenizer(pairs: list[tuple[str, str]], vocab_size: int, separate: bool, folder: Path) -> Tokenizer:
    """One byte-level BPE over both sides (joint), or one per side; trained on these pairs only."""
    def bpe(texts: list[str], name: str) -> Tokenizer:
        corpus = folder / f"{name}.txt"  # the BPE trainer reads files
        corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
        try:
            return train_bpe([corpus], vocab_size, workers=1)
        finally:
            corpus.unlink()

    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    if separate:
        return PairTokenizer(bpe(sources, "source"), bpe(targets, "target"))
    return bpe(sources + targets, "joint")


def encode_split(tokenizer: Tokenizer, pairs: list[tuple[str, str]],
                 max_tokens: int) -> tuple[dict[str, np.ndarray], list[int]]:
    """Id arrays (data/pairs.py ARRAYS) of the pairs whose sides fit max_tokens with EOT, and the kept indices."""
    source_tok = source_tokenizer(tokenizer)
    sides: dict[str, list[list[int]]] = {"source": [], "target": []}
    kept = []
    for i, (source, target) in enumerate(pairs):
        s, t = source_tok.encode(source), tokenizer.encode(target)
        if max(len(s), len(t)) + 1 <= max_tokens:
            sides["source"].append(s)
            sides["target"].append(t)
            kept.append(i)
    arrays = {}
    for side, rows in sides.items():
        arrays[f"{side}_ids"] = np.fromiter((i for row in rows for i in row), dtype=np.int64)
        arrays[f"{side}_offsets"] = np.concatenate([[0], np.cumsum([len(r) for r in rows], dtype=np.int64)])
    return arrays, kept


def check_arguments(out: Path, source_column: int, target_column: int, vocab_size: int, max_words: int,
                    max_tokens: int, val_fraction: float, force: bool) -> None:
    if source_column < 0 or target_column < 0 or source_column == target_column:
        raise LanternError(f"the source and target columns must be two different column numbers >= 0, got "
                           f"{source_column} and {target_column}")
    if not 0.0 < val_fraction < 1.0:
        raise LanternError(f"the validation fraction must be in (0, 1), got {val_fraction}")
    if max_words < 0 or max_tokens < 2:
        raise LanternError(f"max_words must be >= 0 (0 = no limit) and max_tokens >= 2, got {max_words} and "
                           f"{max_tokens}")
    if vocab_size < 257:
        raise LanternError(f"the vocabulary needs at least 257 tokens (256 bytes + <|endoftext|>), got {vocab_size}")
    check_output_folder(out, force)


def prepare_pairs(path: str | Path, out: str | Path, source_column: int = 0, target_column: int = 1,
                  vocab_size: int = 8000, tokenizer: str | Path | None = None, separate: bool = False,
                  max_words: int = 0, max_tokens: int = 64, val_fraction: float = 0.05, seed: int = 0,
                  progress: Progress | None = None, force: bool = False) -> tuple[dict[str, Any], PairsReport]:
    """Prepare the pairs of a TSV file into the directory `out` (see the module docstring); returns the header
    and what was read, dropped and kept. `tokenizer`: an existing tokenizer file instead of training one.
    Prepared data already in `out` is replaced only with `force`; a folder holding anything else never."""
    out = Path(out)
    check_arguments(out, source_column, target_column, vocab_size, max_words, max_tokens, val_fraction, force)
    say = progress or (lambda stage: None)
    started = time.perf_counter()
    say("reading pairs")
    read = read_pairs(path, source_column, target_column)
    report = PairsReport(read=len(read))
    pairs = [p for p in read if p[0] and p[1]]
    report.drop("with an empty side", len(read) - len(pairs))
    if max_words:
        fitting = [p for p in pairs if max(len(p[0].split()), len(p[1].split())) <= max_words]
        report.drop(f"over {max_words} words", len(pairs) - len(fitting))
        pairs = fitting
    if len(pairs) < 2:
        raise LanternError(f"{path}: {len(pairs)} pair(s) left after filtering; nothing to train and validate on")
    train_idx, val_idx, report.groups = split_pairs(pairs, val_fraction, seed)
    splits = {"train": [pairs[i] for i in train_idx], "val": [pairs[i] for i in val_idx]}
    with atomic_directory(out) as tmp:
        if tokenizer is not None:
            tok = load_tokenizer(tokenizer)
        else:
            say("training the tokenizer")
            tok = train_pair_tokenizer(splits["train"], vocab_size, separate, tmp)
        if tok.eot_id is None:
            raise LanternError("the tokenizer has no <|endoftext|> token (the start and end of every sentence)")
        tok.save(tmp / TOKENIZER)
        header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "source_file": str(path),
                  "columns": {"source": source_column, "target": target_column}, "vocab_size": tok.vocab_size,
                  "source_vocab_size": source_tokenizer(tok).vocab_size, "tokenizer_kind": tok.kind,
                  "filter": {"max_words": max_words, "max_tokens": max_tokens}, "val_fraction": val_fraction,
                  "seed": seed, "splits": {}}
        for name, split in splits.items():
            say(f"tokenizing the {name} pairs")
            arrays, kept = encode_split(tok, split, max_tokens)
            report.drop(f"over {max_tokens} tokens ({name})", len(split) - len(kept))
            np.savez(tmp / f"{name}.npz", **{key: arrays[key] for key in ARRAYS})
            (tmp / f"{name}.tsv").write_text("".join(f"{split[i][0]}\t{split[i][1]}\n" for i in kept),
                                             encoding="utf-8")
            header["splits"][name] = {"pairs": len(kept), "source_tokens": len(arrays["source_ids"]),
                                      "target_tokens": len(arrays["target_ids"])}
        report.train, report.val = header["splits"]["train"]["pairs"], header["splits"]["val"]["pairs"]
        if not report.train or not report.val:
            raise LanternError(f"no {'train' if not report.train else 'validation'} pairs left after filtering")
        header["report"] = {"read": report.read, "dropped": report.dropped, "groups": report.groups,
                            "seconds": round(time.perf_counter() - started, 2)}
        write_json_atomic(tmp / HEADER, header)
    return header, report
