"""Text corpora in, batches of (input, target) token windows out: targets are the inputs shifted by one."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from ..errors import LanternError
from ..io import read_text

BUNDLED_CORPUS = "tinyshakespeare.txt"


def bundled_corpus_path() -> Path:
    """Tiny Shakespeare (public domain), shipped inside the package: the default training text."""
    return Path(str(resources.files("lanternlm") / "assets" / BUNDLED_CORPUS))


def read_corpus(paths: list[str]) -> str:
    """Concatenate the input files (or the bundled corpus when none are given)."""
    if not paths:
        return read_text(bundled_corpus_path())
    return "\n".join(read_text(p) for p in paths)


class TokenWindows:
    """A 1-D tensor of token ids from which random windows of block_size+1 tokens are drawn."""

    def __init__(self, ids: torch.Tensor, name: str = "data") -> None:
        self.ids = ids
        self.name = name

    @classmethod
    def from_text(cls, tokenizer, text: str, name: str = "data") -> "TokenWindows":
        """Tokenize `text` whole into windows (for corpora that fit in memory)."""
        return cls(torch.tensor(tokenizer.encode(text), dtype=torch.long), name)

    def __len__(self) -> int:
        return self.ids.numel()

    def check_fits(self, block_size: int) -> None:
        if len(self) < block_size + 1:
            raise LanternError(f"the {self.name} split has {len(self)} tokens; it needs at least block_size+1 = "
                               f"{block_size + 1} (use more text or a smaller block_size)")

    def batch(self, batch_size: int, block_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """x[b] = ids[s_b : s_b+T], y[b] = ids[s_b+1 : s_b+T+1] for random starts s_b."""
        return self.windows_at(self.random_starts(batch_size, block_size, generator), block_size)

    def random_starts(self, n: int, block_size: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(len(self) - block_size, (n,), generator=generator)

    def inputs_at(self, starts: torch.Tensor, block_size: int) -> dict[str, torch.Tensor]:
        """The model's keyword arguments for the windows at `starts`: idx (inputs) and targets."""
        return dict(zip(("idx", "targets"), self.windows_at(starts, block_size)))

    def random_inputs(self, batch_size: int, block_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return dict(zip(("idx", "targets"), self.batch(batch_size, block_size, generator)))

    def tokens_per_example(self, block_size: int) -> int:
        """A window feeds block_size tokens (the unit of tokens/s)."""
        return block_size

    def windows_at(self, starts: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) for windows of block_size + 1 tokens at the given starts."""
        window = self.ids[starts[:, None] + torch.arange(block_size + 1)]
        return window[:, :-1], window[:, 1:]

    def window(self, start: int, stop: int) -> torch.Tensor:
        """ids[start:stop] as a LongTensor."""
        return self.ids[start:stop]

    def sequential(self, block_size: int):
        """Consecutive non-overlapping windows covering every token once."""
        for x, y, _ in self.scoring_windows(block_size, block_size):
            yield x, y

    def scoring_windows(self, block_size: int, stride: int):
        """Sliding windows for evaluation: yields (x, y, n) where only the last n targets are new.

        Each window sees up to block_size tokens of context; it moves by `stride`, so with stride < block_size
        every scored token (after the first window) has at least block_size - stride tokens of context.
        """
        scored_until = 0  # targets ids[1 .. scored_until] are done
        for start in range(0, len(self) - 1, stride):
            end = min(start + block_size, len(self) - 1)
            chunk = self.window(start, end + 1)
            yield chunk[:-1], chunk[1:], end - scored_until
            scored_until = end
            if end == len(self) - 1:
                break


def split_ids(ids: list[int], val_fraction: float) -> tuple[TokenWindows, TokenWindows]:
    """First (1 - f) of the tokens for training, the last f for validation (no shuffling: no leakage)."""
    data = torch.tensor(ids, dtype=torch.long)
    n_train = int(len(data) * (1 - val_fraction))
    return TokenWindows(data[:n_train], "train"), TokenWindows(data[n_train:], "validation")
