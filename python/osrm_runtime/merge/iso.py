"""Iso-C and Iso-CTS (Marczak et al., 2025): make the merged update's spectrum isotropic.

Iso-C: sum_t tau_t = U S V^T -> mean(S) U V^T (over the non-zero spectrum), so no task's
directions dominate. Iso-CTS: keep the top `common_fraction` of that common subspace and add, per
task, its top components orthogonal to it; re-orthogonalise the union and give every direction the
same singular value mean(S). Non-matrix tensors are summed as in task arithmetic."""

from __future__ import annotations

from .method import MergeMethod, ModuleInput, ModuleOutput
from .spectral import numerical_rank, orthogonalize, svd
from .tsv import top_components


class IsoC(MergeMethod):
    def merge(self, module: ModuleInput) -> ModuleOutput:
        import torch

        total = torch.stack(module.deltas).sum(0)
        if total.dim() != 2:
            return ModuleOutput(total)
        u, s, vh = svd(total)
        rank = numerical_rank(s, total.shape)
        if rank == 0:
            return ModuleOutput(torch.zeros_like(total))
        merged = s[:rank].mean() * (u[:, :rank] @ vh[:rank])
        return ModuleOutput(merged.to(total.dtype))


class IsoCTS(MergeMethod):
    def __init__(self, common_fraction: float = 0.8):
        self.common_fraction = common_fraction

    def merge(self, module: ModuleInput) -> ModuleOutput:
        import torch

        deltas = module.deltas
        total = torch.stack(deltas).sum(0)
        if total.dim() != 2:
            return ModuleOutput(total)
        u, s, vh = svd(total)
        # The space to fill: the layer's rank, or less when the tasks' updates are low-rank (LoRA).
        task_ranks = sum(numerical_rank(svd(d)[1], d.shape) for d in deltas)
        room = min(min(total.shape), task_ranks)
        common = min(int(self.common_fraction * room), numerical_rank(s, total.shape))
        per_task = (room - common) // len(deltas)
        if common == 0 and per_task == 0:
            return ModuleOutput(torch.zeros_like(total))
        u_c, vh_c = u[:, :common], vh[:common]
        parts_u, parts_vh = [u_c], [vh_c]
        if per_task > 0:
            # Task-specific directions: what the common subspace leaves of each task's update.
            residuals = [d.double() - u_c @ (u_c.T @ d.double()) for d in deltas]
            ru, _, rvh = top_components(residuals, per_task)
            parts_u.append(ru)
            parts_vh.append(rvh)
        basis_u = orthogonalize(torch.cat(parts_u, dim=1))
        basis_vh = orthogonalize(torch.cat(parts_vh, dim=0).T).T
        level = s[:numerical_rank(s, total.shape)].mean()
        return ModuleOutput((level * basis_u @ basis_vh).to(total.dtype))
