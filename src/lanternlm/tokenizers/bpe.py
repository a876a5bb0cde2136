"""Byte-level BPE (GPT-2 style): text -> UTF-8 bytes -> chunks (regex) -> merges applied by rank inside each chunk.

Vocabulary: ids 0..255 are the 256 single bytes; merge k = (a, b) creates the next id (256 + k, skipping ids
held by special tokens, as `<|endoftext|>` = 50256 inside p50k), whose bytes are bytes(a) + bytes(b).
The id of a token is also its *rank*: a lower id was learned earlier and is merged first.

Two encoders give the same ids (the tests hold them identical):

* `encode_reference`: the textbook loop, readable: in each chunk, merge the adjacent pair with the lowest merge
  rank until no pair is a merge; results are cached per chunk.
* `encode` (the default, fast path): a `tiktoken.Encoding` built from the same ranks (token bytes -> rank).

Special-token policy: special tokens are recognised only when listed in `allowed_special` (or "all").
Otherwise their text is encoded as ordinary text (like `tiktoken`'s `disallowed_special=()`), so user text
that happens to contain "<|endoftext|>" can never inject a document boundary. Data preparation joins
documents with the real `eot_id` instead.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from ..errors import LanternError
from .base import AllowedSpecial, Tokenizer
from .formats import escape_bytes, read_gpt2, read_tiktoken, unescape_bytes
from .pretokenize import (OPENAI_RANK_COUNTS, OPENAI_SPECIALS, compiled, pattern_name, pattern_regex, safe_batches,
                          split_specials)

CHUNK_CACHE_SIZE = 1 << 16


class BPETokenizer(Tokenizer):
    kind = "bpe"

    def __init__(self, merges: Iterable[tuple[int, int]], pattern: str = "gpt2",
                 special_tokens: dict[str, int] | None = None, byte_order: list[int] | None = None) -> None:
        super().__init__(special_tokens)
        self.pattern = pattern_regex(pattern)
        compiled(self.pattern)  # fail early on a bad regex
        self.byte_order = list(range(256)) if byte_order is None else [int(b) for b in byte_order]
        if sorted(self.byte_order) != list(range(256)):
            raise ValueError("byte_order must be a permutation of 0..255")
        special_ids = set(self.special_tokens.values())
        if len(special_ids) != len(self.special_tokens) or any(not s for s in self.special_tokens) \
                or any(not isinstance(i, int) or i < 256 for i in special_ids):
            raise ValueError("special tokens need distinct, non-empty texts and distinct ids >= 256")

        table: list[bytes | None] = [bytes([b]) for b in self.byte_order]
        self.merges: list[tuple[int, int]] = []
        self.merge_ids: dict[tuple[int, int], int] = {}  # (a, b) -> merged id (= its rank)
        for a, b in merges:
            while len(table) in special_ids:
                table.append(None)
            if not (0 <= a < len(table) and 0 <= b < len(table)) or table[a] is None or table[b] is None:
                raise ValueError(f"merge {len(self.merges)} refers to an unknown id ({a}, {b})")
            self.merge_ids[(a, b)] = len(table)
            self.merges.append((a, b))
            table.append(table[a] + table[b])
        self.ranks: dict[bytes, int] = {t: i for i, t in enumerate(table) if t is not None}
        if len(self.ranks) != 256 + len(self.merges):
            raise ValueError("two merges produce the same token bytes")
        self._vocab_size = max([len(table), *(i + 1 for i in special_ids)])
        table += [None] * (self._vocab_size - len(table))
        for text, i in self.special_tokens.items():
            table[i] = text.encode("utf-8")
        self._id_bytes = table
        self._byte_to_id = [0] * 256
        for i, b in enumerate(self.byte_order):
            self._byte_to_id[b] = i
        self._cache: dict[str, list[int]] = {}
        self._encoding = None

    # ----------------------------------------------------------------- construction from other forms
    @classmethod
    def from_byte_merges(cls, merges: Iterable[tuple[bytes, bytes]], pattern: str,
                         special_tokens: dict[str, int] | None = None,
                         byte_order: list[int] | None = None) -> "BPETokenizer":
        """Merges given as byte strings (as in our JSON) -> id pairs, assigning ids as `__init__` does."""
        order = list(range(256)) if byte_order is None else byte_order
        ids = {bytes([b]): i for i, b in enumerate(order)}
        special_ids = set((special_tokens or {}).values())
        next_id = 256
        id_merges = []
        for left, right in merges:
            while next_id in special_ids:
                next_id += 1
            if left not in ids or right not in ids:
                raise ValueError(f"merge {len(id_merges)} uses a token that is not defined before it")
            id_merges.append((ids[left], ids[right]))
            ids[left + right] = next_id
            next_id += 1
        return cls(id_merges, pattern, special_tokens, byte_order)

    @classmethod
    def from_ranks(cls, ranks: dict[bytes, int], pattern: str,
                   special_tokens: dict[str, int] | None = None) -> "BPETokenizer":
        """A tiktoken rank table -> tokenizer. Ranks 0..255 must be single bytes; each longer token's merge is
        recovered by running BPE on its bytes with only the lower ranks (the last step joins two parts)."""
        order = sorted(ranks.items(), key=lambda kv: kv[1])
        if len(order) < 256 or any(len(t) != 1 or r != i for i, (t, r) in enumerate(order[:256])):
            raise LanternError("rank table: ranks 0..255 must be the 256 single bytes")
        byte_merges = []
        for token, rank in order[256:]:
            parts = _bpe_parts(ranks, token, rank)
            if len(parts) != 2:
                raise LanternError(f"rank table: token {escape_bytes(token)!r} (rank {rank}) is not a merge "
                                   "of two lower-ranked tokens")
            byte_merges.append((parts[0], parts[1]))
        tok = cls.from_byte_merges(byte_merges, pattern, special_tokens, [t[0] for t, _ in order[:256]])
        if tok.ranks != ranks:
            raise LanternError("rank table: ranks are not consecutive (apart from special-token ids)")
        return tok

    @classmethod
    def from_tiktoken_file(cls, path, pattern: str = "gpt2",
                           special_tokens: dict[str, int] | None = None) -> "BPETokenizer":
        """An OpenAI `.tiktoken` rank file. Special tokens are not in the file: without `special_tokens`, OpenAI's
        own for `pattern` when the file has one of their sizes, else `<|endoftext|>` right after the ranks."""
        if pattern not in OPENAI_SPECIALS:
            raise LanternError(f"pattern must be one of {', '.join(OPENAI_SPECIALS)}, got {pattern!r}")
        ranks = read_tiktoken(path)
        if special_tokens is None:
            known = len(ranks) in OPENAI_RANK_COUNTS[pattern]
            special_tokens = OPENAI_SPECIALS[pattern] if known else {"<|endoftext|>": max(ranks.values()) + 1}
        try:
            return cls.from_ranks(ranks, pattern, special_tokens)
        except ValueError as exc:
            raise LanternError(f"{path}: {exc}") from None

    @classmethod
    def from_gpt2_files(cls, encoder_json, vocab_bpe) -> "BPETokenizer":
        """GPT-2's `encoder.json` + `vocab.bpe` (ids equal OpenAI's, `<|endoftext|>` included)."""
        order, merges, specials = read_gpt2(encoder_json, vocab_bpe)
        return cls(merges, "gpt2", specials, order)

    # ----------------------------------------------------------------- the Tokenizer contract
    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    def encode(self, text: str, allowed_special: AllowedSpecial = ()) -> list[int]:
        """Text -> ids with the tiktoken fast path (same ids as `encode_reference`)."""
        return self.encoding.encode(text, allowed_special=self.allowed_specials(allowed_special), disallowed_special=())

    def encode_reference(self, text: str, allowed_special: AllowedSpecial = ()) -> list[int]:
        """Text -> ids in plain Python: split out allowed special tokens, pre-split, merge each chunk by rank."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: replaced by U+FFFD, as tiktoken does
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        find = compiled(self.pattern).findall
        ids: list[int] = []
        for i, piece in enumerate(split_specials(text, self.allowed_specials(allowed_special))):
            if i % 2:
                ids.append(self.special_tokens[piece])
                continue
            for chunk in find(piece):
                ids.extend(self._encode_chunk(chunk))
        return ids

    def _encode_chunk(self, chunk: str) -> list[int]:
        ids = self._cache.get(chunk)
        if ids is None:
            ids = self.merge_bytes(chunk.encode("utf-8"))
            if len(self._cache) < CHUNK_CACHE_SIZE:
                self._cache[chunk] = ids
        return ids

    def merge_bytes(self, data: bytes) -> list[int]:
        """BPE on one chunk: start from its bytes, then repeatedly merge the pair that was learned first."""
        ids = [self._byte_to_id[b] for b in data]
        merge_ids = self.merge_ids
        while len(ids) > 1:
            pair = min(zip(ids, ids[1:]), key=lambda p: merge_ids.get(p, float("inf")))
            new_id = merge_ids.get(pair)
            if new_id is None:
                break
            ids = _replace_pair(ids, pair, new_id)
        return ids

    def encode_iterable(self, lines: Iterable[str], allowed_special: AllowedSpecial = ()) -> Iterator[int]:
        """Stream ids for a large text given as lines (e.g. an open file), in bounded memory; the ids equal
        `encode("".join(lines))` because batches end only where no pre-tokenization chunk can span."""
        for batch in safe_batches(lines):
            yield from self.encode(batch, allowed_special)

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """Ids -> the exact bytes they stand for (a special token -> its text)."""
        ids = [int(i) for i in ids]
        self.check_ids(ids)
        try:
            return b"".join([self._id_bytes[i] for i in ids])
        except TypeError:
            unused = [i for i in ids if self._id_bytes[i] is None]
            raise LanternError(f"token id(s) not used by this vocabulary: {unused[:5]}") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text; a character cut off by the end of `ids` becomes U+FFFD (replacement)."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        return self.decode_bytes([token_id])

    @property
    def encoding(self):
        """The tiktoken fast path: an Encoding with mergeable_ranks = {token bytes: id} and our special tokens."""
        if self._encoding is None:
            import tiktoken

            self._encoding = tiktoken.Encoding(name="lantern-bpe", pat_str=self.pattern,
                                               mergeable_ranks=self.ranks, special_tokens=self.special_tokens)
        return self._encoding

    def to_dict(self) -> dict[str, Any]:
        table = self._id_bytes
        return {
            "pattern_name": pattern_name(self.pattern),
            "pattern": self.pattern,
            "byte_order": None if self.byte_order == list(range(256)) else self.byte_order,
            "merges": [[escape_bytes(table[a]), escape_bytes(table[b])] for a, b in self.merges],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BPETokenizer":
        merges = [(unescape_bytes(left), unescape_bytes(right)) for left, right in data["merges"]]
        return cls.from_byte_merges(merges, data["pattern"], data.get("special_tokens"), data.get("byte_order"))


def _replace_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Every (a, b) in `ids`, left to right and non-overlapping, becomes new_id."""
    a, b = pair
    out = []
    i = 0
    n = len(ids)
    while i < n:
        if i + 1 < n and ids[i] == a and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _bpe_parts(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    """tiktoken-style BPE of `token` using only ranks below `max_rank` (to recover which merge made it)."""
    parts = [token[i:i + 1] for i in range(len(token))]
    while len(parts) > 1:
        best_rank, best_i = max_rank, -1
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1], max_rank)
            if r < best_rank:
                best_rank, best_i = r, i
        if best_i < 0:
            break
        parts[best_i:best_i + 2] = [parts[best_i] + parts[best_i + 1]]
    return parts
