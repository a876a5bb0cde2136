"""Every knob of one generation call, in one dataclass, validated once where it enters (bad values are
one-line LanternErrors): the CLI, an HTTP request or a Python call into `Engine`. The loop trusts it."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from ..errors import LanternError

MAX_NEW_TOKENS = 1_000_000  # a bound that still catches typos such as -n 1e23
MAX_BEAMS = 64  # each beam is a decoder row with its own KV cache
MAX_TOP_LOGPROBS = 20  # as OpenAI
MAX_STOP_CHARS = 1000  # a stop sequence is held back while it may still complete: keep that bounded
MAX_SEED = 2**64 - 1  # torch.Generator.manual_seed takes an unsigned 64-bit seed


@dataclass
class GenerationConfig:
    max_new_tokens: int = 100
    temperature: float = 1.0  # 0 = greedy (argmax)
    top_k: int = 0  # keep the k most likely tokens; 0 = all
    top_p: float = 1.0  # nucleus: the smallest set whose probability reaches p; 1 = all
    min_p: float = 0.0  # drop tokens with p < min_p * p_max; 0 = off
    repetition_penalty: float = 1.0  # θ (HF convention): seen tokens' logits z -> z/θ if z > 0 else z·θ
    presence_penalty: float = 0.0  # z -= presence · [token already generated]
    frequency_penalty: float = 0.0  # z -= frequency · (times generated)
    num_beams: int = 1  # > 1: beam search (deterministic; sampling options are ignored)
    length_penalty: float = 1.0  # beam score = log p(sequence) / (new tokens) ** length_penalty
    stop: tuple[str, ...] = ()  # stop sequences (text); the text stops before them
    stop_tokens: tuple[int, ...] | None = None  # None: the tokenizer's end-of-text token, if it has one
    seed: int | None = None  # fixes the sampling RNG; None = fresh randomness
    use_cache: bool = True  # KV cache; False recomputes the whole window every step (the reference)
    top_logprobs: int | None = None  # None: no log-probabilities; N: each new token's and the N most likely

    def validate(self) -> "GenerationConfig":
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise LanternError(f"{spec.name} must be a finite number, got {value}")
        if not 0 < self.max_new_tokens <= MAX_NEW_TOKENS:
            raise LanternError(f"max_new_tokens must be in 1..{MAX_NEW_TOKENS:,}, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise LanternError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k < 0:
            raise LanternError(f"top_k must be >= 0, got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise LanternError(f"top_p must be in (0, 1], got {self.top_p}")
        if not 0.0 <= self.min_p <= 1.0:
            raise LanternError(f"min_p must be in [0, 1], got {self.min_p}")
        if self.repetition_penalty <= 0:
            raise LanternError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        if not 1 <= self.num_beams <= MAX_BEAMS:
            raise LanternError(f"num_beams must be in 1..{MAX_BEAMS}, got {self.num_beams}")
        if any(not s or len(s) > MAX_STOP_CHARS for s in self.stop):
            raise LanternError(f"stop sequences must be 1..{MAX_STOP_CHARS} characters long")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise LanternError(f"seed must be in 0..2**64-1, got {self.seed}")
        if self.top_logprobs is not None and not 0 <= self.top_logprobs <= MAX_TOP_LOGPROBS:
            raise LanternError(f"top_logprobs must be in 0..{MAX_TOP_LOGPROBS}, got {self.top_logprobs}")
        return self

    @property
    def greedy(self) -> bool:
        return self.temperature == 0
