"""The demo task suite as a task source: `{"kind": "demo", "task": "spam"}`, resolved at the
boundary (dispatch) into the equivalent `files` source, so the numerical core never sees it.

The suite is built deterministically from the npm data packages the toolkit depends on
(tasks.py) into the per-user cache, once per builder version and seed, and each demo source
is resolved to the equivalent `files` source. So `osrm run configs/demo.yaml` needs no data step:
the first op that reads a demo task builds the suite.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

_BUILDER_FILES = ("tasks.py", "corpus.py")


def _builder_version() -> str:
    """Changes whenever the builder's code does, so a changed builder never reads stale files."""
    here = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for name in _BUILDER_FILES:
        with open(os.path.join(here, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:12]


def _cache_root() -> str:
    if os.environ.get("OSRM_CACHE_DIR"):
        return os.environ["OSRM_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "osrm")


def _node_modules() -> str:
    path = os.environ.get("OSRM_NODE_MODULES")
    if not path or not os.path.isdir(path):
        raise ValueError("demo tasks are built from the npm data packages in the toolkit's node_modules, but "
                         f"OSRM_NODE_MODULES ({path!r}) is not a folder; run `npm ci` in the toolkit and use the "
                         "osrm CLI (which sets it)")
    return path


def suite_dir(seed: int = 42) -> str:
    """The built suite's folder, building it first when it is not in the cache."""
    from . import tasks as demo_tasks

    folder = os.path.join(_cache_root(), "demo-tasks", f"{_builder_version()}-seed{seed}")
    if os.path.isfile(os.path.join(folder, "tasks.json")):
        return folder
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".building-", dir=os.path.dirname(folder))
    try:
        demo_tasks.build(_node_modules(), staging, seed)
        try:
            os.replace(staging, folder)  # atomic: readers see the whole suite or none
        except OSError:
            if not os.path.isfile(os.path.join(folder, "tasks.json")):
                raise  # not another process's finished build: a real failure
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def resolve_demo_source(task_name: str, source: dict) -> dict:
    """The `files` source that reads the demo task `source["task"]`."""
    from . import tasks as demo_tasks

    wanted = source.get("task")
    if wanted not in demo_tasks.BUILDERS:
        raise ValueError(f"task '{task_name}': task.source.task '{wanted}' is not a demo task "
                         f"({', '.join(demo_tasks.BUILDERS)})")
    folder = suite_dir(int(source.get("seed", 42)))
    with open(os.path.join(folder, "tasks.json"), encoding="utf-8") as f:
        index = json.load(f)
    entry = next(t for t in index["tasks"] if t["name"] == wanted)
    return demo_tasks.task_payload(folder, entry)["source"]


def resolve_demo_sources(value):
    """A copy of a payload in which every demo task source is its `files` source. Task specs sit
    at different places in different payloads (task, adapters[i].task, tasks[i].task), so every
    mapping with a demo `source` is resolved wherever it is."""
    if isinstance(value, list):
        return [resolve_demo_sources(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: resolve_demo_sources(v) for k, v in value.items()}
    source = out.get("source")
    if isinstance(source, dict) and source.get("kind") == "demo" and isinstance(out.get("name"), str):
        out["source"] = resolve_demo_source(out["name"], source)
    return out


def mentions_demo_source(value) -> bool:
    if isinstance(value, list):
        return any(mentions_demo_source(v) for v in value)
    if not isinstance(value, dict):
        return False
    source = value.get("source")
    if isinstance(source, dict) and source.get("kind") == "demo":
        return True
    return any(mentions_demo_source(v) for v in value.values())
