"""The interference matrix: how far adapter i moves the outputs of task j's inputs.

shift[i][j] = mean over modules of ||dW_i H_j^T||_F / ||W0 H_j^T||_F, computed from the cached
second moments S_j = H_j^T H_j without keeping H: ||M H^T||_F^2 = trace(M S M^T). With
dW = s B A the numerator is s^2 <A S A^T, B^T B> (r x r work after one r x d x d product), and
the denominator <W0^T W0, S> reuses one Gram matrix per module for every task.
"""

from __future__ import annotations


def shift_matrix(deltas: list[dict], w0: dict, moments: list[dict]) -> "list[list[float]]":
    """deltas[i]: module -> (A, B, s) of adapter i; w0: module -> W0; moments[j]: module -> S_j.
    Modules an adapter does not touch count as zero shift (it leaves them alone)."""
    modules = sorted(w0)
    grams = {m: w0[m].T @ w0[m] for m in modules}
    base = [{m: float((grams[m] * moments_j[m]).sum()) for m in modules} for moments_j in moments]
    matrix = []
    for factors in deltas:
        row = []
        for j, moments_j in enumerate(moments):
            total = 0.0
            for m in modules:
                if m not in factors:
                    continue
                a, b, s = factors[m]
                inner = a @ moments_j[m] @ a.T
                num = s * s * float((inner * (b.T @ b)).sum())
                total += (max(num, 0.0) / max(base[j][m], 1e-300)) ** 0.5
            row.append(total / len(modules))
        matrix.append(row)
    return matrix
