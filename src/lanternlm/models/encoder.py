"""BERT: an encoder-only transformer (family "bert"), top to bottom as in the diagram.

tokens, segments -> token + position + segment embedding -> LayerNorm -> dropout -> N x Block (bidirectional)
    -> hidden states, one contextual vector per position (B, T, d)
         ├─► MLM head: Linear d->d, activation, LayerNorm, decoder (tied to the token embedding) + bias -> logits
         └─► pooling: the [CLS] position or the mean over real tokens (-> L2-normalised) -> a sentence vector

Unlike GPT, every position attends to every other one, before and after it: no causal mask, only a padding
mask (attention_mask (B, T): 1 for a real token, 0 for padding, whose keys get a score of -inf). So the model
cannot continue text; it is trained to fill in masked tokens (masked-language modelling: the loss counts only
positions whose target is not IGNORE_INDEX, and in training the head runs only there) and used for its
vectors. BERT's blocks are post-norm
(`norm_placement = "post"`); the Block is the one GPT stacks (models/transformer.py), made bidirectional.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import ModelConfig
from ..nn import ACTIVATIONS, Linear, make_norm
from .base import IGNORE_INDEX, LanguageModel, TracePoint
from .transformer import Block, initialise, positions, transformer_trace_points


@dataclass
class EncoderOutput:
    hidden: torch.Tensor  # (B, T, d): the last layer's hidden states, one contextual vector per position
    logits: torch.Tensor | None = None  # (B, T, vocab_size) masked-LM logits, when the model has the head
    loss: torch.Tensor | None = None  # cross-entropy over the positions whose target is not IGNORE_INDEX
    attentions: list[torch.Tensor] | None = None  # per layer (B, n_head, T, T), when requested
    pooled: torch.Tensor | None = None  # (B, d) BERT's pooler output tanh(W·h_[CLS] + b), when it has one
    metrics: dict[str, torch.Tensor] | None = None  # with targets: "accuracy", the share of targets ranked first


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None = None, how: str = "mean",
         normalize: bool = False) -> torch.Tensor:
    """(B, T, d) -> (B, d), one vector per sequence. cls: position 0, the [CLS] token, which attends to the whole
    sequence; mean: Σ_t m_t·h_t / Σ_t m_t over the real (m_t = 1) positions. normalize: v / ||v||₂."""
    if how == "cls":
        vectors = hidden[:, 0]
    elif attention_mask is None:
        vectors = hidden.mean(dim=1)
    else:
        m = attention_mask.to(hidden.dtype).unsqueeze(-1)
        vectors = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp_min(1e-9)
    return F.normalize(vectors, dim=-1) if normalize else vectors


class MaskedLMHead(nn.Module):
    """BERT's MLM head: a transform (Linear d->d, activation, norm), then the decoder to one logit per token."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c = config
        self.dense = Linear(c.n_embd, c.n_embd, bias=c.bias)
        self.act = ACTIVATIONS[c.activation]()
        self.norm = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias)
        self.decoder = Linear(c.n_embd, c.vocab_size, bias=c.bias)  # weight tied to the token embedding

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.norm(self.act(self.dense(hidden))))


class BERT(LanguageModel):
    can_generate = False  # it fills in masked tokens; it does not continue text

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)  # token embedding matrix, |V| x d
        self.wpe, rotary = positions(c)
        self.wtt = nn.Embedding(c.type_vocab_size, c.n_embd) if c.type_vocab_size else None  # segment A / B
        self.ln_emb = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias)
        self.drop = nn.Dropout(c.dropout) if c.dropout > 0 else nn.Identity()
        self.blocks = nn.ModuleList(Block(c, rotary, causal=False) for _ in range(c.n_layer))
        # post-norm blocks already end in a norm; pre-norm needs one after the last block
        self.ln_f = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias) if c.norm_placement == "pre" else nn.Identity()
        self.mlm_head = MaskedLMHead(c) if c.mlm_head else None
        if self.mlm_head is not None and c.tie_embeddings:
            self.mlm_head.decoder.weight = self.wte.weight
        self.pooler = Linear(c.n_embd, c.n_embd, bias=c.bias) if c.pooler else None
        initialise(self, c.init, lambda name: 1)  # BERT: no depth scaling

    def embed(self, ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
              prefix: torch.Tensor | None = None) -> torch.Tensor:
        """Input embedding = LayerNorm(token + position + segment embedding), then dropout; (B, T) -> (B, T, d).
        token_type_ids: 0 for the first sentence of a pair, 1 for the second (all 0 when omitted). `prefix`
        (B or 1, n, d): vectors placed before the tokens' embeddings (a soft prompt), in segment 0 at the first
        n positions."""
        x = self.wte(ids)
        if token_type_ids is not None and self.wtt is None:
            raise ValueError("this model has no segment embeddings (model.type_vocab_size = 0)")
        types = token_type_ids if token_type_ids is not None else torch.zeros_like(ids)
        if prefix is not None:
            x = torch.cat([prefix.to(x.dtype).expand(x.size(0), -1, -1), x], dim=1)
            types = F.pad(types, (prefix.size(1), 0))
        T = x.size(1)
        if T > self.config.block_size:
            raise ValueError(f"{T} positions exceed block_size {self.config.block_size}")
        if self.wpe is not None:
            x = x + self.wpe(T)
        if self.wtt is not None:
            x = x + self.wtt(types)
        return self.drop(self.ln_emb(x))

    def _hidden(self, ids: torch.Tensor, attention_mask: torch.Tensor | None, token_type_ids: torch.Tensor | None,
                return_attention: bool,
                prefix: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        key_mask = None
        if attention_mask is not None and not bool(attention_mask.all()):  # no padding: the fused fast path
            key_mask = attention_mask.bool()
            if prefix is not None:
                key_mask = F.pad(key_mask, (prefix.size(1), 0), value=True)  # every query sees the prompt
        x = self.embed(ids, token_type_ids, prefix)
        attentions = [] if return_attention else None
        for block in self.blocks:
            x, weights, _ = block(x, return_attention, key_mask=key_mask)
            if attentions is not None:
                attentions.append(weights)
        if prefix is not None:
            x = x[:, prefix.size(1):]  # one vector per token, as without a prompt
        return self.ln_f(x), attentions

    def forward(self, ids: torch.Tensor, targets: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None,
                return_attention: bool = False, prefix: torch.Tensor | None = None) -> EncoderOutput:
        """ids (B, T); targets (B, T): the original token at each masked position, IGNORE_INDEX elsewhere;
        attention_mask (B, T): 1 for real tokens, 0 for padding; token_type_ids (B, T): segment of each token;
        prefix: a soft prompt's n vectors (see `embed`; the outputs cover the T tokens only).

        Without targets, logits are (B, T, vocab_size). With targets, the head runs only on the M target
        positions (about 15 % of them; at every position its d x |V| matmul would be more than half of a small
        BERT's work: benchmarks/mlm_head.py), so logits are (M, vocab_size), the target positions in row-major
        order, and the loss and accuracy are theirs."""
        hidden, attentions = self._hidden(ids, attention_mask, token_type_ids, return_attention, prefix)
        logits = loss = metrics = None
        if targets is not None:
            if self.mlm_head is None:
                raise ValueError("this model has no masked-LM head (model.mlm_head = false)")
            picked = targets != IGNORE_INDEX
            logits, wanted = self.mlm_head(hidden[picked]), targets[picked]
            loss = F.cross_entropy(logits.float(), wanted)
            metrics = {"accuracy": (logits.detach().argmax(-1) == wanted).float().mean()}
        elif self.mlm_head is not None:
            logits = self.mlm_head(hidden)
        pooled = torch.tanh(self.pooler(hidden[:, 0])) if self.pooler is not None else None
        return EncoderOutput(hidden, logits, loss, attentions, pooled, metrics)

    def hidden_states(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                      prefix: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The contextual vector of every position, (B, T, d): the last layer's states (no head), every position
        having seen the whole (unpadded) sequence."""
        return self._hidden(ids, attention_mask, token_type_ids, False, prefix)[0]

    def sentence_embeddings(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                            token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """One vector per sequence, (B, d): the hidden states pooled as `config.pooling` says (mean or cls),
        L2-normalised when `config.normalize_embeddings` (then cosine similarity is a dot product)."""
        hidden = self.hidden_states(ids, attention_mask, token_type_ids=token_type_ids)
        return pool(hidden, attention_mask, self.config.pooling, self.config.normalize_embeddings)

    def token_embeddings(self) -> torch.Tensor:
        return self.wte.weight

    def trace_points(self) -> list[TracePoint]:
        extra = [TracePoint("segment embedding", self.wtt, "embedding")] if self.wtt is not None else []
        extra.append(TracePoint("embedding norm", self.ln_emb, "norm"))  # LayerNorm(token + position + segment)
        return transformer_trace_points(self.wte, self.wpe, extra, self.blocks, self.ln_f)

    @torch.no_grad()
    def attention_maps(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Per layer (B, n_head, T, T): every row spreads over the whole sequence (no causal triangle), padding
        keys get 0."""
        return self._hidden(ids, attention_mask, None, True)[1]
