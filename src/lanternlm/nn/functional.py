"""Small functions every stage shares."""

from __future__ import annotations

import torch


def softmax(logits: torch.Tensor, temperature: float = 1.0, dim: int = -1) -> torch.Tensor:
    """p_i = exp(z_i / T) / sum_j exp(z_j / T) for T > 0 (callers check it where it enters: T = 0 is greedy
    decoding, not a distribution). T < 1 sharpens, T > 1 flattens; computed stably (max-shifted)."""
    z = logits.to(torch.promote_types(logits.dtype, torch.float32))  # half precision up; float64 stays
    z = z / temperature if temperature != 1.0 else z
    return torch.softmax(z, dim=dim)


def cosine_similarity(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """cos(a, b) = a.b / (|a| |b|): 1 for aligned vectors, 0 for orthogonal. Rows of `a` against rows of `b`."""
    a = a / a.norm(dim=-1, keepdim=True).clamp_min(eps)
    b = b / b.norm(dim=-1, keepdim=True).clamp_min(eps)
    return a @ b.transpose(-2, -1)
