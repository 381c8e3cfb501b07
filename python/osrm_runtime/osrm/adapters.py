"""Reading and writing PEFT LoRA folders without building a PEFT model: the saved key names
(`base_model.model.<module>.lora_A.weight`, `...lora_B.weight`, head weights under
`base_model.model.<head>.<param>`) and adapter_config.json are PEFT's public format."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

PREFIX = "base_model.model."
CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"


def lora_keys(module: str) -> tuple[str, str]:
    return f"{PREFIX}{module}.lora_A.weight", f"{PREFIX}{module}.lora_B.weight"


@dataclass
class Adapter:
    path: str
    config: dict
    tensors: dict
    modules: list[str] = field(default_factory=list)

    @property
    def scaling(self) -> float:
        """PEFT's s: alpha / r, or alpha / sqrt(r) with rsLoRA."""
        r = self.config["r"]
        alpha = self.config.get("lora_alpha", r)
        return alpha / (r ** 0.5) if self.config.get("use_rslora") else alpha / r

    def factors(self, module: str):
        a, b = lora_keys(module)
        return self.tensors[a], self.tensors[b]

    def delta(self, module: str):
        """dW = s B A, in linear orientation (d_out x d_in), fp64."""
        a, b = self.factors(module)
        return self.scaling * (b.double() @ a.double())

    def head(self) -> dict:
        """Everything that is not a LoRA factor: the task's head (modules_to_save), by PEFT's saved
        name without the prefix (e.g. classifier.out_proj.weight)."""
        return {k[len(PREFIX):]: v for k, v in self.tensors.items()
                if k.startswith(PREFIX) and ".lora_" not in k}


def read_adapter(path: str, field_name: str = "adapter") -> Adapter:
    from safetensors.torch import load_file

    config_path, weights_path = os.path.join(path or "", CONFIG), os.path.join(path or "", WEIGHTS)
    if not path or not os.path.isfile(config_path) or not os.path.isfile(weights_path):
        raise ValueError(f"{field_name}: {path!r} is not a PEFT adapter folder ({CONFIG} and {WEIGHTS} expected)")
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    if str(config.get("peft_type", "LORA")).upper() != "LORA":
        raise ValueError(f"{field_name}: {path} is a {config.get('peft_type')} adapter, not LoRA")
    tensors = load_file(weights_path)
    modules = sorted({k[len(PREFIX):-len(".lora_A.weight")] for k in tensors if k.endswith(".lora_A.weight")})
    if not modules:
        raise ValueError(f"{field_name}: {path} holds no lora_A weights")
    return Adapter(path, config, tensors, modules)


def write_lora_folder(out: str, factors: dict, config, extra: dict | None = None,
                      info: dict | None = None) -> str:
    """factors: module -> (A (r x d_in), B (d_out x r)); extra: more saved tensors by key
    without the prefix (a head); info: a JSON provenance file written beside the adapter."""
    import torch
    from safetensors.torch import save_file

    os.makedirs(out, exist_ok=True)
    tensors = {}
    for module, (a, b) in factors.items():
        key_a, key_b = lora_keys(module)
        tensors[key_a] = a.to(torch.float32).cpu().contiguous()
        tensors[key_b] = b.to(torch.float32).cpu().contiguous()
    for key, value in (extra or {}).items():
        tensors[PREFIX + key] = value.cpu().contiguous()
    config.save_pretrained(out)
    save_file(tensors, os.path.join(out, WEIGHTS), metadata={"format": "pt"})
    if info is not None:
        with open(os.path.join(out, "osrm_adapter.json"), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2, sort_keys=True)
    return out
