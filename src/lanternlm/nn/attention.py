"""Self-attention: Attention(Q, K, V) = softmax(Q Kᵀ / √d_k + bias) V, with heads in parallel.

Two paths compute the same thing: `attention_reference` spells the formula out and can return the T×T
attention pattern; the fused path calls PyTorch's `scaled_dot_product_attention` (flash / memory-efficient
kernels), which never materialises that matrix. Tests hold them equal in every combination of options.

Grouped-query attention (GQA): n_head query heads share n_kv_head key/value heads, each K/V head serving a
group of n_head / n_kv_head query heads. n_kv_head = n_head is ordinary multi-head attention (MHA),
n_kv_head = 1 is multi-query attention (MQA). Fewer K/V heads shrink the KV cache by n_head / n_kv_head.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .functional import softmax
from .kv_cache import LayerKVCache
from .linear import Linear
from .norms import RMSNorm
from .positions import RotaryEmbedding, alibi_bias, alibi_slopes


def causal_mask(t_query: int, t_key: int, device: torch.device | None = None, window: int = 0) -> torch.Tensor:
    """True where query i may attend to key j: j <= i, and with a sliding window also i - j < window.

    Queries are the last t_query of the t_key positions (the newest tokens when keys come from a KV cache)."""
    q = torch.arange(t_query, device=device)[:, None] + (t_key - t_query)
    k = torch.arange(t_key, device=device)[None, :]
    allowed = k <= q
    return allowed & (q - k < window) if window > 0 else allowed


def allowed_keys(t_query: int, t_key: int, device: torch.device | None = None, causal: bool = True, window: int = 0,
                 key_mask: torch.Tensor | None = None) -> torch.Tensor | None:
    """True where query i may attend to key j; None when every query sees every key (bidirectional, no padding).

    `causal`/`window` as in `causal_mask`, (T_q, T_k); `key_mask` (B, T_k) is False at padding, which no query
    may see, giving (B, 1, T_q, T_k) (or (B, 1, 1, T_k) alone): a padded key's score becomes -inf."""
    allowed = causal_mask(t_query, t_key, device, window) if causal or window else None
    if key_mask is None:
        return allowed
    keys = key_mask[:, None, None, :]
    return keys if allowed is None else keys & allowed


def keys_up_to(positions: torch.Tensor, t_key: int, window: int = 0) -> torch.Tensor:
    """(B, T_k) bool: the keys a query at positions[b] may see, j <= positions[b] (and within the window).
    Rows at different positions (continuous batching) share one key range; each sees only its own past."""
    keys = torch.arange(t_key, device=positions.device)[None, :]
    allowed = keys <= positions[:, None]
    return allowed & (positions[:, None] - keys < window) if window > 0 else allowed


def attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True,
                        dropout_p: float = 0.0, bias: torch.Tensor | None = None, window: int = 0,
                        key_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """q: (B, H, T_q, d_head); k, v: (B, H_kv, T_k, d_head) with H a multiple of H_kv; bias: (H, T_q, T_k) added
    to the scores (ALiBi); key_mask: (B, T_k), False at padded keys. Returns (output (B, H, T_q, d_head),
    weights (B, H, T_q, T_k))."""
    group = q.size(1) // k.size(1)
    if group > 1:  # each K/V head serves `group` consecutive query heads
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if bias is not None:
        scores = scores + bias
    allowed = allowed_keys(q.size(-2), k.size(-2), q.device, causal, window, key_mask)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = softmax(scores).to(q.dtype)
    dropped = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
    return dropped @ v, weights


def fused_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True, dropout_p: float = 0.0,
                    bias: torch.Tensor | None = None, window: int = 0,
                    key_mask: torch.Tensor | None = None) -> torch.Tensor:
    """PyTorch's fused kernel, the same arguments as `attention_reference`. Bidirectional attention without
    padding, plain causal attention over a full sequence (`is_causal`: no mask tensor, the fastest path) and one
    new token over cached keys (it may see them all) need no mask; a window, ALiBi, padding or several new
    tokens over cached keys need one."""
    gqa = k.size(1) != q.size(1)
    t_q, t_k = q.size(2), k.size(2)
    plain = bias is None and key_mask is None and not window
    if plain and (not causal or t_q == t_k or t_q == 1):
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=causal and t_q > 1,
                                              enable_gqa=gqa)
    mask = allowed_keys(t_q, t_k, q.device, causal, window, key_mask)
    if bias is not None:  # a float mask is added to the scores: the bias where allowed, -inf elsewhere
        bias = bias.to(q.dtype)
        mask = bias if mask is None else torch.where(mask, bias, float("-inf"))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, enable_gqa=gqa)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, return_attention: bool, causal: bool,
           dropout_p: float = 0.0, bias: torch.Tensor | None = None, window: int = 0,
           key_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(output, weights): the reference path when the pattern is asked for, else the fused one (weights None)."""
    if return_attention:
        return attention_reference(q, k, v, causal, dropout_p, bias, window, key_mask)
    return fused_attention(q, k, v, causal, dropout_p, bias, window, key_mask), None


def head_layout(n_embd: int, n_head: int, n_kv_head: int | None) -> tuple[int, int]:
    """(n_kv_head, head_dim) of n_head query heads over n_embd dimensions; n_kv_head None or 0 means n_head."""
    n_kv_head = n_kv_head or n_head
    if n_embd % n_head or n_head % n_kv_head:
        raise ValueError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head}), and n_head by n_kv_head "
                         f"({n_kv_head})")
    return n_kv_head, n_embd // n_head


class GroupedQueryAttention(nn.Module):
    """Self-attention with n_head query heads and n_kv_head key/value heads (MHA, MQA or GQA); causal (a decoder:
    position i sees 0..i) or bidirectional (an encoder: every position sees every other one).

    Project to Q, K, V in one matmul, split into heads, optionally RMS-normalise Q and K per head (QK-norm,
    keeps the logits bounded), apply rotary positions, attend, concatenate the heads, project back."""

    def __init__(self, n_embd: int, n_head: int, n_kv_head: int | None = None, bias: bool = True,
                 attn_dropout: float = 0.0, resid_dropout: float = 0.0, qk_norm: bool = False,
                 norm_eps: float = 1e-5, sliding_window: int = 0, rotary: RotaryEmbedding | None = None,
                 alibi: bool = False, causal: bool = True) -> None:
        super().__init__()
        n_kv_head, self.head_dim = head_layout(n_embd, n_head, n_kv_head)
        self.n_head, self.n_kv_head = n_head, n_kv_head
        self.c_attn = Linear(n_embd, (n_head + 2 * n_kv_head) * self.head_dim, bias=bias)  # [Q; K; V]
        self.c_proj = Linear(n_embd, n_embd, bias=bias)
        self.q_norm = RMSNorm(self.head_dim, norm_eps) if qk_norm else None
        self.k_norm = RMSNorm(self.head_dim, norm_eps) if qk_norm else None
        self.rotary = rotary
        if alibi:
            self.register_buffer("alibi_slopes", alibi_slopes(n_head), persistent=False)
        else:
            self.alibi_slopes = None
        self.sliding_window = sliding_window
        self.causal = causal
        self.attn_dropout = attn_dropout
        self.resid_dropout = nn.Dropout(resid_dropout) if resid_dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, return_attention: bool = False, start_pos: int | torch.Tensor = 0,
                kv_cache: LayerKVCache | None = None,
                key_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, T, d) at positions start_pos..start_pos+T-1. With `kv_cache`, this step's keys and values are
        stored there and the queries attend over every cached position. key_mask: (B, T_keys) bool, False at
        padding (no query attends to a padded key). A (B,) tensor `start_pos` puts each row's one new token
        (T = 1) at its own position, over its own cached keys."""
        B, T, C = x.shape
        qkv = self.c_attn(x).view(B, T, self.n_head + 2 * self.n_kv_head, self.head_dim)
        q, k, v = qkv.split([self.n_head, self.n_kv_head, self.n_kv_head], dim=2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, heads, T, d_head)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if self.rotary is not None:
            q, k = self.rotary(q, start_pos), self.rotary(k, start_pos)
        if kv_cache is not None:
            k, v = kv_cache.update(k, v, start_pos)
        dropout_p = self.attn_dropout if self.training else 0.0
        causal, window = self.causal, self.sliding_window
        query_pos = start_pos if isinstance(start_pos, torch.Tensor) else None
        if query_pos is not None:  # one query per row: its own past is all it may see, so no triangle is needed
            key_mask, causal, window = keys_up_to(query_pos, k.size(2), window), False, 0
        bias = alibi_bias(self.alibi_slopes, T, k.size(2), query_pos) if self.alibi_slopes is not None else None
        y, weights = attend(q, k, v, return_attention, causal, dropout_p, bias, window, key_mask)
        y = y.transpose(1, 2).reshape(B, T, C)  # concatenate heads
        return self.resid_dropout(self.c_proj(y)), weights


class CrossAttention(nn.Module):
    """Encoder–decoder (cross-) attention: the queries come from the decoder, the keys and values from the
    encoder's output m (the source sentence): softmax((x W_q)(m W_k)ᵀ / √d_head + padding mask) (m W_v).

    No causal mask (each target position may look at the whole source) and no positions (the encoder already
    wrote them into m). Keys and values depend on the source alone, so generation computes them once
    (`memory`) and every decoding step reuses them. n_kv_head < n_head shares K/V heads as in GQA."""

    def __init__(self, n_embd: int, n_head: int, n_kv_head: int | None = None, bias: bool = True,
                 attn_dropout: float = 0.0, resid_dropout: float = 0.0, qk_norm: bool = False,
                 norm_eps: float = 1e-5) -> None:
        super().__init__()
        n_kv_head, self.head_dim = head_layout(n_embd, n_head, n_kv_head)
        self.n_head, self.n_kv_head = n_head, n_kv_head
        self.q_proj = Linear(n_embd, n_embd, bias=bias)  # W_q, applied to the decoder's stream
        self.kv_proj = Linear(n_embd, 2 * n_kv_head * self.head_dim, bias=bias)  # [W_k; W_v], to the encoder's
        self.c_proj = Linear(n_embd, n_embd, bias=bias)
        self.q_norm = RMSNorm(self.head_dim, norm_eps) if qk_norm else None
        self.k_norm = RMSNorm(self.head_dim, norm_eps) if qk_norm else None
        self.attn_dropout = attn_dropout
        self.resid_dropout = nn.Dropout(resid_dropout) if resid_dropout > 0 else nn.Identity()

    def memory(self, encoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder output (B, S, d) -> its keys and values, (B, n_kv_head, S, d_head) each."""
        B, S, _ = encoded.shape
        k, v = self.kv_proj(encoded).view(B, S, 2, self.n_kv_head, self.head_dim).unbind(2)
        k, v = k.transpose(1, 2), v.transpose(1, 2)
        return (self.k_norm(k) if self.k_norm is not None else k), v

    def forward(self, x: torch.Tensor, memory: tuple[torch.Tensor, torch.Tensor],
                key_mask: torch.Tensor | None = None,
                return_attention: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, T, d) decoder positions; memory: `self.memory(encoder output)`; key_mask: (B, S) bool, False
        at source padding. Returns (output (B, T, d), weights (B, n_head, T, S) when asked for)."""
        B, T, C = x.shape
        q = self.q_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        if self.q_norm is not None:
            q = self.q_norm(q)
        dropout_p = self.attn_dropout if self.training else 0.0
        y, weights = attend(q, *memory, return_attention, causal=False, dropout_p=dropout_p, key_mask=key_mask)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(B, T, C))), weights


CausalSelfAttention = GroupedQueryAttention  # multi-head attention is the n_kv_head == n_head case
