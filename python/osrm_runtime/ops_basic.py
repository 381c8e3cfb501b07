"""Ops that exercise the boundary itself and report the runtime's environment."""

from __future__ import annotations

import os
import platform
import signal
import sys
import time


def noop(payload, ctx):
    return None


def echo(payload, ctx):
    return payload


class RequestedFailure(RuntimeError):
    """Raised on purpose by the `fail` op."""


def fail(payload, ctx):
    raise RequestedFailure(payload.get("message", "failure requested by the caller"))


def crash(payload, ctx):
    """Dies without a word, like a segfault or an OOM kill would."""
    how = payload.get("how", "exit")
    sys.stdout.flush()
    if how == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(int(payload.get("code", 3)))


def sleep(payload, ctx):
    """Sleeps in small steps with progress; used to test aborts and progress display."""
    seconds = float(payload.get("seconds", 1.0))
    steps = max(1, int(seconds / 0.05))
    for i in range(steps):
        time.sleep(seconds / steps)
        ctx.progress("sleep", current=i + 1, total=steps, unit="step")
    return {"pid": os.getpid(), "slept": seconds}


def _version(module_name: str):
    try:
        module = __import__(module_name)
        return getattr(module, "__version__", "unknown")
    except Exception:  # noqa: BLE001 - doctor reports what is missing, never fails on it
        return None


def env_info(payload, ctx):
    info = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "pid": os.getpid(),
        "packages": {},
        "torch": None,
    }
    for name in ("torch", "transformers", "peft", "safetensors", "tokenizers", "numpy", "scipy",
                 "sklearn", "matplotlib", "datasets", "accelerate"):
        info["packages"][name] = _version(name)
    try:
        import torch

        cuda = torch.cuda.is_available()
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []
        info["torch"] = {
            "version": torch.__version__,
            "cuda_available": cuda,
            "cuda_version": torch.version.cuda,
            "gpus": gpus,
            "bf16_supported": bool(cuda and torch.cuda.is_bf16_supported()),
            "threads": torch.get_num_threads(),
        }
    except Exception:  # noqa: BLE001
        pass
    return info
