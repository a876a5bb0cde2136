"""Token ids -> text as it is generated: incremental UTF-8 decoding plus stop sequences.

A token may end in the middle of a multi-byte character, so bytes are decoded incrementally (the partial
character is held back). Text that could still turn into a stop sequence is held back too, so a stop
sequence is never printed, even when it arrives split over several tokens. What is held back never exceeds
the longest stop sequence, so each token costs O(total stop length), however long the output grows.

`text_steps` is the one ids -> text loop: the CLI, `Engine.generate*` and the server's choices all read it.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Iterator, Sequence

from ..tokenizers import Tokenizer
from .config import GenerationConfig
from .step import Step


class TextStream:
    def __init__(self, tokenizer: Tokenizer, stop: Sequence[str] = ()) -> None:
        self.tokenizer = tokenizer
        self.stop = tuple(stop)
        self.stopped = False  # a stop sequence was seen; nothing more will be emitted
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def push(self, token_id: int) -> str:
        """Add one token; return the text that is now safe to show ('' while held back)."""
        if self.stopped:
            return ""
        self._pending += self._decoder.decode(self.tokenizer.token_bytes(token_id))
        return self._release(final=False)

    def finish(self) -> str:
        """End of generation: flush whatever is held back (up to a stop sequence)."""
        if self.stopped:
            return ""
        self._pending += self._decoder.decode(b"", final=True)
        return self._release(final=True)

    def _release(self, final: bool) -> str:
        text = self._pending
        hits = [i for i in (text.find(s) for s in self.stop) if i >= 0]
        if hits:
            self.stopped, self._pending = True, ""
            return text[: min(hits)]
        hold = 0 if final else max((_partial_match(text, s) for s in self.stop), default=0)
        self._pending = text[len(text) - hold:]
        return text[: len(text) - hold]


def _partial_match(text: str, stop: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `stop` (what may still complete it)."""
    for start in range(max(0, len(text) - len(stop) + 1), len(text)):
        if stop.startswith(text[start:]):
            return len(text) - start
    return 0


@dataclass
class TextDelta:
    row: int
    text: str  # may be '' (text held back) on a step that produced a token
    finish_reason: str | None = None  # on the row's last delta: "stop" (stop token or sequence) or "length"
    token_id: int | None = None  # the token this delta came from (None for the final flush)
    step: Step | None = None  # the decoding step, for log-probabilities


@dataclass
class TextStep:
    deltas: list[TextDelta]
    completion_tokens: int  # new tokens so far, all rows together


def text_steps(steps: Iterator[Step], tokenizer: Tokenizer, n_rows: int,
               config: GenerationConfig) -> Iterator[TextStep]:
    """Per decoding step, each row's new text. A row ends at a stop token (the decoding loop drops it) or a
    stop sequence ("stop"), or after max_new_tokens ("length"); its last delta says which."""
    streams = [TextStream(tokenizer, config.stop) for _ in range(n_rows)]
    counts = [0] * n_rows
    finished: list[str | None] = [None] * n_rows
    try:
        for step in steps:
            deltas = []
            for row, token_id in enumerate(step.ids.tolist()):
                if token_id < 0 or finished[row]:
                    continue
                counts[row] += 1
                piece = streams[row].push(token_id)
                if streams[row].stopped:
                    finished[row] = "stop"
                deltas.append(TextDelta(row, piece, finished[row], token_id, step))
            yield TextStep(deltas, sum(counts))
            if all(finished):
                return
    finally:
        close = getattr(steps, "close", None)
        if close is not None:
            close()  # releases the decoder and its KV cache at once, even when the reader leaves early
    last = []
    for row, stream in enumerate(streams):
        if not finished[row]:
            finished[row] = "length" if counts[row] >= config.max_new_tokens else "stop"
            last.append(TextDelta(row, stream.finish(), finished[row]))
    yield TextStep(last, sum(counts))
