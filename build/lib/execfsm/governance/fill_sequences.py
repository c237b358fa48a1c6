"""
Bounded exploration of fill sequences on a real order machine (P4).

Quantities are abstract (an order of 4 units; fills of 1 and 3 units under two ids, plus a
zero fill), so the exploration covers partial and complete fills, duplicates, conflicting ids,
overfills, cancels racing fills and events after the order is final, with the machine's own
guards and callbacks. Sequences are replayed from a fresh machine; states already seen (by
state, fills, cancel origin and flags) are not expanded again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from execfsm.clock import EPOCH, FixedClock
from execfsm.contracts import (
    FINAL_ORDER_STATES,
    EventKind,
    ExecutionEvent,
    Fill,
    Order,
    OrderIntent,
    OrderSide,
    OrderState,
    OrderType,
    ReasonCode,
)
from execfsm.errors import ContractViolation, IllegalTransition
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.order import OrderLifecycle
from execfsm.fsm.properties import Verdict
from execfsm.ledger.audit import AuditLog

QUANTITY = Decimal(4)
ORDER = Order.from_intent(
    OrderIntent("X/Y", OrderSide.BUY, QUANTITY, OrderType.LIMIT, "verify", limit_price=Decimal(1)),
    client_order_id="ord-verify",
    correlation_id="cor-verify",
    idempotency_key="key-verify",
)
"""The order every exploration starts from: a LIMIT BUY of `QUANTITY` at 1."""

Action = tuple[str, Callable[[OrderLifecycle], object]]


def venue_step(
    kind: EventKind,
    fill: Fill | None = None,
    reason: ReasonCode | None = None,
    exec_ref_id: str | None = None,
) -> Callable[[OrderLifecycle], object]:
    """
    A step that applies one venue event of `kind` to the explored order.
    """

    def send(lc: OrderLifecycle) -> object:
        event = ExecutionEvent(
            kind,
            "evt",
            lc.client_order_id,
            lc.correlation_id,
            EPOCH,
            fill=fill,
            reason_code=reason,
            exec_ref_id=exec_ref_id,
        )
        return lc.apply(event)

    return send


def local_step(name: str, **kwargs: Any) -> Callable[[OrderLifecycle], object]:
    """
    A step that sends the local event `name`; a refusal is part of the exploration.
    """

    def send(lc: OrderLifecycle) -> object:
        try:
            lc.send(name, **kwargs)
        except (IllegalTransition, ContractViolation):
            return None
        return None

    return send


def fill_step(fill_id: str, qty: int) -> Action:
    return f"fill({fill_id},{qty})", venue_step(EventKind.FILL, fill=Fill(fill_id, qty, 1))


ACTIONS: tuple[Action, ...] = (
    ("submit", local_step("submit")),
    ("ack", venue_step(EventKind.ACK)),
    fill_step("a", 1),
    fill_step("a", 3),
    fill_step("b", 1),
    fill_step("b", 3),
    fill_step("c", 4),
    fill_step("z", 0),
    ("request_cancel", local_step("request_cancel")),
    ("cancel_ack", venue_step(EventKind.CANCEL_ACK)),
    ("cancel_reject", venue_step(EventKind.CANCEL_REJECT)),
    ("expire", venue_step(EventKind.EXPIRE)),
    ("reject", venue_step(EventKind.REJECT, reason=ReasonCode.ADAPTER_REJECTED)),
    ("reject(no reason)", venue_step(EventKind.REJECT)),
    ("fail", local_step("fail", reason_code=ReasonCode.ADAPTER_ERROR)),
)
"""The event alphabet of the exploration."""

_RANK = {
    OrderState.CREATED: 0,
    OrderState.SUBMITTED: 1,
    OrderState.ACKNOWLEDGED: 2,
    OrderState.PARTIALLY_FILLED: 3,
}


@attrs.frozen
class FillExploration:
    """
    The result: sequences explored, applied edges seen, and the first violation (if any).
    """

    sequences: int
    taken: frozenset[tuple[str, str, str]]
    violation: str = ""
    path: tuple[str, ...] = ()


def _rank(lc: OrderLifecycle, before: int) -> int:
    state = lc.order.state
    if state in FINAL_ORDER_STATES:
        return 10
    if state is OrderState.PENDING_CANCEL:
        return before  # a detour: progress is what it returns to
    return _RANK[state]


def _key(lc: OrderLifecycle) -> tuple[object, ...]:
    order = lc.order
    return (
        order.state,
        order.filled_quantity,
        tuple((f.fill_id, f.quantity) for f in lc.fills),
        tuple(f.fill_id for f in lc.late_fills),
        lc.guard_context()["resume_state"],
        order.recon_flags,
    )


def explore_fills(
    machine: type[OrderLifecycle] = OrderLifecycle, depth: int = 6
) -> FillExploration:
    """
    Explore every sequence of `ACTIONS` up to `depth`, checking after each step that the
    cumulative fill never exceeds the quantity and the order never moves backwards.
    """
    seen: set[tuple[object, ...]] = set()
    taken: set[tuple[str, str, str]] = set()
    queue: deque[tuple[int, ...]] = deque([()])
    sequences = 0
    while queue:
        prefix = queue.popleft()
        for index in range(len(ACTIONS)):
            sequence = (*prefix, index)
            sequences += 1
            audit = AuditLog(FixedClock(EPOCH))
            lc = machine(ORDER, audit)
            rank, filled = 0, Decimal(0)
            final: OrderState | None = None
            for step in sequence:
                ACTIONS[step][1](lc)
                order = lc.order
                new_rank = _rank(lc, rank)
                names = tuple(ACTIONS[i][0] for i in sequence)
                if order.filled_quantity > order.quantity:
                    problem = f"cumulative fill {order.filled_quantity} > quantity {order.quantity}"
                    return FillExploration(sequences, frozenset(taken), problem, names)
                if (
                    new_rank < rank
                    or order.filled_quantity < filled
                    or (final is not None and order.state is not final)
                ):
                    return FillExploration(
                        sequences,
                        frozenset(taken),
                        f"order moved backwards to {order.state} (filled {order.filled_quantity})",
                        names,
                    )
                rank, filled = new_rank, order.filled_quantity
                final = order.state if order.state in FINAL_ORDER_STATES else None
            for record in audit.records:
                if (
                    record.outcome is AuditOutcome.APPLIED
                    and record.reason_code is not ReasonCode.FILL_AFTER_FINAL
                ):
                    taken.add((str(record.source), record.event, str(record.target)))
            key = _key(lc)
            if key in seen or len(sequence) >= depth:
                continue
            seen.add(key)
            queue.append(sequence)
    return FillExploration(sequences, frozenset(taken))


def fills_verdict(machine: type[OrderLifecycle], depth: int) -> Verdict:
    """
    P4's engine, as `OrderLifecycle` declares it: `explore_fills` to `depth`.
    """
    fills = explore_fills(machine, depth)
    detail = fills.violation or f"{fills.sequences} sequences up to depth {depth}"
    return Verdict(not fills.violation, detail, fills.path, fills.taken)
