"""Atomic file writes: readers see the old file or the new one, never a torn one (temp + rename)."""

from __future__ import annotations

import json
import os
from typing import Any


def write_text_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json_atomic(path: str, value: Any, **dump_options: Any) -> None:
    """`dump_options` go to json.dumps (indent=2 unless given)."""
    dump_options.setdefault("indent", 2)
    write_text_atomic(path, json.dumps(value, **dump_options))
