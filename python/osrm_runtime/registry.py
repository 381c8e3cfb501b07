"""The table of operations TypeScript may call, by name.

Each entry maps an op name to "module:function" inside osrm_runtime. The function takes
(payload: dict, ctx: Context) and returns a JSON-encodable value. Modules are imported on first
use so that listing or calling a light op never pays for torch.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

OPS: dict[str, str] = {
    # runtime health and boundary tests
    "noop": "ops_basic:noop",
    "echo": "ops_basic:echo",
    "fail": "ops_basic:fail",
    "crash": "ops_basic:crash",
    "sleep": "ops_basic:sleep",
    "env_info": "ops_basic:env_info",
    "make_test_fixture": "testing:make_test_fixture",
    # merging (python/osrm_runtime/merge/)
    "merge_methods": "merge.registry:merge_methods",
    "merge": "merge.ops:merge",
    "evaluate": "merge.ops:evaluate",
    "export_merged_task": "merge.materialize:export_task_model",
    "make_test_adapter": "merge.testing:make_test_adapter",
    "train": "train.recipe:train",
    # OSRM: statistics, init, post-hoc transform, interference diagnostic
    "collect_stats": "osrm.stats:collect_stats",
    "osrm_init": "osrm.init:osrm_init",
    "transform": "osrm.transform:transform",
    "diagnose": "osrm.diagnose:diagnose",
    # the embedded demo: real labelled tasks from the @stdlib npm data packages
    "build_demo_tasks": "demo_tasks:build_demo_tasks",
}


class OpNotAvailable(Exception):
    """Raised for an op name that this runtime does not provide (yet)."""


def resolve(name: str) -> Callable[[dict, Any], Any]:
    target = OPS.get(name)
    if target is None:
        known = ", ".join(sorted(OPS))
        raise OpNotAvailable(f"operation '{name}' is not available in this runtime (known: {known})")
    module_name, func_name = target.split(":")
    module = importlib.import_module(f"osrm_runtime.{module_name}")
    return getattr(module, func_name)
