"""Checks that run before any tensor work, each naming the adapter (and module) at fault."""

from __future__ import annotations

import os

from .inputs import MergeInput
from .sources import Backbone


def _same_model(a: str, b: str) -> bool:
    if os.path.exists(a) and os.path.exists(b):
        return os.path.realpath(a) == os.path.realpath(b)
    return a.rstrip("/") == b.rstrip("/")


def check_inputs(inputs: list[MergeInput], base: str, backbone: Backbone, lora_only: bool = False,
                 method: str = "") -> None:
    names = [i.name for i in inputs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"task {', '.join(map(repr, duplicated))} is given more than once")
    kinds = {i.source.kind for i in inputs}
    if len(kinds) > 1:
        lora = [i.label for i in inputs if i.source.kind == "lora"]
        full = [i.label for i in inputs if i.source.kind == "full"]
        raise ValueError(f"cannot merge LoRA adapters ({', '.join(lora)}) with full models ({', '.join(full)})")
    if lora_only and kinds != {"lora"}:
        raise ValueError(f"method '{method}' merges LoRA adapters only; {inputs[0].label} is a full model")
    for item in inputs:
        if not item.source.head_names:
            raise ValueError(f"{item.label} has no classification head (a SEQ_CLS adapter keeps it in "
                             f"modules_to_save; heads are never merged, so every task needs its own)")
        if item.source.base is not None and not _same_model(item.source.base, base):
            raise ValueError(f"adapter {item.label} was trained on base '{item.source.base}', "
                             f"not on the merge's base '{base}'")
    reference = inputs[0]
    ref_keys = set(reference.source.merge_keys())
    for item in inputs:
        keys = set(item.source.merge_keys())
        for key in sorted(keys):
            if key not in backbone.shapes:
                raise ValueError(f"{item.label} adapts module '{key}', which the base model does not have")
        if item is reference:
            continue
        extra, missing = sorted(keys - ref_keys), sorted(ref_keys - keys)
        if extra or missing:
            detail = (f"adapts module '{extra[0]}' which {reference.label} does not" if extra
                      else f"does not adapt module '{missing[0]}' which {reference.label} does")
            raise ValueError(f"{item.label} {detail}: every input must adapt the same modules")
        for key in sorted(keys):
            r, r0 = item.source.ranks.get(key), reference.source.ranks.get(key)
            if r != r0:
                raise ValueError(f"{item.label} has rank {r} at module '{key}' but {reference.label} "
                                 f"has rank {r0}: every adapter must have the same rank")
