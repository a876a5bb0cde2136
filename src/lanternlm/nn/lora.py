"""LoRA (low-rank adaptation): learn a weight update ΔW = B·A·(α/r) of rank r beside a frozen W.

    y = W x + b + (α/r) · B (A · dropout(x))        A: r x d_in (random), B: d_out x r (zeros)

B starts at zero, so an adapted layer computes exactly what the frozen one did and training starts at the base
model. An adapter trains r·(d_in + d_out) numbers instead of d_in·d_out; merging adds ΔW into W (no extra
cost at inference), unmerging subtracts it again.

One `LoRALinear` can carry several adapters (one per name: a task, a user) and each adapter may update only
some rows of the output: a fused [Q; K; V] projection adapted on "q" and "v" gets one (A, B) pair per slice,
as separate q and v projections would. Which adapters act is chosen per call, never stored in the layer: the
same frozen weights serve the base model and every adapter. `active_adapters` names them for every row of
the batch; `adapters_by_row` for each row its own (a server's batch mixing requests for several adapters:
one pass through the base weights, and each adapter's small products over its own rows only).
"""

from __future__ import annotations

import contextlib
import math
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Iterator

import torch
import torch.nn as nn

from .linear import Linear

MAX_KEPT_MIXES = 64  # stacked factors kept per layer, one per mix of adapters in a batch
_ACTIVE: ContextVar[tuple[str, ...]] = ContextVar("lantern_active_adapters", default=())
_BY_ROW: ContextVar["RowAdapters | None"] = ContextVar("lantern_adapters_by_row", default=None)


@dataclass(frozen=True)
class RowAdapters:
    """A batch's rows by adapters: `groups` are the distinct adapter combinations in it (sorted, so the same
    mix gives the same key), `slot[i]` is row i's group + 1, 0 for a plain-base row."""

    groups: tuple[tuple[str, ...], ...]
    slot: torch.Tensor  # (n_rows,) long
    masks: dict = field(default_factory=dict)  # (rank, dtype) -> the rows' column masks, made once per batch

    def mask(self, rank: int, dtype: torch.dtype) -> torch.Tensor:
        """(n_rows, groups·rank): 1 in the rank columns of the row's own group, 0 elsewhere (all 0: base row)."""
        if (rank, dtype) not in self.masks:
            column_group = torch.arange(len(self.groups), device=self.slot.device).repeat_interleave(rank)
            self.masks[rank, dtype] = (self.slot[:, None] - 1 == column_group[None]).to(dtype)
        return self.masks[rank, dtype]


@contextlib.contextmanager
def active_adapters(*names: str) -> Iterator[None]:
    """The adapters that act in calls made inside the block, on every row (none: the plain base). Per thread
    and task (a context variable), so concurrent requests may each use their own."""
    token, by_row = _ACTIVE.set(tuple(names)), _BY_ROW.set(None)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
        _BY_ROW.reset(by_row)


@contextlib.contextmanager
def adapters_by_row(names: list[tuple[str, ...]], device: torch.device | str | None = None) -> Iterator[None]:
    """Each batch row with its own adapters (`names[i]` for row i, () for the plain base), in calls made inside
    the block. The layers' inputs must keep the batch rows first, as attention and dense feed-forwards do."""
    groups = tuple(sorted({tuple(row_names) for row_names in names if row_names}))
    slot = torch.tensor([groups.index(tuple(n)) + 1 if n else 0 for n in names], device=device)
    by_row = RowAdapters(groups, slot)
    token, active = _BY_ROW.set(by_row), _ACTIVE.set(())
    try:
        yield
    finally:
        _BY_ROW.reset(token)
        _ACTIVE.reset(active)


def current_adapters() -> tuple[str, ...]:
    return _ACTIVE.get()


class LoRAUpdate(nn.Module):
    """The factors of one low-rank update of rows [start, stop) of a layer's output: A (r x d_in), B (rows x r)."""

    def __init__(self, d_in: int, start: int, stop: int, rank: int, alpha: float) -> None:
        super().__init__()
        self.start, self.stop, self.rank, self.scale = start, stop, rank, alpha / rank
        self.A = nn.Parameter(torch.empty(rank, d_in))
        self.B = nn.Parameter(torch.zeros(stop - start, rank))  # zero: the adapted layer starts as the base
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # nn.Linear's own initialisation

    def delta_weight(self) -> torch.Tensor:
        """ΔW = (α/r)·B·A for the rows this update covers, (stop - start) x d_in."""
        return (self.B @ self.A) * self.scale


class LoRAAdapter(nn.Module):
    """One adapter on one layer: an update per output slice, computed together as two products,
    (dropout(x) · [A_1; A_2; ...]ᵀ) · B̂ᵀ, where B̂ (d_out x Σr) holds each (α/r)·B_i in its slice's rows and
    block of columns, zero elsewhere: a few large operations instead of many small ones."""

    def __init__(self, d_in: int, d_out: int, slices: dict[str, tuple[int, int]], rank: int, alpha: float,
                 dropout: float) -> None:
        super().__init__()
        self.d_out = d_out
        self.parts = nn.ModuleDict({name: LoRAUpdate(d_in, start, stop, rank, alpha)
                                    for name, (start, stop) in slices.items()})
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self._built: tuple | None = None  # (state_key, Aᵀ, B̂ᵀ) for gradient-free eval-mode calls

    def state_key(self) -> tuple:
        """Where the factors live and how often they were written (in-place writes bump a tensor's version)."""
        return tuple((t.data_ptr(), t._version) for part in self.parts.values() for t in (part.A, part.B))

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(Aᵀ, B̂ᵀ): d_in x Σr and Σr x d_out. Without gradients in eval mode (generation, serving) they are
        built once and kept until a factor's storage or version changes; train mode drops them (a fused
        optimizer step writes the factors without bumping their version)."""
        if torch.is_grad_enabled() or self.training:
            return self._build()
        key = self.state_key()
        if self._built is None or self._built[0] != key:
            self._built = (key, *self._build())
        return self._built[1], self._built[2]

    def train(self, mode: bool = True) -> "LoRAAdapter":
        self._built = None
        return super().train(mode)

    def _build(self) -> tuple[torch.Tensor, torch.Tensor]:
        parts = list(self.parts.values())
        A = torch.cat([p.A for p in parts]) if len(parts) > 1 else parts[0].A
        B = A.new_zeros(self.d_out, A.size(0))
        column = 0
        for p in parts:
            B[p.start:p.stop, column:column + p.rank] = p.B * p.scale
            column += p.rank
        return A.t(), B.t()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        A_t, B_t = self.factors()
        return (self.dropout(x) @ A_t) @ B_t


class LoRALinear(Linear):
    """A Linear (same weight and bias parameters, same state-dict keys) plus named low-rank updates.

    `adapters[name]` is a LoRAAdapter with a LoRAUpdate per output slice ("q", "v", ...); the state dict
    stores them as `<layer>.adapters.<name>.parts.<slice>.A` / `.B`."""

    @classmethod
    def wrap(cls, linear: nn.Linear) -> "LoRALinear":
        """A LoRALinear sharing `linear`'s parameters (nothing copied: the base stays one set of weights)."""
        if isinstance(linear, LoRALinear):
            return linear
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer.in_features, layer.out_features = linear.in_features, linear.out_features
        layer.weight, layer.bias = linear.weight, linear.bias
        layer.adapters = nn.ModuleDict()
        layer.merged = set()  # names whose update was added into the weight
        layer._stacks = {}  # per-row adapter mix -> (its factors' state keys, stacked factors)
        return layer

    def add(self, name: str, slices: dict[str, tuple[int, int]], rank: int, alpha: float, dropout: float) -> None:
        """Attach adapter `name`: one update per output slice {slice name: (start, stop)}."""
        self.adapters[name] = LoRAAdapter(self.in_features, self.out_features, slices, rank, alpha, dropout)
        self.adapters[name].to(self.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        by_row = _BY_ROW.get()
        if by_row is not None:
            return self._add_by_row(x, y, by_row)
        for name in current_adapters():
            if name in self.adapters and name not in self.merged:
                y = y + self.adapters[name](x).to(y.dtype)
        return y

    def _add_by_row(self, x: torch.Tensor, y: torch.Tensor, by_row: RowAdapters) -> torch.Tensor:
        """y_i += ((x_i · [A_1 .. A_G]) ⊙ m_i) · [B_1; ..; B_G]: every group's factors side by side, so the
        whole batch takes two plain products however many adapters it mixes, and the row mask m_i keeps only
        its own group's rank columns (a base row's mask is all zeros). A server's decoding step: the products
        over other groups' columns cost little beside the base weights; adapter dropout does not apply."""
        if x.size(0) != by_row.slot.numel():
            raise RuntimeError(f"per-row adapters need the batch's {by_row.slot.numel()} rows first, "
                               f"got {tuple(x.shape)}")
        stacked = self._stacked(by_row.groups)
        if stacked is None:  # none of the batch's adapters touches this layer
            return y
        A, B = stacked
        mask = by_row.mask(A.size(1) // len(by_row.groups), A.dtype)
        hidden = (x.to(A.dtype) @ A) * mask.view(x.size(0), *[1] * (x.dim() - 2), -1)
        return y + (hidden @ B).to(y.dtype)

    def _stacked(self, groups: tuple[tuple[str, ...], ...]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(A: d_in x groups·R, B: groups·R x d_out): group g's adapters side by side in its block of R rank
        columns (zeros where a group has fewer). Kept per mix (a few, as requests come and go), in eval mode,
        until a factor's storage or version changes; train mode drops them (see LoRAAdapter.factors)."""
        acting = [[self.adapters[n] for n in group if n in self.adapters and n not in self.merged] for group in groups]
        if torch.is_grad_enabled() or self.training:  # a graph, or factors being trained, are never kept
            return self._stack_factors(acting)
        key = tuple(adapter.state_key() for group in acting for adapter in group)
        kept = self._stacks.get(groups)
        if kept is None or kept[0] != key:
            if len(self._stacks) >= MAX_KEPT_MIXES:
                self._stacks.clear()
            kept = self._stacks[groups] = (key, self._stack_factors(acting))
        return kept[1]

    def _stack_factors(self, acting: list[list[LoRAAdapter]]) -> tuple[torch.Tensor, torch.Tensor] | None:
        factors = [[adapter.factors() for adapter in group] for group in acting]
        rank = max((sum(A_t.size(1) for A_t, _ in group) for group in factors), default=0)
        if rank == 0:
            return None
        dtype = next(A_t.dtype for group in factors for A_t, _ in group)
        A = self.weight.new_zeros(self.in_features, len(factors) * rank, dtype=dtype)
        B = A.new_zeros(len(factors) * rank, self.out_features)
        for g, group in enumerate(factors):
            column = g * rank
            for A_t, B_t in group:
                A[:, column:column + A_t.size(1)] = A_t
                B[column:column + A_t.size(1)] = B_t
                column += A_t.size(1)
        return A, B

    def train(self, mode: bool = True) -> "LoRALinear":
        self._stacks = {}  # see _stacked
        return super().train(mode)

    @torch.no_grad()
    def merge(self, name: str) -> None:
        """W += ΔW: the adapter's update now lives in the weight (it no longer runs beside it)."""
        if name not in self.merged:
            for update in self.adapters[name].parts.values():
                self.weight[update.start:update.stop] += update.delta_weight().to(self.weight.dtype)
            self.merged.add(name)

    @torch.no_grad()
    def unmerge(self, name: str) -> None:
        """W -= ΔW: back to the base weight (up to rounding), the adapter beside it again."""
        if name in self.merged:
            for update in self.adapters[name].parts.values():
                self.weight[update.start:update.stop] -= update.delta_weight().to(self.weight.dtype)
            self.merged.discard(name)
