"""Is the embedded base model useful? Fine-tune it on every demo task (full fine-tuning, CPU) and
compare the eval score with the task's majority-class baseline (R^2 of the train mean for the
regression task). Not part of the test suite: it takes minutes.

    python -m osrm_runtime.demo.check --model models/osrm-tiny-roberta --tasks-dir tmp/demo_tasks \
        [--out models/osrm-tiny-roberta/demo_check.json] [--from-scratch]

The bar (issue 7): every task's final score >= baseline + 0.10 (R^2 >= 0.30 for regression).
`--from-scratch` runs the same fine-tuning from a randomly initialised model of the same shape, as
the control that shows what pretraining adds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from typing import Optional

BAR_MARGIN = 0.10
BAR_R2 = 0.30


def _batches(enc: list[list[int]], batch_size: int, rng: Optional[random.Random]):
    """Index batches grouped by length: shuffle, sort inside windows of 50 batches, shuffle batches."""
    order = list(range(len(enc)))
    if rng is not None:
        rng.shuffle(order)
    window = batch_size * 50
    batches = []
    for i in range(0, len(order), window):
        chunk = sorted(order[i:i + window], key=lambda j: len(enc[j]))
        batches.extend(chunk[k:k + batch_size] for k in range(0, len(chunk), batch_size))
    if rng is not None:
        rng.shuffle(batches)
    return batches


def _collate(enc: list[list[int]], idx: list[int], pad_id: int):
    import torch

    width = max(len(enc[i]) for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        ids[row, :len(enc[i])] = torch.tensor(enc[i])
        mask[row, :len(enc[i])] = 1
    return ids, mask


def finetune_task(model_dir: str, tasks_dir: str, entry: dict, epochs: int, lr: float, batch_size: int,
                  seed: int, from_scratch: bool = False, max_length: int = 128, log=print,
                  max_train: Optional[int] = None, max_eval: Optional[int] = None) -> dict:
    import numpy as np
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from .. import metrics
    from ..data.examples import TaskSpec, load_examples
    from .tasks import task_payload

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    payload = task_payload(tasks_dir, entry, max_length)
    payload.update(max_train=max_train, max_eval=max_eval)  # caps for a quick smoke run only
    spec = TaskSpec.parse(payload)
    train, evals = load_examples(spec, "train", seed), load_examples(spec, "eval", seed)
    tok = AutoTokenizer.from_pretrained(model_dir)

    def encode(ex):
        out = tok(ex.text_a, ex.text_b, truncation=True, max_length=max_length) if ex.text_b is not None \
            else tok(ex.text_a, truncation=True, max_length=max_length)
        return out["input_ids"]

    enc_train, enc_eval = encode(train), encode(evals)
    num_labels = train.num_labels
    torch.manual_seed(seed)
    if from_scratch:
        config = AutoConfig.from_pretrained(model_dir, num_labels=num_labels)
        model = AutoModelForSequenceClassification.from_config(config)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=num_labels,
                                                                   use_safetensors=True)
    steps = epochs * ((len(enc_train) + batch_size - 1) // batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, int(0.06 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))
    y_train = torch.tensor(train.labels, dtype=torch.float if train.regression else torch.long)
    rng = random.Random(seed)
    history = []
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        for idx in _batches(enc_train, batch_size, rng):
            ids, mask = _collate(enc_train, idx, tok.pad_token_id)
            out = model(input_ids=ids, attention_mask=mask, labels=y_train[idx])
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
        model.eval()
        preds = np.zeros(len(enc_eval)) if train.regression else np.zeros(len(enc_eval), dtype=np.int64)
        with torch.no_grad():
            for idx in _batches(enc_eval, 128, None):
                ids, mask = _collate(enc_eval, idx, tok.pad_token_id)
                logits = model(input_ids=ids, attention_mask=mask).logits
                preds[idx] = logits[:, 0].numpy() if train.regression else logits.argmax(-1).numpy()
        gold = np.asarray(evals.labels)
        if train.regression:
            scores = {"r2": metrics.r2(preds, gold), "pearson": metrics.pearson(preds, gold)}
            score = scores["r2"]
        else:
            scores = {"accuracy": metrics.accuracy(preds, gold)}
            score = scores["accuracy"]
        history.append({"epoch": epoch, "score": round(score, 4), **{k: round(v, 4) for k, v in scores.items()},
                        "wall_s": round(time.perf_counter() - t0, 1)})
        log(f"  {entry['name']} epoch {epoch}: {scores} ({history[-1]['wall_s']}s)")
    base = entry["baseline"]
    baseline = base["r2"] if entry["regression"] else base["accuracy"]
    final = history[-1]["score"]
    bar = BAR_R2 if entry["regression"] else baseline + BAR_MARGIN
    return {"task": entry["name"], "metric": "r2" if entry["regression"] else "accuracy", "score": final,
            "best_epoch_score": max(h["score"] for h in history), "baseline": baseline, "margin": final - baseline,
            "bar": round(bar, 4), "passes": final >= bar, "train": len(enc_train), "eval": len(enc_eval),
            "wall_s": history[-1]["wall_s"], "history": history}


def main(argv: Optional[list[str]] = None) -> None:
    import sys

    import torch

    p = argparse.ArgumentParser(prog="python -m osrm_runtime.demo.check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="models/osrm-tiny-roberta")
    p.add_argument("--tasks-dir", required=True, help="a folder written by build_demo_tasks")
    p.add_argument("--tasks", nargs="*", help="only these tasks")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--task-epochs", nargs="*", default=[], metavar="TASK=N",
                   help="per-task epochs overriding --epochs (like the per-task hparams files)")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-train", type=int, help="cap the train split (smoke runs)")
    p.add_argument("--max-eval", type=int, help="cap the eval split (smoke runs)")
    p.add_argument("--from-scratch", action="store_true", help="control: same model shape, random init")
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    with open(os.path.join(args.tasks_dir, "tasks.json")) as f:
        index = json.load(f)
    task_epochs = {k: int(v) for k, v in (item.split("=", 1) for item in args.task_epochs)}
    t0 = time.perf_counter()
    results = []
    for entry in index["tasks"]:
        if args.tasks and entry["name"] not in args.tasks:
            continue
        r = finetune_task(args.model, args.tasks_dir, entry, task_epochs.get(entry["name"], args.epochs), args.lr, args.batch_size, args.seed,
                          args.from_scratch, log=lambda m: print(m, flush=True),
                          max_train=args.max_train, max_eval=args.max_eval)
        results.append(r)
        print(f"{r['task']}: {r['metric']} {r['score']:.4f} vs baseline {r['baseline']:.4f} "
              f"(bar {r['bar']:.4f}) {'PASS' if r['passes'] else 'FAIL'}", flush=True)
    record = {
        "command": "node bin/osrm.js python -- -m osrm_runtime.demo.check " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "method": f"{'random init (control)' if args.from_scratch else 'full fine-tuning'}, {args.epochs} epochs"
                  f"{' (' + ', '.join(args.task_epochs) + ')' if args.task_epochs else ''}, "
                  f"AdamW lr {args.lr}, batch {args.batch_size}, linear schedule with 6% warmup, "
                  f"max_length 128, seed {args.seed}, {args.threads} CPU thread(s); score after the last epoch",
        "wall_s": round(time.perf_counter() - t0, 1), "all_pass": all(r["passes"] for r in results),
        "tasks": results,
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(record, f, indent=2)
    print(json.dumps({r["task"]: [r["score"], r["baseline"], r["passes"]] for r in results}))


if __name__ == "__main__":
    main()
