"""The ops TypeScript calls: `merge_methods`, `merge`, `evaluate` (`export` is in export.py).
Every payload is checked completely before any tensor work (see docs/ops.md for the shapes)."""

from __future__ import annotations

import os
import time

from ..contract.payloads import EvaluatePayload, MergePayload
from ..data.examples import load_examples
from ..models import load_config
from .driver import MergeJob, run_merge
from .evaluation import evaluate_merge
from .inputs import parse_inputs
from .output import read_manifest
from .registry import parse_method
from .search import SearchPlan, run_search
from .sources import Backbone, TensorIndex
from .validate import check_inputs, check_merge_base

def merge(payload: MergePayload, ctx) -> dict:
    started = time.perf_counter()
    out, model = payload.out, payload.model
    backbone = Backbone.of(load_config(model))
    spec, hyperparameters = parse_method(payload.method)
    inputs = parse_inputs([(a.task, a.path) for a in payload.adapters], backbone)
    check_inputs(inputs, model.name_or_path, backbone, spec.lora_only, spec.name)
    data = payload.data
    for item in inputs:
        if spec.data:
            item.require_spec(f"method '{spec.name}' (it reads {data.examples} training examples per task)")
    plan = SearchPlan.of(payload.search, spec) if payload.search is not None else None
    evaluation = payload.evaluate
    if plan or evaluation:
        for item in inputs:
            item.require_spec("evaluating the merge")
    base_weights = None
    if inputs[0].source.kind == "full":
        if not os.path.isdir(model.name_or_path):
            raise ValueError("merging fully fine-tuned models needs model.name_or_path to be a local folder "
                             "(the base's weights are read tensor by tensor)")
        base_weights = TensorIndex(model.name_or_path, backbone, "base model")

    job = MergeJob(model, backbone, inputs, spec, hyperparameters, data, base_weights)
    os.makedirs(out, exist_ok=True)
    search = None
    if plan is not None:
        search = run_search(job, plan, out, evaluation.batch_size if evaluation else 128, ctx)
        manifest = search.pop("manifest")
    else:
        manifest = run_merge(job, out, ctx)
    result = {
        "out": out,
        "manifest": os.path.join(out, "merge.json"),
        "method": manifest["method"],
        "lambda": manifest["lambda"],
        "kind": inputs[0].source.kind,
        "tasks": [t["task"] for t in manifest["tasks"]],
        "tensors": len(manifest["tensors"]),
        "files": {"delta": os.path.join(out, manifest["delta"]),
                  "heads": {t["task"]: os.path.join(out, t["head"]) for t in manifest["tasks"]},
                  "masks": {t["task"]: os.path.join(out, t["mask"]) for t in manifest["tasks"] if t["mask"]}},
        "rescalers": ({t["task"]: t["rescaler"] for t in manifest["tasks"]}
                      if any(t["rescaler"] is not None for t in manifest["tasks"]) else None),
        "search": search,
        "evaluation": None,
    }
    if evaluation is not None:
        result["evaluation"] = _evaluate(model, backbone, out, inputs, evaluation.split, evaluation.batch_size,
                                         evaluation.seed, None, None, ctx)
    result["seconds"] = time.perf_counter() - started
    return result


def _evaluate(model, backbone, folder, inputs, split, batch_size, seed, lam, individual, ctx, lambdas=None) -> dict:
    def load(item):
        return load_examples(item.require_spec("evaluation"), split, seed)

    result = evaluate_merge(folder, inputs, model, backbone, load, batch_size, lam, individual, ctx, lambdas)
    result["split"] = split
    result["lambda"] = lam if lam is not None else (read_manifest(folder)["lambda"] if folder else None)
    return result


def evaluate(payload: EvaluatePayload, ctx) -> dict:
    model = payload.model
    backbone = Backbone.of(load_config(model))
    inputs = parse_inputs([(t.task, t.adapter) for t in payload.tasks], backbone, field="tasks")
    folder = payload.merged
    if folder:
        manifest = read_manifest(folder)
        merged_tasks = {t["task"] for t in manifest["tasks"]}
        missing = [i.name for i in inputs if i.name not in merged_tasks]
        if missing:
            raise ValueError(f"the merge {folder} has no task {', '.join(map(repr, missing))} "
                             f"(it has: {', '.join(sorted(merged_tasks))})")
        check_merge_base(folder, manifest, model.name_or_path)
    individual = payload.individual
    if individual is not None:
        missing = [i.name for i in inputs if i.name not in individual]
        if missing:
            raise ValueError(f"individual has no score for task {', '.join(map(repr, missing))}")
        individual = {n: {"score": v.score, "metrics": v.metrics} if hasattr(v, "score") else {"score": float(v), "metrics": {}}
                      for n, v in individual.items()}
    if payload.lambdas is not None and not folder:
        raise ValueError("lambdas: a robustness curve needs a merge (merged is null)")
    return _evaluate(model, backbone, folder, inputs, payload.split, payload.batch_size, payload.seed,
                     payload.lambda_, individual, ctx, payload.lambdas)
