"""Masked-language-model examples (BERT's pretraining objective), cut from a token stream.

An example is a window of the stream opened by [CLS]: `[CLS] t_1 .. t_{T-1}` (T = block_size). Documents
inside the stream are separated by [SEP] (`lantern prepare` writes them so for a WordPiece tokenizer). Of the
window's ordinary tokens (never [CLS], [SEP], [PAD], [MASK], [UNK]) n = max(1, round(0.15·count)) are chosen,
as Google's BERT does (an exact count: every window has a position to predict). Of the chosen ones

    80 %  become [MASK]                    the model must reconstruct them from the context on both sides
    10 %  become a random ordinary token    so it cannot trust that an unmasked token is right
    10 %  stay as they are                  so it keeps a useful vector for the tokens it does see

`targets` holds the original token at the chosen positions and IGNORE_INDEX everywhere else: only they carry
loss. The masks of a window are a pure function of (seed, window start), drawn from a generator seeded by the
two: a resumed run masks every window exactly as the uninterrupted run did, with no state to checkpoint. The
window starts differ from step to step (random draws, or epochs at a new phase), so a token is masked afresh
each time it is seen (RoBERTa's dynamic masking) rather than once for all (BERT's static masks).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import LanternError
from ..models import IGNORE_INDEX
from ..tokenizers import Tokenizer
from .text import TokenWindows

MASK_SHARE, RANDOM_SHARE = 0.8, 0.1  # of the chosen positions; the remaining 0.1 keep their token


class MaskingRule:
    """BERT's masking of one window; `mask(ids, seed, start)` -> (inputs, targets)."""

    def __init__(self, tokenizer: Tokenizer, probability: float = 0.15) -> None:
        mask_id, cls_id = getattr(tokenizer, "mask_id", None), getattr(tokenizer, "cls_id", None)
        if mask_id is None or cls_id is None:
            raise LanternError(f"masked-language training needs a tokenizer with [CLS] and [MASK] tokens, not a "
                               f"{tokenizer.kind} tokenizer (train one with `lantern tokenizer train --kind wordpiece`)")
        self.mask_id, self.cls_id, self.probability = mask_id, cls_id, probability
        self.special = np.zeros(tokenizer.vocab_size, dtype=bool)
        self.special[list(tokenizer.special_tokens.values())] = True
        self.ordinary_ids = np.flatnonzero(~self.special)  # what a random replacement is drawn from

    def mask(self, ids: np.ndarray, seed: int, start: int) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, targets) of one window of ids; the draws come from a generator seeded by (seed, start)."""
        rng = np.random.default_rng([seed, start])
        candidates = np.flatnonzero(~self.special[ids])
        n = max(1, round(self.probability * len(candidates))) if len(candidates) else 0
        chosen = rng.choice(candidates, n, replace=False)
        roll = rng.random(n)
        replacements = self.ordinary_ids[rng.integers(len(self.ordinary_ids), size=n)]
        inputs, targets = ids.copy(), np.full_like(ids, IGNORE_INDEX)
        targets[chosen] = ids[chosen]
        inputs[chosen] = np.where(roll < MASK_SHARE, self.mask_id,
                                  np.where(roll < MASK_SHARE + RANDOM_SHARE, replacements, ids[chosen]))
        return inputs, targets


class MaskedWindows:
    """A token stream as masked-LM examples: the split a bert-family run trains and is evaluated on.

    Keeps the split protocol of `TokenWindows` (see data/splits.py): `inputs_at(starts, block_size)` gives the
    model's keyword arguments `ids` and `targets` for the windows at `starts`; the window samplers use
    `len`, `check_fits` and `random_starts` as they do for next-token windows."""

    def __init__(self, stream: TokenWindows, rule: MaskingRule, seed: int) -> None:
        self.stream, self.rule, self.seed = stream, rule, seed
        self.name = stream.name

    def __len__(self) -> int:
        return len(self.stream)

    def check_fits(self, block_size: int) -> None:
        self.stream.check_fits(block_size)

    def random_starts(self, n: int, block_size: int, generator: torch.Generator) -> torch.Tensor:
        return self.stream.random_starts(n, block_size, generator)

    def inputs_at(self, starts: torch.Tensor, block_size: int) -> dict[str, torch.Tensor]:
        """ids = [CLS] + the block_size - 1 stream tokens at each start, masked; targets as the docstring says."""
        windows = self.stream.windows_at(starts, block_size - 1)[0].numpy()
        windows = np.concatenate([np.full((len(windows), 1), self.rule.cls_id, windows.dtype), windows], axis=1)
        pairs = [self.rule.mask(window, self.seed, start) for window, start in zip(windows, starts.tolist())]
        inputs, targets = (torch.from_numpy(np.stack(part)).long() for part in zip(*pairs))
        return {"ids": inputs, "targets": targets}

    def random_inputs(self, batch_size: int, block_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.inputs_at(self.random_starts(batch_size, block_size, generator), block_size)

    def tokens_per_example(self, block_size: int) -> int:
        """A window feeds block_size tokens (the unit of tokens/s), of which about 15 % carry loss."""
        return block_size

    def sequential_starts(self, block_size: int) -> torch.Tensor:
        """Starts of consecutive windows that cover the stream once (evaluation: every token in one window)."""
        return torch.arange(0, len(self) - block_size + 1, block_size - 1)  # a window reads block_size tokens


def masked_split(stream: TokenWindows, tokenizer: Tokenizer, probability: float, seed: int) -> MaskedWindows:
    return MaskedWindows(stream, MaskingRule(tokenizer, probability), seed)
