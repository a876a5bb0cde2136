"""Runs the model one step at a time over a batch of sequences; owns the tokens and the KV cache.

Prefill, then incremental decoding: the prompt goes through the model once, filling the KV cache with its
keys and values; after that each step feeds only the newest token at position T-1 and attends over the
cache (`model(idx, kv_cache=cache, start_pos=T-1)`), O(T) work per token instead of O(T²).
`use_cache=False` is the reference path: every step runs the whole window again. Tests hold them equal.
The cache is whatever `model.new_cache` returns: a KV cache for a transformer, the recurrent state for an RNN
(`nn/recurrent.py`: start_pos 0 starts afresh, start_pos T-1 continues), None for a model that needs none.

Prompts of different lengths (choice: per-row positions by left alignment, no padding, no attention mask):
every row's i-th token sits at position i, exactly as if it were generated alone. The tokens all rows share
in count (the shortest prompt's length) are prefilled together; the longer prompts' remaining tokens are
then fed one per step inside the decoding loop (forced, not sampled) while the shorter rows already
generate. So all rows always have the same length and one scalar `start_pos` serves the whole batch.

An encoder–decoder model (translation) gets one source per row: the source ids, right-padded with a mask,
go into `model.new_cache(B, source=..., source_mask=...)`, which encodes them once and keeps the
cross-attention keys and values; the uncached reference path hands them to every forward instead. The rows
are then target prefixes (e.g. the start token alone) and everything else is as above.

Context window: the model sees at most `block_size` tokens. A prompt keeps its last `block_size` tokens;
once a sequence has grown past `block_size`, every step re-prefills the last `block_size` tokens from
position 0 (an exact sliding window, the same tokens and positions the uncached path sees, at uncached cost).
"""

from __future__ import annotations

import torch

from ..models import pad_sequences
from ..nn.kv_cache import KVCache
from ..nn.recurrent import RecurrentState


class Decoder:
    def __init__(self, model: torch.nn.Module, use_cache: bool = True, cache: KVCache | None = None) -> None:
        """`cache`: rows of a larger KV cache to decode into (a request inside a continuous batch); by default
        the decoder makes its own at prefill."""
        self.model = model
        self.block_size: int = model.config.block_size
        self.use_cache = use_cache
        self.device = model.device
        self.cache: KVCache | RecurrentState | None = cache  # whatever the model's new_cache gives
        self.tokens = torch.empty(0, 0, dtype=torch.long)  # (B, T): every row has the same length
        self.pending: list[list[int]] = []  # per row: prompt tokens not fed yet
        self.source: dict[str, torch.Tensor] = {}  # an encoder–decoder's source and source_mask (B, S); else empty

    def prefill(self, rows: list[list[int]], sources: list[list[int]] | None = None) -> torch.Tensor:
        """Feed the prompts (and, for an encoder–decoder, each row's source ids); return (B, V) logits for the
        token after each row's shared-length prefix."""
        rows = [list(r[-self.block_size:]) for r in rows]
        common = min(map(len, rows))
        self.tokens = torch.tensor([r[:common] for r in rows], dtype=torch.long, device=self.device)
        self.pending = [r[common:] for r in rows]
        if sources is not None:
            self.source = dict(zip(("source", "source_mask"), pad_sequences(sources, self.device)))
        if self.use_cache and self.cache is None:
            self.cache = self.model.new_cache(len(rows), **self.source)
        return self.run(self.tokens, 0)

    @property
    def in_prompt(self) -> torch.Tensor:
        """(B,) bool: rows whose next token is still a prompt token (their logits are not sampled)."""
        return torch.tensor([bool(p) for p in self.pending], device=self.device)

    def step(self, next_ids: torch.Tensor) -> torch.Tensor:
        """Append one token per row (rows still in their prompt take their next prompt token instead)."""
        return self.run(*self.advance(next_ids))

    def advance(self, next_ids: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Append one token per row; return what the model must read next, (ids, start_pos): the new token
        over the cache, or (past the window, or without a cache) the last block_size tokens from position 0."""
        next_ids = next_ids.to(self.device).clone()
        for i, pending in enumerate(self.pending):
            if pending:
                next_ids[i] = pending.pop(0)
        self.tokens = torch.cat([self.tokens, next_ids[:, None]], dim=1)
        T = self.tokens.size(1)
        if self.cache is None or T > self.block_size:
            return self.tokens[:, -self.block_size:], 0
        return self.tokens[:, -1:], T - 1

    @property
    def one_token_over_cache(self) -> bool:
        """Whether the next step reads one new token over a KV cache (what a continuous batch can share)."""
        return isinstance(self.cache, KVCache) and self.tokens.size(1) < self.block_size

    def reorder(self, index: torch.Tensor) -> None:
        """Keep rows `index` (with repeats): beam search continues the best beams, each with its own cache."""
        self.tokens = self.tokens[index]
        self.pending = [list(self.pending[i]) for i in index.tolist()]
        self.source = {name: tensor[index] for name, tensor in self.source.items()}
        if self.cache is not None:
            self.cache.reorder(index)

    def run(self, idx: torch.Tensor, start_pos: int) -> torch.Tensor:
        """The model on (ids, start_pos) over this decoder's cache; (B, V) logits of the last position."""
        source = self.source if self.cache is None else {}  # a cache holds the encoded source already
        return self.model(idx, kv_cache=self.cache, start_pos=start_pos, last_logits_only=True,
                          **source).logits[:, -1, :]
