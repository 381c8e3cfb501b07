"""Tokenising examples once and batching them with dynamic padding.

Every batch is padded only to its own longest sequence (the authors pad every example to 128,
which is most of the cost on short GLUE sentences). Length grouping sorts examples into buckets
of similar length, shuffled with a seed, to waste even less on padding.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator, Optional

from .examples import Examples


@dataclass
class Encoded:
    input_ids: list[list[int]]
    labels: list
    regression: bool

    def __len__(self) -> int:
        return len(self.input_ids)


def encode(tokenizer, examples: Examples, max_length: int) -> Encoded:
    model_max = getattr(tokenizer, "model_max_length", None)
    if model_max and model_max < 1e9 and max_length > model_max:
        raise ValueError(f"task '{examples.task}': max_length {max_length} is larger than the model's "
                         f"maximum of {model_max} tokens")
    out = tokenizer(examples.text_a, examples.text_b, truncation=True, max_length=max_length,
                    padding=False)
    return Encoded(list(out["input_ids"]), list(examples.labels), examples.regression)


def batch_order(lengths: list[int], batch_size: int, shuffle: bool, seed: int,
                group_by_length: bool) -> list[list[int]]:
    """Index lists, one per batch. With grouping, batches hold similar lengths (mega-batches of
    50 batches sorted by length, as in HF's LengthGroupedSampler), and batch order is shuffled."""
    indices = list(range(len(lengths)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(indices)
    if group_by_length:
        mega = batch_size * 50
        grouped: list[int] = []
        for start in range(0, len(indices), mega):
            chunk = indices[start:start + mega]
            grouped.extend(sorted(chunk, key=lambda i: -lengths[i]))
        indices = grouped
    batches = [indices[i:i + batch_size] for i in range(0, len(indices), batch_size)]
    if shuffle and group_by_length:
        rng.shuffle(batches)
    return batches


def collate(encoded: Encoded, indices: list[int], pad_id: int, pad_to: Optional[int] = None,
            padding_side: str = "right"):
    import torch

    seqs = [encoded.input_ids[i] for i in indices]
    width = pad_to or max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        seq = seq[:width]
        if padding_side == "left":
            ids[row, width - len(seq):] = torch.tensor(seq)
            mask[row, width - len(seq):] = 1
        else:
            ids[row, :len(seq)] = torch.tensor(seq)
            mask[row, :len(seq)] = 1
    labels = torch.tensor([encoded.labels[i] for i in indices],
                          dtype=torch.float32 if encoded.regression else torch.long)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def iterate_batches(encoded: Encoded, batch_size: int, pad_id: int, shuffle: bool = False, seed: int = 0,
                    group_by_length: bool = False, pad_to: Optional[int] = None,
                    padding_side: str = "right") -> Iterator[dict]:
    lengths = [len(s) for s in encoded.input_ids]
    for indices in batch_order(lengths, batch_size, shuffle, seed, group_by_length):
        yield collate(encoded, indices, pad_id, pad_to, padding_side)
