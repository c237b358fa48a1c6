"""
Stage 4, route selection: the mode picks the adapter; the live policy guards DISPATCH.
"""

from __future__ import annotations

from execfsm.contracts import Route
from execfsm.errors import PolicyViolation
from execfsm.stages._context import RunContext, Services


def run(ctx: RunContext, services: Services) -> bool:
    """
    Resolve the adapter for the mode and cross ROUTING → DISPATCH; its validators block
    LIVE_BLOCKED, LIVE without an unexpired policy and live adapter, and modes without one.
    """
    adapter = services.registry.get(services.mode)
    route = Route(
        mode=services.mode,
        adapter_registered=adapter is not None,
        live_policy=services.live_policy,
        now=services.clock.now(),
    )
    try:
        ctx.run.send("route", route=route)
    except PolicyViolation as exc:
        ctx.stop("block", exc.reason, str(exc))
        return False
    ctx.adapter = adapter
    return True
