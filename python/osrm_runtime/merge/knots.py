"""KnOTS (Stoica et al., 2025): align the task updates of a module in one shared basis before
merging them. SVD of the concatenation [dW_1 ... dW_T] = U S [V_1 ... V_T]^T; the per-task blocks
S V_t^T live in the same coordinates U, so a TA-family merge of them means something; dW = U merged."""

from __future__ import annotations

from .method import MergeMethod, ModuleInput, ModuleOutput
from .spectral import numerical_rank, svd
from .task_arithmetic import GeneralTaskArithmetic


class KnOTS(MergeMethod):
    def __init__(self, inner: GeneralTaskArithmetic):
        self.inner = inner

    def merge(self, module: ModuleInput) -> ModuleOutput:
        import torch

        deltas = module.deltas
        if deltas[0].dim() != 2:
            return ModuleOutput(self.inner.combine(deltas, module.key))
        d_in = deltas[0].shape[1]
        concat = torch.cat(deltas, dim=1)
        u, s, vh = svd(concat)
        k = numerical_rank(s, concat.shape)
        u, s, vh = u[:, :k], s[:k], vh[:k]
        scaled = s[:, None] * vh
        blocks = [scaled[:, t * d_in:(t + 1) * d_in].float() for t in range(len(deltas))]
        merged = self.inner.combine(blocks, module.key)
        return ModuleOutput((u.float() @ merged).to(deltas[0].dtype))
