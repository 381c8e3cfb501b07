"""The `export` op: one task of a merge as a folder that anyone loads without osrm.

    hf    a Hugging Face model folder (config.json with the task's labels, model.safetensors, the
          tokenizer): the base with the merged update (lambda applied; EMR's mask and rescaler for
          this task) and the task's own head, built by the code evaluation uses (materialize.py),
          so `AutoModelForSequenceClassification.from_pretrained(out)` predicts what osrm scored.
    peft  one PEFT LoRA adapter with the task's head, for merges that are a fixed linear
          combination of LoRA updates (the registry's `linear_combination`: sum or mean): the
          merged update sum_t c_t B_t A_t is exactly the LoRA with the factors concatenated,
          A = [A_1; ...; A_T], B = [c_1 B_1 ... c_T B_T] (each adapter's scaling, the mean's 1/T
          and lambda folded into B), rank = the sum of ranks, alpha = rank (scaling 1). It is
          checked against the merge's stored dense update before anything is written.

`out` must be absent or empty (`force` replaces it). Everything is written into a temporary
folder beside `out` and renamed into place, so a failed export leaves no half-written folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from typing import Iterator, Optional

from ..adapters import CARD_FILE, TASK_FILE, label_maps, lora_config, normalise_modes, write_adapter
from ..contract.payloads import ExportPayload
from ..digest import model_reference
from ..models import load_config, load_tokenizer
from .materialize import base_spec, load_merged_task_model, task_entry
from .output import read_manifest
from .registry import METHODS, method_spec
from .sources import Backbone


def export(payload: ExportPayload, ctx) -> dict:
    folder, task, out = payload.merged, payload.task, os.path.abspath(payload.out)
    manifest = read_manifest(folder)
    entry = task_entry(manifest, task)
    spec = base_spec(folder, manifest, payload.model)
    lam = float(manifest["lambda"] if payload.lambda_ is None else payload.lambda_)
    if payload.format == "peft":
        refuse_peft(folder, manifest)  # before anything touches `out`
    check_out(out, folder, payload.force)
    info = {**entry["info"], **label_maps(entry["info"]), "task": task,
            "merge": {"folder": os.path.abspath(folder), "method": manifest["method"], "lambda": lam}}
    ctx.progress("export", current=0, total=1, message=f"{task} as {payload.format}")
    with replacing(out) as staging:
        if payload.format == "hf":
            result = write_hf(staging, folder, task, lam, spec, info)
        else:
            result = write_peft(staging, folder, manifest, entry, lam, spec, info)
        with open(os.path.join(staging, CARD_FILE), "w", encoding="utf-8") as f:
            f.write(export_card(payload.format, manifest, task, lam, spec, info, result.get("rank")))
        normalise_modes(staging)
        files = sorted(os.listdir(staging))
    ctx.progress("export", current=1, total=1)
    return {"out": out, "format": payload.format, "task": task, "lambda": lam, "method": manifest["method"]["name"],
            "base": spec.name_or_path, "files": files, "rank": result.get("rank"),
            "max_abs_diff": result.get("max_abs_diff")}


# -- refusing early ------------------------------------------------------------------------------


def refuse_peft(folder: str, manifest: dict) -> None:
    """Why a merge cannot be one LoRA adapter, in words a user can act on (ValueError: exit 2)."""
    name = manifest["method"]["name"]
    spec = method_spec(name)
    if spec.linear_combination is None:
        raise ValueError(
            f"format peft: method '{name}' is not a fixed linear combination of the task updates ({spec.summary}), "
            f"so its merged update is no concatenation of the adapters' LoRA factors and would not fit in one "
            f"adapter of a bounded rank; export it with --format hf (the dense merged model), or merge with one "
            f"of {', '.join(m.name for m in METHODS if m.linear_combination)} for a LoRA export")
    kinds = {t["kind"] for t in manifest["tasks"]}
    if kinds != {"lora"}:
        raise ValueError(f"format peft: the merge {folder} is of fully fine-tuned models, which have no LoRA "
                         f"factors; export it with --format hf")
    missing = [t["task"] for t in manifest["tasks"] if not t.get("factors")]
    if missing:
        raise ValueError(f"format peft: the merge {folder} holds no LoRA factors for {', '.join(missing)} (it was "
                         f"made before merges kept them); run the merge again, or export with --format hf")


def check_out(out: str, folder: str, force: bool) -> None:
    merged = os.path.realpath(folder)
    target = os.path.realpath(out)
    if target == merged or merged.startswith(target + os.sep):
        raise ValueError(f"out {out} is the merge folder or holds it; choose another folder")
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"out {out} is a file, not a folder")
    if os.path.isdir(out) and os.listdir(out) and not force:
        raise ValueError(f"out {out} is not empty ({len(os.listdir(out))} entries); choose another folder, or "
                         f"replace it with --force")


@contextlib.contextmanager
def replacing(out: str) -> Iterator[str]:
    """A folder to fill that replaces `out` in one rename when the block succeeds (the old `out`,
    if any, is renamed aside first and removed after); nothing of it remains when it fails."""
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.export-", dir=parent)
    staging = os.path.join(work, "new")
    os.mkdir(staging)
    try:
        yield staging
        old = os.path.join(work, "old")
        if os.path.exists(out):
            os.rename(out, old)
        try:
            os.rename(staging, out)
        except OSError:
            if os.path.exists(old):
                os.rename(old, out)  # put the previous folder back
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- the two formats -----------------------------------------------------------------------------


def write_hf(staging: str, folder: str, task: str, lam: float, spec, info: dict) -> dict:
    from ..models import _quiet_transformers

    model = load_merged_task_model(folder, task, lam, spec)
    maps = label_maps(info)
    model.config.id2label = {int(i): name for i, name in maps["id2label"].items()}
    model.config.label2id = dict(maps["label2id"])
    model.config.problem_type = maps["problem_type"]
    _quiet_transformers()  # no "Writing model shards" bar through our progress display
    model.save_pretrained(staging)
    load_tokenizer(spec).save_pretrained(staging)
    with open(os.path.join(staging, TASK_FILE), "w", encoding="utf-8") as f:
        json.dump({**info, "base_model": model_reference(spec.name_or_path, spec.revision)}, f, indent=2, sort_keys=True)
    return {}


def concatenated_factors(folder: str, manifest: dict, lam: float, conv1d=frozenset()):
    """{tensor: (module, A, B)} of the merge as one LoRA (scaling 1), the PEFT config's
    fan_in_fan_out, and the largest |B A - lambda * merged| over the stored dense update."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    spec = method_spec(manifest["method"]["name"])
    tasks = manifest["tasks"]
    coef = lam / len(tasks) if spec.linear_combination == "mean" else lam
    handles = [safe_open(os.path.join(folder, t["factors"]), framework="pt", device="cpu") for t in tasks]
    modules = json.loads(handles[0].metadata()["modules"])
    fan_in_fan_out = json.loads(handles[0].metadata().get("fan_in_fan_out", "false"))
    dense = load_file(os.path.join(folder, manifest["delta"]))
    out, worst = {}, 0.0
    for key in manifest["tensors"]:
        a = torch.cat([h.get_tensor(f"{key}.lora_A").double() for h in handles], dim=0)
        b = torch.cat([coef * h.get_tensor(f"{key}.lora_B").double() for h in handles], dim=1)
        stored = dense[key].double()
        stored = stored.T if key in conv1d else stored  # the stored delta keeps the tensor's own layout
        diff = float((b @ a - lam * stored).abs().max())
        scale = float((lam * stored).abs().max())
        if diff > 1e-4 * max(scale, 1.0):
            raise ValueError(f"format peft: the concatenated factors of '{key}' differ from the merge's stored "
                             f"update by {diff:.3g} (largest entry {scale:.3g}): the merge folder is inconsistent; "
                             f"export with --format hf")
        worst = max(worst, diff)
        out[key] = (modules[key], a.float(), b.float())
    return out, fan_in_fan_out, worst


def write_peft(staging: str, folder: str, manifest: dict, entry: dict, lam: float, spec, info: dict) -> dict:
    from safetensors.torch import load_file

    backbone = Backbone.of(load_config(spec))
    factors, fan_in_fan_out, worst = concatenated_factors(folder, manifest, lam, backbone.conv1d)
    ranks = {module: int(a.shape[0]) for module, a, _ in factors.values()}
    rank = max(ranks.values())
    head = load_file(os.path.join(folder, entry["head"]))
    config = lora_config(rank=rank, alpha=rank, dropout=0.0, target_modules=sorted(ranks),
                         modules_to_save=sorted({k.split(".")[0] for k in head}), fan_in_fan_out=fan_in_fan_out)
    if len(set(ranks.values())) > 1:  # adapters with per-module ranks: alpha = rank everywhere, scaling 1
        config.rank_pattern = {m: r for m, r in ranks.items() if r != rank}
        config.alpha_pattern = dict(config.rank_pattern)
    target = os.path.join(staging, "adapter")  # write_adapter stages its own folder; moved up below
    write_adapter(target, {module: (a, b) for module, a, b in factors.values()}, config,
                  base_model=spec.name_or_path, revision=spec.revision, head=head,
                  task_info={k: v for k, v in info.items() if k != "base_model"})
    for name in os.listdir(target):
        os.replace(os.path.join(target, name), os.path.join(staging, name))
    os.rmdir(target)
    return {"rank": rank, "max_abs_diff": worst}


def export_card(fmt: str, manifest: dict, task: str, lam: float, spec, info: dict, rank: Optional[int]) -> str:
    from ..adapters import load_snippet

    method = manifest["method"]
    hyper = ", ".join(f"{k} {v}" for k, v in sorted(method.items()) if k not in ("name", "lambda"))
    others = [t["task"] for t in manifest["tasks"] if t["task"] != task]
    base = model_reference(spec.name_or_path, spec.revision)
    hub = "digest" not in base
    front = ["---", f"library_name: {'peft' if fmt == 'peft' else 'transformers'}", "pipeline_tag: text-classification",
             "tags: [merge, osrm, text-classification]"] + ([f"base_model: {base['name_or_path']}"] if hub else []) + ["---"]
    labels = ", ".join(label_maps(info)["id2label"].values())
    if fmt == "hf":
        load = ["```python", "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
                'model = AutoModelForSequenceClassification.from_pretrained(".")  # config.id2label names the labels',
                'tokenizer = AutoTokenizer.from_pretrained(".")', "```"]
        what = "A Hugging Face model folder: the base with the merged update applied and this task's head."
    else:
        load = ["```python", load_snippet(".", base["name_or_path"]), "```"]
        what = (f"One PEFT LoRA adapter (rank {rank}: the merged adapters' factors concatenated, their scalings, "
                f"the merge's coefficients and lambda folded in) plus this task's head.")
    rows = [("base model", f"`{base['name_or_path']}`" + ("" if hub else f", content digest `{base['digest']}`")),
            ("merge", f"{method['name']}" + (f" ({hyper})" if hyper else "") + f", lambda {lam:g}"),
            ("task", f"{task} ({labels})"),
            ("merged with", ", ".join(others) or "(no other task)")]
    return "\n".join(front + ["", f"# {task} from a {method['name']} merge", "",
                              what + " Exported by [osrm](https://www.npmjs.com/package/osrm-merge).", "",
                              "| | |", "| --- | --- |", *[f"| {k} | {v} |" for k, v in rows], "",
                              "## Loading it", "", *load, ""])
