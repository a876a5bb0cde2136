"""The playground's "look inside" API under /api (the computations are in `look_inside.py`): the pipeline trace,
temperatures side by side, greedy decoding step by step, per-token loss, BPE merges, context cost, word vectors.

Model calls run on the scheduler's worker like every other probe; BPE training on a short text and the cost
formulas need no model. Bad values (a temperature <= 0, a text too long) are 4xx JSON like the rest of /api.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from ..inspect.params import BYTES_PER_VALUE
from . import look_inside
from .errors import ApiError
from .playground_api import Body, TextBody, on_worker
from .registry import pick
from .state import state_of

router = APIRouter(prefix="/api")

MAX_BPE_CHARS = 2000  # every merge re-encodes the text to show it: keep the typed text short
MAX_LOSS_CHARS = 20_000  # one row per token comes back


class PipelineBody(TextBody):
    temperature: float = Field(1.0, gt=0.0, le=10.0)
    top: int = Field(5, ge=1, le=50)


class TemperaturesBody(TextBody):
    temperatures: list[float] = Field([0.1, 1.0, 2.0], min_length=1, max_length=6)
    top: int = Field(10, ge=1, le=50)


class GreedyBody(TextBody):
    steps: int = Field(8, ge=1, le=64)
    top: int = Field(5, ge=1, le=20)


class LossBody(Body):
    text: str = Field(min_length=2, max_length=MAX_LOSS_CHARS)


class BpeBody(Body):
    text: str = Field(min_length=1, max_length=MAX_BPE_CHARS)
    merges: int = Field(20, ge=1, le=200)


class CostBody(Body):
    dtype: str = "float32"


class WordBody(Body):
    word: str = Field(min_length=1)
    k: int = Field(10, ge=1, le=100)


class WordAnalogyBody(Body):
    a: str = Field(min_length=1)
    b: str = Field(min_length=1)
    c: str = Field(min_length=1)
    k: int = Field(5, ge=1, le=100)


def served_for(request: Request, body: Body):
    return pick(state_of(request).models, body.model)


@router.post("/trace")
async def pipeline(body: PipelineBody, request: Request) -> dict:
    served = served_for(request, body)
    return await on_worker(request, look_inside.pipeline, served.model, served.tokenizer, body.text,
                           body.temperature, body.top)


@router.post("/temperatures")
async def temperatures(body: TemperaturesBody, request: Request) -> dict:
    if any(not 0 < t <= 10 for t in body.temperatures):
        raise ApiError(400, f"temperatures must be in (0, 10], got {body.temperatures}", "invalid_value",
                       "temperatures")
    return await on_worker(request, look_inside.temperatures, served_for(request, body).engine, body.text,
                           body.temperatures, body.top)


@router.post("/greedy")
async def greedy(body: GreedyBody, request: Request) -> dict:
    return await on_worker(request, look_inside.greedy_steps, served_for(request, body).engine, body.text,
                           body.steps, body.top)


@router.post("/token-losses")
async def token_losses(body: LossBody, request: Request) -> dict:
    served = served_for(request, body)
    return await on_worker(request, look_inside.token_losses, served.model, served.tokenizer, body.text)


@router.post("/bpe")
async def bpe(body: BpeBody) -> dict:
    return await run_in_threadpool(look_inside.bpe_merges, body.text, body.merges)


@router.post("/context-cost")
async def context_cost(body: CostBody, request: Request) -> dict:
    if body.dtype not in BYTES_PER_VALUE:
        raise ApiError(400, f"dtype must be one of {', '.join(BYTES_PER_VALUE)}, got {body.dtype!r}",
                       "invalid_value", "dtype")
    served = served_for(request, body)
    return {"model": {served.name: look_inside.context_cost(served.model.config, body.dtype)},
            "presets": look_inside.preset_costs(body.dtype), "dtype": body.dtype}


def served_vectors(request: Request):
    vectors = state_of(request).vectors
    if vectors is None:
        raise ApiError(404, "no word vectors are served (start the server with --vectors FILE.vec)", "no_vectors")
    return vectors


@router.get("/vectors")
async def vectors_info(request: Request) -> dict:
    vectors = state_of(request).vectors
    return {"words": len(vectors), "dim": vectors.dim} if vectors is not None else {"words": 0}


@router.post("/vectors/neighbours")
async def vector_neighbours(body: WordBody, request: Request) -> dict:
    return await run_in_threadpool(look_inside.vector_neighbours, served_vectors(request), body.word, body.k)


@router.post("/vectors/analogy")
async def vector_analogy(body: WordAnalogyBody, request: Request) -> dict:
    return await run_in_threadpool(look_inside.vector_analogy, served_vectors(request), body.a, body.b, body.c,
                                   body.k)
