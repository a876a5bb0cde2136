"""GPT: a decoder-only transformer language model, top to bottom as in the diagram.

tokens -> token embedding + learned position embedding -> dropout -> N x Block -> LayerNorm -> LM head -> logits
Block (pre-norm): x + Attention(LN(x)), then x + FeedForward(LN(x)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import ModelConfig
from ..nn import CausalSelfAttention, FeedForward


@dataclass
class LMOutput:
    logits: torch.Tensor  # (B, T, vocab_size)
    loss: torch.Tensor | None = None  # mean cross-entropy of the next token, when targets are given
    attentions: list[torch.Tensor] | None = None  # per layer (B, n_head, T, T), when requested


class Block(nn.Module):
    """One transformer block: causal self-attention and a feed-forward network, each in a pre-norm residual."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.norm_eps, bias=config.bias)
        self.attn = CausalSelfAttention(config.n_embd, config.n_head, config.bias, config.attn_dropout, config.dropout)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.norm_eps, bias=config.bias)
        self.mlp = FeedForward(config.n_embd, config.ff_dim, config.activation, config.bias, config.dropout)

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        attn_out, weights = self.attn(self.ln_1(x), return_attention)
        x = x + attn_out  # residual connection
        x = x + self.mlp(self.ln_2(x))
        return x, weights


class GPT(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.vocab_size <= 0:
            raise ValueError("ModelConfig.vocab_size must be set (it comes from the tokenizer)")
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token embedding matrix, |V| x d
        self.wpe = nn.Embedding(config.block_size, config.n_embd)  # learned absolute positions
        self.drop = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.norm_eps, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)  # unembedding
        if config.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        for name, param in self.named_parameters():
            if name.endswith("c_proj.weight"):  # GPT-2: residual projections scaled by 1/sqrt(2 * n_layer)
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def embed(self, idx: torch.Tensor) -> torch.Tensor:
        """Input embedding = token embedding + position embedding, (B, T) -> (B, T, d)."""
        T = idx.size(1)
        if T > self.config.block_size:
            raise ValueError(f"sequence of length {T} exceeds block_size {self.config.block_size}")
        positions = torch.arange(T, device=idx.device)
        return self.drop(self.wte(idx) + self.wpe(positions))

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                return_attention: bool = False) -> LMOutput:
        x = self.embed(idx)
        attentions = [] if return_attention else None
        for block in self.blocks:
            x, weights = block(x, return_attention)
            if attentions is not None:
                attentions.append(weights)
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-1)
        return LMOutput(logits=logits, loss=loss, attentions=attentions)

    def num_parameters(self) -> int:
        """Distinct parameters (a tied LM head is counted once)."""
        return sum(p.numel() for p in self.parameters())
