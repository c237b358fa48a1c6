"""
Stage 6, execution events: every event the adapter returned goes through `OrderLifecycle.apply`.
"""

from __future__ import annotations

from execfsm.stages._context import RunContext


def run(ctx: RunContext) -> bool:
    """
    Apply the venue's answers in order; fills to book are collected for post-trade.
    """
    for event in ctx.events:
        outcome = ctx.lifecycle.apply(event)
        if outcome.booked_fill is not None or outcome.reversed_fill is not None:
            ctx.booked.append(outcome)
    ctx.run.send("events_applied")
    return True
