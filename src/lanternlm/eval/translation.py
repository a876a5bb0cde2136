"""Scoring a translator on held-out sentence pairs: BLEU and chrF (sacrebleu, the standard implementation) of
its translations, and the loss per target token of the references under the model.

BLEU = BP · exp(Σ_n ¼ log p_n): the geometric mean of the 1- to 4-gram precisions p_n of the translations
against the references, times a brevity penalty BP = min(1, exp(1 - r/c)) for output shorter than the
references (sacrebleu's 13a tokenization, corpus level). chrF is the F-score (β = 2) of character 6-grams,
kinder to morphology. Both run 0-100.

Each pair is scored against its own reference ("one reference per pair", the headline figure). A source
that occurs in several pairs (Tatoeba often gives one English sentence several French translations) is
translated once; the multi-reference BLEU scores each distinct source against all of its references.
The loss is the teacher-forced cross-entropy of each reference, EOT included (nats per target token).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..data.pairs import source_tokenizer, start_token, teacher_forcing
from ..generate.config import GenerationConfig
from ..generate.engine import Engine
from ..generate.translate import encode_sources, translate_ids
from ..models import IGNORE_INDEX, pad_sequences


@dataclass
class TranslationScore:
    bleu: float  # corpus BLEU, one reference per pair
    chrf: float  # corpus chrF, one reference per pair
    multi_reference_bleu: float  # each distinct source against all its references
    loss: float  # nats per target token of the references (teacher forcing)
    pairs: int
    sources: int  # distinct source sentences translated
    seconds: float  # translating them
    samples: list[tuple[str, str, str]]  # (source, reference, translation) of the first pairs

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)

    def summary(self) -> str:
        return (f"BLEU {self.bleu:.2f}, chrF {self.chrf:.2f} (one reference per pair, {self.pairs:,} pairs); "
                f"multi-reference BLEU {self.multi_reference_bleu:.2f} ({self.sources:,} distinct sources); "
                f"loss {self.loss:.4f} nats/target token (perplexity {self.perplexity:.2f}); "
                f"{self.sources / self.seconds:.1f} sentences/s")


@torch.no_grad()
def reference_loss(engine: Engine, pairs: list[tuple[str, str]], batch_size: int = 64) -> float:
    """Mean cross-entropy per target token (EOT included) of the references, teacher-forced."""
    model, eot = engine.model.eval(), start_token(engine.tokenizer)
    source_tok = source_tokenizer(engine.tokenizer)
    total, count = 0.0, 0
    for first in range(0, len(pairs), batch_size):
        batch = [teacher_forcing(source_tok.encode(s), engine.tokenizer.encode(t), eot)
                 for s, t in pairs[first:first + batch_size]]
        (source, source_mask), (idx, mask) = (pad_sequences([b[k] for b in batch], model.device) for k in (0, 1))
        targets = pad_sequences([b[2] for b in batch], model.device)[0].masked_fill(mask == 0, IGNORE_INDEX)
        logits = model(idx, source=source, source_mask=source_mask).logits
        total += F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX,
                                 reduction="sum").item()
        count += int(mask.sum())
    return total / max(count, 1)


def score_translations(engine: Engine, pairs: list[tuple[str, str]], config: GenerationConfig,
                       batch_size: int = 32, on_progress: Callable[[int, int], None] | None = None,
                       samples: int = 5) -> TranslationScore:
    """Translate every distinct source of `pairs` (config trusted) and score against the references."""
    import sacrebleu

    distinct = list(dict.fromkeys(source for source, _ in pairs))
    sources = encode_sources(engine, distinct, "pair")
    started = time.perf_counter()
    done = (lambda n: on_progress(n, len(distinct))) if on_progress else None
    outputs = translate_ids(engine, sources, config, batch_size, done)
    seconds = time.perf_counter() - started
    translation = {s: engine.tokenizer.decode(ids) for s, ids in zip(distinct, outputs)}
    hypotheses = [translation[source] for source, _ in pairs]
    references = [reference for _, reference in pairs]
    grouped: dict[str, list[str]] = {}
    for source, reference in pairs:
        grouped.setdefault(source, []).append(reference)
    streams = max(map(len, grouped.values()))
    multi = [[refs[k] if k < len(refs) else None for refs in grouped.values()] for k in range(streams)]
    return TranslationScore(
        bleu=sacrebleu.corpus_bleu(hypotheses, [references]).score,
        chrf=sacrebleu.corpus_chrf(hypotheses, [references]).score,
        multi_reference_bleu=sacrebleu.corpus_bleu([translation[s] for s in grouped], multi).score,
        loss=reference_loss(engine, pairs), pairs=len(pairs), sources=len(distinct), seconds=seconds,
        samples=[(s, r, translation[s]) for s, r in pairs[:samples]])
