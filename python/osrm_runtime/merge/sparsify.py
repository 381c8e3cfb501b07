"""Sparsifications of one task vector: magnitude trimming (TIES) and random drop-and-rescale (DARE).

Trimming keeps the `round(density * n)` largest-magnitude entries, either of each tensor or of the
task's whole vector ("global"). A global threshold is found exactly while streaming: the k-th
largest |x| is located by a two-pass radix select on the float32 bit patterns (non-negative floats
order like their bit patterns), so no task's whole vector is ever held at once.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable, Iterable, Optional


class Sparsifier:
    needs_global_pass = False

    def __call__(self, vector, task: int, key: str):
        raise NotImplementedError


def keep_count(density: float, n: int) -> int:
    return int(round(density * n))


@dataclass
class MagnitudeTrim(Sparsifier):
    density: float
    scope: str = "tensor"  # "tensor" | "global"
    thresholds: Optional[list] = None  # per task, set by fit_global for scope "global"

    @property
    def needs_global_pass(self) -> bool:  # type: ignore[override]
        return self.scope == "global"

    def __call__(self, vector, task: int, key: str):
        import torch

        if self.density >= 1.0:
            return vector
        if self.scope == "global":
            if self.thresholds is None:
                raise RuntimeError("global trimming needs its thresholds (fit_global) before merging")
            return torch.where(vector.abs() >= self.thresholds[task], vector, torch.zeros_like(vector))
        k = keep_count(self.density, vector.numel())
        flat = vector.reshape(-1)
        kept = torch.zeros_like(flat)
        if k > 0:
            index = flat.abs().topk(k, sorted=False).indices
            kept[index] = flat[index]
        return kept.view_as(vector)

    def fit_global(self, task_vectors: Callable[[], Iterable[list]], tasks: int) -> None:
        """task_vectors() yields, per tensor, the list of T task vectors (as this trim sees them)."""
        self.thresholds = kth_largest_abs(task_vectors, tasks, self.density)


def _bits(vector):
    import torch

    return vector.detach().abs().float().reshape(-1).contiguous().view(torch.int32).long()


def kth_largest_abs(task_vectors: Callable[[], Iterable[list]], tasks: int, density: float) -> list[float]:
    """Per task, the exact k-th largest |x| over all its tensors, k = round(density * n)."""
    import torch

    high = [torch.zeros(1 << 15, dtype=torch.long) for _ in range(tasks)]
    total = [0] * tasks
    for vectors in task_vectors():
        for t, v in enumerate(vectors):
            bits = _bits(v).cpu()
            high[t] += torch.bincount(bits >> 16, minlength=1 << 15)
            total[t] += bits.numel()
    wanted = [keep_count(density, n) for n in total]
    chosen_high, remaining = [], []
    for t in range(tasks):
        if wanted[t] == 0:
            chosen_high.append(None)
            remaining.append(0)
            continue
        above = torch.flip(torch.cumsum(torch.flip(high[t], [0]), 0), [0])  # count of values in bins >= b
        h = int(torch.nonzero(above >= wanted[t]).max())
        chosen_high.append(h)
        remaining.append(wanted[t] - (int(above[h + 1]) if h + 1 < len(above) else 0))
    low = [torch.zeros(1 << 16, dtype=torch.long) for _ in range(tasks)]
    for vectors in task_vectors():
        for t, v in enumerate(vectors):
            if chosen_high[t] is None:
                continue
            bits = _bits(v).cpu()
            inside = bits[(bits >> 16) == chosen_high[t]]
            low[t] += torch.bincount(inside & 0xFFFF, minlength=1 << 16)
    out = []
    for t in range(tasks):
        if chosen_high[t] is None:
            out.append(float("inf"))
            continue
        above = torch.flip(torch.cumsum(torch.flip(low[t], [0]), 0), [0])
        lo = int(torch.nonzero(above >= remaining[t]).max())
        pattern = torch.tensor([(chosen_high[t] << 16) | lo], dtype=torch.int32)
        out.append(float(pattern.view(torch.float32)[0]))
    return out


@dataclass
class RandomDrop(Sparsifier):
    """DARE: drop each entry with probability p, rescale survivors by 1/(1-p).

    The mask is drawn on the CPU from a generator seeded by (seed, task, tensor name), so a merge
    is reproducible whatever the device and whatever order tensors are visited in."""

    drop_rate: float
    seed: int = 42

    def __call__(self, vector, task: int, key: str):
        import torch

        if self.drop_rate <= 0.0:
            return vector
        generator = torch.Generator().manual_seed(
            (self.seed * 1_000_003 + task * 7_919 + zlib.crc32(key.encode())) % (2**63))
        keep = torch.rand(vector.shape, generator=generator) >= self.drop_rate
        return torch.where(keep.to(vector.device), vector / (1.0 - self.drop_rate), torch.zeros_like(vector))
