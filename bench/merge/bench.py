"""Peak memory and time of the streaming merge against the dense whole-model way.

8 rank-8 q,v LoRA adapters (real PEFT folders, random non-zero B) on a random-initialised
RoBERTa-base-shaped model (125M parameters). Each way runs in a fresh subprocess; its peak is the
process's high-water resident set (VmHWM, /proc/self/status) minus the same figure right after the
imports (interpreter + torch + transformers + peft), so it counts what the merge itself touched.

    node bin/osrm.js python -- bench/merge/bench.py [--work DIR] [--tasks 8] [--method task_arithmetic]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def high_water_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def prepare(work: str, tasks: int) -> dict:
    """The base model and the adapters, made once and reused."""
    from transformers import RobertaConfig, RobertaModel

    from osrm_runtime.testing.adapters import make_adapter
    from osrm_runtime.testing import make_tokenizer

    base = os.path.join(work, "roberta-base-shaped")
    if not os.path.isfile(os.path.join(base, "model.safetensors")):
        os.makedirs(base, exist_ok=True)
        make_tokenizer(base)
        RobertaModel(RobertaConfig()).save_pretrained(base, safe_serialization=True)  # roberta-base's shape
    adapters = []
    for t in range(tasks):
        path = os.path.join(work, f"adapter-{t}")
        if not os.path.isfile(os.path.join(path, "adapter_model.safetensors")):
            make_adapter(base, path, f"task{t}", rank=8, alpha=16, seed=t, b_scale=0.02)
        adapters.append({"task": f"task{t}", "path": path})
    return {"base": base, "adapters": adapters}


def streaming(setup: dict, out: str, method: str) -> dict:
    from osrm_runtime.dispatch import run_op

    result = run_op("merge", {"model": {"name_or_path": setup["base"]}, "adapters": setup["adapters"],
                              "method": {"name": method}, "out": out})
    return {"file": result["files"]["delta"]}


def dense(setup: dict, out: str, method: str) -> dict:
    """The whole-model way: every task's dense task vector over the whole model, then a merge."""
    import torch
    from safetensors.torch import load_file, save_file

    from osrm_runtime.merge.registry import parse_method
    from osrm_runtime.merge.method import ModuleInput

    base = load_file(os.path.join(setup["base"], "model.safetensors"))
    vectors = []
    for adapter in setup["adapters"]:
        with open(os.path.join(adapter["path"], "adapter_config.json")) as f:
            config = json.load(f)
        factors = load_file(os.path.join(adapter["path"], "adapter_model.safetensors"))
        tau = {k: torch.zeros_like(v) for k, v in base.items() if v.is_floating_point()}
        for key in factors:
            if ".lora_A." in key:
                name = key.replace("base_model.model.roberta.", "").replace(".lora_A.weight", ".weight")
                b = factors[key.replace(".lora_A.", ".lora_B.")]
                tau[name] += (b @ factors[key]) * (config["lora_alpha"] / config["r"])
        vectors.append(tau)
    spec, hyperparameters = parse_method({"name": method})
    merger = spec.build(hyperparameters)
    merged = {}
    for key in vectors[0]:
        merged[key] = merger.merge(ModuleInput(key, lambda key=key: [v[key] for v in vectors])).delta
    changed = {k: v.contiguous() for k, v in merged.items() if bool(v.any())}
    os.makedirs(out, exist_ok=True)
    save_file(changed, os.path.join(out, "merged.safetensors"))
    return {"file": os.path.join(out, "merged.safetensors")}


def child(way: str, work: str, method: str, tasks: int) -> None:
    import torch  # noqa: F401  (the baseline includes the libraries)
    import transformers  # noqa: F401
    import peft  # noqa: F401
    import osrm_runtime.merge.ops  # noqa: F401

    setup = prepare(work, tasks)
    baseline = high_water_mib()
    started = time.perf_counter()
    result = (streaming if way == "streaming" else dense)(setup, os.path.join(work, f"out-{way}"), method)
    seconds = time.perf_counter() - started
    print(json.dumps({"way": way, "seconds": seconds, "peak_mib": high_water_mib() - baseline,
                      "baseline_mib": baseline, **result}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "osrm-bench-merge"))
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--method", default="task_arithmetic")
    parser.add_argument("--child", choices=["streaming", "dense"])
    args = parser.parse_args()
    if args.child:
        child(args.child, args.work, args.method, args.tasks)
        return
    os.makedirs(args.work, exist_ok=True)
    subprocess.run([sys.executable, __file__, "--work", args.work, "--tasks", str(args.tasks), "--child",
                    "streaming", "--method", args.method], check=True, stdout=subprocess.DEVNULL)  # setup
    rows = {}
    for way in ("streaming", "dense"):
        run = subprocess.run([sys.executable, __file__, "--work", args.work, "--tasks", str(args.tasks),
                              "--child", way, "--method", args.method], check=True, capture_output=True, text=True)
        rows[way] = json.loads(run.stdout.strip().splitlines()[-1])
    base_file = os.path.join(args.work, "roberta-base-shaped", "model.safetensors")
    base_mib = os.path.getsize(base_file) / 2**20

    from safetensors.torch import load_file

    a, b = load_file(rows["streaming"]["file"]), load_file(rows["dense"]["file"])
    assert a.keys() == b.keys(), "the two ways changed different tensors"
    difference = max(float((a[k] - b[k]).abs().max()) for k in a)
    import torch

    print(f"base model: {sum(v.numel() for v in load_file(base_file).values()) / 1e6:.1f}M parameters, "
          f"{base_mib:.0f} MiB; {args.tasks} adapters (rank 8, q and v); method {args.method}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    print(f"{'way':<28}{'peak MiB':>10}{'x base':>9}{'seconds':>10}")
    for way, label in (("streaming", "streaming (ours)"), ("dense", "dense whole-model")):
        r = rows[way]
        print(f"{label:<28}{r['peak_mib']:>10.0f}{r['peak_mib'] / base_mib:>9.2f}{r['seconds']:>10.2f}")
    print(f"max |streaming - dense| over {len(a)} merged tensors: {difference:.2e}")
    ok = rows["streaming"]["peak_mib"] <= 1.5 * base_mib and difference < 1e-5
    print("bar (streaming peak <= 1.5x base, same result):", "met" if ok else "NOT met")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
