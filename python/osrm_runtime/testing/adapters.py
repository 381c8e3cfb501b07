"""Random LoRA task adapters for tests (until adapters come from the `train` op): a real PEFT
SEQ_CLS folder with non-zero B, a random head and osrm_task.json. Exposed as `make_test_adapter`."""

from __future__ import annotations

import json
import os


def make_adapter(base: str, out: str, task: str, num_labels: int = 2, rank: int = 4, alpha: int = 8,
                 target_modules=("query", "value"), seed: int = 0, b_scale: float = 0.05,
                 metric: str = "accuracy", labels=None) -> str:
    import torch
    from peft import LoraConfig, get_peft_model

    from ..models import ModelSpec, load_classifier

    torch.manual_seed(seed)
    model = load_classifier(ModelSpec(base), num_labels, regression=num_labels == 1)
    config = LoraConfig(task_type="SEQ_CLS", r=rank, lora_alpha=alpha, lora_dropout=0.0,
                        target_modules=list(target_modules))
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, b_scale)  # B = 0 at init: a trained adapter has moved it
            elif "modules_to_save" in name and "weight" in name:
                param.normal_(0.0, 0.3)
    peft_model.save_pretrained(out)
    with open(os.path.join(out, "osrm_task.json"), "w", encoding="utf-8") as f:
        json.dump({"task": task, "num_labels": num_labels, "regression": num_labels == 1,
                   "labels": list(labels) if labels is not None else [str(i) for i in range(num_labels)]
                   if num_labels > 1 else [], "metric": metric}, f, indent=2)
    return out


def make_test_adapter(payload: dict, ctx) -> dict:
    """Op: {model, out, task, num_labels?, rank?, alpha?, target_modules?, seed?} -> {adapter}."""
    return {"adapter": make_adapter(payload["model"], payload["out"], payload["task"],
                                    int(payload.get("num_labels", 2)), int(payload.get("rank", 4)),
                                    int(payload.get("alpha", 8)), tuple(payload.get("target_modules", ("query", "value"))),
                                    int(payload.get("seed", 0)), float(payload.get("b_scale", 0.05)),
                                    payload.get("metric", "accuracy"))}
