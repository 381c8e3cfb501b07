"""Data-parallel training under torchrun: one process per GPU, gradients all-reduced by DDP.

A single process (WORLD_SIZE unset or 1) never touches torch.distributed, so the common case
carries no distributed machinery. Under torchrun every rank computes the same batch order from
the same seed and takes every world-th batch, which is what DistributedSampler does; only rank 0
evaluates and writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    local_rank: int = 0
    world: int = 1

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup() -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch
    import torch.distributed as dist

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return Dist(rank, local_rank, world)


def device_for(d: Dist):
    import torch

    from ..models import device

    if d.enabled and torch.cuda.is_available():
        return torch.device("cuda", d.local_rank)
    return device()


def shard(batches: list, d: Dist) -> list:
    """This rank's batches. The list is padded by wrapping around so every rank runs the same
    number of steps (DDP hangs otherwise), as DistributedSampler pads with repeated samples."""
    if not d.enabled:
        return batches
    per_rank = -(-len(batches) // d.world)
    padded = batches + batches[: per_rank * d.world - len(batches)]
    return padded[d.rank::d.world]


def wrap(model, d: Dist):
    if not d.enabled:
        return model
    import torch
    from torch.nn.parallel import DistributedDataParallel

    ids = [d.local_rank] if torch.cuda.is_available() else None
    return DistributedDataParallel(model, device_ids=ids)


def mean_over_ranks(value: float, d: Dist) -> float:
    if not d.enabled:
        return value
    import torch
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=device_for(d))
    dist.all_reduce(t)
    return float(t.item()) / d.world


def broadcast_flag(flag: bool, d: Dist) -> bool:
    """Rank 0's decision (e.g. a failed check) for everyone, so no rank waits on a dead peer."""
    if not d.enabled:
        return flag
    import torch
    import torch.distributed as dist

    t = torch.tensor([1 if flag else 0], device=device_for(d))
    dist.broadcast(t, src=0)
    return bool(t.item())


def barrier(d: Dist) -> None:
    if d.enabled:
        import torch.distributed as dist

        dist.barrier()


def teardown(d: Dist) -> None:
    if d.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
