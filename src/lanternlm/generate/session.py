"""The one decoding loop: a session of requests, decoded step by step together.

Every generation runs here. `Engine.steps` opens a session with one request; the server keeps one session per
model open and lets requests join and leave between steps (continuous batching). Each step of a session:

    newcomers: Decoder.prefill (their prompts, into their own rows of the session's KV cache)
    every request: chooser.choose(logits) -> its Steps, its next tokens (Sampler or BeamSearch, its own settings
                   and seeded generator: what it draws does not depend on the other requests)
    finished requests leave (their cache rows are handed to the ones behind)
    every request: Decoder.advance -> one new token per row; all of them go through the model in ONE forward
                   pass, each row at its own position (the weights are read once for the whole batch: decoding
                   is memory-bound, so a batch of B costs little more than one row)

Requests for LoRA adapters of the session's model share its forward passes too (`LanguageModel.shared_forward`):
the batch runs through the base weights once, each adapter's low-rank update added to its own rows only
(`nn/lora.py::adapters_by_row`), so one server can batch requests for many adapters of one base.

A request decodes into rows first..first+n-1 of the session's cache, a view of it (`KVCache.rows`), so what
its decoder writes the batch sees. Rows stay packed at the front: a request that ends hands its rows to the
requests behind it. A request that cannot share a forward pass keeps a cache of its own and runs alone: one
without a KV cache (`use_cache=False`, or a family whose cache is not a KVCache), one past the context window
(it re-reads its last block_size tokens each step), one that finds the session full, or an encoder–decoder's
(its cache holds its own sources: encoded once at prefill, every decoder layer's cross-attention keys and
values beside the self-attention cache).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Iterator

import torch

from ..models import LanguageModel
from ..nn.kv_cache import KVCache
from ..nn.lora import adapters_by_row
from .beam import BeamSearch
from .config import GenerationConfig
from .decoder import Decoder
from .sampling import Sampler
from .stats import GenerationStats
from .step import Step


@dataclass(eq=False)
class Request:
    """One generation in a session: its rows, settings, chooser, decoder and the steps it has not read yet."""

    rows: list[list[int]]
    config: GenerationConfig
    chooser: Sampler | BeamSearch
    decoder: Decoder
    stats: GenerationStats
    adapters: tuple[str, ...] = ()  # the LoRA adapters its rows need in a shared forward pass
    started: float = field(default_factory=time.perf_counter)
    logits: torch.Tensor | None = None  # (decoder rows, V) for the next choice; None before prefill
    next_ids: torch.Tensor | None = None
    first_row: int | None = None  # its rows in the session cache; None: a cache of its own
    sources: list[list[int]] | None = None  # an encoder–decoder's source ids, one per row
    steps: deque = field(default_factory=deque)
    done: bool = False

    @property
    def n_rows(self) -> int:
        return len(self.chooser.decoder_rows(self.rows))

    @property
    def decoder_sources(self) -> list[list[int]] | None:
        """The source of each decoder row (a row's beams read the same source)."""
        return None if self.sources is None else self.chooser.decoder_rows(self.sources)


class DecodingSession:
    def __init__(self, model: LanguageModel, max_rows: int) -> None:
        """`model`: the one whose forward passes the requests share (an adapter view's base)."""
        self.model, self.max_rows = model.shared_forward()[0], max_rows
        self.requests: list[Request] = []
        self.cache: KVCache | None = None  # made on first use, when the model's cache is a KVCache
        self.used = 0  # rows 0..used-1 of the cache belong to requests

    def add(self, rows: list[list[int]], config: GenerationConfig, stop_tokens: tuple[int, ...],
            stats: GenerationStats | None = None, sources: list[list[int]] | None = None,
            model: LanguageModel | None = None) -> Request:
        """A request joins; it is prefilled at the next step. `config` is trusted (validated where it entered).
        `sources`: an encoder–decoder's source ids, one per row (`Engine.steps` checks them). `model`: what the
        request decodes with (default the session's model; an adapter view of it shares its passes)."""
        model = model if model is not None else self.model
        stats = stats if stats is not None else GenerationStats()
        stats.prompt_tokens = sum(map(len, rows))
        if config.num_beams > 1:
            chooser = BeamSearch(len(rows), config, stop_tokens)
        else:
            chooser = Sampler(rows, config, stop_tokens, model.config.vocab_size, model.device)
        request = Request(rows, config, chooser, Decoder(model, use_cache=config.use_cache), stats,
                          sources=sources)
        self._give_rows(request, model)
        self.requests.append(request)
        return request

    def steps_of(self, request: Request) -> Iterator[Step]:
        """The request's steps as they come; reading past what is there steps the whole session. Closing the
        iterator early (a client gone) takes the request out of the session."""
        try:
            while True:
                while not request.steps:
                    if request.done:
                        return
                    self.step()
                yield request.steps.popleft()
        finally:
            self.remove(request)

    @torch.no_grad()
    def step(self) -> None:
        """One step of every request (see the module docstring); new steps land in each request's `steps`."""
        if self.model.training:  # eval() walks every module: once, not per token
            self.model.eval()
        for request in self.requests:
            if request.logits is None:
                request.logits = request.decoder.prefill(request.chooser.decoder_rows(request.rows),
                                                         request.decoder_sources)
        for request in list(self.requests):
            choice = request.chooser.choose(request.logits, request.decoder.in_prompt)
            request.stats.record(sum(int((s.ids >= 0).sum()) for s in choice.steps),
                                 time.perf_counter() - request.started)
            request.steps.extend(choice.steps)
            if choice.done:
                request.done = True
                self.remove(request)
                continue
            if choice.reorder is not None:
                request.decoder.reorder(choice.reorder)
            request.next_ids = choice.next_ids
        self._advance()

    def remove(self, request: Request) -> None:
        """Take a finished or abandoned request out; the requests behind it move up into its cache rows."""
        if request not in self.requests:
            return
        self.requests.remove(request)
        if request.first_row is None:
            return
        gap, behind = request.n_rows, [r for r in self.requests if r.first_row is not None
                                         and r.first_row > request.first_row]
        for other in sorted(behind, key=lambda r: r.first_row):
            self.cache.move_rows(other.first_row, other.first_row - gap, other.n_rows)
            self._place(other, other.first_row - gap)
        self.used -= gap

    def _advance(self) -> None:
        """Feed every request its next tokens: the ones that share the cache in one forward pass."""
        shared, alone = [], []
        for request in list(self.requests):
            leaving = request.first_row is not None and not request.decoder.one_token_over_cache
            if leaving:  # past the context window: from now on it re-reads its window alone, with its own cache
                self._take_private(request)
            ids, start = request.decoder.advance(request.next_ids)
            (shared if request.first_row is not None else alone).append((request, ids, start))
        if len(shared) == 1:  # one request: exactly what it would compute alone
            alone += shared
        elif shared:
            self._run_together(shared)
        for request, ids, start in alone:
            request.logits = request.decoder.run(ids, start)

    def _run_together(self, shared: list[tuple[Request, torch.Tensor, int]]) -> None:
        shared.sort(key=lambda item: item[0].first_row)  # rows 0..used-1, in order
        ids = torch.cat([item[1] for item in shared])
        positions = torch.cat([torch.full((item[1].size(0),), item[2], device=ids.device) for item in shared])
        row_adapters = [request.adapters for request, row_ids, _ in shared for _ in range(row_ids.size(0))]
        with adapters_by_row(row_adapters, ids.device) if any(row_adapters) else contextlib.nullcontext():
            logits = self.model(ids, kv_cache=self.cache.rows(0, self.used), start_pos=positions,
                                last_logits_only=True).logits[:, -1, :]
        for (request, row_ids, start), part in zip(shared, logits.split([item[1].size(0) for item in shared])):
            request.logits = part
            request.decoder.cache.set_length(start + 1)

    def _give_rows(self, request: Request, model: LanguageModel) -> None:
        """Rows of the session cache for a request that can share forward passes (else it keeps its own)."""
        shares, request.adapters = model.shared_forward()
        if (shares is not self.model or not request.config.use_cache or request.sources is not None
                or self.used + request.n_rows > self.max_rows):
            return
        if self.cache is None:
            probe = self.model.new_cache(1)
            if not isinstance(probe, KVCache):
                return
            self.cache = self.model.new_cache(self.max_rows)
        self._place(request, self.used)
        self.used += request.n_rows

    def _place(self, request: Request, first: int) -> None:
        length = request.decoder.cache.length if request.decoder.cache is not None else 0
        request.first_row = first
        request.decoder.cache = self.cache.rows(first, request.n_rows)
        request.decoder.cache.set_length(length)

    def _take_private(self, request: Request) -> None:
        own = self.model.new_cache(request.n_rows)
        for mine, shared in zip(own.layers, request.decoder.cache.layers):
            mine.keys.copy_(shared.keys)
            mine.values.copy_(shared.values)
        own.set_length(request.decoder.cache.length)
        self.remove(request)
        self.requests.append(request)  # still decoding, now alone
        request.first_row, request.decoder.cache = None, own
