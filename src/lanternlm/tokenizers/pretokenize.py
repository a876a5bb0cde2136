"""Pre-tokenization: cut text into chunks with a regex before BPE, so merges never cross a chunk boundary.

Byte-level BPE only merges bytes *inside* a chunk ("Hello", " world", "!", "\\n\\n"), which keeps words,
numbers, punctuation and whitespace apart. The patterns are tiktoken's, character for character, so our chunks
equal tiktoken's:

* `gpt2`  (r50k/p50k, GPT-2): contractions, optional space + letters / digits / punctuation, whitespace.
* `gpt4`  (cl100k, GPT-3.5/4): case-insensitive contractions, digits in groups of at most 3, newlines apart.
* `o200k` (GPT-4o): camel-case aware letter runs with attached contractions.

Special tokens (e.g. `<|endoftext|>`) are split out *before* the regex runs, so they never take part in merges.

Large inputs are streamed in batches of lines. A batch only ends at a *safe cut*: after a line whose last
character before the newline is not whitespace, when the next line starts with a letter or digit. No match of
any pattern can span such a cut, so encoding batch by batch gives exactly the ids of encoding the whole text.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

import regex

from ..errors import LanternError
from ..io import input_files, iter_lines

PATTERNS: dict[str, str] = {
    "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
    "gpt4": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
    "o200k": "|".join([
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]),
}

#: Special tokens of OpenAI's published vocabularies, by pattern (used when importing a .tiktoken file).
OPENAI_SPECIALS: dict[str, dict[str, int]] = {
    "gpt2": {"<|endoftext|>": 50256},
    "gpt4": {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
             "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276},
    "o200k": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}

#: How many ranks OpenAI's files for each pattern have (r50k and p50k; cl100k; o200k).
OPENAI_RANK_COUNTS: dict[str, set[int]] = {"gpt2": {50256, 50280}, "gpt4": {100256}, "o200k": {199998}}

DEFAULT_BATCH_CHARS = 1 << 20


def pattern_regex(pattern: str) -> str:
    """A pattern name (gpt2 | gpt4 | o200k) to its regex; anything else is taken as a regex itself."""
    return PATTERNS.get(pattern, pattern)


def pattern_name(regex_text: str) -> str | None:
    return next((name for name, pat in PATTERNS.items() if pat == regex_text), None)


@lru_cache(maxsize=8)
def compiled(pattern: str) -> regex.Pattern:
    try:
        return regex.compile(pattern_regex(pattern))
    except regex.error as exc:
        raise LanternError(f"invalid pre-tokenization pattern ({exc})") from None


@lru_cache(maxsize=8)
def _special_splitter(specials: tuple[str, ...]) -> regex.Pattern:
    # Longest first, so that a special token that is a prefix of another does not win.
    return regex.compile("(" + "|".join(regex.escape(s) for s in sorted(specials, key=len, reverse=True)) + ")")


def split_specials(text: str, specials: Iterable[str]) -> list[str]:
    """[ordinary, special, ordinary, special, ...]: odd positions are special-token texts (possibly none)."""
    specials = tuple(sorted(set(specials)))
    if not specials:
        return [text]
    return _special_splitter(specials).split(text)


def pre_split(text: str, pattern: str, specials: Iterable[str] = ()) -> list[str]:
    """All ordinary chunks of `text` (special-token texts removed), in order."""
    find = compiled(pattern).findall
    return [chunk for piece in split_specials(text, specials)[::2] for chunk in find(piece)]


def _safe_cut(last_line: str, next_line: str) -> bool:
    return (len(last_line) >= 2 and last_line[-1] == "\n" and not last_line[-2].isspace()
            and next_line[:1].isalnum())


def safe_batches(lines: Iterable[str], batch_chars: int = DEFAULT_BATCH_CHARS) -> Iterator[str]:
    """Join lines into batches of about `batch_chars` characters that end only at safe cuts (see module doc)."""
    buf: list[str] = []
    size = 0
    for line in lines:
        if size >= batch_chars and _safe_cut(buf[-1], line):
            yield "".join(buf)
            buf, size = [], 0
        buf.append(line)
        size += len(line)
    if buf:
        yield "".join(buf)


def read_batches(paths: Iterable[str | Path], batch_chars: int = DEFAULT_BATCH_CHARS) -> Iterator[tuple[int, str]]:
    """(file number, text batch) for every batch of every file; a file boundary is always a batch boundary."""
    for number, path in enumerate(input_files(paths)):
        for batch in safe_batches(iter_lines(path), batch_chars):
            yield number, batch
