"""The on-disk statistics of one task: a safetensors file with JSON metadata in its header.

Tensors, per distinct module input `<key>`: `<key>.second_moment` (d x d, fp32, sum of h h^T over
real tokens), `<key>.tokens` (int64 scalar), `<key>.mean_masked` (d) and, for pooling
all-positions, `<key>.mean_all` (d). The header's metadata holds `osrm_stats` = JSON with the
model, task, modules (module -> input key), shapes, k, seed, pooling and the counts.

The file name is a hash of everything that determines the numbers, so every task's init finds
every other task's statistics instead of collecting them again. An all-positions file also holds
everything a masked request needs (it is collected with the same mask), so it serves both.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Optional

from ..atomic import write_file_atomic
from ..digest import content_digest
from ..errors import InputError, first_line, unreadable_safetensors, wrap

FORMAT = 1
META_KEY = "osrm_stats"


def model_fingerprint(name_or_path: str) -> dict:
    """A local folder is identified by its content digest (digest.py): a retrained model in the
    same folder must not hit an old cache, and a moved or copied one should; a hub id by name."""
    if not os.path.isdir(name_or_path):
        return {"hub_id": name_or_path}
    return {"digest": content_digest(name_or_path)}


def cache_key(identity: dict, pooling: str) -> str:
    """Hash of everything that determines the numbers: model fingerprint, family, task source,
    blocks, k, seed, max_length, dtype, and the pooling."""
    blob = json.dumps({"format": FORMAT, **identity, "pooling": pooling}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stats_path(cache_dir: str, task_name: str, key: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in task_name)
    return os.path.join(cache_dir, f"{safe}-{key}.safetensors")


def save_stats(path: str, moments, metadata: dict) -> None:
    import torch
    from safetensors.torch import save_file

    tensors: dict[str, Any] = {}
    for key, acc in moments.inputs.items():
        if acc.mean_release_sum is not None:
            # The release divides the sum of its per-batch means by the last batch index, n - 1.
            tensors[f"{key}.mean_release"] = (acc.mean_release_sum / (acc.batches - 1)).float().cpu()
        tensors[f"{key}.second_moment"] = acc.second_moment.float().cpu().contiguous()
        tensors[f"{key}.tokens"] = torch.tensor(acc.tokens, dtype=torch.int64)
        tensors[f"{key}.mean_masked"] = (acc.mean_masked_sum / max(acc.samples, 1)).float().cpu()
        if acc.mean_all_sum is not None:
            tensors[f"{key}.mean_all"] = (acc.mean_all_sum / max(acc.samples, 1)).float().cpu()
    # readers never see a half-written file
    write_file_atomic(path, lambda tmp: save_file(tensors, tmp, metadata={META_KEY: json.dumps(metadata, sort_keys=True)}))


@dataclass
class Stats:
    """A loaded statistics file."""

    path: str
    meta: dict
    tensors: dict

    @property
    def task(self) -> str:
        return self.meta["task"]["name"]

    @property
    def modules(self) -> list[str]:
        return list(self.meta["modules"])

    def input_key(self, module: str) -> str:
        return self.meta["modules"][module]

    def second_moment(self, module: str):
        return self.tensors[f"{self.input_key(module)}.second_moment"]

    def tokens(self, module: str) -> int:
        return int(self.tensors[f"{self.input_key(module)}.tokens"])

    def mean(self, module: str, pooling: str):
        """The mean vector of a module's input: over real tokens (masked), over all padded
        positions (all-positions), or as the released code computes it (release)."""
        kind = {"all-positions": "mean_all", "release": "mean_release"}.get(pooling, "mean_masked")
        name = f"{self.input_key(module)}.{kind}"
        if name not in self.tensors and pooling == "release":
            raise ValueError(f"statistics file {self.path} was not collected with osrm.variant 'release'; its "
                             f"mean vectors are not the release's (collect with osrm.variant release)")
        if name not in self.tensors:
            raise ValueError(f"statistics file {self.path} was collected with pooling "
                             f"'{self.meta['pooling']}' and has no '{pooling}' mean vectors; collect with "
                             f"osrm.pooling '{pooling}'")
        return self.tensors[name]


def read_meta(path: str, field: str = "stats") -> Optional[dict]:
    """The file's osrm_stats metadata (the header only), or None when it has none."""
    from safetensors import safe_open

    try:
        with safe_open(path, "pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except Exception as exc:  # noqa: BLE001 - SafetensorError has no importable base class
        raise unreadable_safetensors(field, path, exc, "delete it and collect the statistics again (osrm stats)") from None
    try:
        return json.loads(raw) if raw else None
    except json.JSONDecodeError as exc:
        raise wrap(f"{field}: the '{META_KEY}' metadata of {path} is not valid JSON ({exc.msg}); collect the "
                   f"statistics again", exc) from None


def load_stats(path: str, field: str = "stats") -> Stats:
    """A statistics file, checked: osrm's metadata of this format, and per module a d x d second
    moment (d = the module's input size the metadata records), before any eigen-solve uses it."""
    from safetensors.torch import load_file

    if not path or not os.path.isfile(path):
        raise InputError(f"{field}: statistics file {path!r} does not exist (run collect_stats / `osrm stats` first)")
    meta = read_meta(path, field)
    if not meta or meta.get("format") != FORMAT:
        raise InputError(f"{field}: {path} is not an osrm statistics file (no '{META_KEY}' metadata of format {FORMAT})")
    try:
        tensors = load_file(path)
    except Exception as exc:  # noqa: BLE001 - a header that parses over data that does not
        raise wrap(f"{field}: the tensors of {path} cannot be read (the file is truncated or corrupt); delete it "
                   f"and collect the statistics again", exc) from None
    try:
        modules, shapes = dict(meta["modules"]), dict(meta["shapes"])
        for module, key in modules.items():
            d_in = int(shapes[module][1])
            moment = tensors.get(f"{key}.second_moment")
            if moment is None or tuple(moment.shape) != (d_in, d_in):
                found = "missing" if moment is None else f"of shape {list(moment.shape)}"
                raise InputError(f"{field}: {path}: '{key}.second_moment' is {found}, but module '{module}' takes "
                                 f"{d_in} inputs ({d_in} x {d_in} expected); collect the statistics again")
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        if isinstance(exc, InputError):
            raise
        raise wrap(f"{field}: the '{META_KEY}' metadata of {path} lacks modules or shapes ({first_line(exc)}); "
                   f"collect the statistics again", exc) from None
    return Stats(path, meta, tensors)
