"""How a transformer knows where a token is: attention itself is order-blind (a permutation of the keys
permutes nothing in the output), so position must enter somewhere.

* Added to the input embedding (absolute): `LearnedPositionalEmbedding` (GPT-2, a trained |block| x d table)
  and `SinusoidalPositionalEncoding` (the original Transformer, fixed sin/cos waves).
* Inside attention (relative): `RotaryEmbedding` (RoPE, Llama) rotates queries and keys so their dot product
  depends only on the offset between positions; `alibi_bias` (ALiBi) adds -slope·distance to the scores.
* `none`: the causal mask alone leaks some order information ("NoPE").

Every function takes `start_pos`, the absolute position of the first token, so that incremental decoding with
a KV cache sees the same positions as a full forward pass. `start_pos` may also be a (B,) tensor: each row of
the batch at its own position (continuous batching decodes requests that started at different times).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


def rows_of(table: torch.Tensor, length: int, start_pos: int | torch.Tensor) -> torch.Tensor:
    """Rows start_pos..start_pos+length-1 of a per-position table: (T, ...) for an int start, (B, T, ...) for a
    (B,) tensor of starts."""
    if isinstance(start_pos, torch.Tensor):
        return table[start_pos[:, None] + torch.arange(length, device=start_pos.device)]
    return table[start_pos:start_pos + length]


class LearnedPositionalEmbedding(nn.Embedding):
    """A trained vector per absolute position 0..block_size-1 (GPT-2's `wpe`)."""

    def forward(self, length: int, start_pos: int | torch.Tensor = 0) -> torch.Tensor:  # type: ignore[override]
        return rows_of(self.weight, length, start_pos)  # the rows of positions start_pos..+T-1


class SinusoidalPositionalEncoding(nn.Module):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)); nothing is learned.

    Each pair of dimensions is a clock at its own frequency, from one turn per 2π positions down to one per
    10000·2π, so a fixed offset k is a fixed linear map (a rotation) of the encoding."""

    def __init__(self, max_positions: int, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        position = torch.arange(max_positions, dtype=torch.float32)[:, None]
        frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(base) / dim))
        table = torch.zeros(max_positions, dim)
        table[:, 0::2] = torch.sin(position * frequency)
        table[:, 1::2] = torch.cos(position * frequency)
        self.register_buffer("table", table, persistent=False)  # derived, so not saved with the weights

    def forward(self, length: int, start_pos: int | torch.Tensor = 0) -> torch.Tensor:
        return rows_of(self.table, length, start_pos)


class RotaryEmbedding(nn.Module):
    """RoPE: rotate each pair (x_i, x_{i+d/2}) of a query or key by the angle pos·θ_i, θ_i = theta^(-2i/d).

    Since rotations compose, <R(m)q, R(n)k> = <q, R(n-m)k>: the attention score depends on the relative offset
    n - m only. Pairs are (i, i + d/2) ("rotate half"), the layout of Hugging Face's Llama, so imported
    weights need no permutation."""

    def __init__(self, head_dim: int, max_positions: int, theta: float = 10000.0) -> None:
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        angles = torch.outer(torch.arange(max_positions, dtype=torch.float32), inv_freq)  # (T, d/2)
        angles = torch.cat([angles, angles], dim=-1)  # the same angle for i and i + d/2
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor, start_pos: int | torch.Tensor = 0) -> torch.Tensor:
        """x: (B, H, T, d_head) at positions start_pos..start_pos+T-1."""
        T = x.size(-2)
        cos, sin = rows_of(self.cos, T, start_pos), rows_of(self.sin, T, start_pos)
        if isinstance(start_pos, torch.Tensor):  # (B, T, d) -> (B, 1, T, d): the same angles for every head
            cos, sin = cos[:, None], sin[:, None]
        x1, x2 = x.chunk(2, dim=-1)
        rotated = torch.cat([-x2, x1], dim=-1)  # (x1, x2) -> (-x2, x1): a quarter turn of every pair
        return (x * cos + rotated * sin).to(x.dtype)


def alibi_slopes(n_head: int) -> torch.Tensor:
    """Head h (1-based) gets slope 2^(-8h/n) (a geometric sequence); for n not a power of two, the slopes of the
    nearest lower power of two plus every other slope of the next one (as in the ALiBi paper's code)."""

    def power_of_two(n: int) -> list[float]:
        return [2.0 ** (-8.0 * h / n) for h in range(1, n + 1)]

    if math.log2(n_head).is_integer():
        return torch.tensor(power_of_two(n_head))
    lower = 2 ** math.floor(math.log2(n_head))
    return torch.tensor(power_of_two(lower) + power_of_two(2 * lower)[0::2][: n_head - lower])


def alibi_bias(slopes: torch.Tensor, t_query: int, t_key: int,
               query_pos: torch.Tensor | None = None) -> torch.Tensor:
    """(H, T_q, T_k) additive score bias -slope·(i - j) for query i and key j; queries are the last T_q keys,
    or, with `query_pos` (B,), one query per row at its own position: (B, H, 1, T_k)."""
    keys = torch.arange(t_key, device=slopes.device)
    if query_pos is not None:
        distance = (query_pos[:, None] - keys[None, :]).float()  # (B, T_k)
        return -slopes[None, :, None, None] * distance[:, None, None, :]
    query = torch.arange(t_query, device=slopes.device)[:, None] + (t_key - t_query)
    distance = (query - keys[None, :]).float()
    return -slopes[:, None, None] * distance
