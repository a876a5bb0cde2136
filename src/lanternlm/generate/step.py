"""What one turn of the decoding loop produces, and what a token chooser tells the loop to do next."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Step:
    """New tokens of one decoding step: ids (B,), -1 where a row produced nothing (still reading its prompt,
    or finished). With `top_logprobs` requested, log p of each new token under the model's own distribution
    log_softmax(z) (before penalties, temperature and filters) and the `top_logprobs` most likely tokens."""

    ids: torch.Tensor
    logprobs: torch.Tensor | None = None  # (B,)
    top_ids: torch.Tensor | None = None  # (B, N)
    top_logprobs: torch.Tensor | None = None  # (B, N)


@dataclass
class Choice:
    """A chooser's decision: the token each decoder row continues with, which rows to keep (beam search
    continues its best beams, each with its own cache), the steps to hand out now, and whether it is over."""

    next_ids: torch.Tensor
    reorder: torch.Tensor | None = None
    steps: list[Step] = field(default_factory=list)
    done: bool = False
