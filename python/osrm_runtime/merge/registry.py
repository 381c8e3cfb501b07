"""Every merging method, described by itself: name, pretty name, paper, hyperparameters (with
ranges and defaults), what inputs it needs, and how to build it from validated hyperparameters.

The TA family is one GeneralTaskArithmetic configured by sparsifications and a consensus
(mergekit's idea); KnOTS and Core Space wrap that same family in their aligned spaces.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

from ..atomic import write_text_atomic
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
class Reference:
    title: str
    authors: str
    year: int
    url: str


@dataclass(frozen=True)
class MethodSpec:
    name: str
    display_name: str        # as tables name it (the paper's tables' short names)
    reference: Reference
    summary: str
    build: Callable[[dict], MergeMethod]
    params: tuple = field(default_factory=tuple)
    lora_only: bool = False  # works on the LoRA factors themselves; otherwise on dense task vectors
    data: tuple = ()         # statistics it needs: "fisher", "gram"
    # How the merged update depends on the task updates when it is a fixed linear combination
    # (sum: sum_t dW_t, mean: mean_t dW_t): such a merge of LoRA adapters is itself exactly a LoRA
    # with the factors concatenated. None: not linear (trimming, drops, data weights, SVD surgery).
    linear_combination: Optional[str] = None

    def describe(self) -> dict:
        return {"name": self.name, "display_name": self.display_name, "summary": self.summary,
                "reference": {"title": self.reference.title, "authors": self.reference.authors,
                              "year": self.reference.year, "url": self.reference.url},
                "works_on": "lora_factors" if self.lora_only else "dense_deltas",
                "needs_data": list(self.data), "linear_combination": self.linear_combination,
                "hyperparameters": [p.describe() for p in self.params]}

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


SOUPS = Reference("Model soups: averaging weights of multiple fine-tuned models improves accuracy without "
                  "increasing inference time", "Wortsman et al.", 2022, "https://arxiv.org/abs/2203.05482")
TASK_ARITHMETIC = Reference("Editing Models with Task Arithmetic", "Ilharco et al.", 2023,
                            "https://arxiv.org/abs/2212.04089")
TIES = Reference("TIES-Merging: Resolving Interference When Merging Models", "Yadav et al.", 2023,
                 "https://arxiv.org/abs/2306.01708")
DARE = Reference("Language Models are Super Mario: Absorbing Abilities from Homologous Models as a Free Lunch",
                 "Yu et al.", 2024, "https://arxiv.org/abs/2311.03099")
EMR = Reference("EMR-Merging: Tuning-Free High-Performance Model Merging", "Huang et al.", 2024,
                "https://arxiv.org/abs/2405.17461")
FISHER = Reference("Merging Models with Fisher-Weighted Averaging", "Matena and Raffel", 2022,
                   "https://arxiv.org/abs/2111.09832")
REGMEAN = Reference("Dataless Knowledge Fusion by Merging Weights of Language Models", "Jin et al.", 2023,
                    "https://arxiv.org/abs/2212.09849")
KNOTS = Reference("Model merging with SVD to tie the KnOTS", "Stoica et al.", 2025, "https://arxiv.org/abs/2410.19735")
CORE_SPACE = Reference("Accurate and Efficient Low-Rank Model Merging in Core Space", "Panariello et al.", 2025,
                       "https://arxiv.org/abs/2509.17786")
TSV = Reference("Task Singular Vectors: Reducing Task Interference in Model Merging", "Gargiulo et al.", 2025,
                "https://arxiv.org/abs/2412.00081")
ISO = Reference("No Task Left Behind: Isotropic Model Merging with Common and Task-Specific Subspaces",
                "Marczak et al.", 2025, "https://arxiv.org/abs/2502.04959")
# KnOTS and Core Space trim inside their own small aligned spaces, so only per-tensor trimming applies.
ALIGNED_DENSITY = Param("density", "float", 0.2, "fraction of the aligned blocks' largest entries kept (TIES trim)",
                        0.0, 1.0, exclusive_minimum=True)

METHODS: tuple[MethodSpec, ...] = (
    MethodSpec("weight_averaging", "Weight Averaging", SOUPS,
               "mean of the task vectors", _ta_method("none", "none", "mean"), (lam(1.0),),
               linear_combination="mean"),
    MethodSpec("task_arithmetic", "Task Arithmetic", TASK_ARITHMETIC,
               "sum of the task vectors, scaled by lambda", _ta_method("none", "none", "sum"), (lam(0.3),),
               linear_combination="sum"),
    MethodSpec("ties", "TIES", TIES,
               "trim to the top density, elect a sign per entry, mean of the agreeing entries",
               _ta_method("trim", "sign_sum", "mean"), (lam(1.0), DENSITY, TRIM_SCOPE)),
    MethodSpec("dare_ta", "DARE-TA", DARE,
               "drop entries with probability p and rescale by 1/(1-p), then sum",
               _ta_method("drop", "none", "sum"), (lam(0.3), DROP_RATE, SEED)),
    MethodSpec("dare_ties", "DARE-TIES", DARE,
               "DARE's drop and rescale, then TIES (trim, sign election, disjoint mean)",
               _ta_method("drop_trim", "sign_sum", "mean"),
               (lam(1.0), DROP_RATE, SEED, replace(DENSITY, default=1.0), TRIM_SCOPE)),
    MethodSpec("emr", "EMR", EMR,
               "unified task vector plus per-task 1-bit masks and rescalers (tuning-free)",
               lambda h: EMRMerging(), (lam(1.0),)),
    MethodSpec("fisher", "Fisher", FISHER,
               "average weighted by each task's diagonal Fisher information (needs data)",
               lambda h: FisherMerging(h["floor"]),
               (lam(1.0), Param("floor", "float", 1e-6, "added to every Fisher weight", 0.0, 1.0)), data=("fisher",)),
    MethodSpec("regmean", "RegMean", REGMEAN,
               "per linear layer, the least-squares merge of the task models on their inputs (needs data)",
               lambda h: RegMean(h["alpha"]),
               (lam(1.0), Param("alpha", "float", 0.9, "scale of the Gram matrices' off-diagonal entries", 0.0, 1.0)),
               data=("gram",)),
    MethodSpec("knots_ta", "KnOTS-TA", KNOTS, "task arithmetic in the shared SVD basis of the updates",
               lambda h: KnOTS(_ta_family(h, "none", "none", "sum")), (lam(0.3),), linear_combination="sum"),
    MethodSpec("knots_ties", "KnOTS-TIES", KNOTS, "TIES in the shared SVD basis of the updates",
               lambda h: KnOTS(_ta_family(h, "trim", "sign_sum", "mean")), (lam(1.0), ALIGNED_DENSITY)),
    MethodSpec("knots_dare_ties", "KnOTS-DARE-TIES", KNOTS, "DARE-TIES in the shared SVD basis of the updates",
               lambda h: KnOTS(_ta_family(h, "drop_trim", "sign_sum", "mean")),
               (lam(1.0), DROP_RATE, SEED, replace(ALIGNED_DENSITY, default=1.0))),
    MethodSpec("core_space_ta", "Core Space-TA", CORE_SPACE,
               "task arithmetic of the LoRA cores in the stacked factors' bases (exactly dense TA)",
               lambda h: CoreSpace(_ta_family(h, "none", "none", "sum")), (lam(0.3),), lora_only=True,
               linear_combination="sum"),
    MethodSpec("core_space_ties", "Core Space-TIES", CORE_SPACE, "TIES of the LoRA cores in the stacked factors' bases",
               lambda h: CoreSpace(_ta_family(h, "trim", "sign_sum", "mean")), (lam(1.0), ALIGNED_DENSITY),
               lora_only=True),
    MethodSpec("tsv", "TSV-M", TSV,
               "top singular components per task, re-orthogonalised to remove interference",
               lambda h: TSVMerge(h["sv_fraction"]),
               (lam(1.0), Param("sv_fraction", "float", None, "fraction of a layer's rank kept per task (null: 1/T)",
                                0.0, 1.0, exclusive_minimum=True, nullable=True))),
    MethodSpec("iso_c", "Iso-C", ISO,
               "task arithmetic with a flattened (isotropic) singular spectrum", lambda h: IsoC(), (lam(1.0),)),
    MethodSpec("iso_cts", "Iso-CTS", ISO,
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


def merge_methods(payload, ctx) -> dict:
    """Op: {} -> {"methods": [description, ...]}: the registry as TypeScript reads it."""
    return {"methods": describe_all()}


# The registry, as the generated file that TypeScript's schemas, `osrm merge --help`, the planner
# and the report read (src/ops/merge-methods.json). Adding a method is one file here plus
# `npm run contract`; a test fails while the file is stale.
GENERATED_FILE = os.path.join("src", "ops", "merge-methods.json")


def registry_json() -> str:
    note = ("Generated from python/osrm_runtime/merge/registry.py by `npm run contract`; do not edit. "
            "The Python registry is the source of every merging method, its hyperparameters and their ranges.")
    return json.dumps({"$comment": note, "methods": describe_all()}, indent=2) + "\n"


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m osrm_runtime.merge.registry",
                                     description="Write or check the generated merge-method registry file.")
    parser.add_argument("--write", metavar="FILE", help=f"write the registry to FILE (e.g. {GENERATED_FILE})")
    parser.add_argument("--check", metavar="FILE", help="exit 1 when FILE differs from the registry")
    args = parser.parse_args(argv)
    text = registry_json()
    if args.write:
        write_text_atomic(args.write, text)
    if args.check:
        with open(args.check, encoding="utf-8") as f:
            if f.read() != text:
                print(f"{args.check} is stale: run `npm run contract`", file=sys.stderr)
                return 1
    if not (args.write or args.check):
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
