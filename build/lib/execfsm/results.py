"""
`PipelineResult`: what the execution layer gets back for one intent.
"""

from __future__ import annotations

import attrs

from execfsm.contracts import Order, PipelineState, ReasonCode
from execfsm.ids import decode, encode_fixed
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


class ResultBook:
    """
    Every result of a session, by idempotency key, to answer resubmissions. Kept encoded
    (`execfsm.ids.encode`): a backtest keeps millions, and the cyclic GC walks every attrs
    object at each full collection, so live results would make each intent cost more than
    the one before.
    """

    def __init__(self) -> None:
        self._packed: dict[str, bytes] = {}

    def keep(self, result: PipelineResult) -> None:
        """
        Remember `result` under its idempotency key (replacing a paused intent's result).
        """
        self._packed[result.idempotency_key] = encode_fixed(result)  # kept in memory only

    def get(self, key: str) -> PipelineResult | None:
        """
        The result kept for `key`, or None.
        """
        packed = self._packed.get(key)
        return None if packed is None else decode(PipelineResult, packed)

    def __getitem__(self, key: str) -> PipelineResult:
        return decode(PipelineResult, self._packed[key])

    def __contains__(self, key: object) -> bool:
        return key in self._packed

    def __len__(self) -> int:
        return len(self._packed)
