"""How well training uses the hardware: MFU (model-FLOPs utilisation) = achieved FLOP/s ÷ peak FLOP/s,
with the FLOPs per token of `inspect.params.flops_per_token` (≈ 6·N + 12·L·d·T)."""

from __future__ import annotations

import functools
import os
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


@functools.lru_cache(maxsize=None)
def measured_matmul_flops(device_type: str, dtype: torch.dtype, n: int = 1024, repeats: int = 8) -> float:
    """Peak FLOP/s measured with square matmuls (used for CPUs and unknown GPUs).

    The operands come from a generator of their own: drawing from the global one would shift dropout after
    a resume (this runs once per process, so once more in a resumed run than in an uninterrupted one)."""
    device = torch.device(device_type)
    generator = torch.Generator(device).manual_seed(0)
    a, b = (torch.randn(n, n, device=device, dtype=dtype, generator=generator) for _ in range(2))
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


def device_memory_bytes(device: torch.device) -> int | None:
    """Total memory of a GPU, or of the machine for the CPU; None where unknown (MPS, non-Linux hosts)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    if device.type == "cpu":
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return None
    return None


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
