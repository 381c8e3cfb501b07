"""Entry point for the in-process bridge (pythonia).

Imported once per bridge process. It keeps the bridge's stdout clean (libraries that print go to
stderr), and exits if the Node parent disappears, so a killed `osrm` never leaves a Python
process computing on behind it.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from .dispatch import dispatch as _dispatch

# pythonia talks over its own IPC socket; stdout is only the user's terminal. Send library chatter
# (transformers' load reports, warnings) to stderr so `osrm ... --json` stays machine-readable.
try:
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
except (OSError, ValueError):
    pass


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()


def dispatch(op: str, payload_json: str, progress=None) -> str:
    sink = None
    if progress is not None:
        def sink(line: str) -> None:
            progress(line)
    return _dispatch(op, payload_json, sink)


def pid() -> int:
    return os.getpid()
