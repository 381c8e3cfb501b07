"""Training checkpoints, written atomically as safetensors + JSON (never pickles): one at the end
of every epoch, and mid-epoch ones at `training.checkpoint_every` (steps or minutes) and when the
run is asked to stop (SIGTERM).

Layout under `<out>/checkpoints/`:
    epoch-<n>/ or step-<s>/           the end of epoch n, or optimizer step s inside an epoch
        trainable.safetensors         adapter + head at that point (PEFT state-dict keys)
        best.safetensors              adapter + head of the best epoch so far
        optimizer.safetensors         AdamW moments per parameter name (`<name>::<key>`)
        rng.safetensors               torch CPU (and CUDA) generator states
        state.json                    epoch, step, history, best, optimizer scalars, run fingerprint;
                                      mid-epoch also `position`: the epoch in progress, the optimizer
                                      steps of it done, and its running loss sum and sample count
    latest.json                       {"epoch", "step", "dir", "in_epoch"}: the one valid checkpoint

A checkpoint folder is complete before it is renamed into place, and `latest.json` is replaced
atomically after it, so a kill at any moment leaves either the previous or the new checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from typing import Any, Optional

from .. import atomic
from ..atomic import staged_folder
from ..errors import output_error

SEP = "::"


def write_json_atomic(path: str, value: Any) -> None:
    # Checkpoint state must be valid JSON everywhere: NaN/inf are refused, not written.
    atomic.write_json_atomic(path, value, allow_nan=False)


def save_tensors(path: str, tensors: dict, metadata: Optional[dict] = None) -> None:
    from safetensors.torch import save_file

    try:
        # safetensors refuses views and shared storage; checkpoints are small, so copy.
        save_file({k: v.detach().contiguous().cpu().clone() for k, v in tensors.items()}, path, metadata=metadata)
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    except Exception as exc:
        named = output_error(exc, path)  # a full disk: safetensors' error names no file
        if named is exc:
            raise
        raise named from exc


# ---------------------------------------------------------------------------------------------
# optimizer state <-> flat tensors + JSON


def optimizer_to_flat(optimizer, names: list[str]) -> tuple[dict, dict]:
    """AdamW's state dict as {"<param name>::<key>": tensor} plus the JSON-able rest.

    `names[i]` is the name of the optimizer's i-th parameter (its order in the param groups), so
    the file is readable and survives a change of parameter order between runs.
    """
    import torch

    state = optimizer.state_dict()
    tensors: dict = {}
    scalars: dict = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{names[index]}{SEP}{key}"] = value
            else:
                scalars[f"{names[index]}{SEP}{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars, "names": names}


def optimizer_from_flat(optimizer, tensors: dict, meta: dict) -> None:
    names = meta["names"]
    index = {name: i for i, name in enumerate(names)}
    state: dict = {}
    for key, value in list(tensors.items()) + list(meta["scalars"].items()):
        name, field = key.rsplit(SEP, 1)
        state.setdefault(index[name], {})[field] = value
    groups = []
    for group in meta["param_groups"]:
        group = dict(group)
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


# ---------------------------------------------------------------------------------------------
# RNG


def rng_tensors() -> dict:
    import torch

    out = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            out[f"torch_cuda_{i}"] = s
    return out


def restore_rng(tensors: dict) -> None:
    import torch

    torch.set_rng_state(tensors["torch_cpu"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("torch_cuda_"))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


# ---------------------------------------------------------------------------------------------
# whole checkpoints


@dataclass
class Checkpoint:
    state: dict              # state.json
    trainable: dict          # tensors
    best: dict               # tensors
    optimizer: dict          # tensors
    rng: dict                # tensors


def checkpoint_root(out: str) -> str:
    return os.path.join(out, "checkpoints")


@dataclass(frozen=True)
class Interval:
    """How often a mid-epoch checkpoint is written: every `steps` optimizer steps or every
    `minutes` of training, or neither (only at epoch ends)."""
    steps: Optional[int] = None
    minutes: Optional[float] = None


# The same forms the config's schema accepts (src/config/schema/training.ts).
_STEPS = re.compile(r"^\s*(\d+)\s*(steps?)?\s*$")
_MINUTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(min|minutes?)\s*$")


def parse_interval(value) -> Interval:
    if value is None:
        return Interval()
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"training.checkpoint_every: must be >= 1 step, got {value}")
        return Interval(steps=value)
    text = str(value)
    if (m := _STEPS.match(text)) and int(m.group(1)) >= 1:
        return Interval(steps=int(m.group(1)))
    if (m := _MINUTES.match(text)) and float(m.group(1)) > 0:
        return Interval(minutes=float(m.group(1)))
    raise ValueError(f'training.checkpoint_every: expected a number of steps ("500", "500 steps") or of '
                     f'minutes ("30 min"), got {value!r}')


def save_checkpoint(out: str, epoch: int, state: dict, trainable: dict, best: dict, optimizer_tensors: dict,
                    *, step: Optional[int] = None, in_epoch: Optional[int] = None) -> str:
    """The end of `epoch` (in_epoch None), or the point after `in_epoch` optimizer steps of it."""
    root = checkpoint_root(out)
    os.makedirs(root, exist_ok=True)
    name = f"epoch-{epoch}" if in_epoch is None else f"step-{step}"
    final = os.path.join(root, name)
    # A folder of this name can only be a leftover of a run killed between rename and pointer.
    shutil.rmtree(final, ignore_errors=True)
    with staged_folder(final) as tmp:
        save_tensors(os.path.join(tmp, "trainable.safetensors"), trainable)
        save_tensors(os.path.join(tmp, "best.safetensors"), best)
        save_tensors(os.path.join(tmp, "optimizer.safetensors"), optimizer_tensors)
        save_tensors(os.path.join(tmp, "rng.safetensors"), rng_tensors())
        write_json_atomic(os.path.join(tmp, "state.json"), state)
    write_json_atomic(os.path.join(root, "latest.json"), {"epoch": epoch, "step": step, "dir": name, "in_epoch": in_epoch})
    for entry in os.listdir(root):  # older epochs and stale temporaries are now garbage
        path = os.path.join(root, entry)
        if entry != name and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
    return final


def load_checkpoint(out: str) -> Optional[Checkpoint]:
    from safetensors.torch import load_file

    root = checkpoint_root(out)
    pointer = os.path.join(root, "latest.json")
    if not os.path.isfile(pointer):
        return None
    with open(pointer, encoding="utf-8") as f:
        folder = os.path.join(root, json.load(f)["dir"])
    with open(os.path.join(folder, "state.json"), encoding="utf-8") as f:
        state = json.load(f)
    return Checkpoint(state, load_file(os.path.join(folder, "trainable.safetensors")),
                      load_file(os.path.join(folder, "best.safetensors")),
                      load_file(os.path.join(folder, "optimizer.safetensors")),
                      load_file(os.path.join(folder, "rng.safetensors")))


def remove_checkpoints(out: str) -> None:
    shutil.rmtree(checkpoint_root(out), ignore_errors=True)
