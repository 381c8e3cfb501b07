"""Batches for statistics: sorted by length, at most `batch_size` examples, and a new batch
whenever the next example is more than `max_spread` times longer than the batch's shortest.

Statistics are sums, so order is free; what costs is padding. Fixed chunks of a sorted list
still pad a 7-token example to 58 when both fall in one chunk of a short list (k = 100 spans
the whole length range in two chunks of 50); capping the spread keeps padding under ~25% while
large k still fills whole batches, since many examples then share a length.
"""

from __future__ import annotations

from typing import Iterator, Optional

from ..data.batches import Encoded, collate


def bucket_indices(lengths: list[int], batch_size: int, max_spread: float = 1.25) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and (len(current) >= batch_size or lengths[i] > max_spread * lengths[current[0]]):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def stats_batches(encoded: Encoded, batch_size: int, pad_id: int, pad_to: Optional[int] = None,
                  padding_side: str = "right", max_spread: float = 1.25) -> tuple[int, Iterator[dict]]:
    """(number of batches, the batches). Padded to pad_to (all-positions pooling), lengths do not
    matter and the batches are plain chunks of batch_size."""
    lengths = [len(s) for s in encoded.input_ids]
    if pad_to:
        groups = [list(range(i, min(i + batch_size, len(lengths)))) for i in range(0, len(lengths), batch_size)]
    else:
        groups = bucket_indices(lengths, batch_size, max_spread)
    return len(groups), (collate(encoded, g, pad_id, pad_to, padding_side) for g in groups)
