"""Hugging Face interop: a local `transformers` model directory <-> a Lantern run directory.

    lantern convert from-hf DIR --out RUN    config.json + *.safetensors (+ tokenizer files) -> a Lantern run
    lantern convert to-hf RUN --out DIR      a Lantern run -> config.json + model.safetensors that
                                             `AutoModelForCausalLM.from_pretrained(DIR)` loads
                                             (`AutoModel` / `BertForMaskedLM` for an encoder)

Families: GPT-2, Llama (incl. grouped-query attention), Mistral, Mixtral and BERT (BertModel, BertForMaskedLM,
sentence-transformers' pooling; see `hf_families`). Weights are read from safetensors only (pickled `.bin`
files can run code when loaded) and converted to float32, the precision Lantern trains in. The tokenizer
travels too when the directory has GPT-2-style `vocab.json` + `merges.txt` or a byte-level BPE
`tokenizer.json` (BERT's WordPiece `vocab.txt`: see `hf_tokenizer`).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..config import ModelConfig, RunConfig
from ..errors import LanternError
from ..io import atomic_directory, check_readable, check_writable, read_json, write_json_atomic, write_text_atomic
from ..models import build_model
from ..runs import RunPaths, load_run_config, load_weights, save_weights
from ..tokenizers import load_tokenizer
from .hf_families import FAMILIES, Family, bert_family, family_for
from .hf_tokenizer import read_hf_tokenizer, write_hf_tokenizer


def read_hf_directory(directory: Path) -> tuple[Family, ModelConfig, dict[str, torch.Tensor]]:
    """config.json + the weights (+ the family's other files) -> (family, the equivalent ModelConfig, HF tensors)."""
    path = directory / "config.json"
    if not path.is_file():
        raise LanternError(f"{directory} is not a Hugging Face model directory (no config.json)")
    hf = read_json(path)
    model_type = hf.get("model_type") if isinstance(hf, dict) else None
    if model_type not in FAMILIES:
        raise LanternError(f"{path}: unsupported model family {model_type!r} (supported: {', '.join(FAMILIES)})")
    family = FAMILIES[model_type]
    try:
        values = family.from_hf(hf)
    except KeyError as exc:
        raise LanternError(f"{path}: lacks {exc.args[0]!r}") from None
    except (TypeError, ValueError, ZeroDivisionError) as exc:  # e.g. "hidden_size": null, or 0 heads
        raise LanternError(f"{path}: a value has the wrong type or size ({exc})") from None
    tensors = read_safetensors(directory)
    if family.read_extras is not None:
        values.update(family.read_extras(directory, set(tensors)))
    names = {f.name for f in fields(ModelConfig)}
    fixed = {k: v for k, v in family.fixed.items() if k in names and not isinstance(v, tuple)}
    config = ModelConfig(**{**fixed, **values})
    try:
        config.validate()  # where an HF config enters Lantern: every layer after this trusts it
    except LanternError as exc:
        raise LanternError(f"{path}: {exc}") from None
    return (bert_family(config) if config.family == "bert" else family), config, tensors


def read_safetensors(directory: Path) -> dict[str, torch.Tensor]:
    """All tensors of the directory's .safetensors file(s) (sharded or not), as float32."""
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        pickled = sorted(p.name for p in directory.glob("*.bin"))
        hint = f" ({pickled[0]} is a pickle file, which Lantern never loads; re-save it as safetensors)" if pickled else ""
        raise LanternError(f"{directory}: no .safetensors weights{hint}")
    tensors = {}
    for path in files:
        check_readable(path, "weights file")
        try:
            with safe_open(str(path), framework="pt") as f:
                tensors.update({key: f.get_tensor(key).float() for key in f.keys()})
        except Exception as exc:  # safetensors raises its own error types for corrupt files
            raise LanternError(f"{path}: cannot read weights ({exc.__class__.__name__}: {exc})") from None
    return tensors


def state_dict_from_hf(family: Family, config: ModelConfig, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """HF tensors -> Lantern state dict; every HF tensor must be used (or be one the family drops)."""
    outside = (family.prefix, *family.heads)  # names that need no prefix added
    tensors = {(k if k.startswith(outside) else family.prefix + k): v for k, v in tensors.items()}
    state, used = {}, set()
    for link in family.links(config):
        missing = [k for k in link.theirs if k not in tensors]
        if missing:
            raise LanternError(f"the checkpoint lacks tensor {missing[0]!r}, which its config.json implies")
        joined = torch.cat([tensors[k] for k in link.theirs], dim=0)
        state[link.ours] = joined.t().contiguous() if link.transpose else joined
        used.update(link.theirs)
    unknown = sorted(k for k in tensors if k not in used and not k.endswith(family.ignored))
    if unknown:
        raise LanternError(f"the checkpoint has {len(unknown)} tensor(s) the {family.model_type} mapping does not "
                           f"know, e.g. {unknown[0]!r}")
    return state


def state_dict_to_hf(family: Family, config: ModelConfig, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    tensors = {}
    for link in family.links(config):
        tensor = state[link.ours].t() if link.transpose else state[link.ours]
        parts = tensor.split(list(link.sizes), dim=0) if link.sizes else (tensor,)
        tensors.update({name: part.contiguous() for name, part in zip(link.theirs, parts)})
    owners: dict[tuple[int, int], str] = {}
    for name, tensor in tensors.items():  # one Lantern tensor under two HF names (BERT's decoder bias): two copies
        if owners.setdefault((tensor.data_ptr(), tensor.numel()), name) != name:
            tensors[name] = tensor.clone()
    return tensors


def load_hf_model(directory: str | Path) -> tuple[Family, torch.nn.Module]:
    """A Lantern model (eval mode) holding the weights of a local HF model directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise LanternError(f"not a directory: {directory}")
    family, config, tensors = read_hf_directory(directory)
    state = state_dict_from_hf(family, config, tensors)
    model = build_model(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = next((ln.strip() for ln in str(exc).splitlines() if "size mismatch" in ln), str(exc).splitlines()[-1])
        raise LanternError(f"{directory}: tensor shapes do not match its config.json ({detail})") from None
    return family, model.eval()


def _check_new_folder(out: Path) -> None:
    check_writable(out, folder=True)
    if out.is_dir() and any(out.iterdir()):
        raise LanternError(f"{out} already exists and is not empty; choose another --out")


def import_hf(directory: str | Path, out: str | Path) -> tuple[Family, bool]:
    """Write a Lantern run (config.toml, model.safetensors, tokenizer.json when found) from an HF directory.
    Returns (family, whether a tokenizer came along)."""
    directory, paths = Path(directory), RunPaths(out)
    _check_new_folder(paths.root)
    family, model = load_hf_model(directory)
    tokenizer = read_hf_tokenizer(directory)
    if tokenizer is not None and tokenizer.vocab_size > model.config.vocab_size:
        raise LanternError(f"{directory}: the tokenizer has {tokenizer.vocab_size} tokens but the model only "
                           f"{model.config.vocab_size}")
    config = RunConfig(model=model.config)
    with atomic_directory(paths.root) as tmp:
        staged = RunPaths(tmp)
        if tokenizer is not None:
            tokenizer.save(staged.tokenizer)
            config.data.tokenizer = str(paths.tokenizer.resolve())
        write_text_atomic(staged.config, config.to_toml())
        save_weights(model, staged.weights)
    return family, tokenizer is not None


def export_hf(run: str | Path, out: str | Path) -> Family:
    """Write config.json + model.safetensors (+ the tokenizer, when it is byte-level BPE) for `transformers`."""
    paths, out = RunPaths(run), Path(out)
    config = load_run_config(run).model
    family = family_for(config)
    if not paths.weights.is_file():
        raise LanternError(f"{paths.root} has no trained weights yet (model.safetensors is missing)")
    _check_new_folder(out)
    model = build_model(config)
    load_weights(model, paths.weights)
    tensors = state_dict_to_hf(family, config, model.state_dict())
    tokenizer = load_tokenizer(paths.tokenizer) if paths.tokenizer.is_file() else None
    hf_config: dict[str, Any] = {"architectures": [family.architecture], "model_type": family.model_type,
                                 "dtype": "float32", **family.to_hf(config)}
    eot = tokenizer.eot_id if tokenizer is not None else None
    hf_config.update(bos_token_id=eot, eos_token_id=eot)
    with atomic_directory(out) as tmp:
        if family.write_extras is not None:
            family.write_extras(config, tensors, tmp)
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        write_json_atomic(tmp / "config.json", hf_config)
        if tokenizer is not None:
            write_hf_tokenizer(tokenizer, tmp)
    return family
