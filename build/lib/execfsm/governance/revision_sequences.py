"""
Bounded exploration of venue-event sequences that revise an order (P5): fills of several
sizes, replaces down and up with the venue's answer, trade busts and corrections, cancels and
expiries followed by late fills, all applied through `OrderLifecycle.apply` (local events
through ``send``) on a real order machine with its own guards, callbacks and declared cases.

After every step the order must hold: the filled quantity is within the quantity in force
(the replaced quantity once the venue accepted a replace), it is the sum of the fills the
order counts, and leaves (`Order.remaining_quantity`) is 0 in a done state. Sequences are
replayed from a fresh machine; an order already seen (state, terms, fills, pending replace,
cancel origin, flags) is not expanded again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from decimal import Decimal

import attrs

from execfsm.clock import EPOCH, FixedClock
from execfsm.contracts import (
    FINAL_ORDER_STATES,
    EventKind,
    Fill,
    ReasonCode,
)
from execfsm.errors import ContractViolation, IllegalTransition
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.order import OrderLifecycle
from execfsm.fsm.properties import Verdict
from execfsm.governance.fill_sequences import ORDER, fill_step, local_step, venue_step
from execfsm.ledger.audit import AuditLog

Action = tuple[str, Callable[[OrderLifecycle], object]]


def _replace(quantity: int) -> Action:
    def send(lc: OrderLifecycle) -> object:
        try:
            lc.send("request_replace", replace=lc.replace_request(quantity=Decimal(quantity)))
        except (IllegalTransition, ContractViolation):
            return None
        return None

    return f"request_replace(quantity={quantity})", send


def _bust(fill_id: str) -> Action:
    return f"trade_bust({fill_id})", venue_step(EventKind.TRADE_BUST, exec_ref_id=fill_id)


def _correct(fill_id: str, new_id: str, qty: int, price: int = 1) -> Action:
    return f"trade_correct({fill_id}->{new_id},{qty}@{price})", venue_step(
        EventKind.TRADE_CORRECT, exec_ref_id=fill_id, fill=Fill(new_id, qty, price)
    )


ACTIONS: tuple[Action, ...] = (
    ("submit", local_step("submit")),
    ("ack", venue_step(EventKind.ACK)),
    fill_step("a", 1),
    fill_step("b", 2),
    fill_step("c", 3),
    fill_step("d", 4),
    _replace(2),
    _replace(6),
    ("replace_ack", venue_step(EventKind.REPLACE_ACK)),
    ("replace_reject", venue_step(EventKind.REPLACE_REJECT)),
    _bust("a"),
    _bust("d"),
    _correct("a", "a2", 4),
    _correct("c", "c2", 3, price=2),
    _correct("d", "d2", 2),
    ("request_cancel", local_step("request_cancel")),
    ("cancel_ack", venue_step(EventKind.CANCEL_ACK)),
    ("cancel_reject", venue_step(EventKind.CANCEL_REJECT)),
    ("expire", venue_step(EventKind.EXPIRE)),
    ("reject", venue_step(EventKind.REJECT, reason=ReasonCode.ADAPTER_REJECTED)),
)
"""The event alphabet: on an order of 4, fills of 1, 2, 3 and 4 under four ids, a replace
down to 2 and up to 6 with either answer, busts, corrections (one up to 4, which overfills
whenever another fill counts; one of the price only; one down), cancels, expiry and reject;
late fills are fills after the order ended."""


@attrs.frozen
class RevisionExploration:
    """
    The result: sequences explored, applied edges seen, and the first violation (if any).
    """

    sequences: int
    taken: frozenset[tuple[str, str, str]]
    violation: str = ""
    path: tuple[str, ...] = ()


def violation(lc: OrderLifecycle) -> str:
    """
    What is wrong with the order's quantities now, or "".
    """
    order = lc.order
    if order.filled_quantity > order.quantity:
        return (
            f"filled quantity {order.filled_quantity} > quantity in force {order.quantity} "
            f"({order.state})"
        )
    counted = sum((f.quantity for f in lc.fills), Decimal(0))
    if order.filled_quantity != counted:
        return f"filled quantity {order.filled_quantity} is not the {counted} its fills add up to"
    if order.state in FINAL_ORDER_STATES and order.remaining_quantity != 0:
        return f"leaves {order.remaining_quantity} in done state {order.state}"
    return ""


def _key(lc: OrderLifecycle) -> tuple[object, ...]:
    order = lc.order
    pending = lc.pending_replace
    return (
        order.state,
        order.quantity,
        order.filled_quantity,
        tuple((f.fill_id, f.quantity) for f in lc.fills),
        tuple(f.fill_id for f in lc.late_fills),
        tuple(f.fill_id for f in lc.retired_fills),
        None if pending is None else pending.quantity,
        lc.guard_context()["resume_state"],
        order.recon_flags,
    )


def explore_revisions(
    machine: type[OrderLifecycle] = OrderLifecycle, depth: int = 6
) -> RevisionExploration:
    """
    Explore every sequence of `ACTIONS` up to `depth` breadth-first, checking `violation`
    after each step; the first violation ends the search with its sequence.
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
            for count, step in enumerate(sequence, start=1):
                ACTIONS[step][1](lc)
                problem = violation(lc)
                if problem:
                    names = tuple(ACTIONS[i][0] for i in sequence[:count])
                    return RevisionExploration(sequences, frozenset(taken), problem, names)
            taken.update(
                (str(record.source), record.event, str(record.target))
                for record in audit.records
                if record.outcome is AuditOutcome.APPLIED
            )
            key = _key(lc)
            if key in seen or len(sequence) >= depth:
                continue
            seen.add(key)
            queue.append(sequence)
    return RevisionExploration(sequences, frozenset(taken))


def revisions_verdict(machine: type[OrderLifecycle], depth: int) -> Verdict:
    """
    P5's engine, as `OrderLifecycle` declares it: `explore_revisions` to `depth`.
    """
    found = explore_revisions(machine, depth)
    detail = found.violation or f"{found.sequences} sequences up to depth {depth}"
    return Verdict(not found.violation, detail, found.path, found.taken)


__all__ = ["ACTIONS", "RevisionExploration", "explore_revisions", "revisions_verdict", "violation"]
