"""Training speed of the baby GPT (preset shakespeare-char-cpu, nanoGPT's published CPU config).

Runs the real `lantern train` code path on bundled Tiny Shakespeare and prints median ms/iter, tokens/s,
model-FLOPs utilisation against this machine's measured fp32 matmul peak, and the val loss at iteration 2,000.

Peer: nanoGPT runs exactly this configuration on this 2-core machine at 60-65 ms/iter median (eager; its
--compile=True is no faster here), a figure measured on this machine and quoted in the project's issue 2
(nanoGPT itself is not installable offline, so it cannot run in the same process).

    .venv/bin/python benchmarks/train_speed.py [--iters 2000] [--seeds S ...] [--window-sampling random epoch]

With several seeds and/or both window samplers it trains every combination and ends with the mean validation
loss per sampler and the mean paired difference (epoch - random, same seed): the loss at iteration 2,000
varies by about ±0.01 from seed to seed, so one run cannot settle a 0.01 difference.
"""

from __future__ import annotations

import argparse
import statistics
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
PRESET = "shakespeare-char-cpu"


def run_once(seed: int | None, sampling: str, iters: int, peak: float) -> float:
    """Train the preset once; print speed and validation loss; return the loss over every validation token."""
    overrides = [f"max_iters={iters}", f"window_sampling={sampling}"] + ([f"seed={seed}"] if seed is not None else [])
    config = resolve_config(PRESET, overrides=overrides)
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
    print(f"seed {config.train.seed}, {sampling} windows: {result.ms_per_iter:.1f} ms/iter median, "
          f"{result.tokens_per_sec:,.0f} tokens/s, MFU {100 * achieved / peak:.0f}% ({achieved:.1f} GFLOP/s), "
          f"wall {wall:.0f} s for {result.steps} iters; vs nanoGPT {NANOGPT_MS_PER_ITER[0] / result.ms_per_iter:.2f}x-"
          f"{NANOGPT_MS_PER_ITER[1] / result.ms_per_iter:.2f}x (midpoint {nano / result.ms_per_iter:.2f}x)")
    print(f"  val loss at iter {result.steps}: {result.val_loss:.4f} (20-batch estimate, as nanoGPT reports); "
          f"{exact.loss:.4f} over every one of the {exact.tokens:,} validation tokens", flush=True)
    return exact.loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[None], help="train.seed values (default: the "
                        "preset's, 1337)")
    parser.add_argument("--window-sampling", nargs="+", choices=["random", "epoch"], default=None,
                        help="data.window_sampling: random (the preset's, nanoGPT's) and/or epoch (shuffled passes)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: one per core)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    peak = measured_matmul_flops("cpu", torch.float32, n=1024, repeats=20) / 1e9
    print(f"machine: {torch.get_num_threads()} threads, fp32 matmul peak {peak:.1f} GFLOP/s (1024^3)")
    samplings = args.window_sampling or [resolve_config(PRESET).data.window_sampling]
    losses = {(seed, s): run_once(seed, s, args.iters, peak) for seed in args.seeds for s in samplings}
    if len(losses) > 1:
        for sampling in samplings:
            values = [losses[seed, sampling] for seed in args.seeds]
            print(f"{sampling} windows: mean val loss {statistics.mean(values):.4f} over {len(values)} seed(s)"
                  + (f", sd {statistics.stdev(values):.4f}" if len(values) > 1 else ""))
        if sorted(samplings) == ["epoch", "random"]:
            diffs = [losses[seed, "epoch"] - losses[seed, "random"] for seed in args.seeds]
            print(f"epoch - random, same seed: mean {statistics.mean(diffs):+.4f} "
                  f"({', '.join(f'{d:+.4f}' for d in diffs)})")


if __name__ == "__main__":
    main()
