"""Second moments and mean vectors of the inputs of adapted modules, from forward pre-hooks.

Modules that read the same tensor (q, k, v of one attention layer; gate and up of a Llama MLP;
T5's cross-attention k and v, which all read the encoder output) are found once by identity on a
tiny probe batch and hooked once, so each distinct input is reduced once per batch. Statistics
are keyed by the first adapted module (in model order) that reads the input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

POOLINGS = ("masked", "all-positions")
# The released code's procedure (osrm.variant release): per batch, the module input's mean over all
# positions, then over the batch, in the model's own dtype (bf16), summed in fp32.
RELEASE = "release"


@dataclass
class InputMoments:
    """Running sums for one distinct module input."""

    second_moment: "object" = None   # d x d, fp64: sum over real tokens of h h^T
    tokens: int = 0                  # real tokens summed into second_moment
    mean_masked_sum: "object" = None  # d, fp64: sum over samples of the per-sample masked mean
    mean_all_sum: "object" = None     # d, fp64: sum over samples of the mean over all padded positions
    mean_release_sum: "object" = None  # d, fp32: the released code's sum of per-batch means (see below)
    samples: int = 0
    batches: int = 0


@dataclass
class Moments:
    """What one collection produced: per input key its sums; per module which key it reads."""

    inputs: dict[str, InputMoments]
    module_input: dict[str, str]     # module name -> input key
    samples: int = 0
    pooling: str = "masked"
    shapes: dict[str, list[int]] = field(default_factory=dict)  # module -> [d_out, d_in]
    conv1d: list[str] = field(default_factory=list)            # modules stored as transformers Conv1D


def module_shape(module) -> tuple[int, int, bool]:
    """(d_out, d_in, is_conv1d) in linear orientation; GPT-2's Conv1D stores its weight transposed."""
    if type(module).__name__ == "Conv1D":
        d_in, d_out = module.weight.shape
        return int(d_out), int(d_in), True
    d_out, d_in = module.weight.shape
    return int(d_out), int(d_in), False


def uses_decoder_mask(name: str) -> bool:
    """T5's decoder runs on the input shifted right by one (a start token first), so its real
    positions are the encoder mask shifted the same way; cross-attention k and v read the encoder
    output and keep the encoder mask."""
    parts = name.split(".")
    if "decoder" not in parts:
        return False
    return not ("EncDecAttention" in parts and parts[-1] in ("k", "v"))


def shift_mask_right(mask):
    import torch

    return torch.cat([torch.ones_like(mask[:, :1]), mask[:, :-1]], dim=1)


class _StopForward(Exception):
    """Raised by the hook of the last input the model computes: the rest of the forward pass
    (the layers above it and the head) cannot change any statistic, so it is skipped."""


def find_shared_inputs(model, modules: list[str], probe: dict) -> tuple[dict[str, str], list[str]]:
    """module -> key of the input it reads (the first module in `modules` reading the same tensor),
    and the modules in the order the forward pass calls them."""
    import torch

    named = dict(model.named_modules())
    seen: dict[str, object] = {}
    handles = []

    def keep(name):
        def hook(_module, args):
            seen[name] = args[0]  # holding the reference keeps ids/storage from being reused
        return hook

    for name in modules:
        handles.append(named[name].register_forward_pre_hook(keep(name)))
    try:
        with torch.inference_mode():
            model(**probe)
    finally:
        for h in handles:
            h.remove()
    missing = [m for m in modules if m not in seen]
    if missing:
        raise ValueError(f"modules {missing} were not called in a forward pass of the model; they cannot "
                         f"be adapted for this task")
    keys: dict[str, str] = {}
    representatives: list[str] = []
    for name in modules:
        for rep in representatives:
            if seen[rep] is seen[name]:
                keys[name] = rep
                break
        else:
            representatives.append(name)
            keys[name] = name
    return keys, list(seen)  # dicts keep insertion order: the order of the calls


def collect_moments(model, batches, modules: list[str], pooling: str = "masked",
                    on_batch: Optional[Callable[[int], None]] = None) -> Moments:
    """Sums of h h^T over real tokens (and mean vectors) of every distinct input of `modules`.

    `batches` yields dicts with input_ids and attention_mask (dynamic padding; for
    pooling='all-positions' every batch must be padded to max_length, because that mean includes
    the pad positions exactly as the authors' code does).
    """
    import torch

    if pooling not in POOLINGS + (RELEASE,):
        raise ValueError(f"osrm.pooling '{pooling}' is not one of {POOLINGS}")
    device = next(model.parameters()).device
    named = dict(model.named_modules())
    iterator = iter(batches)
    first = next(iterator, None)
    if first is None:
        raise ValueError("no examples to collect statistics from")
    probe = {k: first[k][:2].to(device) for k in ("input_ids", "attention_mask")}
    module_input, call_order = find_shared_inputs(model, modules, probe)
    representatives = sorted(set(module_input.values()), key=modules.index)
    last_called = max(representatives, key=call_order.index)

    moments: dict[str, InputMoments] = {}
    shapes: dict[str, list[int]] = {}
    conv1d: list[str] = []
    for name in modules:
        d_out, d_in, is_conv = module_shape(named[name])
        shapes[name] = [d_out, d_in]
        if is_conv:
            conv1d.append(name)
    for key in representatives:
        d_in = shapes[key][1]
        moments[key] = InputMoments(
            second_moment=torch.zeros(d_in, d_in, dtype=torch.float64, device=device),
            mean_masked_sum=torch.zeros(d_in, dtype=torch.float64, device=device),
            mean_all_sum=torch.zeros(d_in, dtype=torch.float64, device=device) if pooling == "all-positions" else None,
            # the release's means, beside the second moments the interference diagnostic reads
            mean_release_sum=torch.zeros(d_in, dtype=torch.float32, device=device) if pooling == RELEASE else None,
        )

    state: dict[str, object] = {}

    def reduce(key: str):
        acc = moments[key]
        decoder = uses_decoder_mask(key)

        def hook(_module, args):
            if acc.mean_release_sum is not None:
                # As the release: x.mean(dim=1).mean(dim=0) in the model's dtype, added to fp32.
                acc.mean_release_sum += args[0].mean(dim=1).mean(dim=0).float()
                acc.batches += 1
            h = args[0].float()
            mask = state["decoder_mask" if decoder else "mask"]
            real = mask.bool()
            x = h[real]                                   # (tokens, d): pad rows never enter S
            acc.second_moment += (x.T @ x).double()       # fp32 product per batch, fp64 running sum
            acc.tokens += int(x.shape[0])
            counts = mask.sum(1, keepdim=True).clamp_min(1).to(h.dtype)
            acc.mean_masked_sum += ((h * mask.unsqueeze(-1).to(h.dtype)).sum(1) / counts).sum(0).double()
            if acc.mean_all_sum is not None:
                acc.mean_all_sum += h.mean(1).sum(0).double()
            acc.samples += int(h.shape[0])
            if key == last_called:
                raise _StopForward
        return hook

    handles = [named[key].register_forward_pre_hook(reduce(key)) for key in representatives]
    samples = 0
    try:
        with torch.inference_mode():
            def run(batch):
                ids = batch["input_ids"].to(device)
                mask = batch["attention_mask"].to(device)
                state["mask"] = mask
                state["decoder_mask"] = shift_mask_right(mask)
                try:
                    model(input_ids=ids, attention_mask=mask)
                except _StopForward:
                    pass
                return int(ids.shape[0])

            count = 0
            for batch in _chain(first, iterator):
                samples += run(batch)
                count += 1
                if on_batch:
                    on_batch(count)
    finally:
        for h in handles:
            h.remove()
    return Moments(moments, module_input, samples, pooling, shapes, conv1d)


def _chain(first, rest):
    yield first
    yield from rest
