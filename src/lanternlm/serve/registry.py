"""The models a server offers: each run directory becomes a model id (its directory name); a model that
generates gets an Engine, an encoder a TextEncoder (and the sentence index made with it, if one is served).
Routes ask the model only what `models/base.py` promises every family answers.

Adapters (`--adapter NAME=PATH`) ride on a served base: each becomes the model id "BASE:NAME", a view that
runs the base's one set of weights with that adapter active (`finetune/adapters.py`), so an adapter costs its
own few tensors, not a copy of the base. It attaches to the served run whose weights fingerprint it was
trained on. A base and its LoRA adapters share one decoding session: a forward pass serves requests for all of
them, each adapter's update on its own rows (a soft-prompt adapter keeps a session of its own). A classifier
adapter answers on Lantern's own `/v1/classify` (`serve/classify_api.py`) under the same kind of id."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from ..encode import SentenceIndex, TextEncoder, as_encoder, load_index
from ..errors import LanternError
from ..generate import Engine
from ..models import LanguageModel
from ..runs import LoadedRun, load_run
from ..tokenizers import Tokenizer
from .errors import ApiError
from .lens import EmbeddingSpace


@dataclass
class ServedModel:
    name: str
    run: LoadedRun
    created: int  # unix time the weights were written (OpenAI's `created`)
    index: SentenceIndex | None = None  # sentences embedded with this (encoder) model: `lantern serve --index`

    @property
    def tokenizer(self) -> Tokenizer:
        return self.run.tokenizer

    @property
    def model(self) -> LanguageModel:
        return self.run.model

    @cached_property
    def engine(self) -> Engine:
        if not self.model.can_generate:
            raise ApiError(400, f"model {self.name!r} ({self.model.config.family}) does not generate text",
                           "invalid_model", "model")
        return Engine(self.model, self.tokenizer)

    @cached_property
    def encoder(self) -> TextEncoder:
        if self.model.can_generate:
            raise ApiError(400, f"model {self.name!r} ({self.model.config.family}) is not an encoder", "invalid_model",
                           "model")
        return as_encoder(self.run)

    @cached_property
    def embeddings(self) -> EmbeddingSpace:
        return EmbeddingSpace(self.model.token_embeddings(), self.tokenizer)

    def describe(self) -> dict:
        c = self.run.config.model
        return {"id": self.name, "run": str(self.run.paths.root), "tokenizer": self.tokenizer.kind,
                "vocab_size": c.vocab_size, "block_size": c.block_size, "n_layer": c.n_layer, "n_head": c.n_head,
                "n_embd": c.n_embd, "parameters": self.model.num_parameters(),
                "eot": self.tokenizer.eot_id is not None, "family": c.family, "generates": self.model.can_generate,
                "translates": self.model.is_encoder_decoder, "fills_masks": c.family == "bert" and c.mlm_head,
                "index": len(self.index.texts) if self.index is not None else None}


def load_models(run_dirs: list[str | Path], device: torch.device, quantize: str | None = None) -> dict[str, ServedModel]:
    """Load every run (quantize="int8": int8 weights at load); ids are directory names, which must be distinct."""
    if not run_dirs:
        raise LanternError("give at least one run directory to serve")
    models: dict[str, ServedModel] = {}
    for run_dir in run_dirs:
        run = load_run(run_dir, device, quantize)
        name = run.paths.root.resolve().name
        if name in models:
            raise LanternError(f"two runs are both named {name!r}; serve runs whose directory names differ")
        models[name] = ServedModel(name, run, int(run.paths.weights.stat().st_mtime))
    return models


def attach_index(models: dict[str, ServedModel], folder: str | Path) -> str:
    """Serve the sentence index in `folder` with the encoder that made it (its run, else the only encoder of its
    dimension); returns that model's name."""
    index = load_index(folder)
    encoders = {name: m for name, m in models.items() if not m.model.can_generate and m.model.config.n_embd == index.dim}
    maker = [name for name, m in encoders.items() if str(m.run.paths.root.resolve()) == index.header.get("model")]
    if not maker and len(encoders) != 1:
        raise LanternError(f"{folder}: no served encoder made this index ({index.dim}-dimensional vectors from "
                           f"{index.header.get('model')}); serve that run with it")
    name = (maker or list(encoders))[0]
    models[name].index = index
    return name


def parse_adapters(specs: list[str]) -> dict[str, Path]:
    """{name: path} from NAME=PATH arguments; names are distinct and free of ':' (it separates BASE:NAME), each
    path an adapter file (its header read before the server loads anything)."""
    from ..finetune.adapters import read_adapter

    adapters: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        name = name.strip()
        if not sep or not name or not path.strip() or ":" in name:
            raise LanternError(f"--adapter takes NAME=PATH (a name without ':'), got {spec!r}")
        if name in adapters:
            raise LanternError(f"two adapters are both named {name!r}")
        adapters[name] = Path(path.strip())
        read_adapter(adapters[name])
    return adapters


@dataclass
class ServedClassifier:
    """A classifier adapter on a served base: labels and the view that scores them (`/v1/classify`)."""

    name: str
    view: torch.nn.Module  # models.adapted.Classifier sharing the base's weights
    tokenizer: Tokenizer
    labels: list[str]
    max_length: int

    def describe(self) -> dict:
        return {"id": self.name, "labels": self.labels, "max_length": self.max_length}


def attach_adapters(models: dict[str, ServedModel], adapters: dict[str, Path]) -> dict[str, ServedClassifier]:
    """Add "BASE:NAME" for each generating adapter, onto the served run whose weights it was trained on; return
    the classifier adapters, which answer on /v1/classify, by the same kind of name."""
    from ..finetune.adapters import check_base, load_adapter, read_adapter
    from ..models.adapted import weights_fingerprint

    bases = {weights_fingerprint(served.model): served for served in list(models.values())}
    classifiers: dict[str, ServedClassifier] = {}
    for name, path in adapters.items():
        _, finetune, metadata = read_adapter(path)
        served = bases.get(finetune.base_id)
        if served is None:  # the one-line error that names the base it was trained on
            check_base(next(iter(bases.values())).model, finetune, path, metadata.get("base_run", ""))
        if served.run.config.model.quantization != "none":
            raise LanternError(f"{path}: adapters run beside float weights; serve {served.name} without --dtype int8")
        view = load_adapter(served.model, path, name)
        if finetune.task == "classify":
            classifiers[f"{served.name}:{name}"] = ServedClassifier(f"{served.name}:{name}", view, served.tokenizer,
                                                                    finetune.labels, finetune.max_length)
            continue
        run = LoadedRun(served.run.paths, served.run.config, served.tokenizer, view)
        models[f"{served.name}:{name}"] = ServedModel(f"{served.name}:{name}", run, int(Path(path).stat().st_mtime))
    return classifiers


def pick(models: dict[str, ServedModel], name: str | None) -> ServedModel:
    """The model a request names (the only one may be left unnamed); unknown ids are 404 like OpenAI's."""
    if not name and len(models) == 1:
        return next(iter(models.values()))
    if name not in models:
        raise ApiError(404, f"model {name!r} does not exist; this server has {sorted(models)}", "model_not_found",
                       "model")
    return models[name]
