"""The table of operations TypeScript may call, by name.

Each entry maps an op name to "module:function" inside osrm_runtime. The function takes
(payload, ctx): the payload as the op's typed object (contract/payloads.py), ctx a Context; it
returns a JSON-encodable value. Modules are imported on first use so that listing or calling a
light op never pays for torch. Every op here has its payload and result declared once, in
src/ops/ (a test checks the two lists agree).
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Callable

OPS: dict[str, str] = {
    # the runtime itself
    "noop": "runtime_info:noop",
    "env_info": "runtime_info:env_info",
    # merging (python/osrm_runtime/merge/)
    "merge_methods": "merge.registry:merge_methods",
    "merge": "merge.ops:merge",
    "evaluate": "merge.ops:evaluate",
    "export": "merge.export:export",
    "train": "train.recipe:train",
    # OSRM: statistics, init, post-hoc transform, interference diagnostic
    "collect_stats": "osrm.stats:collect_stats",
    "osrm_init": "osrm.init:osrm_init",
    "transform": "osrm.transform:transform",
    "diagnose": "osrm.diagnose:diagnose",
    # the report's figures
    "plot_report": "figures:plot_report",
    # the embedded demo (python/osrm_runtime/demo/): real labelled tasks from the npm data packages
    "build_demo_tasks": "demo.ops:build_demo_tasks",
}

# Boundary tests and fixtures (python/osrm_runtime/testing/): registered only when tests ask.
TESTING_OPS: dict[str, str] = {
    "echo": "testing.ops:echo",
    "fail": "testing.ops:fail",
    "crash": "testing.ops:crash",
    "sleep": "testing.ops:sleep",
    "make_test_fixture": "testing.fixtures:make_test_fixture",
    "make_test_adapter": "testing.adapters:make_test_adapter",
    "parse_payload": "testing.ops:parse_payload",
}
TESTING_ENV = "OSRM_TESTING_OPS"


def available_ops() -> dict[str, str]:
    if os.environ.get(TESTING_ENV) == "1":
        return {**OPS, **TESTING_OPS}
    return OPS


class OpNotAvailable(Exception):
    """Raised for an op name that this runtime does not provide (yet)."""


def resolve(name: str) -> Callable[[dict, Any], Any]:
    ops = available_ops()
    target = ops.get(name)
    if target is None:
        known = ", ".join(sorted(ops))
        raise OpNotAvailable(f"operation '{name}' is not available in this runtime (known: {known})")
    module_name, func_name = target.split(":")
    module = importlib.import_module(f"osrm_runtime.{module_name}")
    return getattr(module, func_name)
