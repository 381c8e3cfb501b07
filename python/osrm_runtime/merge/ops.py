"""The ops TypeScript calls: `merge_methods`, `merge`, `evaluate`, `export_merged_task`.
Every payload is checked completely before any tensor work (see docs/ops.md for the shapes)."""

from __future__ import annotations

import os
import time

from ..data.examples import load_examples
from ..models import ModelSpec, load_config
from .driver import DataOptions, MergeJob, run_merge
from .evaluation import evaluate_merge
from .inputs import parse_inputs
from .output import read_manifest
from .registry import parse_method
from .search import SearchPlan, run_search
from .sources import Backbone, TensorIndex
from .validate import check_inputs

EVAL_SPLITS = ("eval", "eval_mismatched", "train")


def _model_and_backbone(payload: dict):
    spec = ModelSpec.parse(payload.get("model"))
    return spec, Backbone.of(load_config(spec))


def _evaluation_options(payload) -> dict:
    payload = payload if isinstance(payload, dict) else {}
    split = payload.get("split", "eval")
    if split not in EVAL_SPLITS:
        raise ValueError(f"evaluate.split is {split!r}; expected one of {EVAL_SPLITS}")
    return {"split": split, "batch_size": int(payload.get("batch_size", 128)), "seed": int(payload.get("seed", 42))}


def merge(payload: dict, ctx) -> dict:
    started = time.perf_counter()
    out = payload.get("out")
    if not out:
        raise ValueError("out (the merged model folder to write) is required")
    model, backbone = _model_and_backbone(payload)
    spec, hyperparameters = parse_method(payload.get("method"))
    inputs = parse_inputs(payload.get("adapters"), backbone)
    check_inputs(inputs, model.name_or_path, backbone, spec.lora_only, spec.name)
    data = DataOptions.parse(payload.get("data"))
    for item in inputs:
        if spec.data:
            item.require_spec(f"method '{spec.name}' (it reads {data.examples} training examples per task)")
    plan = SearchPlan.parse(payload["search"], spec, hyperparameters) if payload.get("search") else None
    evaluation = _evaluation_options(payload["evaluate"]) if payload.get("evaluate") else None
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
        search = run_search(job, plan, out, evaluation["batch_size"] if evaluation else 128, ctx)
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
        result["evaluation"] = _evaluate(model, backbone, out, inputs, evaluation, None, None, ctx)
    result["seconds"] = time.perf_counter() - started
    return result


def _evaluate(model, backbone, folder, inputs, options, lam, individual, ctx) -> dict:
    def load(item):
        return load_examples(item.require_spec("evaluation"), options["split"], options["seed"])

    result = evaluate_merge(folder, inputs, model, backbone, load, options["batch_size"], lam, individual, ctx)
    result["split"] = options["split"]
    result["lambda"] = lam if lam is not None else (read_manifest(folder)["lambda"] if folder else None)
    return result


def evaluate(payload: dict, ctx) -> dict:
    """{model, merged: dir|null, tasks: [{task, adapter}], split, batch_size, lambda?, individual?}."""
    model, backbone = _model_and_backbone(payload)
    inputs = parse_inputs(payload.get("tasks"), backbone, field="tasks")
    for item in inputs:
        item.require_spec("evaluate")
    options = _evaluation_options(payload)
    folder = payload.get("merged")
    lam = payload.get("lambda")
    if folder:
        manifest = read_manifest(folder)
        merged_tasks = {t["task"] for t in manifest["tasks"]}
        missing = [i.name for i in inputs if i.name not in merged_tasks]
        if missing:
            raise ValueError(f"the merge {folder} has no task {', '.join(map(repr, missing))} "
                             f"(it has: {', '.join(sorted(merged_tasks))})")
        base = manifest["base"]["name_or_path"]
        if not (os.path.exists(base) and os.path.exists(model.name_or_path)
                and os.path.realpath(base) == os.path.realpath(model.name_or_path)) and base != model.name_or_path:
            raise ValueError(f"the merge {folder} was made on base '{base}', not '{model.name_or_path}'")
    if lam is not None and (isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0 <= lam <= 10):
        raise ValueError(f"lambda is {lam!r}; expected a number in [0, 10]")
    individual = payload.get("individual")
    if individual is not None:
        missing = [i.name for i in inputs if i.name not in individual]
        if missing:
            raise ValueError(f"individual has no score for task {', '.join(map(repr, missing))}")
        individual = {n: v if isinstance(v, dict) else {"score": float(v), "metrics": {}} for n, v in individual.items()}
    return _evaluate(model, backbone, folder, inputs, options, lam, individual, ctx)
