"""Many processes and machines: ``torchrun`` starts them, ``torch.distributed`` joins them.

``torchrun --nproc-per-node K -m seewhy evaluate ...`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`join` reads them and starts the process group (gloo on the CPU,
nccl on GPUs). Rank ``r`` of ``K`` takes the images ``r, r + K, r + 2K, ...`` (no padding,
no image twice); at the end every rank's additive states and per-image records are gathered
to rank 0, which merges them and writes the report. Across machines::

    torchrun --nnodes 2 --node-rank 0 --nproc-per-node 4 \\
        --rdzv-backend c10d --rdzv-endpoint HOST:29500 -m seewhy evaluate ...
    torchrun --nnodes 2 --node-rank 1 --nproc-per-node 4 \\
        --rdzv-backend c10d --rdzv-endpoint HOST:29500 -m seewhy evaluate ...
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["World", "join"]


@dataclass
class World:
    """This process's place: ``rank`` of ``size`` (1 process: rank 0 of 1, no group)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    started: bool = False

    def shard(self, count: int) -> list[int]:
        """The indices of ``count`` images this rank takes: ``rank, rank + size, ...``."""
        return list(range(self.rank, count, self.size))

    def gather(self, value: Any) -> list[Any] | None:
        """Every rank's ``value`` in rank order on rank 0 (None on the others)."""
        if self.size == 1:
            return [value]
        import torch.distributed as dist

        found: list[Any] = [None] * self.size
        dist.all_gather_object(found, value)
        return found if self.rank == 0 else None

    def barrier(self) -> None:
        if self.size > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.started:
            import torch.distributed as dist

            dist.destroy_process_group()
            self.started = False


def join(device: str | None = None) -> World:
    """The world this process runs in: from torchrun's variables, the group started (gloo,
    or nccl when ``device`` is a GPU, which is then this process's ``cuda:LOCAL_RANK``)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    gpu = device is not None and str(device).startswith("cuda") and torch.cuda.is_available()
    if gpu:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if gpu else "gloo")
    return World(rank=rank, size=size, local_rank=local_rank, started=True)
