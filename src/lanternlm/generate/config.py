"""Every knob of one generation call, in one validated dataclass (bad values are one-line LanternErrors)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LanternError


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

    def validate(self) -> "GenerationConfig":
        if self.max_new_tokens <= 0:
            raise LanternError(f"max_new_tokens must be positive, got {self.max_new_tokens}")
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
        if self.num_beams < 1:
            raise LanternError(f"num_beams must be >= 1, got {self.num_beams}")
        if any(not s for s in self.stop):
            raise LanternError("stop sequences must be non-empty")
        return self

    @property
    def greedy(self) -> bool:
        return self.temperature == 0
