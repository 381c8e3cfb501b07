"""Everything the training run reads, loaded and checked before a single step is taken.

A run that fails after an hour because the eval split lacks a column wastes the hour; so the
splits, columns, labels, texts and the length limit are all checked here, up front, and every
error names the task, the file or field, and what exists instead.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..data import Examples, TaskSpec, load_examples, task_metric
from ..data.batches import Encoded, encode
from ..metrics import score


@dataclass
class TaskData:
    train: Examples
    eval: Examples
    train_encoded: Encoded
    eval_encoded: Encoded
    metric: str
    eval_mismatched: Optional[Examples] = None  # MNLI's second validation set, reported beside
    eval_mismatched_encoded: Optional[Encoded] = None


def model_max_positions(config) -> Optional[int]:
    """How many tokens the backbone can take. RoBERTa-style models reserve padding_idx + 1
    position ids, so their usable length is max_position_embeddings - pad - 1 (514 -> 512)."""
    n = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if n is None:
        return None  # relative position encodings (T5) have no hard limit
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        n -= (config.pad_token_id or 0) + 1
    return int(n)


def check_max_length(spec: TaskSpec, config) -> None:
    limit = model_max_positions(config)
    if limit is not None and spec.max_length > limit:
        raise ValueError(f"task '{spec.name}': max_length {spec.max_length} is larger than the model's "
                         f"maximum of {limit} positions")
    if spec.max_length < 2:
        raise ValueError(f"task '{spec.name}': max_length must be at least 2, got {spec.max_length}")


def load_task_data(spec: TaskSpec, tokenizer, model_config, seed: int) -> TaskData:
    check_max_length(spec, model_config)
    train = load_examples(spec, "train", seed)
    evaluation = load_examples(spec, "eval", seed)
    if train.num_labels != evaluation.num_labels:
        raise ValueError(f"task '{spec.name}': train has {train.num_labels} labels, eval {evaluation.num_labels}")
    data = TaskData(train, evaluation, encode(tokenizer, train, spec.max_length),
                    encode(tokenizer, evaluation, spec.max_length), task_metric(spec))
    if spec.source.kind == "glue" and spec.source.task == "mnli":
        data.eval_mismatched = load_examples(spec, "eval_mismatched", seed)
        data.eval_mismatched_encoded = encode(tokenizer, data.eval_mismatched, spec.max_length)
    return data


def dropped_rows(data: TaskData) -> dict:
    """Rows each split left out for an empty or NaN label (task.invalid_labels: drop)."""
    return {"train": data.train.dropped, "eval": data.eval.dropped}


def report_dropped(spec: TaskSpec, data: TaskData, log) -> None:
    """One log line per split that dropped rows, with the count and the first lines."""
    for split, examples in (("train", data.train), ("eval", data.eval)):
        if examples.dropped:
            lines = ", ".join(map(str, examples.dropped_lines[:5])) + (" ..." if examples.dropped > 5 else "")
            log(f"task '{spec.name}': dropped {examples.dropped} {split} row(s) with an empty or NaN label "
                f"(line {lines}), as task.invalid_labels is 'drop'")


def majority_baseline(data: TaskData) -> dict:
    """The score of always predicting the most frequent train label (the train mean for
    regression) on the eval split: the number a trained model has to beat."""
    if data.train.regression:
        constant = float(np.mean(data.train.labels))
    else:
        constant = Counter(data.train.labels).most_common(1)[0][0]
    result = score(data.metric, [constant] * len(data.eval), data.eval.labels)
    label = data.train.label_names[constant] if not data.train.regression and data.train.label_names else constant
    return {"prediction": label, **result}
