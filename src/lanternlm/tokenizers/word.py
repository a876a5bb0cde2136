"""Word-level tokenization for the classic models (bag of words, TF-IDF, Word2Vec): one token per word.

Policy, fixed and documented so that every model sees the same words:
  * text is lower-cased (``lowercase=True``) and typographic apostrophes (’) become ``'``;
  * a word is a run of letters/digits, optionally joined by inner apostrophes ("don't", "they'll");
    hyphens, underscores and all other punctuation split words and are dropped
    (``punctuation="keep"`` keeps each punctuation character as its own token instead);
  * the vocabulary holds the words seen at least ``min_count`` times, most frequent first;
  * id 0 is ``<unk>``: every other word (rare in training, or never seen) maps to it. That is the
    out-of-vocabulary problem in one line: "zyzzyva" and "floccinaucinihilipilification" get the same id.
    With ``unk="error"`` encoding an unknown word raises instead.

Unlike the character and byte-level tokenizers this one is lossy: ``decode`` joins words with single spaces,
so case, punctuation and spacing do not survive the round trip.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from typing import Any, Iterable

from ..errors import LanternError
from .base import Tokenizer

UNK = "<unk>"
_WORD = r"[^\W_]+(?:'[^\W_]+)*"
_PATTERNS = {"drop": re.compile(_WORD), "keep": re.compile(_WORD + r"|[^\w\s]|_")}
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'"})


def did_you_mean(word: str, vocabulary: Iterable[str]) -> str:
    """"; did you mean a, b?" with up to 3 close spellings from `vocabulary` (difflib), or "" if none is close."""
    close = difflib.get_close_matches(word, list(vocabulary), n=3, cutoff=0.75)
    return f"; did you mean {', '.join(close)}?" if close else ""


class WordTokenizer(Tokenizer):
    kind = "word"

    def __init__(self, words: list[str], counts: list[int] | None = None, *, lowercase: bool = True,
                 punctuation: str = "drop", unk: str = "unk", min_count: int = 1) -> None:
        super().__init__({UNK: 0})
        if punctuation not in _PATTERNS:
            raise LanternError(f"punctuation policy must be 'drop' or 'keep', not {punctuation!r}")
        if unk not in ("unk", "error"):
            raise LanternError(f"unk policy must be 'unk' or 'error', not {unk!r}")
        self.words = [UNK] + [w for w in words if w != UNK]
        self.counts = [0] + list(counts) if counts is not None else [0] * len(self.words)
        if len(self.counts) != len(self.words):
            raise ValueError("words and counts differ in length")
        self.stoi = {w: i for i, w in enumerate(self.words)}
        if len(self.stoi) != len(self.words):
            raise ValueError("words must be distinct")
        self.lowercase, self.punctuation, self.unk, self.min_count = lowercase, punctuation, unk, min_count
        self._pattern = _PATTERNS[punctuation]

    def split(self, text: str) -> list[str]:
        """The tokenization policy alone: text -> list of word strings (no vocabulary involved)."""
        text = text.translate(_APOSTROPHES)
        return self._pattern.findall(text.lower() if self.lowercase else text)

    @classmethod
    def train(cls, texts: str | Iterable[str], min_count: int = 1, *, lowercase: bool = True,
              punctuation: str = "drop", unk: str = "unk", max_size: int | None = None) -> "WordTokenizer":
        """Count words over `texts` and keep those seen >= min_count times (at most max_size), by frequency."""
        probe = cls([], lowercase=lowercase, punctuation=punctuation, unk=unk, min_count=min_count)
        counter: Counter[str] = Counter()
        for text in [texts] if isinstance(texts, str) else texts:
            counter.update(probe.split(text))
        return probe.with_counts(counter, max_size)

    def with_counts(self, counter: Counter[str], max_size: int | None = None) -> "WordTokenizer":
        """A tokenizer with this one's policy and the vocabulary of `counter` (word -> count) cut at min_count."""
        if self.min_count < 1:
            raise LanternError(f"min_count must be >= 1, got {self.min_count}")
        if not counter:
            raise LanternError("cannot build a word vocabulary: the text has no words")
        kept = sorted(((w, c) for w, c in counter.items() if c >= self.min_count and w != UNK),
                      key=lambda wc: (-wc[1], wc[0]))
        if not kept:
            top = counter.most_common(1)[0][1]
            raise LanternError(f"min_count={self.min_count} leaves an empty vocabulary (the most frequent word "
                               f"occurs {top} times); lower min_count or use more text")
        words, counts = zip(*kept[:max_size] if max_size else kept)
        return type(self)(list(words), list(counts), lowercase=self.lowercase, punctuation=self.punctuation,
                          unk=self.unk, min_count=self.min_count)

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def encode_words(self, words: list[str]) -> list[int]:
        """Words (already split) to ids, applying the <unk> policy."""
        stoi = self.stoi
        if self.unk == "unk":
            return [stoi.get(w, 0) for w in words]
        unknown = sorted({w for w in words if w not in stoi})
        if unknown:
            raise LanternError(f"{len(unknown)} word(s) not in the vocabulary: {', '.join(unknown[:10])}"
                               f"{did_you_mean(unknown[0], self.words[1:])}")
        return [stoi[w] for w in words]

    def encode(self, text: str) -> list[int]:
        return self.encode_words(self.split(text))

    def decode(self, ids: list[int]) -> str:
        self.check_ids(ids)
        return " ".join(self.words[int(i)] for i in ids)

    def token_bytes(self, token_id: int) -> bytes:
        return self.words[token_id].encode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        return {"words": self.words[1:], "counts": self.counts[1:], "lowercase": self.lowercase,
                "punctuation": self.punctuation, "unk": self.unk, "min_count": self.min_count}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WordTokenizer":
        return cls(data["words"], data.get("counts"), lowercase=data.get("lowercase", True),
                   punctuation=data.get("punctuation", "drop"), unk=data.get("unk", "unk"),
                   min_count=data.get("min_count", 1))
