"""The whole pipeline of one forward pass, stage by stage, with the shape of every tensor:

    text -> tokens -> ids -> token embedding E[ids] (T x d) (+ position embedding) -> layers -> final norm
         -> logits (T x |V|) -> probabilities softmax(z / temperature) -> the chosen token

`trace(model, tokenizer, text)` runs the model once with forward hooks on the stages the model itself lists
(`LanguageModel.trace_points()`), so it works for every family without knowing any family's attribute names.
Inside each layer it looks at building blocks by what they are:

* the layer's output: the residual stream of a transformer (the hidden state of an RNN), ‖x_t‖₂ per token;
* attention (from `attention_maps(ids)`): the entropy of each head's rows, H = −Σ_j w_j log₂ w_j, averaged over
  the positions: 0 bits when every position looks at one token, log₂ T when a head spreads evenly over T;
* activation modules (GELU, ReLU, SiLU, tanh): the fraction of neurons whose post-activation is > 0 at each token
  (for a gated SwiGLU MLP, the gate's SiLU; a mixture of experts routes tokens apart, so it has none).

The embedding lookup is also shown as what it is: a one-hot row per token times the matrix, one_hot(ids) @ E ==
E[ids] (exactly: a product with zeros and a single one adds nothing else).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import LanternError
from ..models import LanguageModel, TracePoint, check_reads_one_text
from ..nn.functional import softmax
from ..tokenizers import Tokenizer

ACTIVATIONS = (nn.GELU, nn.ReLU, nn.SiLU, nn.Tanh)  # the post-activation modules of nn/feedforward.py and mlp.py
SHOWN_VALUES = 6  # numbers shown per stage: the first few of the last position's vector


@dataclass
class Stage:
    name: str
    kind: str  # a TracePoint kind, or "sum", "logits", "probabilities"
    shape: list[int]  # without the batch dimension
    values: list[float]  # the first SHOWN_VALUES numbers of the last position's vector
    norms: list[float] | None = None  # ‖x_t‖₂ per position (layers)
    attention_entropy_bits: list[float] | None = None  # per head, mean over positions (layers with attention)
    active_fraction: list[float] | None = None  # per position: the share of activations > 0 (layers with an MLP)


@dataclass
class Trace:
    family: str
    text: str
    tokens: list[dict]  # {"id", "text"} of every traced token
    truncated: int  # tokens cut from the front to fit the context window
    stages: list[Stage]
    one_hot_max_difference: float  # max |one_hot(ids) @ E − E[ids]|
    vocab_size: int
    temperature: float
    top: list[dict] = field(default_factory=list)  # {"id", "text", "prob"}: the most likely next tokens
    entropy_bits: float | None = None  # of the next-token distribution at `temperature`
    chosen: dict | None = None  # the most likely next token {"id", "text", "prob"} (None: the model has no head)
    logits: torch.Tensor | None = None  # (T, |V|), the model's own output (left out of `to_dict`)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("logits")
        return data


class _Recorder:
    """What the hooks of one trace point capture: its output, and the post-activations inside it."""

    def __init__(self, point: TracePoint) -> None:
        self.point = point
        self.output: torch.Tensor | None = None
        self.activations: list[torch.Tensor] = []

    def on_output(self, module, inputs, output) -> None:
        output = output[0] if isinstance(output, tuple) else output
        self.output = output[0] if output.dim() == 3 else output  # drop the batch dimension (one text)

    def on_activation(self, module, inputs, output) -> None:
        self.activations.append(output)


def _values(tensor: torch.Tensor) -> list[float]:
    last = tensor[-1] if tensor.dim() > 1 else tensor
    return [round(v, 4) for v in last[:SHOWN_VALUES].float().tolist()]


def _stage(name: str, kind: str, tensor: torch.Tensor, **stats) -> Stage:
    return Stage(name, kind, list(tensor.shape), _values(tensor), **stats)


def _layer_stats(recorder: _Recorder, T: int, attention: torch.Tensor | None) -> dict:
    x = recorder.output.float()
    stats = {"norms": [round(v, 4) for v in x.norm(dim=-1).tolist()]}
    if attention is not None:  # (1, heads, T, T)
        w = attention[0].float()
        entropy = -(w * torch.log2(w.clamp_min(1e-30))).sum(-1)  # (heads, T)
        stats["attention_entropy_bits"] = [round(v, 4) for v in entropy.mean(-1).tolist()]
    per_token = [a for a in recorder.activations if a.dim() == 3 and a.shape[:2] == (1, T)]
    if per_token and len(per_token) == len(recorder.activations):  # every activation saw every token
        active = torch.cat([a[0] for a in per_token], dim=-1) > 0
        stats["active_fraction"] = [round(v, 4) for v in active.float().mean(-1).tolist()]
    return stats


def _token(tokenizer: Tokenizer, token_id: int, **extra) -> dict:
    return {"id": token_id, "text": tokenizer.token_text(token_id), **extra}


@torch.no_grad()
def trace(model: LanguageModel, tokenizer: Tokenizer, text: str, temperature: float = 1.0, top: int = 5) -> Trace:
    """Run `text` (its last block_size tokens) through `model` once and record every stage."""
    check_reads_one_text(model, "a trace")
    if not text:
        raise LanternError("the text to trace is empty")
    if not 0 < temperature < math.inf:
        raise LanternError(f"temperature must be a finite number > 0, got {temperature}")
    if top < 1:
        raise LanternError(f"top must be at least 1, got {top}")
    all_ids = tokenizer.encode(text)
    if not all_ids:
        raise LanternError(f"{text!r} encodes to no tokens")
    ids = all_ids[-model.config.block_size:]
    x = torch.tensor([ids], device=model.device)
    model.eval()

    recorders, hooks = [], []
    try:
        for point in model.trace_points():
            recorder = _Recorder(point)
            recorders.append(recorder)
            hooks.append(point.module.register_forward_hook(recorder.on_output))
            if point.kind == "layer":
                hooks += [m.register_forward_hook(recorder.on_activation) for m in point.module.modules()
                          if isinstance(m, ACTIVATIONS)]
        logits = model(x).logits
    finally:
        for hook in hooks:
            hook.remove()
    maps = model.attention_maps(x)
    layers = [r for r in recorders if r.point.kind == "layer"]
    attention = maps if len(maps) == len(layers) else [None] * len(layers)

    stages, T = [], len(ids)
    embeddings = [r for r in recorders if r.point.kind in ("token_embedding", "embedding")]
    for r in recorders:
        if r.point.kind == "layer":
            stages.append(_stage(r.point.name, "layer", r.output, **_layer_stats(r, T, attention[layers.index(r)])))
        else:
            stages.append(_stage(r.point.name, r.point.kind, r.output))
        if len(embeddings) > 1 and r is embeddings[-1]:  # the input embedding: their sum
            total = sum(e.output for e in embeddings)
            names = " + ".join(e.point.name.replace(" embedding", "") for e in embeddings)
            stages.append(_stage(f"input embedding = {names}", "sum", total))
    token_embedding = next(r.output for r in recorders if r.point.kind == "token_embedding")
    E = model.token_embeddings()
    one_hot = F.one_hot(x[0], E.size(0)).to(E.dtype)
    difference = float((one_hot @ E - token_embedding).abs().max())

    result = Trace(model.config.family, text, [_token(tokenizer, i) for i in ids], len(all_ids) - T, stages,
                   difference, E.size(0), temperature)
    if logits is not None:
        result.logits = logits[0]
        stages.append(_stage("logits", "logits", logits[0]))
        probs = softmax(logits[0, -1], temperature=temperature)
        stages.append(Stage(f"probabilities softmax(z / {temperature:g})", "probabilities", list(probs.shape),
                            [round(v, 4) for v in probs.sort(descending=True).values[:SHOWN_VALUES].tolist()]))
        values, best = probs.topk(min(top, probs.numel()))
        result.top = [_token(tokenizer, i, prob=p) for i, p in zip(best.tolist(), values.tolist())]
        result.entropy_bits = float(-(probs * torch.log2(probs.clamp_min(1e-30))).sum())
        result.chosen = result.top[0]
    return result


def _numbers(values: list[float], style: str = "{:+.3f}") -> str:
    return " ".join(style.format(v) for v in values)


def render(t: Trace) -> str:
    """The trace as the lines `lantern trace` prints."""
    T, d = len(t.tokens), next(s.shape[-1] for s in t.stages if s.kind == "token_embedding")
    cut = f", the first {t.truncated} left out (context window)" if t.truncated else ""
    lines = [f"{t.family} model, {T} tokens{cut}",
             f"{'tokens':<44}{T:<12}" + " ".join(repr(tok["text"]) for tok in t.tokens),
             f"{'ids':<44}{str((T,)):<12}{[tok['id'] for tok in t.tokens]}"]
    for s in t.stages:
        head = f"{s.name:<44}{str(tuple(s.shape)):<12}"
        if s.kind == "probabilities":
            best = ", ".join(f"{tok['text']!r} {tok['prob']:.3f}" for tok in t.top)
            uniform = math.log2(t.vocab_size)
            lines.append(head + f"entropy {t.entropy_bits:.2f} bits (uniform: {uniform:.2f}); top: {best}")
            continue
        lines.append(head + _numbers(s.values) + (" ..." if s.shape[-1] > len(s.values) else ""))
        if s.kind == "token_embedding":
            lines.append(f"    one_hot(ids) ({T} x {t.vocab_size}) @ E ({t.vocab_size} x {d}) == E[ids]: "
                         f"max |difference| {t.one_hot_max_difference:g}")
        if s.norms is not None:
            lines.append(f"    |x| per token: {_numbers(s.norms, '{:.2f}')}")
        if s.attention_entropy_bits is not None:
            lines.append(f"    attention entropy per head (bits; uniform over {T} tokens: {math.log2(T):.2f}): "
                         f"{_numbers(s.attention_entropy_bits, '{:.2f}')}")
        if s.active_fraction is not None:
            lines.append(f"    neurons active (post-activation > 0) per token: {_numbers(s.active_fraction, '{:.0%}')}")
    if t.chosen is not None:
        lines.append(f"{'chosen (the most likely)':<44}{'':<12}{t.chosen['text']!r} (id {t.chosen['id']}), "
                     f"p = {t.chosen['prob']:.3f}")
    return "\n".join(lines)
