"""Beam search: keep the `num_beams` most probable partial sequences instead of one (deterministic decoding).

Each step extends every beam by every token, scores candidates by their total log-probability
log p(y_1..y_t | prompt) = Σ log p(y_i | ...), and keeps the best. A finished hypothesis (ended by a stop
token, or at max_new_tokens) is ranked by score / len ** length_penalty: length_penalty > 0 favours longer
outputs (the raw sum only ever falls as a sequence grows), 0 compares raw sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .decoder import Decoder


@dataclass(order=True)
class Hypothesis:
    score: float  # length-normalised log-probability
    tokens: list[int]


def _normalised(logprob: float, length: int, length_penalty: float) -> float:
    return logprob / (length ** length_penalty)


def beam_search(decoder: Decoder, prompt_ids: list[int], num_beams: int, max_new_tokens: int,
                length_penalty: float = 1.0, stop_tokens: tuple[int, ...] = ()) -> list[int]:
    """Return the best new tokens (a stop token that ends the sequence is included)."""
    logits = decoder.prefill([prompt_ids] * num_beams)
    scores = torch.full((num_beams,), float("-inf"))
    scores[0] = 0.0  # all beams start identical: expand only the first, or every candidate appears num_beams times
    beams: list[list[int]] = [[] for _ in range(num_beams)]
    finished: list[Hypothesis] = []
    for step in range(1, max_new_tokens + 1):
        candidates = scores[:, None] + torch.log_softmax(logits.float(), dim=-1)  # (beams, V)
        vocab = candidates.size(-1)
        top = torch.topk(candidates.flatten(), min(2 * num_beams, candidates.numel()))
        keep_rows, keep_tokens, keep_scores = [], [], []
        for score, flat in zip(top.values.tolist(), top.indices.tolist()):
            if score == float("-inf") or len(keep_rows) == num_beams:
                break
            row, token = divmod(flat, vocab)
            if token in stop_tokens:
                finished.append(Hypothesis(_normalised(score, step, length_penalty), beams[row] + [token]))
            else:
                keep_rows.append(row), keep_tokens.append(token), keep_scores.append(score)
        if not keep_rows:
            break
        while len(keep_rows) < num_beams:  # fewer live candidates than beams: pad with dead copies
            keep_rows.append(keep_rows[0]), keep_tokens.append(keep_tokens[0]), keep_scores.append(float("-inf"))
        beams = [beams[r] + [t] for r, t in zip(keep_rows, keep_tokens)]
        scores = torch.tensor(keep_scores)
        best_live = _normalised(max(keep_scores), step, length_penalty)
        if len(finished) >= num_beams and best_live <= sorted(finished, reverse=True)[num_beams - 1].score:
            break  # the best live beam no longer beats the finished ones (HF's default stopping rule)
        if step < max_new_tokens:
            index = torch.tensor(keep_rows)
            decoder.reorder(index)
            logits = decoder.step(torch.tensor(keep_tokens))
    finished += [Hypothesis(_normalised(s, len(b), length_penalty), b)
                 for s, b in zip(scores.tolist(), beams) if s != float("-inf")]
    return max(finished).tokens
