"""Self-attention: Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V, with heads in parallel.

Two paths compute the same thing: `attention_reference` spells the formula out and can return the T×T
attention pattern; the fused path calls PyTorch's `scaled_dot_product_attention` (flash / memory-efficient
kernels), which never materialises that matrix. Tests hold them equal.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .functional import softmax


def causal_mask(t_query: int, t_key: int, device: torch.device | None = None) -> torch.Tensor:
    """True where query i may attend to key j, i.e. j <= i (queries are the last t_query of t_key positions)."""
    offset = t_key - t_query
    q = torch.arange(t_query, device=device)[:, None] + offset
    k = torch.arange(t_key, device=device)[None, :]
    return k <= q


def attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True,
                        dropout_p: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """q, k, v: (B, H, T, d_head). Returns (output (B, H, T, d_head), weights (B, H, T_q, T_k))."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if causal:
        scores = scores.masked_fill(~causal_mask(q.size(-2), k.size(-2), q.device), float("-inf"))
    weights = softmax(scores).to(q.dtype)
    dropped = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
    return dropped @ v, weights


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: project to Q, K, V, split into n_head heads, attend, concat, project."""

    def __init__(self, n_embd: int, n_head: int, bias: bool = True, attn_dropout: float = 0.0,
                 resid_dropout: float = 0.0) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)  # Q, K, V projections in one matmul
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.attn_dropout = attn_dropout
        self.resid_dropout = nn.Dropout(resid_dropout) if resid_dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        dropout_p = self.attn_dropout if self.training else 0.0
        if return_attention:
            y, weights = attention_reference(q, k, v, causal=True, dropout_p=dropout_p)
        else:
            y, weights = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True), None
        y = y.transpose(1, 2).reshape(B, T, C)  # concatenate heads
        return self.resid_dropout(self.c_proj(y)), weights
