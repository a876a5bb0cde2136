"""Scoring held-out text: cross-entropy, perplexity and bits per byte.

cross-entropy = mean negative log-likelihood of the true next token (nats/token); perplexity = exp(that);
bits per byte = total NLL / (ln 2 · UTF-8 bytes of the scored text), which does not depend on the tokenizer,
so a character model and a BPE model can be compared on the same text.

Per token: −log p(token | the tokens before it) is that token's loss ("surprise", in nats); the cross-entropy
is their mean, so `on_scored` hands out every scored token's loss and the mean of them is the result's loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..data import TokenWindows
from ..tokenizers import Tokenizer


@dataclass
class EvalResult:
    loss: float  # mean NLL, nats per token
    tokens: int  # tokens scored
    bytes: int  # UTF-8 bytes those tokens stand for

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)

    @property
    def bits_per_byte(self) -> float:
        return self.loss * self.tokens / (math.log(2) * self.bytes) if self.bytes else float("nan")

    def summary(self) -> str:
        return (f"loss {self.loss:.4f} nats/token, perplexity {self.perplexity:.3f}, "
                f"{self.bits_per_byte:.4f} bits/byte ({self.tokens:,} tokens, {self.bytes:,} bytes)")


def token_byte_lengths(tokenizer: Tokenizer) -> torch.Tensor:
    """UTF-8 bytes each token id stands for; special tokens (e.g. <|endoftext|>) count as 0 and are not scored."""
    lengths = torch.tensor([len(tokenizer.token_bytes(i)) for i in range(tokenizer.vocab_size)], dtype=torch.long)
    for special_id in tokenizer.special_tokens.values():
        lengths[special_id] = 0
    return lengths


@torch.no_grad()
def evaluate_windows(model: torch.nn.Module, data: TokenWindows, block_size: int, byte_lengths: torch.Tensor,
                     stride: int | None = None, batch_tokens: int = 4096, device: torch.device | str = "cpu",
                     on_progress: Callable[[int, int], None] | None = None,
                     on_scored: Callable[[torch.Tensor, torch.Tensor], None] | None = None) -> EvalResult:
    """Score every token once with a sliding window (stride defaults to block_size: no overlap).

    Windows move by `stride`; only targets not scored by an earlier window count, so with a smaller stride
    each scored token sees more context. Targets that are special tokens are skipped. Windows are scored in
    batches of about `batch_tokens` tokens; `on_progress(windows_done, windows_total)` follows along;
    `on_scored(token_ids, nlls)` receives the scored tokens and their −log p, in text order.
    """
    stride = stride or block_size
    if not 0 < stride <= block_size:
        raise ValueError("stride must be in 1..block_size")
    model.eval()
    total_nll, n_tokens, n_bytes, done = 0.0, 0, 0, 0
    total = math.ceil(max(len(data) - 1 - block_size, 0) / stride) + 1
    batch_size = max(1, batch_tokens // block_size)
    pending: list[tuple[torch.Tensor, torch.Tensor, int]] = []

    def flush() -> None:
        nonlocal total_nll, n_tokens, n_bytes, done
        x = torch.stack([p[0] for p in pending]).to(device)
        y = torch.stack([p[1] for p in pending])
        logits = model(x).logits.float().cpu()
        nll = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view_as(y)  # (B, T)
        for row, (_, targets, n_new) in enumerate(pending):
            scored = torch.zeros_like(targets, dtype=torch.bool)
            scored[-n_new:] = True
            scored &= byte_lengths[targets] > 0
            total_nll += nll[row][scored].sum().item()
            if on_scored is not None:
                on_scored(targets[scored], nll[row][scored])
            n_tokens += int(scored.sum())
            n_bytes += int(byte_lengths[targets[scored]].sum())
        done += len(pending)
        pending.clear()
        if on_progress is not None:
            on_progress(done, total)

    for x, y, n_new in data.scoring_windows(block_size, stride):
        if pending and x.numel() != pending[0][0].numel():
            flush()  # the final, shorter window goes in a batch of its own
        pending.append((x, y, n_new))
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    return EvalResult(total_nll / max(n_tokens, 1), n_tokens, n_bytes)
