"""The demo's op: `build_demo_tasks` builds the demo task suite into a folder."""

from __future__ import annotations

from . import tasks


def build_demo_tasks(payload, ctx) -> dict:
    """{node_modules, out, seed, tasks, sizes} -> the suite's tasks.json content."""
    sizes = {"train": payload.sizes.train, "eval": payload.sizes.eval} if payload.sizes is not None else None
    index = tasks.build(payload.node_modules, payload.out, payload.seed, payload.tasks, sizes)
    ctx.log(f"wrote {len(index['tasks'])} demo tasks into {payload.out}")
    return index
