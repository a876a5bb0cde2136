"""Tokenizers in Hugging Face directories: GPT-2's `vocab.json` + `merges.txt`, or a byte-level BPE
`tokenizer.json` (the `tokenizers` library format), read into Lantern's `BPETokenizer`; BERT's WordPiece
`vocab.txt` into the `WordPieceTokenizer`.

Both write token bytes through GPT-2's byte -> printable-character table ("Ġ" is the space). Ids must equal
merge ranks (true of GPT-2's and tiktoken-derived vocabularies such as Llama 3's), as Lantern's BPE requires.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import LanternError
from ..io import read_json, write_json_atomic, write_text_atomic
from ..tokenizers import BPETokenizer, Tokenizer
from ..tokenizers.wordpiece import WordPieceTokenizer
from ..tokenizers.formats import bytes_to_unicode
from ..tokenizers.pretokenize import PATTERNS, pattern_name


def read_hf_tokenizer(directory: Path) -> Tokenizer | None:
    """The directory's byte-level BPE or WordPiece tokenizer, or None when it has none Lantern can read."""
    if (directory / "vocab.txt").is_file():
        return read_wordpiece(directory)
    if (directory / "vocab.json").is_file() and (directory / "merges.txt").is_file():
        return BPETokenizer.from_gpt2_files(directory / "vocab.json", directory / "merges.txt")
    path = directory / "tokenizer.json"
    if not path.is_file():
        return None
    data = read_json(path)
    model = data.get("model") or {}
    if model.get("type") != "BPE" or "ByteLevel" not in json.dumps(data.get("pre_tokenizer")):
        return None  # e.g. SentencePiece-style BPE with byte fallback: not byte-level
    specials = {t["content"]: t["id"] for t in data.get("added_tokens", []) if t.get("special", True)}
    to_byte = {ch: b for b, ch in bytes_to_unicode().items()}
    try:
        ranks = {bytes(to_byte[ch] for ch in token): i for token, i in model["vocab"].items() if token not in specials}
    except KeyError as exc:
        raise LanternError(f"{path}: token character {exc.args[0]!r} is not in the byte-level alphabet") from None
    return BPETokenizer.from_ranks(ranks, _split_pattern(data.get("pre_tokenizer")) or "gpt2", specials)


def read_wordpiece(directory: Path) -> WordPieceTokenizer | None:
    """BERT's vocab.txt (+ tokenizer.json, tokenizer_config.json) as a WordPieceTokenizer; None without one."""
    if not ((directory / "vocab.txt").is_file() or (directory / "tokenizer.json").is_file()):
        return None
    return WordPieceTokenizer.from_hf_directory(directory)


def _split_pattern(pre_tokenizer: dict | None) -> str | None:
    """The regex of a `Split` pre-tokenizer (Llama 3 style); None means ByteLevel's own GPT-2 regex."""
    steps = (pre_tokenizer or {}).get("pretokenizers", [pre_tokenizer or {}])
    for step in steps:
        regex = (step.get("pattern") or {}).get("Regex") if step.get("type") == "Split" else None
        if regex:
            return pattern_name(regex) or regex
    return None


def write_wordpiece(tokenizer: WordPieceTokenizer, directory: Path) -> None:
    """BERT's files: vocab.txt (one token per line, in id order) and tokenizer_config.json (its options)."""
    write_text_atomic(directory / "vocab.txt", "\n".join(tokenizer.vocab) + "\n")
    options = tokenizer.pre.options()
    config = {"tokenizer_class": "BertTokenizer", "do_lower_case": options["lowercase"],
              "strip_accents": options["strip_accents"],
              "tokenize_chinese_chars": options["tokenize_chinese_chars"],
              **{f"{role}_token": text for role, text in tokenizer.roles.items()}}
    if tokenizer.model_max_length:
        config["model_max_length"] = tokenizer.model_max_length
    write_json_atomic(directory / "tokenizer_config.json", config)


def write_hf_tokenizer(tokenizer: Tokenizer, directory: Path) -> bool:
    """Write the tokenizer in a form `transformers` reads: BERT's vocab.txt for WordPiece, GPT-2's vocab.json +
    merges.txt for a BPE tokenizer with GPT-2's pre-tokenization; returns False (writing nothing) otherwise."""
    if isinstance(tokenizer, WordPieceTokenizer):
        write_wordpiece(tokenizer, directory)
        return True
    if not isinstance(tokenizer, BPETokenizer) or tokenizer.pattern != PATTERNS["gpt2"]:
        return False
    table = bytes_to_unicode()

    def text(token_id: int) -> str:
        return "".join(table[b] for b in tokenizer.token_bytes(token_id))

    vocab = {text(i): i for i in range(tokenizer.vocab_size) if i not in tokenizer.special_tokens.values()}
    vocab.update(tokenizer.special_tokens)
    write_json_atomic(directory / "vocab.json", vocab, indent=None)
    merges = [f"{text(a)} {text(b)}" for a, b in tokenizer.merges]
    write_text_atomic(directory / "merges.txt", "#version: 0.2\n" + "\n".join(merges) + "\n")
    eot = "<|endoftext|>" if tokenizer.eot_id is not None else None
    write_json_atomic(directory / "tokenizer_config.json", {"tokenizer_class": "GPT2Tokenizer", "bos_token": eot,
                                                           "eos_token": eot, "unk_token": eot})
    return True
