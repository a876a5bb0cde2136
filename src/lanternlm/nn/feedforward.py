"""The position-wise feed-forward network: Linear(d, d_ff) -> activation -> Linear(d_ff, d), d_ff ≈ 4·d.

Gated variant (SwiGLU, Llama/Mixtral): FFN(x) = W_down (SiLU(x W_gate) ⊙ x W_up). One branch decides how much
of the other passes; it has three matrices instead of two, so d_ff ≈ 8/3·d keeps the parameter count.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from .linear import Linear

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "gelu": lambda: nn.GELU(),  # x·Φ(x), exact erf form
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),  # GPT-2's "gelu_new": the tanh approximation of Φ
    "relu": lambda: nn.ReLU(),  # max(0, x)
    "silu": lambda: nn.SiLU(),  # x·σ(x), a.k.a. Swish
    "swiglu": lambda: nn.SiLU(),  # gated: SiLU on the gate branch times the up branch
}
GATED = {"swiglu"}


class FeedForward(nn.Module):
    """Applied to every position independently; holds about two thirds of a GPT block's weights.

    For a gated activation `c_fc` computes the gate and up projections in one matmul ([gate; up] stacked)."""

    def __init__(self, n_embd: int, d_ff: int, activation: str = "gelu", bias: bool = True, dropout: float = 0.0,
                 hidden_dropout: float = 0.0) -> None:
        super().__init__()
        self.gated = activation in GATED
        self.c_fc = Linear(n_embd, 2 * d_ff if self.gated else d_ff, bias=bias)
        self.act = ACTIVATIONS[activation]()
        self.c_proj = Linear(d_ff, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        # on the d_ff activations, as torch.nn.Transformer and the 2017 reference code do (the paper names only P_drop)
        self.hidden_dropout = nn.Dropout(hidden_dropout) if hidden_dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gated:
            gate, up = self.c_fc(x).chunk(2, dim=-1)
            return self.dropout(self.c_proj(self.hidden_dropout(self.act(gate) * up)))
        return self.dropout(self.c_proj(self.hidden_dropout(self.act(self.c_fc(x)))))
