"""The OpenAI-compatible API: GET /v1/models, POST /v1/completions, POST /v1/chat/completions.

Same paths, request fields and response shapes as OpenAI's, so official clients work unchanged
(`OpenAI(base_url="http://127.0.0.1:8000/v1", api_key=...)`). With `"stream": true` the reply is
server-sent events: one `data: {chunk}` line per piece of text, then `data: [DONE]`. Chat renders the
messages with the chat template (`generate/chat.py`, the same path as `lantern chat`) and stops at the
template's end-of-turn marker.

A request's prompts x n choices are decoded as one batch (`Engine.stream_rows`: rows of any lengths, one
sampling config, one seeded generator, so a `seed` makes the whole response repeatable). Requests join the
model's decoding session (continuous batching, `generate/session.py`): every step, one forward pass serves
all of them, each with its own settings and seed. A choice ends with finish_reason "stop" (a stop token or
sequence) or "length" (max_tokens reached). Asked for, each choice carries the log-probabilities
of its tokens (`logprobs.py`); streamed, every token then gets a chunk of its own, even one whose text is
still held back.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..errors import LanternError
from ..generate import TextStep
from ..generate.chat import chat_prompt
from .errors import ApiError, error_body
from .limits import ServeLimits
from .logprobs import choice_logprobs
from .registry import ServedModel, pick
from .scheduler import GenerationTimeout
from .schemas import ChatRequest, CompletionRequest
from .state import state_of

router = APIRouter(prefix="/v1")


def model_card(served: ServedModel) -> dict:
    return {"id": served.name, "object": "model", "created": served.created, "owned_by": "lantern"}


@router.get("/models")
async def list_models(request: Request) -> dict:
    return {"object": "list", "data": [model_card(m) for m in state_of(request).models.values()]}


@router.get("/models/{model_id}")
async def get_model(model_id: str, request: Request) -> dict:
    return model_card(pick(state_of(request).models, model_id))


def encode_prompt(served: ServedModel, text: str, limits: ServeLimits) -> list[int]:
    ids = served.tokenizer.encode(text)
    if len(ids) > limits.max_prompt_tokens:
        raise ApiError(400, f"the prompt is {len(ids)} tokens, above this server's limit of "
                            f"{limits.max_prompt_tokens}", "context_length_exceeded", "prompt")
    return ids


def check_rows(n_rows: int, limits: ServeLimits) -> None:
    if n_rows > limits.max_choices:
        raise ApiError(400, f"{n_rows} choices requested (prompts x n); this server's limit is {limits.max_choices}",
                       "invalid_value", "n")


@router.post("/completions")
async def completions(body: CompletionRequest, request: Request):
    state = state_of(request)
    served = pick(state.models, body.model)
    config = body.generation_config(state.limits)
    prompts = body.prompts()
    check_rows(len(prompts) * body.n, state.limits)
    prompt_rows = [await run_in_threadpool(encode_prompt, served, p, state.limits) for p in prompts]
    rows = [row for row in prompt_rows for _ in range(body.n)]
    prompt_chars = [len(p) for p in prompts for _ in range(body.n)]  # text_offset counts from the prompt's start
    steps = served.engine.stream_rows(rows, config, state.session_for(served))
    return await respond(request, body, served, steps, len(rows),
                         sum(map(len, prompt_rows)), chat=False, prompt_chars=prompt_chars)


@router.post("/chat/completions")
async def chat_completions(body: ChatRequest, request: Request):
    state = state_of(request)
    served = pick(state.models, body.model)
    config = body.chat_config(state.limits)
    check_rows(body.n, state.limits)
    messages = body.message_dicts(state.limits)
    engine = served.engine
    try:
        prompt = await run_in_threadpool(chat_prompt, messages, engine.tokenizer, engine.block_size,
                                         config.max_new_tokens, state.limits.max_prompt_tokens)
    except LanternError as exc:
        raise ApiError(400, str(exc), "invalid_value", "messages") from None
    steps = engine.stream_rows([prompt.ids] * body.n, prompt.settings(config), state.session_for(served))
    return await respond(request, body, served, steps, body.n, len(prompt.ids), chat=True)


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


async def respond(request: Request, body, served: ServedModel, steps: Iterator[TextStep], n_choices: int,
                  prompt_tokens: int, chat: bool, prompt_chars: list[int] | None = None):
    """Run the generation through the scheduler; one JSON response, or a stream of chunks."""
    scheduler = state_of(request).scheduler
    logprobs = None
    if body.requested_logprobs() is not None:
        logprobs = [choice_logprobs(chat, served.tokenizer, c) for c in prompt_chars or [0] * n_choices]
    head = {"id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}", "created": int(time.time()),
            "model": served.name}
    if body.stream:
        job = scheduler.submit(steps)  # a full queue is refused here, before the 200 status is sent
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        chunks = stream_chunks(job, head, n_choices, prompt_tokens, chat, include_usage, logprobs)
        return StreamingResponse(chunks, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    texts, reasons = [""] * n_choices, ["stop"] * n_choices
    completion_tokens = 0
    for step in await scheduler.result(steps, request.is_disconnected):
        completion_tokens = step.completion_tokens
        for delta in step.deltas:
            texts[delta.row] += delta.text
            reasons[delta.row] = delta.finish_reason or reasons[delta.row]
            if logprobs and delta.token_id is not None:
                logprobs[delta.row].add(delta)
    shown = [track.result() for track in logprobs] if logprobs else [None] * n_choices
    if chat:
        choices = [{"index": i, "message": {"role": "assistant", "content": t}, "logprobs": lp,
                    "finish_reason": r} for i, (t, r, lp) in enumerate(zip(texts, reasons, shown))]
    else:
        choices = [{"index": i, "text": t, "logprobs": lp, "finish_reason": r}
                   for i, (t, r, lp) in enumerate(zip(texts, reasons, shown))]
    return {**head, "object": "chat.completion" if chat else "text_completion", "choices": choices,
            "usage": usage(prompt_tokens, completion_tokens)}


def sse(payload: dict | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


async def stream_chunks(job, head: dict, n_choices: int, prompt_tokens: int, chat: bool, include_usage: bool,
                        logprobs: list | None = None):
    """OpenAI's chunk sequence. A failure mid-stream (the 200 is already sent) becomes an error event."""
    head = {**head, "object": "chat.completion.chunk" if chat else "text_completion"}

    def chunk(index: int, text: str | None, finish_reason: str | None, role: bool = False,
              token_logprobs: dict | None = None) -> dict:
        if chat:
            delta = {"role": "assistant", "content": ""} if role else ({"content": text} if text else {})
            choice = {"index": index, "delta": delta, "logprobs": token_logprobs, "finish_reason": finish_reason}
        else:
            choice = {"index": index, "text": text or "", "logprobs": token_logprobs, "finish_reason": finish_reason}
        return {**head, "choices": [choice]}

    if chat:
        for i in range(n_choices):
            yield sse(chunk(i, None, None, role=True))
    completion_tokens = 0
    try:
        async for step in job.events():  # leaving this loop early (a disconnect) cancels the job
            completion_tokens = step.completion_tokens
            for delta in step.deltas:
                if logprobs and delta.token_id is not None:  # one chunk per token, its text possibly held back
                    yield sse(chunk(delta.row, delta.text, None, token_logprobs=logprobs[delta.row].add(delta)))
                elif delta.text:
                    yield sse(chunk(delta.row, delta.text, None))
                if delta.finish_reason:
                    yield sse(chunk(delta.row, None, delta.finish_reason))
    except Exception as exc:
        status = 504 if isinstance(exc, GenerationTimeout) else 400 if isinstance(exc, LanternError) else 500
        yield sse(error_body(status, str(exc) or exc.__class__.__name__))
    if include_usage:
        yield sse({**head, "choices": [], "usage": usage(prompt_tokens, completion_tokens)})
    yield sse("[DONE]")
