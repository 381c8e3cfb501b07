"""A merged folder -> task t's model: AutoModelForSequenceClassification of the base with
theta_0 + lambda * (g_t * M_t *) merged and task t's own head. `LambdaSweep` keeps the base values
of the changed tensors so that a sweep over lambda re-scales in place instead of reloading."""

from __future__ import annotations

import json
import os
from typing import Optional

from ..contract import parse_piece
from ..contract.payloads import ExportMergedTaskPayload, ModelSpec
from ..models import device
from .output import read_manifest, unpack_mask
from .taskmodels import backbone_of, classifier_for, set_head


def task_entry(manifest: dict, task: str) -> dict:
    for entry in manifest["tasks"]:
        if entry["task"] == task:
            return entry
    raise ValueError(f"the merge has no task '{task}' (it has: {', '.join(e['task'] for e in manifest['tasks'])})")


def task_delta(folder: str, manifest: dict, task: str) -> dict:
    """Task t's view of the merged task vector: the shared one, or EMR's masked and rescaled one."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    entry = task_entry(manifest, task)
    deltas = load_file(os.path.join(folder, manifest["delta"]))
    if entry.get("mask"):
        with safe_open(os.path.join(folder, entry["mask"]), framework="pt") as f:
            shapes = json.loads(f.metadata()["shapes"])
            for key in deltas:
                mask = unpack_mask(f.get_tensor(key), shapes[key])
                deltas[key] = deltas[key] * mask * float(entry["rescaler"])
    return deltas


class LambdaSweep:
    """Task t's merged model whose lambda can be changed in place."""

    def __init__(self, folder: str, task: str, lam: Optional[float] = None):
        from safetensors.torch import load_file

        manifest = read_manifest(folder)
        entry = task_entry(manifest, task)
        spec = parse_piece(ModelSpec, manifest["base"], f"{folder}/merge.json base")
        self.model = classifier_for(spec, entry["info"])
        set_head(self.model, load_file(os.path.join(folder, entry["head"])), f"merge {folder} task '{task}'")
        self.model.to(device()).eval()
        params = dict(backbone_of(self.model).named_parameters())
        self.deltas = {k: d.to(params[k]) for k, d in task_delta(folder, manifest, task).items()}
        self.params = {k: params[k] for k in self.deltas}
        self.base = {k: p.detach().clone() for k, p in self.params.items()}
        self.info = entry["info"]
        self.lam = None
        self.set_lambda(manifest["lambda"] if lam is None else lam)

    def set_lambda(self, lam: float):
        import torch

        with torch.no_grad():
            for key, p in self.params.items():
                p.copy_(self.base[key] + lam * self.deltas[key])
        self.lam = lam
        return self.model


def load_merged_task_model(folder: str, task: str, lam: Optional[float] = None):
    """Task t's merged model as a plain transformers sequence classifier (eval mode)."""
    sweep = LambdaSweep(folder, task, lam)
    return sweep.model


def export_task_model(payload: ExportMergedTaskPayload, ctx) -> dict:
    """Op: {merged, task, out, lambda?} -> {model: out}: a standalone transformers folder that
    AutoModelForSequenceClassification.from_pretrained(out) loads, tokenizer and osrm_task.json included."""
    from ..models import load_tokenizer

    folder, task, out = payload.merged, payload.task, payload.out
    manifest = read_manifest(folder)
    model = load_merged_task_model(folder, task, payload.lambda_)
    model.save_pretrained(out, safe_serialization=True)
    load_tokenizer(parse_piece(ModelSpec, manifest["base"], f"{folder}/merge.json base")).save_pretrained(out)
    with open(os.path.join(out, "osrm_task.json"), "w", encoding="utf-8") as f:
        json.dump(task_entry(manifest, task)["info"], f, indent=2)
    return {"model": out}
