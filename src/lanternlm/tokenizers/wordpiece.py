"""WordPiece (BERT's tokenizer): basic pre-tokenization into words, then greedy longest-match-first pieces.

    "Unaffable!" -> normalise + split -> ["unaffable", "!"] -> pieces -> ["una", "##ffa", "##ble", "!"]

Each word is cut left to right: take the longest vocabulary entry that starts the rest of the word (written
with the continuation prefix "##" unless it starts the word), repeat. A word that cannot be covered this way,
or is longer than `max_input_chars_per_word` (100) characters, becomes the single token `[UNK]`. Unlike
byte-level BPE this is lossy: case, accents, spacing and unknown words do not survive `decode`.

Pre-tokenization is in `bert_pretokenize.py`; the ids equal Hugging Face `tokenizers`' BERT tokenizer (tests
compare them on every corpus in ../shared/data). Loading BERT's `vocab.txt` and Hugging Face directories is
in `wordpiece_hf.py`, training a vocabulary in `wordpiece_train.py`.

Model inputs (`encode_for_model`): `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]` with token-type (segment) ids 0
for the first part and 1 for the second, truncated longest-first to `max_length` as Hugging Face does.

Special-token policy, as for BPE: `[CLS]`, `[MASK]`, ... written in user text are ordinary text unless listed
in `allowed_special` (or "all"), so typed text cannot inject a separator or a mask.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import LanternError
from .base import AllowedSpecial, Tokenizer
from .bert_pretokenize import BertPreTokenizer
from .pretokenize import safe_batches, split_specials

ROLES = ("unk", "cls", "sep", "pad", "mask")
BERT_SPECIALS = {"unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]", "mask": "[MASK]"}
CHUNK_CACHE_SIZE = 1 << 18
# Hugging Face's WordPiece decoder `cleanup`, applied to each token with its leading space.
CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
           (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


class _RoleId:
    """`tok.cls_id` etc.: the id of the token playing that role, or None if the vocabulary lacks it."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.role = name.removesuffix("_id")

    def __get__(self, tok: "WordPieceTokenizer", owner: type | None = None) -> int | None:
        return tok.token_to_id.get(tok.roles[self.role])


class WordPieceTokenizer(Tokenizer):
    kind = "wordpiece"

    def __init__(self, vocab: list[str], *, lowercase: bool = True, strip_accents: bool | None = None,
                 clean_text: bool = True, tokenize_chinese_chars: bool = True,
                 special_roles: dict[str, str] | None = None, special_tokens: Iterable[str] | None = None,
                 continuing_prefix: str = "##", max_input_chars_per_word: int = 100,
                 model_max_length: int | None = None, cleanup: bool = True) -> None:
        self.vocab = list(vocab)
        self.token_to_id = {token: i for i, token in enumerate(self.vocab)}  # a repeated line: the last id wins
        self.roles = {**BERT_SPECIALS, **(special_roles or {})}  # role -> token text
        if set(self.roles) != set(ROLES):
            raise ValueError(f"special roles must be {', '.join(ROLES)}")
        if self.roles["unk"] not in self.token_to_id:
            raise LanternError(f"the vocabulary has no unknown-word token {self.roles['unk']!r}")
        if special_tokens is None:
            special_tokens = [text for text in self.roles.values() if text in self.token_to_id]
        specials = list(dict.fromkeys(special_tokens))
        missing = [s for s in specials if s not in self.token_to_id]
        if missing:
            raise LanternError(f"special token {missing[0]!r} is not in the vocabulary")
        super().__init__({text: self.token_to_id[text] for text in specials})
        if not continuing_prefix or max_input_chars_per_word < 1:
            raise ValueError("the continuation prefix must be non-empty and max_input_chars_per_word >= 1")
        self.pre = BertPreTokenizer(lowercase, strip_accents, clean_text, tokenize_chinese_chars)
        self.continuing_prefix = continuing_prefix
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        self.model_max_length = model_max_length
        self.cleanup = bool(cleanup)
        self._longest = max(map(len, self.vocab), default=1)
        self._special_ids = set(self.special_tokens.values())
        self._chunk_ids: dict[str, list[int]] = {}

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_vocab(cls, vocab_txt: str | Path, lowercase: bool = True, strip_accents: bool | None = None,
                   **options: Any) -> "WordPieceTokenizer":
        """A BERT `vocab.txt` (one token per line, line number = id)."""
        from .wordpiece_hf import read_vocab_txt

        vocab = read_vocab_txt(vocab_txt)
        try:
            return cls(vocab, lowercase=lowercase, strip_accents=strip_accents, **options)
        except LanternError as exc:
            raise LanternError(f"{vocab_txt}: {exc}") from None

    @classmethod
    def from_hf_directory(cls, path: str | Path, **overrides: Any) -> "WordPieceTokenizer":
        """A Hugging Face model directory: `tokenizer.json` if present, else `vocab.txt` + `tokenizer_config.json`.
        `overrides` replace options read from the files (e.g. lowercase=False)."""
        from .wordpiece_hf import hf_directory_options

        options = {**hf_directory_options(path), **overrides}
        try:
            return cls(**options)
        except (LanternError, ValueError) as exc:
            raise LanternError(f"{path}: {exc}") from None

    # ----------------------------------------------------------------- ids of the special roles
    unk_id = _RoleId()
    cls_id = _RoleId()
    sep_id = _RoleId()
    pad_id = _RoleId()
    mask_id = _RoleId()

    # ----------------------------------------------------------------- encoding
    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def word_ids(self, word: str) -> list[int]:
        """Greedy longest-match-first pieces of one word; [UNK] alone if the word is too long or not covered."""
        n = len(word)
        if n > self.max_input_chars_per_word:
            return [self.unk_id]
        vocab, prefix = self.token_to_id, self.continuing_prefix
        ids: list[int] = []
        start = 0
        while start < n:
            for end in range(min(n, start + self._longest), start, -1):
                token_id = vocab.get(word[start:end] if start == 0 else prefix + word[start:end])
                if token_id is not None:
                    break
            else:
                return [self.unk_id]
            ids.append(token_id)
            start = end
        return ids

    def _chunk(self, chunk: str) -> list[int]:
        """Ids of a whitespace-free chunk ("dog." -> dog .), cached; its words share the same cache."""
        words = self.pre.pieces(chunk)
        if len(words) == 1:
            ids = self.word_ids(chunk)
        else:
            cached = self._chunk_ids.get
            ids = [i for word in words for i in (cached(word) or self._chunk(word))]
        if len(self._chunk_ids) >= CHUNK_CACHE_SIZE:
            self._chunk_ids.clear()
        self._chunk_ids[chunk] = ids
        return ids

    def _encode_ordinary(self, text: str) -> list[int]:
        cached = self._chunk_ids.get
        ids: list[int] = []
        for chunk in self.pre.chunks(self.pre.normalize(text)):
            chunk_ids = cached(chunk)
            ids += self._chunk(chunk) if chunk_ids is None else chunk_ids
        return ids

    def encode(self, text: str, allowed_special: AllowedSpecial = ()) -> list[int]:
        """Text -> piece ids, no [CLS]/[SEP]. Special-token text is matched (in the raw text) only if allowed."""
        parts = split_specials(text, self.allowed_specials(allowed_special))
        if len(parts) == 1:
            return self._encode_ordinary(text)
        ids: list[int] = []
        for i, part in enumerate(parts):
            ids += [self.special_tokens[part]] if i % 2 else self._encode_ordinary(part)
        return ids

    def encode_iterable(self, lines: Iterable[str], allowed_special: AllowedSpecial = ()) -> Iterator[int]:
        """Stream ids for a large text given as lines; batches end at line ends, which are word boundaries."""
        for batch in safe_batches(lines):
            yield from self.encode(batch, allowed_special)

    def encode_for_model(self, text: str, pair: str | None = None, max_length: int | None = None,
                         allowed_special: AllowedSpecial = ()) -> tuple[list[int], list[int]]:
        """(ids, token_type_ids) of `[CLS] text [SEP]` or `[CLS] text [SEP] pair [SEP]` (types 0..0 1..1).

        With `max_length`, the pieces are cut to fit (the specials always stay): a single text keeps its first
        max_length - 2 pieces; a pair is cut longest-first, as Hugging Face does: if the shorter part fits in
        half the room it stays whole and the longer one gets the rest, otherwise each gets half (an odd one
        extra to the longer part; for equal lengths, to the second)."""
        if self.cls_id is None or self.sep_id is None:
            raise LanternError("this vocabulary has no [CLS]/[SEP] tokens to build model inputs")
        first = self.encode(text, allowed_special)
        second = None if pair is None else self.encode(pair, allowed_special)
        if max_length is not None:
            first, second = self._truncate(first, second, max_length)
        cls, sep = self.cls_id, self.sep_id
        ids = [cls, *first, sep]
        types = [0] * len(ids)
        if second is not None:
            ids += [*second, sep]
            types += [1] * (len(second) + 1)
        return ids, types

    @staticmethod
    def _truncate(first: list[int], second: list[int] | None,
                  max_length: int) -> tuple[list[int], list[int] | None]:
        n_special = 2 if second is None else 3
        if max_length < n_special:
            raise LanternError(f"max_length {max_length} leaves no room for the {n_special} special tokens")
        room = max_length - n_special
        if second is None:
            return first[:room], None
        if len(first) + len(second) <= room:
            return first, second
        short, long = sorted((len(first), len(second)))
        keep_short, keep_long = short, max(room - short, short)
        if keep_short + keep_long > room:
            keep_short, keep_long = room // 2, room // 2 + room % 2
        if len(first) > len(second):
            return first[:keep_long], second[:keep_short]
        return first[:keep_short], second[:keep_long]

    # ----------------------------------------------------------------- decoding
    def decode_pieces(self, ids: Iterable[int], skip_special_tokens: bool = False) -> list[str]:
        """The text each id adds in `decode`: " word" for a word start, "ing" for a "##ing" continuation."""
        ids = [int(i) for i in ids]
        self.check_ids(ids)
        prefix = self.continuing_prefix
        pieces = []
        for token in (self.vocab[i] for i in ids if not (skip_special_tokens and i in self._special_ids)):
            if pieces:
                token = token[len(prefix):] if token.startswith(prefix) else " " + token
            if self.cleanup:
                for dirty, clean in CLEANUP:
                    token = token.replace(dirty, clean)
            pieces.append(token)
        return pieces

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        """Ids -> text as Hugging Face's WordPiece decoder does it: "##" pieces join the previous one, other
        pieces start with a space, except that no space is left before ". , ! ?" (the decoder's `cleanup`).
        Special tokens are written out ("[CLS] hello [SEP]") unless `skip_special_tokens`."""
        return "".join(self.decode_pieces(ids, skip_special_tokens))

    def token_text(self, token_id: int) -> str:
        """The vocabulary entry itself: "[CLS]", "hello", "##ing"."""
        return self.vocab[token_id]

    def token_bytes(self, token_id: int) -> bytes:
        """The characters a token stands for in the normalised text (a continuation without its "##")."""
        token = self.vocab[token_id]
        if token.startswith(self.continuing_prefix) and token_id not in self._special_ids:
            token = token[len(self.continuing_prefix):]
        return token.encode("utf-8")

    # ----------------------------------------------------------------- file format
    def to_dict(self) -> dict[str, Any]:
        return {"vocab": self.vocab, **self.pre.options(), "special_roles": self.roles,
                "continuing_prefix": self.continuing_prefix,
                "max_input_chars_per_word": self.max_input_chars_per_word,
                "model_max_length": self.model_max_length, "cleanup": self.cleanup}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WordPieceTokenizer":
        return cls(data["vocab"], lowercase=data["lowercase"], strip_accents=data["strip_accents"],
                   clean_text=data["clean_text"], tokenize_chinese_chars=data["tokenize_chinese_chars"],
                   special_roles=data["special_roles"], special_tokens=list(data["special_tokens"]),
                   continuing_prefix=data["continuing_prefix"],
                   max_input_chars_per_word=data["max_input_chars_per_word"],
                   model_max_length=data.get("model_max_length"), cleanup=data.get("cleanup", True))
