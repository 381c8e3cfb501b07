"""RegMean (Jin et al., 2023): for a linear layer, the weights that best reproduce every task
model's outputs on its own inputs: W^T = (sum_t G_t)^-1 sum_t G_t W_t^T, G_t = X_t^T X_t / n, with
the off-diagonals of each G_t scaled by alpha. Tensors without a Gram (biases, norms) are averaged.

In task-vector form the base cancels: (sum G)^-1 sum G_t (W_0 + dW_t)^T - W_0^T = (sum G)^-1 sum G_t dW_t^T.
The solve runs in float64 because Grams of few tokens are badly conditioned."""

from __future__ import annotations

from .method import MergeMethod, ModuleInput, ModuleOutput


class RegMean(MergeMethod):
    needs = frozenset({"gram"})

    def __init__(self, alpha: float = 0.9):
        self.alpha = alpha

    def merge(self, module: ModuleInput) -> ModuleOutput:
        import torch

        grams = module.stats.get("gram")
        deltas = module.deltas
        if not grams or deltas[0].dim() != 2:
            return ModuleOutput(torch.stack(deltas).mean(0))
        total = None
        rhs = None
        for gram, delta in zip(grams, deltas):
            g = gram.to(device=delta.device, dtype=torch.float64)
            g = self.alpha * g + (1.0 - self.alpha) * torch.diag(torch.diagonal(g))
            term = g @ delta.double().T
            total = g if total is None else total + g
            rhs = term if rhs is None else rhs + term
        try:
            solved = torch.linalg.solve(total, rhs)
        except RuntimeError:  # singular (alpha = 1 with fewer tokens than inputs): least squares
            solved = torch.linalg.pinv(total) @ rhs
        return ModuleOutput(solved.T.to(deltas[0].dtype))
