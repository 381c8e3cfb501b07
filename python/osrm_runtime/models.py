"""Backbones: loading a pretrained model as a sequence classifier, its family, and the names of
the linear modules that LoRA adapts for each family-neutral block name (q, k, v, o, mlp).

Every op that touches a model goes through here, so the mapping from the config's `blocks` to
module names lives in exactly one place.
"""

from __future__ import annotations

import os
from typing import Any

from .contract.payloads import ModelSpec

# family -> block -> module name suffixes (as peft's target_modules matches them)
BLOCK_MODULES: dict[str, dict[str, list[str]]] = {
    "roberta": {"q": ["query"], "k": ["key"], "v": ["value"], "o": ["attention.output.dense"],
                "mlp": ["intermediate.dense", "output.dense"]},
    "bert": {"q": ["query"], "k": ["key"], "v": ["value"], "o": ["attention.output.dense"],
             "mlp": ["intermediate.dense", "output.dense"]},
    "t5": {"q": ["q"], "k": ["k"], "v": ["v"], "o": ["o"], "mlp": ["wi", "wo", "wi_0", "wi_1"]},
    "llama": {"q": ["q_proj"], "k": ["k_proj"], "v": ["v_proj"], "o": ["o_proj"],
              "mlp": ["gate_proj", "up_proj", "down_proj"]},
    "mistral": {"q": ["q_proj"], "k": ["k_proj"], "v": ["v_proj"], "o": ["o_proj"],
                "mlp": ["gate_proj", "up_proj", "down_proj"]},
    "gpt2": {"q": ["c_attn"], "k": ["c_attn"], "v": ["c_attn"], "o": ["attn.c_proj"],
             "mlp": ["c_fc", "mlp.c_proj"]},
}

# transformers model_type -> family
MODEL_TYPE_FAMILY = {
    "roberta": "roberta", "xlm-roberta": "roberta", "camembert": "roberta",
    "bert": "bert", "distilbert": "bert", "electra": "bert",
    "t5": "t5", "mt5": "t5",
    "llama": "llama", "qwen2": "llama", "qwen3": "llama", "gemma": "llama", "gemma2": "llama",
    "mistral": "mistral", "mixtral": "mistral",
    "gpt2": "gpt2",
}

DECODER_FAMILIES = {"llama", "mistral", "gpt2"}


def model_spec(name_or_path: str, **fields: Any) -> ModelSpec:
    """A ModelSpec for a folder or hub id, the schema's defaults for the rest (for specs that do
    not come from a payload: a merge manifest's base, a test's tiny model)."""
    from .contract import parse_piece

    return parse_piece(ModelSpec, {"name_or_path": name_or_path, **fields})


def hub_revision(spec: ModelSpec) -> dict:
    """`revision=` for from_pretrained when the spec pins one (a hub model's branch, tag or commit)."""
    return {"revision": spec.revision} if getattr(spec, "revision", None) else {}


def device() -> "Any":
    import torch

    if os.environ.get("OSRM_DEVICE"):
        return torch.device(os.environ["OSRM_DEVICE"])
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def torch_dtype(spec: ModelSpec):
    import torch

    if spec.dtype == "bfloat16":
        return torch.bfloat16
    if spec.dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    return torch.float32


def _quiet_transformers() -> None:
    """transformers' load reports and "Loading weights" bars would interleave with our own
    progress display; the CLI shows progress itself."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_config(spec: ModelSpec):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(spec.name_or_path, **hub_revision(spec))
    except OSError as exc:
        raise ValueError(f"model.name_or_path '{spec.name_or_path}' is neither a model folder nor a "
                         f"reachable hub id: {exc}") from None


def family_of(spec: ModelSpec, config=None) -> str:
    if spec.family:
        return spec.family
    config = config or load_config(spec)
    family = MODEL_TYPE_FAMILY.get(config.model_type)
    if family is None:
        raise ValueError(f"cannot tell the family of model_type '{config.model_type}'; set model.family "
                         f"to one of {sorted(BLOCK_MODULES)}")
    return family


def target_module_suffixes(family: str, blocks: list[str]) -> list[str]:
    table = BLOCK_MODULES[family]
    unknown = [b for b in blocks if b not in table]
    if unknown:
        raise ValueError(f"lora.blocks {unknown} unknown; expected some of {sorted(table)}")
    out: list[str] = []
    for block in blocks:
        for name in table[block]:
            if name not in out:
                out.append(name)
    return out


def linear_module_names(model) -> list[str]:
    import torch

    names = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D":
            names.append(name)
    return names


def adapted_module_names(model, family: str, blocks: list[str]) -> list[str]:
    """Full names of the modules LoRA adapts, in model order; a clear error when none match."""
    suffixes = target_module_suffixes(family, blocks)
    linear = linear_module_names(model)
    chosen = [n for n in linear if any(n == s or n.endswith("." + s) for s in suffixes)
              and not n.split(".")[0] in ("classifier", "score", "lm_head")]
    if not chosen:
        sample = ", ".join(linear[:12])
        raise ValueError(f"lora.blocks {blocks} ({suffixes}) match no linear module of this {family} model; "
                         f"its linear modules include: {sample}")
    return chosen


def load_tokenizer(spec: ModelSpec):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec.name_or_path, **hub_revision(spec))
    if tokenizer.pad_token is None:
        # Decoder backbones classify from the last non-pad token with pad = eos (the paper's setup).
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_classifier(spec: ModelSpec, num_labels: int, regression: bool = False):
    """The pretrained backbone as a sequence classifier with a freshly initialised head."""
    import contextlib
    import io

    from transformers import AutoModelForSequenceClassification

    config = load_config(spec)
    _quiet_transformers()
    kwargs: dict[str, Any] = {"num_labels": num_labels, "dtype": torch_dtype(spec), **hub_revision(spec)}
    if regression:
        kwargs["problem_type"] = "regression"
    # transformers prints a load report (unexpected lm_head.*, missing classifier.*) that is
    # expected when a head is added; keep it out of the user's output.
    with contextlib.redirect_stdout(io.StringIO()):
        model = AutoModelForSequenceClassification.from_pretrained(spec.name_or_path, **kwargs)
    if model.config.pad_token_id is None:
        tokenizer_pad = getattr(config, "eos_token_id", None)
        if isinstance(tokenizer_pad, list):
            tokenizer_pad = tokenizer_pad[0]
        model.config.pad_token_id = tokenizer_pad
    return model


def load_encoder(spec: ModelSpec):
    """The pretrained backbone without a task head, for statistics of layer inputs."""
    import contextlib
    import io

    from transformers import AutoModel

    _quiet_transformers()
    family = family_of(spec)
    with contextlib.redirect_stdout(io.StringIO()):
        if family == "t5":
            from transformers import T5EncoderModel

            return T5EncoderModel.from_pretrained(spec.name_or_path, dtype=torch_dtype(spec), **hub_revision(spec))
        return AutoModel.from_pretrained(spec.name_or_path, dtype=torch_dtype(spec), **hub_revision(spec))
