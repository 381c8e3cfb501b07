"""Ops that exercise the boundary itself: values back, exceptions, crashes, slow work with
progress. Test-only: registered when OSRM_TESTING_OPS=1."""

from __future__ import annotations

import os
import signal
import sys
import time


def echo(payload, ctx):
    return payload


class RequestedFailure(RuntimeError):
    """Raised on purpose by the `fail` op."""


def fail(payload, ctx):
    raise RequestedFailure(payload.message)


def crash(payload, ctx):
    """Dies without a word, like a segfault or an OOM kill would."""
    how = payload.how
    sys.stdout.flush()
    if how == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(payload.code)


def sleep(payload, ctx):
    """Sleeps in small steps with progress; used to test aborts and progress display."""
    seconds = payload.seconds
    steps = max(1, int(seconds / 0.05))
    for i in range(steps):
        time.sleep(seconds / steps)
        ctx.progress("sleep", current=i + 1, total=steps, unit="step")
    return {"pid": os.getpid(), "slept": seconds}


def parse_payload(payload, ctx):
    """The typed object the contract builds for `payload.payload` as op `payload.op`, back as
    JSON: what an op really receives, defaults included."""
    from ..contract import parse, to_json

    return to_json(parse(payload.op, payload.payload))
