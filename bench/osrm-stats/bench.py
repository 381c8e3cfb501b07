"""OSRM statistics: the authors' way vs ours, same model, same data, one run.

Reference (the released code): for each task, 100 examples one at a time (batch size 1), each
padded to 128 tokens, a forward hook on every adapted module (q and v separately) taking the
mean over all 128 positions. Ours (osrm_runtime.osrm.hooks): batches of 50 with dynamic padding,
one hook per distinct input (q and v share one), the full second moment over real tokens plus
the masked mean. Also timed: ours with pooling all-positions (batched, padded to 128), whose
mean vectors must equal the reference's. And the limit: a plain batched forward of the same model
over the same batches, without hooks (ours / plain, goal <= 1.3x).

Run: node bin/osrm.js python -- bench/osrm-stats/bench.py [--hidden 384 --layers 6 --tasks 8 --samples 100]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time

import torch

from osrm_runtime.data.batches import encode
from osrm_runtime.osrm.batching import stats_batches
from osrm_runtime.data.examples import Examples
from osrm_runtime.models import adapted_module_names, load_classifier, load_tokenizer, model_spec
from osrm_runtime.osrm.hooks import collect_moments
from osrm_runtime.testing import NEGATIVE, NEUTRAL, POSITIVE, make_tokenizer

# Words of the tiny tokenizer's training corpus, so a word is about one token, as in GLUE with a
# real vocabulary.
WORDS = NEUTRAL + POSITIVE + NEGATIVE


def make_model(out: str, hidden: int, layers: int) -> str:
    from transformers import RobertaConfig, RobertaModel

    tok = make_tokenizer(out, vocab_size=2000)  # whole words become single tokens, as with a real vocabulary
    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers,
                           num_attention_heads=max(hidden // 64, 1), intermediate_size=4 * hidden,
                           max_position_embeddings=130, pad_token_id=tok.pad_token_id,
                           bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    RobertaModel(config).save_pretrained(out)
    return out


def make_tasks(n_tasks: int, samples: int, seed: int = 0) -> list[Examples]:
    """GLUE-like tasks: half single sentences (SST-2/CoLA-like, 5-25 words), half pairs
    (MRPC/RTE/QNLI-like, 8-30 words per side): about 35 tokens per example on average, close to
    GLUE's mix with RoBERTa's tokenizer (CoLA ~11, SST-2 ~13, MRPC ~53, RTE ~70)."""
    rng = random.Random(seed)
    tasks = []
    for t in range(n_tasks):
        pair = t % 2 == 1
        def sentence(lo, hi):
            return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))
        a = [sentence(8, 30) if pair else sentence(5, 25) for _ in range(samples)]
        b = [sentence(8, 30) for _ in range(samples)] if pair else None
        tasks.append(Examples(f"task{t}", a, b, [i % 2 for i in range(samples)], 2))
    return tasks


def reference_means(model, tokenizer, examples: Examples, modules: list[str], max_length: int) -> dict:
    """The released code's feature extraction: batch size 1, pad to max_length, a hook per
    module, mean over all positions (pads included), averaged over samples."""
    named = dict(model.named_modules())
    sums = {m: None for m in modules}

    def hook(name):
        def fn(_module, args):
            v = args[0].float().mean(dim=1).squeeze(0)
            sums[name] = v if sums[name] is None else sums[name] + v
        return fn

    handles = [named[m].register_forward_pre_hook(hook(m)) for m in modules]
    device = next(model.parameters()).device
    with torch.inference_mode():
        for i in range(len(examples)):
            enc = tokenizer(examples.text_a[i], examples.text_b[i] if examples.text_b else None, padding="max_length",
                            max_length=max_length, truncation=True, return_tensors="pt")
            model(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device))
    for h in handles:
        h.remove()
    return {m: s / len(examples) for m, s in sums.items()}


def ours(model, tokenizer, examples: Examples, modules: list[str], max_length: int, batch_size: int, pooling: str):
    encoded = encode(tokenizer, examples, max_length)
    _, batches = stats_batches(encoded, batch_size, tokenizer.pad_token_id,
                               pad_to=max_length if pooling == "all-positions" else None)
    return collect_moments(model, batches, modules, pooling)


def plain_batches(tokenizer, examples: Examples, max_length: int, batch_size: int) -> list[dict]:
    """The very batches ours runs (same bucketing, same dynamic padding), collated beforehand."""
    encoded = encode(tokenizer, examples, max_length)
    return list(stats_batches(encoded, batch_size, tokenizer.pad_token_id)[1])


def plain_forward(model, batches: list[dict]) -> None:
    """The limit: the model's forward over those batches, no hooks, no statistics, no tokenising."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        for batch in batches:
            model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    folder = make_model(tempfile.mkdtemp(prefix="osrm-bench-"), args.hidden, args.layers)
    spec = model_spec(folder, dtype="float32")
    model = load_classifier(spec, num_labels=2).eval()
    tokenizer = load_tokenizer(spec)
    modules = adapted_module_names(model, "roberta", ["q", "v"])
    tasks = make_tasks(args.tasks, args.samples)
    lengths = [len(x) for t in tasks for x in encode(tokenizer, t, args.max_length).input_ids]
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"model: random-init RoBERTa, hidden {args.hidden}, {args.layers} layers, {params:.1f}M parameters; "
          f"{len(modules)} q/v modules; torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    print(f"data: {args.tasks} tasks x {args.samples} samples, tokens per example mean {sum(lengths) / len(lengths):.1f}, "
          f"max {max(lengths)} (max_length {args.max_length})")

    reference_means(model, tokenizer, tasks[0].subset([0, 1]), modules, args.max_length)  # warm-up

    def timed(fn):
        # Wall time drifts with whatever else runs on a shared machine; with one torch thread the
        # process's CPU time measures the work itself, so both are reported.
        wall, cpu = time.perf_counter(), time.process_time()
        value = fn()
        return value, time.perf_counter() - wall, time.process_time() - cpu

    ref, ref_wall, ref_cpu = timed(lambda: [reference_means(model, tokenizer, t, modules, args.max_length) for t in tasks])
    mine, wall, cpu = timed(lambda: [ours(model, tokenizer, t, modules, args.max_length, args.batch_size, "masked")
                                     for t in tasks])
    mine_all, all_wall, all_cpu = timed(lambda: [ours(model, tokenizer, t, modules, args.max_length, args.batch_size,
                                                      "all-positions") for t in tasks])
    prepared = [plain_batches(tokenizer, t, args.max_length, args.batch_size) for t in tasks]
    _, plain_wall, plain_cpu = timed(lambda: [plain_forward(model, b) for b in prepared])
    worst = 0.0
    for r, m in zip(ref, mine_all):
        for name in modules:
            acc = m.inputs[m.module_input[name]]
            mean = (acc.mean_all_sum / acc.samples).float()
            worst = max(worst, float((mean - r[name]).norm() / r[name].norm()))
    inputs = len(mine[0].inputs)
    rows = [("reference: batch 1, pad to 128, a hook per module, means", ref_wall, ref_cpu),
            (f"ours: batch <= {args.batch_size}, dynamic padding, {inputs} shared inputs, S + masked means", wall, cpu),
            (f"ours all-positions: batch {args.batch_size}, padded to {args.max_length}, S + both means", all_wall, all_cpu)]
    print(f"{'':84} {'wall s':>8} {'cpu s':>8} {'x wall':>7} {'x cpu':>7}")
    for name, w, c in rows:
        print(f"{name:84} {w:8.2f} {c:8.2f} {ref_wall / w:7.1f} {ref_cpu / c:7.1f}")
    print(f"all-positions means vs reference means: max relative difference {worst:.2e}")
    print(f"the limit: a plain batched forward over the same batches, no hooks: {plain_wall:.2f} s wall, "
          f"{plain_cpu:.2f} s cpu; ours / plain: {wall / plain_wall:.2f}x wall, {cpu / plain_cpu:.2f}x cpu (goal <= 1.3x)")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
