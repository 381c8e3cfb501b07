"""The demo task names the TypeScript config schema accepts are the ones the builder has."""

import os
import re

from osrm_runtime.demo import tasks as demo_tasks


def test_config_schema_lists_exactly_the_builders_demo_tasks():
    here = os.path.dirname(os.path.abspath(__file__))
    schema = open(os.path.join(here, "..", "..", "src", "config", "schema", "task.ts"), encoding="utf-8").read()
    listed = re.search(r"DEMO_TASKS = \[([^\]]*)\]", schema).group(1)
    assert re.findall(r'"([^"]+)"', listed) == list(demo_tasks.BUILDERS)
