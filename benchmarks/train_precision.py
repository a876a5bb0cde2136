"""Training speed by precision and compilation: eager vs torch.compile, fp32 vs bf16 autocast, per preset.

Runs the real trainer (`lanternlm.train.train`) for a few steps in every combination and prints median
ms/iter (after the warm-up steps, so compilation is not counted), tokens/s and MFU. MFU is taken against the
fp32 matmul peak measured in this process for every row, so the rows compare: a bf16 row's MFU says how
much of the machine's best (fp32) throughput it reaches. This is the measurement behind `train.dtype=auto`
(fp32 on CPUs) and `train.compile=false` on the CPU presets.

    .venv/bin/python benchmarks/train_precision.py [--iters 20] [--bf16-iters 4] [--dtype float32] \\
        [--preset shakespeare-char-cpu] [--preset tinystories-cpu=DATA_DIR] [--preset gutenberg-cpu=DATA_DIR]

DATA_DIR is a `lantern prepare`d directory (the BPE presets need one); without --preset the char preset runs.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings

import torch

from lanternlm.config import resolve_config
from lanternlm.inspect.params import flops_per_token
from lanternlm.train import train
from lanternlm.train.flops import measured_matmul_flops

COMBINATIONS = [("float32", False), ("float32", True), ("bfloat16", False), ("bfloat16", True)]


def measure(preset: str, data_dir: str | None, dtype: str, compile_model: bool, iters: int) -> dict:
    overrides = [f"max_iters={iters}", f"eval_interval={iters}", f"checkpoint_interval={iters}", "eval_iters=1",
                 f"dtype={dtype}", f"compile={str(compile_model).lower()}"]
    if data_dir:
        overrides.append(f"data.data_dir={data_dir}")
    config = resolve_config(preset, overrides=overrides)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        result = train(config, f"{tmp}/run", quiet=True)
        wall = time.perf_counter() - started
    fell_back = any("torch.compile failed" in str(w.message) for w in caught)
    return {"ms": result.ms_per_iter, "tokens_per_sec": result.tokens_per_sec, "wall": wall,
            "flops_per_token": flops_per_token(config.model)[1], "fell_back": fell_back}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="append", help="NAME or NAME=DATA_DIR (repeatable)")
    parser.add_argument("--iters", type=int, default=20, help="steps per fp32 run (the median of the later half)")
    parser.add_argument("--bf16-iters", type=int, default=4, help="steps per bf16 run (bf16 is slow on CPUs)")
    parser.add_argument("--dtype", action="append", choices=["float32", "bfloat16"],
                        help="only these dtypes (repeatable; default both)")
    args = parser.parse_args()
    logging.getLogger("torch._inductor").setLevel(logging.ERROR)
    peak = measured_matmul_flops("cpu", torch.float32, n=1024, repeats=20)
    print(f"machine: {torch.get_num_threads()} torch threads, torch {torch.__version__}, fp32 matmul peak "
          f"{peak / 1e9:.1f} GFLOP/s, bf16 {measured_matmul_flops('cpu', torch.bfloat16, n=512, repeats=2) / 1e9:.1f}")
    print(f"{'preset':<22} {'dtype':<9} {'mode':<8} {'ms/iter':>9} {'tokens/s':>9} {'MFU':>6} {'wall s':>7}")
    for spec in args.preset or ["shakespeare-char-cpu"]:
        preset, _, data_dir = spec.partition("=")
        baseline = None
        for dtype, compile_model in COMBINATIONS:
            if args.dtype and dtype not in args.dtype:
                continue
            iters = args.bf16_iters if dtype == "bfloat16" else args.iters
            r = measure(preset, data_dir or None, dtype, compile_model, iters)
            baseline = baseline or r["tokens_per_sec"]
            mode = "compile" + (" (fell back to eager)" if r["fell_back"] else "") if compile_model else "eager"
            mfu = r["flops_per_token"] * r["tokens_per_sec"] / peak
            print(f"{preset:<22} {dtype:<9} {mode:<8} {r['ms']:9.1f} {r['tokens_per_sec']:9,.0f} {100 * mfu:5.1f}% "
                  f"{r['wall']:7.0f}   {r['tokens_per_sec'] / baseline:.2f}x fp32 eager", flush=True)


if __name__ == "__main__":
    main()
