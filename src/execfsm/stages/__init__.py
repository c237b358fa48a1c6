"""
The eight stages, one module each. A stage does its work, then fires one `PipelineRun`
event; returning False means the run stopped (FAILED, BLOCKED or PAUSED).

The order of the stages is `PIPELINE` here, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable

from execfsm.stages import dispatch, events, post_trade, recon, risk_gate, routing, validation
from execfsm.stages._context import RunContext, Services

Stage = Callable[[RunContext, Services], bool]

PIPELINE: tuple[Stage, ...] = (
    validation.run,
    risk_gate.run,
    routing.run,
    dispatch.run,
    events.run,
    post_trade.run,
    recon.run,
)
"""Stages 2-8, in order (stage 1, intake, builds the context they share)."""

FROM_RISK_GATE = PIPELINE[1:]
"""Where a resumed run re-enters."""
