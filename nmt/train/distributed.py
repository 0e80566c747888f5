"""This process's place among torchrun's processes, and what the ranks agree on."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from nmt.core.device import resolve_device


@dataclass(frozen=True)
class Distributed:
    """This process's place among torchrun's processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Distributed:
        """Read RANK / WORLD_SIZE / LOCAL_RANK set by torchrun (a single process otherwise)."""
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))

    def broadcast(self, values: torch.Tensor) -> torch.Tensor:
        """Rank 0's `values` on every rank (in place; a no-op in a single process)."""
        if self.world > 1:
            dist.broadcast(values, src=0)
        return values

    def agree(self, flag: bool, device: torch.device) -> bool:
        """Rank 0's flag on every rank (every rank's clock differs)."""
        if self.world == 1:
            return flag
        return bool(self.broadcast(torch.tensor([float(flag)], device=device)).item())

    def barrier(self) -> None:
        """Wait for every rank (a no-op in a single process)."""
        if self.world > 1:
            dist.barrier()


@contextlib.contextmanager
def process_group(ddp: Distributed, device: str) -> Iterator[None]:
    """Join torchrun's process group for the block (gloo on CPU, nccl on CUDA), if not joined yet."""
    if ddp.world > 1 and ":" in device:
        raise ValueError(f"device {device!r} names one GPU; under torchrun use 'cuda' or 'auto'")
    started = ddp.world > 1 and not dist.is_initialized()
    if started:
        dist.init_process_group("nccl" if resolve_device(device).type == "cuda" else "gloo")
    try:
        yield
    finally:
        if started:
            # Tear down together: a rank leaving while rank 0 still writes its checkpoint made
            # gloo abort the early rank ("terminate called without an active exception").
            dist.barrier()
            dist.destroy_process_group()
