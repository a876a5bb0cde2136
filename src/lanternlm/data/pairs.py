"""Sentence pairs for an encoder–decoder model: the example format, the prepared files, and batches that pack
pairs of similar length.

One pair (source ids s, target ids y, <|endoftext|> = EOT) becomes, for teacher forcing:

    source   s_1 .. s_m EOT              what the encoder reads
    idx      EOT y_1 .. y_n              the decoder's input: the target shifted right, EOT as the start token
    targets  y_1 .. y_n EOT              what each decoder position must predict (EOT: stop here)

A batch pads each of the three on the right (source_mask says which source positions are real; padded target
positions get IGNORE_INDEX, so they carry no loss, and the causal mask keeps real positions from seeing them).

A prepared pairs directory (written by `lantern prepare --pairs`, see `data/prepare_pairs.py`) holds:

    header.json     {"format": "lantern-pairs", "version": 1, "splits": {"train": {"pairs": N, ...}, ...}, ...}
    tokenizer.json  the tokenizer of both sides (a "pair" tokenizer when source and target have their own)
    train.npz       source_ids, source_offsets, target_ids, target_offsets: every sentence's ids, concatenated
    val.npz
    train.tsv       the kept pairs as text (source<TAB>target), line i = pair i
    val.tsv         the held-out pairs as text: what `lantern eval RUN` translates and scores
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import LanternError
from ..io import read_json, read_versioned_json
from ..models import IGNORE_INDEX, pad_sequences
from ..tokenizers import Tokenizer, load_tokenizer

FORMAT_NAME = "lantern-pairs"
FORMAT_VERSION = 1
HEADER = "header.json"
TOKENIZER = "tokenizer.json"
ARRAYS = ("source_ids", "source_offsets", "target_ids", "target_offsets")
POOL_BATCHES = 64  # bucketing: pairs are sorted by length within pools of this many batches


def source_tokenizer(tokenizer: Tokenizer) -> Tokenizer:
    """The tokenizer of the source side: its own with two vocabularies (a "pair" tokenizer), else the same."""
    return getattr(tokenizer, "source", tokenizer)


def start_token(tokenizer: Tokenizer) -> int:
    """EOT ends the source and the target and starts the decoder's input."""
    if tokenizer.eot_id is None:
        raise LanternError("a translation tokenizer needs the <|endoftext|> special token (start and end of a "
                           "sentence)")
    return tokenizer.eot_id


def teacher_forcing(source: list[int], target: list[int], eot: int) -> tuple[list[int], list[int], list[int]]:
    """(source, decoder input, targets) of one pair, as the module docstring draws them."""
    return source + [eot], [eot] + target, target + [eot]


class PairSplit:
    """The sentence pairs of one split, as two concatenated id arrays with offsets (sentence i of a side is
    ids[offsets[i]:offsets[i+1]]), and the text file they came from (for BLEU)."""

    def __init__(self, arrays: dict[str, np.ndarray], eot: int, name: str = "data", text_path: Path | None = None):
        self.source_ids, self.source_offsets = arrays["source_ids"], arrays["source_offsets"]
        self.target_ids, self.target_offsets = arrays["target_ids"], arrays["target_offsets"]
        self.eot, self.name, self.text_path = eot, name, text_path
        self.source_lengths = np.diff(self.source_offsets)
        self.target_lengths = np.diff(self.target_offsets)

    def __len__(self) -> int:
        return len(self.source_lengths)

    def pair(self, i: int) -> tuple[list[int], list[int]]:
        s, t = self.source_offsets, self.target_offsets
        return (self.source_ids[s[i]:s[i + 1]].tolist(), self.target_ids[t[i]:t[i + 1]].tolist())

    def longest(self) -> int:
        """Positions the longest pair needs on either side (its sentence + EOT)."""
        return int(max(self.source_lengths.max(initial=0), self.target_lengths.max(initial=0))) + 1

    def check_fits(self, block_size: int) -> None:
        if len(self) == 0:
            raise LanternError(f"the {self.name} split holds no sentence pairs")
        if self.longest() > block_size:
            raise LanternError(f"the {self.name} split has a sentence of {self.longest()} tokens (with EOT) but "
                               f"model.block_size is {block_size}; raise block_size or prepare with a lower "
                               f"--max-tokens")

    def tokens_per_example(self, block_size: int) -> float:
        """Mean tokens one pair feeds the model (source + decoder input), the unit of tokens/s."""
        return float(np.mean(self.source_lengths + self.target_lengths)) + 2 if len(self) else 0.0

    def inputs_at(self, indices: torch.Tensor, block_size: int | None = None) -> dict[str, torch.Tensor]:
        """The model's keyword arguments for pairs `indices`: source, source_mask, idx, targets (padded)."""
        sources, inputs, targets = zip(*(teacher_forcing(*self.pair(i), self.eot) for i in indices.tolist()))
        source, source_mask = pad_sequences(list(sources))
        idx, target_mask = pad_sequences(list(inputs))
        padded_targets = pad_sequences(list(targets))[0].masked_fill(target_mask == 0, IGNORE_INDEX)
        return {"source": source, "source_mask": source_mask, "idx": idx, "targets": padded_targets}

    def random_inputs(self, batch_size: int, block_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A batch of pairs drawn uniformly (evaluation)."""
        return self.inputs_at(torch.randint(len(self), (batch_size,), generator=generator))


class BucketedPairs:
    """The training order of the pairs: shuffled epochs of batches that pack pairs of similar length.

    Epoch e shuffles the pairs, sorts them by length within pools of POOL_BATCHES batches, cuts each pool into
    batches of batch_size and shuffles the batches, all from a generator seeded by (seed, e): a batch wastes
    little on padding, the order still changes every epoch, and the pairs of a step are a function of the step
    alone (resuming needs no sampler state). The last len % batch_size pairs of an epoch's shuffle wait for the
    next. Like the window samplers, `starts(first, count)` gives the pairs of training examples first ..
    first + count - 1; a micro-batch of batch_size consecutive examples is one batch."""

    def __init__(self, data: PairSplit, batch_size: int, seed: int) -> None:
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.n_batches = len(data) // batch_size
        if self.n_batches == 0:
            raise LanternError(f"the {data.name} split has {len(data)} pairs, fewer than one batch of "
                               f"train.batch_size = {batch_size}")
        self.per_epoch = self.n_batches * batch_size
        self._plan: tuple[int, torch.Tensor] | None = None

    def plan(self, epoch: int) -> torch.Tensor:
        """The pair numbers of one epoch, batch after batch."""
        if self._plan is None or self._plan[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            order = rng.permutation(len(self.data))[:self.per_epoch]
            lengths = self.data.source_lengths + self.data.target_lengths
            pool = POOL_BATCHES * self.batch_size
            for start in range(0, self.per_epoch, pool):
                chunk = order[start:start + pool]
                order[start:start + pool] = chunk[np.argsort(lengths[chunk], kind="stable")]
            batches = order.reshape(self.n_batches, self.batch_size)[rng.permutation(self.n_batches)]
            self._plan = (epoch, torch.from_numpy(batches.reshape(-1)))
        return self._plan[1]

    def starts(self, first: int, count: int) -> torch.Tensor:
        pieces = []
        while count > 0:  # a step's batches may span the end of one epoch and the start of the next
            epoch, offset = divmod(first, self.per_epoch)
            take = min(count, self.per_epoch - offset)
            pieces.append(self.plan(epoch)[offset:offset + take])
            first, count = first + take, count - take
        return torch.cat(pieces)

    def epochs(self, examples: int) -> float:
        return examples / self.per_epoch


def is_pairs_directory(data_dir: str | Path) -> bool:
    """Whether `data_dir` holds prepared sentence pairs (rather than a token stream)."""
    try:
        return read_json(Path(data_dir) / HEADER, "data header").get("format") == FORMAT_NAME
    except (LanternError, AttributeError):
        return False


def load_pairs(data_dir: str | Path) -> tuple[Tokenizer, PairSplit, PairSplit, dict[str, Any]]:
    """(tokenizer, train, val, header) of a prepared pairs directory."""
    data_dir = Path(data_dir)
    if not (data_dir / HEADER).is_file():
        raise LanternError(f"{data_dir}: not a prepared sentence-pair directory (run `lantern prepare --pairs`)")
    header = read_versioned_json(data_dir / HEADER, FORMAT_NAME, FORMAT_VERSION, "sentence-pair data header")
    tokenizer = load_tokenizer(data_dir / TOKENIZER)
    eot = start_token(tokenizer)
    splits = []
    for name in ("train", "val"):
        path = data_dir / f"{name}.npz"
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {key: npz[key].astype(np.int64) for key in ARRAYS}
            if len(arrays["source_offsets"]) != int(header["splits"][name]["pairs"]) + 1:
                raise ValueError(f"its pair count does not match {HEADER}")
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise LanternError(f"{path}: missing or corrupted ({exc.__class__.__name__}: {exc})") from None
        splits.append(PairSplit(arrays, eot, "train" if name == "train" else "validation",
                                data_dir / f"{name}.tsv"))
    return tokenizer, splits[0], splits[1], header
