"""What a merging method sees of one tensor, and what it must return.

Methods work tensor by tensor (the driver streams them): they get the T task vectors of one
tensor (dense, made on demand), the LoRA factors when the inputs are adapters, and per-task
statistics for that tensor when they asked for data. 2-D weights are always presented in the
nn.Linear layout (d_out x d_in); the driver undoes GPT-2's Conv1D transpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional


@dataclass
class ModuleInput:
    key: str                                   # backbone parameter name, e.g. encoder.layer.0.attention.self.query.weight
    make_deltas: Callable[[], list]            # -> T dense task vectors (float32, on the merge device)
    factors: Optional[list] = None             # LoRA: per task (B, A) with dW = B @ A (scaling folded into B)
    stats: dict = field(default_factory=dict)  # e.g. {"fisher": [T tensors], "gram": [T d_in x d_in]}
    _deltas: Optional[list] = field(default=None, repr=False)

    @property
    def deltas(self) -> list:
        if self._deltas is None:
            self._deltas = self.make_deltas()
        return self._deltas

    @property
    def is_matrix(self) -> bool:
        return self.deltas[0].dim() == 2 if self.factors is None else True


@dataclass
class ModuleOutput:
    delta: Any                      # the merged task vector of this tensor (lambda not applied)
    masks: Optional[list] = None    # EMR: per task boolean masks of this tensor


class MergeMethod:
    """Base of every method. `needs` may hold "factors" (LoRA only), "fisher", "gram"."""

    needs: frozenset = frozenset()

    def prepare(self, stream: Callable[[], Iterable[ModuleInput]], tasks: int) -> None:
        """An optional pass over every tensor before merging (global thresholds)."""

    def merge(self, module: ModuleInput) -> ModuleOutput:
        raise NotImplementedError

    def finish(self) -> dict:
        """Per-task results known only after every tensor was seen (EMR's rescalers)."""
        return {}
