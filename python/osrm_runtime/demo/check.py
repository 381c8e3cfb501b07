"""Does the embedded base help? Per demo task, train the demo's LoRA (the `train` op, with the
demo config's lora and training settings) from the committed base and from a randomly initialised
model of the same shape and tokenizer, and compare both with the task's trivial baseline.

    node bin/osrm.js python -- -m osrm_runtime.demo.check \
        [--model models/osrm-tiny-roberta] [--config configs/demo.yaml] [--out models/osrm-tiny-roberta/demo_check.json]

The demo config is resolved by the toolkit itself (`osrm --json config show`), so every knob
(including per-task epochs and learning rates) is the one `osrm demo` uses; each payload below
nevertheless names every field of every slice. `--dev` trains on 80% of each task's training
split and scores on the other 20% (seeded): that is where the demo's training settings are chosen,
so that nothing is tuned on the eval split. Not part of the test suite: it takes minutes.

Reported per task and init: the score after the last epoch (no selection on the scored split) and
the best epoch's score (what the `train` op keeps; it selects on the scored split).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Optional

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def resolved_config(config: str, sets: Optional[list[str]] = None) -> dict:
    """The demo config with every default filled in, as the TypeScript side resolves it."""
    cmd = ["node", os.path.join(REPO, "bin", "osrm.js"), "--json", "config", "show", config]
    for s in sets or []:
        cmd += ["--set", s]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed: {out.stderr.strip() or out.stdout.strip()}")
    reply = json.loads(out.stdout)
    return reply["value"] if reply.get("type") == "result" else reply


def training_for(cfg: dict, task: str, seed: int) -> dict:
    """The `training` slice of one train job: the config's values, per-task overrides applied."""
    t = cfg["training"]
    out = {}
    for key in ("lr", "epochs", "batch_size", "grad_accum", "warmup_ratio", "scheduler", "weight_decay",
                "gradient_checkpointing", "precision", "seed", "group_by_length", "eval_batch_size"):
        value = t[key]
        per = (t.get("per_task") or {}).get(key)
        if isinstance(per, dict) and task in per:
            value = per[task]
        if isinstance(value, list):  # a sweep axis: the check uses its first point
            value = value[0]
        out[key] = value
    out["seed"] = seed
    return out


def random_init_copy(model_dir: str, out: str, seed: int) -> str:
    """A model of the base's shape (its config.json) with fresh random weights, and the base's
    tokenizer, saved as safetensors."""
    import torch
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer

    torch.manual_seed(seed)
    config = AutoConfig.from_pretrained(model_dir)
    AutoModelForMaskedLM.from_config(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)
    return out


def dev_split(tasks_dir: str, entry: dict, out: str, seed: int, fraction: float = 0.2) -> dict:
    """A copy of a task entry whose eval split is a seeded slice of its training split."""
    with open(os.path.join(tasks_dir, entry["files"]["train"]), encoding="utf-8") as f:
        rows = [line for line in f if line.strip()]
    order = list(range(len(rows)))
    random.Random(f"{seed}:dev:{entry['name']}").shuffle(order)
    n_dev = int(round(fraction * len(rows)))
    folder = os.path.join(out, entry["name"])
    os.makedirs(folder, exist_ok=True)
    parts = {"eval": sorted(order[:n_dev]), "train": sorted(order[n_dev:])}
    for split, idx in parts.items():
        with open(os.path.join(folder, f"{split}.jsonl"), "w", encoding="utf-8") as f:
            f.writelines(rows[i] for i in idx)
    return {**entry, "files": {s: os.path.join(entry["name"], f"{s}.jsonl") for s in parts},
            "sizes": {s: len(idx) for s, idx in parts.items()}}


def task_slice(tasks_dir: str, entry: dict, max_length: int) -> dict:
    return {"name": entry["name"], "max_train": None, "max_eval": None, "max_length": max_length,
            "source": {"kind": "files", "train": os.path.join(tasks_dir, entry["files"]["train"]),
                       "eval": os.path.join(tasks_dir, entry["files"]["eval"]), "format": "jsonl",
                       "text": entry["text"], "label": entry["label"], "labels": entry["labels"],
                       "regression": entry["regression"], "metric": entry["metric"]}}


def train_one(model_dir: str, task: dict, lora: dict, training: dict, out: str) -> dict:
    from ..dispatch import run_op

    payload = {
        "model": {"name_or_path": model_dir, "family": "roberta", "dtype": "float32"},
        "task": task,
        "lora": {"rank": lora["rank"], "alpha": lora["alpha"], "dropout": lora["dropout"],
                 "blocks": list(lora["blocks"]), "freeze": lora["freeze"]},
        "training": training,
        "init": {"kind": "gaussian"},
        "out": out,
    }
    t0 = time.perf_counter()
    result = run_op("train", payload)
    history = result["history"]
    return {"score": history[-1]["score"], "best_score": result["score"], "best_epoch": result["best_epoch"],
            "epochs": [round(h["score"], 4) for h in history],
            "train_seconds": round(sum(h["train_seconds"] for h in history), 1),
            "wall_s": round(time.perf_counter() - t0, 1),
            "baseline": result["majority_baseline"]["score"]}


def main(argv: Optional[list[str]] = None) -> None:
    import torch
    from transformers.utils import logging as hf_logging

    from . import tasks as demo_tasks

    p = argparse.ArgumentParser(prog="python -m osrm_runtime.demo.check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=os.path.join(REPO, "models", "osrm-tiny-roberta"))
    p.add_argument("--config", default=os.path.join(REPO, "configs", "demo.yaml"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, as `osrm --set` (e.g. training.lr=1e-3)")
    p.add_argument("--tasks-dir", help="a suite written by build_demo_tasks (default: build one into a temp folder)")
    p.add_argument("--node-modules", default=os.environ.get("OSRM_NODE_MODULES") or os.path.join(REPO, "node_modules"))
    p.add_argument("--tasks", nargs="*", help="only these tasks")
    p.add_argument("--inits", nargs="*", default=["base", "random"], choices=["base", "random"])
    p.add_argument("--seed", type=int, default=42, help="training seed (and the random init's)")
    # one thread: on the shared 2-core machine two threads were several times slower (they wait on
    # each other whenever another process holds a core)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dev", action="store_true",
                   help="score on a seeded 20%% slice of each training split (for choosing settings)")
    p.add_argument("--work", help="folder for the adapters (default: a temp folder, removed)")
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    cfg = resolved_config(args.config, args.set)
    lengths = {t["name"]: t["max_length"] for t in cfg["tasks"]}
    work = args.work or tempfile.mkdtemp(prefix="osrm-check-")
    t0 = time.perf_counter()
    try:
        tasks_dir = args.tasks_dir
        if not tasks_dir:
            tasks_dir = os.path.join(work, "suite")
            demo_tasks.build(args.node_modules, tasks_dir, 42)
        with open(os.path.join(tasks_dir, "tasks.json")) as f:
            index = json.load(f)
        entries = [e for e in index["tasks"] if e["name"] in lengths and (not args.tasks or e["name"] in args.tasks)]
        if args.dev:
            dev_dir = os.path.join(work, "dev")
            entries = [dev_split(tasks_dir, e, dev_dir, args.seed) for e in entries]
            tasks_dir = dev_dir
        models = {}
        if "base" in args.inits:
            models["base"] = os.path.abspath(args.model)
        if "random" in args.inits:
            models["random"] = random_init_copy(args.model, os.path.join(work, "random-init"), args.seed)
        rows = []
        for entry in entries:
            task = task_slice(tasks_dir, entry, lengths[entry["name"]])
            training = training_for(cfg, entry["name"], args.seed)
            row = {"task": entry["name"], "metric": entry["metric"], "train": entry["sizes"]["train"],
                   "scored": entry["sizes"]["eval"], "max_length": task["max_length"], "training": training}
            for init, model_dir in models.items():
                r = train_one(model_dir, task, cfg["lora"], training, os.path.join(work, f"{entry['name']}-{init}"))
                row[init] = r
                row["baseline"] = r["baseline"]
                print(f"{entry['name']:<18} {init:<6} {entry['metric']} last {r['score']:.4f} best {r['best_score']:.4f} "
                      f"(epochs {r['epochs']}) baseline {r['baseline']:.4f}  {r['train_seconds']}s train, "
                      f"{r['wall_s']}s", flush=True)
            if "base" in row and "random" in row:
                row["base_beats_random"] = row["base"]["score"] > row["random"]["score"]
            rows.append(row)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    record = {
        "command": "node bin/osrm.js python -- -m osrm_runtime.demo.check " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "method": ("LoRA through the `train` op with the demo config's lora and training settings "
                   f"(r {cfg['lora']['rank']}, alpha {cfg['lora']['alpha']}, blocks {cfg['lora']['blocks']}, "
                   "classification/regression head trained), Gaussian init, training seed "
                   f"{args.seed}, {args.threads} CPU threads; 'random' = a model of the same config.json "
                   "shape with fresh random weights (seed " f"{args.seed}) and the same tokenizer"),
        "scored_on": "dev: a seeded 20% slice of each training split" if args.dev else "the eval split",
        "model": os.path.relpath(os.path.abspath(args.model), REPO),
        "wall_s": round(time.perf_counter() - t0, 1),
        "tasks": rows,
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(record, f, indent=2)
    for r in rows:
        print(json.dumps({k: (v["score"] if isinstance(v, dict) and "score" in v else v)
                          for k, v in r.items() if k in ("task", "baseline", "base", "random", "base_beats_random")}))


if __name__ == "__main__":
    main()
