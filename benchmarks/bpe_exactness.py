"""Exactness on the full corpora: our GPT-2 / cl100k / o200k tokenizers (loaded from the files in
../shared/data/tokenizers) vs tiktoken built from the same local files, on every text corpus in ../shared/data.

    .venv/bin/python benchmarks/bpe_exactness.py [--reference-chars 3000000]

The fast path is compared on every whole file; the readable reference encoder on the first
--reference-chars characters of each file (it runs at about 1 MB/s). Prints the number of tokens compared.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_bpe_vocabs import CORPORA, SHARED_DATA as DATA, TOK, load_ours, load_theirs  # noqa: E402


def read(relative: str) -> str:
    path = DATA / relative
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return fh.read()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference-chars", type=int, default=3_000_000)
    args = parser.parse_args()
    ours, theirs = load_ours(), load_theirs()
    fast_total = ref_total = golden_total = 0
    for line in (TOK / "reference_encodings.jsonl").open(encoding="utf-8"):
        rec = json.loads(line)
        allowed = "all" if rec["name"] == "special_token_allowed" else ()
        for name, tok in ours.items():
            assert tok.encode(rec["text"], allowed) == tok.encode_reference(rec["text"], allowed) == rec[name]
            golden_total += len(rec[name])
    print(f"golden file: {golden_total:,} tokens equal (fast path and reference, 3 vocabularies)")
    for relative in CORPORA:
        text = read(relative)
        head = text[: args.reference_chars]
        for name, tok in ours.items():
            start = time.perf_counter()
            expected = theirs[name].encode(text, disallowed_special=())
            assert tok.encode(text) == expected, (relative, name)
            assert tok.decode(expected) == text
            head_ids = theirs[name].encode(head, disallowed_special=())
            assert tok.encode_reference(head) == head_ids, (relative, name)
            fast_total += len(expected)
            ref_total += len(head_ids)
            print(f"{relative:42} {name:12} {len(expected):>11,} tokens equal "
                  f"({len(head_ids):,} by the reference encoder) {time.perf_counter() - start:6.1f} s")
    print(f"total: fast path {fast_total:,} tokens, reference encoder {ref_total:,} tokens, "
          f"golden {golden_total:,} tokens -- all equal to tiktoken")


if __name__ == "__main__":
    main()
