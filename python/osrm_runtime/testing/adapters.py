"""Random LoRA task adapters for tests: a real PEFT SEQ_CLS folder with non-zero B, a random
head and osrm_task.json, written like every adapter osrm writes. Exposed as `make_test_adapter`."""

from __future__ import annotations


def make_adapter(base: str, out: str, task: str, num_labels: int = 2, rank: int = 4, alpha: float = 8,
                 target_modules=("query", "value"), seed: int = 0, b_scale: float = 0.05,
                 metric: str = "accuracy", labels=None) -> str:
    import torch
    from peft import get_peft_model, get_peft_model_state_dict

    from ..adapters import lora_config, write_adapter
    from ..models import load_classifier, model_spec

    torch.manual_seed(seed)
    model = load_classifier(model_spec(base), num_labels, regression=num_labels == 1)
    config = lora_config(rank=rank, alpha=alpha, dropout=0.0, target_modules=list(target_modules))
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, b_scale)  # B = 0 at init: a trained adapter has moved it
            elif "modules_to_save" in name and "weight" in name:
                param.normal_(0.0, 0.3)
    names = list(labels) if labels is not None else [str(i) for i in range(num_labels)] if num_labels > 1 else []
    task_info = {"task": task, "num_labels": num_labels, "regression": num_labels == 1, "labels": names, "metric": metric}
    write_adapter(out, {}, peft_model.peft_config["default"], base_model=base,
                  tensors=get_peft_model_state_dict(peft_model), task_info=task_info)
    return out


def make_test_adapter(payload, ctx) -> dict:
    """Op: a random SEQ_CLS adapter of `model` for `task` in `out`."""
    return {"adapter": make_adapter(payload.model, payload.out, payload.task, payload.num_labels, payload.rank,
                                    payload.alpha, tuple(payload.target_modules), payload.seed, payload.b_scale,
                                    payload.metric)}
