"""Checks that run before any tensor work, each naming the adapter (and module) at fault.

Base models are compared by path, and, when the paths differ, by content digest (digest.py):
an adapter or a merge records its local base's digest, so a base that was moved or copied (a
moved clone, another machine) is still recognised, and a different model at the same path is not.
"""

from __future__ import annotations

import os
from typing import Optional

from ..digest import content_digest
from ..errors import InputError
from .inputs import MergeInput
from .sources import Backbone


def _same_path(a: str, b: str) -> bool:
    if os.path.exists(a) and os.path.exists(b):
        return os.path.realpath(a) == os.path.realpath(b)
    return a.rstrip("/") == b.rstrip("/")


def _digest_of(path: str) -> Optional[str]:
    return content_digest(path) if os.path.isdir(path) else None


def same_base(recorded: str, digest: Optional[str], given: str) -> bool:
    """Whether `given` is the base recorded as `recorded` (with its content digest, if known)."""
    if digest is not None and os.path.isdir(given):
        return content_digest(given) == digest  # content decides, wherever either copy is
    return _same_path(recorded, given)


def describe_base(path: str, digest: Optional[str]) -> str:
    text = f"'{path}'"
    if digest:
        text += f" (content digest {digest[:19]}...)"
    if os.path.isabs(path) and not os.path.exists(path):
        text += f", which is not there any more (looked at {path})"
    return text


def base_mismatch(what: str, recorded: str, digest: Optional[str], given: str, role: str) -> str:
    message = f"{what} was made on base {describe_base(recorded, digest)}, not on {role} {describe_base(given, _digest_of(given))}"
    if digest is None and os.path.isabs(recorded) and not os.path.exists(recorded):
        message += "; it records no content digest to recognise a moved copy"
    return message


def check_merge_base(folder: str, manifest: dict, given: str) -> None:
    """A merge folder is read with the payload's model: it must be the merge's base."""
    base = manifest["base"]
    if not same_base(base["name_or_path"], base.get("digest"), given):
        raise ValueError(base_mismatch(f"the merge {folder}", base["name_or_path"], base.get("digest"), given,
                                       "the model given"))


def check_inputs(inputs: list[MergeInput], base: str, backbone: Backbone, lora_only: bool = False,
                 method: str = "") -> None:
    names = [i.name for i in inputs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InputError(f"task {', '.join(map(repr, duplicated))} is given more than once")
    kinds = {i.source.kind for i in inputs}
    if len(kinds) > 1:
        lora = [i.label for i in inputs if i.source.kind == "lora"]
        full = [i.label for i in inputs if i.source.kind == "full"]
        raise InputError(f"cannot merge LoRA adapters ({', '.join(lora)}) with full models ({', '.join(full)})")
    if lora_only and kinds != {"lora"}:
        raise InputError(f"method '{method}' merges LoRA adapters only; {inputs[0].label} is a full model")
    for item in inputs:
        if not item.source.head_names:
            raise InputError(f"{item.label} has no classification head (a SEQ_CLS adapter keeps it in "
                             f"modules_to_save; heads are never merged, so every task needs its own)")
        # The digest osrm_task.json records describes the base adapter_config names only while the two
        # agree (an adapter_config edited to point elsewhere is compared by name).
        recorded = (item.source.info or {}).get("base_model") or {}
        digest = recorded.get("digest") if recorded.get("name_or_path") == item.source.base else None
        if item.source.base is not None and not same_base(item.source.base, digest, base):
            raise InputError(base_mismatch(f"adapter {item.label}", item.source.base, digest, base, "the merge's base"))
    reference = inputs[0]
    ref_keys = set(reference.source.merge_keys())
    for item in inputs:
        keys = set(item.source.merge_keys())
        for key in sorted(keys):
            if key not in backbone.shapes:
                raise InputError(f"{item.label} adapts module '{key}', which the base model does not have")
            if item.source.kind == "lora":
                (r, d_in), (d_out, _) = item.source.factor_shapes(key)
                # GPT-2's Conv1D stores its weight d_in x d_out; LoRA's factors are linear-layout.
                shape = backbone.shapes[key]
                expected = tuple(reversed(shape)) if key in backbone.conv1d else tuple(shape)
                if (d_out, d_in) != expected:
                    raise InputError(f"{item.label} module '{key}': its LoRA update B @ A is {d_out} x {d_in} "
                                     f"(A {r} x {d_in}, B {d_out} x {r}), but the base model's weight is "
                                     f"{expected[0]} x {expected[1]}; the adapter was trained on another base model")
        if item is reference:
            continue
        extra, missing = sorted(keys - ref_keys), sorted(ref_keys - keys)
        if extra or missing:
            detail = (f"adapts module '{extra[0]}' which {reference.label} does not" if extra
                      else f"does not adapt module '{missing[0]}' which {reference.label} does")
            raise InputError(f"{item.label} {detail}: every input must adapt the same modules")
        for key in sorted(keys):
            r, r0 = item.source.ranks.get(key), reference.source.ranks.get(key)
            if r != r0:
                raise InputError(f"{item.label} has rank {r} at module '{key}' but {reference.label} "
                                 f"has rank {r0}: every adapter must have the same rank")
