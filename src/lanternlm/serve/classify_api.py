"""`/v1/classify` (Lantern's own endpoint): a classifier adapter served on a base answers with each label's
probability.

    POST /v1/classify {"model": "BASE:NAME", "input": "an utterly charming film" | ["...", "..."]}
    -> {"object": "list", "model": ..., "data": [{"index": 0, "label": "1", "scores": {"0": 0.1, "1": 0.9}}]}

The texts are encoded as `lantern classify` encodes them (data/labelled.py) and scored in one batch on the
model worker, like every other model call. `GET /api/models` lists the classifiers under "classifiers"
([{"id": "BASE:NAME", "labels": [...], "max_length": ...}]); the playground's Classify tab reads it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ..data.labelled import LabelledExamples
from ..errors import LanternError
from .errors import ApiError
from .playground_api import on_worker
from .state import state_of

router = APIRouter(prefix="/v1")
MAX_TEXTS = 64


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    input: str | list[str] = Field(..., description="a text or a list of texts")


@router.post("/classify")
async def classify(body: ClassifyRequest, request: Request) -> dict:
    classifiers = state_of(request).classifiers
    if body.model not in classifiers:
        raise ApiError(404, f"classifier {body.model!r} does not exist; this server has {sorted(classifiers)} "
                            "(serve one with --adapter NAME=CLASSIFIER_RUN/adapter.safetensors)",
                       "model_not_found", "model")
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or len(texts) > MAX_TEXTS or any(not t.strip() for t in texts):
        raise ApiError(400, f"input must be 1 to {MAX_TEXTS} non-empty texts", "invalid_input", "input")
    served = classifiers[body.model]
    try:
        examples = LabelledExamples.from_examples([(t, served.labels[0]) for t in texts], served.tokenizer,
                                                  served.labels, served.max_length)
    except LanternError as exc:  # e.g. characters a char vocabulary lacks
        raise ApiError(400, str(exc), "invalid_input", "input") from None
    device = next(served.view.parameters()).device
    probs = await on_worker(request, examples.predict, served.view, device)
    data = [{"index": i, "label": served.labels[int(row.argmax())],
             "scores": {label: round(float(p), 6) for label, p in zip(served.labels, row)}}
            for i, row in enumerate(probs)]
    return {"object": "list", "model": body.model, "data": data}
