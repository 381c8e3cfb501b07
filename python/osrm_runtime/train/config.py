"""The `train` op's typed payload (contract/payloads.py: TrainPayload) as the run reads it: the
output folder made absolute, and the canonical JSON that identifies the run, so that a rerun
resumes only the same payload's checkpoints and never mixes two runs in one folder."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ..contract import to_json
from ..contract.payloads import LoraSetting, ModelSpec, TaskSpec, TrainingSetting, TrainPayload


@dataclass(frozen=True)
class TrainConfig:
    model: ModelSpec
    task: TaskSpec
    lora: LoraSetting
    training: TrainingSetting
    init: object  # GaussianInit | OsrmInitFrom
    out: str
    raw: dict  # the payload without `out`, as JSON: resume checks and provenance

    def fingerprint(self) -> str:
        """Canonical JSON of everything that determines the result (a resumed run must match it)."""
        return json.dumps(self.raw, sort_keys=True)


def from_payload(payload: TrainPayload) -> TrainConfig:
    if payload.init.kind == "osrm":
        weights = os.path.join(payload.init.adapter, "adapter_model.safetensors")
        if not os.path.isfile(weights):
            raise ValueError(f"init.adapter: {weights} does not exist (init.adapter is an osrm_init folder)")
    raw = {k: v for k, v in to_json(payload).items() if k != "out"}
    if payload.init.kind == "osrm":
        raw["init"] = {**raw["init"], "adapter": os.path.abspath(payload.init.adapter)}
    return TrainConfig(payload.model, payload.task, payload.lora, payload.training, payload.init,
                       os.path.abspath(payload.out), raw)
