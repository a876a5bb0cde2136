"""Choosing the next token from logits: small pure functions, composed in order.

temperature: z / T (T -> 0 is greedy); top-k: keep the k largest logits; then sample from softmax.
"""

from __future__ import annotations

import torch

from ..nn.functional import softmax


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Set every logit outside the k largest (per row) to -inf. k <= 0 or k >= |V| keeps all."""
    if k <= 0 or k >= logits.size(-1):
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """logits (B, V) -> next token ids (B,). temperature == 0 picks the argmax (greedy decoding)."""
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = softmax(top_k_filter(logits, top_k), temperature=temperature)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
