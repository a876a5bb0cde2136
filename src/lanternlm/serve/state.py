"""Everything one server holds, shared by its routes (kept on `app.state.lantern`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request

from ..classic.vectors import WordVectors
from ..generate import DecodingSession
from ..models import LanguageModel
from .limits import ServeLimits
from .registry import ServedModel
from .scheduler import Scheduler


@dataclass
class ServerState:
    models: dict[str, ServedModel]
    limits: ServeLimits
    scheduler: Scheduler
    runs_dir: Path | None = None  # the Training tab lists the runs in this directory
    api_key: str | None = None
    vectors: WordVectors | None = None  # word2vec vectors served beside the runs (`--vectors`), for analogies
    sessions: dict[LanguageModel, DecodingSession] = field(default_factory=dict)  # per base: the continuous batch
    classifiers: dict = field(default_factory=dict)  # "BASE:NAME" -> registry.ServedClassifier (/v1/classify)

    def session_for(self, served: ServedModel) -> DecodingSession | None:
        """The model's decoding session, which requests join to share forward passes (None: batching is off,
        each request decodes alone and the scheduler interleaves them). A base and its LoRA adapters share one."""
        if not self.limits.batching:
            return None
        base = served.model.shared_forward()[0]
        if base not in self.sessions:
            self.sessions[base] = served.engine.session(self.limits.batch_rows)
        return self.sessions[base]


def state_of(request: Request) -> ServerState:
    return request.app.state.lantern
