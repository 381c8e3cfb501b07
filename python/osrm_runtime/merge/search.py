"""Hyperparameter search of a merge on a held-out slice of each task's TRAINING data (seeded; a
fraction or a count), never on the reported split. Settings of the non-lambda hyperparameters
(density, drop rate, ...) each need a merge; lambda only re-scales the stored task vector, so a
lambda grid costs evaluations, not merges. The best setting's merge becomes the output."""

from __future__ import annotations

import itertools
import os
import shutil
from dataclasses import dataclass

from ..atomic import write_json_atomic
from ..contract.payloads import MergeSearch
from ..data.examples import load_examples
from .curve import write_curve
from .driver import MergeJob, run_merge
from .evaluation import individual_scores, merged_scores, summarise
from .output import MANIFEST, read_manifest


@dataclass
class SearchPlan:
    grid: dict
    fraction: float | None
    count: int | None
    seed: int
    select: str  # "normalized" | "average"

    @staticmethod
    def of(search: MergeSearch, spec) -> "SearchPlan":
        """The payload's search, its grid checked against the method's own hyperparameters."""
        params = {p.name: p for p in spec.params}
        grid = {}
        for name, values in search.grid.items():
            if name not in params:
                raise ValueError(f"search.grid.{name}: method '{spec.name}' has no hyperparameter '{name}' "
                                 f"(it takes: {', '.join(params)})")
            grid[name] = [params[name].validate(spec.name, v) for v in values]
        holdout = search.holdout
        fraction = getattr(holdout, "fraction", None)
        count = getattr(holdout, "count", None)
        return SearchPlan(grid, fraction, count, holdout.seed, search.select)

    def settings(self) -> list[dict]:
        names = [n for n in self.grid if n != "lambda"]
        return [dict(zip(names, values)) for values in itertools.product(*(self.grid[n] for n in names))]

    def holdout(self, item):
        spec = item.require_spec("the hyperparameter search")
        train = load_examples(spec, "train", self.seed)
        n = self.count if self.count is not None else max(1, round(self.fraction * len(train)))
        return train.sample(n, self.seed)


def run_search(job: MergeJob, plan: SearchPlan, out: str, batch_size: int = 128, ctx=None) -> dict:
    examples = {item.name: plan.holdout(item) for item in job.inputs}
    cache: dict = {}
    individual = individual_scores(job.model, job.inputs, job.backbone, examples, batch_size, cache, ctx)
    lambdas = plan.grid.get("lambda", [job.hyperparameters["lambda"]])
    others = [n for n in plan.grid if n != "lambda"]
    rows: list[dict] = []
    best = None
    work = os.path.join(out, "search")
    for index, setting in enumerate(plan.settings()):
        hyperparameters = {**job.hyperparameters, **setting}
        folder = os.path.join(work, f"setting-{index}")
        run_merge(MergeJob(job.model, job.backbone, job.inputs, job.spec, hyperparameters, job.data,
                           job.base_weights), folder, ctx)
        for lam, scores in zip(lambdas, merged_scores(folder, job.inputs, job.model, examples, batch_size, cache,
                                                      lambdas, ctx)):
            summary = summarise(scores, individual)
            row = {**setting, "lambda": lam, "average": summary["average"], "normalized": summary["normalized"],
                   "tasks": {n: t["score"] for n, t in summary["tasks"].items()}, "setting": index}
            rows.append(row)
            value = row[plan.select] if row[plan.select] is not None else row["average"]
            if best is None or value > best[0]:
                best = (value, row, folder)
    assert best is not None
    _, best_row, best_folder = best
    chosen = {**job.hyperparameters, **{n: best_row[n] for n in others}, "lambda": best_row["lambda"]}
    manifest = adopt(best_folder, out, chosen)
    for index in range(len(plan.settings())):
        shutil.rmtree(os.path.join(work, f"setting-{index}"), ignore_errors=True)
    curve = write_curve(work, rows, others, [i.name for i in job.inputs], plan.select,
                        f"{job.spec.display_name}: robustness to lambda")
    return {"manifest": manifest, "best": {k: chosen[k] for k in ["lambda", *others]},
            "best_score": {"average": best_row["average"], "normalized": best_row["normalized"]},
            "holdout": {"split": "train", "fraction": plan.fraction, "count": plan.count, "seed": plan.seed,
                        "examples": {n: len(e) for n, e in examples.items()}},
            "individual": {n: s["score"] for n, s in individual.items()},
            "rows": rows, "curve": curve, "select": plan.select}


def adopt(folder: str, out: str, chosen: dict) -> dict:
    """Moves the winning setting's merge into `out`, recording the chosen lambda (the stored task
    vector does not depend on lambda, so no re-merge is needed). The manifest is written last."""
    manifest = read_manifest(folder)
    manifest["method"] = {"name": manifest["method"]["name"], **chosen}
    manifest["lambda"] = chosen["lambda"]
    target = os.path.join(out, MANIFEST)
    if os.path.exists(target):
        os.remove(target)
    for entry in os.listdir(folder):
        if entry == MANIFEST:
            continue
        destination = os.path.join(out, entry)
        if os.path.isdir(destination):
            shutil.rmtree(destination)
        shutil.move(os.path.join(folder, entry), destination)
    write_json_atomic(target, manifest)
    return manifest
