"""Content digests of local files and folders, the same as the planner's (src/plan/digest.ts):
what identifies a local base model or data file wherever it is, so a moved model is still
recognised as the one an adapter was trained on.

    file    sha256 of its bytes
    folder  sha256 over its files (recursively, by relative path with "/", sorted), one line each:
            "<relative path>\\0<sha256 of the file's bytes>\\n"; hidden entries and Markdown files
            (model cards) are left out: they do not change what a model computes. A model folder
            (one with config.json or adapter_config.json at its top) counts only the files that
            loading it reads (MODEL_FILES): its training records (loss.csv, metrics.json, ...)
            can be rewritten without making it another model.

Written "sha256:<hex>". Digests are cached in the per-user cache (one JSON file per path, with
each file's size and mtime in ns) in the format the planner writes, so a digest the planner took
while planning costs Python only a stat of each file.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Optional

from .atomic import write_json_atomic

CACHE_VERSION = 2


def cache_root() -> str:
    """$OSRM_CACHE_DIR, else $XDG_CACHE_HOME/osrm, else ~/.cache/osrm (as src/runtime/paths.ts)."""
    if os.environ.get("OSRM_CACHE_DIR"):
        return os.path.abspath(os.environ["OSRM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(base), "osrm")


# What transformers, tokenizers and peft read from a model or adapter folder (the same list as
# src/plan/digest.ts). Exact names, then suffixes.
MODEL_FILES = frozenset({
    "config.json", "generation_config.json", "adapter_config.json", "osrm_task.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.json", "vocab.txt", "merges.txt", "preprocessor_config.json", "chat_template.json",
    "chat_template.jinja",
})
MODEL_SUFFIXES = (".safetensors", ".safetensors.index.json", ".model", ".tiktoken")


def counts(name: str) -> bool:
    return not name.startswith(".") and not name.lower().endswith(".md")


def is_model_folder(folder: str) -> bool:
    return any(os.path.isfile(os.path.join(folder, n)) for n in ("config.json", "adapter_config.json"))


def counts_in_model(name: str) -> bool:
    return name in MODEL_FILES or name.endswith(MODEL_SUFFIXES)


def _list_files(root: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    model = is_model_folder(root)

    def walk(folder: str, rel: str) -> None:
        for name in os.listdir(folder):
            if not counts(name):
                continue
            path = os.path.join(folder, name)
            rel_path = f"{rel}/{name}" if rel else name
            if os.path.isdir(path):  # follows links, as the planner does
                walk(path, rel_path)
            elif os.path.isfile(path) and (not model or counts_in_model(name)):
                out.append((rel_path, path))

    walk(root, "")
    return sorted(out)


def _hash_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _cache_file(path: str) -> str:
    name = hashlib.sha256(path.encode("utf-8")).hexdigest()[:32]
    return os.path.join(cache_root(), "digests", f"{name}.json")


def _read_cache(path: str) -> Optional[dict]:
    try:
        with open(_cache_file(path), encoding="utf-8") as f:
            entry = json.load(f)
    except (OSError, ValueError):
        return None
    return entry if entry.get("version") == CACHE_VERSION and entry.get("path") == path else None


def content_digest(target: str) -> str:
    """The digest of a file or folder (see the module docstring); raises FileNotFoundError."""
    path = os.path.abspath(target)
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    kind = "folder" if os.path.isdir(path) else "file"
    cached = _read_cache(path)
    known = {f[0]: f for f in cached["files"]} if cached and cached.get("kind") == kind else {}
    listing = [("", path)] if kind == "file" else _list_files(path)
    unchanged = bool(cached) and cached.get("kind") == kind and len(cached["files"]) == len(listing)
    files = []
    for rel, abs_path in listing:
        st = os.stat(abs_path)
        old = known.get(rel)
        if old and old[1] == st.st_size and old[2] == str(st.st_mtime_ns):
            files.append(old)
            continue
        unchanged = False
        files.append([rel, st.st_size, str(st.st_mtime_ns), _hash_file(abs_path)])
    if unchanged and cached:
        return cached["digest"]
    if kind == "file":
        digest = "sha256:" + files[0][3]
    else:
        h = hashlib.sha256()
        for rel, _, _, sha in files:
            h.update(f"{rel}\0{sha}\n".encode("utf-8"))
        digest = "sha256:" + h.hexdigest()
    try:
        write_json_atomic(_cache_file(path), {"version": CACHE_VERSION, "path": path, "kind": kind,
                                              "files": files, "digest": digest}, indent=None,
                          separators=(",", ":"))
    except OSError:
        pass  # a read-only cache only costs speed
    return digest


def model_reference(name_or_path: str, revision: Optional[str] = None) -> dict:
    """How osrm records a base model: a hub id as itself (and its revision), a local folder as
    its absolute path plus its content digest (so a moved copy is still recognised)."""
    if os.path.isdir(name_or_path):
        return {"name_or_path": os.path.abspath(name_or_path), "digest": content_digest(name_or_path)}
    ref = {"name_or_path": name_or_path}
    if revision:
        ref["revision"] = revision
    return ref
