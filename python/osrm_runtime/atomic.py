"""Atomic writes, the one implementation: readers see the old file (or folder) or the complete
new one, never a torn one — everything is written to a temporary name beside the target, then
renamed into place."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from typing import Any, Callable, Iterator

from .errors import output_error


def write_file_atomic(path: str, write: Callable[[str], Any]) -> None:
    """`write(tmp_path)` writes the file (safetensors' save_file, say); it then replaces `path`."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except Exception as exc:
        # A full disk fails a write() (or safetensors' save) with no file named: name `path`.
        named = output_error(exc, path)
        if named is exc:
            raise
        raise named from exc
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomic(path: str, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    write_file_atomic(path, write)


def write_json_atomic(path: str, value: Any, **dump_options: Any) -> None:
    """`dump_options` go to json.dumps (indent=2 unless given)."""
    dump_options.setdefault("indent", 2)
    write_text_atomic(path, json.dumps(value, **dump_options))


@contextlib.contextmanager
def staged_folder(out: str) -> Iterator[str]:
    """A folder to fill that becomes `out` when the block ends without an error (and is removed
    when it raises). A new `out` appears in one rename; into an existing `out` the staged entries
    are moved one by one, replacing theirs and leaving its other files alone."""
    parent = os.path.dirname(os.path.abspath(out))
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.tmp-", dir=parent)
    except Exception as exc:
        raise output_error(exc, out) from exc
    try:
        os.chmod(staging, 0o755)  # mkdtemp makes it private; what osrm writes is meant to be shared
        yield staging
        if not os.path.exists(out):
            os.replace(staging, out)
        else:
            for name in os.listdir(staging):
                target = os.path.join(out, name)
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                os.replace(os.path.join(staging, name), target)
    except Exception as exc:
        # What fills the folder (save_pretrained, safetensors) may fail on a full disk without
        # naming a file: the message names the folder being written.
        named = output_error(exc, out)
        if named is exc:
            raise
        raise named from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
