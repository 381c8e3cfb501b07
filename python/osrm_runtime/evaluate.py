"""Running a classifier over a task's examples and scoring it: shared by training (per-epoch
evaluation) and merging (evaluating a merged model with each task's own head)."""

from __future__ import annotations

import numpy as np

from .data.batches import collate, encode
from .data.examples import Examples
from .metrics import predictions_from_logits, score


def predict_logits(model, tokenizer, examples: Examples, max_length: int = 128, batch_size: int = 128,
                   device=None, encoded=None, autocast_dtype=None) -> np.ndarray:
    """Logits for every example, in order. Batches are grouped by length (dynamic padding) and
    the results put back in the original order. `autocast_dtype` (e.g. torch.bfloat16) runs the
    forward under autocast, as training does on a GPU, so bf16 backbones with fp32 heads work."""
    import contextlib

    import torch

    device = device or next(model.parameters()).device
    encoded = encoded or encode(tokenizer, examples, max_length)
    lengths = [len(s) for s in encoded.input_ids]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out: list = [None] * len(order)
    was_training = model.training
    model.eval()
    padding_side = getattr(tokenizer, "padding_side", "right")
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            indices = order[start:start + batch_size]

            batch = collate(encoded, indices, tokenizer.pad_token_id, padding_side=padding_side)
            autocast = (torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None
                        else contextlib.nullcontext())
            with autocast:
                logits = model(input_ids=batch["input_ids"].to(device),
                               attention_mask=batch["attention_mask"].to(device)).logits
            for row, index in enumerate(indices):
                out[index] = logits[row].float().cpu().numpy()
    if was_training:
        model.train()
    return np.stack(out)


def evaluate_examples(model, tokenizer, examples: Examples, metric: str, max_length: int = 128,
                      batch_size: int = 128, encoded=None, autocast_dtype=None) -> dict:
    logits = predict_logits(model, tokenizer, examples, max_length, batch_size, encoded=encoded,
                            autocast_dtype=autocast_dtype)
    return score(metric, predictions_from_logits(logits, examples.regression), examples.labels)
