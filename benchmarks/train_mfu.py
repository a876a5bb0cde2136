"""Model-FLOPs utilisation (MFU) of training the GPT-2 124M shape on this CPU, ours against transformers.

MFU = (model FLOPs per token x tokens per second) / peak FLOP/s. Model FLOPs per token are the textbook
6N + 12·L·T·d (`lanternlm.inspect.params.flops_per_token`: N the matmul weights, T the context), the same for
both models since they have the same shape; the peak is `matmul_peak.py`'s best fp32 matmul throughput,
measured in this process just before and after the training steps (their mean is used).

Peer: transformers' `GPT2LMHeadModel` of the same shape (random weights), trained with the same AdamW, in the
same process with steps interleaved (ours, theirs, ours, ...) so both see the same machine load.

    .venv/bin/python benchmarks/train_mfu.py [--steps 4] [--block 256] [--batch 4] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from matmul_peak import peak_gflops

from lanternlm.config import resolve_config
from lanternlm.inspect.params import flops_per_token
from lanternlm.models import build_model


def train_step(model, optimizer, x, y, hf: bool) -> float:
    started = time.perf_counter()
    loss = model(x, labels=x).loss if hf else model(x, y).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per model (after one warm-up step)")
    parser.add_argument("--block", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--no-peer", action="store_true", help="skip transformers")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = resolve_config("gpt2", overrides=[f"block_size={args.block}"]).model
    tokens = args.batch * args.block
    flops = flops_per_token(config)[1]
    print(f"gpt2 shape, block {args.block}, batch {args.batch}, fp32, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {flops / 1e6:.1f} MFLOP per token")

    peak_before = peak_gflops()
    torch.manual_seed(0)
    models = {"lantern": build_model(config)}
    if not args.no_peer:
        import transformers

        hf_config = transformers.GPT2Config(n_positions=args.block, n_embd=768, n_layer=12, n_head=12,
                                            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
        hf_config._attn_implementation = "sdpa"
        models["transformers"] = transformers.GPT2LMHeadModel(hf_config).train()
    optimizers = {name: torch.optim.AdamW(m.parameters(), lr=1e-4, fused=True) for name, m in models.items()}
    x = torch.randint(config.vocab_size, (args.batch, args.block))
    y = torch.roll(x, -1, dims=1)
    times: dict[str, list[float]] = {name: [] for name in models}
    for step in range(args.steps + 1):
        for name, model in models.items():
            seconds = train_step(model, optimizers[name], x, y, hf=name == "transformers")
            if step:  # the first step pays one-off allocation costs
                times[name].append(seconds)
    peak = (peak_before + peak_gflops()) / 2
    print(f"peak fp32 matmul: {peak_before:.1f} GFLOP/s before, {peak:.1f} mean")
    for name, samples in times.items():
        median = statistics.median(samples)
        achieved = flops * tokens / median / 1e9
        print(f"{name:>13}: {median:.2f} s/step (median of {len(samples)}), {tokens / median:,.0f} tokens/s, "
              f"{achieved:.1f} GFLOP/s, MFU {100 * achieved / peak:.1f}%")
    if len(times) == 2:
        ratio = statistics.median(times["lantern"]) / statistics.median(times["transformers"])
        print(f"time per step, lantern / transformers: {ratio:.2f}x")


if __name__ == "__main__":
    main()
