"""Everything one server holds, shared by its routes (kept on `app.state.lantern`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request

from ..classic.vectors import WordVectors
from ..generate import DecodingSession
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
    sessions: dict[str, DecodingSession] = field(default_factory=dict)  # per model: the continuous batch

    def session_for(self, served: ServedModel) -> DecodingSession | None:
        """The model's decoding session, which requests join to share forward passes (None: batching is off,
        each request decodes alone and the scheduler interleaves them)."""
        if not self.limits.batching:
            return None
        if served.name not in self.sessions:
            self.sessions[served.name] = served.engine.session(self.limits.batch_rows)
        return self.sessions[served.name]


def state_of(request: Request) -> ServerState:
    return request.app.state.lantern
