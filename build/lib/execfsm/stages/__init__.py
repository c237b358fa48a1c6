"""
The eight stages, one module each. A stage does its work, then fires one `PipelineRun`
event; returning False means the run stopped (FAILED, BLOCKED or PAUSED).

The order of the stages is `Pipeline.up_to_dispatch`, the send, then `Pipeline.after_send`
here, and nowhere else: split where the write-ahead must be made durable before an order may
leave, and where the venue is called (no unit of work spans a venue call). Each stage is
given what it reads (`Pipeline.bind`), nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import attrs

from execfsm.stages import dispatch, events, post_trade, recon, risk_gate, routing, validation
from execfsm.stages._context import RunContext, Services
from execfsm.stages.risk_gate import RiskControls
from execfsm.stages.routing import RoutingPolicy

Stage = Callable[[RunContext], bool]


@attrs.frozen
class Pipeline:
    """
    The stages after intake, bound to what each of them reads.
    """

    up_to_dispatch: tuple[Stage, ...]
    """Stages 2-4 and the write-ahead of stage 5 (stage 1, intake, builds the context they
    share). The caller then makes the write-ahead durable (``store.flush()``), for one intent
    or for a batch, before the send (`dispatch.send`, the venue call)."""
    after_send: tuple[Stage, ...]
    """Stage 5's answer, then stages 6-8. The send runs between `up_to_dispatch` and these,
    outside any unit of work."""
    from_risk_gate: tuple[Stage, ...]
    """Where a resumed run re-enters."""

    @classmethod
    def bind(cls, services: Services, risk: RiskControls, routes: RoutingPolicy) -> Pipeline:
        """
        The stages, each given its part: the risk controls, the routing policy, the books.
        """
        up_to_dispatch: tuple[Stage, ...] = (
            validation.run,
            partial(risk_gate.run, risk=risk),
            partial(routing.run, routes=routes),
            partial(dispatch.write_ahead, services=services),
        )
        return cls(
            up_to_dispatch=up_to_dispatch,
            after_send=(
                dispatch.answer,
                events.run,
                partial(post_trade.run, services=services),
                partial(recon.run, services=services),
            ),
            from_risk_gate=up_to_dispatch[1:],
        )


def run_stages(ctx: RunContext, stages: tuple[Stage, ...]) -> bool:
    """
    Run `stages` in order; False once one stopped the run.
    """
    for stage in stages:  # noqa: SIM110 - the stages act; this is not a search
        if not stage(ctx):
            return False
    return True


__all__ = ["Pipeline", "RiskControls", "RoutingPolicy", "Stage", "run_stages"]
