"""Training checkpoints: weights + optimizer + step + RNG states in one directory, written atomically.

Each checkpoint is `checkpoints/step-NNNNNNN/` holding `model.safetensors` and `state.pt`. The directory is
built under a temporary name and renamed into place, so a hard kill mid-write leaves the previous checkpoint
intact and never a half-written one. `state.pt` is read with `torch.load(weights_only=True)` (no arbitrary
unpickling).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import LanternError
from ..io import atomic_directory, read_json, remove_tree, write_json_atomic
from ..runs import load_weights, save_weights

PREFIX = "step-"
BEST = "best.json"


def capture_rng_state(data_generator: torch.Generator) -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "data": data_generator.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any], data_generator: torch.Generator) -> None:
    random.setstate(state["python"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy(), *rest))
    torch.set_rng_state(state["torch"])
    data_generator.set_state(state["data"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"{PREFIX}{step:07d}"


def checkpoint_step(path: Path) -> int:
    return int(path.name[len(PREFIX):])


def save_checkpoint(folder: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    data_generator: torch.Generator, extra: dict[str, Any], keep: int) -> Path:
    """Write checkpoint `step`, then delete all but the newest `keep` (the best one, if marked, is kept too)."""
    target = checkpoint_path(folder, step)
    with atomic_directory(target) as tmp:
        save_weights(model, tmp / "model.safetensors")
        state = {"step": step, "optimizer": optimizer.state_dict(), "rng": capture_rng_state(data_generator),
                 "extra": extra}
        torch.save(state, tmp / "state.pt")
    best = best_checkpoint(folder)
    for old in list_checkpoints(folder)[:-keep]:
        if old != best:
            remove_tree(old)  # renamed first: a kill midway never leaves half a checkpoint under its name
    return target


def mark_best(folder: Path, step: int, val_loss: float) -> None:
    """Record which checkpoint has the lowest validation loss so far (kept when older ones are pruned)."""
    write_json_atomic(folder / BEST, {"checkpoint": checkpoint_path(folder, step).name, "step": step,
                                      "val_loss": val_loss})


def best_checkpoint(folder: Path) -> Path | None:
    path = folder / BEST
    if not path.is_file():
        return None
    try:
        return folder / read_json(path)["checkpoint"]
    except (LanternError, KeyError, TypeError):  # a damaged marker only loses the "best" label
        return None


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints, oldest first (temporary directories start with '.' and are ignored)."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and p.name[len(PREFIX):].isdigit()
             and (p / "model.safetensors").is_file() and (p / "state.pt").is_file()]
    return sorted(found, key=lambda p: p.name)


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    data_generator: torch.Generator) -> dict[str, Any]:
    """Restore weights, optimizer and RNG; returns the state dict (step, extra)."""
    load_weights(model, path / "model.safetensors")
    try:
        state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        restore_rng_state(state["rng"], data_generator)
    except Exception as exc:  # a truncated or foreign file: say which, never a traceback
        raise LanternError(f"{path}: corrupted checkpoint ({exc.__class__.__name__})") from None
    return state
