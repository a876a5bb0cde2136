"""Cross-entropy = mean negative log-likelihood of the true next token; perplexity = exp(mean NLL)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data import TokenWindows


@dataclass
class EvalResult:
    loss: float  # nats per token
    tokens: int

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)


@torch.no_grad()
def evaluate_windows(model: torch.nn.Module, data: TokenWindows, block_size: int,
                     device: torch.device | str = "cpu") -> EvalResult:
    """Score every token once, in consecutive windows of `block_size` (exact, not a random estimate)."""
    model.eval()
    total_nll, count = 0.0, 0
    for x, y in data.sequential(block_size):
        logits = model(x[None].to(device)).logits[0]
        total_nll += F.cross_entropy(logits.float(), y.to(device), reduction="sum").item()
        count += y.numel()
    return EvalResult(total_nll / count, count)
