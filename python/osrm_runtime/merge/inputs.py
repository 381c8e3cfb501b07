"""The tasks of a merge as the payload names them: `adapters: [{task, path}]`, where task is a
task spec (docs/ops.md; needed when a method or an evaluation reads data) or just a name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..contract.payloads import TaskSpec
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


def parse_inputs(entries: list[tuple], backbone: Backbone, field: str = "adapters") -> list[MergeInput]:
    """(task, path) pairs -> inputs; task is a TaskSpec or a name (None: from osrm_task.json)."""
    out: list[MergeInput] = []
    for i, (task, path) in enumerate(entries):
        spec = task if isinstance(task, TaskSpec) else None
        source = open_source(path, backbone)
        name = spec.name if spec else (task or source.info.get("task"))
        if not name:
            raise ValueError(f"{field}[{i}] ({path}): no task name (give task, or an osrm_task.json)")
        out.append(MergeInput(str(name), path, source, spec))
    return out
