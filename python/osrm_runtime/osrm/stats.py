"""Op `collect_stats`: one task's layer-input statistics on the pretrained model, cached.

k training examples are sampled with the seed, tokenised once and run in batches with dynamic
padding, length-bucketed (batching.py); for pooling 'all-positions' the batches are padded to max_length,
because that mean includes the pad positions (the authors' definition) and a pad position's
input depends on its position and layer, so it cannot be reconstructed from shorter batches.
"""

from __future__ import annotations

import dataclasses
import os

from ..contract import to_json
from ..contract.payloads import CollectStatsPayload, TaskSpec
from ..data import load_examples
from ..data.batches import encode
from ..models import adapted_module_names, device, family_of, load_classifier, load_tokenizer, target_module_suffixes
from . import hooks
from .batching import stats_batches
from .hooks import POOLINGS, collect_moments  # noqa: F401 - tests count calls through this module
from .stats_cache import FORMAT, cache_key, model_fingerprint, read_meta, save_stats, stats_path


def _task_identity(task: TaskSpec) -> dict:
    """What of the task determines the statistics: its name, its source (paths made absolute) and
    the training cap the sample is drawn from."""
    source = to_json(task.source)
    for field in ("dir", "train", "eval"):
        if source.get(field):
            source[field] = os.path.abspath(source[field])
    return {"name": task.name, "source": source, "max_train": task.max_train}


# The released code pads and truncates every task to 128 tokens.
RELEASE_MAX_LENGTH = 128


def release_sample(n: int, k: int, seed: int) -> list[int]:
    """The release's `train.shuffle(seed=seed).select(range(k))`: datasets shuffles with numpy's
    default generator's permutation."""
    import numpy as np

    return [int(i) for i in np.random.default_rng(seed).permutation(n)[:k]]


def collect_stats(payload: CollectStatsPayload, ctx) -> dict:
    spec, task, osrm = payload.model, payload.task, payload.osrm
    blocks = list(payload.blocks)
    release = osrm.variant == "release"
    max_length = RELEASE_MAX_LENGTH if release else payload.max_length or task.max_length
    cache_dir = payload.cache_dir
    family = family_of(spec)
    target_module_suffixes(family, blocks)  # an unknown block name fails before any work

    identity = {"model": model_fingerprint(spec.name_or_path), "family": family, "task": _task_identity(task),
                "blocks": sorted(blocks), "k": osrm.samples, "seed": osrm.seed,
                "max_length": max_length, "dtype": "bfloat16" if release else spec.dtype}
    pooling = hooks.RELEASE if release else osrm.pooling

    def path_for(pooling: str) -> str:
        return stats_path(cache_dir, task.name, cache_key(identity, pooling))

    # An all-positions file carries the masked statistics too, so it answers a masked request.
    candidates = [path_for(pooling)] + ([path_for("all-positions")] if pooling == "masked" else [])
    for path in candidates:
        if os.path.isfile(path):
            meta = read_meta(path)
            if meta and meta.get("format") == FORMAT:
                ctx.progress(f"stats {task.name}", current=1, total=1, message="cached")
                for warning in meta.get("warnings", []):
                    ctx.log(warning)
                return _result(path, meta, cached=True)

    if release:
        # The release samples from the whole training split (the training cap does not apply)...
        examples = load_examples(task, "train", capped=False)
        order = release_sample(len(examples), osrm.samples, osrm.seed)
        warnings = _dropped(task, examples, ctx) + _few_samples(task, len(examples), osrm.samples, ctx)
        if len(order) < 2:
            raise ValueError(f"task '{task.name}': osrm.variant release divides by the number of samples minus one "
                             f"and needs at least 2 training examples, got {len(order)}")
        examples = examples.subset(order)
    else:
        examples = load_examples(task, "train", seed=osrm.seed)
        warnings = _dropped(task, examples, ctx) + _few_samples(task, len(examples), osrm.samples, ctx)
        examples = examples.sample(osrm.samples, osrm.seed)

    tokenizer = load_tokenizer(spec)
    if release:
        # ...pads with </s> (the tokenizer's eos) to 128 tokens (or the model's limit, if lower) and
        # truncates from the left,
        tokenizer.pad_token = tokenizer.eos_token
        tokenizer.truncation_side = "left"
        max_length = min(max_length, int(tokenizer.model_max_length))
    encoded = encode(tokenizer, examples, max_length)
    # ...and runs the pretrained model in bf16, one example per forward pass.
    model_spec = dataclasses.replace(spec, dtype="bfloat16") if release else spec
    model = load_classifier(model_spec, num_labels=max(examples.num_labels, 1), regression=examples.regression)
    model.to(device()).eval()
    modules = adapted_module_names(model, family, blocks)
    pad_to = max_length if pooling != "masked" else None
    total, batches = stats_batches(encoded, 1 if release else payload.batch_size, tokenizer.pad_token_id, pad_to,
                                   getattr(tokenizer, "padding_side", "right"))
    label = f"stats {task.name}"
    ctx.progress(label, current=0, total=total, unit="batch")
    moments = hooks.collect_moments(model, batches, modules, pooling,
                                    on_batch=lambda n: ctx.progress(label, current=n, total=total, unit="batch"))
    tokens = sum(len(ids) for ids in encoded.input_ids)
    meta = {
        "format": FORMAT, "model": {"name_or_path": spec.name_or_path, "family": family, "dtype": spec.dtype},
        "task": {"name": task.name, "source": identity["task"]["source"]}, "blocks": blocks,
        "modules": moments.module_input, "shapes": moments.shapes, "conv1d": moments.conv1d,
        "k": osrm.samples, "seed": osrm.seed, "pooling": pooling, "max_length": max_length,
        "samples": moments.samples, "tokens": tokens, "warnings": warnings,
    }
    path = path_for(pooling)
    save_stats(path, moments, meta)
    return _result(path, meta, cached=False)


def _dropped(task: TaskSpec, examples, ctx) -> list[str]:
    """Rows left out for an empty or NaN label (task.invalid_labels: drop), told once."""
    if not examples.dropped:
        return []
    warning = (f"task '{task.name}': dropped {examples.dropped} training row(s) with an empty or NaN label, "
               f"as task.invalid_labels is 'drop'")
    ctx.log(warning)
    return [warning]


def _few_samples(task: TaskSpec, available: int, wanted: int, ctx) -> list[str]:
    if available >= wanted:
        return []
    warning = (f"task '{task.name}' has {available} training examples, fewer than osrm.samples={wanted}; "
               f"using all {available}")
    ctx.log(warning)
    return [warning]


def _result(path: str, meta: dict, cached: bool) -> dict:
    return {"file": os.path.abspath(path), "samples": meta["samples"], "tokens": meta["tokens"],
            "modules": list(meta["modules"]), "inputs": len(set(meta["modules"].values())),
            "pooling": meta["pooling"], "cached": cached, "warnings": meta.get("warnings", [])}
