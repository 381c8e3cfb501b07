"""Errors about what the user gave: a file, a folder, a row, a tensor.

`InputError` is a ValueError, so it is bad input at the boundary (exit code 2). Its message says
what the user gave and what to do about it; the text of the library that failed underneath
(transformers, safetensors, csv, json, datasets) is kept apart in `detail`, which goes to the job
log, not to the user's screen: a library's own advice can be wrong for osrm's users (torch's
advice to switch its weights-only unpickler off is the one thing they must not do).
"""

from __future__ import annotations

import errno
import os
from typing import Optional


class InputError(ValueError):
    """Bad input, named: `detail` is the underlying library's text, for the log."""

    def __init__(self, message: str, detail: Optional[str] = None):
        super().__init__(message)
        self.detail = detail


def library_text(exc: BaseException) -> str:
    """`module.Type: message` of a library exception, as the job log keeps it."""
    kind = type(exc)
    return f"{kind.__module__}.{kind.__qualname__}: {exc}"


def wrap(message: str, exc: BaseException) -> InputError:
    """An InputError with `message` for the user and the library's own text for the log."""
    return InputError(message, library_text(exc))


def first_line(exc: BaseException, limit: int = 160) -> str:
    """A library message shortened to its first line (some span pages)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# OS errors that mean the place osrm reads or writes is unusable as a whole, with what to do.
STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def os_error_code(exc: BaseException) -> Optional[int]:
    """The errno of an OSError, or of a safetensors I/O failure, which arrives as SafetensorError
    with the OS error only in its text ("... (os error 28)")."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno
    text = str(exc)
    if type(exc).__name__ == "SafetensorError" and "(os error " in text:
        try:
            return int(text.rsplit("(os error ", 1)[1].split(")", 1)[0])
        except ValueError:
            return None
    return None


def output_error(exc: BaseException, path: str) -> BaseException:
    """An OS failure while writing `path`, as an OSError that names it (a failed write() or a
    safetensors save names no file of its own); other exceptions are returned unchanged."""
    code = os_error_code(exc)
    if code is None:
        return exc
    if isinstance(exc, OSError) and exc.filename:
        return exc
    return OSError(code, os.strerror(code), path)


def unreadable_safetensors(field: str, file: str, exc: BaseException, todo: str) -> InputError:
    """A safetensors file that could not be opened: permission, or a header that does not parse
    or does not cover the file (truncated, corrupt, not safetensors at all)."""
    if isinstance(exc, OSError):
        return wrap(f"{field}: cannot read {file}: {(exc.strerror or str(exc)).lower()}", exc)
    return wrap(f"{field}: {file} is not a valid safetensors file: its header cannot be read (the file is "
                f"truncated or corrupt); {todo}", exc)
