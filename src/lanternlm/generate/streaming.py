"""Token ids -> text as it is generated: incremental UTF-8 decoding plus stop sequences.

A token may end in the middle of a multi-byte character, so bytes are decoded incrementally (the partial
character is held back). Text that could still turn into a stop sequence is held back too, so a stop
sequence is never printed, even when it arrives split over several tokens.
"""

from __future__ import annotations

import codecs
from typing import Sequence

from ..tokenizers import Tokenizer


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
        hold = 0 if final else max((n for s in self.stop for n in range(len(s) - 1, 0, -1)
                                    if text.endswith(s[:n])), default=0)
        self._pending = text[len(text) - hold:]
        return text[: len(text) - hold]
