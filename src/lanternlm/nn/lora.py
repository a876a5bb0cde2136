"""LoRA (low-rank adaptation): learn a weight update ΔW = B·A·(α/r) of rank r beside a frozen W.

    y = W x + b + (α/r) · B (A · dropout(x))        A: r x d_in (random), B: d_out x r (zeros)

B starts at zero, so an adapted layer computes exactly what the frozen one did and training starts at the base
model. An adapter trains r·(d_in + d_out) numbers instead of d_in·d_out; merging adds ΔW into W (no extra
cost at inference), unmerging subtracts it again.

One `LoRALinear` can carry several adapters (one per name: a task, a user) and each adapter may update only
some rows of the output: a fused [Q; K; V] projection adapted on "q" and "v" gets one (A, B) pair per slice,
as separate q and v projections would. Which adapters act is chosen per call (`active_adapters`), never
stored in the layer: the same frozen weights serve the base model and every adapter.
"""

from __future__ import annotations

import contextlib
import math
from contextvars import ContextVar
from typing import Iterator

import torch
import torch.nn as nn

from .linear import Linear

_ACTIVE: ContextVar[tuple[str, ...]] = ContextVar("lantern_active_adapters", default=())


@contextlib.contextmanager
def active_adapters(*names: str) -> Iterator[None]:
    """The adapters that act in calls made inside the block (none: the plain base). Per thread and task (a
    context variable), so concurrent requests may each use their own."""
    token = _ACTIVE.set(tuple(names))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = list(self.parts.values())
        A = torch.cat([p.A for p in parts]) if len(parts) > 1 else parts[0].A
        B = A.new_zeros(self.d_out, A.size(0))
        column = 0
        for p in parts:
            B[p.start:p.stop, column:column + p.rank] = p.B * p.scale
            column += p.rank
        return (self.dropout(x) @ A.t()) @ B.t()


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
        return layer

    def add(self, name: str, slices: dict[str, tuple[int, int]], rank: int, alpha: float, dropout: float) -> None:
        """Attach adapter `name`: one update per output slice {slice name: (start, stop)}."""
        self.adapters[name] = LoRAAdapter(self.in_features, self.out_features, slices, rank, alpha, dropout)
        self.adapters[name].to(self.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        names = [n for n in current_adapters() if n in self.adapters and n not in self.merged]
        if not names:
            return y
        for name in names:
            y = y + self.adapters[name](x).to(y.dtype)
        return y

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
