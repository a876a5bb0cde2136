"""Vocabulary file formats: readable byte strings for our JSON, OpenAI `.tiktoken` rank files, GPT-2's
`encoder.json` + `vocab.bpe`.

* Readable byte strings: a token's bytes as text: valid UTF-8 stays as it is, other bytes become `\\xNN`,
  a backslash becomes `\\\\`. Exactly reversible.
* `.tiktoken`: one line per token, `base64(token bytes) rank`.
* GPT-2: `encoder.json` maps token text -> id and `vocab.bpe` lists the merges as "left right" lines. Both write
  bytes through GPT-2's byte <-> unicode table (printable characters stand for themselves; the other bytes are
  shifted to code points 256+, e.g. the space is "Ġ"), so that every token is printable text without spaces.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path

from ..errors import LanternError
from ..io import read_text, write_text_atomic

_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2})")


def escape_bytes(token: bytes) -> str:
    """Token bytes -> readable text (inverse: `unescape_bytes`)."""
    return token.replace(b"\\", b"\\\\").decode("utf-8", errors="backslashreplace")


def unescape_bytes(text: str) -> bytes:
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(text):
        out += text[pos:m.start()].encode("utf-8")
        esc = m.group(1)
        out += b"\\" if esc == "\\" else bytes([int(esc[1:], 16)])
        pos = m.end()
    out += text[pos:].encode("utf-8")
    return bytes(out)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (printable Latin-1 bytes map to themselves)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}
    shift = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shift)
            shift += 1
    return table


def _read(path: str | Path) -> str:
    return read_text(path, "file", allow_empty=True)


def read_tiktoken(path: str | Path) -> dict[bytes, int]:
    """A `.tiktoken` file -> {token bytes: rank}."""
    ranks: dict[bytes, int] = {}
    for number, line in enumerate(_read(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except (ValueError, binascii.Error):
            raise LanternError(f"{path}:{number}: not a .tiktoken line (expected 'base64 rank')") from None
    if not ranks:
        raise LanternError(f"{path}: no tokens in this .tiktoken file")
    return ranks


def write_tiktoken(ranks: dict[bytes, int], path: str | Path) -> None:
    lines = [f"{base64.b64encode(t).decode('ascii')} {r}" for t, r in sorted(ranks.items(), key=lambda kv: kv[1])]
    write_text_atomic(path, "\n".join(lines) + "\n")


def read_gpt2(encoder_json: str | Path, vocab_bpe: str | Path) -> tuple[list[int], list[tuple[int, int]], dict[str, int]]:
    """GPT-2 files -> (byte order: the byte of ids 0..255, merges as id pairs in rank order, special tokens).

    Checks that merge k creates id 256 + k, as in OpenAI's files (so id == rank)."""
    try:
        encoder = json.loads(_read(encoder_json))
    except json.JSONDecodeError as exc:
        raise LanternError(f"{encoder_json}: not valid JSON ({exc.msg})") from None
    if not isinstance(encoder, dict) or not all(isinstance(v, int) for v in encoder.values()):
        raise LanternError(f"{encoder_json}: expected a JSON object token -> id")
    decoder_byte = {ch: b for b, ch in bytes_to_unicode().items()}
    byte_order = []
    for i, (text, token_id) in enumerate(sorted(encoder.items(), key=lambda kv: kv[1])[:256]):
        if token_id != i or text not in decoder_byte:
            raise LanternError(f"{encoder_json}: ids 0..255 must be the 256 single bytes")
        byte_order.append(decoder_byte[text])
    lines = [ln for ln in _read(vocab_bpe).splitlines()[1:] if ln.strip()]  # line 1 is "#version: ..."
    merges = []
    for k, line in enumerate(lines):
        parts = line.split(" ")
        if len(parts) != 2 or any(p not in encoder for p in parts) or encoder.get(parts[0] + parts[1]) != 256 + k:
            raise LanternError(f"{vocab_bpe}:{k + 2}: merge {line!r} does not match encoder.json")
        merges.append((encoder[parts[0]], encoder[parts[1]]))
    specials = {text: i for text, i in encoder.items() if i >= 256 + len(merges)}
    return byte_order, merges, specials
