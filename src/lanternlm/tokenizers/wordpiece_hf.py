"""Reading BERT tokenizers: a `vocab.txt`, or a Hugging Face directory (`tokenizer.json`, `tokenizer_config.json`).

* `vocab.txt`: one token per line, the line number is the id (trailing whitespace trimmed, as Hugging Face does).
  The options (lower-casing, accents, ...) are not in the file: BERT's uncased defaults unless told.
* `tokenizer.json` (the `tokenizers` library's file): the vocabulary, the `WordPiece` model options, the
  `BertNormalizer` options and the added (special) tokens. Only BERT's pipeline is accepted: a WordPiece model
  with `BertNormalizer` (or none) and `BertPreTokenizer`.
* `tokenizer_config.json` (the `transformers` file): `do_lower_case`, `strip_accents`, `tokenize_chinese_chars`,
  the special-token names and `model_max_length`; it is used for the options when there is no `tokenizer.json`.

The result is the keyword arguments of `WordPieceTokenizer(...)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import LanternError
from .formats import _read
from .wordpiece import BERT_SPECIALS

HUGE = 10**9  # transformers writes int(1e30) as model_max_length when a model has no limit


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(_read(path))
    except json.JSONDecodeError as exc:
        raise LanternError(f"{path}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise LanternError(f"{path}: expected a JSON object")
    return data


def read_vocab_txt(path: str | Path) -> list[str]:
    """The tokens of a BERT `vocab.txt`, in id order."""
    path = Path(path)
    lines = _read(path).split("\n")
    if lines[-1] == "":
        lines.pop()
    if not lines:
        raise LanternError(f"{path}: empty vocabulary file")
    return [line.rstrip() for line in lines]


def _token_name(value: Any) -> str | None:
    """A special token in tokenizer_config.json: a string, or an AddedToken object {"content": ...}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def _roles(config: dict[str, Any]) -> dict[str, str]:
    roles = {}
    for role in BERT_SPECIALS:
        name = _token_name(config.get(f"{role}_token"))
        if name is not None:
            roles[role] = name
    return roles


def _from_tokenizer_json(path: Path) -> dict[str, Any]:
    data = _read_json(path)
    model = data.get("model") or {}
    if model.get("type") != "WordPiece":
        raise LanternError(f"{path}: not a WordPiece tokenizer (model type {model.get('type')!r})")
    pre = data.get("pre_tokenizer") or {}
    if pre.get("type") != "BertPreTokenizer":
        raise LanternError(f"{path}: pre-tokenizer {pre.get('type')!r} is not supported (only BertPreTokenizer)")
    normalizer = data.get("normalizer") or {"type": "BertNormalizer", "clean_text": False, "lowercase": False,
                                             "handle_chinese_chars": False, "strip_accents": False}
    if normalizer.get("type") != "BertNormalizer":
        raise LanternError(f"{path}: normalizer {normalizer.get('type')!r} is not supported (only BertNormalizer)")
    token_ids = model.get("vocab")
    if not isinstance(token_ids, dict) or not token_ids:
        raise LanternError(f"{path}: the WordPiece model has no vocabulary")
    by_id = {int(i): token for token, i in token_ids.items()}
    added = {int(t["id"]): t for t in data.get("added_tokens") or []}
    by_id.update((i, t["content"]) for i, t in added.items())
    if sorted(by_id) != list(range(len(by_id))):
        raise LanternError(f"{path}: token ids are not 0..{len(by_id) - 1} without gaps")
    decoder = data.get("decoder") or {}
    return {
        "vocab": [by_id[i] for i in range(len(by_id))],
        "lowercase": bool(normalizer.get("lowercase", True)),
        "strip_accents": normalizer.get("strip_accents"),
        "clean_text": bool(normalizer.get("clean_text", True)),
        "tokenize_chinese_chars": bool(normalizer.get("handle_chinese_chars", True)),
        "continuing_prefix": model.get("continuing_subword_prefix") or "##",
        "max_input_chars_per_word": int(model.get("max_input_chars_per_word") or 100),
        "special_roles": {"unk": model.get("unk_token") or BERT_SPECIALS["unk"]},
        "special_tokens": [t["content"] for t in added.values() if t.get("special")],
        "cleanup": bool(decoder.get("cleanup", True)),
    }


def hf_directory_options(path: str | Path) -> dict[str, Any]:
    """Keyword arguments of `WordPieceTokenizer` for a Hugging Face BERT model or tokenizer directory."""
    path = Path(path)
    if not path.is_dir():
        raise LanternError(f"not a directory: {path}")
    config = _read_json(path / "tokenizer_config.json") if (path / "tokenizer_config.json").is_file() else {}
    if (path / "special_tokens_map.json").is_file():
        config = {**_read_json(path / "special_tokens_map.json"), **config}
    if config.get("do_basic_tokenize") is False:
        raise LanternError(f"{path}: do_basic_tokenize=false is not supported (BERT's basic pre-tokenization "
                           "is part of Lantern's WordPiece)")
    if (path / "tokenizer.json").is_file():
        try:
            options = _from_tokenizer_json(path / "tokenizer.json")
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise LanternError(f"{path / 'tokenizer.json'}: unexpected content ({exc.__class__.__name__}: {exc})") \
                from None
    elif (path / "vocab.txt").is_file():
        options = {"vocab": read_vocab_txt(path / "vocab.txt"),
                   "lowercase": bool(config.get("do_lower_case", True)),
                   "strip_accents": config.get("strip_accents"),
                   "tokenize_chinese_chars": bool(config.get("tokenize_chinese_chars", True))}
    else:
        raise LanternError(f"{path}: not a BERT tokenizer directory (no tokenizer.json or vocab.txt)")
    options["special_roles"] = {**_roles(config), **options.get("special_roles", {})}
    max_length = config.get("model_max_length")
    options["model_max_length"] = max_length if isinstance(max_length, int) and 0 < max_length < HUGE else None
    return options
