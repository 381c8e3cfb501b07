"""Data-parallel training under torchrun: one process per device, gradients all-reduced by DDP.

A single process (WORLD_SIZE unset or 1) never touches torch.distributed, so the common case
carries no distributed machinery. The global batch is kept: every rank computes the same batch
order from the same seed, and each micro-batch of `training.batch_size` examples is split into
`world` contiguous parts, one per rank, so an optimizer step sees exactly the examples it sees in
one process (and `training.devices` changes the speed, not the result). Only rank 0 evaluates
and writes.
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


def check_batch(batch_size: int, d: Dist) -> None:
    if d.enabled and batch_size % d.world:
        raise ValueError(f"training.batch_size {batch_size} is not a multiple of the {d.world} processes "
                         f"training together (training.devices): each process runs batch_size / devices "
                         f"examples of every micro-batch")


def part(indices: list[int], d: Dist) -> list[int]:
    """This rank's share of one global micro-batch: the r-th of `world` contiguous slices of
    ceil(n / world) examples (a short last batch can leave a rank with none)."""
    if not d.enabled:
        return indices
    size = -(-len(indices) // d.world)
    return indices[d.rank * size:(d.rank + 1) * size]


def any_over_ranks(flags: list[bool], d: Dist) -> list[bool]:
    """Each flag true on any rank, for all ranks: decisions every rank must take at the same step
    (stop now, checkpoint now), or ranks would wait on each other forever."""
    if not d.enabled:
        return flags
    import torch
    import torch.distributed as dist

    t = torch.tensor([1 if f else 0 for f in flags], dtype=torch.int32, device=device_for(d))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


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
