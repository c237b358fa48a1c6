"""
The eight stages, one module each. A stage does its work, then fires one `PipelineRun`
event; returning False means the run stopped (FAILED, BLOCKED or PAUSED).

The order of the stages is `UP_TO_DISPATCH`, the send, then `AFTER_SEND` here, and nowhere
else: split where the write-ahead must be made durable before an order may leave, and where
the venue is called (no unit of work spans a venue call).
"""

from __future__ import annotations

from collections.abc import Callable

from execfsm.stages import dispatch, events, post_trade, recon, risk_gate, routing, validation
from execfsm.stages._context import RunContext, Services

Stage = Callable[[RunContext, Services], bool]

UP_TO_DISPATCH: tuple[Stage, ...] = (
    validation.run,
    risk_gate.run,
    routing.run,
    dispatch.write_ahead,
)
"""Stages 2-4 and the write-ahead of stage 5 (stage 1, intake, builds the context they
share). The caller then makes the write-ahead durable (``store.flush()``), for one intent or
for a batch, before the send."""

AFTER_SEND: tuple[Stage, ...] = (
    dispatch.answer,
    events.run,
    post_trade.run,
    recon.run,
)
"""Stage 5's answer, then stages 6-8. The send itself (`dispatch.send`, the venue call) runs
between `UP_TO_DISPATCH` and these, outside any unit of work."""

FROM_RISK_GATE = UP_TO_DISPATCH[1:]
"""Where a resumed run re-enters."""
