"""A run directory: everything a training run produces, and how to load it back.

RUN/
  config.toml        resolved configuration (feed back with --config)
  tokenizer.json     the tokenizer the model was trained with
  model.safetensors  latest weights (safetensors: no pickle, safe to load from anywhere)
  metrics.jsonl      one JSON object per logged step
  checkpoints/       step-NNNNNNN/ directories with weights + optimizer/scheduler/RNG state, for --resume
  loss.png           loss curves
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

from .config import RunConfig
from .errors import LanternError
from .io import atomic_path, check_readable, read_toml
from .models import build_model
from .models.adapted import adapt_model
from .tokenizers import Tokenizer, load_tokenizer


class RunExistsError(LanternError, FileExistsError):
    """A new run was asked for in a folder that already holds one (neither resume nor overwrite was asked)."""

    def __init__(self, root: Path, state: str) -> None:
        super().__init__(f"{root} already holds a run ({state}); pass resume=True to continue it or "
                         "overwrite=True to replace it")
        self.root, self.state = root, state


class RunNotFoundError(LanternError, FileNotFoundError):
    """A run was to be resumed or loaded from a folder that holds none."""


class RunPaths:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.config = self.root / "config.toml"
        self.tokenizer = self.root / "tokenizer.json"
        self.weights = self.root / "model.safetensors"
        self.metrics = self.root / "metrics.jsonl"
        self.checkpoints = self.root / "checkpoints"
        self.plot = self.root / "loss.png"


def save_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Atomic safetensors write (tied weights are stored once)."""
    with atomic_path(path) as tmp:
        save_model(model, str(tmp))


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    check_readable(path, "weights file")
    try:
        missing, unexpected = load_model(model, str(path), strict=False)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1]
        raise LanternError(f"{path}: weights do not match the model config ({first.strip()})") from None
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise LanternError(f"{path}: cannot read weights ({exc.__class__.__name__}: {exc})") from None
    if missing or unexpected:
        raise LanternError(f"{path}: weights do not match the model config "
                           f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")


@dataclass
class LoadedRun:
    paths: RunPaths
    config: RunConfig
    tokenizer: Tokenizer
    model: torch.nn.Module


def load_run_config(root: str | Path) -> RunConfig:
    paths = RunPaths(root)
    if not paths.root.is_dir():
        raise RunNotFoundError(f"run directory not found: {paths.root}")
    if not paths.config.is_file():
        raise RunNotFoundError(f"{paths.root} is not a Lantern run (no config.toml)")
    return RunConfig.from_dict(read_toml(paths.config), source=str(paths.config)).validate()


def load_run(root: str | Path, device: str | torch.device = "cpu") -> LoadedRun:
    """Config + tokenizer + trained weights, model in eval mode on `device`. A fine-tuning run's model is the
    base as its finetune section adapts it (`models.adapted.adapt_model`: a Classifier, an AdaptedLM, ...)."""
    paths = RunPaths(root)
    config = load_run_config(root)
    tokenizer = load_tokenizer(paths.tokenizer)
    if not paths.weights.is_file():
        raise LanternError(f"{paths.root} has no trained weights yet (model.safetensors is missing)")
    if config.model.vocab_size != tokenizer.vocab_size:
        raise LanternError(f"{paths.root}: model vocab_size {config.model.vocab_size} does not match the "
                           f"tokenizer's {tokenizer.vocab_size}")
    with torch.random.fork_rng():  # the adapters' initial values are overwritten: draw them off the record
        model = adapt_model(build_model(config.model), config.finetune)
    load_weights(model, paths.weights)
    broken = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
    if broken:
        raise LanternError(f"{paths.weights}: {broken[0]} holds NaN or infinite values (a diverged run?); load an "
                           f"earlier checkpoint's weights instead")
    model.to(device).eval()
    return LoadedRun(paths, config, tokenizer, model)
