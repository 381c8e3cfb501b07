"""Per-task statistics that data-driven merges need, computed on each task's own fine-tuned model
over n training examples and written to safetensors (one file per task), so the merge can stream
them tensor by tensor instead of holding every task's statistics at once.

- fisher: diagonal Fisher of the log-likelihood of the model's own predictive distribution,
  E_x sum_y p(y|x) (d log p(y|x) / d theta)^2 (exact over the classes, per example); for
  regression (unit-variance Gaussian) it is (d f(x) / d theta)^2.
- gram: per linear layer, X^T X / n over the attention-masked tokens of its input.
"""

from __future__ import annotations

from ..data.batches import encode, iterate_batches
from ..models import device, load_tokenizer


def fisher(model, encoded, pad_id: int, keys: list[str], params: dict, ctx=None, task: str = "") -> dict:
    import torch

    chosen = [params[k] for k in keys]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in chosen:
        p.requires_grad_(True)
    total = [torch.zeros_like(p, dtype=torch.float32) for p in chosen]
    dev = device()
    n = len(encoded)
    for i, batch in enumerate(iterate_batches(encoded, 1, pad_id)):
        logits = model(input_ids=batch["input_ids"].to(dev), attention_mask=batch["attention_mask"].to(dev)).logits[0]
        if logits.numel() == 1:
            grads = torch.autograd.grad(logits[0], chosen)
            for acc, g in zip(total, grads):
                acc += g.float() ** 2
        else:
            log_probs = torch.log_softmax(logits.float(), dim=-1)
            probs = log_probs.exp().detach()
            for y in range(len(probs)):
                grads = torch.autograd.grad(log_probs[y], chosen, retain_graph=y + 1 < len(probs))
                for acc, g in zip(total, grads):
                    acc += probs[y] * g.float() ** 2
        if ctx is not None:
            ctx.progress(f"fisher {task}", current=i + 1, total=n, unit="examples")
    for p in chosen:
        p.requires_grad_(False)
    return {k: (acc / n).cpu() for k, acc in zip(keys, total)}


def grams(model, encoded, pad_id: int, keys: list[str], modules: dict, batch_size: int, ctx=None,
          task: str = "") -> dict:
    import torch

    sums = {k: None for k in keys}
    counts = {k: 0 for k in keys}
    current: dict = {}

    def hook_for(key):
        def hook(module, args):
            x = args[0]
            mask = current["mask"].to(x.device).bool()
            rows = x[mask].float() if x.dim() == 3 else x.reshape(-1, x.shape[-1]).float()
            gram = rows.T @ rows
            sums[key] = gram if sums[key] is None else sums[key] + gram
            counts[key] += rows.shape[0]
        return hook

    handles = [modules[k].register_forward_pre_hook(hook_for(k)) for k in keys]
    dev = device()
    try:
        with torch.inference_mode():
            done = 0
            for batch in iterate_batches(encoded, batch_size, pad_id):
                current["mask"] = batch["attention_mask"]
                model(input_ids=batch["input_ids"].to(dev), attention_mask=batch["attention_mask"].to(dev))
                done += len(batch["input_ids"])
                if ctx is not None:
                    ctx.progress(f"gram {task}", current=done, total=len(encoded), unit="examples")
    finally:
        for h in handles:
            h.remove()
    return {k: (sums[k] / max(counts[k], 1)).cpu() for k in keys if sums[k] is not None}


def task_statistics(kind: str, model, spec, model_spec, examples, keys: list[str], backbone,
                    batch_size: int, ctx=None) -> dict:
    """`kind` statistics of one task model for the backbone tensors `keys` (backbone names)."""
    from .taskmodels import backbone_of

    tokenizer = load_tokenizer(model_spec)
    encoded = encode(tokenizer, examples, spec.max_length)
    body = backbone_of(model)
    if kind == "fisher":
        return fisher(model, encoded, tokenizer.pad_token_id, keys, dict(body.named_parameters()), ctx, spec.name)
    if kind == "gram":
        linear = [k for k in keys if k in backbone.linear]
        modules = {k: body.get_submodule(k[:-len(".weight")]) for k in linear}
        return grams(model, encoded, tokenizer.pad_token_id, linear, modules, batch_size, ctx, spec.name)
    raise ValueError(f"unknown statistics '{kind}'")
