"""Data-parallel training with `torchrun`: one process per device, gradients averaged after each backward.

`torchrun --nproc_per_node N -m lanternlm train ...` sets RANK / WORLD_SIZE / LOCAL_RANK; we join the process
group (gloo on CPU, nccl on GPUs), wrap the model in DistributedDataParallel, give every rank its own share
of each step's windows, and let only rank 0 write files. Models too large for one device need sharding
instead (PyTorch FSDP), which Lantern does not do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """Average a tensor over all ranks (for logging the global loss)."""
        if self.enabled:
            value = value.detach().clone()
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
            value /= self.world_size
        return value


def init_distributed(device_name: str) -> DistContext:
    """Join the torchrun process group if there is one; a plain run gets a single-process context."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    context = DistContext(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    if use_cuda:
        torch.cuda.set_device(context.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return context


def distributed_device(context: DistContext, device_name: str) -> str:
    """Each rank drives its own GPU (cuda:LOCAL_RANK); on CPU all ranks share the host."""
    if context.enabled and torch.cuda.is_available() and device_name in ("auto", "cuda"):
        return f"cuda:{context.local_rank}"
    return device_name


def shutdown_distributed(context: DistContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()
