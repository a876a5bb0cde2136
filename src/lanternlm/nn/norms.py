"""Normalisation layers: LayerNorm (centre and scale) and RMSNorm (scale only), chosen by name.

LayerNorm(x) = (x - mean(x)) / sqrt(var(x) + eps) · g + b
RMSNorm(x)   = x / sqrt(mean(x²) + eps) · g          (Llama, Mixtral: no centring, no bias, a little cheaper)
"""

from __future__ import annotations

import torch
import torch.nn as nn


class RMSNorm(nn.Module):
    """Root-mean-square normalisation over the last dimension, with a learned gain g (initialised to 1)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()  # the mean of squares in fp32, as reduced-precision sums lose digits
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


def make_norm(kind: str, dim: int, eps: float, bias: bool = True) -> nn.Module:
    """`layernorm` (with a bias when `bias`) or `rmsnorm` (never a bias)."""
    if kind == "rmsnorm":
        return RMSNorm(dim, eps)
    if kind == "layernorm":
        return nn.LayerNorm(dim, eps=eps, bias=bias)
    raise ValueError(f"unknown norm {kind!r}")
