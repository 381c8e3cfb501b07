"""The tasks of a merge as the payload names them: `adapters: [{task, path}]`, where task is a
task spec (docs/ops.md; needed when a method or an evaluation reads data) or just a name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..data.examples import TaskSpec
from .sources import Backbone, open_source


@dataclass
class MergeInput:
    name: str
    path: str
    source: object               # AdapterSource | FullModelSource
    spec: Optional[TaskSpec]     # None when the payload gave only a name

    def require_spec(self, why: str) -> TaskSpec:
        if self.spec is None:
            raise ValueError(f"task '{self.name}': {why} needs its full task spec ({{name, source, ...}}), "
                             f"not just a name")
        return self.spec

    @property
    def label(self) -> str:
        return f"'{self.name}' ({self.path})"


def parse_inputs(entries, backbone: Backbone, field: str = "adapters") -> list[MergeInput]:
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{field} must be a non-empty list of {{task, path}}")
    out: list[MergeInput] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("path") and not entry.get("adapter"):
            raise ValueError(f"{field}[{i}] must be {{task, path}}")
        path = str(entry.get("path") or entry.get("adapter"))
        task = entry.get("task")
        spec = TaskSpec.parse(task) if isinstance(task, dict) else None
        source = open_source(path, backbone)
        name = spec.name if spec else (task or source.info.get("task"))
        if not name:
            raise ValueError(f"{field}[{i}] ({path}): no task name (give task, or an osrm_task.json)")
        out.append(MergeInput(str(name), path, source, spec))
    return out
