"""Op `collect_stats`: one task's layer-input statistics on the pretrained model, cached.

k training examples are sampled with the seed, tokenised once and run in batches with dynamic
padding, length-bucketed (batching.py); for pooling 'all-positions' the batches are padded to max_length,
because that mean includes the pad positions (the authors' definition) and a pad position's
input depends on its position and layer, so it cannot be reconstructed from shorter batches.
"""

from __future__ import annotations

import os

from ..data import TaskSpec, load_examples
from ..data.batches import encode
from ..models import ModelSpec, adapted_module_names, family_of, load_classifier, load_tokenizer, \
    target_module_suffixes, device
from . import hooks
from .batching import stats_batches
from .hooks import POOLINGS, collect_moments  # noqa: F401 - tests count calls through this module
from .stats_cache import FORMAT, cache_key, model_fingerprint, read_meta, save_stats, stats_path

DEFAULT_BLOCKS = ["q", "v"]


def parse_osrm(payload: dict) -> dict:
    osrm = dict(payload.get("osrm") or {})
    samples = osrm.get("samples", 100)
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ValueError(f"osrm.samples must be a positive integer, got {samples!r}")
    seed = osrm.get("seed", 42)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"osrm.seed must be an integer, got {seed!r}")
    pooling = osrm.get("pooling", "masked")
    if pooling not in POOLINGS:
        raise ValueError(f"osrm.pooling '{pooling}' is not one of {', '.join(POOLINGS)}")
    return {**osrm, "samples": samples, "seed": seed, "pooling": pooling}


def _task_identity(task: TaskSpec) -> dict:
    source = dict(task.source)
    for field in ("dir", "train", "eval"):
        if source.get(field):
            source[field] = os.path.abspath(source[field])
    return {"name": task.name, "source": source, "max_train": task.max_train}


def collect_stats(payload: dict, ctx) -> dict:
    spec = ModelSpec.parse(payload.get("model"))
    task = TaskSpec.parse(payload.get("task"))
    osrm = parse_osrm(payload)
    blocks = payload.get("blocks") or (payload.get("lora") or {}).get("blocks") or DEFAULT_BLOCKS
    max_length = int(payload.get("max_length") or task.max_length)
    batch_size = int(payload.get("batch_size") or 50)
    if batch_size < 2:
        raise ValueError("batch_size must be at least 2 (statistics are collected in batches)")
    cache_dir = payload.get("cache_dir")
    if not cache_dir:
        raise ValueError("cache_dir is required: the folder where statistics files are cached")
    family = family_of(spec)
    target_module_suffixes(family, list(blocks))  # an unknown block name fails before any work

    identity = {"model": model_fingerprint(spec.name_or_path), "family": family, "task": _task_identity(task),
                "blocks": sorted(blocks), "k": osrm["samples"], "seed": osrm["seed"],
                "max_length": max_length, "dtype": spec.dtype}

    def path_for(pooling: str) -> str:
        return stats_path(cache_dir, task.name, cache_key(identity, pooling))

    # An all-positions file carries the masked statistics too, so it answers a masked request.
    candidates = [path_for(osrm["pooling"])] + ([path_for("all-positions")] if osrm["pooling"] == "masked" else [])
    for path in candidates:
        if os.path.isfile(path):
            meta = read_meta(path)
            if meta and meta.get("format") == FORMAT:
                ctx.progress(f"stats {task.name}", current=1, total=1, message="cached")
                for warning in meta.get("warnings", []):
                    ctx.log(warning)
                return _result(path, meta, cached=True)

    examples = load_examples(task, "train", seed=osrm["seed"])
    warnings = []
    if len(examples) < osrm["samples"]:
        warnings.append(f"task '{task.name}' has {len(examples)} training examples, fewer than "
                        f"osrm.samples={osrm['samples']}; using all {len(examples)}")
        ctx.log(warnings[-1])
    examples = examples.sample(osrm["samples"], osrm["seed"])

    tokenizer = load_tokenizer(spec)
    encoded = encode(tokenizer, examples, max_length)
    model = load_classifier(spec, num_labels=max(examples.num_labels, 1), regression=examples.regression)
    model.to(device()).eval()
    modules = adapted_module_names(model, family, list(blocks))
    pad_to = max_length if osrm["pooling"] == "all-positions" else None
    total, batches = stats_batches(encoded, batch_size, tokenizer.pad_token_id, pad_to,
                                   getattr(tokenizer, "padding_side", "right"))
    label = f"stats {task.name}"
    ctx.progress(label, current=0, total=total, unit="batch")
    moments = hooks.collect_moments(model, batches, modules, osrm["pooling"],
                                    on_batch=lambda n: ctx.progress(label, current=n, total=total, unit="batch"))
    tokens = sum(len(ids) for ids in encoded.input_ids)
    meta = {
        "format": FORMAT, "model": {"name_or_path": spec.name_or_path, "family": family, "dtype": spec.dtype},
        "task": {"name": task.name, "source": identity["task"]["source"]}, "blocks": list(blocks),
        "modules": moments.module_input, "shapes": moments.shapes, "conv1d": moments.conv1d,
        "k": osrm["samples"], "seed": osrm["seed"], "pooling": osrm["pooling"], "max_length": max_length,
        "samples": moments.samples, "tokens": tokens, "warnings": warnings,
    }
    path = path_for(osrm["pooling"])
    save_stats(path, moments, meta)
    return _result(path, meta, cached=False)


def _result(path: str, meta: dict, cached: bool) -> dict:
    return {"file": os.path.abspath(path), "samples": meta["samples"], "tokens": meta["tokens"],
            "modules": list(meta["modules"]), "inputs": len(set(meta["modules"].values())),
            "pooling": meta["pooling"], "cached": cached, "warnings": meta.get("warnings", [])}
