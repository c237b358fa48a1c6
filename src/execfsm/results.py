"""
`PipelineResult`: what the execution layer gets back for one intent.
"""

from __future__ import annotations

from typing import Any

import attrs

from execfsm.contracts import Order, PipelineState, ReasonCode
from execfsm.ids import jsonable
from execfsm.ledger.recon import ReconRecord


@attrs.frozen
class PipelineResult:
    """
    What `submit_intent` (or `resume`) reports for one intent.
    """

    success: bool
    """True when the run completed and the venue did not reject or fail the order."""
    correlation_id: str
    idempotency_key: str
    order: Order | None
    """The order as it stood when the run stopped (the ledger has later changes)."""
    stage_reached: int
    """The stage (1-8) where the run stopped; 8 for a completed run."""
    pipeline_state: PipelineState
    reason_code: ReasonCode | None = None
    reason_detail: str = ""
    recon: ReconRecord | None = None

    @property
    def paused(self) -> bool:
        """
        True while the intent waits at the risk gate for `resume` or `abandon`.
        """
        return self.pipeline_state is PipelineState.PAUSED

    def to_json(self) -> dict[str, Any]:
        """
        The result as JSON data, as the durable store keeps it.
        """
        data: dict[str, Any] = jsonable(self)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PipelineResult:
        """
        A result read back from the store.
        """
        reason = data.get("reason_code")
        return cls(
            success=bool(data["success"]),
            correlation_id=data["correlation_id"],
            idempotency_key=data["idempotency_key"],
            order=None if data.get("order") is None else Order.from_dict(data["order"]),
            stage_reached=int(data["stage_reached"]),
            pipeline_state=PipelineState(data["pipeline_state"]),
            reason_code=None if reason is None else ReasonCode(reason),
            reason_detail=data.get("reason_detail", ""),
            recon=None if data.get("recon") is None else ReconRecord.from_dict(data["recon"]),
        )
