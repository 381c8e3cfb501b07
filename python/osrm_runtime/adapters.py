"""The task adapter folder, read and written in one place.

A task adapter is a standard PEFT LoRA folder (PEFT's saved format is the public contract):
    adapter_config.json          LoraConfig, task_type SEQ_CLS, the head in modules_to_save;
                                 base_model_name_or_path: the hub id (and `revision`) when the base
                                 came from the hub, else its absolute path
    adapter_model.safetensors    `base_model.model.<module>.lora_A.weight` (r x d_in), `...lora_B.weight`
                                 (d_out x r), and the head's tensors under `base_model.model.<head>...`
    osrm_task.json               the task: name, num_labels, regression, label names, metric,
                                 id2label / label2id / problem_type (the transformers config values
                                 for this head), and base_model: {name_or_path, digest | revision}
                                 (a local base's content digest, so a moved copy is recognised)
    README.md                    the model card, for trained adapters (`model_card`)
plus, for osrm's own adapters, provenance files (osrm_adapter.json, ...). The LoraConfig of every
adapter osrm writes is built by `lora_config`; folders are written by `write_adapter`, atomically
(a temporary folder renamed into place), with ordinary modes (files 0644, folders 0755: safetensors
writes 0600), and read lazily by `AdapterFolder`.

No config.json is written into an adapter folder: transformers would then take the folder for a
complete model with an embedded adapter and look for its weights there.
"""

from __future__ import annotations

import copy
import json
import os
import re
from typing import Any, Optional

from .atomic import staged_folder
from .digest import model_reference
from .errors import InputError, unreadable_safetensors, wrap
# Pickled weights (PEFT's old adapter_model.bin) are never opened, as for models.
from .models import FLOAT_DTYPES, PICKLE_SUFFIXES

PREFIX = "base_model.model."
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
TASK_FILE = "osrm_task.json"
CARD_FILE = "README.md"


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
    """A PEFT LoRA adapter folder, its tensors read on demand.

    Opening one checks what a merge, a transform or an init would otherwise trip over later: the
    folder and its files exist, the weights are safetensors (a pickled adapter_model.bin is
    refused unopened), the JSON files parse, and every module's A (r x d_in) and B (d_out x r)
    agree with each other and with the rank adapter_config.json gives it."""

    def __init__(self, path: str, field: str = "adapter"):
        from safetensors import safe_open

        self.path = path
        self.field = field
        names = _folder_entries(path, field)
        if CONFIG_FILE not in names or WEIGHTS_FILE not in names:
            pickles = [n for n in names if n.endswith(PICKLE_SUFFIXES)]
            if CONFIG_FILE in names and pickles:
                raise InputError(f"{field}: the adapter {path} holds its weights as {', '.join(pickles)} (a pickle), "
                                 f"not {WEIGHTS_FILE}. osrm never loads pickles: loading one can run any code put in "
                                 f"it. If you trust where it came from, convert it outside osrm: load it with PEFT "
                                 f"(PeftModel.from_pretrained) and save it again with save_pretrained, which writes "
                                 f"{WEIGHTS_FILE}")
            missing = [n for n in (CONFIG_FILE, WEIGHTS_FILE) if n not in names]
            looks = " (it looks like a model folder)" if "config.json" in names else ""
            raise InputError(f"{field}: {path} is not a PEFT adapter folder: it has no {' and no '.join(missing)}"
                             f"{looks}; it holds: {_listing(names)}")
        config_path, weights_path = os.path.join(path, CONFIG_FILE), os.path.join(path, WEIGHTS_FILE)
        self.config: dict = _read_json(config_path, field)
        if str(self.config.get("peft_type", "LORA")).upper() != "LORA":
            raise InputError(f"{field}: {path} is a {self.config.get('peft_type')} adapter, not LoRA")
        try:
            self._file = safe_open(weights_path, framework="pt", device="cpu")
            self.keys: list[str] = list(self._file.keys())
            self._shapes = {k: tuple(self._file.get_slice(k).get_shape()) for k in self.keys}
            self._dtypes = {k: self._file.get_slice(k).get_dtype() for k in self.keys}
        except Exception as exc:  # noqa: BLE001 - SafetensorError has no importable base class
            raise unreadable_safetensors(field, weights_path, exc, "train or save the adapter again") from None
        self.modules: list[str] = sorted({k[len(PREFIX):-len(".lora_A.weight")] for k in self.keys
                                          if k.startswith(PREFIX) and k.endswith(".lora_A.weight")})
        if not self.modules:
            raise InputError(f"{field}: {weights_path} holds no LoRA weights (no '{PREFIX}<module>.lora_A.weight' "
                             f"tensors; it has e.g. {self.keys[0] if self.keys else 'nothing'!r})")
        self._check_factors(weights_path)
        task_path = os.path.join(path, TASK_FILE)
        self.task_info: Optional[dict] = _read_json(task_path, field) if os.path.isfile(task_path) else None

    def _check_factors(self, weights_path: str) -> None:
        """Each module's A and B exist, are floating-point matrices, and share the rank the
        config declares (r, or its rank_pattern entry)."""
        for module in self.modules:
            key_a, key_b = lora_keys(module)
            if key_b not in self._shapes:
                raise InputError(f"{self.field}: {weights_path} has {key_a} but no {key_b}")
            for key in (key_a, key_b):
                if len(self._shapes[key]) != 2 or self._dtypes[key] not in FLOAT_DTYPES:
                    raise InputError(f"{self.field}: tensor '{key}' in {weights_path} is {self._dtypes[key]} of shape "
                                     f"{list(self._shapes[key])}; a floating-point matrix is expected")
            (r_a, _), (_, r_b) = self._shapes[key_a], self._shapes[key_b]
            if r_a != r_b:
                raise InputError(f"{self.field}: module '{module}' in {weights_path} has lora_A of rank {r_a} "
                                 f"(shape {list(self._shapes[key_a])}) but lora_B of rank {r_b} (shape "
                                 f"{list(self._shapes[key_b])}); A is r x d_in and B is d_out x r")
            declared = _pattern_value(self.config.get("rank_pattern"), module, self.config.get("r", r_a))
            if int(declared) != r_a:
                raise InputError(f"{self.field}: module '{module}' in {weights_path} has rank {r_a}, but "
                                 f"{os.path.join(self.path, CONFIG_FILE)} declares r = {declared}; the weights and "
                                 f"the config are of different adapters")

    def shape(self, key: str) -> tuple:
        return self._shapes[key]

    @property
    def base_model(self) -> Optional[str]:
        return self.config.get("base_model_name_or_path")

    def tensor(self, key: str):
        return self._file.get_tensor(key)

    def rank(self, module: str) -> int:
        return int(self._shapes[lora_keys(module)[0]][0])

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


def label_maps(task_info: dict) -> dict:
    """The transformers config values of a task's head: id2label and label2id (JSON keys are
    strings) and problem_type. A regression head's one output is named after the task."""
    regression = bool(task_info.get("regression"))
    num_labels = int(task_info.get("num_labels") or 1)
    names = [str(n) for n in (task_info.get("labels") or [])]
    if regression:
        names = [str(task_info.get("task") or "value")]
    elif len(names) != num_labels:
        names = [f"LABEL_{i}" for i in range(num_labels)]  # transformers' own default names
    return {"id2label": {str(i): n for i, n in enumerate(names)}, "label2id": {n: i for i, n in enumerate(names)},
            "problem_type": "regression" if regression else "single_label_classification"}


def normalise_modes(folder: str) -> None:
    """Files 0644 and folders 0755 below `folder`: safetensors writes 0600 and temporary folders
    are private, but adapters and exported models are meant to be shared and served."""
    for root, dirs, names in os.walk(folder):
        os.chmod(root, 0o755)
        for name in names:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)


def _folder_entries(path: str, field: str) -> list[str]:
    if not path or not os.path.exists(path):
        raise InputError(f"{field}: the adapter folder {path!r} does not exist (a PEFT folder with {CONFIG_FILE} and "
                         f"{WEIGHTS_FILE} is expected)")
    if not os.path.isdir(path):
        raise InputError(f"{field}: {path} is a file, not a PEFT adapter folder ({CONFIG_FILE} and {WEIGHTS_FILE} "
                         f"expected)")
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        raise wrap(f"{field}: cannot read the adapter folder {path}: {exc.strerror or exc}", exc) from None


def _listing(names: list[str]) -> str:
    return (", ".join(names[:12]) + (" ..." if len(names) > 12 else "")) if names else "nothing"


def _read_json(path: str, field: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise wrap(f"{field}: {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", exc) from None
    except UnicodeDecodeError as exc:
        raise wrap(f"{field}: {path} is not UTF-8 text (byte {exc.start}); save it again as UTF-8 JSON", exc) from None
    except OSError as exc:
        raise wrap(f"{field}: cannot read {path}: {exc.strerror or exc}", exc) from None


def write_adapter(out: str, factors: dict, config, *, base_model: Optional[str] = None, head: Optional[dict] = None,
                  tensors: Optional[dict] = None, task_info: Optional[dict] = None,
                  files: Optional[dict[str, Any]] = None, revision: Optional[str] = None,
                  card: Optional[str] = None) -> str:
    """Writes a PEFT adapter folder atomically (atomic.staged_folder): a reader sees the old
    adapter or the complete new one; other files in an existing `out` stay.

    factors: module -> (A, B); head: head tensors by classifier name (saved under the prefix);
    tensors: already-saved-form tensors (a PEFT state dict); task_info: osrm_task.json (label
    maps and the base's reference are added); files: more JSON files by name; revision: the hub
    base's revision; card: the model card (README.md)."""
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
        # A local base is recorded by absolute path: PEFT and transformers resolve a relative one
        # against the working directory of whoever loads the adapter.
        config.base_model_name_or_path = os.path.abspath(base_model) if os.path.isdir(base_model) else base_model
    if revision is not None:
        config.revision = revision  # PEFT's AutoPeftModel loads the base at this revision
    config.inference_mode = True
    if task_info is not None:
        task_info = {**task_info, **label_maps(task_info)}
        if base_model is not None:
            task_info["base_model"] = model_reference(base_model, revision)

    with staged_folder(out) as staging:
        config.save_pretrained(staging)
        save_file(saved, os.path.join(staging, WEIGHTS_FILE), metadata={"format": "pt"})
        if task_info is not None:
            _write_json(os.path.join(staging, TASK_FILE), task_info)
        for name, value in (files or {}).items():
            _write_json(os.path.join(staging, name), value)
        if card is not None:
            with open(os.path.join(staging, CARD_FILE), "w", encoding="utf-8") as f:
                f.write(card)
        normalise_modes(staging)
    return out


def _write_json(path: str, value: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True)


def load_snippet(adapter: str, base: str) -> str:
    """Three lines that load the adapter with transformers + peft alone, the head's labels named
    (the card shows them; a test runs them)."""
    return "\n".join([
        "import json; from transformers import AutoModelForSequenceClassification; from peft import PeftModel",
        f'task = json.load(open("{adapter}/{TASK_FILE}")); id2label = {{int(i): name for i, name in task["id2label"].items()}}',
        f'model = PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained("{base}", '
        f'num_labels=task["num_labels"], id2label=id2label, label2id=task["label2id"]), "{adapter}")',
    ])


def model_card(*, task_info: dict, base: dict, score: float, metrics: dict, best_epoch: int, epochs: int,
               init: str, lora, training, baseline: Optional[dict] = None, examples: Optional[dict] = None,
               provenance: Optional[dict] = None) -> str:
    """The README.md of a trained adapter: what it is, how well it does, what made it, how to load it.

    base: the base's reference (digest.model_reference); lora / training: the payload's settings;
    provenance: {command, config, tool} as the caller gave it (None: not recorded)."""
    name, metric = task_info["task"], task_info.get("metric") or "score"
    hub = "digest" not in base
    front = ["---", "library_name: peft", "pipeline_tag: text-classification",
             "tags: [lora, osrm, text-classification]"]
    if hub:
        front.append(f"base_model: {base['name_or_path']}")
    front.append("---")
    labels = ", ".join(task_info.get("id2label", {}).values()) if not task_info.get("regression") else "(regression: one output)"
    rows = [("base model", f"`{base['name_or_path']}`" + (f" (revision `{base['revision']}`)" if base.get("revision") else "")
             + ("" if hub else f", content digest `{base['digest']}`")),
            ("task", f"{name} ({'regression' if task_info.get('regression') else str(task_info.get('num_labels')) + ' labels'}: {labels})"),
            ("score", f"{metric} {score:.4f} on the eval split (the best of {epochs} epoch{'s' if epochs != 1 else ''}: "
                      f"epoch {best_epoch})"),
            ("init", init),
            ("LoRA", f"rank {lora.rank}, alpha {lora.alpha:g}, dropout {lora.dropout:g}, blocks {', '.join(lora.blocks)}"),
            ("training", f"lr {training.lr:g}, {epochs} epoch{'s' if epochs != 1 else ''}, batch {training.batch_size} x {training.grad_accum}, "
                         f"{training.scheduler} schedule, warmup {training.warmup_ratio:g}, seed {training.seed}")]
    if metrics:
        rows.append(("metrics", ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()))))
    if baseline is not None:
        rows.append(("majority baseline", f"{baseline['score']:.4f} (always {baseline.get('prediction')})"))
    if examples:
        rows.append(("examples", ", ".join(f"{split} {n}" for split, n in examples.items())))
    if provenance:
        if provenance.get("command"):
            rows.append(("command", f"`{provenance['command']}`"))
        if provenance.get("config"):
            rows.append(("config", f"`{provenance['config']}`"))
        if provenance.get("tool"):
            rows.append(("made with", provenance["tool"]))
    table = ["| | |", "| --- | --- |"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(front + [
        "", f"# {name}: a LoRA adapter", "",
        f"A PEFT LoRA adapter for sequence classification with its trained head (in `modules_to_save`), "
        f"trained by [osrm](https://www.npmjs.com/package/osrm-merge). `{TASK_FILE}` names the labels.", "",
        *table, "",
        "## Loading it (transformers + peft only)", "",
        "```python", load_snippet(".", base["name_or_path"]), "```", "",
        "Run it in this folder, or replace `.` with the folder's path. A local base that has moved is "
        "recognised by its content digest (above); pass its new path instead.", "",
    ])
