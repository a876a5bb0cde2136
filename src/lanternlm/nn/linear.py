"""A linear layer, y = x Wᵀ + b, whose few-row products use every CPU core.

Decoding one token multiplies every weight matrix by a single vector, so it is bound by how fast the weights
stream from memory. On the CPU, MKL runs that matrix-vector product (and small GEMMs up to about a hundred
rows) on one thread, leaving the other cores' share of the memory bandwidth idle. Splitting W's rows into one
block per thread and multiplying the blocks as a batch (`torch.bmm` runs the batch in parallel) lets every core
stream its own block: GPT-2-small decodes about 1.4x faster on 2 cores (benchmarks/generate_hf.py). Each output
is still one dot product of a row of W with x; only the kernel differs. Parameters and state dict are
nn.Linear's; many-row inputs (training, long prefills) and GPUs take the ordinary path.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

SPLIT_MAX_ROWS = 128  # above this many rows MKL's own GEMM keeps the cores busy (measured crossover)


def row_split_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, blocks: int) -> torch.Tensor:
    """F.linear(x, weight, bias) computed as `blocks` parallel products over row blocks of weight (no copies:
    the blocks are views); the out_features % blocks leftover rows get one small product of their own."""
    out_features, in_features = weight.shape
    rows_per_block = out_features // blocks
    split = rows_per_block * blocks
    x2 = x.reshape(-1, in_features)
    w_blocks = weight[:split].view(blocks, rows_per_block, in_features)
    y = torch.bmm(x2.expand(blocks, *x2.shape), w_blocks.transpose(1, 2))  # (blocks, rows, rows_per_block)
    y = y.transpose(0, 1).reshape(x2.size(0), split)
    if split < out_features:
        y = torch.cat([y, F.linear(x2, weight[split:])], dim=1)
    if bias is not None:
        y = y + bias
    return y.view(*x.shape[:-1], out_features)


class Linear(nn.Linear):
    """nn.Linear that routes few-row CPU inputs through `row_split_linear` (one row block per thread)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling():  # compiled graphs pick their own kernels (and must not break here)
            return super().forward(x)
        threads = torch.get_num_threads()
        rows = x.numel() // max(x.size(-1), 1)
        if x.device.type != "cpu" or threads < 2 or rows > SPLIT_MAX_ROWS or self.out_features < threads:
            return super().forward(x)
        return row_split_linear(x, self.weight, self.bias, threads)
