"""Reading a task's splits into `Examples`, with the paper's caps and seeded subsampling."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

from ..contract.payloads import TaskSpec
from ..errors import InputError, first_line, wrap

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
    # Rows left out because their label was empty or NaN (task.invalid_labels: drop), and where.
    dropped: int = 0
    dropped_lines: list[int] = field(default_factory=list)

    @property
    def regression(self) -> bool:
        return self.num_labels == 1

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: list[int]) -> "Examples":
        return Examples(self.task, [self.text_a[i] for i in indices],
                        [self.text_b[i] for i in indices] if self.text_b is not None else None,
                        [self.labels[i] for i in indices], self.num_labels, self.label_names,
                        self.dropped, self.dropped_lines)

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
    # The original GLUE TSVs have a few rows with extra fields: read them as the GLUE loaders do.
    table = _read_table(spec, path, "tsv", header=glue.tsv_columns is None, columns=glue.tsv_columns,
                        strict_fields=False)
    text_cols = TSV_TEXT_COLUMNS.get(glue.name, glue.text_fields)
    return _rows_to_examples(spec, table, list(text_cols), glue.tsv_label,
                             list(glue.label_values) if glue.label_values else None, glue.regression,
                             label_origin="the GLUE label set")


def _load_glue_hub(spec: TaskSpec, glue, split: str) -> Examples:
    try:
        import datasets  # imported only here: the hub is the only user
    except ImportError as exc:
        raise ValueError("reading GLUE from the hub needs the `datasets` package; or set task.source.dir "
                         "to a local GLUE folder") from exc
    hub_split = "train" if split == "train" else (
        "validation_mismatched" if split == "eval_mismatched" else HUB_EVAL_SPLIT.get(glue.name, "validation"))
    try:
        ds = datasets.load_dataset("nyu-mll/glue", glue.name, split=hub_split)
    except Exception as exc:  # noqa: BLE001 - network, cache and hub errors all mean the same to the user
        raise wrap(f"task '{spec.name}': cannot read GLUE '{glue.name}' ({hub_split}) from the Hugging Face hub "
                   f"({first_line(exc)}); set glue_dir (or task.source.dir) to a local GLUE folder in the "
                   f"original TSV layout", exc) from None
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
        what = "is a folder, not a file" if os.path.isdir(path) else "does not exist"
        raise InputError(f"task '{spec.name}': task.source.{key} file {path} {what}")
    table = _read_table(spec, path, src.format or _format_of(path), header=True)
    labels, origin = src.labels, "task.source.labels"
    if labels is None and not src.regression:
        # The label set comes from the train split so that eval ids agree with it; rows whose
        # label is missing never define a class.
        train = table if key == "train" else _read_table(spec, src.train, src.format or _format_of(src.train),
                                                          header=True)
        _check_columns(spec, train, [src.label])
        labels = sorted({str(v) for v in (r.get(src.label) for r in train.rows) if not is_missing_label(v)})
        origin = f"the labels of the training file {src.train}"
    return _rows_to_examples(spec, table, list(src.text), src.label,
                             [str(x) for x in labels] if labels is not None else None, src.regression,
                             label_origin=origin, explicit_labels=src.labels is not None,
                             unseen_hint=key == "eval" and src.labels is None)


def _format_of(path: str) -> str:
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext in ("csv", "tsv", "jsonl"):
        return ext
    if ext == "json":
        return "jsonl"
    raise InputError(f"cannot tell the format of {path}; set task.source.format to csv, tsv or jsonl")


@dataclass
class Table:
    """A file's rows as dicts, with the line each row starts on (1-based, as editors count)."""

    path: str
    rows: list[dict]
    lines: list[int]


def _read_text(spec: TaskSpec, path: str) -> str:
    """The file as text, UTF-8 (a byte-order mark is allowed); a file in another encoding is
    refused with the byte offset and line of the first byte that is not UTF-8."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise wrap(f"task '{spec.name}': cannot read {path}: {exc.strerror or exc}", exc) from None
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = bom + exc.start
        line = data.count(b"\n", 0, offset) + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        raise wrap(f"task '{spec.name}': {path} is not UTF-8 text: byte 0x{data[offset]:02x} at byte offset {offset} "
                   f"(line {line}, byte {column} of the line) is not valid UTF-8. Re-encode the file as UTF-8, "
                   f"e.g. `iconv -f cp1252 -t utf-8 {path} > {_sibling(path)}` (cp1252 or latin1 when it "
                   f"came from Excel)", exc) from None


def _sibling(path: str) -> str:
    stem, ext = os.path.splitext(path)
    return f"{stem}.utf8{ext}"


def _read_table(spec: TaskSpec, path: str, fmt: str, header: bool, columns: Optional[tuple] = None,
                strict_fields: bool = True) -> Table:
    """Rows of a CSV, TSV or JSONL file. Malformed input (bad JSON, a line that is not an object,
    an unclosed quote, more or fewer fields than the header when `strict_fields`) is refused with
    the file and line."""
    text = _read_text(spec, path)
    # Texts can be long (whole emails); csv's default 128 KiB field limit would refuse them.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    where = f"task '{spec.name}': {path}"
    if fmt == "jsonl":
        rows, lines = [], []
        # split on "\n" only: str.splitlines would also split inside texts holding U+2028 etc.
        for number, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise wrap(f"{where} line {number}: not valid JSON ({exc.msg} at column {exc.colno}); each line "
                           f"must be one JSON object", exc) from None
            if not isinstance(value, dict):
                raise InputError(f"{where} line {number}: a JSON {type(value).__name__} where an object "
                                 f'({{"column": value, ...}}) is expected')
            rows.append(value)
            lines.append(number)
        return Table(path, rows, lines)
    delimiter = "\t" if fmt == "tsv" else ","
    # GLUE TSVs contain unbalanced quotes; read them verbatim. CSV quoting is checked strictly
    # (a stray quote is an error, not a silently merged field).
    quoting = csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting, strict=fmt == "csv")
    records, lines = [], []
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise wrap(f"{where} line {start}: malformed {fmt.upper()}: {_csv_problem(exc)}. A field holding the "
                       f"delimiter, a quote or a line break must be in double quotes, with a quote inside it "
                       f'doubled ("")', exc) from None
        if record:
            records.append(record)
            lines.append(start)
        start = reader.line_num + 1
    if not records:
        return Table(path, [], [])
    if header:
        head, body, body_lines = records[0], records[1:], lines[1:]
    else:
        head, body, body_lines = list(columns or []), records, lines
    if strict_fields:
        for record, line in zip(body, body_lines):
            if len(record) != len(head):
                fix = "a text must not hold a tab" if fmt == "tsv" else "quote a text that holds a comma"
                raise InputError(f"{where} line {line}: {len(record)} field(s), but the header has {len(head)} "
                                 f"({', '.join(head)}); {fix}")
    return Table(path, [dict(zip(head, record)) for record in body], body_lines)


def _csv_problem(exc: Exception) -> str:
    """csv's terse complaint in words a user can act on."""
    text = str(exc)
    if "unexpected end of data" in text:
        return "a quoted field that starts on this line is never closed"
    if "expected after" in text:
        return "text follows a closing quote (a quote inside a quoted field must be doubled)"
    if "field larger than field limit" in text:
        return "a field is longer than csv's limit (an unclosed quote?)"
    return text


def _check_columns(spec: TaskSpec, table: Table, needed: list[str]) -> None:
    if not table.rows:
        raise InputError(f"task '{spec.name}': {table.path} has no rows")
    present = list(table.rows[0].keys())
    missing = [c for c in needed if c not in present]
    if missing:
        raise InputError(f"task '{spec.name}': {table.path} has no column {', '.join(repr(m) for m in missing)} "
                         f"(columns: {', '.join(present)})")


# What a label cell holds when the label is missing: empty, or what pandas, R and spreadsheets
# write for "no value". A value listed in task.source.labels is a class, whatever it reads.
MISSING_LABEL_TEXTS = frozenset({"", "nan", "na", "n/a", "null"})


def is_missing_label(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and value.strip().lower() in MISSING_LABEL_TEXTS


def _lines(table: Table, indices: list[int], limit: int = 5) -> str:
    shown = ", ".join(str(table.lines[i]) for i in indices[:limit])
    return shown + (f" and {len(indices) - limit} more" if len(indices) > limit else "")


def _rows_to_examples(spec: TaskSpec, table: Table, text_cols: list[str], label_col: str,
                      label_values: Optional[list[str]], regression: bool, label_origin: str,
                      explicit_labels: bool = False, unseen_hint: bool = False) -> Examples:
    _check_columns(spec, table, text_cols + [label_col])
    where = f"task '{spec.name}': {table.path}"
    # A short line in a TSV/CSV (or a JSONL object without the field) would otherwise surface as
    # a KeyError deep inside; name the line instead.
    for i, r in enumerate(table.rows):
        absent = [c for c in text_cols if r.get(c) is None] + ([label_col] if label_col not in r else [])
        if absent:
            raise InputError(f"{where} line {table.lines[i]} (row {i + 1}) has no value for "
                             f"{', '.join(map(repr, absent))}")
    for which, column in zip(("first", "second"), text_cols):
        empty = [i for i, r in enumerate(table.rows) if not str(r[column]).strip()]
        if empty:
            raise InputError(f"{where} has {len(empty)} empty texts in its {which} text field '{column}' (line "
                             f"{_lines(table, empty)})")

    # Missing labels: refused unless the task says to drop them; never a class of their own.
    known = set(label_values or []) if explicit_labels else set()
    invalid = [i for i, r in enumerate(table.rows) if is_missing_label(r[label_col]) and str(r[label_col]) not in known]
    dropped_lines: list[int] = []
    if invalid:
        if spec.invalid_labels != "drop":
            first = table.rows[invalid[0]][label_col]
            raise InputError(f"{where} has {len(invalid)} row(s) with an empty or NaN label in column '{label_col}' "
                             f"(line {_lines(table, invalid)}; the first holds {first!r}). Fix or remove those "
                             f"rows, or set invalid_labels: drop on the task (osrm train --invalid-labels drop) to "
                             f"leave them out, counted")
        keep = sorted(set(range(len(table.rows))) - set(invalid))
        dropped_lines = [table.lines[i] for i in invalid]
        table = Table(table.path, [table.rows[i] for i in keep], [table.lines[i] for i in keep])
        if not table.rows:
            raise InputError(f"{where}: every row has an empty or NaN label in column '{label_col}'")
    text_a = [str(r[text_cols[0]]) for r in table.rows]
    text_b = [str(r[text_cols[1]]) for r in table.rows] if len(text_cols) == 2 else None
    dropped = len(dropped_lines)
    if regression:
        labels: list[Any] = []
        for i, r in enumerate(table.rows):
            try:
                value = float(r[label_col])
            except (TypeError, ValueError):
                raise InputError(f"{where} line {table.lines[i]} (row {i + 1}): label {r[label_col]!r} is not a "
                                 f"number (a regression task's label is numeric)") from None
            if not math.isfinite(value):
                raise InputError(f"{where} line {table.lines[i]} (row {i + 1}): label {r[label_col]!r} is not a "
                                 f"finite number")
            labels.append(value)
        return Examples(spec.name, text_a, text_b, labels, 1, [], dropped, dropped_lines)
    assert label_values is not None
    index = {v: i for i, v in enumerate(label_values)}
    unknown = [i for i, r in enumerate(table.rows) if str(r[label_col]) not in index]
    if unknown:
        first = str(table.rows[unknown[0]][label_col])
        seen = sorted({str(table.rows[i][label_col]) for i in unknown})
        if unseen_hint:
            raise InputError(f"{where} line {table.lines[unknown[0]]} (row {unknown[0] + 1}): label {first!r} is not "
                             f"in the label set {label_values}, {label_origin} ({len(unknown)} row(s), line "
                             f"{_lines(table, unknown)}, hold labels training never saw: "
                             f"{', '.join(map(repr, seen[:6]))}). A model cannot predict a class it was not "
                             f"trained on: remove those rows, or give every label in task.source.labels")
        raise InputError(f"{where} line {table.lines[unknown[0]]} (row {unknown[0] + 1}): label {first!r} is not in "
                         f"the label set {label_values}, {label_origin} ({len(unknown)} row(s), line "
                         f"{_lines(table, unknown)})")
    labels = [index[str(r[label_col])] for r in table.rows]
    return Examples(spec.name, text_a, text_b, labels, len(label_values), label_values, dropped, dropped_lines)


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
