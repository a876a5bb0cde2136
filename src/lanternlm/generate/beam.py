"""Beam search: keep the `num_beams` most probable partial sequences instead of one (deterministic decoding).

Each step extends every beam by every token, scores candidates by their total log-probability
log p(y_1..y_t | prompt) = Σ log p(y_i | ...), and keeps the best. A finished hypothesis (ended by a stop
token, or at max_new_tokens) is ranked by score / len ** length_penalty: length_penalty > 0 favours longer
outputs (the raw sum only ever falls as a sequence grows), 0 compares raw sums.

`BeamSearch` is one of the engine's two token choosers (the other is `sampling.Sampler`): each prompt owns a
group of `num_beams` consecutive decoder rows, and every step says which rows continue (`reorder`) with which
token. The best sequence of each prompt is only known at the end, so it arrives all at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import GenerationConfig
from .step import Choice, Step


@dataclass(order=True)
class Hypothesis:
    score: float  # length-normalised log-probability
    tokens: list[int]


def _normalised(logprob: float, length: int, length_penalty: float) -> float:
    return logprob / (length ** length_penalty)


class BeamGroup:
    """The beams of one prompt: scores, partial sequences and finished hypotheses."""

    def __init__(self, num_beams: int, max_new_tokens: int, length_penalty: float, stop_tokens: tuple[int, ...]):
        self.num_beams, self.max_new_tokens = num_beams, max_new_tokens
        self.length_penalty, self.stop_tokens = length_penalty, stop_tokens
        self.scores = torch.full((num_beams,), float("-inf"))
        self.scores[0] = 0.0  # all beams start identical: expand only the first, or every candidate appears num_beams times
        self.beams: list[list[int]] = [[] for _ in range(num_beams)]
        self.finished: list[Hypothesis] = []
        self.length = 0  # tokens in every live beam
        self.done = False

    def advance(self, logits: torch.Tensor) -> tuple[list[int], list[int]]:
        """logits (num_beams, V) -> (beam each kept row continues, its token); sets `done` when the search ends."""
        self.length += 1
        candidates = self.scores[:, None] + torch.log_softmax(logits.float(), dim=-1)  # (beams, V)
        vocab = candidates.size(-1)
        top = torch.topk(candidates.flatten(), min(2 * self.num_beams, candidates.numel()))
        keep_rows, keep_tokens, keep_scores = [], [], []
        for score, flat in zip(top.values.tolist(), top.indices.tolist()):
            if score == float("-inf") or len(keep_rows) == self.num_beams:
                break
            row, token = divmod(flat, vocab)
            if token in self.stop_tokens:
                self.finished.append(Hypothesis(self._normalised(score, self.length), self.beams[row] + [token]))
            else:
                keep_rows.append(row), keep_tokens.append(token), keep_scores.append(score)
        if not keep_rows:
            return self._finish()
        while len(keep_rows) < self.num_beams:  # fewer live candidates than beams: pad with dead copies
            keep_rows.append(keep_rows[0]), keep_tokens.append(keep_tokens[0]), keep_scores.append(float("-inf"))
        self.beams = [self.beams[r] + [t] for r, t in zip(keep_rows, keep_tokens)]
        self.scores = torch.tensor(keep_scores)
        best_live = self._normalised(max(keep_scores), self.length)
        if (self.length == self.max_new_tokens or len(self.finished) >= self.num_beams
                and best_live <= sorted(self.finished, reverse=True)[self.num_beams - 1].score):
            return self._finish()  # out of length, or the best live beam no longer beats the finished ones (HF's rule)
        return keep_rows, keep_tokens

    def best(self) -> list[int]:
        """The best finished sequence (a stop token that ends it is included)."""
        return max(self.finished).tokens

    def _normalised(self, logprob: float, length: int) -> float:
        return _normalised(logprob, length, self.length_penalty)

    def _finish(self) -> tuple[list[int], list[int]]:
        self.finished += [Hypothesis(self._normalised(s, len(b)), b)
                          for s, b in zip(self.scores.tolist(), self.beams) if s != float("-inf")]
        self.done = True
        return list(range(self.num_beams)), [0] * self.num_beams


class BeamSearch:
    """Chooser for the engine's loop: prompt i owns decoder rows i·num_beams .. (i+1)·num_beams - 1."""

    def __init__(self, n_prompts: int, config: GenerationConfig, stop_tokens: tuple[int, ...]) -> None:
        self.num_beams, self.stop_tokens = config.num_beams, stop_tokens
        self.groups = [BeamGroup(config.num_beams, config.max_new_tokens, config.length_penalty, stop_tokens)
                       for _ in range(n_prompts)]

    def decoder_rows(self, rows: list[list[int]]) -> list[list[int]]:
        return [row for row in rows for _ in range(self.num_beams)]

    def choose(self, logits: torch.Tensor, in_prompt: torch.Tensor) -> Choice:
        k = self.num_beams
        reorder, next_ids = list(range(logits.size(0))), [0] * logits.size(0)
        for g, group in enumerate(self.groups):
            if group.done or in_prompt[g * k]:  # a finished group idles; a longer prompt is still being fed
                continue
            rows, tokens = group.advance(logits[g * k:(g + 1) * k])
            reorder[g * k:(g + 1) * k] = [g * k + r for r in rows]
            next_ids[g * k:(g + 1) * k] = tokens
        if not all(group.done for group in self.groups):
            return Choice(torch.tensor(next_ids), reorder=torch.tensor(reorder))
        return Choice(torch.tensor(next_ids), steps=self._results(), done=True)

    def _results(self) -> list[Step]:
        """Each prompt's best sequence (stop tokens left out) as one step per position, -1 past its end."""
        best = [[t for t in group.best() if t not in self.stop_tokens] for group in self.groups]
        longest = max(map(len, best))
        return [Step(torch.tensor([seq[i] if i < len(seq) else -1 for seq in best])) for i in range(longest)]
