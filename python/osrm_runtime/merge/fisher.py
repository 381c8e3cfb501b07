"""Fisher merging (Matena and Raffel, 2022): a per-parameter weighted average of the task models,
weighted by each task's diagonal Fisher information (computed in statistics.py).

In task-vector form theta_t = theta_0 + tau_t, so sum_t F_t theta_t / sum_t F_t
= theta_0 + sum_t F_t tau_t / sum_t F_t: the base weights are never needed."""

from __future__ import annotations

from .method import MergeMethod, ModuleInput, ModuleOutput


class FisherMerging(MergeMethod):
    needs = frozenset({"fisher"})

    def __init__(self, floor: float = 1e-6):
        self.floor = floor

    def merge(self, module: ModuleInput) -> ModuleOutput:
        import torch

        weights = torch.stack([f.to(module.deltas[0]) for f in module.stats["fisher"]]) + self.floor
        deltas = torch.stack(module.deltas)
        return ModuleOutput((weights * deltas).sum(0) / weights.sum(0))
