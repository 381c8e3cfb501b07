"""A merged folder -> task t's model: AutoModelForSequenceClassification of the base with
theta_0 + lambda * (g_t * M_t *) merged and task t's own head. `LambdaSweep` keeps the base values
of the changed tensors so that a sweep over lambda re-scales in place instead of reloading.
Evaluation and export build task models here, so an export predicts what the evaluation scored."""

from __future__ import annotations

import json
import os
from typing import Optional

from ..contract import parse_piece
from ..contract.payloads import ModelSpec
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


def base_spec(folder: str, manifest: dict, model: Optional[ModelSpec] = None) -> ModelSpec:
    """The base a merge's task models are built on: `model` when given (checked to be the merge's
    base, by content when the paths differ), else the base the manifest records. A local base
    that is no longer there is named, with where it was looked for."""
    from .validate import check_merge_base, describe_base

    base = manifest["base"]
    if model is not None:
        check_merge_base(folder, manifest, model.name_or_path)
        return model
    path = base["name_or_path"]
    if os.path.isabs(path) and not os.path.isdir(path):
        raise ValueError(f"the merge {folder} was made on base model {describe_base(path, base.get('digest'))}; "
                         f"give the model's new place (`osrm export --model PATH`; the op's `model` field)")
    fields = {k: base[k] for k in ("name_or_path", "family", "dtype", "revision") if base.get(k) is not None}
    return parse_piece(ModelSpec, fields, f"{folder}/merge.json base")


class LambdaSweep:
    """Task t's merged model whose lambda can be changed in place."""

    def __init__(self, folder: str, task: str, lam: Optional[float] = None, model: Optional[ModelSpec] = None):
        from safetensors.torch import load_file

        manifest = read_manifest(folder)
        entry = task_entry(manifest, task)
        spec = base_spec(folder, manifest, model)
        self.model = classifier_for(spec, entry["info"])
        set_head(self.model, load_file(os.path.join(folder, entry["head"])), f"merge {folder} task '{task}'")
        self.model.to(device()).eval()
        params = dict(backbone_of(self.model).named_parameters())
        self.deltas = {k: d.to(params[k]) for k, d in task_delta(folder, manifest, task).items()}
        self.params = {k: params[k] for k in self.deltas}
        self.base = {k: p.detach().clone() for k, p in self.params.items()}
        self.info = entry["info"]
        self.spec = spec
        self.lam = None
        self.set_lambda(manifest["lambda"] if lam is None else lam)

    def set_lambda(self, lam: float):
        import torch

        with torch.no_grad():
            for key, p in self.params.items():
                p.copy_(self.base[key] + lam * self.deltas[key])
        self.lam = lam
        return self.model


def load_merged_task_model(folder: str, task: str, lam: Optional[float] = None, model: Optional[ModelSpec] = None):
    """Task t's merged model as a plain transformers sequence classifier (eval mode)."""
    return LambdaSweep(folder, task, lam, model).model
