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
    duplicate: bool = False
    """True when this answers a resubmission: the original result, nothing was run again."""

    @property
    def paused(self) -> bool:
        """
        True while the intent waits at the risk gate for `resume` or `abandon`.
        """
        return self.pipeline_state is PipelineState.PAUSED

    def packed(self) -> tuple[Any, ...]:
        """
        The result as a tuple of plain values (see `Order.packed`): the orchestrator keeps
        every result of a session to answer resubmissions.
        """
        return (
            self.success,
            self.correlation_id,
            self.idempotency_key,
            None if self.order is None else self.order.packed(),
            self.stage_reached,
            self.pipeline_state.value,
            None if self.reason_code is None else self.reason_code.value,
            self.reason_detail,
            None if self.recon is None else self.recon.packed(),
            self.duplicate,
        )

    @classmethod
    def from_packed(cls, packed: tuple[Any, ...]) -> PipelineResult:
        """
        The result `packed` was made from.
        """
        success, correlation_id, key, order, stage, state, reason, detail, recon, dup = packed
        return cls(
            success,
            correlation_id,
            key,
            None if order is None else Order.from_packed(order),
            stage,
            PipelineState(state),
            None if reason is None else ReasonCode(reason),
            detail,
            None if recon is None else ReconRecord.from_packed(recon),
            dup,
        )

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
            duplicate=bool(data.get("duplicate", False)),
        )


class ResultBook:
    """
    Every result of a session, by idempotency key, to answer resubmissions. Kept packed: a
    backtest keeps millions, and the cyclic GC walks every attrs object at each full
    collection, so live results would make each intent cost more than the one before.
    """

    def __init__(self) -> None:
        self._packed: dict[str, tuple[Any, ...]] = {}

    def keep(self, result: PipelineResult) -> None:
        """
        Remember `result` under its idempotency key (replacing a paused intent's result).
        """
        self._packed[result.idempotency_key] = result.packed()

    def get(self, key: str) -> PipelineResult | None:
        """
        The result kept for `key`, or None.
        """
        packed = self._packed.get(key)
        return None if packed is None else PipelineResult.from_packed(packed)

    def __getitem__(self, key: str) -> PipelineResult:
        return PipelineResult.from_packed(self._packed[key])

    def __contains__(self, key: object) -> bool:
        return key in self._packed

    def __len__(self) -> int:
        return len(self._packed)
