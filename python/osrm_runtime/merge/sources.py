"""Reading the inputs of a merge lazily, tensor by tensor: PEFT LoRA adapters (factors + head)
and fully fine-tuned model folders (safetensors, possibly sharded), against the base backbone.

Names: every merged tensor is called by its *backbone* name (the base model's state-dict name
without the sequence classifier's prefix, e.g. `encoder.layer.0.attention.self.query.weight`);
heads keep their sequence-classifier names (`classifier.out_proj.weight`, `score.weight`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Optional

from ..adapters import PREFIX as PEFT_PREFIX
from ..adapters import TASK_FILE, AdapterFolder
from ..errors import InputError, unreadable_safetensors
from ..models import SAFETENSORS_FILE, SAFETENSORS_INDEX, weight_files


@dataclass
class Backbone:
    """The base model's backbone, known from its config alone (built on the meta device)."""

    prefix: str                      # the sequence classifier's base_model_prefix ("roberta", "model", ...)
    shapes: dict                     # backbone name -> shape
    conv1d: frozenset                # weights stored (d_in x d_out): GPT-2's Conv1D
    linear: frozenset                # weights of linear layers (RegMean's Grams apply to these)
    floating: frozenset              # float tensors: the only ones task vectors are taken of

    @staticmethod
    def of(config) -> "Backbone":
        import contextlib
        import io

        import torch
        from transformers import AutoModelForSequenceClassification

        with torch.device("meta"), contextlib.redirect_stdout(io.StringIO()):
            model = AutoModelForSequenceClassification.from_config(config)
        prefix = model.base_model_prefix
        backbone = getattr(model, prefix)
        state = backbone.state_dict()
        shapes = {n: tuple(t.shape) for n, t in state.items()}
        floating = frozenset(n for n, t in state.items() if t.is_floating_point())
        conv1d, linear = set(), set()
        for name, module in backbone.named_modules():
            kind = type(module).__name__
            if kind == "Conv1D":
                conv1d.add(f"{name}.weight")
            if kind == "Conv1D" or isinstance(module, torch.nn.Linear):
                linear.add(f"{name}.weight")
        return Backbone(prefix, shapes, frozenset(conv1d), frozenset(linear & set(shapes)), floating)

    def backbone_name(self, classifier_name: str) -> Optional[str]:
        """`roberta.encoder...` -> `encoder...`; None for a head tensor."""
        if classifier_name.startswith(self.prefix + "."):
            return classifier_name[len(self.prefix) + 1:]
        return None


def read_task_info(path: str, head: dict) -> dict:
    """osrm_task.json, or what the head tells when it is absent (a model saved by other tools)."""
    file = os.path.join(path, TASK_FILE)
    if os.path.isfile(file):
        with open(file, encoding="utf-8") as f:
            return json.load(f)
    return task_info_from_head(path, head)


def task_info_from_head(path: str, head: dict) -> dict:
    weights = [t for n, t in head.items() if n.endswith("weight")]
    num_labels = int(min(w.shape[0] for w in weights)) if weights else 0
    return {"task": os.path.basename(os.path.normpath(path)), "num_labels": num_labels,
            "regression": num_labels == 1, "labels": [], "metric": None}


class WeightFiles:
    """Lazy access to the tensors of a folder's safetensors (single file or sharded index)."""

    def __init__(self, folder: str, what: str):
        from safetensors import safe_open

        # The folder check every model load passes: safetensors only, pickles refused unopened.
        files = weight_files(folder, what, what)
        self._handles = {}
        for name in files:
            file = os.path.join(folder, name)
            try:
                self._handles[name] = safe_open(file, framework="pt", device="cpu")
            except Exception as exc:  # noqa: BLE001 - SafetensorError has no importable base class
                raise unreadable_safetensors(what, file, exc, "save the model again") from None
        if len(files) == 1 and files[0] == SAFETENSORS_FILE:
            self.weight_map = {k: SAFETENSORS_FILE for k in self._handles[SAFETENSORS_FILE].keys()}
        else:
            with open(os.path.join(folder, SAFETENSORS_INDEX), encoding="utf-8") as f:
                self.weight_map = json.load(f)["weight_map"]  # parsed once already by weight_files
            for key, name in self.weight_map.items():
                if key not in self._handles[name].keys():
                    raise InputError(f"{what}: {os.path.join(folder, SAFETENSORS_INDEX)} places tensor '{key}' in "
                                     f"{name}, which does not hold it; the shards and the index do not match")
        self.shapes = {k: tuple(self._handles[n].get_slice(k).get_shape()) for k, n in self.weight_map.items()}

    def keys(self) -> list[str]:
        return list(self.weight_map)

    def get(self, key: str):
        return self._handles[self.weight_map[key]].get_tensor(key)


class TensorIndex:
    """A folder's tensors addressed by backbone name, whatever prefix the file used."""

    def __init__(self, folder: str, backbone: Backbone, what: str):
        self.files = WeightFiles(folder, what)
        self.backbone_keys: dict[str, str] = {}
        self.head_keys: list[str] = []
        for key in self.files.keys():
            inner = backbone.backbone_name(key)
            if inner is not None and inner in backbone.shapes:
                self.backbone_keys[inner] = key
            elif inner is None and key in backbone.shapes:
                self.backbone_keys[key] = key  # a bare backbone saved without the prefix
            elif inner is None:
                self.head_keys.append(key)
        for inner, key in self.backbone_keys.items():
            if self.files.shapes[key] != tuple(backbone.shapes[inner]):
                raise InputError(f"{what} {folder}: tensor '{key}' has shape {list(self.files.shapes[key])}, the "
                                 f"base model's has {list(backbone.shapes[inner])}; it is not a fine-tune of this base")

    def tensor(self, name: str):
        return self.files.get(self.backbone_keys[name])


class AdapterSource:
    """A PEFT LoRA adapter: per adapted module (by backbone weight name) its factors and
    scaling, and the task's head."""

    kind = "lora"

    def __init__(self, path: str, backbone: Backbone):
        folder = AdapterFolder(path, "adapter")
        if folder.config.get("use_dora"):
            raise ValueError(f"adapter {path} uses DoRA, whose magnitude vector these merges do not model")
        self.path = path
        self.folder = folder
        self.config = folder.config
        self.base = folder.base_model
        # backbone weight name ("encoder.layer.0.attention.self.query.weight") -> classifier module name
        self.modules: dict[str, str] = {}
        for module in folder.modules:
            inner = backbone.backbone_name(module) or module
            self.modules[f"{inner}.weight"] = module
        self.ranks: dict[str, int] = {weight: folder.rank(module) for weight, module in self.modules.items()}
        self.head_names = [k[len(PEFT_PREFIX):] for k in folder.head_keys()
                           if backbone.backbone_name(k[len(PEFT_PREFIX):]) is None]
        self.info = folder.task_info or task_info_from_head(path, self.head())

    def head(self) -> dict:
        return {n: self.folder.tensor(PEFT_PREFIX + n) for n in self.head_names}

    def factors(self, key: str):
        """(B * scale, A) in the nn.Linear layout: dW = B @ A (d_out x d_in)."""
        module = self.modules[key]
        a, b = self.folder.factors(module)
        return b.float() * self.folder.scaling(module), a.float()

    def delta(self, key: str, base=None):
        b, a = self.factors(key)
        return b @ a

    def factor_shapes(self, key: str) -> tuple[tuple, tuple]:
        """(A's shape, B's shape) as saved, from the header: r x d_in and d_out x r."""
        from ..adapters import lora_keys

        key_a, key_b = lora_keys(self.modules[key])
        return self.folder.shape(key_a), self.folder.shape(key_b)

    def merge_keys(self) -> list[str]:
        return list(self.modules)


class FullModelSource:
    """A fully fine-tuned sequence classifier folder: task vector = its weights - the base's."""

    kind = "full"

    def __init__(self, path: str, backbone: Backbone):
        if not os.path.isdir(path):
            raise InputError(f"{path} is not a folder (a PEFT adapter or a fine-tuned model folder expected)")
        self.path = path
        self.index = TensorIndex(path, backbone, "fine-tuned model")
        self.floating = backbone.floating
        self.head_names = list(self.index.head_keys)
        self.base = None
        self.ranks: dict[str, int] = {}
        self.info = read_task_info(path, {n: self.index.files.get(n) for n in self.head_names})

    def head(self) -> dict:
        return {n: self.index.files.get(n) for n in self.head_names}

    def delta(self, key: str, base):
        return self.index.tensor(key).float() - base.tensor(key).float()

    def merge_keys(self) -> list[str]:
        return [k for k in self.index.backbone_keys if k in self.floating]


def open_source(path: str, backbone: Backbone):
    if not os.path.exists(path):
        raise InputError(f"{path} does not exist (a PEFT adapter or a fine-tuned model folder expected)")
    if os.path.isfile(os.path.join(path, "adapter_config.json")):
        return AdapterSource(path, backbone)
    return FullModelSource(path, backbone)
