"""BPE side by side with Hugging Face `tokenizers` (Rust) and tiktoken, in one run on this machine.

    .venv/bin/python benchmarks/bpe_train.py [--mb 20] [--vocab 32768]

1. Training wall time and peak memory (RSS of the process and its children) on the same ~20 MB slice of the
   Gutenberg corpus at vocab 32,768: ours (`train_bpe`, gpt2 pattern) vs HF ByteLevel BPE. Each trainer runs in
   its own fresh process so that peak memory is its own.
2. A 500-token vocabulary on taylorswift_wikipedia.txt (~185 KB), ours vs HF.
3. Encoding speed (MB/s, one call on 2 MB of held-out Gutenberg text): our reference encoder, our fast path,
   tiktoken on the same ranks, HF; and compression (bytes/token) of ours vs HF's vocabulary on that text.
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GUTENBERG = DATA / "corpora" / "gutenberg_en.txt.gz"
TAYLOR = DATA / "corpora" / "taylorswift_wikipedia.txt"
EOT = "<|endoftext|>"


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024  # Linux: kB; children = the largest worker


def train_ours(path: str, vocab: int, out: str, queue) -> None:
    from lanternlm.tokenizers.bpe_train import train_bpe

    start = time.perf_counter()
    tok = train_bpe([path], vocab, "gpt2", [EOT])
    seconds = time.perf_counter() - start
    tok.save(out)
    queue.put((seconds, peak_rss_mb()))


def train_hf(path: str, vocab: int, out: str, queue) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    start = time.perf_counter()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=[EOT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([path], trainer)
    seconds = time.perf_counter() - start
    tok.save(out)
    queue.put((seconds, peak_rss_mb()))


def in_fresh_process(target, *args) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def read_gutenberg(skip: int, chars: int) -> str:
    with gzip.open(GUTENBERG, "rt", encoding="utf-8", newline="") as fh:
        fh.read(skip)
        text = fh.read(chars)
    return text[: text.rfind("\n") + 1]


def mb_per_s(fn, text: str) -> tuple[float, list[int]]:
    start = time.perf_counter()
    ids = fn(text)
    return len(text.encode()) / 1e6 / (time.perf_counter() - start), list(ids)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=20.0)
    parser.add_argument("--vocab", type=int, default=32768)
    args = parser.parse_args()
    import tiktoken
    from tokenizers import Tokenizer

    from lanternlm.tokenizers import load_tokenizer

    tmp = Path(tempfile.mkdtemp(prefix="bpe_bench_"))
    corpus = tmp / "gutenberg_slice.txt"
    corpus.write_text(read_gutenberg(0, int(args.mb * 1e6)), encoding="utf-8", newline="")
    size_mb = corpus.stat().st_size / 1e6
    held_out = read_gutenberg(40_000_000, 2_000_000)
    print(f"python {sys.version.split()[0]}, {mp.cpu_count()} cores; corpus {size_mb:.1f} MB, vocab {args.vocab}")

    print("\n## training (fresh process each)")
    ours_s, ours_mb = in_fresh_process(train_ours, str(corpus), args.vocab, str(tmp / "ours.json"))
    hf_s, hf_mb = in_fresh_process(train_hf, str(corpus), args.vocab, str(tmp / "hf.json"))
    print(f"ours: {ours_s:6.2f} s  peak {ours_mb:6.0f} MB")
    print(f"HF  : {hf_s:6.2f} s  peak {hf_mb:6.0f} MB")
    print(f"time ratio ours/HF = {ours_s / hf_s:.2f}x   memory ratio = {ours_mb / hf_mb:.2f}x")

    small_s, _ = in_fresh_process(train_ours, str(TAYLOR), 500, str(tmp / "small.json"))
    small_hf, _ = in_fresh_process(train_hf, str(TAYLOR), 500, str(tmp / "small_hf.json"))
    print(f"\n## 500-token vocab on {TAYLOR.name} ({TAYLOR.stat().st_size / 1e3:.0f} KB): "
          f"ours {small_s:.3f} s, HF {small_hf:.3f} s")

    ours = load_tokenizer(tmp / "ours.json")
    hf = Tokenizer.from_file(str(tmp / "hf.json"))
    direct = tiktoken.Encoding("direct", pat_str=ours.pattern, mergeable_ranks=ours.ranks,
                               special_tokens=ours.special_tokens)
    ours.encode("warm up the fast path")
    print(f"\n## encoding {len(held_out.encode()) / 1e6:.1f} MB of held-out Gutenberg text (one call, MB/s)")
    ref_speed, ref_ids = mb_per_s(ours.encode_reference, held_out)
    fast_speed, fast_ids = mb_per_s(ours.encode, held_out)
    tik_speed, tik_ids = mb_per_s(lambda t: direct.encode(t, disallowed_special=()), held_out)
    hf_speed, hf_ids = mb_per_s(lambda t: hf.encode(t).ids, held_out)
    lines = held_out.splitlines(keepends=True)
    hf_batch_speed, _ = mb_per_s(lambda t: [i for e in hf.encode_batch(lines) for i in e.ids], held_out)
    assert ref_ids == fast_ids == tik_ids, "reference, fast path and tiktoken disagree"
    for name, speed in [("ours, reference", ref_speed), ("ours, fast path", fast_speed),
                        ("tiktoken (same ranks)", tik_speed), ("HF tokenizers", hf_speed),
                        ("HF encode_batch(lines)", hf_batch_speed)]:
        print(f"{name:22} {speed:7.2f} MB/s")
    n_bytes = len(held_out.encode())
    ours_bpt, hf_bpt = n_bytes / len(fast_ids), n_bytes / len(hf_ids)
    print(f"\n## compression on held-out text: ours {ours_bpt:.3f} bytes/token, HF {hf_bpt:.3f} "
          f"({100 * (ours_bpt / hf_bpt - 1):+.2f}%)")


if __name__ == "__main__":
    main()
