"""Runs the model one step at a time over a batch of sequences; owns the tokens and (later) the KV cache.

`prefill(rows)` feeds the prompts and returns the logits for each row's next token; `step(next_ids)`
appends one token per row and returns the next logits; `reorder(index)` permutes/duplicates rows (beam search).

Context window: the model sees at most `block_size` tokens. When a row is longer, only its last `block_size`
tokens are fed (a sliding window), exactly as if that suffix had been the prompt.
"""

from __future__ import annotations

import torch


class Decoder:
    def __init__(self, model: torch.nn.Module, use_cache: bool = True) -> None:
        self.model = model
        self.block_size: int = model.config.block_size
        self.use_cache = use_cache
        self.device = next(model.parameters()).device
        self.rows: list[torch.Tensor] = []

    def prefill(self, rows: list[list[int]]) -> torch.Tensor:
        self.rows = [torch.tensor(r, dtype=torch.long, device=self.device) for r in rows]
        return self._forward_windows()

    def step(self, next_ids: torch.Tensor) -> torch.Tensor:
        self.rows = [torch.cat([r, t.view(1).to(self.device)]) for r, t in zip(self.rows, next_ids)]
        return self._forward_windows()

    def reorder(self, index: torch.Tensor) -> None:
        self.rows = [self.rows[i] for i in index.tolist()]

    def _forward_windows(self) -> torch.Tensor:
        """The uncached reference: run the whole window of every row (rows of equal length in one batch)."""
        windows = [r[-self.block_size:] for r in self.rows]
        if len({len(w) for w in windows}) == 1:
            return self.model(torch.stack(windows)).logits[:, -1, :]
        return torch.cat([self.model(w[None]).logits[:, -1, :] for w in windows])
