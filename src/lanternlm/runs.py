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
from .io import atomic_directory, atomic_path, check_readable, read_toml, write_text_atomic
from .models import build_model
from .nn.quantized import int8_kernels_available, quantize_linears
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


def check_int8_device(device: str | torch.device) -> None:
    if torch.device(device).type != "cpu" or not int8_kernels_available():
        raise LanternError(f"int8 weights run on the CPU's int8 kernels (x86/fbgemm); {device} has none here "
                           "(use --device cpu, or the float run)")


def load_run(root: str | Path, device: str | torch.device = "cpu", quantize: str | None = None) -> LoadedRun:
    """Config + tokenizer + trained weights, model in eval mode on `device`. quantize="int8" turns a float run's
    Linear weights into int8 at load (see nn/quantized.py); an int8 run (from `lantern quantize`) loads as int8."""
    if quantize not in (None, "float32", "int8"):
        raise LanternError(f"unknown weight type {quantize!r} (float32 or int8)")
    paths = RunPaths(root)
    config = load_run_config(root)
    tokenizer = load_tokenizer(paths.tokenizer)
    if not paths.weights.is_file():
        raise LanternError(f"{paths.root} has no trained weights yet (model.safetensors is missing)")
    if config.model.vocab_size != tokenizer.vocab_size:
        raise LanternError(f"{paths.root}: model vocab_size {config.model.vocab_size} does not match the "
                           f"tokenizer's {tokenizer.vocab_size}")
    model = build_model(config.model)
    load_weights(model, paths.weights)
    broken = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
    if broken:
        raise LanternError(f"{paths.weights}: {broken[0]} holds NaN or infinite values (a diverged run?); load an "
                           f"earlier checkpoint's weights instead")
    if config.model.quantization == "int8" or quantize == "int8":
        check_int8_device(device)
    if quantize == "int8" and config.model.quantization == "none":
        quantize_linears(model)
        config.model.quantization = "int8"
    model.to(device).eval()
    return LoadedRun(paths, config, tokenizer, model)


@dataclass
class QuantizationReport:
    layers: int  # Linear layers turned int8
    weight_rmse: float  # root-mean-square rounding error of their weights, relative to the weights' RMS
    logits_max_diff: float  # largest |logit| difference on a probe sequence, int8 vs float
    float_bytes: int  # model.safetensors before and after
    int8_bytes: int


@torch.no_grad()
def quantize_run(source: str | Path, out: str | Path) -> QuantizationReport:
    """Write `out`: the run in `source` with int8 Linear weights (config quantization = "int8"), same tokenizer."""
    run = load_run(source)
    if run.config.model.quantization != "none":
        raise LanternError(f"{run.paths.root} is already quantized ({run.config.model.quantization})")
    check_int8_device("cpu")
    target = RunPaths(out)
    if target.root.exists() and (not target.root.is_dir() or any(target.root.iterdir())):
        raise LanternError(f"{target.root} already exists and is not an empty folder; choose another --out")
    probe = torch.arange(min(run.config.model.block_size, 64))[None] % run.config.model.vocab_size
    before = run.model(probe).logits
    floats = {name: m.weight.detach().clone() for name, m in run.model.named_modules()
              if isinstance(m, torch.nn.Linear)}
    quantize_linears(run.model)
    errors, scale = 0.0, 0.0
    for name, weight in floats.items():
        errors += (run.model.get_submodule(name).dequantized_weight() - weight).pow(2).sum().item()
        scale += weight.pow(2).sum().item()
    logits_diff = (run.model(probe).logits - before).abs().max().item()
    config = run.config
    config.model.quantization = "int8"
    with atomic_directory(target.root) as tmp:
        staged = RunPaths(tmp)
        write_text_atomic(staged.config, config.to_toml())
        run.tokenizer.save(staged.tokenizer)
        save_weights(run.model, staged.weights)
    return QuantizationReport(len(floats), (errors / max(scale, 1e-30)) ** 0.5, logits_diff,
                              run.paths.weights.stat().st_size, target.weights.stat().st_size)
