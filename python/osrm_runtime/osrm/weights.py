"""Dense weights of the base model's adapted modules, in linear orientation (d_out x d_in), and
a fine-tuned model's task head: what transform and diagnose compare adapters against."""

from __future__ import annotations

HEAD_MODULES = ("classifier", "score", "classification_head")


def base_weights(model, modules: list[str], field: str = "model") -> dict:
    """module -> W0 (fp64, CPU); GPT-2's Conv1D stores W transposed."""
    named = dict(model.named_modules())
    missing = [m for m in modules if m not in named]
    if missing:
        from ..models import linear_module_names

        raise ValueError(f"{field}: the base model has no module {missing[0]!r} (its linear modules include: "
                         f"{', '.join(linear_module_names(model)[:12])})")
    out = {}
    for m in modules:
        w = named[m].weight.detach().double().cpu()
        out[m] = w.T if type(named[m]).__name__ == "Conv1D" else w
    return out


def head_state(model) -> dict:
    """The task head's parameters by their names in the model (e.g. classifier.out_proj.weight)."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items() if k.split(".")[0] in HEAD_MODULES}


def num_labels_of_head(head: dict) -> int | None:
    """The head's output size: rows of its final projection."""
    for suffix in ("out_proj.weight", "score.weight", "classifier.weight"):
        for key, value in head.items():
            if (key == suffix or key.endswith("." + suffix) or key.endswith(suffix)) and value.dim() == 2:
                return int(value.shape[0])
    return None
