"""A fixed-context feed-forward language model (family "mlp"), after Bengio et al., "A Neural Probabilistic
Language Model" (2003): the first neural next-token predictor, long before attention.

tokens -> token embedding -> the last N embeddings concatenated (N = context_tokens) -> n_layer x
          [Linear -> tanh] (width d_ff) -> output layer -> logits

Each position sees exactly the N tokens ending at it, nothing earlier: an order-N Markov model whose table
is replaced by a network, so similar contexts share statistics through their embeddings. Positions before
the start of the text count as zero vectors. Word order is kept by where each embedding sits in the
concatenation, not by a position embedding. (Bengio's paper also adds direct input-to-output connections;
they are left out here.) The output layer reads the d_ff-wide hidden layer, so it is never tied to the
token embedding. Nothing needs caching in generation: the next token depends on the last N tokens only,
and `last_logits_only` computes just that one window.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import ModelConfig
from ..nn import Linear
from .base import LanguageModel, TracePoint, next_token_loss
from .gpt import LMOutput
from .transformer import init_weights


class ContextWindow(nn.Module):
    """(B, T, d) -> (B, T, N·d): at position t the embeddings of tokens t−N+1 .. t, oldest first, concatenated."""

    def __init__(self, context_tokens: int) -> None:
        super().__init__()
        self.context_tokens = context_tokens

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = F.pad(x, (0, 0, self.context_tokens - 1, 0))  # zeros before the first token
        windows = padded.unfold(1, self.context_tokens, 1)  # (B, T, d, N)
        return windows.transpose(-1, -2).flatten(-2)


class FixedContextMLP(LanguageModel):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)  # token embedding matrix, |V| x d
        self.window = ContextWindow(c.context_tokens)
        widths = [c.context_tokens * c.n_embd] + [c.ff_dim] * c.n_layer
        self.hidden = nn.ModuleList(nn.Sequential(Linear(a, b, bias=c.bias), nn.Tanh())
                                    for a, b in zip(widths, widths[1:]))
        self.drop = nn.Dropout(c.dropout) if c.dropout > 0 else nn.Identity()
        self.lm_head = Linear(c.ff_dim, c.vocab_size, bias=c.bias)
        self.apply(init_weights)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, kv_cache: None = None,
                start_pos: int = 0, last_logits_only: bool = False) -> LMOutput:
        """idx (B, T) -> logits (B, T, V); position t from tokens t−N+1..t. `last_logits_only`: the last
        position alone, from the last N tokens (what generation asks for; there is no cache to keep)."""
        if last_logits_only:
            idx = idx[:, -self.config.context_tokens:]
        x = self.drop(self.window(self.wte(idx)))
        for layer in self.hidden:
            x = self.drop(layer(x))
        logits = self.lm_head(x[:, -1:] if last_logits_only else x)
        return LMOutput(logits, next_token_loss(logits, targets) if targets is not None else None)

    def token_embeddings(self) -> torch.Tensor:
        return self.wte.weight

    def attention_maps(self, ids: torch.Tensor) -> list[torch.Tensor]:
        return []  # a fixed window, every position weighted by its own slot of the first matrix

    def trace_points(self) -> list[TracePoint]:
        n = self.config.context_tokens
        return ([TracePoint("token embedding", self.wte, "token_embedding"),
                 TracePoint(f"context window (last {n} embeddings concatenated)", self.window, "step")]
                + [TracePoint(f"hidden layer {i} (tanh)", layer, "layer") for i, layer in enumerate(self.hidden)])
