"""Shared linear algebra of the SVD-based methods (KnOTS, Core Space, TSV, Iso-C/CTS)."""

from __future__ import annotations


def numerical_rank(singular_values, shape) -> int:
    """Count of singular values above the float32 noise floor. LoRA updates have rank <= r; the
    singular vectors of the zero singular values are arbitrary, and letting them into an
    orthogonalisation or an isotropic spectrum would inject random directions."""
    import torch

    if singular_values.numel() == 0 or float(singular_values.max()) == 0.0:
        return 0
    tol = float(singular_values.max()) * max(shape) * torch.finfo(torch.float32).eps
    return int((singular_values > tol).sum())


def svd(matrix):
    import torch

    u, s, vh = torch.linalg.svd(matrix.double(), full_matrices=False)
    return u, s, vh


def orthogonalize(columns):
    """The nearest matrix with orthonormal columns (polar factor): P Q^T from the SVD P S Q^T."""
    import torch

    p, _, qh = torch.linalg.svd(columns, full_matrices=False)
    return p @ qh
