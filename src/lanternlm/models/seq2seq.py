"""The encoder–decoder transformer (family "seq2seq"), the 2017 paper's translation model, top to bottom as in
the diagram:

source ids ─► source embedding (+ positions) ─► N × Block (bidirectional, source padding masked) ─► norm ─► m
target ids ─► target embedding (+ positions) ─► N × DecoderBlock(m) ─► final norm ─► output projection ─► logits
DecoderBlock: causal self-attention over the target so far, then cross-attention (queries from the target,
keys and values from m, padded source positions masked), then the feed-forward network; each one a
residual sublayer, pre- or post-norm as `norm_placement` says.

The encoder reads the whole source at once (every source position sees every other one), so the decoder can
consult any source word when it writes each target word; cross-attention's weights are that alignment
(`cross_attention_maps`). Nothing squeezes the source into a single vector, as an RNN encoder–decoder without
attention must.

Training is teacher forcing: the decoder reads the reference target shifted right, [BOS] y_1 .. y_{n-1}, and
predicts y_1 .. y_n [EOS] at every position at once, the causal mask keeping each position from seeing its
answer. Generation encodes the source once: `new_cache(B, source=...)` holds every decoder layer's
cross-attention keys and values, and the decoder then adds one target token per step over its self-attention
KV cache, exactly as a decoder-only model does (the engine's one loop drives both).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..config import ModelConfig
from ..nn import CrossAttention, EncoderDecoderCache, Linear, RotaryEmbedding, Routing, make_norm
from .base import LanguageModel, output_losses
from .transformer import Block, initialise, positions


@dataclass
class Seq2SeqOutput:
    logits: torch.Tensor  # (B, T, vocab_size): the next target token at every target position
    loss: torch.Tensor | None = None  # cross-entropy over non-IGNORE_INDEX targets (+ label smoothing in training)
    attentions: list[torch.Tensor] | None = None  # per decoder layer (B, n_head, T, T_keys) causal self-attention
    cross_attentions: list[torch.Tensor] | None = None  # per decoder layer (B, n_head, T, S): target x source
    encoder_attentions: list[torch.Tensor] | None = None  # per encoder layer (B, n_head, S, S)
    aux_loss: torch.Tensor | None = None  # MoE load-balancing loss, mean over layers of both stacks
    expert_load: torch.Tensor | None = None  # (layers, n_expert): share of routed tokens per expert


class DecoderBlock(Block):
    """The 2017 decoder layer: the causal Block with cross-attention to the encoder output between its
    self-attention and its feed-forward network."""

    def __init__(self, config: ModelConfig, rotary: RotaryEmbedding | None) -> None:
        super().__init__(config, rotary, causal=True)
        c = config
        self.ln_cross = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias)
        self.cross_attn = CrossAttention(n_embd=c.n_embd, n_head=c.n_head, n_kv_head=c.kv_heads, bias=c.bias,
                                         attn_dropout=c.attn_dropout, resid_dropout=c.dropout, qk_norm=c.qk_norm,
                                         norm_eps=c.norm_eps)

    def forward(self, x: torch.Tensor, memory: tuple[torch.Tensor, torch.Tensor], key_mask: torch.Tensor | None,
                return_attention: bool = False, start_pos: int = 0, kv_cache=None):
        """x: (B, T, d) target positions; memory: this layer's cross-attention (keys, values) of the source;
        key_mask: (B, S) False at source padding. Returns (x, self-attention, cross-attention, routing)."""
        x, weights = self.residual(x, self.ln_1, lambda h: self.attn(h, return_attention, start_pos, kv_cache))
        x, cross = self.residual(x, self.ln_cross, lambda h: self.cross_attn(h, memory, key_mask, return_attention))
        x, routing = self.residual(x, self.ln_2, self.feed_forward)
        return x, weights, cross, routing


class EncoderDecoder(LanguageModel):
    is_encoder_decoder = True

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)  # target (and, shared, source) token embedding
        self.source_wte = None if c.share_embeddings else nn.Embedding(c.source_vocab, c.n_embd)
        self.source_wpe, source_rotary = positions(c)
        self.wpe, rotary = positions(c)
        self.drop = nn.Dropout(c.dropout) if c.dropout > 0 else nn.Identity()
        self.encoder = nn.ModuleList(Block(c, source_rotary, causal=False) for _ in range(c.encoder_layers))
        self.decoder = nn.ModuleList(DecoderBlock(c, rotary) for _ in range(c.decoder_layers))
        # post-norm blocks already end in a norm; pre-norm needs one after each stack
        final_norm = c.norm_placement == "pre"
        self.ln_enc = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias) if final_norm else nn.Identity()
        self.ln_f = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias) if final_norm else nn.Identity()
        self.lm_head = Linear(c.n_embd, c.vocab_size, bias=False)  # output projection
        if c.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        branches = {"encoder": 2 * c.encoder_layers, "decoder": 3 * c.decoder_layers}  # residual sublayers per stack
        initialise(self, c.init, lambda name: branches[name.split(".")[0]])

    # ------------------------------------------------------------------ the encoder
    def _embed(self, ids: torch.Tensor, table: nn.Embedding, wpe: nn.Module | None, start_pos: int) -> torch.Tensor:
        T = ids.size(1)
        if start_pos + T > self.config.block_size:
            raise ValueError(f"positions {start_pos}..{start_pos + T - 1} exceed block_size {self.config.block_size}")
        x = table(ids)
        if wpe is not None:
            x = x + wpe(T, start_pos)
        return self.drop(x)

    def encode(self, source: torch.Tensor, source_mask: torch.Tensor | None = None, return_attention: bool = False):
        """source (B, S) ids, source_mask (B, S) 1 real / 0 padding -> (m (B, S, d), key mask (B, S) bool or None
        when nothing is padded, per-layer self-attention or None, MoE routings)."""
        key_mask = None
        if source_mask is not None and not bool(source_mask.all()):  # no padding: the fused fast path
            key_mask = source_mask.bool()
        x = self._embed(source, self.source_wte or self.wte, self.source_wpe, 0)
        attentions, routings = ([] if return_attention else None), []
        for block in self.encoder:
            x, weights, routing = block(x, return_attention, key_mask=key_mask)
            if attentions is not None:
                attentions.append(weights)
            if routing is not None:
                routings.append(routing)
        return self.ln_enc(x), key_mask, attentions, routings

    def memory(self, encoded: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Every decoder layer's cross-attention keys and values of the encoded source."""
        return [block.cross_attn.memory(encoded) for block in self.decoder]

    # ------------------------------------------------------------------ the decoder
    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, source: torch.Tensor | None = None,
                source_mask: torch.Tensor | None = None, kv_cache: EncoderDecoderCache | None = None,
                start_pos: int = 0, last_logits_only: bool = False, return_attention: bool = False) -> Seq2SeqOutput:
        """idx (B, T): target-side ids at positions start_pos.. (teacher forcing: [BOS] y_1 .. y_{n-1});
        targets (B, T): the next target token at each position, IGNORE_INDEX at padding; source (B, S) ids and
        source_mask (B, S) (1 real / 0 padding), which a `kv_cache` from `new_cache(B, source=...)` replaces
        (it holds the encoded source, and the decoder's keys and values before start_pos)."""
        routings: list[Routing] = []
        encoder_attentions = None
        if kv_cache is not None:
            memory, key_mask = kv_cache.memory, kv_cache.source_mask
        else:
            encoded, key_mask, encoder_attentions, routings = self.encode(source, source_mask, return_attention)
            memory = self.memory(encoded)
        x = self._embed(idx, self.wte, self.wpe, start_pos)
        attentions, cross_attentions = ([] if return_attention else None), ([] if return_attention else None)
        for i, block in enumerate(self.decoder):
            layer_cache = kv_cache.layers[i] if kv_cache is not None else None
            x, weights, cross, routing = block(x, memory[i], key_mask, return_attention, start_pos, layer_cache)
            if return_attention:
                attentions.append(weights)
                cross_attentions.append(cross)
            if routing is not None:
                routings.append(routing)
        logits = self.lm_head(self.ln_f(x[:, -1:] if last_logits_only else x))
        loss, aux_loss, expert_load = output_losses(logits, targets, routings, self.config, self.training)
        return Seq2SeqOutput(logits, loss, attentions, cross_attentions, encoder_attentions, aux_loss, expert_load)

    # ------------------------------------------------------------------ the LanguageModel surface
    def token_embeddings(self) -> torch.Tensor:
        """The target token embedding matrix (with share_embeddings, the source's too)."""
        return self.wte.weight

    @torch.no_grad()
    def attention_maps(self, ids: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's self-attention over source ids (B, S): per layer (B, n_head, S, S), no causal triangle."""
        return self.encode(ids, return_attention=True)[2]

    @torch.no_grad()
    def cross_attention_maps(self, source: torch.Tensor, idx: torch.Tensor,
                             source_mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The alignment: per decoder layer (B, n_head, T, S), how much target position t (reading idx[:, :t+1])
        attends to each source position; padded source positions get 0."""
        return self(idx, source=source, source_mask=source_mask, return_attention=True).cross_attentions

    @torch.no_grad()
    def new_cache(self, batch_size: int, max_len: int | None = None, source: torch.Tensor | None = None,
                  source_mask: torch.Tensor | None = None) -> EncoderDecoderCache:
        """Encode `source` (batch_size, S) once and keep every decoder layer's cross-attention keys and values,
        beside an empty self-attention KV cache for up to max_len (default block_size) target positions."""
        if source is None or source.size(0) != batch_size:
            raise ValueError("an encoder–decoder cache needs the source ids of every row (source=(B, S))")
        c = self.config
        encoded, key_mask, _, _ = self.encode(source, source_mask)
        return EncoderDecoderCache(c.decoder_layers, batch_size, c.kv_heads, max_len or c.block_size, c.head_dim,
                                   self.memory(encoded), key_mask, self.device, self.dtype)
