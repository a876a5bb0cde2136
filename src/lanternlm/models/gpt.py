"""GPT: a decoder-only transformer language model, top to bottom as in the diagram.

tokens -> token embedding (+ absolute positions) -> dropout -> N x Block -> final norm -> LM head -> logits
Block (models/transformer.py), causal here:
  pre-norm (GPT-2, Llama):  x = x + Attention(norm(x));  x = x + FeedForward(norm(x))
  post-norm (2017 paper):   x = norm(x + Attention(x));  x = norm(x + FeedForward(x))

Every option of the family is a field of `ModelConfig`: positions (learned, sinusoidal, RoPE, ALiBi, none),
LayerNorm or RMSNorm, the activation (SwiGLU included), MHA/MQA/GQA, QK-norm, a sliding window, a
mixture-of-experts feed-forward, biases and a tied or untied head. GPT-2, Llama and Mixtral are presets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..config import ModelConfig
from ..nn import KVCache, Linear, make_norm
from .base import LanguageModel, TracePoint, output_losses
from .transformer import Block, initialise, positions, transformer_trace_points


@dataclass
class LMOutput:
    logits: torch.Tensor  # (B, T, vocab_size)
    loss: torch.Tensor | None = None  # next-token cross-entropy (in training: label-smoothed, + weighted MoE aux)
    attentions: list[torch.Tensor] | None = None  # per layer (B, n_head, T, T_keys), when requested
    aux_loss: torch.Tensor | None = None  # MoE load-balancing loss, mean over layers (no weight applied)
    expert_load: torch.Tensor | None = None  # (n_layer, n_expert): share of routed tokens per expert


class GPT(LanguageModel):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)  # token embedding matrix, |V| x d
        self.wpe, rotary = positions(c)  # RoPE and ALiBi act inside attention; "none" has no positions
        self.drop = nn.Dropout(c.dropout) if c.dropout > 0 else nn.Identity()
        self.blocks = nn.ModuleList(Block(c, rotary) for _ in range(c.n_layer))
        # post-norm blocks already end in a norm; pre-norm needs one before the head
        self.ln_f = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias) if c.norm_placement == "pre" else nn.Identity()
        self.lm_head = Linear(c.n_embd, c.vocab_size, bias=False)  # unembedding
        if c.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        initialise(self, c.init, lambda name: 2 * c.n_layer)  # residual branches: attention and FFN per block

    def embed(self, idx: torch.Tensor, start_pos: int | torch.Tensor = 0,
              prefix: torch.Tensor | None = None) -> torch.Tensor:
        """Input embedding = token embedding (+ absolute position embedding), (B, T) -> (B, T, d); a (B,) tensor
        start_pos places each row at its own position. `prefix` (B or 1, n, d): vectors placed before the
        tokens' embeddings (a soft prompt), which then take the first n positions."""
        x = self.wte(idx)
        if prefix is not None:
            x = torch.cat([prefix.to(x.dtype).expand(x.size(0), -1, -1), x], dim=1)
        T = x.size(1)
        last = int(start_pos.max()) if isinstance(start_pos, torch.Tensor) else start_pos
        if last + T > self.config.block_size:
            raise ValueError(f"positions up to {last + T - 1} exceed block_size {self.config.block_size}")
        if self.wpe is not None:
            x = x + self.wpe(T, start_pos)
        return self.drop(x)

    def _trunk(self, idx: torch.Tensor, return_attention: bool, kv_cache: KVCache | None,
               start_pos: int | torch.Tensor, prefix: torch.Tensor | None):
        """(the last block's output at the tokens' positions (B, T, d), attention maps or None, MoE routings)."""
        x = self.embed(idx, start_pos, prefix)
        attentions = [] if return_attention else None
        routings = []
        for i, block in enumerate(self.blocks):
            x, weights, routing = block(x, return_attention, start_pos, kv_cache.layers[i] if kv_cache else None)
            if attentions is not None:
                attentions.append(weights)
            if routing is not None:
                routings.append(routing)
        if prefix is not None:
            x = x[:, prefix.size(1):]  # the prompt's positions predict nothing
        return x, attentions, routings

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, return_attention: bool = False,
                kv_cache: KVCache | None = None, start_pos: int | torch.Tensor = 0,
                last_logits_only: bool = False, prefix: torch.Tensor | None = None) -> LMOutput:
        """idx: (B, T) token ids at positions start_pos..start_pos+T-1 (with `kv_cache`, positions before
        start_pos come from the cache, which this call extends). `last_logits_only`: logits (B, 1, V) for the
        last position only, all generation needs (the LM head is the largest matrix: skip T-1 of its rows).
        `prefix` (n vectors, see `embed`): logits and loss cover the T tokens only; attention maps all n + T."""
        x, attentions, routings = self._trunk(idx, return_attention, kv_cache, start_pos, prefix)
        logits = self.lm_head(self.ln_f(x[:, -1:] if last_logits_only else x))
        loss, aux_loss, expert_load = output_losses(logits, targets, routings, self.config, self.training)
        return LMOutput(logits, loss, attentions, aux_loss, expert_load)

    def hidden_states(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                      prefix: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, d): the final norm's output, the LM head's input. Position t sees only 0..t, so right padding
        (attention_mask 0 at the end) changes nothing at the real positions and needs no mask."""
        return self.ln_f(self._trunk(ids, False, None, 0, prefix)[0])

    def token_embeddings(self) -> torch.Tensor:
        return self.wte.weight

    @torch.no_grad()
    def attention_maps(self, ids: torch.Tensor) -> list[torch.Tensor]:
        return self(ids, return_attention=True).attentions

    def trace_points(self) -> list[TracePoint]:
        return transformer_trace_points(self.wte, self.wpe, [], self.blocks, self.ln_f)

    def new_cache(self, batch_size: int, max_len: int | None = None) -> KVCache:
        c = self.config
        return KVCache(c.n_layer, batch_size, c.kv_heads, max_len or c.block_size, c.head_dim, self.device,
                       self.dtype)
