"""Core Space merging (Panariello et al., 2025): merge LoRA updates inside the small space spanned
by the stacked factors, never densifying a task's update.

U_ref = left singular vectors of [B_1 ... B_T] (d_out x Tr), V_ref = right singular vectors of
[A_1; ...; A_T] (Tr x d_in); task t's core is M_t = U_ref^T B_t A_t V_ref^T (Tr x Tr). Because
U_ref U_ref^T B_t = B_t and A_t V_ref^T V_ref = A_t, a linear merge of the cores is exactly the
dense one; non-linear merges (TIES) act on the aligned cores. dW = U_ref M V_ref."""

from __future__ import annotations

from .method import MergeMethod, ModuleInput, ModuleOutput
from .spectral import svd
from .task_arithmetic import GeneralTaskArithmetic


class CoreSpace(MergeMethod):
    needs = frozenset({"factors"})

    def __init__(self, inner: GeneralTaskArithmetic):
        self.inner = inner

    def merge(self, module: ModuleInput) -> ModuleOutput:
        import torch

        if module.factors is None:
            raise ValueError(f"core space merging needs LoRA factors; '{module.key}' has none")
        bs = [b.double() for b, _ in module.factors]
        as_ = [a.double() for _, a in module.factors]
        u_ref = svd(torch.cat(bs, dim=1))[0]
        v_ref = svd(torch.cat(as_, dim=0))[2]
        cores = [((u_ref.T @ b) @ (a @ v_ref.T)).float() for b, a in zip(bs, as_)]
        merged = self.inner.combine(cores, module.key).double()
        return ModuleOutput((u_ref @ merged @ v_ref).float())
