"""A recurrent language model (family "rnn"): what next-token prediction looked like before attention.

tokens -> token embedding -> dropout -> n_layer x GRU or LSTM (hidden size d) -> dropout -> LM head -> logits

Position t reads only its own token and the state the previous position left (nn/recurrent.py): the whole
past is squeezed into d numbers per layer, however long it is. A transformer instead looks back at every
earlier position directly. Being causal by construction, it trains on the same next-token windows as GPT, and
it generates through the same decoding loop: its state is its cache (`RecurrentState`, fixed in size), so
each new token costs the same whatever the context length. `rnn_cell` picks GRU (default) or LSTM.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..config import ModelConfig
from ..nn import Linear
from ..nn.recurrent import RecurrentLayers, RecurrentState
from .base import LanguageModel, TracePoint, next_token_loss
from .gpt import LMOutput
from .transformer import init_weights


class RecurrentLM(LanguageModel):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)  # token embedding matrix, |V| x d
        self.drop = nn.Dropout(c.dropout) if c.dropout > 0 else nn.Identity()
        self.rnn = RecurrentLayers(c.rnn_cell, c.n_embd, c.n_layer, c.dropout)  # keeps PyTorch's uniform init
        self.lm_head = Linear(c.n_embd, c.vocab_size, bias=c.bias)
        for module in (self.wte, self.lm_head):
            module.apply(init_weights)
        if c.tie_embeddings:
            self.lm_head.weight = self.wte.weight

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, kv_cache: RecurrentState | None = None,
                start_pos: int = 0, last_logits_only: bool = False) -> LMOutput:
        """idx (B, T). With `kv_cache` (the recurrent state): start_pos 0 starts a sequence afresh; start_pos > 0
        continues from the state the cache holds (it must have read exactly start_pos positions)."""
        if kv_cache is not None:
            if start_pos == 0:
                kv_cache.reset()
            elif start_pos != kv_cache.length:
                raise ValueError(f"recurrent state holds {kv_cache.length} positions, cannot continue at {start_pos}")
        hidden = self.drop(self.rnn(self.drop(self.wte(idx)), kv_cache))
        logits = self.lm_head(hidden[:, -1:] if last_logits_only else hidden)
        return LMOutput(logits, next_token_loss(logits, targets) if targets is not None else None)

    def token_embeddings(self) -> torch.Tensor:
        return self.wte.weight

    def attention_maps(self, ids: torch.Tensor) -> list[torch.Tensor]:
        return []  # no attention: the past reaches a position only through the state

    def new_cache(self, batch_size: int, max_len: int | None = None) -> RecurrentState:
        c = self.config
        return RecurrentState(c.n_layer, batch_size, c.n_embd, c.rnn_cell == "lstm", self.device, self.dtype)

    def trace_points(self) -> list[TracePoint]:
        cell = f"{self.config.n_layer} x {self.config.rnn_cell.upper()}"
        return [TracePoint("token embedding", self.wte, "token_embedding"),
                TracePoint(f"recurrent layers ({cell})", self.rnn, "layer")]
