"""BERT's basic pre-tokenization: normalise the text, then cut it into words, before WordPiece sees it.

The steps, in Hugging Face `tokenizers`' order (`BertNormalizer`, then `BertPreTokenizer`):

1. clean: drop control and format characters (Unicode categories Cc, Cf, Co, Cs, with U+0000) and U+FFFD,
   except tab, newline and carriage return, which are whitespace; unassigned code points (Cn) stay;
2. strip accents (when enabled): NFD decomposition, then drop the non-spacing marks (Mn): "café" -> "cafe";
3. lower-case, one character at a time (so a final capital sigma becomes "σ", not the final form "ς");
4. split on whitespace (Unicode White_Space), and cut every punctuation character and every CJK ideograph
   out as a word of its own. Punctuation is BERT's definition: Unicode categories P* plus all ASCII
   characters that are neither letters, digits nor space ("$", "+", "<", "=", ">", "^", "`", "|", "~" are
   symbols to Unicode but punctuation to BERT).

Accent stripping defaults to the lower-casing setting (`strip_accents=None`), as in BERT's uncased models.

The character classes come from the `regex` module's Unicode tables. Hugging Face's Rust normaliser uses
older category tables, so about 700 code points added or re-categorised by Unicode since (rare scripts,
e.g. the Arabic end-of-text mark U+061D) are treated differently; `tests/test_wordpiece.py` compares all
1,114,112 code points and lists them.
"""

from __future__ import annotations

import re
import unicodedata

import regex

_CJK = (r"\u4e00-\u9fff\u3400-\u4dbf\U00020000-\U0002a6df\U0002a700-\U0002b73f\U0002b740-\U0002b81f"
        r"\U0002b920-\U0002ceaf\uf900-\ufaff\U0002f800-\U0002fa1f")
_PUNCTUATION = r"\p{P}\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e"

_CONTROL = regex.compile(r"[[\p{C}\ufffd]--[\p{Cn}\t\n\r]]+", regex.V1)
_NONSPACING_MARKS = regex.compile(r"\p{Mn}+")
_WHITESPACE = regex.compile(r"\p{White_Space}+")
# Inside a whitespace-free chunk: one punctuation character or CJK ideograph, or a run of anything else.
_PIECE = regex.compile(rf"[{_PUNCTUATION}{_CJK}]|[^{_PUNCTUATION}{_CJK}]+")
_ASCII_PIECE = re.compile(r"[!-/:-@\[-`{-~]|[^!-/:-@\[-`{-~]+")  # the same on ASCII text, with the faster `re`


class BertPreTokenizer:
    """Text -> normalised text -> words, with BERT's options (see the module docstring)."""

    def __init__(self, lowercase: bool = True, strip_accents: bool | None = None, clean_text: bool = True,
                 tokenize_chinese_chars: bool = True) -> None:
        self.lowercase = bool(lowercase)
        self.strip_accents = strip_accents
        self.clean_text = bool(clean_text)
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self._strip = self.lowercase if strip_accents is None else bool(strip_accents)
        self._piece = _PIECE if self.tokenize_chinese_chars else regex.compile(
            rf"[{_PUNCTUATION}]|[^{_PUNCTUATION}]+")

    def options(self) -> dict[str, bool | None]:
        return {"lowercase": self.lowercase, "strip_accents": self.strip_accents, "clean_text": self.clean_text,
                "tokenize_chinese_chars": self.tokenize_chinese_chars}

    def normalize(self, text: str) -> str:
        """Steps 1-3: cleaning, accent stripping, lower-casing (whitespace is left as it is)."""
        if self.clean_text:
            text = _CONTROL.sub("", text)
        if self._strip and not text.isascii():
            text = _NONSPACING_MARKS.sub("", unicodedata.normalize("NFD", text))
        if self.lowercase:
            text = text.replace("Σ", "σ").lower()  # str.lower() alone gives "ς" at the end of a word
        return text

    def chunks(self, normalized: str) -> list[str]:
        """Whitespace-separated chunks of normalised text ("dog." is one chunk; `pieces` splits it)."""
        if self.clean_text:  # str.split() also splits at U+001C..U+001F, which cleaning has removed
            return normalized.split()
        return [chunk for chunk in _WHITESPACE.split(normalized) if chunk]

    def pieces(self, chunk: str) -> list[str]:
        """The words of one chunk: punctuation and CJK ideographs cut out one character each."""
        if chunk.isascii():
            return [chunk] if chunk.isalnum() else _ASCII_PIECE.findall(chunk)
        return self._piece.findall(chunk)

    def words(self, text: str) -> list[str]:
        """All steps: raw text -> the words WordPiece splits into pieces."""
        return [word for chunk in self.chunks(self.normalize(text)) for word in self.pieces(chunk)]
