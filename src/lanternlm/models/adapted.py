"""A pretrained model adapted to a task, seen through views that share its weights.

    Classifier:  tokens -> [soft prompt] + base (LoRA active) -> hidden states -> pool -> Linear -> label logits
    AdaptedLM:   tokens -> [soft prompt] + base (LoRA active) -> next-token logits (generation works as usual)

The base stays one frozen set of weights; what a task adds is small and named: LoRA updates inside its layers
(`models/lora.py`, acting only while a view runs them), a soft prompt (n learned input vectors), a head. So
one base can carry many adapters and serve each, or none (`view.base` is the plain model), call by call.
Pooling a sequence into one vector: a decoder's last real token (the only position that has read the whole
text), an encoder's [CLS] position or its mean over real tokens.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import FinetuneConfig
from ..nn.lora import active_adapters
from ..nn.moe import MoEFeedForward
from .base import LanguageModel
from .encoder import pool
from .lora import attach_lora

ADAPTER = "adapter"  # the name a fine-tuning run gives its own LoRA adapter


class SoftPrompt(nn.Module):
    """Prompt tuning: n learned vectors in the input-embedding space, prepended to every input (virtual tokens
    that are no word of the vocabulary); the model itself stays frozen."""

    def __init__(self, n_tokens: int, dim: int, init: torch.Tensor | None = None) -> None:
        super().__init__()
        self.embeddings = nn.Parameter(torch.randn(n_tokens, dim) * 0.02 if init is None else init.clone())

    @property
    def n_tokens(self) -> int:
        return self.embeddings.size(0)

    def forward(self) -> torch.Tensor:
        return self.embeddings[None]  # (1, n, d): broadcast over the batch


def prompt_init(base: LanguageModel, n_tokens: int, init_ids: list[int] | None = None) -> torch.Tensor:
    """Starting vectors: the embeddings of `init_ids` (a text's tokens, repeated to fill n), else of n random
    vocabulary tokens (both start inside the region of embedding space the model has learned to read)."""
    table = base.token_embeddings().detach()
    if init_ids:
        ids = torch.tensor([init_ids[i % len(init_ids)] for i in range(n_tokens)])
    else:
        ids = torch.randint(table.size(0), (n_tokens,))
    return table[ids.to(table.device)].float().cpu()


def pool_last(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """(B, T, d) -> (B, d): each row's last real position (right padding: index = its length - 1)."""
    if attention_mask is None:
        return hidden[:, -1]
    last = attention_mask.long().sum(dim=1).clamp_min(1) - 1
    return hidden[torch.arange(hidden.size(0), device=hidden.device), last]


@dataclass
class ClassifierOutput:
    logits: torch.Tensor  # (B, n_labels)
    loss: torch.Tensor | None = None  # cross-entropy against `labels`


class Classifier(nn.Module):
    """A base model with a linear head on its pooled hidden states: p(label | text) = softmax(W·pool(h) + b)."""

    def __init__(self, base: LanguageModel, n_labels: int, pooling: str = "auto", prompt: SoftPrompt | None = None,
                 lora: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.base, self.prompt, self.lora = base, prompt, tuple(lora)
        if pooling == "auto":
            pooling = "last" if base.can_generate else base.config.pooling
        self.pooling = pooling
        self.drop = nn.Dropout(base.config.dropout) if base.config.dropout > 0 else nn.Identity()
        self.head = nn.Linear(base.config.n_embd, n_labels)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    @property
    def config(self):
        return self.base.config

    def pooled(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, d): one vector per text, read off the base's last hidden states."""
        prefix = self.prompt() if self.prompt is not None else None
        with active_adapters(*self.lora):
            hidden = self.base.hidden_states(ids, attention_mask, prefix)
        if self.pooling == "last":
            return pool_last(hidden, attention_mask)
        return pool(hidden, attention_mask, self.pooling)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> ClassifierOutput:
        """ids (B, T) right-padded, attention_mask (B, T) 1 on real tokens, labels (B,) class indices."""
        logits = self.head(self.drop(self.pooled(ids, attention_mask)))
        loss = F.cross_entropy(logits.float(), labels) if labels is not None else None
        return ClassifierOutput(logits, loss)


class AdaptedLM(LanguageModel):
    """A language model seen through its adapters (LoRA active, a soft prompt before every input): generation,
    evaluation and serving use it as any model. The prompt's n vectors fill the first n cache positions, so the
    context left for text is block_size - n (its `config.block_size`)."""

    def __init__(self, base: LanguageModel, prompt: SoftPrompt | None = None, lora: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.base, self.prompt, self.lora = base, prompt, tuple(lora)
        self.can_generate = base.can_generate
        self.config = replace(base.config, block_size=base.config.block_size - self.n_prompt)
        # LoRA alone can share the base's batches (see shared_forward); decided once, not per request
        self._rows_share_base = prompt is None and not any(isinstance(m, MoEFeedForward) for m in base.modules())

    @property
    def n_prompt(self) -> int:
        return self.prompt.n_tokens if self.prompt is not None else 0

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, return_attention: bool = False,
                kv_cache=None, start_pos: int = 0, last_logits_only: bool = False):
        """As the base's forward; the soft prompt goes before the first call's tokens (start_pos 0), and later
        calls continue after it in the cache (start_pos + n)."""
        first = isinstance(start_pos, int) and start_pos == 0  # (a tensor start_pos: rows of a decoding session)
        prefix = self.prompt() if self.prompt is not None and first else None
        shift = self.n_prompt if self.prompt is not None and not first else 0
        with active_adapters(*self.lora):
            return self.base(idx, targets, return_attention, kv_cache, start_pos + shift, last_logits_only,
                             prefix=prefix)

    def hidden_states(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                      prefix: torch.Tensor | None = None) -> torch.Tensor:
        if self.prompt is not None:
            prefix = self.prompt() if prefix is None else torch.cat([self.prompt(), prefix], dim=1)
        with active_adapters(*self.lora):
            return self.base.hidden_states(ids, attention_mask, prefix)

    def token_embeddings(self) -> torch.Tensor:
        return self.base.token_embeddings()

    def shared_forward(self) -> tuple[LanguageModel, tuple[str, ...]]:
        """LoRA alone runs as the base plus per-row updates, so a batch may mix this adapter's rows with the base's
        and other adapters' (one pass through the base weights). Not a soft prompt (its rows would sit at other
        positions) nor LoRA inside mixture-of-experts experts (which see tokens, not rows)."""
        return (self.base, self.lora) if self._rows_share_base else (self, ())

    @torch.no_grad()
    def attention_maps(self, ids: torch.Tensor) -> list[torch.Tensor]:
        """Per layer (B, heads, T, T) over the text's positions (the prompt's rows and columns left out)."""
        n = self.n_prompt
        return [m[..., n:, n:] for m in self(ids, return_attention=True).attentions]

    def new_cache(self, batch_size: int, max_len: int | None = None):
        return self.base.new_cache(batch_size, (max_len or self.config.block_size) + self.n_prompt)


def trainable_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def weights_fingerprint(model: nn.Module) -> str:
    """An id of a base model's weights: SHA-256 over every tensor's name, dtype, shape and bytes (adapters
    excluded), so an adapter can check it is loaded onto the weights it was trained on."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if ".adapters." in f".{name}":
            continue
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{data.dtype}|{tuple(data.shape)}|".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def adapt_model(base: LanguageModel, finetune: FinetuneConfig, prompt_ids: list[int] | None = None) -> nn.Module:
    """The module a fine-tuning run trains (and loads): the base as `finetune.method` adapts it.

    full: every weight trains; head: only the task head; lora: the adapter (and the head); prompt: the soft
    prompt (and the head). The base's own parameters are frozen unless the method is full. A dpo run's model
    is a PreferenceLM: the adapted policy, and the base (adapter off) as its reference."""
    if not finetune.task:
        return base
    if finetune.method != "full":
        base.requires_grad_(False)
    lora: tuple[str, ...] = ()
    if finetune.method == "lora":
        attach_lora(base, ADAPTER, finetune.lora_rank, finetune.lora_alpha, finetune.lora_dropout,
                    finetune.lora_targets)
        lora = (ADAPTER,)
    prompt = None
    if finetune.method == "prompt":
        init = prompt_init(base, finetune.prompt_tokens, prompt_ids)
        prompt = SoftPrompt(finetune.prompt_tokens, base.config.n_embd, init).to(base.device)
    if finetune.task == "classify":
        return Classifier(base, len(finetune.labels), finetune.pooling, prompt, lora).to(base.device)
    if finetune.task == "dpo":
        from .preference import PreferenceLM  # (it subclasses AdaptedLM, defined above)

        return PreferenceLM(base, lora, finetune.dpo_beta)
    if finetune.method == "full":
        return base
    return AdaptedLM(base, prompt, lora)
