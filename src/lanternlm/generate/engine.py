"""The inference engine: owns generation state apart from the model (used by the CLI, chat and later serving).

Autoregressive generation: predict the next-token distribution, choose a token, append it, repeat.
The `Decoder` runs the model (prefill, then one token per step); `sampling` chooses each token;
`TextStream` turns ids into text and watches for stop sequences; `GenerationStats` times it all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Iterator

import torch

from ..errors import LanternError
from ..nn.functional import softmax
from ..tokenizers import Tokenizer
from .beam import beam_search
from .config import GenerationConfig
from .decoder import Decoder
from .sampling import sample_next
from .streaming import TextStream


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    new_tokens: int = 0  # summed over the batch
    time_to_first_token: float = 0.0  # seconds from the call to the first new token (prefill + one sample)
    total_time: float = 0.0
    first_tokens: int = 0  # tokens that arrived with the first one (one per row of a batch)

    def record(self, tokens: int, elapsed: float) -> None:
        """One decoding step produced `tokens` new tokens, `elapsed` seconds after the call."""
        if tokens and not self.new_tokens:
            self.time_to_first_token, self.first_tokens = elapsed, tokens
        self.new_tokens += tokens
        self.total_time = elapsed

    @property
    def tokens_per_sec(self) -> float:
        """Decoding throughput after the first token: new tokens per second, summed over the batch."""
        decode_time = self.total_time - self.time_to_first_token
        later = self.new_tokens - self.first_tokens
        return later / decode_time if later > 0 and decode_time > 0 else float("nan")

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

    def make_config(self, config: GenerationConfig | None = None, **overrides) -> GenerationConfig:
        """A validated config: `config` (or the defaults) with keyword overrides; stop_tokens defaults to EOT."""
        config = replace(config or GenerationConfig(), **overrides)
        if config.stop_tokens is None:
            eot = self.tokenizer.eot_id
            config = replace(config, stop_tokens=() if eot is None else (eot,))
        return config.validate()

    @torch.no_grad()
    def stream_batch_ids(self, rows: list[list[int]], config: GenerationConfig) -> Iterator[torch.Tensor]:
        """Generate for every row in lock-step; yield a (B,) tensor of new ids per step, -1 where a row
        produced nothing (still feeding its prompt, or finished).

        A row finishes at a stop token (not yielded) or after max_new_tokens; the call ends when all have."""
        if not rows or any(not r for r in rows):
            raise LanternError("the prompt is empty")
        config = self.make_config(config)
        self.model.eval()
        generator = torch.Generator(device=self.device)
        generator.manual_seed(config.seed) if config.seed is not None else generator.seed()
        self.stats = stats = GenerationStats(prompt_tokens=sum(map(len, rows)))
        started = time.perf_counter()
        decoder = Decoder(self.model, use_cache=config.use_cache)
        logits = decoder.prefill(rows)
        B, V = logits.shape
        device = logits.device
        seen = torch.zeros(B, V, dtype=torch.bool, device=device)  # prompt and output tokens, for θ
        for i, r in enumerate(rows):
            seen[i, r] = True
        counts = torch.zeros(B, V, device=device)  # generated tokens, for presence/frequency
        produced = torch.zeros(B, dtype=torch.long, device=device)
        done = torch.zeros(B, dtype=torch.bool, device=device)
        stops = torch.tensor(config.stop_tokens, dtype=torch.long, device=device)
        while True:
            active = ~decoder.in_prompt & ~done
            next_ids = sample_next(logits, config, seen, counts, generator)
            emit = active & ~torch.isin(next_ids, stops)
            produced += emit
            done |= (active & ~emit) | (produced >= config.max_new_tokens)
            stats.record(int(emit.sum()), time.perf_counter() - started)
            if emit.any():
                yield torch.where(emit, next_ids, -1)
            if done.all():
                return
            rows_emitted = emit.nonzero().squeeze(-1)
            seen[rows_emitted, next_ids[rows_emitted]] = True
            counts[rows_emitted, next_ids[rows_emitted]] += 1
            logits = decoder.step(next_ids)

    def stream_ids(self, prompt_ids: list[int], config: GenerationConfig | None = None, **overrides) -> Iterator[int]:
        """Yield new token ids one at a time for a single prompt (beam search yields its best sequence)."""
        config = self.make_config(config, **overrides)
        if config.num_beams > 1:
            yield from self._beam_ids(prompt_ids, config)
            return
        for ids in self.stream_batch_ids([prompt_ids], config):
            yield int(ids[0])

    @torch.no_grad()
    def _beam_ids(self, prompt_ids: list[int], config: GenerationConfig) -> list[int]:
        self.stats = GenerationStats(prompt_tokens=len(prompt_ids))
        started = time.perf_counter()
        decoder = Decoder(self.model.eval(), use_cache=config.use_cache)
        tokens = beam_search(decoder, prompt_ids, config.num_beams, config.max_new_tokens, config.length_penalty,
                             config.stop_tokens)
        self.stats.record(len(tokens), time.perf_counter() - started)  # beams finish together: no tokens/s
        return [t for t in tokens if t not in config.stop_tokens]

    def stream(self, prompt: str, max_new_tokens: int | None = None, config: GenerationConfig | None = None,
               **overrides) -> Iterator[str]:
        """Yield text pieces as they are generated, stopping before any stop sequence."""
        if max_new_tokens is not None:
            overrides["max_new_tokens"] = max_new_tokens
        return self.stream_text(self.encode_prompt(prompt), self.make_config(config, **overrides))

    def stream_text(self, prompt_ids: list[int], config: GenerationConfig) -> Iterator[str]:
        """Text pieces continuing `prompt_ids` (used directly by chat, whose prompt is rendered to ids)."""
        config = self.make_config(config)
        text = TextStream(self.tokenizer, config.stop)
        for token_id in self.stream_ids(prompt_ids, config):
            piece = text.push(token_id)
            if piece:
                yield piece
            if text.stopped:
                return
        tail = text.finish()
        if tail:
            yield tail

    @torch.no_grad()
    def next_token_distribution(self, prompt: str, temperature: float = 1.0) -> torch.Tensor:
        """p(next token | prompt) = softmax(z / T) over the vocabulary, (V,), from the last block_size tokens."""
        if temperature <= 0:
            raise LanternError(f"temperature must be > 0 to show a distribution, got {temperature}")
        ids = torch.tensor([self.encode_prompt(prompt)[-self.block_size:]], device=self.device)
        return softmax(self.model.eval()(ids).logits[0, -1], temperature=temperature)

    def generate(self, prompt: str, max_new_tokens: int | None = None, **overrides) -> str:
        return "".join(self.stream(prompt, max_new_tokens, **overrides))

    def generate_batch(self, prompts: list[str], max_new_tokens: int | None = None,
                       config: GenerationConfig | None = None, **overrides) -> list[str]:
        """Several prompts (of any lengths) decoded together; each row stops on its own."""
        if max_new_tokens is not None:
            overrides["max_new_tokens"] = max_new_tokens
        config = self.make_config(config, **overrides)
        if config.num_beams > 1:
            return [self.generate(p, config=config) for p in prompts]
        streams = [TextStream(self.tokenizer, config.stop) for _ in prompts]
        texts = [""] * len(prompts)
        for ids in self.stream_batch_ids([self.encode_prompt(p) for p in prompts], config):
            for i, token_id in enumerate(ids.tolist()):
                if token_id >= 0 and not streams[i].stopped:
                    texts[i] += streams[i].push(token_id)
            if all(s.stopped for s in streams):
                break
        return [t + s.finish() for t, s in zip(texts, streams)]
