"""The playground's encoder API under /api/encoder: what a BERT-family model is for, since it does not generate.

    POST /api/encoder/similarity   {"texts": [...]}                    cosine matrix of the sentence vectors
    POST /api/encoder/search       {"query", "texts"?: [...], "top"}    nearest texts: among `texts`, or in the
                                                                        index served with the model (--index)
    POST /api/encoder/contextual   {"sentences": [a, b, ...], "word"}   static vs contextual vectors of the word
    POST /api/encoder/fill         {"text", "top"}                      the candidates at each [MASK]

Every model call runs on the scheduler's worker like any other job (`playground_api.on_worker`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import Field

from ..encode import fill_masks, word_in_context
from ..nn.functional import cosine_similarity
from .errors import ApiError
from .playground_api import MAX_TEXT, Body, on_worker
from .registry import pick
from .state import state_of

router = APIRouter(prefix="/api/encoder")

MAX_SENTENCE = 2_000  # characters: a sentence or a paragraph, not a book
MAX_TEXTS = 64


class SimilarityBody(Body):
    texts: list[str] = Field(min_length=2, max_length=16)


class SearchBody(Body):
    query: str = Field(min_length=1, max_length=MAX_SENTENCE)
    texts: list[str] | None = Field(None, min_length=1, max_length=MAX_TEXTS)
    top: int = Field(5, ge=1, le=100)


class ContextualBody(Body):
    sentences: list[str] = Field(min_length=2, max_length=8)
    word: str = Field(min_length=1, max_length=100)


class FillBody(Body):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    top: int = Field(5, ge=1, le=50)


def sentences(texts: list[str], field: str) -> list[str]:
    bad = [i for i, text in enumerate(texts) if not text.strip() or len(text) > MAX_SENTENCE]
    if bad:
        raise ApiError(400, f"{field}[{bad[0]}]: give a non-empty text of at most {MAX_SENTENCE:,} characters",
                       "invalid_value", field)
    return texts


@router.post("/similarity")
async def similarity(body: SimilarityBody, request: Request) -> dict:
    encoder = pick(state_of(request).models, body.model).encoder
    texts = sentences(body.texts, "texts")
    matrix = await on_worker(request, encoder.similarity, texts)
    return {"texts": texts, "matrix": [[round(v, 4) for v in row] for row in matrix.tolist()]}


@router.post("/search")
async def search(body: SearchBody, request: Request) -> dict:
    served = pick(state_of(request).models, body.model)
    encoder = served.encoder
    if body.texts is None and served.index is None:
        raise ApiError(400, f"model {served.name!r} has no sentence index (serve one with --index VECS); send "
                            "`texts` to search among", "no_index", "texts")
    texts = sentences(body.texts, "texts") if body.texts is not None else served.index.texts

    def nearest() -> list[tuple[int, float]]:
        query = encoder.embed([body.query])
        if body.texts is None:
            return served.index.search(query[0], body.top)
        scores = cosine_similarity(query, encoder.embed(texts))[0]
        best = scores.topk(min(body.top, len(texts)))
        return list(zip(best.indices.tolist(), best.values.tolist()))

    hits = await on_worker(request, nearest)
    return {"source": "texts" if body.texts is not None else "index", "size": len(texts),
            "results": [{"text": texts[row], "score": round(score, 4)} for row, score in hits]}


@router.post("/contextual")
async def contextual(body: ContextualBody, request: Request) -> dict:
    encoder = pick(state_of(request).models, body.model).encoder
    found = await on_worker(request, word_in_context, encoder, sentences(body.sentences, "sentences"), body.word)
    contextual_cos, static_cos = found.cosines()
    return {"word": body.word, "pieces": found.pieces, "positions": found.positions,
            "contextual": [[round(v, 4) for v in row] for row in contextual_cos.tolist()],
            "static": [[round(v, 4) for v in row] for row in static_cos.tolist()]}


@router.post("/fill")
async def fill(body: FillBody, request: Request) -> dict:
    encoder = pick(state_of(request).models, body.model).encoder
    predictions, filled = await on_worker(request, fill_masks, encoder, body.text, body.top)
    return {"filled": filled, "masks": [{"position": p.position, "candidates": [
        {"text": text, "id": token_id, "prob": prob} for text, token_id, prob in p.candidates]} for p in predictions]}
