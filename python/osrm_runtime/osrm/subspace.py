"""The orthogonal subspaces themselves: given other tasks' input statistics, the r rows of A.

covariance (the paper): rows of A = eigenvectors of S_{-t} with the r smallest eigenvalues, which
minimises ||A H_{-t}^T||_F^2 = trace(A S_{-t} A^T) subject to A A^T = I (Ky Fan).
means (the authors' code): rows of A = the last r right singular vectors of the stacked mean
vectors X_{-t} ((T-1) x d), a basis of part of X_{-t}'s null space.

Every solve here is batched over the inputs of equal dimension and runs in fp64, on the GPU when
there is one (eigh on 1024 x 1024 in fp32 loses the small end of the spectrum, which is exactly
the part OSRM keeps).
"""

from __future__ import annotations

WEIGHTINGS = ("tokens", "equal")
VARIANTS = ("covariance", "means", "release")


def others_second_moment(moments: list, tokens: list[int], weighting: str):
    """S_{-t} from the other tasks' sums of h h^T: pooled over tokens (sum S_j / sum n_j) or with
    equal weight per task (mean_j S_j / n_j), so a task with long inputs does not dominate."""
    import torch

    if weighting not in WEIGHTINGS:
        raise ValueError(f"osrm.weighting '{weighting}' is not one of {', '.join(WEIGHTINGS)}")
    if weighting == "tokens":
        return sum(m.double() for m in moments) / max(sum(tokens), 1)
    return torch.stack([m.double() / max(n, 1) for m, n in zip(moments, tokens)]).mean(0)


def smallest_eigenvectors(stack, rank: int, device=None):
    """(G, d, d) symmetric -> (G, r, d) orthonormal rows: eigenvectors of the r smallest
    eigenvalues, and those eigenvalues (G, r)."""
    import torch

    stack = stack.to(device=device or stack.device, dtype=torch.float64)
    stack = (stack + stack.transpose(-1, -2)) / 2  # fp32 storage leaves a tiny asymmetry
    values, vectors = torch.linalg.eigh(stack)     # ascending eigenvalues, vectors in columns
    return vectors[..., :rank].transpose(-1, -2).contiguous(), values[..., :rank]


def null_space_rows(stack, rank: int, device=None, dtype=None):
    """(G, m, d) stacked vectors -> (G, r, d): the last r right singular vectors of the full SVD
    (in fp64 unless a dtype is asked for: the release solves in fp32)."""
    import torch

    stack = stack.to(device=device or stack.device, dtype=dtype or torch.float64)
    _, _, vh = torch.linalg.svd(stack, full_matrices=True)
    return vh[..., -rank:, :].contiguous()


def check_rank(rank: int, d_in: int, variant: str, others: int, module: str) -> None:
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise ValueError(f"lora.rank must be a positive integer, got {rank!r}")
    if rank > d_in:
        raise ValueError(f"lora.rank {rank} is larger than the input dimension {d_in} of module {module}")
    if variant in ("means", "release") and rank > d_in - others:
        raise ValueError(f"lora.rank {rank} is larger than the null space of the other tasks' mean vectors at "
                         f"module {module}: d_in - (T-1) = {d_in} - {others} = {d_in - others}")
