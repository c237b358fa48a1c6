"""
Stage 4, route selection: the mode picks the adapter; the live policy guards DISPATCH.
"""

from __future__ import annotations

import attrs

from execfsm.adapters.registry import AdapterRegistry
from execfsm.contracts import ExecutionMode, LivePolicy, Route
from execfsm.enums import builtin_reason
from execfsm.errors import PolicyViolation
from execfsm.stages._context import RunContext
from execfsm.typing import Clock


@attrs.frozen
class RoutingPolicy:
    """
    What routing reads: the mode, its adapters, the live policy, and the clock it expires by.
    """

    registry: AdapterRegistry
    mode: ExecutionMode
    live_policy: LivePolicy | None
    clock: Clock


def run(ctx: RunContext, *, routes: RoutingPolicy) -> bool:
    """
    Resolve the adapter for the mode and cross ROUTING → DISPATCH; its validators block
    LIVE_BLOCKED, LIVE without an unexpired policy and live adapter, and modes without one.
    """
    adapter = routes.registry.get(routes.mode)
    route = Route(
        mode=routes.mode,
        adapter_registered=adapter is not None,
        live_policy=routes.live_policy,
        now=routes.clock.now(),
    )
    try:
        ctx.run.send("route", route=route)
    except PolicyViolation as exc:
        ctx.stop("block", builtin_reason(exc.reason), str(exc))
        return False
    ctx.adapter = adapter
    return True
