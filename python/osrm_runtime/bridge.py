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


def _leave_quietly_when_node_is_gone() -> None:
    """pythonia's channel writer (`ipc.queue` in its `interface.py`, our `__main__`) answers a write
    to a closed channel with `sys.exit(1)`. When Node ends, Python's shutdown finalises the proxies
    of JavaScript objects it still holds, each finaliser writes a "free" to the closed channel, and
    each SystemExit is printed as a traceback on the user's terminal. Nobody is listening any more
    and every op has written its files before returning: flush and leave at once instead."""
    ipc = getattr(sys.modules.get("__main__"), "ipc", None)
    write = getattr(ipc, "queue", None)
    if write is None:
        return

    def queue(what):
        try:
            write(what)
        except SystemExit:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(0)

    ipc.queue = queue


_leave_quietly_when_node_is_gone()


def dispatch(op: str, payload_json: str, progress=None) -> str:
    sink = None
    if progress is not None:
        def sink(line: str) -> None:
            progress(line)
    return _dispatch(op, payload_json, sink)


def pid() -> int:
    return os.getpid()
