"""The `train` op's typed payload (contract/payloads.py: TrainPayload) as the run reads it: the
output folder made absolute, and the canonical JSON that identifies the run, so that a rerun
resumes only the same payload's checkpoints and never mixes two runs in one folder.

The identity holds no path: a local model, data file or init adapter counts by its content
digest (digest.py), so an interrupted run whose folder (or clone) was moved still resumes. The
payload's `provenance` (which command and config asked for the run) is not part of it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ..contract import to_json
from ..data.glue import GLUE_TASKS
from ..digest import content_digest
from ..contract.payloads import LoraSetting, ModelSpec, TaskSpec, TrainingSetting, TrainPayload


@dataclass(frozen=True)
class TrainConfig:
    model: ModelSpec
    task: TaskSpec
    lora: LoraSetting
    training: TrainingSetting
    init: object  # GaussianInit | OsrmInitFrom
    out: str
    provenance: object  # TrainProvenance | None: for the model card only
    raw: dict  # what identifies the run: the payload without out and provenance, paths as digests

    def fingerprint(self) -> str:
        """Canonical JSON of everything that determines the result (a resumed run must match it)."""
        return fingerprint_of(self.raw)


# How a run is executed, not what it computes (the global batch is kept on any number of
# devices): a run resumes, and a finished run is reused, whatever these were.
RUN_ONLY_TRAINING = ("devices", "checkpoint_every")


def fingerprint_of(raw: dict) -> str:
    training = {k: v for k, v in raw.get("training", {}).items() if k not in RUN_ONLY_TRAINING}
    return json.dumps({**raw, "training": training}, sort_keys=True)


def from_payload(payload: TrainPayload) -> TrainConfig:
    if payload.init.kind == "osrm":
        weights = os.path.join(payload.init.adapter, "adapter_model.safetensors")
        if not os.path.isfile(weights):
            raise ValueError(f"init.adapter: {weights} does not exist (init.adapter is an osrm_init folder)")
    return TrainConfig(payload.model, payload.task, payload.lora, payload.training, payload.init,
                       os.path.abspath(payload.out), payload.provenance, location_free(payload))


def location_free(payload: TrainPayload) -> dict:
    """The payload's identity (see the module docstring): every local path by its content."""
    raw = {k: v for k, v in to_json(payload).items() if k not in ("out", "provenance")}
    model = raw["model"]
    if os.path.isdir(model["name_or_path"]):
        model["name_or_path"] = {"digest": content_digest(model["name_or_path"])}
    source = raw["task"]["source"]
    for field in ("train", "eval"):  # a files source (demo sources arrive resolved to one)
        if source.get(field) and os.path.isfile(source[field]):
            source[field] = {"digest": content_digest(source[field])}
    if source.get("kind") == "glue" and source.get("dir"):
        folder = os.path.join(source["dir"], GLUE_TASKS[source["task"]].folder)
        source["dir"] = {"digest": content_digest(folder)} if os.path.isdir(folder) else {"missing": folder}
    if payload.init.kind == "osrm":
        raw["init"] = {**raw["init"], "adapter": {"digest": content_digest(payload.init.adapter)}}
    return raw
