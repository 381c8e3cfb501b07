"""The interference matrix as files: JSON, CSV, a markdown table and an annotated heat map."""

from __future__ import annotations

import csv
import json
import os


def write_tables(out: str, rows: list[str], cols: list[str], matrix: list[list[float]], extra: dict) -> dict:
    os.makedirs(out, exist_ok=True)
    paths = {k: os.path.join(out, f"interference.{k}") for k in ("json", "csv", "md")}
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump({"adapters": rows, "inputs": cols, "matrix": matrix, **extra}, f, indent=2)
    with open(paths["csv"], "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["adapter \\ inputs"] + cols)
        for name, row in zip(rows, matrix):
            writer.writerow([name] + [f"{v:.6g}" for v in row])
    lines = ["| adapter \\ inputs | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in zip(rows, matrix):
        lines.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in row) + " |")
    with open(paths["md"], "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return paths


def write_heatmap(path: str, rows: list[str], cols: list[str], matrix: list[list[float]], title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    import matplotlib.pyplot as plt
    import numpy as np

    values = np.asarray(matrix, dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(cols), 0.8 + 0.7 * len(rows)))
    image = ax.imshow(values, cmap="viridis")
    ax.set_xticks(range(len(cols)), labels=cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), labels=rows)
    ax.set_xlabel("inputs of task")
    ax.set_ylabel("adapter of task")
    ax.set_title(title, fontsize=9)
    mid = (values.max() + values.min()) / 2 if values.size else 0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            ax.text(j, i, f"{values[i, j]:.3f}", ha="center", va="center", fontsize=8,
                    color="black" if values[i, j] > mid else "white")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
