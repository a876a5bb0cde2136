"""This machine's fp32 matrix-multiply throughput: the "peak" that model-FLOPs utilisation (MFU) divides by.

A square n x n matmul costs 2·n³ FLOPs (n³ multiply-adds). For each size we repeat it for about a second and
keep the best of three timings; the peak is the best size. Peer: numpy's matmul (its BLAS) on the same
matrices, in the same process, so the ratio shows whether torch's CPU kernels reach the machine's BLAS speed.

    .venv/bin/python benchmarks/matmul_peak.py [--sizes 256 512 1024 2048] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch


def gflops(matmul, a, b, seconds: float = 1.0) -> float:
    """Best of three ~seconds/3 bursts of a @ b, in GFLOP/s."""
    n = a.shape[0]
    matmul(a, b)  # warm-up (thread pool, caches)
    best = 0.0
    for _ in range(3):
        count, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds / 3:
            matmul(a, b)
            count += 1
        best = max(best, 2 * n**3 * count / elapsed / 1e9)
    return best


def measure_peak(sizes=(256, 512, 1024, 2048), seconds: float = 1.0) -> dict[int, tuple[float, float]]:
    """{n: (torch GFLOP/s, numpy GFLOP/s)} for fp32 n x n matmuls."""
    results = {}
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        results[n] = (gflops(torch.matmul, a, b, seconds), gflops(np.matmul, a.numpy(), b.numpy(), seconds))
    return results


def peak_gflops(seconds: float = 1.0) -> float:
    """The best torch fp32 throughput over the sizes that matter for small transformers."""
    return max(t for t, _ in measure_peak(seconds=seconds).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per size and library")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, numpy {np.__version__}, {torch.get_num_threads()} torch threads, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"{'n':>6} {'torch GFLOP/s':>14} {'numpy GFLOP/s':>14} {'torch/numpy':>12}")
    results = measure_peak(args.sizes, args.seconds)
    for n, (ours, peer) in results.items():
        print(f"{n:>6} {ours:>14.1f} {peer:>14.1f} {ours / peer:>11.2f}x")
    best = max(results, key=lambda n: results[n][0])
    print(f"peak fp32 (torch): {results[best][0]:.1f} GFLOP/s at n = {best}")


if __name__ == "__main__":
    main()
