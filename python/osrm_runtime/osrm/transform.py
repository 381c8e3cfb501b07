"""Op `transform`: post-hoc OSRM of a finished task model.

Given dW (from a LoRA adapter, s B A, or from a fully fine-tuned model, W_t - W0) and the task's
OSRM A (rows orthonormal, from an osrm_init adapter), the new LoRA is B' = dW A^T / s with
s = alpha / r, so its update s B' A = dW A^T A is dW projected off the other tasks' input
subspace. The authors' release forgot both the 1/s and the task head; here the head travels in
modules_to_save, so PeftModel.from_pretrained gives back a working classifier.
"""

from __future__ import annotations

import dataclasses
import json
import os

from ..adapters import AdapterFolder, lora_config, write_adapter
from ..contract.payloads import TransformPayload
from ..models import check_model, load_classifier
from .weights import HEAD_MODULES, base_weights, head_state, num_labels_of_head


def _osrm_rows(init_path: str) -> tuple[dict, AdapterFolder]:
    init = AdapterFolder(init_path, "init")
    rows = {}
    for m in init.modules:
        a, b = init.factors(m)
        if b.abs().max() != 0:
            raise ValueError(f"init: {init_path} is not an OSRM init adapter (lora_B of {m} is not zero)")
        rows[m] = a.double()
    return rows, init


def transform(payload: TransformPayload, ctx) -> dict:
    import torch

    spec, out = payload.model, payload.out
    adapter_path, full_path = payload.adapter, payload.full_model
    if bool(adapter_path) == bool(full_path):
        raise ValueError("give exactly one of adapter (a PEFT LoRA folder) or full_model (a fine-tuned model folder)")
    rows, init = _osrm_rows(payload.init)
    rank = next(iter(rows.values())).shape[0]
    alpha = payload.alpha if payload.alpha is not None else init.config.get("lora_alpha", rank)
    scaling = alpha / rank
    modules = sorted(rows)
    warnings: list[str] = []
    task_info = None

    if adapter_path:
        source = AdapterFolder(adapter_path, "adapter")
        extra = [m for m in source.modules if m not in rows]
        if extra:
            raise ValueError(f"adapter: {adapter_path} adapts {extra[0]!r}, for which init {payload.init} "
                             f"has no OSRM subspace (init covers {len(rows)} modules)")
        head = source.head()
        task_info = source.task_info
        num_labels = (task_info or {}).get("num_labels") or num_labels_of_head(head) or 2
        base = load_classifier(spec, num_labels=num_labels)
        w0 = base_weights(base, modules)
        deltas = {}
        for m in modules:
            if m not in source.modules:
                warnings.append(f"adapter {adapter_path} does not adapt {m}; its transformed B is zero")
                deltas[m] = torch.zeros_like(w0[m])
                continue
            a, b = source.factors(m)
            if (b.shape[0], a.shape[1]) != tuple(w0[m].shape):
                raise ValueError(f"adapter: {adapter_path} module {m} has shape {b.shape[0]}x{a.shape[1]} but the "
                                 f"base model {spec.name_or_path} has {w0[m].shape[0]}x{w0[m].shape[1]}")
            deltas[m] = source.scaling(m) * (b.double() @ a.double())
        target_modules = source.config.get("target_modules") or init.config.get("target_modules")
    else:
        if not os.path.isdir(full_path):
            raise ValueError(f"full_model: {full_path!r} is not a model folder")
        tuned_spec = dataclasses.replace(spec, name_or_path=full_path)
        check_model(tuned_spec, "full_model")  # before config.json is read for its label count
        tuned = load_classifier(tuned_spec, num_labels=_config_labels(full_path), field="full_model")
        head = head_state(tuned)
        base = load_classifier(spec, num_labels=num_labels_of_head(head) or 2)
        w0 = base_weights(base, modules)
        wt = base_weights(tuned, modules, "full_model")
        deltas = {}
        for m in modules:
            if wt[m].shape != w0[m].shape:
                raise ValueError(f"full_model: {full_path} module {m} has shape {tuple(wt[m].shape)} but the base "
                                 f"model {spec.name_or_path} has {tuple(w0[m].shape)}")
            deltas[m] = wt[m] - w0[m]
        changed = _changed_outside(base, tuned, modules)
        if changed:
            warnings.append(f"{len(changed)} other fine-tuned parameters (e.g. {changed[0]}) differ from the base "
                            f"and are not carried by a LoRA adapter")
        target_modules = init.config.get("target_modules")
    if not head:
        warnings.append("the source has no task head; the adapter will get a fresh one when loaded")
    for w in warnings:
        ctx.log(w)

    factors, kept = {}, []
    for m in modules:
        a = rows[m]
        if a.shape[1] != w0[m].shape[1]:
            raise ValueError(f"init: A of {m} has {a.shape[1]} columns but the base module takes {w0[m].shape[1]} inputs")
        b_new = deltas[m] @ a.T / scaling
        factors[m] = (a, b_new)
        total = float((deltas[m] ** 2).sum())
        if total > 0:
            kept.append(float(((deltas[m] @ a.T) ** 2).sum()) / total)
    head_modules = sorted({k.split(".")[0] for k in head})
    config = lora_config(rank=rank, alpha=alpha, dropout=0.0, target_modules=target_modules,
                         modules_to_save=head_modules, fan_in_fan_out=bool(init.config.get("fan_in_fan_out")))
    info = {"kind": "osrm_transform", "source": os.path.abspath(adapter_path or full_path),
            "init": os.path.abspath(payload.init), "rank": rank, "alpha": alpha}
    write_adapter(out, factors, config, base_model=spec.name_or_path, head=head, task_info=task_info,
                  files={"osrm_adapter.json": info})
    return {"adapter": os.path.abspath(out), "modules": modules, "rank": rank, "alpha": alpha,
            "head": sorted(head), "kept_energy": {"mean": sum(kept) / len(kept) if kept else None,
                                                  "min": min(kept) if kept else None},
            "warnings": warnings}


def _config_labels(path: str) -> int:
    with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    if config.get("num_labels"):
        return int(config["num_labels"])
    return len(config.get("id2label") or {}) or 2


def _changed_outside(base, tuned, modules: list[str]) -> list[str]:
    skip = tuple(f"{m}.weight" for m in modules)
    base_state = base.state_dict()
    out = []
    for name, value in tuned.state_dict().items():
        if name.split(".")[0] in HEAD_MODULES or name.endswith(skip) or name not in base_state:
            continue
        if value.shape == base_state[name].shape and not bool((value == base_state[name]).all()):
            out.append(name)
    return out
