"""The position-wise feed-forward network: Linear(d, d_ff) -> activation -> Linear(d_ff, d), d_ff ≈ 4·d."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "gelu": lambda: nn.GELU(),  # x·Φ(x), exact erf form (GPT-2 used the tanh approximation)
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "relu": lambda: nn.ReLU(),  # max(0, x)
    "silu": lambda: nn.SiLU(),  # x·σ(x), a.k.a. Swish
}


class FeedForward(nn.Module):
    """Applied to every position independently; holds about two thirds of a GPT block's weights."""

    def __init__(self, n_embd: int, d_ff: int, activation: str = "gelu", bias: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        self.c_fc = nn.Linear(n_embd, d_ff, bias=bias)
        self.act = ACTIVATIONS[activation]()
        self.c_proj = nn.Linear(d_ff, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))
