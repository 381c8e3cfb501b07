"""The one function TypeScript calls. It never lets an exception escape: every outcome is a
JSON string envelope, because exceptions crossing pythonia arrive with empty messages.

Every payload passes the contract first (contract/): validated against the JSON Schema generated
from the zod schemas, defaults filled in, built into the op's typed payload object."""

from __future__ import annotations

import json
import traceback
from typing import Any, Optional

from . import contract
from .context import Context, ProgressSink, to_json_value
from .registry import resolve


def _without_demo_sources(payload: Any) -> Any:
    from .demo.suite import mentions_demo_source, resolve_demo_sources

    # The demo suite is built from npm packages; the core only ever sees plain file sources.
    return resolve_demo_sources(payload) if mentions_demo_source(payload) else payload


def run_op(op: str, payload: Any, sink: Optional[ProgressSink] = None) -> Any:
    func = resolve(op)
    typed = contract.parse(op, payload, prepare=_without_demo_sources)
    return func(typed, Context(op, sink))


def dispatch(op: str, payload_json: str, sink: Optional[ProgressSink] = None) -> str:
    payload: Any = None
    try:
        payload = json.loads(payload_json) if payload_json else {}
        value = run_op(op, payload, sink)
        return json.dumps({"ok": True, "value": to_json_value(value)}, allow_nan=False)
    except BaseException as exc:  # noqa: BLE001 - the envelope must carry every failure
        if isinstance(exc, (SystemExit,)) and exc.code in (0, None):
            return json.dumps({"ok": True, "value": None})
        envelope = {
            "ok": False,
            "type": type(exc).__name__,
            "module": type(exc).__module__,
            "message": str(exc),
            # A ValueError is bad input (a payload field, a file, a shape): the user's to fix.
            "bad_input": isinstance(exc, ValueError),
            "traceback": traceback.format_exc(),
        }
        # The library's own text behind an input error: for the job log, not the user's screen.
        if getattr(exc, "detail", None):
            envelope["detail"] = str(exc.detail)
        storage = _storage_failure(exc, _output_of(payload))
        if storage is not None:
            envelope.update(storage)
        return json.dumps(envelope)


def _output_of(payload: Any) -> Optional[str]:
    """Where the op writes (its `out`, or a statistics `cache_dir`): the path to name when a
    write failed without naming its file (a full disk fails write() and safetensors' save so)."""
    if isinstance(payload, dict):
        for key in ("out", "cache_dir"):
            if isinstance(payload.get(key), str):
                return payload[key]
    return None


def _storage_failure(exc: BaseException, output: Optional[str] = None) -> Optional[dict]:
    """A write that failed because the place is unusable (disk full, read-only, permission
    denied), as a message naming the path and what to do; `os_error` lets the runner stop
    starting jobs that would fail the same way. A path the user chose that cannot be written to
    (read-only, no permission) is bad input (exit 2); a full disk is not (exit 1)."""
    import errno as errnos

    from .errors import STORAGE_ERRNOS, os_error_code

    code = os_error_code(exc)
    if code not in STORAGE_ERRNOS:
        return None
    path = getattr(exc, "filename", None) or output
    what = STORAGE_ERRNOS[code]
    todo = ("free space there or choose another output folder" if code in (errnos.ENOSPC, errnos.EDQUOT)
            else "choose an output folder you can write to, or change its permissions")
    name = errnos.errorcode.get(code, str(code))
    return {
        "message": f"{path or 'writing the output'}: {what} ({name}); {todo}",
        "bad_input": code not in (errnos.ENOSPC, errnos.EDQUOT),
        "os_error": {"code": name, "path": path},
    }
