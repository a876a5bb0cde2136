"""Before attention: Bengio's fixed-context MLP and a GRU against the baby GPT on Tiny Shakespeare.

The same data (bundled Tiny Shakespeare, character tokenizer, last 10 % held out), the same trainer and
schedule (preset shakespeare-char-cpu: 2,000 iterations x 12 windows x 64 tokens, AdamW 1e-3 with cosine
decay), about the same number of parameters (~0.8 M each), trained one after the other in one process on one
thread (a GRU's many small per-position operations lose badly to thread contention on a shared machine).

Prints per model: parameters, median ms/iter and training tokens/s, the trainer's 20-batch validation estimate
and the loss over every validation token (`lantern eval`'s sliding windows, each starting fresh: every model
sees at most 64 tokens of context), sampling tokens/s, and a 200-character sample at temperature 0.8.

    .venv/bin/python benchmarks/before_attention.py [--iters 2000] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

from lanternlm.config import resolve_config
from lanternlm.data.splits import validation_split
from lanternlm.eval import evaluate_windows, token_byte_lengths
from lanternlm.generate import Engine, GenerationConfig
from lanternlm.runs import load_run
from lanternlm.train import train

PRESET = "shakespeare-char-cpu"
MODELS = {  # name -> overrides of the preset; parameter counts within 3 % of the GPT's 809,856
    "GPT (baby GPT, 4 layers x 128)": [],
    "GRU (2 layers x 256)": ["family=rnn", "n_layer=2", "n_embd=256"],
    "MLP (Bengio: 16 tokens x 32 dims, 2 x 640 tanh)": ["family=mlp", "context_tokens=16", "n_embd=32", "d_ff=640",
                                                        "n_layer=2"],
}


def run_model(name: str, overrides: list[str], iters: int, folder: str) -> dict:
    config = resolve_config(PRESET, overrides=overrides + [f"max_iters={iters}", f"lr_decay_iters={iters}"])
    started = time.perf_counter()
    result = train(config, f"{folder}/{config.model.family}", quiet=True)
    wall = time.perf_counter() - started
    run = load_run(f"{folder}/{config.model.family}")
    _, val = validation_split(run.config, run.tokenizer)
    exact = evaluate_windows(run.model, val, run.config.model.block_size, token_byte_lengths(run.tokenizer))
    engine = Engine(run.model, run.tokenizer)
    pieces = engine.stream("\n", config=GenerationConfig(max_new_tokens=200, temperature=0.8, seed=1337))
    sample = "".join(pieces)
    row = {"model": name, "parameters": run.model.num_parameters(), "ms_per_iter": result.ms_per_iter,
           "train_tokens_per_sec": result.tokens_per_sec, "wall_s": wall, "val_loss_estimate": result.val_loss,
           "val_loss": exact.loss, "bits_per_byte": exact.bits_per_byte,
           "sample_tokens_per_sec": pieces.stats.tokens_per_sec, "sample": sample}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        rows = [run_model(name, overrides, args.iters, folder) for name, overrides in MODELS.items()]
    print(f"\n{args.iters} iterations each, {args.threads} thread(s)\n")
    print("| model | parameters | ms/iter | train tokens/s | wall | val loss (20 batches) | val loss (all) "
          "| bits/byte | sampling tokens/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['parameters']:,} | {r['ms_per_iter']:.1f} | {r['train_tokens_per_sec']:,.0f} "
              f"| {r['wall_s']:.0f} s | {r['val_loss_estimate']:.4f} | {r['val_loss']:.4f} | {r['bits_per_byte']:.3f} "
              f"| {r['sample_tokens_per_sec']:,.0f} |")
    for r in rows:
        print(f"\n{r['model']}, 200 characters at temperature 0.8, seed 1337:\n```\n{r['sample']}\n```")


if __name__ == "__main__":
    main()
