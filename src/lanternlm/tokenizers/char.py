"""Character-level tokenization: every distinct character of the training text is one token (the classic
Tiny Shakespeare setup, 65 tokens). Exact round trip; characters never seen in training cannot be encoded."""

from __future__ import annotations

from typing import Any

from ..errors import LanternError
from .base import Tokenizer


class CharTokenizer(Tokenizer):
    kind = "char"

    def __init__(self, chars: list[str], special_tokens: dict[str, int] | None = None) -> None:
        super().__init__(special_tokens)
        self.chars = list(chars)
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}
        if len(self.stoi) != len(self.chars) or any(len(ch) != 1 for ch in self.chars):
            raise ValueError("chars must be distinct single characters")

    @classmethod
    def train(cls, text: str) -> "CharTokenizer":
        """Vocabulary = the sorted set of characters in `text`."""
        if not text:
            raise LanternError("cannot build a character vocabulary from empty text")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        stoi = self.stoi
        try:
            return [stoi[ch] for ch in text]
        except KeyError:
            unknown = sorted({ch for ch in text if ch not in stoi})
            shown = ", ".join(repr(ch) for ch in unknown[:10])
            raise LanternError(f"text has {len(unknown)} character(s) not in the vocabulary: {shown}") from None

    def decode(self, ids: list[int]) -> str:
        self.check_ids(ids)
        return "".join(self.chars[int(i)] for i in ids)

    def token_bytes(self, token_id: int) -> bytes:
        return self.chars[token_id].encode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        return {"chars": self.chars}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CharTokenizer":
        return cls(data["chars"], data.get("special_tokens"))
