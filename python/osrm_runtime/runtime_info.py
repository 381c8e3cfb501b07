"""Ops about the runtime itself: a no-op (health check, round-trip cost) and the environment report
that `osrm doctor` shows."""

from __future__ import annotations

import os
import platform
import sys


def noop(payload, ctx):
    return None


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
