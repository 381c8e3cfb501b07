"""Training throughput: our loop vs the reference way, same model, same data, one run.

    node bin/osrm.js python -- bench/train/bench.py [--examples 128] [--rounds 3] [--hidden 128] [--layers 4] [--threads 1]

Ours: dynamic padding (each batch padded to its own longest example), length-grouped batches,
no gradient checkpointing. Reference (the authors' setup): every example padded to 128 tokens,
gradient checkpointing on. Both: batch 64, LoRA r 8 on q and v, head trained, AdamW, fp32 on CPU,
through the same `train_steps` function of the train recipe, so only the batching and
checkpointing differ. Data: random sentences with GLUE-like token lengths (single sentences
10-25 tokens as SST-2, pairs 40-60 as MRPC/RTE), tokenised by the real tokenizer.
The limit: a plain forward + loss + backward of the same model over ours' very batches, collated
beforehand, with no optimizer step and no per-step checks (ours / plain shows what the loop
itself costs).
Absolute numbers drift on a shared machine; the ratio, measured side by side, is the result.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def sentences(tokenizer, rng: random.Random, n: int, low: int, high: int, pair: bool):
    """n examples whose token counts (specials included) are uniform in [low, high]: words are
    added until the tokenised example reaches its drawn length."""
    from osrm_runtime.testing import NEGATIVE, NEUTRAL, POSITIVE

    words = NEUTRAL + POSITIVE + NEGATIVE
    a, b, labels = [], [], []
    for i in range(n):
        target = rng.randint(low, high)
        first: list[str] = [rng.choice(words)]
        second: list[str] = [rng.choice(words)] if pair else []
        while True:
            side = second if pair and len(second) < len(first) else first
            side.append(rng.choice(words))
            ids = tokenizer(" ".join(first), " ".join(second) if pair else None)["input_ids"]
            if len(ids) >= target:
                break
        a.append(" ".join(first))
        b.append(" ".join(second) if pair else None)
        labels.append(i % 2)
    return a, (b if pair else None), labels


def build(model_dir: str, seed: int = 0):
    import torch

    from osrm_runtime.contract import parse_piece
    from osrm_runtime.contract.payloads import GaussianInit, LoraSetting
    from osrm_runtime.models import load_classifier, model_spec
    from osrm_runtime.train.lora import build_lora_model

    torch.manual_seed(seed)
    model = build_lora_model(load_classifier(model_spec(model_dir), 2), "roberta",
                             parse_piece(LoraSetting, {"rank": 8, "alpha": 16, "blocks": ["q", "v"]}),
                             GaussianInit(kind="gaussian"))
    return model


class Way:
    """One way of training (ours or the reference) with its own model and optimizer."""

    def __init__(self, model_dir, tokenizer, encoded, reference: bool, batch_size: int = 64):
        import torch

        from osrm_runtime.data.batches import batch_order
        from osrm_runtime.contract import parse_piece
        from osrm_runtime.contract.payloads import TrainingSetting
        from osrm_runtime.train.recipe import make_optimizer

        self.model = build(model_dir)
        if reference:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        training = parse_piece(TrainingSetting, {})  # the paper's defaults
        self.optimizer, _ = make_optimizer(self.model, training)
        self.encoded = encoded
        lengths = [len(s) for s in encoded.input_ids]
        self.batches = batch_order(lengths, batch_size, shuffle=True, seed=1, group_by_length=not reference)
        self.width = 128.0 if reference else sum(max(lengths[i] for i in b) for b in self.batches) / len(self.batches)
        self.common = dict(pad_id=tokenizer.pad_token_id, padding_side="right", device=torch.device("cpu"),
                           amp_dtype=None, grad_accum=1, scheduler=None, first_step=0, epoch=1,
                           pad_to=128 if reference else None)
        self.run(self.batches[:1])  # warm-up: allocator, kernels

    def run(self, batches) -> float:
        from osrm_runtime.train.recipe import train_steps

        stats = train_steps(self.model, self.optimizer, self.encoded, batches, **self.common)
        return stats.samples / stats.seconds

    def plain(self) -> float:
        """Samples/s of forward + loss + backward alone over the same batches (no optimizer, no checks)."""
        from osrm_runtime.data.batches import collate
        from osrm_runtime.train.recipe import loss_of

        if not hasattr(self, "collated"):
            self.collated = [collate(self.encoded, b, self.common["pad_id"], self.common["pad_to"]) for b in self.batches]
        self.model.train()
        started = time.perf_counter()
        for batch in self.collated:
            logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            loss_of(logits, batch["labels"], False).backward()
        self.model.zero_grad(set_to_none=True)
        return sum(len(b) for b in self.batches) / (time.perf_counter() - started)


def measure(model_dir, tokenizer, encoded, rounds: int) -> tuple[float, float, float, float]:
    """Median samples/s of ours, of the reference and of the plain forward+backward over `rounds`
    alternating passes (the machine is shared: alternating spreads any slow spell over all ways),
    and our mean width."""
    import statistics

    ours, ref = Way(model_dir, tokenizer, encoded, False), Way(model_dir, tokenizer, encoded, True)
    ours_rates, ref_rates, plain_rates = [], [], []
    for _ in range(rounds):
        ours_rates.append(ours.run(ours.batches))
        ref_rates.append(ref.run(ref.batches))
        plain_rates.append(ours.plain())
    return statistics.median(ours_rates), statistics.median(ref_rates), statistics.median(plain_rates), ours.width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 by default because on a shared machine multi-threaded kernels "
                             "spin at barriers whenever a peer process steals a core, which swamps the measurement")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()

    import torch
    from transformers import RobertaConfig, RobertaModel

    from osrm_runtime.data import Examples
    from osrm_runtime.data.batches import encode
    from osrm_runtime.testing import make_tokenizer

    torch.set_num_threads(args.threads)
    work = tempfile.mkdtemp(prefix="osrm-bench-train-")
    tokenizer = make_tokenizer(work)
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=args.hidden, num_hidden_layers=args.layers,
                           num_attention_heads=max(1, args.hidden // 64), intermediate_size=4 * args.hidden,
                           max_position_embeddings=130, pad_token_id=tokenizer.pad_token_id,
                           bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    RobertaModel(config).save_pretrained(work)
    print(f"model: RoBERTa-shaped, hidden {args.hidden}, {args.layers} layers, LoRA r8 q,v; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; {args.examples} examples per pass, median of {args.rounds} alternating passes per way")

    rng = random.Random(0)
    results = []
    for name, low, high, pair in (("single sentences (SST-2-like)", 10, 25, False), ("pairs (MRPC/RTE-like)", 40, 60, True)):
        a, b, labels = sentences(tokenizer, rng, args.examples, low, high, pair)
        encoded = encode(tokenizer, Examples(name, a, b, labels, 2), 128)
        lengths = [len(s) for s in encoded.input_ids]
        started = time.perf_counter()
        ours, ref, plain, ours_width = measure(work, tokenizer, encoded, args.rounds)
        ratio = ours / ref
        results.append(ratio)
        print(f"{name}: tokens/example {min(lengths)}-{max(lengths)} (mean {sum(lengths) / len(lengths):.1f})")
        print(f"  ours (dynamic padding, length-grouped, no checkpointing): {ours:8.1f} samples/s "
              f"(mean padded width {ours_width:.1f})")
        print(f"  reference (pad to 128, gradient checkpointing on):        {ref:8.1f} samples/s")
        print(f"  the limit: plain forward+backward of the same batches:    {plain:8.1f} samples/s   "
              f"(ours reaches {ours / plain:.2f} of it)")
        print(f"  ratio {ratio:.2f}x   ({time.perf_counter() - started:.0f} s)")
    print(f"ratio: {' / '.join(f'{r:.2f}x' for r in results)} (target >= 2x)")


if __name__ == "__main__":
    main()
