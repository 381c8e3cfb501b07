"""The robustness curve of a search (score vs lambda, one line per setting of the other
hyperparameters), saved as JSON, CSV and a PNG (matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

import csv
import json
import os


def setting_label(row: dict, names: list[str]) -> str:
    return ", ".join(f"{n}={row[n]}" for n in names) or "merge"


def write_curve(folder: str, rows: list[dict], others: list[str], tasks: list[str], select: str,
                title: str) -> dict:
    os.makedirs(folder, exist_ok=True)
    paths = {"json": os.path.join(folder, "curve.json"), "csv": os.path.join(folder, "curve.csv"),
             "png": os.path.join(folder, "curve.png")}
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump({"select": select, "hyperparameters": others, "rows": rows}, f, indent=2)
    columns = others + ["lambda", "average", "normalized"] + [f"score_{t}" for t in tasks]
    with open(paths["csv"], "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row[n] for n in others] + [row["lambda"], row["average"], row["normalized"]]
                            + [row["tasks"][t] for t in tasks])
    _plot(paths["png"], rows, others, select, title)
    return paths


def _plot(path: str, rows: list[dict], others: list[str], select: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    settings: dict[str, list[dict]] = {}
    for row in rows:
        settings.setdefault(setting_label(row, others), []).append(row)
    for label, series in settings.items():
        series = sorted(series, key=lambda r: r["lambda"])
        ys = [r[select] if r[select] is not None else float("nan") for r in series]
        ax.plot([r["lambda"] for r in series], ys, marker="o", label=label)
    ax.set_xlabel("lambda")
    ax.set_ylabel(f"{select} score (held-out training slice)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(settings) > 1:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
