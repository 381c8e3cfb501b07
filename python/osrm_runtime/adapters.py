"""The task adapter folder, read and written in one place.

A task adapter is a standard PEFT LoRA folder (PEFT's saved format is the public contract):
    adapter_config.json          LoraConfig, task_type SEQ_CLS, the head in modules_to_save
    adapter_model.safetensors    `base_model.model.<module>.lora_A.weight` (r x d_in), `...lora_B.weight`
                                 (d_out x r), and the head's tensors under `base_model.model.<head>...`
    osrm_task.json               the task: name, num_labels, regression, label names, metric
plus, for osrm's own adapters, provenance files (osrm_adapter.json, ...). The LoraConfig of every
adapter osrm writes is built by `lora_config`; folders are written by `write_adapter`, atomically
(a temporary folder renamed into place), and read lazily by `AdapterFolder`.
"""

from __future__ import annotations

import copy
import json
import os
import re
from typing import Any, Optional

from .atomic import staged_folder

PREFIX = "base_model.model."
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
TASK_FILE = "osrm_task.json"


def lora_keys(module: str) -> tuple[str, str]:
    """The saved names of a module's A and B (module: its name in the sequence classifier)."""
    return f"{PREFIX}{module}.lora_A.weight", f"{PREFIX}{module}.lora_B.weight"


def lora_config(*, rank: int, alpha: float, dropout: float, target_modules: list[str],
                modules_to_save: Optional[list[str]] = None, fan_in_fan_out: bool = False):
    """PEFT's LoraConfig of every adapter osrm builds or writes: a sequence classifier's LoRA on
    the given modules, the head (when named) in modules_to_save."""
    from peft import LoraConfig

    return LoraConfig(task_type="SEQ_CLS", r=rank, lora_alpha=alpha, lora_dropout=dropout,
                      target_modules=list(target_modules), modules_to_save=modules_to_save or None,
                      fan_in_fan_out=fan_in_fan_out)


def _pattern_value(patterns: dict, module: str, default):
    """PEFT's per-module override (rank_pattern / alpha_pattern): a key matches a module name
    that ends with it."""
    for pattern, value in (patterns or {}).items():
        if re.match(rf"(.*\.)?({pattern})$", module):
            return value
    return default


class AdapterFolder:
    """A PEFT LoRA adapter folder, its tensors read on demand."""

    def __init__(self, path: str, field: str = "adapter"):
        from safetensors import safe_open

        config_path, weights_path = os.path.join(path or "", CONFIG_FILE), os.path.join(path or "", WEIGHTS_FILE)
        if not path or not os.path.isfile(config_path) or not os.path.isfile(weights_path):
            raise ValueError(f"{field}: {path!r} is not a PEFT adapter folder ({CONFIG_FILE} and {WEIGHTS_FILE} "
                             f"expected)")
        self.path = path
        self.field = field
        with open(config_path, encoding="utf-8") as f:
            self.config: dict = json.load(f)
        if str(self.config.get("peft_type", "LORA")).upper() != "LORA":
            raise ValueError(f"{field}: {path} is a {self.config.get('peft_type')} adapter, not LoRA")
        self._file = safe_open(weights_path, framework="pt", device="cpu")
        self.keys: list[str] = list(self._file.keys())
        self.modules: list[str] = sorted({k[len(PREFIX):-len(".lora_A.weight")] for k in self.keys
                                          if k.startswith(PREFIX) and k.endswith(".lora_A.weight")})
        if not self.modules:
            raise ValueError(f"{field}: {path} holds no lora_A weights")
        task_path = os.path.join(path, TASK_FILE)
        self.task_info: Optional[dict] = None
        if os.path.isfile(task_path):
            with open(task_path, encoding="utf-8") as f:
                self.task_info = json.load(f)

    @property
    def base_model(self) -> Optional[str]:
        return self.config.get("base_model_name_or_path")

    def tensor(self, key: str):
        return self._file.get_tensor(key)

    def rank(self, module: str) -> int:
        return int(self._file.get_slice(lora_keys(module)[0]).get_shape()[0])

    def scaling(self, module: str) -> float:
        """PEFT's s for this module: alpha / r, or alpha / sqrt(r) with rsLoRA; per-module alpha
        from alpha_pattern."""
        r = self.rank(module)
        alpha = _pattern_value(self.config.get("alpha_pattern"), module, self.config.get("lora_alpha", r))
        return alpha / (r ** 0.5) if self.config.get("use_rslora") else alpha / r

    def factors(self, module: str):
        """(A, B) as saved: A is r x d_in, B is d_out x r (nn.Linear layout)."""
        a, b = lora_keys(module)
        return self._file.get_tensor(a), self._file.get_tensor(b)

    def lora_tensors(self) -> dict:
        return {k: self._file.get_tensor(k) for k in self.keys if ".lora_A." in k or ".lora_B." in k}

    def head_keys(self) -> list[str]:
        return [k for k in self.keys if k.startswith(PREFIX) and ".lora_" not in k]

    def head(self) -> dict:
        """Everything that is not a LoRA factor: the task's head (modules_to_save), by its name in
        the classifier (e.g. classifier.out_proj.weight)."""
        return {k[len(PREFIX):]: self._file.get_tensor(k) for k in self.head_keys()}


def write_adapter(out: str, factors: dict, config, *, base_model: Optional[str] = None, head: Optional[dict] = None,
                  tensors: Optional[dict] = None, task_info: Optional[dict] = None,
                  files: Optional[dict[str, Any]] = None) -> str:
    """Writes a PEFT adapter folder atomically (atomic.staged_folder): a reader sees the old
    adapter or the complete new one; other files in an existing `out` stay.

    factors: module -> (A, B); head: head tensors by classifier name (saved under the prefix);
    tensors: already-saved-form tensors (a PEFT state dict); files: more JSON files by name."""
    import torch
    from safetensors.torch import save_file

    saved: dict = {}
    for module, (a, b) in factors.items():
        key_a, key_b = lora_keys(module)
        saved[key_a] = a.to(torch.float32).cpu().contiguous()
        saved[key_b] = b.to(torch.float32).cpu().contiguous()
    for key, value in (head or {}).items():
        saved[PREFIX + key] = value.detach().cpu().contiguous()
    for key, value in (tensors or {}).items():
        saved[key] = value.detach().cpu().contiguous()
    config = copy.deepcopy(config)  # the live model's config stays as it is
    if base_model is not None:
        config.base_model_name_or_path = base_model
    config.inference_mode = True

    with staged_folder(out) as staging:
        config.save_pretrained(staging)
        save_file(saved, os.path.join(staging, WEIGHTS_FILE), metadata={"format": "pt"})
        if task_info is not None:
            _write_json(os.path.join(staging, TASK_FILE), task_info)
        for name, value in (files or {}).items():
            _write_json(os.path.join(staging, name), value)
    return out


def _write_json(path: str, value: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True)
