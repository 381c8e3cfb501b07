"""Training throughput: our loop vs the reference way, same model, same data, one run.

    node bin/osrm.js python -- bench/train/bench.py [--examples 384] [--hidden 256] [--layers 4]

Ours: dynamic padding (each batch padded to its own longest example), length-grouped batches,
no gradient checkpointing. Reference (the authors' setup): every example padded to 128 tokens,
gradient checkpointing on. Both: batch 64, LoRA r 8 on q and v, head trained, AdamW, fp32 on CPU,
through the same `train_steps` function of the train recipe, so only the batching and
checkpointing differ. Data: random sentences with GLUE-like token lengths (single sentences
10-25 tokens as SST-2, pairs 40-60 as MRPC/RTE), tokenised by the real tokenizer.
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


def sentences(rng: random.Random, n: int, low: int, high: int, pair: bool):
    from osrm_runtime.testing import NEGATIVE, NEUTRAL, POSITIVE

    words = NEUTRAL + POSITIVE + NEGATIVE  # single tokens in the fixture vocabulary
    # Token count = words + specials (<s> ... </s>, plus </s></s> between a pair's halves).
    specials = 4 if pair else 2
    a, b, labels = [], [], []
    for i in range(n):
        total = rng.randint(low, high) - specials
        first = total // 2 if pair else total
        a.append(" ".join(rng.choice(words) for _ in range(first)))
        b.append(" ".join(rng.choice(words) for _ in range(total - first)) if pair else None)
        labels.append(i % 2)
    return a, (b if pair else None), labels


def build(model_dir: str, seed: int = 0):
    import torch

    from osrm_runtime.models import ModelSpec, load_classifier
    from osrm_runtime.train.config import InitSpec, LoraSpec
    from osrm_runtime.train.lora import build_lora_model

    torch.manual_seed(seed)
    model = build_lora_model(load_classifier(ModelSpec(model_dir), 2), "roberta",
                             LoraSpec(8, 16, 0.0, ["q", "v"], "none"), InitSpec("gaussian"))
    return model


def measure(model_dir, tokenizer, encoded, reference: bool, batch_size: int = 64) -> tuple[float, float]:
    """samples/s over one pass, after one warm-up step; and the mean padded width."""
    import torch

    from osrm_runtime.data.batches import batch_order
    from osrm_runtime.train.config import TRAINING_DEFAULTS, TrainingSpec
    from osrm_runtime.train.recipe import make_optimizer, train_steps

    model = build(model_dir)
    if reference:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    training = TrainingSpec(**TRAINING_DEFAULTS)
    optimizer, _ = make_optimizer(model, training)
    lengths = [len(s) for s in encoded.input_ids]
    batches = batch_order(lengths, batch_size, shuffle=True, seed=1, group_by_length=not reference)
    pad_to = 128 if reference else None
    common = dict(pad_id=tokenizer.pad_token_id, padding_side="right", device=torch.device("cpu"), amp_dtype=None,
                  grad_accum=1, lr_at=lambda step: training.lr, first_step=0, epoch=1, pad_to=pad_to)
    train_steps(model, optimizer, encoded, batches[:1], **common)  # warm-up: allocator, kernels
    stats = train_steps(model, optimizer, encoded, batches, **common)
    width = 128.0 if reference else sum(max(lengths[i] for i in b) for b in batches) / len(batches)
    return stats.samples / stats.seconds, width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=384)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()

    import torch
    from transformers import RobertaConfig, RobertaModel

    from osrm_runtime.data import Examples
    from osrm_runtime.data.batches import encode
    from osrm_runtime.testing import make_tokenizer

    work = tempfile.mkdtemp(prefix="osrm-bench-train-")
    tokenizer = make_tokenizer(work)
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=args.hidden, num_hidden_layers=args.layers,
                           num_attention_heads=max(1, args.hidden // 64), intermediate_size=4 * args.hidden,
                           max_position_embeddings=130, pad_token_id=tokenizer.pad_token_id,
                           bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    RobertaModel(config).save_pretrained(work)
    print(f"model: RoBERTa-shaped, hidden {args.hidden}, {args.layers} layers, LoRA r8 q,v; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; {args.examples} examples per way")

    rng = random.Random(0)
    results = []
    for name, low, high, pair in (("single sentences (SST-2-like)", 10, 25, False), ("pairs (MRPC/RTE-like)", 40, 60, True)):
        a, b, labels = sentences(rng, args.examples, low, high, pair)
        encoded = encode(tokenizer, Examples(name, a, b, labels, 2), 128)
        lengths = [len(s) for s in encoded.input_ids]
        started = time.perf_counter()
        ours, ours_width = measure(work, tokenizer, encoded, reference=False)
        ref, _ = measure(work, tokenizer, encoded, reference=True)
        ratio = ours / ref
        results.append(ratio)
        print(f"{name}: tokens/example {min(lengths)}-{max(lengths)} (mean {sum(lengths) / len(lengths):.1f})")
        print(f"  ours (dynamic padding, length-grouped, no checkpointing): {ours:8.1f} samples/s "
              f"(mean padded width {ours_width:.1f})")
        print(f"  reference (pad to 128, gradient checkpointing on):        {ref:8.1f} samples/s")
        print(f"  ratio {ratio:.2f}x   ({time.perf_counter() - started:.0f} s)")
    print(f"ratio: {' / '.join(f'{r:.2f}x' for r in results)} (target >= 2x)")


if __name__ == "__main__":
    main()
