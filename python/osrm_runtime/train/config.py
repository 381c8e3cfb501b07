"""The `train` op's payload, parsed and checked before anything heavy is loaded.

Slices and defaults follow docs/ops.md verbatim (`lora`, `training`, `init`); unknown keys are an
error so that a knob added on the TypeScript side cannot be silently ignored here.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from ..data import TaskSpec
from ..models import ModelSpec

LORA_DEFAULTS: dict[str, Any] = {"rank": 8, "alpha": 16, "dropout": 0.0, "blocks": ["q", "v"], "freeze": "none"}
TRAINING_DEFAULTS: dict[str, Any] = {
    "lr": 4e-4, "epochs": 10, "batch_size": 64, "grad_accum": 1, "warmup_ratio": 0.06,
    "scheduler": "linear", "weight_decay": 0.0, "gradient_checkpointing": False,
    "precision": "auto", "seed": 42, "group_by_length": True, "eval_batch_size": 128,
}


@dataclass(frozen=True)
class LoraSpec:
    rank: int
    alpha: float
    dropout: float
    blocks: list
    freeze: str  # "none" | "A" | "B"


@dataclass(frozen=True)
class TrainingSpec:
    lr: float
    epochs: int
    batch_size: int  # per process and micro-batch; one optimizer step sees batch_size * grad_accum * world
    grad_accum: int
    warmup_ratio: float
    scheduler: str
    weight_decay: float
    gradient_checkpointing: bool
    precision: str
    seed: int
    group_by_length: bool
    eval_batch_size: int


@dataclass(frozen=True)
class InitSpec:
    kind: str  # "gaussian" | "osrm"
    adapter: Optional[str] = None


@dataclass
class TrainConfig:
    model: ModelSpec
    task: TaskSpec
    lora: LoraSpec
    training: TrainingSpec
    init: InitSpec
    out: str
    raw: dict = field(default_factory=dict)  # the normalised payload, for resume checks and provenance

    def fingerprint(self) -> str:
        """Canonical JSON of everything that determines the result (a resumed run must match it)."""
        return json.dumps(self.raw, sort_keys=True)


def _slice(payload: dict, key: str, defaults: dict) -> dict:
    given = payload.get(key) or {}
    if not isinstance(given, dict):
        raise ValueError(f"{key} must be an object, got {type(given).__name__}")
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"{key}: unknown key(s) {unknown}; known: {sorted(defaults)}")
    return {**defaults, **{k: v for k, v in given.items() if v is not None}}


def _number(section: str, values: dict, key: str, kind: type, low: float, high: float | None = None,
            low_open: bool = False) -> Any:
    value = values[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and int(value) != value):
        raise ValueError(f"{section}.{key} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
    value = kind(value)
    if value < low or (low_open and value == low) or (high is not None and value > high):
        bound = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
        raise ValueError(f"{section}.{key} must be {bound}, got {value}")
    return value


def _choice(section: str, values: dict, key: str, options: tuple) -> Any:
    if values[key] not in options:
        raise ValueError(f"{section}.{key} must be one of {list(options)}, got {values[key]!r}")
    return values[key]


def parse(payload: dict) -> TrainConfig:
    if not isinstance(payload, dict):
        raise ValueError("the train payload must be an object")
    known = {"model", "task", "lora", "training", "init", "out"}
    unknown = sorted(set(payload) - known)
    if unknown:
        raise ValueError(f"train: unknown payload key(s) {unknown}; known: {sorted(known)}")
    if not payload.get("out"):
        raise ValueError("out (the folder the trained adapter is written to) is required")
    model = ModelSpec.parse(payload.get("model") or {})
    task = TaskSpec.parse(payload.get("task") or {})

    lo = _slice(payload, "lora", LORA_DEFAULTS)
    if not isinstance(lo["blocks"], list) or not lo["blocks"]:
        raise ValueError(f"lora.blocks must be a non-empty list, got {lo['blocks']!r}")
    lora = LoraSpec(_number("lora", lo, "rank", int, 1), _number("lora", lo, "alpha", float, 0, low_open=True),
                    _number("lora", lo, "dropout", float, 0, 0.99), list(lo["blocks"]),
                    _choice("lora", lo, "freeze", ("none", "A", "B")))

    tr = _slice(payload, "training", TRAINING_DEFAULTS)
    for flag in ("gradient_checkpointing", "group_by_length"):
        if not isinstance(tr[flag], bool):
            raise ValueError(f"training.{flag} must be true or false, got {tr[flag]!r}")
    training = TrainingSpec(
        lr=_number("training", tr, "lr", float, 0, low_open=True),
        epochs=_number("training", tr, "epochs", int, 1),
        batch_size=_number("training", tr, "batch_size", int, 1),
        grad_accum=_number("training", tr, "grad_accum", int, 1),
        warmup_ratio=_number("training", tr, "warmup_ratio", float, 0, 1),
        scheduler=_choice("training", tr, "scheduler", ("linear", "constant")),
        weight_decay=_number("training", tr, "weight_decay", float, 0),
        gradient_checkpointing=tr["gradient_checkpointing"],
        precision=_choice("training", tr, "precision", ("auto", "fp32", "bf16")),
        seed=_number("training", tr, "seed", int, 0),
        group_by_length=tr["group_by_length"],
        eval_batch_size=_number("training", tr, "eval_batch_size", int, 1),
    )

    ini = payload.get("init") or {"kind": "gaussian"}
    if not isinstance(ini, dict) or ini.get("kind") not in ("gaussian", "osrm"):
        raise ValueError(f"init.kind must be 'gaussian' or 'osrm', got {ini!r}")
    if ini["kind"] == "osrm":
        adapter = ini.get("adapter")
        if not adapter:
            raise ValueError("init.adapter (the OSRM-initialised PEFT folder from osrm_init) is required "
                             "when init.kind is 'osrm'")
        weights = os.path.join(adapter, "adapter_model.safetensors")
        if not os.path.isfile(weights):
            raise ValueError(f"init.adapter: {weights} does not exist")
        init = InitSpec("osrm", os.path.abspath(adapter))
    else:
        init = InitSpec("gaussian")

    raw = {"model": asdict(model), "task": asdict(task), "lora": asdict(lora), "training": asdict(training),
           "init": asdict(init)}
    return TrainConfig(model, task, lora, training, init, os.path.abspath(payload["out"]), raw)
