"""Everything one server holds, shared by its routes (kept on `app.state.lantern`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from ..classic.vectors import WordVectors
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


def state_of(request: Request) -> ServerState:
    return request.app.state.lantern
