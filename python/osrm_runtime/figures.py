"""Op `plot_report`: the report's figures, drawn from the finished jobs' results so that they
compare: every merge method's robustness curve with the Gaussian and the OSRM init on the same
axes (the spread over seeds as a band), the interference matrices of both inits on one colour
scale, and each task's training loss. Each figure is written as PNG (for the page), SVG and PDF
(for papers). It also reports the versions and hardware for the report's provenance block."""

from __future__ import annotations

import math
import os
import platform
from collections import defaultdict

INIT_COLOURS = {"gaussian": "#d95f02", "osrm": "#1b9e77"}
FORMATS = ("png", "svg", "pdf")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: str, name: str) -> dict:
    os.makedirs(out, exist_ok=True)
    files = {}
    for fmt in FORMATS:
        path = os.path.join(out, f"{name}.{fmt}")
        # Fixed metadata: the same figure gives the same file (no creation date in the SVG/PDF).
        metadata = {"Date": None} if fmt in ("svg", "pdf") else {}
        # tight: rotated task names and axis labels are never cut off at the figure's edge.
        fig.savefig(path, dpi=130, metadata=metadata, bbox_inches="tight")
        files[fmt] = os.path.abspath(path)
    return files


def _colour(init: str) -> str:
    return INIT_COLOURS.get(init, "#7570b3")


def robustness_figures(out: str, curves: list, chosen: list) -> list[dict]:
    """One figure per method: normalised score on the reported split against lambda, one line
    per init (the mean over seeds) with the seeds' min..max as a band; chosen lambdas marked."""
    plt = _pyplot()
    by_method: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for curve in curves:
        by_method[curve.method][curve.init].append(curve.points)
    picked: dict[tuple, list] = defaultdict(list)
    for c in chosen:
        picked[(c.method, c.init)].append(c.lambda_)
    figures = []
    for index, (method, inits) in enumerate(by_method.items()):
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for init, seeds in sorted(inits.items()):
            lambdas = sorted({p.lambda_ for points in seeds for p in points})
            rows = []
            for lam in lambdas:
                values = [100 * p.normalized for points in seeds for p in points
                          if p.lambda_ == lam and p.normalized is not None]
                if values:
                    rows.append((lam, sum(values) / len(values), min(values), max(values)))
            if not rows:
                continue
            xs, mean, low, high = zip(*rows)
            label = f"{init} ({len(seeds)} seed{'s' if len(seeds) != 1 else ''})"
            ax.plot(xs, mean, marker="o", color=_colour(init), label=label)
            if len(seeds) > 1:
                ax.fill_between(xs, low, high, color=_colour(init), alpha=0.18, linewidth=0)
            for lam in picked.get((method, init), []):
                ax.axvline(lam, color=_colour(init), linestyle=":", linewidth=1)
        ax.set_xlabel("lambda (scale of the merged update)")
        ax.set_ylabel("normalised score, % of the individual models")
        ax.set_title(f"{method}: robustness to lambda (reported split)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        files = _save(fig, out, f"robustness-{index}")
        plt.close(fig)
        figures.append({"name": f"robustness-{index}", "kind": "robustness", "title": f"Robustness to lambda: {method}",
                        "caption": "Normalised score (merged / individually fine-tuned, per task, averaged) on each "
                                   "task's reported split at every lambda of the grid; lines are the mean over seeds, "
                                   "bands the seeds' range; dotted lines the lambdas the search chose on held-out "
                                   "training data.", **files})
    return figures


def interference_figure(out: str, heatmaps: list) -> list[dict]:
    """The interference matrices of every init side by side on one colour scale (the mean over
    seeds), each titled with its off-diagonal / diagonal ratio."""
    if not heatmaps:
        return []
    import numpy as np

    plt = _pyplot()
    by_init: dict[str, list] = defaultdict(list)
    for h in heatmaps:
        by_init[h.init].append(h)
    means, labels = {}, {}
    for init, items in sorted(by_init.items()):
        means[init] = np.mean([np.asarray(h.matrix, dtype=float) for h in items], axis=0)
        labels[init] = (list(items[0].tasks), list(items[0].inputs), len(items))
    vmin = min(float(m.min()) for m in means.values())
    vmax = max(float(m.max()) for m in means.values())
    tasks = max(len(v[1]) for v in labels.values())
    size = max(2.6, 0.55 * tasks + 1.2)
    fig, axes = plt.subplots(1, len(means), figsize=(size * len(means) + 1.0, size + 0.6), squeeze=False)
    image = None
    ratios = {}
    first_rows = labels[next(iter(means))][0]
    for ax, (init, matrix) in zip(axes[0], means.items()):
        rows, cols, seeds = labels[init]
        image = ax.imshow(matrix, cmap="viridis", vmin=vmin, vmax=vmax)
        ax.set_xticks(range(len(cols)), labels=cols, rotation=45, ha="right", fontsize=8)
        # Panels after the first share its rows: their labels would sit on the previous panel's
        # last column, so only the first panel (or one with other rows) names them.
        shown = rows if ax is axes[0][0] or rows != first_rows else []
        ax.set_yticks(range(len(rows)), labels=shown, fontsize=8)
        diagonal = [matrix[i][cols.index(r)] for i, r in enumerate(rows) if r in cols]
        off = [matrix[i][j] for i, r in enumerate(rows) for j, c in enumerate(cols) if c != r]
        ratio = (sum(off) / len(off)) / (sum(diagonal) / len(diagonal)) if off and diagonal and sum(diagonal) else None
        ratios[init] = ratio
        ax.set_title(f"{init} ({seeds} seed{'s' if seeds != 1 else ''})\noff-diag / diag = "
                     + (f"{ratio:.3f}" if ratio is not None else "–"), fontsize=9)
        if len(cols) <= 10:
            mid = (vmax + vmin) / 2
            for i in range(matrix.shape[0]):
                for j in range(matrix.shape[1]):
                    ax.text(j, i, f"{matrix[i, j]:.3g}", ha="center", va="center", fontsize=7,
                            color="black" if matrix[i, j] > mid else "white")
        ax.set_xlabel("inputs of task", fontsize=8)
    axes[0][0].set_ylabel("adapter of task", fontsize=8)
    fig.colorbar(image, ax=list(axes[0]), fraction=0.035, pad=0.03)
    files = _save(fig, out, "interference")
    plt.close(fig)
    return [{"name": "interference", "kind": "interference", "title": "Interference, every init on one colour scale",
             "caption": "Relative output shift ||dW_i H_j|| / ||W0 H_j|| of adapter i (rows) on task j's layer inputs "
                        "(columns), the mean over seeds. Off-diagonal entries are the interference a merge suffers, the "
                        "diagonal each task's own update. One colour scale for all panels.",
             "ratios": ratios, **files}]


def loss_figure(out: str, losses: list) -> list[dict]:
    """Training loss per epoch, a panel per task, a line per init (the mean over seeds)."""
    if not losses:
        return []
    plt = _pyplot()
    by_task: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for entry in losses:
        by_task[entry.task][entry.init].append([(h["epoch"], h["loss"]) for h in entry.history])
    n = len(by_task)
    columns = min(4, n)
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.0 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (task, inits) in zip(axes.flat, by_task.items()):
        for init, runs in sorted(inits.items()):
            epochs = sorted({e for run in runs for e, _ in run})
            mean = [sum(l for run in runs for e2, l in run if e2 == e) / sum(1 for run in runs for e2, _ in run if e2 == e)
                    for e in epochs]
            ax.plot(epochs, mean, marker="o", color=_colour(init), label=init)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("training loss", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    files = _save(fig, out, "training-loss")
    plt.close(fig)
    return [{"name": "training-loss", "kind": "loss", "title": "Training loss per task",
             "caption": "Mean training loss of each epoch, per task and init (the mean over seeds).", **files}]


def environment() -> dict:
    """What the provenance block records about the Python side."""
    versions = {}
    for name in ("torch", "transformers", "peft", "safetensors", "numpy"):
        try:
            versions[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001 - a missing package is recorded as missing
            versions[name] = None
    versions["python"] = platform.python_version()
    hardware = {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(), "gpus": []}
    try:
        import torch

        hardware["threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            hardware["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    hardware["processor"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"versions": versions, "hardware": hardware}


def plot_report(payload, ctx) -> dict:
    out = payload.out
    ctx.progress("figures", current=0, total=3, unit="figures")
    figures = robustness_figures(out, payload.curves, payload.chosen)
    ctx.progress("figures", current=1, total=3, unit="figures")
    figures += interference_figure(out, payload.heatmaps)
    ctx.progress("figures", current=2, total=3, unit="figures")
    figures += loss_figure(out, payload.losses)
    ctx.progress("figures", current=3, total=3, unit="figures")
    return {"figures": figures, **environment()}
