"""The GPU acceptance check: everything that needs a GPU, in one run, one JSON file and one table.

    python bench/gpu/acceptance.py [--out FILE.json] [--peak-tflops X] [--only stats,train,...]
    node bin/osrm.js python -- bench/gpu/acceptance.py --tiny      # the same code on tiny shapes, on a CPU

On a GPU server whose own Python has torch, transformers and peft, run it with that interpreter
(`OSRM_PYTHON=$(command -v python3) python3 bench/gpu/acceptance.py --out bench/results/...`); it
puts python/ on its path itself. Sections (each timed, each recorded even if another fails):

  stats       OSRM statistics on RoBERTa-large and Llama-3-8B shapes (random init from a config,
              bf16): the authors' way (batch size 1, padded to 128, a hook per module) vs ours
              (osrm_runtime.osrm.hooks.collect_moments on length-bucketed, dynamically padded
              batches), and the limit, a plain batched forward over the same batches without hooks.
              Goals: ours >= 30x the reference on RoBERTa-large; ours / plain <= 1.3x.
  train       LoRA r8 q,v training of RoBERTa-large, batch 64, bf16 autocast, through the train
              recipe's own train_steps: ours (dynamic padding, length-grouped batches, no
              checkpointing) vs the authors' (pad to 128, gradient checkpointing) on a GLUE-like
              length distribution, and a plain forward+backward of the same batches. Goal >= 2x.
              Then the model FLOP utilisation at sequence length 128 (every example 128 tokens).
              Goal >= 40% of the device's dense bf16 peak.
  llama_step  one LoRA r8 q,v step of a Llama-3-8B shape, batch 16 x 128 tokens, bf16, checkpointing:
              samples/s and peak GPU memory.
  merge       the streaming merge (the `merge` op, task arithmetic) of 8 RoBERTa-large-shaped
              rank-8 adapters on the GPU: seconds and peak memory. Goal <= 1.5x the base model.
  demo        `osrm demo` end to end on this machine (GPU when torch sees one), timed.

Model FLOPs (MFU): per trained token, counted from the model: N = the weights of every Linear
(frozen and LoRA; embeddings excluded), N_t = the trainable ones (LoRA factors and the head),
L layers of width d at sequence length s:
    forward 2N + 4Lsd (attention scores and weighted sum), backward 2N + 8Lsd (the activations'
    gradients flow through every matmul) + 2N_t (weight gradients only where weights train),
so 4N + 2N_t + 12Lsd per token; recomputation under checkpointing is not counted (model FLOPs,
not hardware FLOPs). The peak is `--peak-tflops`, else NVIDIA's dense bf16 figure for the device
(H100/H200 SXM: 989.4 TFLOP/s), else the measured matmul rate; the measured rate is always
reported beside it (docs/benchmarks.md: ~790 TFLOP/s measured on an H200).

`--tiny`: the same sections on tiny shapes on the CPU in seconds (fp32), so the suite runs this
script and it cannot rot; goals are then not judged. The JSON is rewritten after every section,
so a run that is stopped keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any, Callable, Optional

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

SHAPES = {
    "roberta-large": dict(family="roberta", hidden=1024, layers=24, heads=16, kv_heads=16, intermediate=4096, vocab=50265),
    "llama-3-8b": dict(family="llama", hidden=4096, layers=32, heads=32, kv_heads=8, intermediate=14336, vocab=128256),
    # --tiny: the same code paths on shapes a CPU runs in seconds.
    "tiny-roberta": dict(family="roberta", hidden=64, layers=2, heads=2, kv_heads=2, intermediate=256, vocab=1000),
    "tiny-llama": dict(family="llama", hidden=64, layers=2, heads=4, kv_heads=2, intermediate=172, vocab=1000),
}
# NVIDIA's dense (no sparsity) bf16 tensor-core peaks, TFLOP/s, by a substring of the device name.
SPEC_PEAKS = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L40S": 362.1, "A10G": 70.0}
MAX_LENGTH = 128


# ---------------------------------------------------------------------------------------------
# shared pieces


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device) -> tuple[Any, float]:
    sync(device)
    started = time.perf_counter()
    value = fn()
    sync(device)
    return value, time.perf_counter() - started


def build_model(shape: str, device, dtype, num_labels: int = 2):
    """A randomly initialised sequence classifier of the shape, made on the device in `dtype`."""
    from transformers import AutoModelForSequenceClassification, LlamaConfig, RobertaConfig

    s = SHAPES[shape]
    if s["family"] == "roberta":
        config = RobertaConfig(vocab_size=s["vocab"], hidden_size=s["hidden"], num_hidden_layers=s["layers"],
                               num_attention_heads=s["heads"], intermediate_size=s["intermediate"],
                               max_position_embeddings=MAX_LENGTH + 2 + 384, pad_token_id=1, num_labels=num_labels)
    else:
        config = LlamaConfig(vocab_size=s["vocab"], hidden_size=s["hidden"], num_hidden_layers=s["layers"],
                             num_attention_heads=s["heads"], num_key_value_heads=s["kv_heads"],
                             intermediate_size=s["intermediate"], max_position_embeddings=8192,
                             rope_theta=500000.0, pad_token_id=0, num_labels=num_labels)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForSequenceClassification.from_config(config, dtype=dtype)
    return model.eval()


def pad_id_of(model) -> int:
    return int(model.config.pad_token_id)


def glue_like_lengths(rng: random.Random, n: int, pair: bool) -> list[int]:
    """Token counts like GLUE's with RoBERTa's tokenizer: single sentences (SST-2, CoLA: ~10-25)
    and pairs (MRPC, RTE, QNLI: ~30-90), capped at 128."""
    return [min(MAX_LENGTH, rng.randint(25, 90) if pair else rng.randint(6, 30)) for _ in range(n)]


def random_sequences(lengths: list[int], vocab: int, seed: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(3, vocab, (n,), generator=g).tolist() for n in lengths]


def encoded_task(lengths: list[int], vocab: int, seed: int):
    from osrm_runtime.data.batches import Encoded

    return Encoded(random_sequences(lengths, vocab, seed), [i % 2 for i in range(len(lengths))], False)


def peak_memory_reset(device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_bytes(device) -> Optional[int]:
    return int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None


def high_water_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def matmul_tflops(device, dtype, tiny: bool) -> float:
    """The measured dense matmul rate: what the device really reaches on one large GEMM."""
    n = 512 if tiny else 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    reps = 5 if tiny else 50
    _, seconds = timed(lambda: [a @ b for _ in range(reps)], device)
    return 2 * n ** 3 * reps / seconds / 1e12


# ---------------------------------------------------------------------------------------------
# (a) statistics


def reference_stats(model, sequences: list[list[int]], modules: list[str], pad_id: int) -> dict:
    """The authors' extraction: batch size 1, padded to 128, a hook on every module, the mean over
    all positions (pads included)."""
    named = dict(model.named_modules())
    sums: dict = {m: None for m in modules}
    device = next(model.parameters()).device

    def hook(name):
        def fn(_module, args):
            v = args[0].float().mean(dim=1).squeeze(0)
            sums[name] = v if sums[name] is None else sums[name] + v
        return fn

    handles = [named[m].register_forward_pre_hook(hook(m)) for m in modules]
    try:
        with torch.inference_mode():
            for seq in sequences:
                ids = torch.full((1, MAX_LENGTH), pad_id, dtype=torch.long)
                mask = torch.zeros((1, MAX_LENGTH), dtype=torch.long)
                ids[0, :len(seq)] = torch.tensor(seq)
                mask[0, :len(seq)] = 1
                model(input_ids=ids.to(device), attention_mask=mask.to(device))
    finally:
        for h in handles:
            h.remove()
    return sums


def stats_section(shapes: list[str], device, dtype, tasks: int, samples: int) -> dict:
    from osrm_runtime.models import adapted_module_names
    from osrm_runtime.osrm.batching import stats_batches
    from osrm_runtime.osrm.hooks import collect_moments

    out: dict = {}
    for shape in shapes:
        started = time.perf_counter()
        model = build_model(shape, device, dtype)
        family = SHAPES[shape]["family"]
        modules = adapted_module_names(model, family, ["q", "v"])
        rng = random.Random(0)
        data = [encoded_task(glue_like_lengths(rng, samples, pair=t % 2 == 1), SHAPES[shape]["vocab"], seed=t)
                for t in range(tasks)]
        pad = pad_id_of(model)
        batched = [list(stats_batches(e, 50, pad)[1]) for e in data]
        reference_stats(model, data[0].input_ids[:2], modules, pad)  # warm-up: kernels, allocator
        collect_moments(model, batched[0][:1], modules, "masked")
        _, ref_s = timed(lambda: [reference_stats(model, e.input_ids, modules, pad) for e in data], device)
        # ours as the collect_stats op runs it, batching included
        _, ours_s = timed(lambda: [collect_moments(model, list(stats_batches(e, 50, pad)[1]), modules, "masked")
                                   for e in data], device)

        def plain():
            with torch.inference_mode():
                for batches in batched:
                    for b in batches:
                        model(input_ids=b["input_ids"].to(device), attention_mask=b["attention_mask"].to(device))

        _, plain_s = timed(plain, device)
        tokens = sum(len(s) for e in data for s in e.input_ids)
        out[shape] = {"modules": len(modules), "tasks": tasks, "samples": samples, "real_tokens": tokens,
                      "reference_s": ref_s, "ours_s": ours_s, "plain_forward_s": plain_s,
                      "speedup": ref_s / ours_s, "ours_over_plain": ours_s / plain_s,
                      "section_s": time.perf_counter() - started}
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


# ---------------------------------------------------------------------------------------------
# (b) and (c) training


def lora_model(shape: str, device, dtype, checkpointing: bool):
    from osrm_runtime.contract import parse_piece
    from osrm_runtime.contract.payloads import GaussianInit, LoraSetting
    from osrm_runtime.train.lora import build_lora_model, trainable_parameters

    base = build_model(shape, device, dtype)
    torch.manual_seed(0)
    model = build_lora_model(base, SHAPES[shape]["family"], parse_piece(LoraSetting, {"rank": 8, "alpha": 16, "blocks": ["q", "v"]}),
                             GaussianInit(kind="gaussian"))
    for _, p in trainable_parameters(model):
        p.data = p.data.float()  # as the train recipe keeps them: fp32 updates and optimizer state
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def train_flops_per_token(model, shape: str, seq: float) -> float:
    """4N + 2N_t + 12Lsd: see the module's docstring."""
    n = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    s = SHAPES[shape]
    return 4 * n + 2 * n_trainable + 12 * s["layers"] * seq * s["hidden"]


def set_checkpointing(model, on: bool) -> None:
    if on:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_disable()


def train_section(shape: str, device, dtype, amp, examples: int, mfu_steps: int, peak_tflops: float) -> dict:
    from osrm_runtime.contract import parse_piece
    from osrm_runtime.contract.payloads import TrainingSetting
    from osrm_runtime.data.batches import batch_order, collate
    from osrm_runtime.train.recipe import loss_of, make_optimizer, train_steps

    started = time.perf_counter()
    model = lora_model(shape, device, dtype, checkpointing=False)
    optimizer, _ = make_optimizer(model, parse_piece(TrainingSetting, {}))
    pad = pad_id_of(model)
    rng = random.Random(1)
    lengths = glue_like_lengths(rng, examples // 2, False) + glue_like_lengths(rng, examples - examples // 2, True)
    encoded = encoded_task(lengths, SHAPES[shape]["vocab"], seed=99)
    common = dict(pad_id=pad, padding_side="right", device=device, amp_dtype=amp, grad_accum=1, scheduler=None,
                  first_step=0, epoch=1)
    ours_batches = batch_order(lengths, 64, shuffle=True, seed=1, group_by_length=True)
    ref_batches = batch_order(lengths, 64, shuffle=True, seed=1, group_by_length=False)

    def ours():
        set_checkpointing(model, False)
        return train_steps(model, optimizer, encoded, ours_batches, **common)

    def reference():
        set_checkpointing(model, True)
        return train_steps(model, optimizer, encoded, ref_batches, pad_to=MAX_LENGTH, **common)

    collated = [{k: v.to(device) for k, v in collate(encoded, b, pad).items()} for b in ours_batches]

    def plain():
        set_checkpointing(model, False)
        model.train()
        for batch in collated:
            with torch.autocast(device.type, dtype=amp) if amp is not None else _null():
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            loss_of(logits, batch["labels"], False).backward()
        model.zero_grad(set_to_none=True)

    # warm-up on a few batches of each way
    set_checkpointing(model, False)
    train_steps(model, optimizer, encoded, ours_batches[:2], **common)
    set_checkpointing(model, True)
    train_steps(model, optimizer, encoded, ref_batches[:2], pad_to=MAX_LENGTH, **common)
    rates: dict = {"ours": [], "reference": [], "plain": []}
    for _ in range(3):  # alternating rounds, medians: a slow spell is spread over every way
        rates["ours"].append(examples / timed(ours, device)[1])
        rates["reference"].append(examples / timed(reference, device)[1])
        rates["plain"].append(examples / timed(plain, device)[1])
    med = {k: statistics.median(v) for k, v in rates.items()}

    # MFU at sequence length 128: every example 128 tokens, batch 64, no checkpointing.
    full = encoded_task([MAX_LENGTH] * 64 * mfu_steps, SHAPES[shape]["vocab"], seed=7)
    fixed = [list(range(i * 64, (i + 1) * 64)) for i in range(mfu_steps)]
    set_checkpointing(model, False)
    train_steps(model, optimizer, full, fixed[:1], **common)
    _, seconds = timed(lambda: train_steps(model, optimizer, full, fixed, **common), device)
    samples_per_s = 64 * mfu_steps / seconds
    flops = train_flops_per_token(model, shape, MAX_LENGTH) * MAX_LENGTH * samples_per_s
    widths = [max(lengths[i] for i in b) for b in ours_batches]
    out = {"shape": shape, "examples": examples, "batch_size": 64, "mean_tokens": sum(lengths) / len(lengths),
           "ours_mean_padded_width": sum(widths) / len(widths),
           "ours_samples_per_s": med["ours"], "reference_samples_per_s": med["reference"],
           "plain_fwd_bwd_samples_per_s": med["plain"], "speedup": med["ours"] / med["reference"],
           "ours_over_plain_rate": med["ours"] / med["plain"],
           "seq128": {"samples_per_s": samples_per_s, "model_tflops": flops / 1e12,
                      "flops_per_token": train_flops_per_token(model, shape, MAX_LENGTH),
                      "mfu": flops / 1e12 / peak_tflops},
           "section_s": time.perf_counter() - started}
    del model, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def llama_step_section(shape: str, device, dtype, amp, batch: int, steps: int, peak_tflops: float) -> dict:
    from osrm_runtime.contract import parse_piece
    from osrm_runtime.contract.payloads import TrainingSetting
    from osrm_runtime.train.recipe import make_optimizer, train_steps

    started = time.perf_counter()
    peak_memory_reset(device)
    model = lora_model(shape, device, dtype, checkpointing=True)
    build_s = time.perf_counter() - started
    optimizer, _ = make_optimizer(model, parse_piece(TrainingSetting, {}))
    encoded = encoded_task([MAX_LENGTH] * batch * (steps + 2), SHAPES[shape]["vocab"], seed=5)
    batches = [list(range(i * batch, (i + 1) * batch)) for i in range(steps + 2)]
    common = dict(pad_id=pad_id_of(model), padding_side="right", device=device, amp_dtype=amp, grad_accum=1,
                  scheduler=None, first_step=0, epoch=1)
    train_steps(model, optimizer, encoded, batches[:2], **common)  # warm-up
    _, seconds = timed(lambda: train_steps(model, optimizer, encoded, batches[2:], **common), device)
    samples_per_s = batch * steps / seconds
    flops = train_flops_per_token(model, shape, MAX_LENGTH) * MAX_LENGTH * samples_per_s
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    out = {"shape": shape, "batch_size": batch, "seq_len": MAX_LENGTH, "steps": steps, "checkpointing": True,
           "samples_per_s": samples_per_s, "step_s": seconds / steps, "model_tflops": flops / 1e12,
           "mfu": flops / 1e12 / peak_tflops, "weights_bytes": weights,
           "peak_memory_bytes": peak_memory_bytes(device), "build_s": build_s,
           "section_s": time.perf_counter() - started}
    del model, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


# ---------------------------------------------------------------------------------------------
# (d) the streaming merge, in a child process so its peak is its own


def prepare_merge(work: str, shape: str, adapters: int) -> dict:
    """A base of the shape on disk and `adapters` rank-8 q,v PEFT adapters with random B and head."""
    from peft import get_peft_model, get_peft_model_state_dict

    from osrm_runtime.adapters import lora_config, write_adapter
    from osrm_runtime.models import adapted_module_names
    from osrm_runtime.testing import make_tokenizer
    from osrm_runtime.train.lora import head_module_name

    base = os.path.join(work, f"{shape}-base")
    os.makedirs(base, exist_ok=True)
    make_tokenizer(base)
    model = build_model(shape, torch.device("cpu"), torch.float32)
    # The backbone alone, as a pretrained checkpoint is (heads belong to the adapters).
    model.base_model.save_pretrained(base, safe_serialization=True)
    targets = adapted_module_names(model, SHAPES[shape]["family"], ["q", "v"])
    peft = get_peft_model(model, lora_config(rank=8, alpha=16, dropout=0.0, target_modules=targets,
                                             modules_to_save=[head_module_name(model)]))
    out = []
    for t in range(adapters):
        torch.manual_seed(t)
        with torch.no_grad():
            for name, param in peft.named_parameters():
                if "lora_B" in name:
                    param.normal_(0.0, 0.02)  # a trained adapter has moved B away from 0
                elif "modules_to_save" in name and "weight" in name:
                    param.normal_(0.0, 0.3)
        path = os.path.join(work, f"adapter-{t}")
        write_adapter(path, {}, peft.peft_config["default"], base_model=base,
                      tensors=get_peft_model_state_dict(peft),
                      task_info={"task": f"task{t}", "num_labels": 2, "regression": False, "labels": ["0", "1"],
                                 "metric": "accuracy"})
        out.append({"task": f"task{t}", "path": path})
    return {"base": base, "adapters": out}


def merge_child(work: str, shape: str, adapters: int) -> None:
    """Runs in its own process: prepares, then times the merge op and reports its peak memory."""
    setup = prepare_merge(work, shape, adapters)
    import osrm_runtime.merge.ops  # noqa: F401  (imports outside the measured span)
    from osrm_runtime.dispatch import run_op
    from osrm_runtime.models import device as runtime_device

    device = runtime_device()
    peak_memory_reset(device)
    before = torch.cuda.memory_allocated(device) if device.type == "cuda" else high_water_bytes()
    started = time.perf_counter()
    result = run_op("merge", {"model": {"name_or_path": setup["base"]}, "adapters": setup["adapters"],
                              "method": {"name": "task_arithmetic"}, "out": os.path.join(work, "merged")})
    sync(device)
    seconds = time.perf_counter() - started
    if device.type == "cuda":
        peak, kind = torch.cuda.max_memory_allocated(device) - before, "GPU memory allocated (torch)"
    else:
        peak, kind = high_water_bytes() - before, "process high-water resident set, above the baseline"
    base_bytes = os.path.getsize(os.path.join(setup["base"], "model.safetensors"))
    print(json.dumps({"device": str(device), "adapters": adapters, "seconds": seconds, "peak_bytes": peak,
                      "peak_kind": kind, "base_bytes": base_bytes, "peak_over_base": peak / base_bytes,
                      "merged_tensors": result.get("tensors")}))


def merge_section(shape: str, adapters: int) -> dict:
    work = tempfile.mkdtemp(prefix="osrm-gpu-merge-")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--merge-child", work, "--shape", shape,
                           "--adapters", str(adapters)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"the merge child failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(shape=shape, section_s=time.perf_counter() - started)
    return out


# ---------------------------------------------------------------------------------------------
# (e) osrm demo


TINY_DEMO = [
    # two demo tasks, capped, one epoch, one merge: the whole pipeline in about a minute on a CPU
    "tasks=[{name: spam, source: {kind: demo, task: spam}, max_length: 32, max_train: 96, max_eval: 48},"
    " {name: name_gender, source: {kind: demo, task: name_gender}, max_length: 16, max_train: 96, max_eval: 48}]",
    "training.epochs=1", "training.seed=1", "training.per_task={}", "evaluation.lambdas=[]",
    "osrm.samples=32", "merge.methods=[ties]",
]


def demo_section(tiny: bool) -> dict:
    output = os.path.join(tempfile.mkdtemp(prefix="osrm-gpu-demo-"), "run")
    command = ["node", os.path.join(ROOT, "bin", "osrm.js"), "demo", "--set", f"output={output}"]
    for override in TINY_DEMO if tiny else []:
        command += ["--set", override]
    # The demo runs on this interpreter (a GPU server's own Python), not on a venv it would build.
    env = {**os.environ, "OSRM_PYTHON": os.environ.get("OSRM_PYTHON", sys.executable)}
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    table = [line for line in proc.stdout.splitlines() if line.startswith("|")]
    if proc.returncode != 0:
        raise RuntimeError(f"osrm demo exited {proc.returncode}:\n{(proc.stderr or proc.stdout)[-3000:]}")
    return {"command": " ".join(command[1:]), "seconds": seconds, "exit_code": proc.returncode, "table": table,
            "tiny_overrides": TINY_DEMO if tiny else []}


# ---------------------------------------------------------------------------------------------
# the run


def goals(results: dict, tiny: bool) -> list[dict]:
    s, out = results["sections"], []

    def goal(name, value, text, met):
        out.append({"name": name, "value": value, "goal": text, "met": None if tiny or value is None else bool(met)})

    stats = s.get("stats", {}).get("value") or {}
    for shape, r in stats.items():
        if "roberta" in shape:
            goal(f"stats speed-up vs batch size 1, {shape}", r["speedup"], ">= 30x", r["speedup"] >= 30)
        goal(f"stats ours / plain forward, {shape}", r["ours_over_plain"], "<= 1.3x", r["ours_over_plain"] <= 1.3)
    train = s.get("train", {}).get("value")
    if train:
        goal(f"training speed-up vs pad-128 + checkpointing, {train['shape']}", train["speedup"], ">= 2x", train["speedup"] >= 2)
        goal(f"training MFU at seq 128, {train['shape']}", train["seq128"]["mfu"], ">= 40%", train["seq128"]["mfu"] >= 0.4)
    merge = s.get("merge", {}).get("value")
    if merge:
        goal(f"merge peak / base model, {merge['shape']} x {merge['adapters']}", merge["peak_over_base"], "<= 1.5x",
             merge["peak_over_base"] <= 1.5)
    demo = s.get("demo", {}).get("value")
    if demo:
        goal("osrm demo end to end", demo["seconds"], "finishes", demo["exit_code"] == 0)
    return out


def write_json(path: str, value: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def fmt(value, unit="") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}{unit}"
    return f"{value}{unit}"


def print_table(results: dict) -> None:
    print(f"\nGPU acceptance ({results['mode']}): {results['device']}, torch {results['torch']}, "
          f"peak {results['peak']['tflops']:.4g} TFLOP/s ({results['peak']['source']}; "
          f"measured matmul {results['peak']['measured_matmul_tflops']:.4g})")
    s = results["sections"]
    rows = []
    for shape, r in (s.get("stats", {}).get("value") or {}).items():
        rows.append((f"stats {shape}: reference / ours / plain s", f"{r['reference_s']:.2f} / {r['ours_s']:.2f} / {r['plain_forward_s']:.2f}"))
    if s.get("train", {}).get("value"):
        t = s["train"]["value"]
        rows.append((f"train {t['shape']}: ours / reference / plain samples/s",
                     f"{t['ours_samples_per_s']:.1f} / {t['reference_samples_per_s']:.1f} / {t['plain_fwd_bwd_samples_per_s']:.1f}"))
        rows.append((f"train {t['shape']} seq 128: samples/s, model TFLOP/s", f"{t['seq128']['samples_per_s']:.1f}, {t['seq128']['model_tflops']:.3g}"))
    if s.get("llama_step", {}).get("value"):
        r = s["llama_step"]["value"]
        mem = fmt(r["peak_memory_bytes"] / 2**30 if r["peak_memory_bytes"] else None, " GiB")
        rows.append((f"LoRA step {r['shape']} b{r['batch_size']}x{r['seq_len']}: samples/s, peak memory, MFU",
                     f"{r['samples_per_s']:.1f}, {mem}, {r['mfu'] * 100:.1f}%"))
    if s.get("merge", {}).get("value"):
        r = s["merge"]["value"]
        rows.append((f"merge {r['adapters']} x {r['shape']} on {r['device']}: s, peak MiB ({r['peak_kind']})",
                     f"{r['seconds']:.2f}, {r['peak_bytes'] / 2**20:.0f}"))
    if s.get("demo", {}).get("value"):
        rows.append(("osrm demo: s", f"{s['demo']['value']['seconds']:.1f}"))
    for name, section in s.items():
        if section.get("error"):
            rows.append((f"{name}: FAILED", [l for l in section["error"].splitlines() if l.strip()][-1][:100]))
    width = max(len(r[0]) for r in rows) if rows else 10
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")
    print("\n  goal" + " " * (width - 2) + "value        target     met")
    for g in results["goals"]:
        value = g["value"]
        shown = f"{value * 100:.1f}%" if "MFU" in g["name"] else fmt(value, "x" if "/" in g["name"] or "speed-up" in g["name"] else " s")
        met = "not judged (tiny)" if g["met"] is None else "yes" if g["met"] else "NO"
        print(f"  {g['name'].ljust(width)}  {shown:<12} {g['goal']:<10} {met}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes on the CPU (the test suite's mode)")
    parser.add_argument("--out", default=None, help="the JSON file (default: bench/results/gpu-acceptance[-tiny].json)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's dense bf16 peak, TFLOP/s")
    parser.add_argument("--only", default="stats,train,llama_step,merge,demo", help="sections to run, comma-separated")
    parser.add_argument("--merge-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--shape", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--adapters", type=int, default=8, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.merge_child:
        merge_child(args.merge_child, args.shape, args.adapters)
        return 0

    tiny = args.tiny
    device = torch.device("cuda" if torch.cuda.is_available() and not tiny else "cpu")
    if tiny:
        torch.set_num_threads(1)  # a shared CPU: one thread gives stable timings
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    amp = torch.bfloat16 if device.type == "cuda" else None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or platform.machine()})"
    measured = matmul_tflops(device, dtype, tiny)
    spec = next((v for k, v in SPEC_PEAKS.items() if k in name), None)
    if args.peak_tflops:
        peak, source = args.peak_tflops, "--peak-tflops"
    elif spec is not None and device.type == "cuda":
        peak, source = spec, f"NVIDIA dense bf16 spec for {name}"
    else:
        peak, source = measured, "measured matmul (no spec figure for this device)"
    out_path = args.out or os.path.join(ROOT, "bench", "results", f"gpu-acceptance{'-tiny' if tiny else ''}.json")
    results: dict = {"format": "osrm-gpu-acceptance/1", "mode": "tiny" if tiny else "full", "device": name,
                     "torch": torch.__version__, "dtype": str(dtype).replace("torch.", ""),
                     "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                     "peak": {"tflops": peak, "source": source, "measured_matmul_tflops": measured},
                     "sections": {}, "goals": []}
    stats_shapes = ["tiny-roberta", "tiny-llama"] if tiny else ["roberta-large", "llama-3-8b"]
    plan: dict[str, Callable[[], Any]] = {
        "stats": lambda: stats_section(stats_shapes, device, dtype, tasks=2 if tiny else 8, samples=16 if tiny else 100),
        "train": lambda: train_section("tiny-roberta" if tiny else "roberta-large", device, dtype, amp,
                                       examples=64 if tiny else 2048, mfu_steps=2 if tiny else 20, peak_tflops=peak),
        "llama_step": lambda: llama_step_section("tiny-llama" if tiny else "llama-3-8b", device, dtype, amp,
                                                 batch=16, steps=2 if tiny else 10, peak_tflops=peak),
        "merge": lambda: merge_section("tiny-roberta" if tiny else "roberta-large", 8),
        "demo": lambda: demo_section(tiny),
    }
    started = time.perf_counter()
    for section in [s.strip() for s in args.only.split(",") if s.strip()]:
        if section not in plan:
            parser.error(f"--only: no section '{section}' (sections: {', '.join(plan)})")
        t0 = time.perf_counter()
        print(f"[{time.perf_counter() - started:6.1f} s] {section} ...", flush=True)
        try:
            results["sections"][section] = {"value": plan[section](), "seconds": time.perf_counter() - t0}
        except Exception:  # recorded, and the next section still runs
            results["sections"][section] = {"value": None, "seconds": time.perf_counter() - t0,
                                            "error": traceback.format_exc()}
        results["seconds"] = time.perf_counter() - started
        results["goals"] = goals(results, tiny)
        write_json(out_path, results)
    print_table(results)
    print(f"\nwritten: {out_path} ({results['seconds']:.1f} s)")
    return 1 if any(s.get("error") for s in results["sections"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
