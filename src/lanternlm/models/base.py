"""What every model family answers: the surface the engine, the playground lens and the server use.

Generation, serving and inspection never reach into a family's attributes (`wte`, `blocks`, ...); they ask
the model. A new family (encoder, encoder–decoder, RNN baseline) subclasses `LanguageModel`, implements the
methods below, and every command that uses only this surface works with it:

    device / dtype          where the weights live (the one place that works this out)
    token_embeddings()      the input embedding matrix E, |V| x d (the embedding view and analogies)
    attention_maps(ids)     per layer the (B, heads, T, T) attention pattern (the heat-map view)
    new_cache(batch_size)   an empty cache for incremental decoding: a KV cache, an RNN's state, or None
    can_generate            whether the engine may decode from it (an encoder only fills in masks)
    hidden_states(ids)      the last layer's vectors (B, T, d), what a task head reads (finetune/)
    is_encoder_decoder      whether it generates from a source sequence (translation): the engine then passes
                            `source`/`source_mask` to new_cache and, uncached, to the forward;
                            cross_attention_maps(source, idx) is then its alignment
    num_parameters()        distinct parameters (a tied matrix counted once)
    trace_points()          the stages of its pipeline, in order, for `inspect/trace.py` to watch
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import ModelConfig
from ..errors import LanternError
from ..nn.kv_cache import KVCache

IGNORE_INDEX = -1  # a target position with this id carries no loss (a prompt token, an unmasked MLM position)


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy −log p(target) over the positions whose target is not IGNORE_INDEX; with label
    smoothing ε the target distribution is (1 - ε)·one-hot + ε/|V| (the 2017 paper's ε_ls = 0.1)."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1),
                           ignore_index=IGNORE_INDEX, label_smoothing=label_smoothing)


def output_losses(logits: torch.Tensor, targets: torch.Tensor | None, routings: list, config: ModelConfig,
                  training: bool) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """(loss, MoE aux loss, expert load) of a forward pass. In training the loss is label-smoothed (ε =
    config.label_smoothing) and includes the weighted load-balancing loss; evaluation reports the pure
    cross-entropy. `routings`: the MoE layers' `Routing`s (empty without experts)."""
    aux_loss = torch.stack([r.aux_loss for r in routings]).mean() if routings else None
    loss = None
    if targets is not None:
        loss = next_token_loss(logits, targets, config.label_smoothing if training else 0.0)
        if aux_loss is not None and training:
            loss = loss + config.moe_aux_loss_coef * aux_loss
    expert_load = torch.stack([r.expert_load for r in routings]).detach() if routings else None
    return loss, aux_loss, expert_load


def pad_sequences(rows: list[list[int]], device: torch.device | str | None = None,
                  pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences of different lengths -> (ids (B, L), mask (B, L)): right-padded with `pad_id`, mask 1 on real
    tokens and 0 on padding (L = the longest row)."""
    length = max(map(len, rows))
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.as_tensor(row, dtype=torch.long)
        mask[i, :len(row)] = 1
    return ids.to(device), mask.to(device)


@dataclass
class TracePoint:
    """One stage of a model's pipeline that the tracer records the output of (a forward hook on `module`).

    kind: "token_embedding" (E[ids]); "embedding" (added to it: positions, segments); "layer" (a block: its
    output is the residual stream, its attention and activation modules are looked into); "norm"; "step"
    (anything else worth showing, e.g. the concatenated context of a fixed-window model)."""

    name: str
    module: nn.Module
    kind: str


def check_reads_one_text(model: "LanguageModel", what: str) -> None:
    """A one-line error when `model` is an encoder–decoder: `what` (a view or command) follows one text."""
    if model.is_encoder_decoder:
        raise LanternError(f"{what} follows one text, but this {model.config.family} model is an encoder–decoder: "
                           "it writes the translation of a source sentence (use `lantern translate RUN TEXT`)")


class LanguageModel(nn.Module):
    config: ModelConfig
    can_generate: bool = True  # autoregressive: the engine decodes from next-token logits
    is_encoder_decoder: bool = False  # generates a target from a source sequence (seq2seq)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def token_embeddings(self) -> torch.Tensor:
        """The token embedding matrix E (|V| x d); row i is token i's input vector."""
        raise NotImplementedError

    def attention_maps(self, ids: torch.Tensor) -> list[torch.Tensor]:
        """ids (B, T) -> per layer the attention weights (B, n_head, T, T); each row sums to 1."""
        raise NotImplementedError

    def hidden_states(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                      prefix: torch.Tensor | None = None) -> torch.Tensor:
        """ids (B, T) -> (B, T, d): the last layer's (normalised) states. attention_mask (B, T): 1 for real
        tokens, 0 for right padding; prefix (B or 1, n, d): soft-prompt vectors read before the tokens."""
        raise NotImplementedError

    def cross_attention_maps(self, source: torch.Tensor, idx: torch.Tensor,
                             source_mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """An encoder–decoder's alignment: per decoder layer (B, n_head, T_target, T_source) weights."""
        raise NotImplementedError(f"a {self.config.family} model has no cross-attention")

    def new_cache(self, batch_size: int, max_len: int | None = None) -> KVCache | None:
        """An empty cache for `batch_size` sequences of up to max_len (default block_size) positions; it needs
        `reorder(index)` (beam search). None: the decoder runs the window again each step."""
        return None

    def shared_forward(self) -> tuple["LanguageModel", tuple[str, ...]]:
        """The model whose forward passes this one's decoding can share with other requests, and the LoRA
        adapters its rows need in them (`nn/lora.py::adapters_by_row`): for a plain model, itself and none."""
        return self, ()

    def trace_points(self) -> list[TracePoint]:
        """The pipeline from token ids to the last hidden state, in order (the logits are `forward`'s)."""
        raise NotImplementedError

    def num_parameters(self) -> int:
        """Distinct parameters (a tied LM head is counted once)."""
        return sum(p.numel() for p in self.parameters())
