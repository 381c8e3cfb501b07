"""EMR-Merging (Huang et al., 2024): one unified task vector plus, per task, a 1-bit mask and a
scalar rescaler. Tuning-free; each task is served by theta_0 + g_t * M_t * tau_uni.

The rescaler is one scalar per task over the whole model (as in the reference code), so it is
accumulated across the streamed tensors and finalised in finish()."""

from __future__ import annotations

from .method import MergeMethod, ModuleInput, ModuleOutput


class EMRMerging(MergeMethod):
    def __init__(self):
        self.own_mass: list[float] = []     # sum |tau_t|
        self.masked_mass: list[float] = []  # sum |M_t * tau_uni|

    def merge(self, module: ModuleInput) -> ModuleOutput:
        import torch

        stacked = torch.stack(module.deltas)
        # The reference maps a zero sum to -1: flag = 2 * (sum > 0) - 1.
        flag = torch.where(stacked.sum(0) > 0, 1.0, -1.0).to(stacked.dtype)
        masks = (stacked * flag) > 0
        unified = flag * (stacked * masks).abs().amax(0)
        if not self.own_mass:
            self.own_mass = [0.0] * len(stacked)
            self.masked_mass = [0.0] * len(stacked)
        for t in range(len(stacked)):
            self.own_mass[t] += float(stacked[t].abs().sum(dtype=torch.float64))
            self.masked_mass[t] += float((unified * masks[t]).abs().sum(dtype=torch.float64))
        return ModuleOutput(unified, masks=list(masks))

    def finish(self) -> dict:
        return {"rescalers": [own / masked if masked > 0 else 0.0
                              for own, masked in zip(self.own_mass, self.masked_mass)]}
