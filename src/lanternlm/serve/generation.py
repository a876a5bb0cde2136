"""Choices as the API returns them: the engine's token ids turned into text deltas with finish reasons.

A request's prompts x n choices are decoded as one batch (`Engine.stream_batch_ids`: rows of any lengths,
one sampling config, one seeded generator, so a `seed` makes the whole response repeatable). Each row gets
its own `TextStream` (incremental UTF-8 and stop sequences). A choice ends with finish_reason "stop" (a
stop token or stop sequence) or "length" (max_tokens reached). Each `next()` of `choice_steps` is one
decoding step: the unit the scheduler interleaves between requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..generate import Engine, GenerationConfig
from ..generate.streaming import TextStream


@dataclass
class Delta:
    index: int  # which choice
    text: str
    finish_reason: str | None = None  # set on the choice's last delta


@dataclass
class Step:
    deltas: list[Delta]
    completion_tokens: int  # so far, all choices together


def choice_steps(engine: Engine, rows: list[list[int]], config: GenerationConfig) -> Iterator[Step]:
    """Decode `rows` (prompt ids, one per choice) together; yield the new text of each step."""
    config = engine.make_config(config)
    streams = [TextStream(engine.tokenizer, config.stop) for _ in rows]
    counts = [0] * len(rows)
    finished: list[str | None] = [None] * len(rows)
    ids_per_step = engine.stream_batch_ids(rows, config)
    try:
        for ids in ids_per_step:
            deltas = []
            for i, token_id in enumerate(ids.tolist()):
                if token_id < 0 or finished[i]:
                    continue
                counts[i] += 1
                piece = streams[i].push(token_id)
                if streams[i].stopped:
                    finished[i] = "stop"
                if piece or finished[i]:
                    deltas.append(Delta(i, piece, finished[i]))
            yield Step(deltas, sum(counts))
            if all(finished):
                return
    finally:
        ids_per_step.close()
    # the engine is done: rows that reached max_tokens ran out of length, the others met a stop token
    last = []
    for i, stream in enumerate(streams):
        if not finished[i]:
            finished[i] = "length" if counts[i] >= config.max_new_tokens else "stop"
            last.append(Delta(i, stream.finish(), finished[i]))
    yield Step(last, sum(counts))
