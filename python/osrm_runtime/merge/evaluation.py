"""Scoring a merge: every task on a split with its own head, the average, and the normalised
score (merged / individually fine-tuned, per task, averaged). Shared by the `evaluate` op (the
reported split) and the hyperparameter search (a held-out slice of the training data)."""

from __future__ import annotations

from typing import Callable, Optional

from ..data.examples import Examples, task_metric
from ..evaluate import evaluate_examples
from ..models import ModelSpec, load_tokenizer


def summarise(merged: dict, individual: Optional[dict]) -> dict:
    """{task: {score, metrics}} (+ individual scores) -> the evaluate op's result shape."""
    tasks = {}
    ratios = []
    for name, result in merged.items():
        entry = {"score": result["score"], "metrics": result["metrics"]}
        if individual is not None and name in individual:
            reference = individual[name]["score"]
            # A task whose fine-tuned model scores <= 0 (e.g. Matthews 0) has no meaningful ratio.
            ratio = result["score"] / reference if reference and reference > 0 else None
            entry["individual"] = individual[name]
            entry["normalized"] = ratio
            if ratio is not None:
                ratios.append(ratio)
        tasks[name] = entry
    out = {"tasks": tasks, "average": sum(t["score"] for t in tasks.values()) / len(tasks),
           "normalized": sum(ratios) / len(ratios) if ratios else None}
    if individual is not None:
        out["individual_average"] = sum(individual[n]["score"] for n in merged if n in individual) / len(merged)
    return out


def score_model(model, spec, model_spec: ModelSpec, examples: Examples, metric: str, batch_size: int,
                encoded_cache: dict) -> dict:
    from ..data.batches import encode

    tokenizer = load_tokenizer(model_spec)
    key = (spec.name, id(examples))
    if key not in encoded_cache:
        encoded_cache[key] = encode(tokenizer, examples, spec.max_length)
    return evaluate_examples(model, tokenizer, examples, metric, spec.max_length, batch_size,
                             encoded=encoded_cache[key])


def individual_scores(model_spec: ModelSpec, inputs: list, backbone, examples: dict, batch_size: int,
                      cache: dict, ctx=None) -> dict:
    from .taskmodels import individual_model

    out = {}
    for item in inputs:
        spec = item.require_spec("evaluation")
        model = individual_model(model_spec, item, backbone)
        out[item.name] = score_model(model, spec, model_spec, examples[item.name], task_metric(spec), batch_size, cache)
        if ctx is not None:
            ctx.progress("evaluate individual", current=len(out), total=len(inputs), unit="tasks")
        del model
    return out


def merged_scores(folder: str, inputs: list, model_spec: ModelSpec, examples: dict, batch_size: int, cache: dict,
                  lambdas: list, ctx=None) -> list[dict]:
    """Per lambda, {task: {score, metrics}}; each task's model is built once and re-scaled in place."""
    from .materialize import LambdaSweep

    per_lambda: list[dict] = [{} for _ in lambdas]
    for item in inputs:
        spec = item.require_spec("evaluation")
        sweep = LambdaSweep(folder, item.name, model=model_spec)  # the payload's base, wherever it is now
        for i, lam in enumerate(lambdas):
            model = sweep.set_lambda(lam) if lam is not None else sweep.model
            per_lambda[i][item.name] = score_model(model, spec, model_spec, examples[item.name], task_metric(spec),
                                                   batch_size, cache)
        if ctx is not None:
            ctx.progress("evaluate merged", current=len(per_lambda[0]), total=len(inputs), unit="tasks")
        del sweep
    return per_lambda


def evaluate_merge(folder: Optional[str], inputs: list, model_spec: ModelSpec, backbone, load: Callable,
                   batch_size: int = 128, lam: Optional[float] = None, individual: Optional[dict] = None,
                   ctx=None, lambdas: Optional[list] = None) -> dict:
    """`load(item) -> Examples` picks each task's examples (the split is the caller's choice).
    With `lambdas`, the merge is also scored at each of them: its robustness curve on the split."""
    examples = {item.name: load(item) for item in inputs}
    cache: dict = {}
    if individual is None:
        individual = individual_scores(model_spec, inputs, backbone, examples, batch_size, cache, ctx)
    if folder is None:
        result = summarise(individual, None)
        result["normalized"] = None
        return result
    grid = list(lambdas or [])
    # One pass per task over [lam, *grid]: each task's model is built once and re-scaled in place.
    scored = merged_scores(folder, inputs, model_spec, examples, batch_size, cache, [lam] + grid, ctx)
    result = summarise(scored[0], individual)
    if lambdas is not None:
        curve = []
        for value, per_task in zip(grid, scored[1:]):
            summary = summarise(per_task, individual)
            curve.append({"lambda": value, "average": summary["average"], "normalized": summary["normalized"],
                          "tasks": {n: t["score"] for n, t in summary["tasks"].items()}})
        result["curve"] = curve
    return result
