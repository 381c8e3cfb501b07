"""The merged model folder (a public format, documented in docs/ops.md):

    <out>/merge.json              manifest: base reference, method + hyperparameters, lambda, tasks
    <out>/merged.safetensors      the merged task vector (theta - theta_0, lambda NOT applied) of every
                                  changed backbone tensor, by backbone name, in the tensor's own layout
    <out>/heads/<task>.safetensors  the task's own head (sequence-classifier names) + <task>.json (osrm_task.json)
    <out>/masks/<task>.safetensors  EMR only: per tensor the task's mask, 1 bit per entry (numpy packbits)
    <out>/factors/<task>.safetensors  merges of LoRA adapters that are a fixed linear combination of
                                  the task updates (the registry's linear_combination): per tensor
                                  `<name>.lora_A` (r x d_in) and `<name>.lora_B` (d_out x r, the
                                  adapter's scaling folded in), metadata `modules` (name -> module)
                                  and `fan_in_fan_out`: what `osrm export --format peft` concatenates

Only changed tensors are stored and the base is referenced, not copied: for LoRA merges the
folder is a few percent of the model (the factors are smaller still than the dense update they
make). The base is recorded as given plus, for a local folder, its content digest, so a moved
base is recognised. Keeping lambda out of the tensors lets a lambda sweep reuse one merge.
`materialize.py` turns it into a transformers model per task, `export.py` into folders others load.
"""

from __future__ import annotations

import json
import os

from ..atomic import write_json_atomic
from ..digest import model_reference

FORMAT = "osrm-merge/1"
MANIFEST = "merge.json"
DELTA_FILE = "merged.safetensors"


def pack_mask(mask):
    import numpy as np
    import torch

    return torch.from_numpy(np.packbits(mask.reshape(-1).cpu().numpy().astype(bool)))


def unpack_mask(packed, shape):
    import math

    import numpy as np
    import torch

    n = math.prod(shape)
    bits = np.unpackbits(packed.numpy(), count=n).astype(bool)
    return torch.from_numpy(bits).reshape(shape)


def write_merge(out: str, base: dict, method: dict, inputs: list, deltas: dict, masks: list | None,
                extras: dict) -> dict:
    """masks: per task {tensor name: (packed uint8, shape)}."""
    from safetensors.torch import save_file

    os.makedirs(os.path.join(out, "heads"), exist_ok=True)
    manifest_path = os.path.join(out, MANIFEST)
    if os.path.exists(manifest_path):
        os.remove(manifest_path)  # the manifest is written last: its presence means a complete merge
    save_file(deltas, os.path.join(out, DELTA_FILE), metadata={"format": FORMAT})
    tasks = []
    rescalers = extras.get("rescalers")
    keep_factors = _linear(method["name"]) and all(item.source.kind == "lora" for item in inputs)
    for t, item in enumerate(inputs):
        head_file = os.path.join("heads", f"{item.name}.safetensors")
        save_file({k: v.contiguous() for k, v in item.source.head().items()}, os.path.join(out, head_file))
        info = {**item.source.info, "task": item.name}
        with open(os.path.join(out, "heads", f"{item.name}.json"), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2)
        entry = {"task": item.name, "source": os.path.abspath(item.path), "kind": item.source.kind,
                 "head": head_file, "info": info, "mask": None, "rescaler": None}
        if masks is not None:
            os.makedirs(os.path.join(out, "masks"), exist_ok=True)
            entry["mask"] = os.path.join("masks", f"{item.name}.safetensors")
            shapes = {k: shape for k, (_, shape) in masks[t].items()}
            save_file({k: packed for k, (packed, _) in masks[t].items()}, os.path.join(out, entry["mask"]),
                      metadata={"shapes": json.dumps(shapes)})
        if rescalers is not None:
            entry["rescaler"] = float(rescalers[t])
        if keep_factors:
            entry["factors"] = _write_factors(out, item, sorted(deltas))
        tasks.append(entry)
    base = {**base, **model_reference(base["name_or_path"], base.get("revision"))}
    manifest = {"format": FORMAT, "base": base, "method": method, "lambda": method.get("lambda", 1.0),
                "delta": DELTA_FILE, "tensors": sorted(deltas), "tasks": tasks}
    write_json_atomic(manifest_path, manifest)
    return manifest


def _linear(method: str) -> bool:
    from .registry import method_spec

    return method_spec(method).linear_combination is not None


def _write_factors(out: str, item, keys: list) -> str:
    """Task t's LoRA factors of the merged tensors, as `export --format peft` reads them."""
    from safetensors.torch import save_file

    tensors, modules = {}, {}
    for key in keys:
        b, a = item.source.factors(key)  # (B * scaling, A), nn.Linear layout
        tensors[f"{key}.lora_A"] = a.float().contiguous()
        tensors[f"{key}.lora_B"] = b.float().contiguous()
        modules[key] = item.source.modules[key]
    os.makedirs(os.path.join(out, "factors"), exist_ok=True)
    name = os.path.join("factors", f"{item.name}.safetensors")
    fan_in_fan_out = bool(item.source.config.get("fan_in_fan_out"))
    save_file(tensors, os.path.join(out, name),
              metadata={"modules": json.dumps(modules), "fan_in_fan_out": json.dumps(fan_in_fan_out)})
    return name


def read_manifest(folder: str) -> dict:
    path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(path):
        raise ValueError(f"{folder} is not a merged model folder (no {MANIFEST}; was the merge finished?)")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: format {manifest.get('format')!r} is not {FORMAT}")
    return manifest
