"""Task models as transformers sequence classifiers: an input's own (individually fine-tuned)
model, and a head placed on a backbone. Shared by statistics, evaluation and materialisation."""

from __future__ import annotations

from ..models import ModelSpec, load_classifier


def backbone_of(model):
    return getattr(model, model.base_model_prefix)


def add_to_backbone(model, deltas: dict, conv1d=frozenset(), scale: float = 1.0) -> None:
    """theta += scale * delta for backbone tensors given in the nn.Linear layout when conv1d."""
    import torch

    params = dict(backbone_of(model).named_parameters())
    with torch.no_grad():
        for key, delta in deltas.items():
            if key not in params:
                raise ValueError(f"the base model has no parameter '{key}'")
            delta = delta.T if key in conv1d else delta
            params[key].add_(delta.to(params[key]), alpha=scale)


def set_head(model, head: dict, where: str) -> None:
    import torch

    state = model.state_dict()
    for name, tensor in head.items():
        if name not in state:
            raise ValueError(f"{where}: head tensor '{name}' does not exist in the base classifier")
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise ValueError(f"{where}: head tensor '{name}' has shape {tuple(tensor.shape)}, the classifier "
                             f"expects {tuple(state[name].shape)} (num_labels mismatch?)")
    with torch.no_grad():
        model.load_state_dict({k: v for k, v in head.items()}, strict=False)


def classifier_for(spec: ModelSpec, info: dict):
    return load_classifier(spec, int(info["num_labels"]), bool(info.get("regression")))


def individual_model(spec: ModelSpec, item, backbone):
    """The task's own fine-tuned model: base + its full LoRA update + its head, or its folder."""
    from .. import models

    if item.source.kind == "full":
        from transformers import AutoModelForSequenceClassification

        # Through models.from_pretrained: the folder is checked and read as safetensors only.
        model = models.from_pretrained(AutoModelForSequenceClassification, models.model_spec(item.path),
                                       f"task '{item.name}' model", dtype=models.torch_dtype(spec))
    else:
        model = classifier_for(spec, item.source.info)
        deltas = {key: item.source.delta(key) for key in item.source.merge_keys()}
        add_to_backbone(model, deltas, backbone.conv1d)
        set_head(model, item.source.head(), item.label)
    return model.to(models.device()).eval()
