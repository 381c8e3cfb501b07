"""Op `osrm_init`: task t's OSRM init adapter (A from the other tasks' statistics, B = 0) in
PEFT's format, ready for the `train` op to load by PEFT's key names."""

from __future__ import annotations

import os

from ..adapters import lora_config, write_adapter
from ..contract.payloads import OsrmInitPayload
from ..models import device, target_module_suffixes
from .stats_cache import Stats, load_stats
from .subspace import VARIANTS, check_rank, null_space_rows, others_second_moment, smallest_eigenvectors


# The order in which the released code lists the GLUE tasks (and stacks their mean vectors).
RELEASE_TASK_ORDER = ("mrpc", "qnli", "qqp", "rte", "sst2", "mnli", "cola", "stsb")


def load_stats_map(stats: dict, field: str = "stats") -> dict[str, Stats]:
    if not stats:
        raise ValueError(f"{field} must map task names to statistics files (from collect_stats)")
    loaded = {name: load_stats(path, f"{field}.{name}") for name, path in stats.items()}
    first_name, first = next(iter(loaded.items()))
    for name, s in loaded.items():
        if s.meta["model"]["name_or_path"] != first.meta["model"]["name_or_path"] or s.meta["shapes"] != first.meta["shapes"]:
            raise ValueError(f"{field}.{name}: {s.path} was collected on model {s.meta['model']['name_or_path']} "
                             f"with modules of other shapes than {field}.{first_name} "
                             f"({first.meta['model']['name_or_path']}); statistics must come from one model")
    return loaded


def select_modules(stats: Stats, blocks) -> list[str]:
    """The statistics' modules, narrowed to lora.blocks when given."""
    modules = stats.modules
    if not blocks:
        return modules
    family = stats.meta["model"]["family"]
    chosen = []
    for suffix in target_module_suffixes(family, list(blocks)):
        hit = [m for m in modules if m == suffix or m.endswith("." + suffix)]
        if not hit:
            raise ValueError(f"lora.blocks {list(blocks)}: module '{suffix}' has no statistics in {stats.path} "
                             f"(collected for blocks {stats.meta['blocks']}: {', '.join(modules[:6])}...)")
        chosen += [m for m in hit if m not in chosen]
    return [m for m in modules if m in chosen]


def osrm_subspaces(target: str, stats: dict[str, Stats], modules: list[str], rank: int, variant: str,
                   weighting: str = "tokens", pooling: str = "masked", on_device=None) -> tuple[dict, dict]:
    """module -> A (r x d_in, fp64 on the CPU), and per module the residual: the fraction of the
    other tasks' input energy A keeps (covariance: trace(A S A^T) / trace(S)) or ||A X^T|| / ||X||."""
    import torch

    if variant not in VARIANTS:
        raise ValueError(f"osrm.variant '{variant}' is not one of {', '.join(VARIANTS)}")
    others = [s for name, s in stats.items() if name != target]
    if variant == "release":
        # The release stacks the other tasks' means in its own GLUE order; rows' order can change
        # which basis of the null space an SVD returns.
        others.sort(key=lambda s: RELEASE_TASK_ORDER.index(s.task) if s.task in RELEASE_TASK_ORDER else len(RELEASE_TASK_ORDER))
    if not others:
        raise ValueError(f"stats: OSRM for task '{target}' needs statistics of at least one other task "
                         f"(got only {', '.join(stats)})")
    reference = others[0]
    inputs: dict[str, str] = {}  # input key -> a module reading it (shared inputs solve once)
    for module in modules:
        inputs.setdefault(reference.input_key(module), module)
    by_dim: dict[int, list[str]] = {}
    for key, module in inputs.items():
        d_in = reference.meta["shapes"][module][1]
        check_rank(rank, d_in, variant, len(others), module)
        by_dim.setdefault(d_in, []).append(key)

    solved: dict[str, object] = {}
    residual_by_key: dict[str, float] = {}
    for d_in, keys in by_dim.items():
        mods = [inputs[k] for k in keys]
        if variant == "covariance":
            stack = torch.stack([others_second_moment([s.second_moment(m) for s in others],
                                                      [s.tokens(m) for s in others], weighting) for m in mods])
            rows, values = smallest_eigenvectors(stack, rank, on_device)
            traces = torch.diagonal(stack, dim1=-2, dim2=-1).sum(-1).to(values)
            residual = values.sum(-1) / traces.clamp_min(1e-300)
        else:
            if variant == "means":
                stack = torch.stack([torch.stack([s.mean(m, pooling).double() for s in others]) for m in mods])
                rows = null_space_rows(stack, rank, on_device)
            else:  # release: the release's own mean vectors, an fp32 SVD as it does
                stack = torch.stack([torch.stack([s.mean(m, "release").float() for s in others]) for m in mods])
                rows = null_space_rows(stack, rank, on_device, torch.float32).double()
            stack = stack.to(rows)
            residual = (torch.linalg.matrix_norm(rows @ stack.transpose(-1, -2))
                        / torch.linalg.matrix_norm(stack).clamp_min(1e-300))
        rows = rows.cpu()
        for i, key in enumerate(keys):
            solved[key] = rows[i]
            residual_by_key[key] = float(residual[i])
    a = {m: solved[reference.input_key(m)] for m in modules}
    res = {m: residual_by_key[reference.input_key(m)] for m in modules}
    return a, res


def osrm_init(payload: OsrmInitPayload, ctx) -> dict:
    import torch

    target, lora, osrm = payload.task, payload.lora, payload.osrm
    stats = load_stats_map(payload.stats)
    reference = next(iter(stats.values()))
    modules = select_modules(reference, lora.blocks)
    ctx.progress(f"osrm init {target}", current=0, total=1, message=osrm.variant)
    a, residual = osrm_subspaces(target, stats, modules, lora.rank, osrm.variant, osrm.weighting, osrm.pooling,
                                 device())
    factors = {m: (a[m], torch.zeros(reference.meta["shapes"][m][0], lora.rank)) for m in modules}
    family = reference.meta["model"]["family"]
    config = lora_config(rank=lora.rank, alpha=lora.alpha, dropout=lora.dropout,
                         target_modules=target_module_suffixes(family, list(lora.blocks)),
                         fan_in_fan_out=bool(reference.meta.get("conv1d")))
    values = list(residual.values())
    info = {"kind": "osrm_init", "task": target, "variant": osrm.variant, "rank": lora.rank, "alpha": lora.alpha,
            "weighting": osrm.weighting, "pooling": osrm.pooling,
            "stats": {name: s.path for name, s in stats.items()}, "residual": residual}
    write_adapter(payload.out, factors, config, base_model=reference.meta["model"]["name_or_path"],
                  files={"osrm_adapter.json": info})
    ctx.progress(f"osrm init {target}", current=1, total=1)
    return {"adapter": os.path.abspath(payload.out), "modules": modules, "variant": osrm.variant, "rank": lora.rank,
            "inputs": len({reference.input_key(m) for m in modules}),
            "others": [n for n in stats if n != target],
            "residual": {"mean": sum(values) / len(values), "max": max(values)}}
