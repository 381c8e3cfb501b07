"""What an op receives besides its payload: a throttled progress reporter."""

from __future__ import annotations

import json
import math
import time
from typing import Any, Callable, Optional

ProgressSink = Callable[[str], Any]


def _plain(value: Any) -> Any:
    """numpy/torch scalars -> Python numbers, NaN/inf -> None, so JSON never fails."""
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()
        except (ValueError, RuntimeError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Context:
    """Progress reporting for an op.

    `progress(task=..., current=..., total=...)` forwards an event to TypeScript at most every
    `min_interval` seconds per task (always when a task starts or completes), because each event
    is a round trip to Node in bridge mode.
    """

    def __init__(self, op: str, sink: Optional[ProgressSink] = None, min_interval: float = 0.1):
        self.op = op
        self._sink = sink
        self._min_interval = min_interval
        self._last: dict[str, float] = {}

    def progress(self, task: str, current: float | None = None, total: float | None = None,
                 unit: str | None = None, message: str | None = None, **metrics: Any) -> None:
        if self._sink is None:
            return
        now = time.monotonic()
        finished = current is not None and total is not None and current >= total
        first = task not in self._last
        if not (first or finished) and now - self._last[task] < self._min_interval:
            return
        self._last[task] = now
        event: dict[str, Any] = {"op": self.op, "task": task}
        if current is not None:
            event["current"] = current
        if total is not None:
            event["total"] = total
        if unit is not None:
            event["unit"] = unit
        if message is not None:
            event["message"] = message
        if metrics:
            event["metrics"] = _plain(metrics)
        self._sink(json.dumps(_plain(event)))

    def log(self, message: str) -> None:
        """A one-off line for the user (shown above the progress bars)."""
        self.progress(task="log", message=message)


def to_json_value(value: Any) -> Any:
    return _plain(value)
