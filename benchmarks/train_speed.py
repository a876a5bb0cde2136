"""Training speed of the baby GPT (preset shakespeare-char-cpu, nanoGPT's published CPU config).

Runs the real `lantern train` code path on bundled Tiny Shakespeare and prints median ms/iter, tokens/s,
model-FLOPs utilisation against this machine's measured fp32 matmul peak, and the val loss at iteration 2,000.

Peer: nanoGPT runs exactly this configuration on this 2-core machine at 60-65 ms/iter median (eager; its
--compile=True is no faster here), a figure measured on this machine and quoted in the project's issue 2
(nanoGPT itself is not installable offline, so it cannot run in the same process).

    .venv/bin/python benchmarks/train_speed.py [--iters 2000] [--seed S]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from lanternlm.config import resolve_config
from lanternlm.data import read_corpus, split_ids
from lanternlm.eval import evaluate_windows, token_byte_lengths
from lanternlm.inspect.params import flops_per_token
from lanternlm.runs import load_run
from lanternlm.train import train
from lanternlm.train.flops import measured_matmul_flops

NANOGPT_MS_PER_ITER = (60.0, 65.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=None, help="train.seed (default: the preset's, 1337)")
    args = parser.parse_args()
    peak = measured_matmul_flops("cpu", torch.float32, n=1024, repeats=20) / 1e9
    overrides = [f"max_iters={args.iters}"] + ([f"seed={args.seed}"] if args.seed is not None else [])
    config = resolve_config("shakespeare-char-cpu", overrides=overrides)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = train(config, f"{tmp}/run", quiet=True)
        wall = time.perf_counter() - started
        run = load_run(f"{tmp}/run")
        _, val = split_ids(run.tokenizer.encode(read_corpus([])), config.data.val_fraction)
        exact = evaluate_windows(run.model, val, config.model.block_size, token_byte_lengths(run.tokenizer))
    tokens_per_iter = config.train.batch_size * config.model.block_size
    achieved = flops_per_token(config.model)[1] * tokens_per_iter / (result.ms_per_iter / 1000) / 1e9
    nano = sum(NANOGPT_MS_PER_ITER) / 2
    print(f"machine: {torch.get_num_threads()} threads, fp32 matmul peak {peak:.1f} GFLOP/s (1024^3)")
    print(f"lantern: {result.ms_per_iter:.1f} ms/iter median, {result.tokens_per_sec:,.0f} tokens/s, "
          f"MFU {100 * achieved / peak:.0f}% ({achieved:.1f} GFLOP/s), wall {wall:.0f} s for {result.steps} iters")
    print(f"seed {config.train.seed}: val loss at iter {result.steps}: {result.val_loss:.4f} (20-batch estimate, "
          f"as nanoGPT reports); {exact.loss:.4f} over every one of the {exact.tokens:,} validation tokens")
    print(f"nanoGPT anchor: {NANOGPT_MS_PER_ITER[0]:.0f}-{NANOGPT_MS_PER_ITER[1]:.0f} ms/iter -> speed-up "
          f"{NANOGPT_MS_PER_ITER[0] / result.ms_per_iter:.2f}x-{NANOGPT_MS_PER_ITER[1] / result.ms_per_iter:.2f}x "
          f"(midpoint {nano / result.ms_per_iter:.2f}x)")


if __name__ == "__main__":
    main()
