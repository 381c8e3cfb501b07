"""Op `diagnose`: the T x T interference matrix of a set of adapters on the tasks' own inputs,
from the cached statistics, written as JSON, CSV, markdown and a heat map."""

from __future__ import annotations

import os

from ..adapters import AdapterFolder
from ..contract.payloads import DiagnosePayload
from ..models import load_classifier
from .init import load_stats_map
from .interference import shift_matrix
from .report import write_heatmap, write_tables
from .weights import base_weights


def diagnose(payload: DiagnosePayload, ctx) -> dict:
    spec, out = payload.model, payload.out
    stats = load_stats_map(payload.stats)
    cols = list(stats)
    reference = stats[cols[0]]
    adapters = [(entry.task, AdapterFolder(entry.path, f"adapters[{i}].path")) for i, entry in enumerate(payload.adapters)]
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
            factors[m] = (a.double(), b.double(), adapter.scaling(m))
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
    title = payload.title or "output shift ||dW_i H_j|| / ||W0 H_j||"
    if summary["off_diagonal_mean"] is not None:
        title += f"\noff-diagonal mean {summary['off_diagonal_mean']:.4f}"
    image = write_heatmap(os.path.join(out, "interference.png"), rows, cols, matrix, title)
    ctx.progress("diagnose", current=1, total=1)
    return {"matrix": matrix, "tasks": rows, "inputs": cols, "image": os.path.abspath(image),
            "table": os.path.abspath(paths["md"]), "csv": os.path.abspath(paths["csv"]),
            "json": os.path.abspath(paths["json"]), "modules": len(modules), **summary}
