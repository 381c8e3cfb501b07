"""Task metrics, implemented in numpy and checked in tests against scikit-learn and scipy.

Each task has one *metric name* that says which numbers are reported and which single `score`
picks the best epoch and enters averages (docs/algorithms.md, section 8):
- accuracy          score = accuracy                                   (SST-2, MNLI, QNLI, RTE)
- accuracy_f1       score = accuracy, F1 of class 1 reported too       (MRPC, QQP)
- matthews          score = Matthews correlation                       (CoLA)
- pearson_spearman  score = mean of Pearson and Spearman               (STS-B)
- r2                score = coefficient of determination, Pearson and Spearman reported
Scores are fractions (0.853), never percentages.
"""

from __future__ import annotations

import numpy as np

METRICS = ("accuracy", "accuracy_f1", "matthews", "pearson_spearman", "r2")


def accuracy(pred: np.ndarray, gold: np.ndarray) -> float:
    return float(np.mean(pred == gold))


def f1_binary(pred: np.ndarray, gold: np.ndarray, positive: int = 1) -> float:
    tp = float(np.sum((pred == positive) & (gold == positive)))
    fp = float(np.sum((pred == positive) & (gold != positive)))
    fn = float(np.sum((pred != positive) & (gold == positive)))
    denominator = 2 * tp + fp + fn
    return 0.0 if denominator == 0 else 2 * tp / denominator


def matthews(pred: np.ndarray, gold: np.ndarray) -> float:
    """Multiclass Matthews correlation (Gorodkin's R_K), as scikit-learn computes it."""
    classes = np.union1d(pred, gold)
    index = {c: i for i, c in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes)), dtype=np.float64)
    for p, g in zip(pred, gold):
        confusion[index[g], index[p]] += 1
    t = confusion.sum(axis=1)  # true occurrences per class
    p = confusion.sum(axis=0)  # predictions per class
    c = np.trace(confusion)
    s = confusion.sum()
    cov_ytyp = c * s - t @ p
    cov_ypyp = s * s - p @ p
    cov_ytyt = s * s - t @ t
    denominator = np.sqrt(cov_ytyt * cov_ypyp)
    return 0.0 if denominator == 0 else float(cov_ytyp / denominator)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    y = np.asarray(y, dtype=np.float64) - np.mean(y)
    denominator = np.sqrt(np.sum(x * x) * np.sum(y * y))
    return 0.0 if denominator == 0 else float(np.sum(x * y) / denominator)


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties sharing their average rank (scipy's rankdata 'average')."""
    x = np.asarray(x)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    boundaries = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1], True])
    for start, end in zip(boundaries[:-1], boundaries[1:]):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    return pearson(_average_ranks(x), _average_ranks(y))


def r2(pred: np.ndarray, gold: np.ndarray) -> float:
    gold = np.asarray(gold, dtype=np.float64)
    residual = np.sum((gold - pred) ** 2)
    total = np.sum((gold - gold.mean()) ** 2)
    return 0.0 if total == 0 else float(1.0 - residual / total)


def score(metric: str, predictions, labels) -> dict:
    """{'score': the task's single number, 'metrics': every number reported for it}."""
    pred = np.asarray(predictions)
    gold = np.asarray(labels)
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predictions for {len(gold)} labels")
    if metric == "accuracy":
        values = {"accuracy": accuracy(pred, gold)}
        return {"score": values["accuracy"], "metrics": values}
    if metric == "accuracy_f1":
        values = {"accuracy": accuracy(pred, gold), "f1": f1_binary(pred, gold)}
        return {"score": values["accuracy"], "metrics": values}
    if metric == "matthews":
        values = {"matthews": matthews(pred, gold), "accuracy": accuracy(pred, gold)}
        return {"score": values["matthews"], "metrics": values}
    if metric == "pearson_spearman":
        values = {"pearson": pearson(pred, gold), "spearman": spearman(pred, gold)}
        return {"score": (values["pearson"] + values["spearman"]) / 2, "metrics": values}
    if metric == "r2":
        values = {"r2": r2(pred, gold), "pearson": pearson(pred, gold), "spearman": spearman(pred, gold)}
        return {"score": values["r2"], "metrics": values}
    raise ValueError(f"metric '{metric}' is not one of {METRICS}")


def predictions_from_logits(logits: np.ndarray, regression: bool) -> np.ndarray:
    logits = np.asarray(logits)
    if regression:
        return logits.reshape(-1).astype(np.float64)
    return logits.argmax(axis=-1)
