"""Stopping a training run without losing it: SIGTERM (what Slurm sends at a time limit or on
preemption, and what `osrm` sends its worker on Ctrl-C) and SIGINT set a flag; the loop finishes
the optimizer step it is in, writes a checkpoint at that point and raises TrainingStopped, so a
rerun (or Slurm's requeue) resumes exactly there.

A second SIGINT (Ctrl-C pressed again) stops at once with KeyboardInterrupt; SIGTERM never does,
because the terminal's SIGINT and the parent's SIGTERM arrive together on the first Ctrl-C. The
parent's force-kill after its grace period (and Slurm's SIGKILL after KillWait) remain the hard
stops; the last checkpoint is always complete, since checkpoints are written atomically.

Handlers can only be installed from the main thread; elsewhere (a bridge serving calls on
another thread) the flag is simply never set and the parent's kill is the stop.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Iterator, Optional


class TrainingStopped(Exception):
    """The run was asked to stop (SIGTERM/SIGINT) and stopped at a resumable checkpoint."""


class StopRequest:
    def __init__(self) -> None:
        self.signal: Optional[int] = None
        self._interrupts = 0

    @property
    def requested(self) -> bool:
        return self.signal is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signal).name if self.signal is not None else "none"

    def _handle(self, signum, _frame) -> None:
        if signum == signal.SIGINT:
            self._interrupts += 1
            if self._interrupts > 1:
                raise KeyboardInterrupt
        if self.signal is None:
            self.signal = signum
            # stderr goes to the job's log: the reason the run ends early is on record.
            print(f"osrm train: {signal.Signals(signum).name} received; finishing this optimizer step "
                  f"and writing a checkpoint", file=sys.stderr, flush=True)


@contextlib.contextmanager
def graceful_stop() -> Iterator[StopRequest]:
    """SIGTERM and SIGINT request a stop while the block runs; the previous handlers come back after."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, request._handle)
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
