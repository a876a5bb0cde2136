"""What the transformer families share: the positions they add, the block they stack, their initialisation.

Block: self-attention and a feed-forward network, each in a residual branch, the norm before the branch or
after the sum:
  pre-norm (GPT-2, Llama):        x = x + Attention(norm(x));  x = x + FeedForward(norm(x))
  post-norm (2017 paper, BERT):   x = norm(x + Attention(x));  x = norm(x + FeedForward(x))
A decoder's block attends causally (position i sees 0..i); an encoder's sees the whole sequence, padding
excepted. Nothing else differs.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn

from ..config import ModelConfig
from .base import TracePoint
from ..nn import (FeedForward, GroupedQueryAttention, LearnedPositionalEmbedding, MoEFeedForward, RotaryEmbedding,
                  Routing, SinusoidalPositionalEncoding, make_norm)


def positions(c: ModelConfig) -> tuple[nn.Module | None, RotaryEmbedding | None]:
    """(the table added to the input embedding, the rotation applied inside attention) that `c.position` calls
    for: learned or sinusoidal is a table, RoPE a rotation; ALiBi acts inside attention and "none" has neither."""
    table: nn.Module | None = None
    if c.position == "learned":
        table = LearnedPositionalEmbedding(c.block_size, c.n_embd)
    elif c.position == "sinusoidal":
        table = SinusoidalPositionalEncoding(c.block_size, c.n_embd)
    rotary = RotaryEmbedding(c.head_dim, c.block_size, c.rope_theta) if c.position == "rope" else None
    return table, rotary


def init_weights(module: nn.Module) -> None:
    """GPT-2's and BERT's initialisation: every Linear and Embedding matrix ~ N(0, 0.02²), biases 0 (norms keep
    their gain 1 and bias 0)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def initialise(model: nn.Module, scheme: str, branches: Callable[[str], int]) -> None:
    """`model.init`. gpt2: `init_weights`, then each residual branch's output projection (c_proj) ~ N(0, 0.02² /
    branches(name)), so the residual stream's variance does not grow with depth (GPT-2; 1 branch = BERT).
    xavier (torch.nn.Transformer, the Annotated Transformer): every Linear matrix ~ U(±√(6 / (fan_in + fan_out))),
    embeddings (and an output projection tied to them) N(0, 0.02²), biases 0, no depth scaling."""
    model.apply(init_weights)
    if scheme == "xavier":
        embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
        for module in model.modules():
            if isinstance(module, nn.Linear) and id(module.weight) not in embeddings:
                nn.init.xavier_uniform_(module.weight)
        return
    for name, param in model.named_parameters():
        if name.endswith("c_proj.weight") and branches(name) > 1:
            nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(branches(name)))


def transformer_trace_points(wte: nn.Module, wpe: nn.Module | None, extra: list[TracePoint], blocks: nn.ModuleList,
                             ln_f: nn.Module) -> list[TracePoint]:
    """A transformer's stages: token embedding, position table (when added), `extra` (segments, an embedding
    norm), every block, the final norm (absent when post-norm blocks already end in one)."""
    points = [TracePoint("token embedding", wte, "token_embedding")]
    points += [TracePoint("position embedding", wpe, "embedding")] if wpe is not None else []
    points += extra + [TracePoint(f"block {i}", block, "layer") for i, block in enumerate(blocks)]
    return points + ([] if isinstance(ln_f, nn.Identity) else [TracePoint("final norm", ln_f, "norm")])


class Block(nn.Module):
    """One transformer block: self-attention (causal or bidirectional) and a feed-forward network."""

    def __init__(self, config: ModelConfig, rotary: RotaryEmbedding | None, causal: bool = True) -> None:
        super().__init__()
        c = config
        self.pre_norm = c.norm_placement == "pre"
        self.ln_1 = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias)
        self.attn = GroupedQueryAttention(n_embd=c.n_embd, n_head=c.n_head, n_kv_head=c.kv_heads, bias=c.bias,
                                          attn_dropout=c.attn_dropout, resid_dropout=c.dropout, qk_norm=c.qk_norm,
                                          norm_eps=c.norm_eps, sliding_window=c.sliding_window, rotary=rotary,
                                          alibi=c.position == "alibi", causal=causal)
        self.ln_2 = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias)
        self.moe = c.n_expert > 0
        if self.moe:
            self.mlp = MoEFeedForward(n_embd=c.n_embd, d_ff=c.ff_dim, n_expert=c.n_expert,
                                      top_k=c.n_expert_active, activation=c.activation, bias=c.bias,
                                      dropout=c.dropout, hidden_dropout=c.ff_dropout)
        else:
            self.mlp = FeedForward(n_embd=c.n_embd, d_ff=c.ff_dim, activation=c.activation, bias=c.bias,
                                   dropout=c.dropout, hidden_dropout=c.ff_dropout)

    def feed_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Routing | None]:
        return self.mlp(x) if self.moe else (self.mlp(x), None)

    def residual(self, x: torch.Tensor, norm: nn.Module, branch) -> tuple[torch.Tensor, object]:
        """One sublayer around `branch` (which returns (output, extra)): pre-norm x + branch(norm(x)), post-norm
        norm(x + branch(x)). Pre-norm never normalises the residual stream itself: gradients flow straight
        through."""
        if self.pre_norm:
            out, extra = branch(norm(x))
            return x + out, extra
        out, extra = branch(x)
        return norm(x + out), extra

    def forward(self, x: torch.Tensor, return_attention: bool = False, start_pos: int = 0, kv_cache=None,
                key_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None, Routing | None]:
        """key_mask: (B, T) bool, False at padding (an encoder's padded batch); None: every key is real."""
        x, weights = self.residual(x, self.ln_1, lambda h: self.attn(h, return_attention, start_pos, kv_cache,
                                                                     key_mask))
        x, routing = self.residual(x, self.ln_2, self.feed_forward)
        return x, weights, routing
