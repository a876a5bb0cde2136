"""Sizing a transformer from its config alone (no weights needed, so a 175B shape costs nothing):

* Parameters by part: embedding, attention, MLP, norms, LM head, and each part's share of the total.
  Per layer, attention holds d·(H + 2·H_kv)·d_head + d² weights and a dense MLP 2·d·d_ff (3·d·d_ff gated):
  with d_ff = 4d that is 4d² against 8d², so attention is about a third of the non-embedding weights.
  The vocabulary costs 2·|V|·d (input embedding + output head; stored once when tied).
* FLOPs per token: forward ≈ 2N + 4·L·T·d, training ≈ 6N + 12·L·T·d (backward is twice the forward), with N the
  weights a token is multiplied by (embedding lookups excluded, the head included; with MoE only the k routed
  experts) and 4·L·T·d for the scores Q·Kᵀ and the mix A·V over a context of T (the PaLM convention).
* KV-cache bytes per token = 2 (K and V) · n_layer · n_kv_head · d_head · bytes per value.

An encoder–decoder (seq2seq) has n_encoder_layer blocks and n_decoder_layer blocks with a cross-attention each
(the same weights as a self-attention). Every weight matrix multiplies either source tokens (encoder,
cross-attention K/V) or target tokens (the rest, the head), so per token of a pair with as many source as
target tokens N is half of all its matmul weights.

The models before attention (families mlp and rnn) have their own counts (`baseline_parts`): no attention term
in their FLOPs, and no cache that grows with the context — an RNN keeps n_layer · d numbers (twice that for an
LSTM) whatever the context length; the fixed-window MLP keeps nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import BEFORE_ATTENTION, ModelConfig

BYTES_PER_VALUE = {"float32": 4, "bfloat16": 2, "float16": 2, "int8": 1}


@dataclass
class ParamCount:
    embedding: int  # token embedding (+ learned position table, + segment table for BERT)
    attention: int  # Q, K, V, output projections (+ QK-norm gains), all layers
    mlp: int  # feed-forward (all experts and routers with MoE), all layers
    norms: int
    head: int  # LM head, 0 when tied to the token embedding; BERT: the MLM head's transform and bias, the pooler
    mlp_active: int  # MLP weights one token passes through (k of n experts + router with MoE)

    @property
    def total(self) -> int:
        return self.embedding + self.attention + self.mlp + self.norms + self.head

    def parts(self) -> dict[str, int]:
        return {"embedding": self.embedding, "attention": self.attention, "MLP": self.mlp, "norms": self.norms,
                "LM head": self.head}


def _norm_size(c: ModelConfig) -> int:
    return c.n_embd * (2 if c.norm == "layernorm" and c.bias else 1)


def count_parameters(c: ModelConfig) -> ParamCount:
    d, dh, b = c.n_embd, c.head_dim, int(c.bias)
    seq2seq = c.family == "seq2seq"
    L = c.encoder_layers + c.decoder_layers if seq2seq else c.n_layer
    qkv = (c.n_head + 2 * c.kv_heads) * dh
    attention = d * qkv + b * qkv + d * d + b * d + (2 * dh if c.qk_norm else 0)
    ff_in = 2 * c.ff_dim if c.activation == "swiglu" else c.ff_dim
    expert = d * ff_in + b * ff_in + c.ff_dim * d + b * d
    if c.n_expert:
        router = d * c.n_expert
        mlp, mlp_active = c.n_expert * expert + router, c.n_expert_active * expert + router
    else:
        mlp = mlp_active = expert
    embedding = c.vocab_size * d + (c.block_size * d if c.position == "learned" else 0) + c.type_vocab_size * d
    norms = 2 * L * _norm_size(c) + (_norm_size(c) if c.norm_placement == "pre" else 0)
    attention_layers = L
    if seq2seq:  # cross-attention and its norm in every decoder block; two position tables, two final norms
        attention_layers += c.decoder_layers
        norms += c.decoder_layers * _norm_size(c) + (_norm_size(c) if c.norm_placement == "pre" else 0)
        embedding += (0 if c.share_embeddings else c.source_vocab * d) + embedding - c.vocab_size * d
    head = 0 if c.tie_embeddings else c.vocab_size * d
    if c.family == "bert":
        norms += _norm_size(c)  # the LayerNorm after the input embedding
        head = _bert_heads(c)
    return ParamCount(embedding, attention_layers * attention, L * mlp, norms, head, L * mlp_active)


def _bert_heads(c: ModelConfig) -> int:
    """The MLM head (transform d->d, its norm, the decoder's bias; its matrix too when untied) and the pooler."""
    d, b = c.n_embd, int(c.bias)
    mlm = d * d + b * d + _norm_size(c) + b * c.vocab_size + (0 if c.tie_embeddings else c.vocab_size * d)
    return (mlm if c.mlm_head else 0) + (d * d + b * d if c.pooler else 0)


def baseline_parts(c: ModelConfig) -> dict[str, int]:
    """Parameters of a model before attention by part. rnn: per layer g·(2·d² + 2·d), g = 3 gates (GRU) or 4
    (LSTM); mlp: the hidden layers N·d -> d_ff -> ... -> d_ff, then d_ff -> |V|."""
    V, d, head_bias = c.vocab_size, c.n_embd, c.vocab_size if c.bias else 0
    if c.family == "rnn":
        gates = 3 if c.rnn_cell == "gru" else 4
        return {"embedding": V * d, "recurrent": c.n_layer * gates * (2 * d * d + 2 * d),
                "LM head": (0 if c.tie_embeddings else V * d) + head_bias}
    widths = [c.context_tokens * d] + [c.ff_dim] * c.n_layer
    hidden = sum(a * b + (b if c.bias else 0) for a, b in zip(widths, widths[1:]))
    return {"embedding": V * d, "hidden layers": hidden, "output layer": c.ff_dim * V + head_bias}


def matmul_parameters(c: ModelConfig) -> int:
    """N in 6N: weights multiplied per token (attention, active MLP, the head); lookups and norms excluded."""
    if c.family == "rnn":  # the recurrent matrices and the head (tied or not, every token is multiplied by it)
        return baseline_parts(c)["recurrent"] + c.vocab_size * c.n_embd
    if c.family == "mlp":
        parts = baseline_parts(c)
        return parts["hidden layers"] + parts["output layer"]
    p = count_parameters(c)
    weights = p.attention + p.mlp_active + c.vocab_size * c.n_embd
    return weights // 2 if c.family == "seq2seq" else weights


def attention_flops_per_token(c: ModelConfig, context: int) -> int:
    """4 · L · T · d: the scores Q·Kᵀ and the mix A·V of one new token over T earlier ones (0 without attention)."""
    return 0 if c.family in BEFORE_ATTENTION else 4 * c.n_layer * context * c.n_head * c.head_dim


def flops_per_token(c: ModelConfig, context: int | None = None) -> tuple[float, float]:
    """(forward, training) FLOPs per token at a context of `context` tokens (default block_size)."""
    forward = 2 * matmul_parameters(c) + attention_flops_per_token(c, context or c.block_size)
    return forward, 3 * forward


def kv_cache_bytes_per_token(c: ModelConfig, dtype: str = "float16") -> int:
    """2 · n_layer · n_kv_head · d_head · bytes per value (an encoder–decoder: its decoder layers, per target
    token; the cross-attention keys and values cost as much again per source token)."""
    layers = c.decoder_layers if c.family == "seq2seq" else c.n_layer
    return 2 * layers * c.kv_heads * c.head_dim * BYTES_PER_VALUE[dtype]


def cache_bytes(c: ModelConfig, context: int, dtype: str = "float16") -> int:
    """What generation keeps at a context of T tokens: the KV cache (grows with T), an RNN's state (does not),
    nothing for the fixed-window MLP."""
    if c.family == "mlp":
        return 0
    if c.family == "rnn":
        return c.n_layer * c.n_embd * (2 if c.rnn_cell == "lstm" else 1) * BYTES_PER_VALUE[dtype]
    return kv_cache_bytes_per_token(c, dtype) * context


def _si(n: float, unit: str = "") -> str:
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {prefix}{unit}"
    return f"{n:.0f} {unit}".rstrip()


def _parts_table(parts: dict[str, int], tied: bool) -> list[str]:
    total = sum(parts.values())
    lines = [f"{'parameters':<18}{'count':>18}{'share':>9}"]
    for name, n in parts.items():
        note = " (tied)" if name == "LM head" and tied else ""
        lines.append(f"  {name + note:<16}{n:>18,}{100 * n / total:>8.1f}%")
    return lines + [f"  {'total':<16}{total:>18,}{100.0:>8.1f}%"]


def baseline_report(c: ModelConfig, dtype: str = "float32") -> str:
    """`report` for the models before attention: parameters, FLOPs per token, the state generation keeps."""
    if c.family == "rnn":
        shape = f"{c.n_layer} x {c.rnn_cell.upper()} layers, hidden size {c.n_embd}"
    else:
        shape = (f"fixed window: the last {c.context_tokens} tokens x {c.n_embd} dims -> {c.n_layer} tanh layer(s) "
                 f"of {c.ff_dim}")
    forward, training = flops_per_token(c)
    state = cache_bytes(c, c.block_size, dtype)
    return "\n".join([f"{shape}, vocab {c.vocab_size}, training window {c.block_size}", "",
                      *_parts_table(baseline_parts(c), c.tie_embeddings), "",
                      f"FLOPs per token (N = {matmul_parameters(c):,} matmul weights, no attention term):",
                      f"  forward  ≈ 2N = {_si(forward, 'FLOP')}", f"  training ≈ 6N = {_si(training, 'FLOP')}", "",
                      f"generation keeps {state:,} bytes in {dtype} whatever the context length (no KV cache)"])


def report(c: ModelConfig, dtype: str = "float32") -> str:
    """The human-readable sizing table `lantern inspect params` prints."""
    if c.family in BEFORE_ATTENTION:
        return baseline_report(c, dtype)
    p = count_parameters(c)
    moe = f", {c.n_expert} experts (top-{c.n_expert_active})" if c.n_expert else ""
    layers = (f"{c.encoder_layers} encoder + {c.decoder_layers} decoder layers" if c.family == "seq2seq"
              else f"{c.n_layer} layers")
    lines = [f"{layers}, {c.n_head} heads ({c.attention_kind}, {c.kv_heads} K/V heads), d_model {c.n_embd}, "
             f"d_head {c.head_dim}, d_ff {c.ff_dim} ({c.activation}){moe}, vocab {c.vocab_size}, "
             f"context {c.block_size}, positions {c.position}, {c.norm} ({c.norm_placement})",
             "", *_parts_table(p.parts(), c.tie_embeddings)]
    body = p.attention + p.mlp
    vocab = 2 * c.vocab_size * c.n_embd
    lines += ["", f"attention share of the non-embedding weights: {100 * p.attention / body:.1f}%",
              f"vocabulary overhead 2·|V|·d = {vocab:,}" + (" (tied: stored once)" if c.tie_embeddings else "")]
    if c.n_expert:
        active = p.total - p.mlp + p.mlp_active
        lines.append(f"active parameters per token (MoE): {active:,} of {p.total:,}")
    size = BYTES_PER_VALUE[dtype]
    forward, training = flops_per_token(c)
    kv = kv_cache_bytes_per_token(c, dtype)
    lines += [f"weights in {dtype}: {_si(p.total * size, 'B')}",
              "",
              f"FLOPs per token (context {c.block_size}, N = {matmul_parameters(c):,} matmul weights):",
              f"  forward  ≈ 2N + 4·L·T·d   = {_si(forward, 'FLOP')}",
              f"  training ≈ 6N + 12·L·T·d  = {_si(training, 'FLOP')}",
              "",
              f"KV cache = 2·n_layer·n_kv_head·d_head·{size} bytes = {kv:,} bytes per token ({_si(kv, 'B')}) in {dtype};"
              f" {_si(kv * c.block_size, 'B')} for a full {c.block_size}-token context"]
    return "\n".join(lines)
