"""Sign consensus (TIES' election) and aggregation of task vectors."""

from __future__ import annotations


def elect_sign(vectors: list):
    """sign(sum_t tau_t) with zero mapped to +1 (TIES)."""
    import torch

    total = torch.stack(vectors).sum(0)
    return torch.where(total >= 0, 1.0, -1.0).to(total.dtype)


def aggregate(vectors: list, consensus: str, reduce: str):
    import torch

    stacked = torch.stack(vectors)
    if consensus == "none":
        return stacked.sum(0) if reduce == "sum" else stacked.mean(0)
    if consensus != "sign_sum":
        raise ValueError(f"unknown consensus '{consensus}'")
    sign = elect_sign(vectors)
    # Only entries whose sign matches the elected one count ("disjoint" merge); a zero never agrees.
    agree = (stacked * sign) > 0
    kept = torch.where(agree, stacked, torch.zeros_like(stacked)).sum(0)
    if reduce == "sum":
        return kept
    return kept / agree.sum(0).clamp(min=1).to(kept.dtype)
