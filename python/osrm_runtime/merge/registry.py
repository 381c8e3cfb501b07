"""Every merging method, described by itself: name, pretty name, paper, hyperparameters (with
ranges and defaults), what inputs it needs, and how to build it from validated hyperparameters.

The TA family is one GeneralTaskArithmetic configured by sparsifications and a consensus
(mergekit's idea); KnOTS and Core Space wrap that same family in their aligned spaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from .core_space import CoreSpace
from .emr import EMRMerging
from .fisher import FisherMerging
from .hyperparams import DENSITY, DROP_RATE, SEED, TRIM_SCOPE, Param, lam
from .iso import IsoC, IsoCTS
from .knots import KnOTS
from .method import MergeMethod
from .regmean import RegMean
from .sparsify import MagnitudeTrim, RandomDrop
from .task_arithmetic import GeneralTaskArithmetic, TaskArithmeticMethod
from .tsv import TSVMerge


@dataclass(frozen=True)
class MethodSpec:
    name: str
    pretty_name: str
    paper: str
    summary: str
    build: Callable[[dict], MergeMethod]
    params: tuple = field(default_factory=tuple)
    lora_only: bool = False
    data: tuple = ()  # statistics it needs: "fisher", "gram"

    def describe(self) -> dict:
        return {"name": self.name, "pretty_name": self.pretty_name, "paper": self.paper, "summary": self.summary,
                "hyperparameters": [p.describe() for p in self.params], "lora_only": self.lora_only,
                "needs_data": list(self.data)}

    def resolve(self, given: dict) -> dict:
        """Defaults filled in, every value checked against its range; unknown names rejected."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ValueError(f"method '{self.name}' has no hyperparameter {', '.join(map(repr, unknown))} "
                             f"(it takes: {', '.join(known) or 'none'})")
        return {name: p.validate(self.name, given.get(name, p.default)) for name, p in known.items()}


def _ties_chain(h: dict, dare: bool) -> list:
    chain = [RandomDrop(h["drop_rate"], h["seed"])] if dare else []
    return chain + [MagnitudeTrim(h["density"], h.get("trim_scope", "tensor"))]


def _ta_family(h: dict, sparsify: str, consensus: str, reduce: str) -> GeneralTaskArithmetic:
    chain = {
        "none": lambda: [],
        "trim": lambda: _ties_chain(h, dare=False),
        "drop": lambda: [RandomDrop(h["drop_rate"], h["seed"])],
        "drop_trim": lambda: _ties_chain(h, dare=True),
    }[sparsify]()
    return GeneralTaskArithmetic(chain, consensus, reduce)


def _ta_method(sparsify: str, consensus: str, reduce: str):
    return lambda h: TaskArithmeticMethod(_ta_family(h, sparsify, consensus, reduce))


TIES_PAPER = "https://arxiv.org/abs/2306.01708"
DARE_PAPER = "https://arxiv.org/abs/2311.03099"
KNOTS_PAPER = "https://arxiv.org/abs/2410.19735"
CORE_PAPER = "https://arxiv.org/abs/2509.17786"
# KnOTS and Core Space trim inside their own small aligned spaces, so only per-tensor trimming applies.
ALIGNED_DENSITY = Param("density", "float", 0.2, "fraction of the aligned blocks' largest entries kept (TIES trim)",
                        0.0, 1.0, exclusive_minimum=True)

METHODS: tuple[MethodSpec, ...] = (
    MethodSpec("weight_averaging", "Weight averaging", "https://arxiv.org/abs/2203.05482",
               "mean of the task vectors", _ta_method("none", "none", "mean"), (lam(1.0),)),
    MethodSpec("task_arithmetic", "Task arithmetic", "https://arxiv.org/abs/2212.04089",
               "sum of the task vectors, scaled by lambda", _ta_method("none", "none", "sum"), (lam(0.3),)),
    MethodSpec("ties", "TIES-Merging", TIES_PAPER,
               "trim to the top density, elect a sign per entry, mean of the agreeing entries",
               _ta_method("trim", "sign_sum", "mean"), (lam(1.0), DENSITY, TRIM_SCOPE)),
    MethodSpec("dare_ta", "DARE + task arithmetic", DARE_PAPER,
               "drop entries with probability p and rescale by 1/(1-p), then sum",
               _ta_method("drop", "none", "sum"), (lam(0.3), DROP_RATE, SEED)),
    MethodSpec("dare_ties", "DARE + TIES", DARE_PAPER,
               "DARE's drop and rescale, then TIES (trim, sign election, disjoint mean)",
               _ta_method("drop_trim", "sign_sum", "mean"),
               (lam(1.0), DROP_RATE, SEED, replace(DENSITY, default=1.0), TRIM_SCOPE)),
    MethodSpec("emr", "EMR-Merging", "https://arxiv.org/abs/2405.17461",
               "unified task vector plus per-task 1-bit masks and rescalers (tuning-free)",
               lambda h: EMRMerging(), (lam(1.0),)),
    MethodSpec("fisher", "Fisher merging", "https://arxiv.org/abs/2111.09832",
               "average weighted by each task's diagonal Fisher information (needs data)",
               lambda h: FisherMerging(h["floor"]),
               (lam(1.0), Param("floor", "float", 1e-6, "added to every Fisher weight", 0.0, 1.0)), data=("fisher",)),
    MethodSpec("regmean", "RegMean", "https://arxiv.org/abs/2212.09849",
               "per linear layer, the least-squares merge of the task models on their inputs (needs data)",
               lambda h: RegMean(h["alpha"]),
               (lam(1.0), Param("alpha", "float", 0.9, "scale of the Gram matrices' off-diagonal entries", 0.0, 1.0)),
               data=("gram",)),
    MethodSpec("knots_ta", "KnOTS-TA", KNOTS_PAPER, "task arithmetic in the shared SVD basis of the updates",
               lambda h: KnOTS(_ta_family(h, "none", "none", "sum")), (lam(0.3),)),
    MethodSpec("knots_ties", "KnOTS-TIES", KNOTS_PAPER, "TIES in the shared SVD basis of the updates",
               lambda h: KnOTS(_ta_family(h, "trim", "sign_sum", "mean")), (lam(1.0), ALIGNED_DENSITY)),
    MethodSpec("knots_dare_ties", "KnOTS-DARE-TIES", KNOTS_PAPER, "DARE-TIES in the shared SVD basis of the updates",
               lambda h: KnOTS(_ta_family(h, "drop_trim", "sign_sum", "mean")),
               (lam(1.0), DROP_RATE, SEED, replace(ALIGNED_DENSITY, default=1.0))),
    MethodSpec("core_space_ta", "Core Space (TA)", CORE_PAPER,
               "task arithmetic of the LoRA cores in the stacked factors' bases (exactly dense TA)",
               lambda h: CoreSpace(_ta_family(h, "none", "none", "sum")), (lam(0.3),), lora_only=True),
    MethodSpec("core_space_ties", "Core Space (TIES)", CORE_PAPER, "TIES of the LoRA cores in the stacked factors' bases",
               lambda h: CoreSpace(_ta_family(h, "trim", "sign_sum", "mean")), (lam(1.0), ALIGNED_DENSITY),
               lora_only=True),
    MethodSpec("tsv", "TSV-Merge", "https://arxiv.org/abs/2412.00081",
               "top singular components per task, re-orthogonalised to remove interference",
               lambda h: TSVMerge(h["sv_fraction"]),
               (lam(1.0), Param("sv_fraction", "float", None, "fraction of a layer's rank kept per task (null: 1/T)",
                                0.0, 1.0, exclusive_minimum=True, nullable=True))),
    MethodSpec("iso_c", "Iso-C", "https://arxiv.org/abs/2502.04959",
               "task arithmetic with a flattened (isotropic) singular spectrum", lambda h: IsoC(), (lam(1.0),)),
    MethodSpec("iso_cts", "Iso-CTS", "https://arxiv.org/abs/2502.04959",
               "isotropic merge of a common subspace plus task-specific directions",
               lambda h: IsoCTS(h["common_fraction"]),
               (lam(1.0), Param("common_fraction", "float", 0.8, "share of the merged rank given to the common subspace",
                                0.0, 1.0))),
)

BY_NAME = {m.name: m for m in METHODS}


def method_spec(name: str) -> MethodSpec:
    spec = BY_NAME.get(name)
    if spec is None:
        raise ValueError(f"method '{name}' is unknown; known methods: {', '.join(BY_NAME)}")
    return spec


def parse_method(payload: Any) -> tuple[MethodSpec, dict]:
    """`{"name": ..., **hyperparameters}` -> (spec, every hyperparameter resolved and checked)."""
    if isinstance(payload, str):
        payload = {"name": payload}
    if not isinstance(payload, dict) or not payload.get("name"):
        raise ValueError("method.name is required (one of: " + ", ".join(BY_NAME) + ")")
    spec = method_spec(payload["name"])
    return spec, spec.resolve({k: v for k, v in payload.items() if k != "name"})


def describe_all() -> list[dict]:
    return [m.describe() for m in METHODS]


def merge_methods(payload: dict, ctx) -> dict:
    """Op: {} -> {"methods": [description, ...]} (what `osrm merge --help` lists)."""
    return {"methods": describe_all()}


if __name__ == "__main__":  # regenerates src/commands/merge-methods.json
    import json

    print(json.dumps({"methods": describe_all()}, indent=2))
