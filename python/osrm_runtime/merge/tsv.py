"""TSV-Merge (Gargiulo et al., 2025): keep each task's top singular components of a layer update,
concatenate them, and remove the interference between tasks by re-orthogonalising the stacked
left and right singular vectors (nearest orthonormal matrices); dW = U_perp diag(S) V_perp^T.
Non-matrix tensors are averaged."""

from __future__ import annotations

from typing import Optional

from .method import MergeMethod, ModuleInput, ModuleOutput
from .spectral import numerical_rank, orthogonalize, svd


def top_components(deltas: list, per_task: int):
    """Per task its top `per_task` non-zero singular triplets, concatenated (U, S, V^T)."""
    import torch

    us, ss, vhs = [], [], []
    for delta in deltas:
        u, s, vh = svd(delta)
        k = min(per_task, numerical_rank(s, delta.shape))
        us.append(u[:, :k])
        ss.append(s[:k])
        vhs.append(vh[:k])
    return torch.cat(us, dim=1), torch.cat(ss), torch.cat(vhs, dim=0)


class TSVMerge(MergeMethod):
    def __init__(self, sv_fraction: Optional[float] = None):
        self.sv_fraction = sv_fraction  # None: 1/T of the layer's rank

    def merge(self, module: ModuleInput) -> ModuleOutput:
        import torch

        deltas = module.deltas
        if deltas[0].dim() != 2:
            return ModuleOutput(torch.stack(deltas).mean(0))
        fraction = self.sv_fraction if self.sv_fraction is not None else 1.0 / len(deltas)
        per_task = max(1, int(fraction * min(deltas[0].shape)))
        u, s, vh = top_components(deltas, per_task)
        if s.numel() == 0:
            return ModuleOutput(torch.zeros_like(deltas[0]))
        merged = orthogonalize(u) @ torch.diag(s) @ orthogonalize(vh.T).T
        return ModuleOutput(merged.to(deltas[0].dtype))
