"""What a training step costs and how well the hardware is used.

FLOPs per token ≈ 6·N (forward 2·N, backward 4·N for the N weights each token passes through) plus
12·L·d·T for the attention scores and mixing over a context of T (the PaLM convention). MFU (model-FLOPs
utilisation) = achieved FLOP/s ÷ the device's peak FLOP/s.
"""

from __future__ import annotations

import functools
import resource
import time
import warnings

import torch

# dense peak FLOP/s of common accelerators by dtype (vendor datasheets); other GPUs fall back to measuring
GPU_PEAK_FLOPS = {
    "H100": {torch.bfloat16: 989e12, torch.float16: 989e12, torch.float32: 67e12},
    "H200": {torch.bfloat16: 989e12, torch.float16: 989e12, torch.float32: 67e12},
    "A100": {torch.bfloat16: 312e12, torch.float16: 312e12, torch.float32: 19.5e12},
}


def active_parameters(model: torch.nn.Module) -> int:
    """Weights a token's forward pass multiplies by: all but position tables (a lookup, not a matmul) and,
    with a mixture of experts, only the k routed experts out of n."""
    total = sum(p.numel() for name, p in model.named_parameters() if "wpe" not in name)
    config = getattr(model, "config", None)
    n_expert = getattr(config, "n_expert", 0)
    if n_expert:
        expert_params = sum(p.numel() for name, p in model.named_parameters() if ".experts." in name)
        total -= expert_params * (n_expert - config.n_expert_active) // n_expert
    return total


def training_flops_per_token(model: torch.nn.Module) -> float:
    c = model.config
    return 6 * active_parameters(model) + 12 * c.n_layer * c.n_embd * c.block_size


@functools.lru_cache(maxsize=None)
def measured_matmul_flops(device_type: str, dtype: torch.dtype, n: int = 1024, repeats: int = 8) -> float:
    """Peak FLOP/s measured with square matmuls (used for CPUs and unknown GPUs)."""
    device = torch.device(device_type)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - started)


def peak_flops(device: torch.device, dtype: torch.dtype) -> float:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, table in GPU_PEAK_FLOPS.items():
            if key in name and dtype in table:
                return table[dtype]
    return measured_matmul_flops(device.type, dtype)


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated, or the process's peak resident memory on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


class compile_or_eager:  # noqa: N801  (used like a function)
    """torch.compile the module; if compiling fails at the first call, warn once and run it eagerly."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.eager = module
        self.compiled = torch.compile(module)
        self.failed = False

    def __call__(self, *args, **kwargs):
        if self.failed:
            return self.eager(*args, **kwargs)
        try:
            return self.compiled(*args, **kwargs)
        except Exception as exc:  # inductor needs a C++ toolchain and supported ops; eager always works
            warnings.warn(f"torch.compile failed ({exc.__class__.__name__}); training eagerly instead", stacklevel=2)
            self.failed = True
            return self.eager(*args, **kwargs)
