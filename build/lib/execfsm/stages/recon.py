"""
Stage 8, reconciliation hand-off: one record per intent (and per late event), sized by the
order, not by the ledgers.
"""

from __future__ import annotations

from execfsm.fsm.order import OrderLifecycle
from execfsm.ledger.recon import ReconRecord
from execfsm.stages._context import RunContext, Services


def hand_off(lifecycle: OrderLifecycle, services: Services, trigger: str) -> ReconRecord:
    """
    Record the order, its position and the audit records of its intent so far.
    """
    order = lifecycle.order
    first, last = services.audit.seq_range(order.correlation_id) or (0, 0)
    record = ReconRecord(
        correlation_id=order.correlation_id,
        client_order_id=order.client_order_id,
        order=order,
        position=services.positions.get(order.symbol),
        audit_seq_first=first,
        audit_seq_last=last,
        recon_flags=order.recon_flags,
        trigger=trigger,
    )
    services.recon.append(record)
    return record


def run(ctx: RunContext, *, services: Services) -> bool:
    """
    Hand the intent off and complete the run.
    """
    ctx.recon = hand_off(ctx.lifecycle, services, "intent")
    ctx.run.send("handed_off")
    return True
