"""Adapter files: what a fine-tuning run added to its base, saved alone, and loaded back onto that base.

An adapter file is safetensors (no pickle) holding only the new tensors:

    lora.<layer path>.<slice>.A / .B    LoRA factors (slice q, k, v, o, ff_in or ff_out)
    prompt.embeddings                   a soft prompt's n x d vectors
    head.weight / head.bias             a classifier's head

and in its metadata {"format": "lantern-adapter", "version": "1", "finetune": the run's [finetune] section as
JSON (task, method, rank, alpha, targets, labels, ...), "base_id": the fingerprint of the base weights,
"base_run": where the base was}. Loading checks the fingerprint first: an adapter only makes sense on the
exact weights it was trained beside. Several adapters can be loaded onto one base, each under its own name;
`load_adapter` returns a view (Classifier or AdaptedLM) that runs the base with that adapter alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import save_file

from ..config import FinetuneConfig
from ..errors import LanternError
from ..io import atomic_path, check_readable
from ..models.adapted import ADAPTER, AdaptedLM, Classifier, SoftPrompt, weights_fingerprint
from ..models.base import LanguageModel
from ..models.lora import attach_lora, detach_lora
from ..nn.lora import LoRALinear

FORMAT_NAME = "lantern-adapter"
FORMAT_VERSION = "1"
FILE_NAME = "adapter.safetensors"  # in a fine-tuning run's folder


def adapter_parameters(view: nn.Module, name: str = ADAPTER) -> dict[str, nn.Parameter]:
    """The parameters a view adds to its base, by their adapter-file keys: LoRA factors of adapter `name`,
    soft prompt, head."""
    base = getattr(view, "base", view)
    found = {}
    for path, layer in base.named_modules():
        if isinstance(layer, LoRALinear) and name in layer.adapters:
            for part, update in layer.adapters[name].parts.items():
                found[f"lora.{path}.{part}.A"], found[f"lora.{path}.{part}.B"] = update.A, update.B
    if getattr(view, "prompt", None) is not None:
        found["prompt.embeddings"] = view.prompt.embeddings
    if isinstance(view, Classifier):
        found["head.weight"], found["head.bias"] = view.head.weight, view.head.bias
    return found


def adapter_tensors(view: nn.Module, name: str = ADAPTER) -> dict[str, torch.Tensor]:
    return {key: value.detach().cpu().contiguous() for key, value in adapter_parameters(view, name).items()}


def save_adapter(view: nn.Module, finetune: FinetuneConfig, path: str | Path, base_run: str = "") -> int:
    """Write the adapter file of a fine-tuned view; returns its size in bytes."""
    tensors = adapter_tensors(view)
    if not tensors:
        raise LanternError("full fine-tuning changes every weight: there is no adapter to save (the run's "
                           "model.safetensors is the model)")
    metadata = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "finetune": json.dumps(asdict(finetune)),
                "base_id": finetune.base_id, "base_run": base_run}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return Path(path).stat().st_size


def read_adapter(path: str | Path) -> tuple[dict[str, torch.Tensor], FinetuneConfig, dict[str, str]]:
    """(tensors, the run's finetune section, metadata) of an adapter file; anything else is a one-line error."""
    path = check_readable(path, "adapter file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as exc:  # safetensors raises its own error types for files that are not safetensors
        raise LanternError(f"{path}: not an adapter file ({exc.__class__.__name__}: {str(exc)[:80]})") from None
    if metadata.get("format") != FORMAT_NAME:
        raise LanternError(f"{path}: not a Lantern adapter file (a safetensors file without the adapter header)")
    if metadata.get("version") != FORMAT_VERSION:
        raise LanternError(f"{path}: adapter format version {metadata.get('version')} is not supported")
    try:
        values = json.loads(metadata["finetune"])
        finetune = FinetuneConfig(**{f.name: values[f.name] for f in fields(FinetuneConfig) if f.name in values})
        finetune.validate()
    except (KeyError, TypeError, ValueError, LanternError) as exc:
        raise LanternError(f"{path}: damaged adapter header ({exc})") from None
    return tensors, finetune, metadata


def check_base(base: nn.Module, finetune: FinetuneConfig, path: str | Path, base_run: str = "") -> None:
    """The adapter's base fingerprint must be this base's."""
    found = weights_fingerprint(base)
    if finetune.base_id and found != finetune.base_id:
        hint = f" (it was trained on {base_run})" if base_run else ""
        raise LanternError(f"{path} was trained on base weights {finetune.base_id}, but this base is {found}; "
                           f"load it onto the run it was trained from{hint}")


def load_adapter(base: LanguageModel, path: str | Path, name: str | None = None) -> nn.Module:
    """Attach the adapter in `path` to `base` under `name` (default: the file's stem) and return the view that
    runs it: a Classifier for a classifier adapter, else an AdaptedLM. The base's own weights are untouched,
    so it keeps serving plain calls and any other adapter."""
    tensors, finetune, metadata = read_adapter(path)
    check_base(base, finetune, path, metadata.get("base_run", ""))
    name = name or Path(path).stem
    lora: tuple[str, ...] = ()
    if any(key.startswith("lora.") for key in tensors):
        attach_lora(base, name, finetune.lora_rank, finetune.lora_alpha, finetune.lora_dropout, finetune.lora_targets)
        lora = (name,)
    prompt = None
    if "prompt.embeddings" in tensors:
        prompt = SoftPrompt(finetune.prompt_tokens, base.config.n_embd).to(base.device)
    view = (Classifier(base, len(finetune.labels), finetune.pooling, prompt, lora) if finetune.task == "classify"
            else AdaptedLM(base, prompt, lora)).to(base.device)
    try:
        _fill(adapter_parameters(view, name), tensors, path)
    except LanternError:
        detach_lora(base, name)  # leave the base as it was
        raise
    return view.eval()


@torch.no_grad()
def _fill(own: dict[str, nn.Parameter], tensors: dict[str, torch.Tensor], path: str | Path) -> None:
    if set(own) != set(tensors):
        raise LanternError(f"{path}: its tensors do not fit this base (e.g. {sorted(set(own) ^ set(tensors))[0]})")
    for key, target in own.items():
        if tensors[key].shape != target.shape:
            raise LanternError(f"{path}: {key} has shape {tuple(tensors[key].shape)}, this base needs "
                               f"{tuple(target.shape)}")
        target.copy_(tensors[key])


def describe_adapter(path: str | Path) -> dict[str, Any]:
    """What an adapter file holds, for listings: task, method, parameters, size, base."""
    tensors, finetune, metadata = read_adapter(path)
    return {"task": finetune.task, "method": finetune.method, "labels": finetune.labels,
            "parameters": sum(t.numel() for t in tensors.values()), "bytes": Path(path).stat().st_size,
            "base_id": finetune.base_id, "base_run": metadata.get("base_run", "")}
