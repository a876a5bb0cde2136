"""The contract every tokenizer keeps: text -> token ids -> text, exactly, plus a versioned JSON file format.

Subclasses (character-level, byte-level BPE, ...) implement `encode`, `decode`, `vocab_size`, the token
text for display, and their own `to_dict` payload. `load_tokenizer` picks the class from the file's `kind`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Collection, Literal

from ..errors import LanternError
from ..io import read_versioned_json, write_json_atomic

FORMAT_NAME = "lantern-tokenizer"
FORMAT_VERSION = 1

_REGISTRY: dict[str, type["Tokenizer"]] = {}

AllowedSpecial = Collection[str] | Literal["all"]


class Tokenizer(ABC):
    """Vocabulary + encode/decode. `special_tokens` maps special-token text (e.g. "<|endoftext|>") to its id."""

    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            _REGISTRY[cls.kind] = cls

    def __init__(self, special_tokens: dict[str, int] | None = None) -> None:
        self.special_tokens: dict[str, int] = dict(special_tokens or {})

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of token ids, special tokens included (ids are 0 .. vocab_size-1)."""

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Text to token ids."""

    @abstractmethod
    def decode(self, ids: list[int]) -> str:
        """Token ids to text; decode(encode(s)) == s."""

    @abstractmethod
    def token_bytes(self, token_id: int) -> bytes:
        """The raw bytes one token stands for (used to show tokens and to count bytes per token)."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The kind-specific payload of the JSON file."""

    @classmethod
    @abstractmethod
    def from_dict(cls, data: dict[str, Any]) -> "Tokenizer":
        """Inverse of `to_dict`."""

    @property
    def eot_id(self) -> int | None:
        """Id of the end-of-text special token, if this vocabulary has one."""
        return self.special_tokens.get("<|endoftext|>")

    def token_text(self, token_id: int) -> str:
        """A readable form of one token (special tokens by name; partial UTF-8 shown with replacement chars)."""
        for text, sid in self.special_tokens.items():
            if sid == token_id:
                return text
        return self.token_bytes(token_id).decode("utf-8", errors="replace")

    def allowed_specials(self, allowed_special: AllowedSpecial) -> set[str]:
        """The special-token texts to recognise in text: a subset of ours, or "all"; anything else is an error."""
        if allowed_special == "all":
            return set(self.special_tokens)
        unknown = set(allowed_special) - set(self.special_tokens)
        if unknown:
            raise LanternError(f"not a special token of this tokenizer: {sorted(unknown)[0]!r}")
        return set(allowed_special)

    def check_ids(self, ids: list[int]) -> None:
        bad = [i for i in ids if not 0 <= int(i) < self.vocab_size]
        if bad:
            raise LanternError(f"token id(s) out of range 0..{self.vocab_size - 1}: {bad[:5]}")

    def save(self, path: str | Path) -> None:
        payload = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "kind": self.kind,
                   "special_tokens": self.special_tokens, **self.to_dict()}
        write_json_atomic(path, payload)


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read any Lantern tokenizer file; a missing, corrupt or foreign file is a one-line LanternError."""
    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"
    data = read_versioned_json(path, FORMAT_NAME, FORMAT_VERSION, "tokenizer file")
    cls = _REGISTRY.get(data.get("kind"))
    if cls is None:
        raise LanternError(f"{path}: unknown tokenizer kind {data.get('kind')!r}")
    try:
        return cls.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise LanternError(f"{path}: corrupted tokenizer file ({exc})") from None
