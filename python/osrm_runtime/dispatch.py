"""The one function TypeScript calls. It never lets an exception escape: every outcome is a
JSON string envelope, because exceptions crossing pythonia arrive with empty messages."""

from __future__ import annotations

import json
import traceback
from typing import Any, Optional

from .context import Context, ProgressSink, to_json_value
from .registry import resolve


def run_op(op: str, payload: dict, sink: Optional[ProgressSink] = None) -> Any:
    func = resolve(op)
    from .demo.suite import mentions_demo_source, resolve_demo_sources

    if mentions_demo_source(payload):
        # The demo suite is built from npm packages; the core only ever sees plain file sources.
        payload = resolve_demo_sources(payload)
    return func(payload, Context(op, sink))


def dispatch(op: str, payload_json: str, sink: Optional[ProgressSink] = None) -> str:
    try:
        payload = json.loads(payload_json) if payload_json else {}
        value = run_op(op, payload, sink)
        return json.dumps({"ok": True, "value": to_json_value(value)}, allow_nan=False)
    except BaseException as exc:  # noqa: BLE001 - the envelope must carry every failure
        if isinstance(exc, (SystemExit,)) and exc.code in (0, None):
            return json.dumps({"ok": True, "value": None})
        return json.dumps({
            "ok": False,
            "type": type(exc).__name__,
            "module": type(exc).__module__,
            "message": str(exc),
            "traceback": traceback.format_exc(),
        })
