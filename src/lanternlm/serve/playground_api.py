"""The playground's own API under /api: look inside the served models (see `lens.py`) and at training runs.

Everything that touches a model runs on the scheduler's worker, one job like any generation, so probes and
completions never use a model at the same time. Tokenizing and reading metrics files do not need it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Union

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..runs import RunPaths
from ..train.metrics import read_metrics
from . import lens
from .errors import ApiError
from .registry import pick
from .state import ServerState, state_of

router = APIRouter(prefix="/api")

MAX_TEXT = 100_000  # characters: the playground shows text, it does not need books
MAX_SOURCE = 2_000  # characters of a sentence to translate (the model reads at most block_size tokens anyway)
MAX_PLAYGROUND_BEAMS = 8


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    model: str | None = None  # the only served model when omitted


class TextBody(Body):
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class NextTokenBody(TextBody):
    temperature: float = Field(1.0, gt=0.0, le=10.0)
    top: int = Field(20, ge=1, le=200)


class TranslateBody(TextBody):
    text: str = Field(min_length=1, max_length=MAX_SOURCE)
    beam: int = Field(4, ge=1, le=MAX_PLAYGROUND_BEAMS)


class NeighboursBody(Body):
    token: Union[int, str]
    k: int = Field(10, ge=1, le=100)


class AnalogyBody(Body):
    a: Union[int, str]
    b: Union[int, str]
    c: Union[int, str]
    k: int = Field(5, ge=1, le=100)


class ProjectionBody(Body):
    count: int = Field(300, ge=2)


async def on_worker(request: Request, fn, *args):
    """Run `fn(*args)` as a one-step job on the model worker and return its result."""
    def one_step():
        yield fn(*args)

    events = await state_of(request).scheduler.result(one_step(), request.is_disconnected)
    return events[0]


@router.get("/models")
async def models(request: Request) -> dict:
    """The served models, and the classifier adapters (they answer on /v1/classify: the Classify tab)."""
    state = state_of(request)
    return {"models": [m.describe() for m in state.models.values()],
            "classifiers": [c.describe() for c in state.classifiers.values()]}


@router.post("/tokenize")
async def tokenize(body: TextBody, request: Request) -> dict:
    served = pick(state_of(request).models, body.model)
    return await run_in_threadpool(lens.tokenize, served.tokenizer, body.text)


@router.post("/next-token")
async def next_token(body: NextTokenBody, request: Request) -> dict:
    served = pick(state_of(request).models, body.model)
    return await on_worker(request, lens.next_token, served.engine, body.text, body.temperature, body.top)


@router.post("/attention")
async def attention(body: TextBody, request: Request) -> dict:
    state = state_of(request)
    served = pick(state.models, body.model)
    return await on_worker(request, lens.attention, served.model, served.tokenizer, body.text,
                           state.limits.attention_max_tokens)


@router.post("/translate")
async def translate(body: TranslateBody, request: Request) -> dict:
    served = pick(state_of(request).models, body.model)
    return await on_worker(request, lens.translation, served.engine, body.text, body.beam)


@router.post("/embeddings/neighbours")
async def neighbours(body: NeighboursBody, request: Request) -> dict:
    served = pick(state_of(request).models, body.model)
    return await on_worker(request, lambda: served.embeddings.neighbours(body.token, body.k))


@router.post("/embeddings/analogy")
async def analogy(body: AnalogyBody, request: Request) -> dict:
    served = pick(state_of(request).models, body.model)
    return await on_worker(request, lambda: served.embeddings.analogy(body.a, body.b, body.c, body.k))


@router.post("/embeddings/projection")
async def projection(body: ProjectionBody, request: Request) -> dict:
    state = state_of(request)
    served = pick(state.models, body.model)
    count = min(body.count, state.limits.projection_max_tokens)
    return await on_worker(request, lambda: served.embeddings.projection(count))


def known_runs(state: ServerState) -> dict[str, Path]:
    """Run directories by name: the served runs, then every run (a directory with metrics) in runs_dir."""
    runs = {name: m.run.paths.root for name, m in state.models.items()}
    if state.runs_dir is not None and state.runs_dir.is_dir():
        for child in sorted(state.runs_dir.iterdir()):
            if child.name not in runs and RunPaths(child).metrics.is_file():
                runs[child.name] = child
    return runs


def finite(value) -> float | None:
    """JSON has no NaN or infinity: such values become null."""
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


@router.get("/runs")
async def runs(request: Request) -> dict:
    listing = []
    for name, root in known_runs(state_of(request)).items():
        records = await run_in_threadpool(read_metrics, RunPaths(root).metrics)
        losses = [r for r in records if "loss" in r]
        last = losses[-1] if losses else {}
        listing.append({"name": name, "steps": last.get("step"), "loss": finite(last.get("loss")),
                        "served": name in state_of(request).models})
    return {"runs": listing}


@router.get("/runs/{name}/metrics")
async def run_metrics(name: str, request: Request) -> dict:
    runs_by_name = known_runs(state_of(request))
    if name not in runs_by_name:  # only listed runs: a name is never turned into an arbitrary path
        raise ApiError(404, f"no run named {name!r}", "run_not_found")
    records = await run_in_threadpool(read_metrics, RunPaths(runs_by_name[name]).metrics)
    keys = ("step", "loss", "val_loss", "lr")
    curves = [r for r in records if any(k in r for k in keys[1:])]  # not a session's speed summary
    return {"name": name, "records": [{k: finite(r.get(k)) for k in keys if k in r} for r in curves]}


def resident_bytes() -> int | None:
    """This process's resident memory now (Linux /proc), for spotting leaks under load."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@router.get("/stats")
async def stats(request: Request) -> dict:
    scheduler = state_of(request).scheduler
    return {**vars(scheduler.stats), "active": scheduler.active, "queued": scheduler.queued,
            "rss_bytes": resident_bytes()}
