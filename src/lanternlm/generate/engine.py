"""The inference engine: owns generation state apart from the model (used by the CLI, chat and the server).

Autoregressive generation: predict the next-token distribution, choose a token, append it, repeat. Every way
of generating — one prompt, a batch, streamed text, beam search, the server's requests — runs the one loop
of `session.DecodingSession` (`Engine.steps` is a session with one request; the server keeps a session open
and requests join it between steps):

    prompts -> Decoder.prefill -> logits -> chooser.choose -> Step (ids, log-probs) -> Decoder.advance -> ...
                (KV cache)                  Sampler | BeamSearch                      (one forward for all)

The `Decoder` runs the model (prefill, then one token per step, sliding past the context window); a chooser
picks each row's next token; `text_steps` turns ids into text with stop sequences; `GenerationStats` times
a call. Settings are validated once, where they enter: `Engine.settings` for Python calls, the CLI and the
HTTP schemas for theirs; the loop trusts them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Generic, Iterator, TypeVar

import torch

from ..errors import LanternError
from ..models import LanguageModel, check_reads_one_text
from ..nn.functional import softmax
from ..tokenizers import Tokenizer
from .config import GenerationConfig
from .session import DecodingSession
from .stats import GenerationStats
from .step import Step
from .streaming import TextStep, text_steps

T = TypeVar("T")


class Generation(Generic[T]):
    """One generation call: iterate it for its items as they are produced; `stats` fills in as they come.
    Closing it (or leaving a `for` loop over it early) stops the decoding and frees its KV cache."""

    def __init__(self, items: Iterator[T], stats: GenerationStats) -> None:
        self._items, self.stats = items, stats

    def __iter__(self) -> Iterator[T]:
        return self._items

    def __next__(self) -> T:
        return next(self._items)

    def close(self) -> None:
        close = getattr(self._items, "close", None)
        if close is not None:
            close()


class Engine:
    def __init__(self, model: LanguageModel, tokenizer: Tokenizer) -> None:
        if not model.can_generate:
            raise LanternError(f"a {model.config.family} model does not generate text")
        self.model, self.tokenizer = model, tokenizer

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def block_size(self) -> int:
        return self.model.config.block_size

    # ------------------------------------------------------------------ where settings and prompts enter
    def settings(self, config: GenerationConfig | None = None, **overrides) -> GenerationConfig:
        """`config` (or the defaults) with keyword overrides, validated: the entry of every Python call."""
        return replace(config or GenerationConfig(), **overrides).validate()

    def check_continues_text(self) -> None:
        """An encoder–decoder model writes a target from a source sentence; it does not continue a prompt."""
        check_reads_one_text(self.model, "continuing a prompt")

    def encode_prompt(self, prompt: str) -> list[int]:
        if not prompt:
            raise LanternError("the prompt is empty")
        return self.tokenizer.encode(prompt)

    def stop_ids(self, config: GenerationConfig) -> tuple[int, ...]:
        """The tokens that end a row: `config.stop_tokens`, by default the tokenizer's end-of-text token."""
        if config.stop_tokens is not None:
            return config.stop_tokens
        return () if self.tokenizer.eot_id is None else (self.tokenizer.eot_id,)

    # ------------------------------------------------------------------ the one decoding loop
    def session(self, max_rows: int) -> DecodingSession:
        """A session that requests may join between steps, sharing forward passes (up to max_rows rows); an
        adapter view's session is its base's, which requests for the base and its other adapters may join."""
        return DecodingSession(self.model, max_rows)

    def steps(self, rows: list[list[int]], config: GenerationConfig, stats: GenerationStats | None = None,
              session: DecodingSession | None = None, sources: list[list[int]] | None = None) -> Iterator[Step]:
        """Decode every row (prompt ids, any lengths) in lock-step; yield each step's new tokens.

        `config` is trusted (validated where it entered). `stats`, when given, is filled in as steps are made.
        `session`: join that session (and share its forward passes) instead of decoding alone. The request
        joins at the first `next()`, on the thread that steps the session (the server's model worker).
        An encoder–decoder model needs `sources`, one source id list per row (the rows are then target
        prefixes, e.g. the start token); a decoder-only model takes none. Checked here, before the first step."""
        if sources is None:
            self.check_continues_text()
        elif not self.model.is_encoder_decoder or len(sources) != len(rows):
            raise ValueError("sources go with an encoder–decoder model, one per row")
        return self._join(rows, config, stats, session, sources)

    def _join(self, rows: list[list[int]], config: GenerationConfig, stats: GenerationStats | None,
              session: DecodingSession | None, sources: list[list[int]] | None) -> Iterator[Step]:
        if session is None:
            decoder_rows = len(rows) * config.num_beams
            session = DecodingSession(self.model, decoder_rows)
        request = session.add(rows, config, self.stop_ids(config), stats, sources, model=self.model)
        yield from session.steps_of(request)

    def stream_rows(self, rows: list[list[int]], config: GenerationConfig,
                    session: DecodingSession | None = None) -> Generation[TextStep]:
        """The loop as text: per step, each row's new text and finish reason (what the server streams)."""
        stats = GenerationStats()
        steps = self.steps(rows, config, stats, session)
        return Generation(text_steps(steps, self.tokenizer, len(rows), config), stats)

    def stream_text(self, prompt_ids: list[int], config: GenerationConfig) -> Generation[str]:
        """Text pieces continuing one prompt given as ids (chat renders its prompt to ids; config trusted)."""
        rows = self.stream_rows([prompt_ids], config)
        return Generation(_pieces(rows), rows.stats)

    # ------------------------------------------------------------------ Python conveniences (validate once)
    def stream(self, prompt: str, max_new_tokens: int | None = None, config: GenerationConfig | None = None,
               **overrides) -> Generation[str]:
        """Text pieces as they are generated, stopping before any stop sequence; `.stats` when done."""
        config = self.settings(config, **_with_length(overrides, max_new_tokens))
        return self.stream_text(self.encode_prompt(prompt), config)

    def generate(self, prompt: str, max_new_tokens: int | None = None, config: GenerationConfig | None = None,
                 **overrides) -> str:
        return "".join(self.stream(prompt, max_new_tokens, config, **overrides))

    def generate_batch(self, prompts: list[str], max_new_tokens: int | None = None,
                       config: GenerationConfig | None = None, **overrides) -> list[str]:
        """Several prompts (of any lengths) decoded together; each row stops on its own."""
        config = self.settings(config, **_with_length(overrides, max_new_tokens))
        rows = [self.encode_prompt(p) for p in prompts]
        if not rows:
            raise LanternError("no prompts given")
        texts = [""] * len(rows)
        for step in self.stream_rows(rows, config):
            for delta in step.deltas:
                texts[delta.row] += delta.text
        return texts

    # ------------------------------------------------------------------ the next-token distribution
    def next_token_distribution(self, prompt: str, temperature: float = 1.0) -> torch.Tensor:
        """p(next token | prompt) = softmax(z / T) over the vocabulary, (V,), from the last block_size tokens."""
        if not 0 < temperature < float("inf"):
            raise LanternError(f"temperature must be a finite number > 0 to show a distribution, got {temperature}")
        return self.next_token_probs(self.encode_prompt(prompt), temperature)

    @torch.no_grad()
    def next_token_probs(self, ids: list[int], temperature: float) -> torch.Tensor:
        """The same for prompt ids and a temperature already checked (> 0)."""
        self.check_continues_text()
        window = torch.tensor([ids[-self.block_size:]], device=self.device)
        return softmax(self.model.eval()(window, last_logits_only=True).logits[0, -1], temperature=temperature)


def _pieces(rows: Generation[TextStep]) -> Iterator[str]:
    try:
        for step in rows:
            yield from (delta.text for delta in step.deltas if delta.text)
    finally:
        rows.close()


def _with_length(overrides: dict, max_new_tokens: int | None) -> dict:
    return overrides if max_new_tokens is None else {**overrides, "max_new_tokens": max_new_tokens}
