"""Calling an op the way the boundary does (payload checked, defaults filled, typed), with a
context of the test's choosing (to capture progress and log lines)."""

from __future__ import annotations

from typing import Any, Optional


def call_op(op: str, payload: dict, ctx: Optional[Any] = None) -> Any:
    from .. import contract
    from ..context import Context
    from ..registry import resolve

    return resolve(op)(contract.parse(op, payload), ctx if ctx is not None else Context(op))
