"""The models a server offers: each run directory becomes a model id (its directory name); a model that
generates gets an Engine. Routes ask the model only what `models/base.py` promises every family answers."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

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
    def embeddings(self) -> EmbeddingSpace:
        return EmbeddingSpace(self.model.token_embeddings(), self.tokenizer)

    def describe(self) -> dict:
        c = self.run.config.model
        return {"id": self.name, "run": str(self.run.paths.root), "tokenizer": self.tokenizer.kind,
                "vocab_size": c.vocab_size, "block_size": c.block_size, "n_layer": c.n_layer, "n_head": c.n_head,
                "n_embd": c.n_embd, "parameters": self.model.num_parameters(), "family": c.family,
                "translates": self.model.is_encoder_decoder,
                "eot": self.tokenizer.eot_id is not None}


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


def pick(models: dict[str, ServedModel], name: str | None) -> ServedModel:
    """The model a request names (the only one may be left unnamed); unknown ids are 404 like OpenAI's."""
    if not name and len(models) == 1:
        return next(iter(models.values()))
    if name not in models:
        raise ApiError(404, f"model {name!r} does not exist; this server has {sorted(models)}", "model_not_found",
                       "model")
    return models[name]
