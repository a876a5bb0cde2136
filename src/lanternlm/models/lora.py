"""Putting LoRA adapters on a model by name: which layers "q", "v", "ff_in" ... are, in any family.

The targets are found by building block, not by a family's attribute names: every attention layer's fused
[Q; K; V] projection `c_attn` (sliced into q, k and v rows) and its output projection `c_proj` ("o"), every
dense feed-forward's `c_fc` ("ff_in") and `c_proj` ("ff_out"). Each targeted Linear becomes a `LoRALinear`
(same parameters, same state-dict keys) carrying the adapter under its name. An adapter trains

    Σ over layers and targets  r · (d_in + d_out of the target)

numbers (`lora_parameter_count`): with r = 8 on q and v of a 384-wide model, 12,288 per layer.
"""

from __future__ import annotations

import torch.nn as nn

from ..config import LORA_TARGETS
from ..errors import LanternError
from ..nn.attention import GroupedQueryAttention
from ..nn.feedforward import FeedForward
from ..nn.linear import Linear
from ..nn.lora import LoRALinear


def expand_targets(targets: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The target names in a fixed order, "all" standing for every one."""
    chosen = set(LORA_TARGETS if "all" in targets else targets)
    unknown = chosen - set(LORA_TARGETS)
    if unknown:
        raise LanternError(f"unknown LoRA target {sorted(unknown)[0]!r}; choose from {', '.join(LORA_TARGETS)} "
                           "or all")
    if not chosen:
        raise LanternError("give at least one LoRA target (e.g. q,v)")
    return tuple(t for t in LORA_TARGETS if t in chosen)


def target_slices(model: nn.Module, targets: tuple[str, ...]) -> dict[str, dict[str, tuple[int, int]]]:
    """{module path: {target: (first output row, end row)}} for every Linear the targets name."""
    found: dict[str, dict[str, tuple[int, int]]] = {}
    for path, module in model.named_modules():
        if isinstance(module, GroupedQueryAttention):
            q, kv = module.n_head * module.head_dim, module.n_kv_head * module.head_dim
            rows = {"q": (0, q), "k": (q, q + kv), "v": (q + kv, q + 2 * kv)}
            chosen = {t: rows[t] for t in ("q", "k", "v") if t in targets}
            if chosen:
                found[f"{path}.c_attn"] = chosen
            if "o" in targets:
                found[f"{path}.c_proj"] = {"o": (0, module.c_proj.out_features)}
        elif isinstance(module, FeedForward):
            for target, name in (("ff_in", "c_fc"), ("ff_out", "c_proj")):
                if target in targets:
                    found[f"{path}.{name}"] = {target: (0, getattr(module, name).out_features)}
    if not found:
        raise LanternError(f"the model has no layer that the LoRA targets {', '.join(targets)} name")
    return found


def attach_lora(model: nn.Module, name: str, rank: int, alpha: float, dropout: float = 0.0,
                targets: list[str] | tuple[str, ...] = ("q", "v")) -> int:
    """Add adapter `name` (B = 0: the model's outputs are unchanged) to every target layer; returns the number
    of adapter parameters. Parameters already in the model are left as they are (freeze them separately)."""
    if rank <= 0:
        raise LanternError(f"the LoRA rank must be positive, got {rank}")
    added = 0
    for path, slices in target_slices(model, expand_targets(targets)).items():
        parent_path, _, attribute = path.rpartition(".")
        parent = model.get_submodule(parent_path)
        layer = LoRALinear.wrap(getattr(parent, attribute))
        if name in layer.adapters:
            raise LanternError(f"the model already carries an adapter named {name!r}")
        layer.add(name, slices, rank, alpha, dropout)
        setattr(parent, attribute, layer)
        added += sum(p.numel() for p in layer.adapters[name].parameters())
    return added


def lora_parameter_count(model: nn.Module, rank: int, targets: list[str] | tuple[str, ...]) -> int:
    """The formula: r · (d_in + rows) summed over the targeted slices (what `attach_lora` will add)."""
    total = 0
    for path, slices in target_slices(model, expand_targets(targets)).items():
        d_in = model.get_submodule(path).in_features
        total += sum(rank * (d_in + stop - start) for start, stop in slices.values())
    return total


def lora_layers(model: nn.Module) -> list[LoRALinear]:
    return [m for m in model.modules() if isinstance(m, LoRALinear)]


def adapter_names(model: nn.Module) -> list[str]:
    """The LoRA adapters a model carries, in the order they were attached."""
    names: dict[str, None] = {}
    for layer in lora_layers(model):
        names.update(dict.fromkeys(layer.adapters))
    return list(names)


def merge_lora(model: nn.Module, name: str) -> None:
    """W += ΔW in every layer adapter `name` touches (then it acts in every call, active or not)."""
    for layer in lora_layers(model):
        if name in layer.adapters:
            layer.merge(name)


def unmerge_lora(model: nn.Module, name: str) -> None:
    for layer in lora_layers(model):
        if name in layer.adapters:
            layer.unmerge(name)


def detach_lora(model: nn.Module, name: str) -> None:
    """Remove adapter `name` from every layer (unmerged first, so the base weights are as before)."""
    for layer in lora_layers(model):
        if name in layer.adapters:
            layer.unmerge(name)
            del layer.adapters[name]


def plain_linears(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear by a plain Linear with the same weight and bias (after merging: a model with
    no trace of its adapters, whose state dict is the base family's)."""
    for path, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            parent_path, _, attribute = path.rpartition(".")
            linear = Linear(module.in_features, module.out_features, bias=module.bias is not None,
                            device="meta")
            linear.weight, linear.bias = module.weight, module.bias
            setattr(model.get_submodule(parent_path), attribute, linear)
    return model
