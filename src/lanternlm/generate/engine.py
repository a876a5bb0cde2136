"""The inference engine: owns generation state apart from the model, used by the CLI (and later chat/serving).

Autoregressive generation: predict the next-token distribution, choose a token, append it, repeat. When the
sequence outgrows the context window, only the last `block_size` tokens are fed (a sliding window).
"""

from __future__ import annotations

import codecs
import time
from dataclasses import dataclass, field
from typing import Iterator

import torch

from ..errors import LanternError
from ..tokenizers import Tokenizer
from .sampling import sample_next


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    new_tokens: int = 0
    time_to_first_token: float = 0.0  # seconds from the call to the first new token
    total_time: float = 0.0

    @property
    def tokens_per_sec(self) -> float:
        decode_time = self.total_time - self.time_to_first_token
        return (self.new_tokens - 1) / decode_time if self.new_tokens > 1 and decode_time > 0 else float("nan")

    def summary(self) -> str:
        return (f"{self.new_tokens} tokens, time to first token {1000 * self.time_to_first_token:.1f} ms, "
                f"{self.tokens_per_sec:.1f} tokens/s")


@dataclass
class Engine:
    model: torch.nn.Module
    tokenizer: Tokenizer
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    stats: GenerationStats = field(default_factory=GenerationStats)

    @property
    def block_size(self) -> int:
        return self.model.config.block_size

    def encode_prompt(self, prompt: str) -> list[int]:
        if not prompt:
            raise LanternError("the prompt is empty")
        return self.tokenizer.encode(prompt)

    @torch.no_grad()
    def stream_ids(self, prompt_ids: list[int], max_new_tokens: int, temperature: float = 1.0, top_k: int = 0,
                   seed: int | None = None) -> Iterator[int]:
        """Yield new token ids one at a time."""
        if max_new_tokens <= 0:
            raise LanternError(f"max_new_tokens must be positive, got {max_new_tokens}")
        if temperature < 0:
            raise LanternError(f"temperature must be >= 0, got {temperature}")
        if top_k < 0:
            raise LanternError(f"top_k must be >= 0, got {top_k}")
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed) if seed is not None else generator.seed()
        self.stats = GenerationStats(prompt_tokens=len(prompt_ids))
        started = time.perf_counter()
        ids = torch.tensor([prompt_ids], dtype=torch.long, device=self.device)
        for _ in range(max_new_tokens):
            context = ids[:, -self.block_size:]
            logits = self.model(context).logits[:, -1, :]
            next_id = sample_next(logits, temperature, top_k, generator)
            ids = torch.cat([ids, next_id[:, None]], dim=1)
            self.stats.new_tokens += 1
            now = time.perf_counter() - started
            if self.stats.new_tokens == 1:
                self.stats.time_to_first_token = now
            self.stats.total_time = now
            yield int(next_id)

    def stream(self, prompt: str, max_new_tokens: int, temperature: float = 1.0, top_k: int = 0,
               seed: int | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated (bytes of a character split across tokens are held back)."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for token_id in self.stream_ids(self.encode_prompt(prompt), max_new_tokens, temperature, top_k, seed):
            piece = decoder.decode(self.tokenizer.token_bytes(token_id))
            if piece:
                yield piece
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def generate(self, prompt: str, max_new_tokens: int, **kwargs) -> str:
        return "".join(self.stream(prompt, max_new_tokens, **kwargs))
