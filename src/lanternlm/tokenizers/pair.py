"""Two vocabularies for translation: one tokenizer for the source language, one for the target.

A joint tokenizer (one BPE trained on both languages, the default) lets the encoder and the decoder share one
embedding matrix; separate ones give each language its whole vocabulary. `PairTokenizer` keeps both in one
run file: as a `Tokenizer` it is the *target* side (what the decoder writes and the engine decodes), and
`.source` is the tokenizer the encoder's input goes through.
"""

from __future__ import annotations

from typing import Any

from .base import _REGISTRY, Tokenizer


class PairTokenizer(Tokenizer):
    kind = "pair"

    def __init__(self, source: Tokenizer, target: Tokenizer) -> None:
        super().__init__(target.special_tokens)
        self.source, self.target = source, target

    @property
    def vocab_size(self) -> int:
        return self.target.vocab_size

    def encode(self, text: str) -> list[int]:
        return self.target.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.target.decode(ids)

    def token_bytes(self, token_id: int) -> bytes:
        return self.target.token_bytes(token_id)

    def to_dict(self) -> dict[str, Any]:
        return {side: {"kind": tok.kind, "special_tokens": tok.special_tokens, **tok.to_dict()}
                for side, tok in (("source", self.source), ("target", self.target))}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PairTokenizer":
        source, target = (_REGISTRY[data[side]["kind"]].from_dict(data[side]) for side in ("source", "target"))
        return cls(source, target)
