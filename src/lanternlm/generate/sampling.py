"""Choosing the next token from logits: small pure functions over (B, V) logits, composed in a fixed order.

    penalties (repetition θ; presence/frequency) -> temperature -> top-k -> top-p -> min-p -> softmax -> draw

This is the order Hugging Face `generate` applies its processors and warpers in, so each step can be
checked against theirs. Filters set removed logits to -inf, so the final softmax gives them probability 0.
`Sampler` applies them step after step for the engine's loop, keeping what the penalties need to remember.
"""

from __future__ import annotations

import torch

from ..nn.functional import softmax
from .config import GenerationConfig
from .step import Choice, Step


def repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, theta: float) -> torch.Tensor:
    """CTRL / HF convention for tokens already in the sequence (`seen`, bool (B, V)): z/θ if z > 0, z·θ if z < 0.

    θ > 1 makes every seen token less likely whatever the sign of its logit."""
    if theta == 1.0:
        return logits
    penalised = torch.where(logits < 0, logits * theta, logits / theta)
    return torch.where(seen, penalised, logits)


def presence_frequency_penalty(logits: torch.Tensor, counts: torch.Tensor, presence: float,
                               frequency: float) -> torch.Tensor:
    """The subtractive (OpenAI) form: z_j -= presence · [c_j > 0] + frequency · c_j, c_j = times j was generated."""
    if presence == 0 and frequency == 0:
        return logits
    return logits - presence * (counts > 0).to(logits.dtype) - frequency * counts.to(logits.dtype)


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """z / T: T < 1 sharpens the distribution, T > 1 flattens it (T = 0, greedy, is handled by the caller)."""
    return logits if temperature == 1.0 else logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Set every logit outside the k largest (per row) to -inf (ties with the k-th are kept). k <= 0 keeps all."""
    if k <= 0 or k >= logits.size(-1):
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus: keep the most likely tokens until their probability mass reaches p (always at least one).

    Sorted ascending, a token is dropped when the mass of it and everything less likely is <= 1 - p."""
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1)
    tail_mass = softmax(sorted_logits).cumsum(dim=-1)
    drop_sorted = tail_mass <= 1 - p
    drop_sorted[..., -1] = False  # the most likely token always survives
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def min_p_filter(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    """Keep tokens with p_j >= min_p · max_i p_i: the cut scales with how confident the model is."""
    if min_p <= 0:
        return logits
    probs = softmax(logits)
    drop = probs < min_p * probs.amax(dim=-1, keepdim=True)
    return logits.masked_fill(drop, float("-inf"))


def process_logits(logits: torch.Tensor, config: GenerationConfig, seen: torch.Tensor | None = None,
                   generated_counts: torch.Tensor | None = None) -> torch.Tensor:
    """All the steps before the draw, in order. `seen` (bool (B, V)): tokens in prompt or output, for θ;
    `generated_counts` (B, V): how often each token was generated, for presence/frequency."""
    logits = logits.float()
    if seen is not None:
        logits = repetition_penalty(logits, seen, config.repetition_penalty)
    if generated_counts is not None:
        logits = presence_frequency_penalty(logits, generated_counts, config.presence_penalty,
                                            config.frequency_penalty)
    if config.greedy:
        return logits
    logits = apply_temperature(logits, config.temperature)
    logits = top_k_filter(logits, config.top_k)
    logits = top_p_filter(logits, config.top_p)
    return min_p_filter(logits, config.min_p)


def sample_next(logits: torch.Tensor, config: GenerationConfig, seen: torch.Tensor | None = None,
                generated_counts: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """logits (B, V) -> next token ids (B,): the argmax when temperature is 0, else a draw from the filtered softmax."""
    processed = process_logits(logits, config, seen, generated_counts)
    if config.greedy:
        return processed.argmax(dim=-1)
    return torch.multinomial(softmax(processed), 1, generator=generator).squeeze(-1)


class Sampler:
    """Chooser for the engine's loop: one token per row per step, by `sample_next`.

    Remembers per row the tokens seen (prompt and output, for θ), how often each was generated (presence and
    frequency penalties) and how many it produced; a row ends at a stop token (not handed out) or after
    max_new_tokens. One generator, seeded by `config.seed`, draws for the whole batch."""

    def __init__(self, rows: list[list[int]], config: GenerationConfig, stop_tokens: tuple[int, ...],
                 vocab_size: int, device: torch.device) -> None:
        self.config = config
        B = len(rows)
        self.seen = torch.zeros(B, vocab_size, dtype=torch.bool, device=device)
        for i, row in enumerate(rows):
            self.seen[i, row] = True
        self.counts = torch.zeros(B, vocab_size, device=device)
        self.produced = torch.zeros(B, dtype=torch.long, device=device)
        self.done = torch.zeros(B, dtype=torch.bool, device=device)
        self.stops = torch.tensor(stop_tokens, dtype=torch.long, device=device)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(config.seed) if config.seed is not None else self.generator.seed()

    def decoder_rows(self, rows: list[list[int]]) -> list[list[int]]:
        return rows

    def choose(self, logits: torch.Tensor, in_prompt: torch.Tensor) -> Choice:
        active = ~in_prompt & ~self.done
        next_ids = sample_next(logits, self.config, self.seen, self.counts, self.generator)
        emit = active & ~torch.isin(next_ids, self.stops)
        self.produced += emit
        self.done |= (active & ~emit) | (self.produced >= self.config.max_new_tokens)
        steps = [self._step(torch.where(emit, next_ids, -1), logits)] if emit.any() else []
        rows_emitted = emit.nonzero().squeeze(-1)
        self.seen[rows_emitted, next_ids[rows_emitted]] = True
        self.counts[rows_emitted, next_ids[rows_emitted]] += 1
        return Choice(next_ids, steps=steps, done=bool(self.done.all()))

    def _step(self, ids: torch.Tensor, logits: torch.Tensor) -> Step:
        top = self.config.top_logprobs
        if top is None:
            return Step(ids)
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        chosen = logprobs.gather(1, ids.clamp_min(0)[:, None]).squeeze(1)
        best = logprobs.topk(top, dim=-1) if top else None
        return Step(ids, chosen, best.indices if best else None, best.values if best else None)
