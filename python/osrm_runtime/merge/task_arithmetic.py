"""Task arithmetic as ONE generalized method (mergekit's idea): a chain of sparsifications, an
optional sign consensus, and an aggregation. Weight averaging, task arithmetic, TIES, DARE-TA and
DARE-TIES are configurations of it (see registry.py), and KnOTS / Core Space reuse it on their
aligned representations."""

from __future__ import annotations

from dataclasses import dataclass, field

from .consensus import aggregate
from .method import MergeMethod, ModuleInput, ModuleOutput
from .sparsify import Sparsifier


@dataclass
class GeneralTaskArithmetic:
    sparsifiers: list[Sparsifier] = field(default_factory=list)
    consensus: str = "none"       # "none" | "sign_sum"
    reduce: str = "sum"           # "sum" | "mean" (with consensus: mean over agreeing tasks)

    def combine(self, vectors: list, key: str, seed_key: str | None = None):
        """Merge T same-shaped task vectors of one tensor into one (lambda is applied later)."""
        for sparsifier in self.sparsifiers:
            vectors = [sparsifier(v, task=t, key=seed_key or key) for t, v in enumerate(vectors)]
        return aggregate(vectors, self.consensus, self.reduce)

    @property
    def needs_global_pass(self) -> bool:
        return any(s.needs_global_pass for s in self.sparsifiers)


class TaskArithmeticMethod(MergeMethod):
    """Weight averaging, TA, TIES, DARE-TA, DARE-TIES: a GeneralTaskArithmetic on dense task vectors."""

    def __init__(self, core: GeneralTaskArithmetic):
        self.core = core

    def prepare(self, stream, tasks: int) -> None:
        # A global trim sees the vectors as they leave the sparsifications before it (DARE first).
        for position, sparsifier in enumerate(self.core.sparsifiers):
            if not sparsifier.needs_global_pass:
                continue
            before = self.core.sparsifiers[:position]

            def vectors(before=before):
                for module in stream():
                    current = module.deltas
                    for s in before:
                        current = [s(v, task=t, key=module.key) for t, v in enumerate(current)]
                    yield current

            sparsifier.fit_global(vectors, tasks)

    def merge(self, module: ModuleInput) -> ModuleOutput:
        return ModuleOutput(self.core.combine(module.deltas, module.key))
