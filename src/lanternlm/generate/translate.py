"""Translation: source sentences in, target sentences out, through the engine's one decoding loop.

Each source is encoded as training saw it (its ids, then EOT; `data/pairs.py`) and every decoder row starts
from the start token EOT and stops at EOT. The engine encodes the sources once (their cross-attention keys
and values go into the cache) and then greedy decoding, sampling or beam search runs exactly as for a
decoder-only model. Many sentences are translated in batches of similar length (little padding), and come
back in their input order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch

from ..data.pairs import source_tokenizer, start_token
from ..errors import LanternError
from ..models import pad_sequences
from .config import GenerationConfig
from .engine import Engine


@dataclass
class Translation:
    source: str
    text: str
    source_ids: list[int]  # as the encoder reads them (EOT last)
    target_ids: list[int]  # what the decoder wrote (no start or stop token)


def encode_sources(engine: Engine, texts: list[str], what: str = "source") -> list[list[int]]:
    """Source ids (+ EOT) of each text; an empty text or one longer than the model's window is a one-line error."""
    if not engine.model.is_encoder_decoder:
        raise LanternError(f"a {engine.model.config.family} model does not translate (it has no encoder; train "
                           f"one with model.family = \"seq2seq\" on `lantern prepare --pairs` data)")
    if not texts:
        raise LanternError("no sentences to translate")
    tokenizer, eot = source_tokenizer(engine.tokenizer), start_token(engine.tokenizer)
    rows = []
    for number, text in enumerate(texts, 1):
        where = f"{what} {number}" if len(texts) > 1 else what
        if not text.strip():
            raise LanternError(f"{where} is empty")
        ids = tokenizer.encode(text) + [eot]
        if len(ids) > engine.block_size:
            raise LanternError(f"{where} is {len(ids)} tokens; this model reads at most {engine.block_size}")
        rows.append(ids)
    return rows


def translation_settings(engine: Engine, config: GenerationConfig) -> GenerationConfig:
    """Targets stop at EOT and fit the decoder's positions (the start token takes one)."""
    return replace(config, max_new_tokens=min(config.max_new_tokens, engine.block_size - 1),
                   stop_tokens=(start_token(engine.tokenizer),))


def translate_ids(engine: Engine, sources: list[list[int]], config: GenerationConfig, batch_size: int = 32,
                  on_batch: Callable[[int], None] | None = None) -> list[list[int]]:
    """Target ids of each source (validated, e.g. by `encode_sources`; config trusted), in batches of up to
    `batch_size` sentences of similar length; `on_batch(sentences done)` follows along."""
    config = translation_settings(engine, config)
    start = start_token(engine.tokenizer)
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    results: list[list[int]] = [[] for _ in sources]
    for first in range(0, len(order), batch_size):
        batch = order[first:first + batch_size]
        for step in engine.steps([[start]] * len(batch), config, sources=[sources[i] for i in batch]):
            for row, token in enumerate(step.ids.tolist()):
                if token >= 0:
                    results[batch[row]].append(token)
        if on_batch is not None:
            on_batch(first + len(batch))
    return results


def translate(engine: Engine, texts: list[str], config: GenerationConfig, batch_size: int = 32,
              on_batch: Callable[[int], None] | None = None) -> list[Translation]:
    """Translate `texts` (config trusted: validated where it entered)."""
    sources = encode_sources(engine, texts)
    targets = translate_ids(engine, sources, config, batch_size, on_batch)
    return [Translation(text, engine.tokenizer.decode(target), source, target)
            for text, source, target in zip(texts, sources, targets)]


@torch.no_grad()
def alignment(engine: Engine, translation: Translation) -> torch.Tensor:
    """Cross-attention weights of the translation as the decoder wrote it (teacher-forced on its own output):
    (layers, heads, target positions, source positions). Target position t is the step that wrote target token
    t (the last one writes EOT), reading the start token and the tokens before t."""
    start = start_token(engine.tokenizer)
    source, source_mask = pad_sequences([translation.source_ids], engine.device)
    idx = torch.tensor([[start] + translation.target_ids], device=engine.device)
    maps = engine.model.eval().cross_attention_maps(source, idx, source_mask)
    return torch.stack([layer[0] for layer in maps]).float().cpu()
