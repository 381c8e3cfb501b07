"""The trainable model: a sequence classifier with LoRA on the configured blocks and its head
trained, initialised either as PEFT does (Gaussian/Kaiming A, B = 0) or from an OSRM adapter.

The OSRM path builds exactly the same PEFT model as the Gaussian one and then overwrites the
LoRA factors with those of `<adapter>/adapter_model.safetensors`, so both inits share every other
detail (target modules, scaling, dropout, head) and differ only in the starting A and B.
"""

from __future__ import annotations

import os

from ..adapters import AdapterFolder, lora_config
from ..contract.payloads import LoraSetting
from ..models import adapted_module_names

# Names transformers gives the classification head, per architecture family.
HEAD_NAMES = ("classifier", "score", "classification_head")


def head_module_name(model) -> str:
    children = dict(model.named_children())
    for name in HEAD_NAMES:
        if name in children:
            return name
    raise ValueError(f"cannot find the classification head of {type(model).__name__} "
                     f"(looked for {HEAD_NAMES}; top-level modules: {sorted(children)})")


def build_lora_model(base, family: str, lora: LoraSetting, init):
    from peft import get_peft_model

    targets = adapted_module_names(base, family, list(lora.blocks))
    config = lora_config(rank=lora.rank, alpha=lora.alpha, dropout=lora.dropout, target_modules=targets,
                         modules_to_save=[head_module_name(base)])
    model = get_peft_model(base, config)
    if init.kind == "osrm":
        load_lora_factors(model, init.adapter)
    freeze_factor(model, lora.freeze)
    return model


def load_lora_factors(model, adapter_dir: str) -> int:
    """Copies every lora_A/lora_B tensor of a saved PEFT adapter into the model; returns how many.

    Keys are matched as PEFT saves them (`...<module>.lora_A.weight`, adapter name stripped). The
    adapter must cover exactly the model's LoRA modules with the same shapes: a partial init would
    silently mix OSRM and Gaussian factors.
    """
    import torch
    from peft import get_peft_model_state_dict

    saved = AdapterFolder(adapter_dir, "init.adapter").lora_tensors()
    expected = {k: v for k, v in get_peft_model_state_dict(model).items() if ".lora_A." in k or ".lora_B." in k}
    missing = sorted(set(expected) - set(saved))
    extra = sorted(set(saved) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} LoRA tensor(s) of this model are not in it (first: {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} of its tensors match no LoRA module of this model (first: {extra[0]})")
        raise ValueError(f"init.adapter {adapter_dir} does not fit lora.blocks/model: " + "; ".join(parts))
    for key, tensor in saved.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise ValueError(f"init.adapter {adapter_dir}: {key} has shape {tuple(tensor.shape)}, the model "
                             f"expects {tuple(expected[key].shape)} (is lora.rank the same as the adapter's?)")
    # Map the saved keys to live parameters: PEFT inserts the adapter name before `.weight`.
    params = dict(model.named_parameters())
    with torch.no_grad():
        for key, tensor in saved.items():
            live = key[: -len(".weight")] + ".default.weight"
            if live not in params:
                raise ValueError(f"init.adapter: no parameter {live} for {key}")
            params[live].copy_(tensor.to(params[live].dtype))
    return len(saved)


def freeze_factor(model, freeze: str) -> None:
    """`freeze: A` keeps the (e.g. OSRM) subspace fixed and trains only B; `B` the reverse."""
    if freeze == "none":
        return
    marker = f".lora_{freeze}."
    for name, param in model.named_parameters():
        if marker in name:
            param.requires_grad_(False)


def trainable_parameters(model) -> list:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]
