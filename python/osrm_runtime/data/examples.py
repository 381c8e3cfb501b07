"""Reading a task's splits into `Examples`, with the paper's caps and seeded subsampling."""

from __future__ import annotations

import csv
import json
import math
import os
import random
from dataclasses import dataclass, field
from typing import Any, Optional

from ..contract.payloads import TaskSpec

from .glue import GLUE_TASKS, HUB_EVAL_SPLIT, TSV_TEXT_COLUMNS

SPLITS = ("train", "eval", "eval_mismatched")


@dataclass
class Examples:
    """One split of a task: texts (one or two fields) and labels (class ids or floats)."""

    task: str
    text_a: list[str]
    text_b: Optional[list[str]]
    labels: list[Any]
    num_labels: int
    label_names: list[str] = field(default_factory=list)

    @property
    def regression(self) -> bool:
        return self.num_labels == 1

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: list[int]) -> "Examples":
        return Examples(self.task, [self.text_a[i] for i in indices],
                        [self.text_b[i] for i in indices] if self.text_b is not None else None,
                        [self.labels[i] for i in indices], self.num_labels, self.label_names)

    def sample(self, k: Optional[int], seed: int) -> "Examples":
        """A seeded random subset of at most k examples (all, in order, when k is None or >= n)."""
        if k is None or k >= len(self):
            return self
        rng = random.Random(seed)
        return self.subset(sorted(rng.sample(range(len(self)), k)))


def task_spec(value: dict) -> TaskSpec:
    """A TaskSpec from plain JSON, checked against the contract, with the schema's defaults."""
    from ..contract import parse_piece

    return parse_piece(TaskSpec, value, "task")


def task_metric(spec: TaskSpec) -> str:
    """The metric the task is scored by: GLUE's own, or the files source's (accuracy, or
    pearson_spearman for regression, when it names none)."""
    if spec.source.kind == "glue":
        return GLUE_TASKS[spec.source.task].metric
    if spec.source.kind != "files":
        raise ValueError(f"task '{spec.name}': a {spec.source.kind} source must be resolved into files first")
    return spec.source.metric or ("pearson_spearman" if spec.source.regression else "accuracy")


def load_examples(spec: TaskSpec, split: str, seed: int = 42, capped: bool = True) -> Examples:
    """The task's split ('train', 'eval', 'eval_mismatched' for MNLI), capped and subsampled
    (`capped=False`: the whole split, in file order)."""
    if split not in SPLITS:
        raise ValueError(f"split '{split}' is not one of {SPLITS}")
    if spec.source.kind == "glue":
        examples = _load_glue(spec, split)
    elif spec.source.kind == "files":
        examples = _load_files(spec, split)
    else:
        raise ValueError(f"task '{spec.name}': a {spec.source.kind} source must be resolved into files first")
    _validate(spec, split, examples)
    if not capped:
        return examples
    cap = spec.max_train if split == "train" else spec.max_eval
    return examples.sample(cap, seed)


# ---------------------------------------------------------------------------------------------
# GLUE


def _load_glue(spec: TaskSpec, split: str) -> Examples:
    glue = GLUE_TASKS[spec.source.task]
    directory = spec.source.dir
    if directory:
        return _load_glue_dir(spec, glue, directory, split)
    return _load_glue_hub(spec, glue, split)


def _load_glue_dir(spec: TaskSpec, glue, directory: str, split: str) -> Examples:
    folder = os.path.join(directory, glue.folder)
    if not os.path.isdir(folder):
        alt = os.path.join(directory, glue.name)
        folder = alt if os.path.isdir(alt) else folder
    if split == "train":
        name = glue.train_file
    elif split == "eval_mismatched":
        if glue.name != "mnli":
            raise ValueError(f"task '{spec.name}': only MNLI has an eval_mismatched split")
        name = "dev_mismatched.tsv"
    else:
        name = glue.eval_file
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        present = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        raise ValueError(f"task '{spec.name}': GLUE file {path} does not exist"
                         + (f" (the folder has: {', '.join(present)})" if present else " (no such folder)"))
    rows = _read_table(path, "tsv", header=glue.tsv_columns is None, columns=glue.tsv_columns)
    text_cols = TSV_TEXT_COLUMNS.get(glue.name, glue.text_fields)
    return _rows_to_examples(spec, path, rows, list(text_cols), glue.tsv_label,
                             list(glue.label_values) if glue.label_values else None, glue.regression)


def _load_glue_hub(spec: TaskSpec, glue, split: str) -> Examples:
    try:
        import datasets  # imported only here: the hub is the only user
    except ImportError as exc:
        raise ValueError("reading GLUE from the hub needs the `datasets` package; or set task.source.dir "
                         "to a local GLUE folder") from exc
    hub_split = "train" if split == "train" else (
        "validation_mismatched" if split == "eval_mismatched" else HUB_EVAL_SPLIT.get(glue.name, "validation"))
    ds = datasets.load_dataset("nyu-mll/glue", glue.name, split=hub_split)
    text_a = list(ds[glue.text_fields[0]])
    text_b = list(ds[glue.text_fields[1]]) if len(glue.text_fields) == 2 else None
    labels = [float(x) for x in ds["label"]] if glue.regression else [int(x) for x in ds["label"]]
    names = list(glue.label_values or [])
    return Examples(spec.name, text_a, text_b, labels, glue.num_labels, names)


# ---------------------------------------------------------------------------------------------
# CSV / TSV / JSONL files


def _load_files(spec: TaskSpec, split: str) -> Examples:
    src = spec.source
    key = "train" if split == "train" else "eval"
    path = src.train if key == "train" else src.eval
    if not os.path.isfile(path):
        raise ValueError(f"task '{spec.name}': task.source.{key} file {path} does not exist")
    rows = _read_table(path, src.format or _format_of(path), header=True)
    labels = src.labels
    if labels is None and not src.regression:
        # The label set comes from the train split so that eval ids agree with it.
        train_rows = rows if key == "train" else _read_table(src.train, src.format or _format_of(src.train), header=True)
        _check_columns(spec, src.train, train_rows, [src.label])
        labels = sorted({str(r[src.label]) for r in train_rows if r.get(src.label) is not None})
    return _rows_to_examples(spec, path, rows, list(src.text), src.label,
                             [str(x) for x in labels] if labels is not None else None, src.regression)


def _format_of(path: str) -> str:
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext in ("csv", "tsv", "jsonl"):
        return ext
    if ext == "json":
        return "jsonl"
    raise ValueError(f"cannot tell the format of {path}; set task.source.format to csv, tsv or jsonl")


def _read_table(path: str, fmt: str, header: bool, columns: Optional[tuple] = None) -> list[dict]:
    if fmt == "jsonl":
        rows = []
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        return rows
    delimiter = "\t" if fmt == "tsv" else ","
    with open(path, encoding="utf-8", newline="") as f:
        # GLUE TSVs contain unbalanced quotes; read them verbatim.
        quoting = csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL
        reader = csv.reader(f, delimiter=delimiter, quoting=quoting)
        lines = list(reader)
    if not lines:
        return []
    if header:
        head, body = lines[0], lines[1:]
    else:
        head, body = list(columns or []), lines
    return [dict(zip(head, line)) for line in body if line]


def _check_columns(spec: TaskSpec, path: str, rows: list[dict], needed: list[str]) -> None:
    if not rows:
        raise ValueError(f"task '{spec.name}': {path} has no rows")
    present = list(rows[0].keys())
    missing = [c for c in needed if c not in present]
    if missing:
        raise ValueError(f"task '{spec.name}': {path} has no column {', '.join(repr(m) for m in missing)} "
                         f"(columns: {', '.join(present)})")


def _rows_to_examples(spec: TaskSpec, path: str, rows: list[dict], text_cols: list[str], label_col: str,
                      label_values: Optional[list[str]], regression: bool) -> Examples:
    _check_columns(spec, path, rows, text_cols + [label_col])
    # A short line in a TSV/CSV (or a JSONL object without the field) would otherwise surface as
    # a KeyError deep inside; name the row instead.
    for i, r in enumerate(rows):
        absent = [c for c in text_cols + [label_col] if r.get(c) is None]
        if absent:
            raise ValueError(f"task '{spec.name}': {path} row {i + 1} has no value for {', '.join(map(repr, absent))}")
    text_a = [str(r[text_cols[0]]) for r in rows]
    text_b = [str(r[text_cols[1]]) for r in rows] if len(text_cols) == 2 else None
    if regression:
        labels: list[Any] = []
        for i, r in enumerate(rows):
            try:
                labels.append(float(r[label_col]))
            except (TypeError, ValueError):
                raise ValueError(f"task '{spec.name}': {path} row {i + 1}: label {r[label_col]!r} is not a number") from None
        return Examples(spec.name, text_a, text_b, labels, 1, [])
    assert label_values is not None
    index = {v: i for i, v in enumerate(label_values)}
    labels = []
    for i, r in enumerate(rows):
        value = str(r[label_col])
        if value not in index:
            raise ValueError(f"task '{spec.name}': {path} row {i + 1}: label {value!r} is not in the label set "
                             f"{label_values}")
        labels.append(index[value])
    return Examples(spec.name, text_a, text_b, labels, len(label_values), label_values)


def _validate(spec: TaskSpec, split: str, examples: Examples) -> None:
    """Checks every source alike (hub, GLUE folder, files): texts present, labels in range."""
    if len(examples) == 0:
        raise ValueError(f"task '{spec.name}': the {split} split is empty")
    fields = [("first", examples.text_a)] + ([("second", examples.text_b)] if examples.text_b is not None else [])
    for which, texts in fields:
        empty = [i for i, t in enumerate(texts) if t is None or not str(t).strip()]
        if empty:
            raise ValueError(f"task '{spec.name}': the {split} split has {len(empty)} empty texts in its {which} "
                             f"text field (first at example {empty[0] + 1})")
    if examples.regression:
        bad = [i for i, y in enumerate(examples.labels) if not math.isfinite(float(y))]
        if bad:
            raise ValueError(f"task '{spec.name}': the {split} split has {len(bad)} non-finite labels "
                             f"(first at example {bad[0] + 1}: {examples.labels[bad[0]]!r})")
    else:
        # The hub marks unlabelled rows with -1 (test splits); any id outside 0..K-1 is unusable.
        bad = [i for i, y in enumerate(examples.labels) if not 0 <= int(y) < examples.num_labels]
        if bad:
            raise ValueError(f"task '{spec.name}': the {split} split has {len(bad)} labels outside the label set "
                             f"0..{examples.num_labels - 1} (first at example {bad[0] + 1}: {examples.labels[bad[0]]!r})")
