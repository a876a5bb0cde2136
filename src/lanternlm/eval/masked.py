"""Scoring an encoder on held-out text: masked-token loss and accuracy.

Every token of the text sits in one window (consecutive windows, as `MaskedWindows.sequential_starts` cuts
them); each window is masked as in training (BERT's 15 % and 80/10/10, from the run's seed, so the same text
always gets the same masks). loss = mean cross-entropy over the masked positions (nats per masked token);
accuracy = the share of them whose original token the model ranks first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from ..data.masked import MaskedWindows
from ..device import to_device
from ..errors import LanternError
from ..models import IGNORE_INDEX


@dataclass
class MaskedEvalResult:
    loss: float  # mean NLL of the original token at a masked position, nats
    accuracy: float  # share of masked positions whose original token is the top prediction
    tokens: int  # masked positions scored

    def summary(self) -> str:
        return (f"masked-token loss {self.loss:.4f} nats (perplexity {math.exp(self.loss):.2f}), accuracy "
                f"{100 * self.accuracy:.2f} % ({self.tokens:,} masked tokens)")


@torch.no_grad()
def evaluate_masked(model: torch.nn.Module, data: MaskedWindows, block_size: int, batch_size: int = 32,
                    device: torch.device | str = "cpu",
                    on_progress: Callable[[int, int], None] | None = None) -> MaskedEvalResult:
    """Masked-token loss and accuracy over consecutive windows of `data`, `batch_size` windows at a time (a
    text shorter than block_size is one window)."""
    if len(data) < 2:
        raise LanternError(f"the {data.name} text has {len(data)} token(s); masking needs at least 2")
    model.eval()
    block_size = min(block_size, len(data))
    starts = data.sequential_starts(block_size)
    total_nll, hits, count = 0.0, 0.0, 0
    for first in range(0, len(starts), batch_size):
        inputs = data.inputs_at(starts[first:first + batch_size], block_size)
        n = int((inputs["targets"] != IGNORE_INDEX).sum())
        output = model(**to_device(inputs, torch.device(device)))
        total_nll += output.loss.item() * n
        hits += output.metrics["accuracy"].item() * n
        count += n
        if on_progress is not None:
            on_progress(min(first + batch_size, len(starts)), len(starts))
    return MaskedEvalResult(total_nll / max(count, 1), hits / max(count, 1), count)
