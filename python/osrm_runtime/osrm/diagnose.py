"""Op `diagnose`: the T x T interference matrix of a set of adapters on the tasks' own inputs,
from the cached statistics, written as JSON, CSV, markdown and a heat map."""

from __future__ import annotations

import os

from ..models import ModelSpec, load_classifier
from .adapters import read_adapter
from .init import load_stats_map
from .interference import shift_matrix
from .report import write_heatmap, write_tables
from .weights import base_weights


def diagnose(payload: dict, ctx) -> dict:
    spec = ModelSpec.parse(payload.get("model"))
    out = payload.get("out")
    if not out:
        raise ValueError("out: the folder for the matrix, tables and heat map is required")
    entries = payload.get("adapters")
    if not isinstance(entries, list) or not entries:
        raise ValueError("adapters must be a list of {task, path} (PEFT LoRA folders)")
    stats = load_stats_map(payload.get("stats"))
    cols = list(stats)
    reference = stats[cols[0]]
    adapters = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("path"):
            raise ValueError(f"adapters[{i}] must be {{task, path}}")
        adapters.append((entry.get("task") or os.path.basename(os.path.normpath(entry["path"])),
                         read_adapter(entry["path"], f"adapters[{i}].path")))
    modules = sorted({m for _, a in adapters for m in a.modules})
    for i, (_, adapter) in enumerate(adapters):
        missing = [m for m in adapter.modules if m not in reference.meta["modules"]]
        if missing:
            raise ValueError(f"adapters[{i}].path: {adapter.path} adapts {missing[0]!r}, which has no statistics in "
                             f"{reference.path} (collected for blocks {reference.meta['blocks']})")
    base = load_classifier(spec, num_labels=2)
    w0 = base_weights(base, modules)
    del base
    deltas = []
    for i, (_, adapter) in enumerate(adapters):
        factors = {}
        for m in adapter.modules:
            a, b = adapter.factors(m)
            if (b.shape[0], a.shape[1]) != tuple(w0[m].shape):
                raise ValueError(f"adapters[{i}].path: {adapter.path} module {m} is {b.shape[0]}x{a.shape[1]} but the "
                                 f"base model {spec.name_or_path} has {w0[m].shape[0]}x{w0[m].shape[1]}")
            factors[m] = (a.double(), b.double(), adapter.scaling)
        deltas.append(factors)
    moments = []
    for name, s in stats.items():
        per_module = {}
        for m in modules:
            S = s.second_moment(m).double()
            if S.shape[0] != w0[m].shape[1]:
                raise ValueError(f"stats.{name}: {s.path} has {S.shape[0]}-dimensional inputs for {m} but the base "
                                 f"model's module takes {w0[m].shape[1]}")
            per_module[m] = S
        moments.append(per_module)
    ctx.progress("diagnose", current=0, total=1)
    matrix = shift_matrix(deltas, w0, moments)
    rows = [name for name, _ in adapters]
    diag = [matrix[i][cols.index(r)] for i, r in enumerate(rows) if r in cols]
    off = [matrix[i][j] for i, r in enumerate(rows) for j, c in enumerate(cols) if c != r]
    summary = {"diagonal_mean": sum(diag) / len(diag) if diag else None,
               "off_diagonal_mean": sum(off) / len(off) if off else None}
    extra = {"model": spec.name_or_path, "modules": modules, **summary,
             "adapter_paths": [a.path for _, a in adapters], "stats": {n: s.path for n, s in stats.items()}}
    paths = write_tables(out, rows, cols, matrix, extra)
    title = payload.get("title") or "output shift ||dW_i H_j|| / ||W0 H_j||"
    if summary["off_diagonal_mean"] is not None:
        title += f"\noff-diagonal mean {summary['off_diagonal_mean']:.4f}"
    image = write_heatmap(os.path.join(out, "interference.png"), rows, cols, matrix, title)
    ctx.progress("diagnose", current=1, total=1)
    return {"matrix": matrix, "tasks": rows, "inputs": cols, "image": os.path.abspath(image),
            "table": os.path.abspath(paths["md"]), "csv": os.path.abspath(paths["csv"]),
            "json": os.path.abspath(paths["json"]), "modules": len(modules), **summary}
