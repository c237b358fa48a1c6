"""
Order scenarios written as data from the FIX 4.4 Volume 4 Appendix D order state change
matrices (refs A.1.a … J.1.d) and issue 17: order terms, then steps, each a local action or
a venue event with what must hold after it.

Quantities are the matrices' divided by 1000 (an order of 10 for their 10000). The
expectations were written from the matrices and the issue text, not from the code: where
the two disagree, the scenario keeps the FIX expectation and names the disagreement in
``disagrees`` (the tests mark it as an expected failure, strict, so a fix shows up).

Mapping to FIX: ACK = ExecType New, FILL = Trade, REJECT = Rejected, CANCEL_ACK = Canceled
(solicited or not), CANCEL_REJECT / REPLACE_REJECT = OrderCancelReject with CxlRejResponseTo
1 / 2, REPLACE_ACK = Replaced, EXPIRE = Expired or Done for Day (a day order: leaves 0),
TRADE_BUST = Trade Cancel, TRADE_CORRECT = Trade Correct; a pending status (Pending Cancel,
Pending Replace) is ours as soon as we send the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from execfsm.contracts import OrderSide, OrderState, ReasonCode
from execfsm.fsm.audit import AuditOutcome

S = OrderState
R = ReasonCode
APPLIED, DUPLICATE, REFUSED = AuditOutcome.APPLIED, AuditOutcome.DUPLICATE, AuditOutcome.REFUSED


@dataclass(frozen=True)
class Action:
    """
    One step's input: a local action (submit, blocked, request_cancel, request_replace) or a
    venue event kind (ACK, FILL, …) with its arguments.
    """

    name: str
    fill_id: str | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    ref: str | None = None

    @property
    def local(self) -> bool:
        """
        True for an action we take (no venue event).
        """
        return self.name in LOCAL


LOCAL = frozenset({"submit", "blocked", "request_cancel", "request_replace"})


@dataclass(frozen=True)
class Expect:
    """
    What holds after a step: state, cumulative and leaves quantity, quantity in force, the
    step's outcome and reason, the signed position change of the step, the flags so far
    (and, where given, the limit price in force and the client order id suffix).
    """

    state: OrderState
    cum: Decimal
    leaves: Decimal
    qty: Decimal
    outcome: AuditOutcome
    reason: ReasonCode | None
    delta: Decimal
    flags: tuple[ReasonCode, ...]
    price: Decimal | None = None
    clordid_suffix: str | None = None
    avg: Decimal | None = None
    """The average fill price (FIX AvgPx), where given."""


@dataclass(frozen=True)
class Step:
    action: Action
    expect: Expect


@dataclass(frozen=True)
class Scenario:
    id: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    steps: tuple[Step, ...]
    disagrees: str = ""
    """Where the code is known to differ from the expectation (FIX's or the issue's)."""

    @property
    def replaces(self) -> bool:
        """
        True if a step asks for a replace (through the orchestrator: ``orch.replace``).
        """
        return any(step.action.name == "request_replace" for step in self.steps)


# -- actions ---------------------------------------------------------------------------------


def _d(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def submit() -> Action:
    return Action("submit")


def blocked() -> Action:
    """The risk gate blocks the order: it fails before dispatch, never sent."""
    return Action("blocked")


def cancel() -> Action:
    return Action("request_cancel")


def replace(qty: Any = None, price: Any = None) -> Action:
    return Action("request_replace", quantity=_d(qty), price=_d(price))


def ack() -> Action:
    return Action("ACK")


def fill(fill_id: str, qty: Any, price: Any = 100) -> Action:
    return Action("FILL", fill_id=fill_id, quantity=_d(qty), price=_d(price))


def reject() -> Action:
    return Action("REJECT")


def cancel_ack() -> Action:
    return Action("CANCEL_ACK")


def cancel_reject() -> Action:
    return Action("CANCEL_REJECT")


def replace_ack() -> Action:
    return Action("REPLACE_ACK")


def replace_reject() -> Action:
    return Action("REPLACE_REJECT")


def expire() -> Action:
    return Action("EXPIRE")


def bust(ref: str) -> Action:
    return Action("TRADE_BUST", ref=ref)


def correct(ref: str, fill_id: str, qty: Any, price: Any = 100) -> Action:
    return Action("TRADE_CORRECT", fill_id=fill_id, quantity=_d(qty), price=_d(price), ref=ref)


# -- scenarios ---------------------------------------------------------------------------------

_NO_FLAGS: tuple[ReasonCode, ...] = ()


def scenario(
    id: str,
    *rows: tuple[Any, ...],
    side: OrderSide = OrderSide.BUY,
    qty: Any = 10,
    price: Any = 100,
    disagrees: str = "",
) -> Scenario:
    """
    A scenario from rows ``(action, state, cum, leaves, **optional)`` where the optional
    dict may set qty (in force; else as before), out (default applied), reason, delta
    (default 0), flags (so far; else as before), price, clordid, avg.
    """
    steps = []
    in_force = Decimal(str(qty))
    flags = _NO_FLAGS
    for row in rows:
        action, state, cum, leaves, *rest = row
        extra: dict[str, Any] = rest[0] if rest else {}
        in_force = _d(extra.get("qty", in_force)) or in_force
        flags = extra.get("flags", flags)
        steps.append(
            Step(
                action,
                Expect(
                    state=state,
                    cum=Decimal(str(cum)),
                    leaves=Decimal(str(leaves)),
                    qty=in_force,
                    outcome=extra.get("out", APPLIED),
                    reason=extra.get("reason"),
                    delta=Decimal(str(extra.get("delta", 0))),
                    flags=tuple(flags),
                    price=_d(extra.get("price")),
                    clordid_suffix=extra.get("clordid"),
                    avg=_d(extra.get("avg")),
                ),
            )
        )
    return Scenario(id, side, Decimal(str(qty)), Decimal(str(price)), tuple(steps), disagrees)


def dup(reason: ReasonCode, **more: Any) -> dict[str, Any]:
    return {"out": DUPLICATE, "reason": reason, **more}


def refused(reason: ReasonCode, **more: Any) -> dict[str, Any]:
    return {"out": REFUSED, "reason": reason, **more}


def flagged(reason: ReasonCode, so_far: tuple[ReasonCode, ...] = (), **more: Any) -> dict[str, Any]:
    """A refusal that flags the order with `reason` (after the flags `so_far`)."""
    return {"out": REFUSED, "reason": reason, "flags": (*so_far, reason), **more}


SUB = (submit(), S.SUBMITTED, 0, 10)
ACK = (ack(), S.ACKNOWLEDGED, 0, 10)
BUY, SELL = OrderSide.BUY, OrderSide.SELL
LATE = R.FILL_AFTER_FINAL

SCENARIOS: tuple[Scenario, ...] = (
    # -- A: vanilla ---------------------------------------------------------------------------
    scenario(
        "A.1.a filled in three parts",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (fill("f2", 1, 101), S.PARTIALLY_FILLED, 3, 7, {"delta": 1}),
        (fill("f3", 7, 99), S.FILLED, 10, 0, {"delta": 7}),
    ),
    scenario(
        "A.1.a sell filled in two parts",
        SUB,
        ACK,
        (fill("f1", 4), S.PARTIALLY_FILLED, 4, 6, {"delta": -4}),
        (fill("f2", 6), S.FILLED, 10, 0, {"delta": -6}),
        side=SELL,
    ),
    scenario(
        "A.1.a filled before the ACK, late ACK absorbed",
        SUB,
        (fill("f1", 10), S.FILLED, 10, 0, {"delta": 10}),
        (ack(), S.FILLED, 10, 0, dup(R.ACK_ABSORBED)),
    ),
    scenario(
        "A.1.a repeated ACK absorbed",
        SUB,
        ACK,
        (ack(), S.ACKNOWLEDGED, 0, 10, dup(R.ACK_ABSORBED)),
    ),
    scenario(
        "A.1.b part-filled day order, done for day",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (fill("f2", 1), S.PARTIALLY_FILLED, 3, 7, {"delta": 1}),
        (expire(), S.EXPIRED, 3, 0),
    ),
    scenario(
        "A.1.b sell day order done for day unfilled",
        SUB,
        ACK,
        (expire(), S.EXPIRED, 0, 0),
        (expire(), S.EXPIRED, 0, 0, dup(R.EVENT_REPEATED)),
        side=SELL,
    ),
    scenario(
        "A.1.b done for day before the ACK",
        SUB,
        (expire(), S.EXPIRED, 0, 0),
    ),
    # -- B: cancel -----------------------------------------------------------------------------
    scenario(
        "B.1.a cancel of a zero-filled order",
        SUB,
        ACK,
        (cancel(), S.PENDING_CANCEL, 0, 10),
        (cancel_ack(), S.CANCELLED, 0, 0),
    ),
    scenario(
        "B.1.a cancel of a zero-filled order rejected",
        SUB,
        ACK,
        (cancel(), S.PENDING_CANCEL, 0, 10),
        (cancel_reject(), S.ACKNOWLEDGED, 0, 10),
    ),
    scenario(
        "B.1.b executions whilst the cancel is pending",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (cancel(), S.PENDING_CANCEL, 2, 8),
        (fill("f2", 3), S.PENDING_CANCEL, 5, 5, {"delta": 3}),
        (fill("f3", 1), S.PENDING_CANCEL, 6, 4, {"delta": 1}),
        (cancel_ack(), S.CANCELLED, 6, 0),
    ),
    scenario(
        "B.1.b sell execution whilst the cancel is pending, cancel rejected",
        SUB,
        ACK,
        (cancel(), S.PENDING_CANCEL, 0, 10),
        (fill("f1", 3), S.PENDING_CANCEL, 3, 7, {"delta": -3}),
        (cancel_reject(), S.PARTIALLY_FILLED, 3, 7),
        (fill("f2", 7), S.FILLED, 10, 0, {"delta": -7}),
        side=SELL,
    ),
    scenario(
        "B.1.c filled before the cancel is accepted",
        SUB,
        ACK,
        (fill("f1", 1), S.PARTIALLY_FILLED, 1, 9, {"delta": 1}),
        (cancel(), S.PENDING_CANCEL, 1, 9),
        (fill("f2", 9), S.FILLED, 10, 0, {"delta": 9}),
        (cancel_reject(), S.FILLED, 10, 0, dup(R.EVENT_ABSORBED)),
    ),
    scenario(
        "B.1.c CANCEL_ACK on a FILLED order is a contradiction",
        SUB,
        ACK,
        (cancel(), S.PENDING_CANCEL, 0, 10),
        (fill("f1", 10), S.FILLED, 10, 0, {"delta": 10}),
        (cancel_ack(), S.FILLED, 10, 0, flagged(R.VENUE_CONTRADICTION)),
    ),
    scenario(
        "B.1.d cancel before the ACK",
        SUB,
        (cancel(), S.PENDING_CANCEL, 0, 10),
        (cancel_ack(), S.CANCELLED, 0, 0),
    ),
    scenario(
        "B.1.d cancel before the ACK rejected",
        SUB,
        (cancel(), S.PENDING_CANCEL, 0, 10),
        (cancel_reject(), S.SUBMITTED, 0, 10),
    ),
    scenario(
        "B.1.e ACK crosses the cancel, then cancelled",
        SUB,
        (cancel(), S.PENDING_CANCEL, 0, 10),
        (ack(), S.PENDING_CANCEL, 0, 10, dup(R.ACK_ABSORBED)),
        (cancel_ack(), S.CANCELLED, 0, 0),
    ),
    scenario(
        "B.1.e ACK crosses the cancel, then cancel rejected",
        SUB,
        (cancel(), S.PENDING_CANCEL, 0, 10),
        (ack(), S.PENDING_CANCEL, 0, 10, dup(R.ACK_ABSORBED)),
        (cancel_reject(), S.ACKNOWLEDGED, 0, 10),
    ),
    scenario(
        "B local cancel of a filled order refused",
        SUB,
        ACK,
        (fill("f1", 10), S.FILLED, 10, 0, {"delta": 10}),
        (cancel(), S.FILLED, 10, 0, refused(R.ILLEGAL_TRANSITION)),
    ),
    scenario(
        "B second cancel while one is pending refused locally",
        SUB,
        ACK,
        (cancel(), S.PENDING_CANCEL, 0, 10),
        (cancel(), S.PENDING_CANCEL, 0, 10, refused(R.ILLEGAL_TRANSITION)),
        (cancel_ack(), S.CANCELLED, 0, 0),
        (cancel_ack(), S.CANCELLED, 0, 0, dup(R.EVENT_REPEATED)),
    ),
    # -- C.1: replace to increase quantity ------------------------------------------------------
    scenario(
        "C.1.a zero-filled order replaced up",
        SUB,
        ACK,
        (replace(12), S.PENDING_REPLACE, 0, 10),
        (replace_ack(), S.ACKNOWLEDGED, 0, 12, {"qty": 12, "clordid": ".r1"}),
        (fill("f1", 12), S.FILLED, 12, 0, {"delta": 12}),
    ),
    scenario(
        "C.1.a zero-filled order replace up rejected",
        SUB,
        ACK,
        (replace(12), S.PENDING_REPLACE, 0, 10),
        (replace_reject(), S.ACKNOWLEDGED, 0, 10, {"qty": 10, "price": 100}),
    ),
    scenario(
        "C.1.b part-filled replaced up, execution whilst pending replace",
        SUB,
        ACK,
        (fill("f1", 1), S.PARTIALLY_FILLED, 1, 9, {"delta": 1}),
        (replace(12), S.PENDING_REPLACE, 1, 9),
        (fill("f2", 1), S.PENDING_REPLACE, 2, 8, {"delta": 1}),
        (replace_ack(), S.PARTIALLY_FILLED, 2, 10, {"qty": 12}),
        (fill("f3", 10), S.FILLED, 12, 0, {"delta": 10}),
    ),
    scenario(
        "C.1.b sell part-filled replace up rejected after a racing fill",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": -2}),
        (replace(15), S.PENDING_REPLACE, 2, 8),
        (fill("f2", 1), S.PENDING_REPLACE, 3, 7, {"delta": -1}),
        (replace_reject(), S.PARTIALLY_FILLED, 3, 7, {"qty": 10}),
        side=SELL,
    ),
    scenario(
        "C.1.b fills during the replace reach the old quantity first",
        SUB,
        ACK,
        (replace(12), S.PENDING_REPLACE, 0, 10),
        (fill("f1", 10), S.FILLED, 10, 0, {"delta": 10}),
        (replace_reject(), S.FILLED, 10, 0, dup(R.EVENT_ABSORBED)),
    ),
    scenario(
        "C.1.c filled order replaced up re-opens",
        SUB,
        ACK,
        (fill("f1", 10), S.FILLED, 10, 0, {"delta": 10}),
        (replace(12), S.PENDING_REPLACE, 10, 0),
        (replace_ack(), S.PARTIALLY_FILLED, 10, 2, {"qty": 12}),
        (fill("f2", 2), S.FILLED, 12, 0, {"delta": 2}),
    ),
    # -- C.2: replace not for quantity change ----------------------------------------------------
    scenario(
        "C.2.a price-only replace rejected as a fill has occurred",
        SUB,
        ACK,
        (fill("f1", 1), S.PARTIALLY_FILLED, 1, 9, {"delta": 1}),
        (replace(price=99), S.PENDING_REPLACE, 1, 9),
        (fill("f2", 9), S.FILLED, 10, 0, {"delta": 9}),
        (replace_reject(), S.FILLED, 10, 0, dup(R.EVENT_ABSORBED, price=100)),
    ),
    scenario(
        "C.2 price-only replace accepted",
        SUB,
        ACK,
        (replace(price=101), S.PENDING_REPLACE, 0, 10, {"price": 100}),
        (replace_ack(), S.ACKNOWLEDGED, 0, 10, {"price": 101, "clordid": ".r1"}),
        (fill("f1", 10, 101), S.FILLED, 10, 0, {"delta": 10}),
    ),
    scenario(
        "C.2 replace to a non-positive price refused locally",
        SUB,
        ACK,
        (replace(price=0), S.ACKNOWLEDGED, 0, 10, refused(R.VALIDATION_INVALID_PRICE, price=100)),
    ),
    # -- C.3: replace to decrease quantity ------------------------------------------------------
    scenario(
        "C.3.a replaced down above cum qty, then filled",
        SUB,
        ACK,
        (fill("f1", 1), S.PARTIALLY_FILLED, 1, 9, {"delta": 1}),
        (replace(8), S.PENDING_REPLACE, 1, 9),
        (fill("f2", "0.5"), S.PENDING_REPLACE, "1.5", "8.5", {"delta": "0.5"}),
        (fill("f3", "0.1"), S.PENDING_REPLACE, "1.6", "8.4", {"delta": "0.1"}),
        (replace_ack(), S.PARTIALLY_FILLED, "1.6", "6.4", {"qty": 8}),
        (fill("f4", "6.4"), S.FILLED, 8, 0, {"delta": "6.4"}),
    ),
    scenario(
        "C.3.a replace down rejected",
        SUB,
        ACK,
        (fill("f1", 1), S.PARTIALLY_FILLED, 1, 9, {"delta": 1}),
        (replace(8), S.PENDING_REPLACE, 1, 9),
        (fill("f2", "0.5"), S.PENDING_REPLACE, "1.5", "8.5", {"delta": "0.5"}),
        (replace_reject(), S.PARTIALLY_FILLED, "1.5", "8.5", {"qty": 10}),
    ),
    scenario(
        "C.3.b replaced down to exactly the cum qty by a racing fill",
        SUB,
        ACK,
        (replace(7), S.PENDING_REPLACE, 0, 10),
        (fill("f1", 7), S.PENDING_REPLACE, 7, 3, {"delta": 7}),
        (replace_ack(), S.FILLED, 7, 0, {"qty": 7}),
    ),
    scenario(
        "C.3.b sell replaced down to exactly the cum qty",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": -2}),
        (replace(5), S.PENDING_REPLACE, 2, 8),
        (fill("f2", 3), S.PENDING_REPLACE, 5, 5, {"delta": -3}),
        (replace_ack(), S.FILLED, 5, 0, {"qty": 5}),
        side=SELL,
    ),
    scenario(
        "C.3.c replaced below the cum qty by a racing fill, amended to cum qty",
        SUB,
        ACK,
        (replace(7), S.PENDING_REPLACE, 0, 10),
        (fill("f1", 8), S.PENDING_REPLACE, 8, 2, {"delta": 8}),
        (replace_ack(), S.FILLED, 8, 0, {"qty": 8}),
    ),
    scenario(
        "C.3 replace below the cum qty refused locally",
        SUB,
        ACK,
        (fill("f1", 5), S.PARTIALLY_FILLED, 5, 5, {"delta": 5}),
        (replace(4), S.PARTIALLY_FILLED, 5, 5, refused(R.VALIDATION_INVALID_QUANTITY)),
    ),
    scenario(
        "C.3 replace down to the cum qty refused locally",
        SUB,
        ACK,
        (fill("f1", 5), S.PARTIALLY_FILLED, 5, 5, {"delta": 5}),
        (replace(5), S.PARTIALLY_FILLED, 5, 5, refused(R.VALIDATION_INVALID_QUANTITY)),
        (fill("f2", 5), S.FILLED, 10, 0, {"delta": 5}),
    ),
    # -- D: replace sequencing and chaining ----------------------------------------------------
    scenario(
        "D.1.a two replaces accepted in sequence",
        SUB,
        ACK,
        (replace(8), S.PENDING_REPLACE, 0, 10),
        (replace_ack(), S.ACKNOWLEDGED, 0, 8, {"qty": 8, "clordid": ".r1"}),
        (replace(6, 99), S.PENDING_REPLACE, 0, 8),
        (replace_ack(), S.ACKNOWLEDGED, 0, 6, {"qty": 6, "price": 99, "clordid": ".r2"}),
    ),
    scenario(
        "D.1.b replace rejected, the next one accepted",
        SUB,
        ACK,
        (replace(8), S.PENDING_REPLACE, 0, 10),
        (replace_reject(), S.ACKNOWLEDGED, 0, 10),
        (replace(6), S.PENDING_REPLACE, 0, 10),
        (replace_ack(), S.ACKNOWLEDGED, 0, 6, {"qty": 6, "clordid": ".r2"}),
    ),
    scenario(
        "D.1.c replace rejected after a fill, the next one accepted",
        SUB,
        ACK,
        (fill("f1", 1), S.PARTIALLY_FILLED, 1, 9, {"delta": 1}),
        (replace(8), S.PENDING_REPLACE, 1, 9),
        (fill("f2", 1), S.PENDING_REPLACE, 2, 8, {"delta": 1}),
        (replace_reject(), S.PARTIALLY_FILLED, 2, 8),
        (replace(9), S.PENDING_REPLACE, 2, 8),
        (replace_ack(), S.PARTIALLY_FILLED, 2, 7, {"qty": 9}),
    ),
    scenario(
        "D.2.c second replace while one is pending refused locally",
        SUB,
        ACK,
        (fill("f1", 1), S.PARTIALLY_FILLED, 1, 9, {"delta": 1}),
        (replace(8), S.PENDING_REPLACE, 1, 9),
        (replace(7), S.PENDING_REPLACE, 1, 9, refused(R.ILLEGAL_TRANSITION)),
        (replace_ack(), S.PARTIALLY_FILLED, 1, 7, {"qty": 8, "clordid": ".r1"}),
        (fill("f2", 2), S.PARTIALLY_FILLED, 3, 5, {"delta": 2}),
    ),
    scenario(
        "D cancel while a replace is pending, the replace answered first",
        SUB,
        ACK,
        (replace(8), S.PENDING_REPLACE, 0, 10),
        (cancel(), S.PENDING_CANCEL, 0, 10),
        (replace_ack(), S.PENDING_CANCEL, 0, 8, {"qty": 8}),
        (cancel_ack(), S.CANCELLED, 0, 0),
    ),
    scenario(
        "D cancel while a replace is pending, the cancel rejected: back to the replace",
        SUB,
        ACK,
        (replace(8), S.PENDING_REPLACE, 0, 10),
        (cancel(), S.PENDING_CANCEL, 0, 10),
        (cancel_reject(), S.PENDING_REPLACE, 0, 10),
        (replace_reject(), S.ACKNOWLEDGED, 0, 10),
    ),
    scenario(
        "D cancel while a replace is pending, the replace refused then the cancel rejected",
        SUB,
        ACK,
        (replace(8), S.PENDING_REPLACE, 0, 10),
        (cancel(), S.PENDING_CANCEL, 0, 10),
        (replace_reject(), S.PENDING_CANCEL, 0, 10),
        (cancel_reject(), S.ACKNOWLEDGED, 0, 10),
    ),
    scenario(
        "D replace while a cancel is pending refused locally",
        SUB,
        ACK,
        (cancel(), S.PENDING_CANCEL, 0, 10),
        (replace(8), S.PENDING_CANCEL, 0, 10, refused(R.ILLEGAL_TRANSITION)),
        (cancel_ack(), S.CANCELLED, 0, 0),
    ),
    scenario(
        "D REPLACE_ACK with no replace pending is a contradiction",
        SUB,
        ACK,
        (replace_ack(), S.ACKNOWLEDGED, 0, 10, flagged(R.VENUE_CONTRADICTION)),
    ),
    scenario(
        "D repeated REPLACE_REJECT absorbed",
        SUB,
        ACK,
        (replace(8), S.PENDING_REPLACE, 0, 10),
        (replace_reject(), S.ACKNOWLEDGED, 0, 10),
        (replace_reject(), S.ACKNOWLEDGED, 0, 10, dup(R.EVENT_REPEATED)),
    ),
    scenario(
        "D unsolicited cancel while a replace is pending",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (replace(8), S.PENDING_REPLACE, 2, 8),
        (cancel_ack(), S.CANCELLED, 2, 0, {"qty": 10}),
    ),
    scenario(
        "D done for day while a replace is pending",
        SUB,
        ACK,
        (replace(8), S.PENDING_REPLACE, 0, 10),
        (expire(), S.EXPIRED, 0, 0, {"qty": 10}),
        (replace_reject(), S.EXPIRED, 0, 0, dup(R.EVENT_ABSORBED)),
    ),
    scenario(
        "D venue rejects the order while a replace is pending",
        SUB,
        ACK,
        (replace(8), S.PENDING_REPLACE, 0, 10),
        (reject(), S.REJECTED, 0, 0),
    ),
    # -- E: unsolicited ---------------------------------------------------------------------------
    scenario(
        "E.1.b unsolicited cancel of a part-filled order",
        SUB,
        ACK,
        (fill("f1", 1), S.PARTIALLY_FILLED, 1, 9, {"delta": 1}),
        (cancel_ack(), S.CANCELLED, 1, 0),
        (cancel_ack(), S.CANCELLED, 1, 0, dup(R.EVENT_REPEATED)),
    ),
    scenario(
        "E.1.b unsolicited cancel of an acknowledged order",
        SUB,
        ACK,
        (cancel_ack(), S.CANCELLED, 0, 0),
        (expire(), S.CANCELLED, 0, 0, dup(R.EVENT_ABSORBED)),
    ),
    # -- F: reject ------------------------------------------------------------------------------
    scenario(
        "F.1 order rejected",
        SUB,
        (reject(), S.REJECTED, 0, 0),
        (reject(), S.REJECTED, 0, 0, dup(R.EVENT_REPEATED)),
    ),
    scenario(
        "F.1 order rejected after the ACK",
        SUB,
        ACK,
        (reject(), S.REJECTED, 0, 0),
    ),
    scenario(
        "F.1 ACK after a reject is refused and flagged",
        SUB,
        (reject(), S.REJECTED, 0, 0),
        (ack(), S.REJECTED, 0, 0, flagged(R.ACK_AFTER_FAILURE)),
    ),
    scenario(
        "F REJECT on a PARTIALLY_FILLED order is a contradiction",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (reject(), S.PARTIALLY_FILLED, 2, 8, flagged(R.VENUE_CONTRADICTION)),
    ),
    scenario(
        "F PENDING_CANCEL to REJECTED",
        SUB,
        ACK,
        (cancel(), S.PENDING_CANCEL, 0, 10),
        (reject(), S.REJECTED, 0, 0),
    ),
    scenario(
        "F REJECT of a pending cancel with fills is a contradiction",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (cancel(), S.PENDING_CANCEL, 2, 8),
        (reject(), S.PENDING_CANCEL, 2, 8, flagged(R.VENUE_CONTRADICTION)),
        (cancel_ack(), S.CANCELLED, 2, 0),
    ),
    scenario(
        "F CANCEL_ACK and EXPIRE on a REJECTED order are contradictions",
        SUB,
        (reject(), S.REJECTED, 0, 0),
        (cancel_ack(), S.REJECTED, 0, 0, flagged(R.VENUE_CONTRADICTION)),
        (expire(), S.REJECTED, 0, 0, refused(R.VENUE_CONTRADICTION)),
    ),
    scenario(
        "F FILL on a never-sent order is refused and flagged",
        (blocked(), S.FAILED, 0, 0),
        (fill("f1", 2), S.FAILED, 0, 0, flagged(R.FILL_FOR_UNSENT_ORDER)),
    ),
    scenario(
        "F CANCEL_ACK on a never-sent order is a contradiction",
        (blocked(), S.FAILED, 0, 0),
        (cancel_ack(), S.FAILED, 0, 0, flagged(R.VENUE_CONTRADICTION)),
    ),
    # -- I: time in force (IOC / FOK remainders) --------------------------------------------------
    scenario(
        "I.1.a FOK that cannot be filled is cancelled",
        SUB,
        (cancel_ack(), S.CANCELLED, 0, 0),
    ),
    scenario(
        "I.1.c IOC partially filled, remainder cancelled",
        SUB,
        (fill("f1", 4), S.PARTIALLY_FILLED, 4, 6, {"delta": 4}),
        (cancel_ack(), S.CANCELLED, 4, 0),
    ),
    # -- fills after the order is done ----------------------------------------------------------
    scenario(
        "fill after cancel within quantity is booked and counted",
        SUB,
        ACK,
        (fill("f1", 8), S.PARTIALLY_FILLED, 8, 2, {"delta": 8}),
        (cancel(), S.PENDING_CANCEL, 8, 2),
        (cancel_ack(), S.CANCELLED, 8, 0),
        (
            fill("f2", 2, 110),
            S.CANCELLED,
            10,
            0,
            {"reason": LATE, "delta": 2, "flags": (LATE,), "avg": 102},
        ),
    ),
    scenario(
        "fill after cancel beyond quantity is refused",
        SUB,
        ACK,
        (fill("f1", 8), S.PARTIALLY_FILLED, 8, 2, {"delta": 8}),
        (cancel(), S.PENDING_CANCEL, 8, 2),
        (cancel_ack(), S.CANCELLED, 8, 0),
        (fill("f2", 5), S.CANCELLED, 8, 0, flagged(R.FILL_OVERFILL)),
    ),
    scenario(
        "sell fill after expiry within quantity is booked and counted",
        SUB,
        ACK,
        (expire(), S.EXPIRED, 0, 0),
        (fill("f1", 3), S.EXPIRED, 3, 0, {"reason": LATE, "delta": -3, "flags": (LATE,)}),
        (fill("f1", 3), S.EXPIRED, 3, 0, dup(R.FILL_DUPLICATE)),
        side=SELL,
    ),
    scenario(
        "second fill id after FILLED is an overfill",
        SUB,
        ACK,
        (fill("f1", 10), S.FILLED, 10, 0, {"delta": 10}),
        (fill("f2", 1), S.FILLED, 10, 0, flagged(R.FILL_OVERFILL)),
    ),
    scenario(
        "fill beyond the quantity of a live order is an overfill",
        SUB,
        ACK,
        (fill("f1", 8), S.PARTIALLY_FILLED, 8, 2, {"delta": 8}),
        (fill("f2", 5), S.PARTIALLY_FILLED, 8, 2, flagged(R.FILL_OVERFILL)),
        (fill("f3", 2), S.FILLED, 10, 0, {"delta": 2}),
    ),
    scenario(
        "fill beyond the old quantity while a replace up is pending is an overfill",
        SUB,
        ACK,
        (replace(12), S.PENDING_REPLACE, 0, 10),
        (fill("f1", 11), S.PENDING_REPLACE, 0, 10, flagged(R.FILL_OVERFILL)),
    ),
    scenario(
        "EXPIRE on a FILLED order is a contradiction",
        SUB,
        ACK,
        (fill("f1", 10), S.FILLED, 10, 0, {"delta": 10}),
        (expire(), S.FILLED, 10, 0, flagged(R.VENUE_CONTRADICTION)),
    ),
    # -- duplicates ----------------------------------------------------------------------------
    scenario(
        "same fill id re-delivered is booked once",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, dup(R.FILL_DUPLICATE)),
    ),
    scenario(
        "same fill id re-delivered after FILLED is booked once",
        SUB,
        ACK,
        (fill("f1", 10), S.FILLED, 10, 0, {"delta": 10}),
        (fill("f1", 10), S.FILLED, 10, 0, dup(R.FILL_DUPLICATE)),
    ),
    scenario(
        "same fill id with other terms is a conflict",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (fill("f1", 3), S.PARTIALLY_FILLED, 2, 8, flagged(R.FILL_CONFLICT)),
    ),
    # -- J: execution cancels (busts) and corrections ---------------------------------------
    scenario(
        "J.1.a filled order, corrections and a bust",
        SUB,
        ACK,
        (fill("C", 1, 100), S.PARTIALLY_FILLED, 1, 9, {"delta": 1, "avg": 100}),
        (fill("D", 9, 110), S.FILLED, 10, 0, {"delta": 9, "avg": 109}),
        (bust("C"), S.PARTIALLY_FILLED, 9, 1, {"delta": -1, "avg": 110}),
        (correct("D", "F", 9, 100), S.PARTIALLY_FILLED, 9, 1, {"avg": 100}),
        (fill("G", 1, 120), S.FILLED, 10, 0, {"delta": 1, "avg": 102}),
        (correct("F", "H", 9, 120), S.FILLED, 10, 0, {"avg": 120}),
    ),
    scenario(
        "J.1.a correction of quantity up on a replaced order",
        SUB,
        ACK,
        (fill("C", 1), S.PARTIALLY_FILLED, 1, 9, {"delta": 1}),
        (replace(12), S.PENDING_REPLACE, 1, 9),
        (replace_ack(), S.PARTIALLY_FILLED, 1, 11, {"qty": 12}),
        (fill("D", 9, 120), S.PARTIALLY_FILLED, 10, 2, {"delta": 9}),
        (correct("D", "K", "9.5", 120), S.PARTIALLY_FILLED, "10.5", "1.5", {"delta": "0.5"}),
    ),
    scenario(
        "J.1.b cancelled order, busted execution, then a new execution",
        SUB,
        ACK,
        (fill("B", 5, 50), S.PARTIALLY_FILLED, 5, 5, {"delta": 5}),
        (cancel(), S.PENDING_CANCEL, 5, 5),
        (cancel_ack(), S.CANCELLED, 5, 0),
        (bust("B"), S.CANCELLED, 0, 0, {"reason": R.TRADE_BUSTED, "delta": -5}),
        (fill("F", 4, 51), S.CANCELLED, 4, 0, {"reason": LATE, "delta": 4, "flags": (LATE,)}),
    ),
    scenario(
        "J.1.c corrections of quantity down on a part-filled order",
        SUB,
        ACK,
        (fill("B", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (fill("E", 1), S.PARTIALLY_FILLED, 3, 7, {"delta": 1}),
        (correct("B", "F", "1.5"), S.PARTIALLY_FILLED, "2.5", "7.5", {"delta": "-0.5"}),
        (correct("E", "G", "0.5"), S.PARTIALLY_FILLED, 2, 8, {"delta": "-0.5"}),
    ),
    scenario(
        "J.1.d done for day, then a correction and a bust",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (fill("f2", 3), S.PARTIALLY_FILLED, 5, 5, {"delta": 3}),
        (expire(), S.EXPIRED, 5, 0),
        (correct("f1", "c1", 1), S.EXPIRED, 4, 0, {"reason": R.TRADE_CORRECTED, "delta": -1}),
        (bust("f2"), S.EXPIRED, 1, 0, {"reason": R.TRADE_BUSTED, "delta": -3}),
    ),
    scenario(
        "bust of the only fill returns to ACKNOWLEDGED",
        SUB,
        ACK,
        (fill("f1", 4), S.PARTIALLY_FILLED, 4, 6, {"delta": 4}),
        (bust("f1"), S.ACKNOWLEDGED, 0, 10, {"delta": -4}),
    ),
    scenario(
        "sell bust of a FILLED order's only fill returns to ACKNOWLEDGED",
        SUB,
        ACK,
        (fill("f1", 10), S.FILLED, 10, 0, {"delta": -10}),
        (bust("f1"), S.ACKNOWLEDGED, 0, 10, {"delta": 10}),
        (fill("f2", 10), S.FILLED, 10, 0, {"delta": -10}),
        side=SELL,
    ),
    scenario(
        "bust of one fill of a FILLED order returns to PARTIALLY_FILLED",
        SUB,
        ACK,
        (fill("f1", 4), S.PARTIALLY_FILLED, 4, 6, {"delta": 4}),
        (fill("f2", 6), S.FILLED, 10, 0, {"delta": 6}),
        (bust("f2"), S.PARTIALLY_FILLED, 4, 6, {"delta": -6}),
    ),
    scenario(
        "bust while a cancel is pending, cancel rejected",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (cancel(), S.PENDING_CANCEL, 2, 8),
        (bust("f1"), S.PENDING_CANCEL, 0, 10, {"delta": -2}),
        (cancel_reject(), S.ACKNOWLEDGED, 0, 10),
    ),
    scenario(
        "bust while a replace is pending, replace accepted",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (replace(8), S.PENDING_REPLACE, 2, 8),
        (bust("f1"), S.PENDING_REPLACE, 0, 10, {"delta": -2}),
        (replace_ack(), S.ACKNOWLEDGED, 0, 8, {"qty": 8}),
    ),
    scenario(
        "bust of an unknown fill is refused and flagged",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (bust("nope"), S.PARTIALLY_FILLED, 2, 8, flagged(R.TRADE_UNKNOWN_FILL)),
    ),
    scenario(
        "same bust twice is applied once",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (fill("f2", 3), S.PARTIALLY_FILLED, 5, 5, {"delta": 3}),
        (bust("f1"), S.PARTIALLY_FILLED, 3, 7, {"delta": -2}),
        (bust("f1"), S.PARTIALLY_FILLED, 3, 7, dup(R.EVENT_REPEATED)),
    ),
    scenario(
        "correction up",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (correct("f1", "c1", 3), S.PARTIALLY_FILLED, 3, 7, {"delta": 1}),
    ),
    scenario(
        "sell correction down",
        SUB,
        ACK,
        (fill("f1", 4), S.PARTIALLY_FILLED, 4, 6, {"delta": -4}),
        (correct("f1", "c1", 3, 101), S.PARTIALLY_FILLED, 3, 7, {"delta": 1}),
        side=SELL,
    ),
    scenario(
        "correction completing the order",
        SUB,
        ACK,
        (fill("f1", 6), S.PARTIALLY_FILLED, 6, 4, {"delta": 6}),
        (correct("f1", "c1", 10), S.FILLED, 10, 0, {"delta": 4}),
    ),
    scenario(
        "correction down of a FILLED order re-opens it",
        SUB,
        ACK,
        (fill("f1", 10), S.FILLED, 10, 0, {"delta": 10}),
        (correct("f1", "c1", 8), S.PARTIALLY_FILLED, 8, 2, {"delta": -2}),
        (fill("f2", 2), S.FILLED, 10, 0, {"delta": 2}),
    ),
    scenario(
        "price-only correction of a FILLED order",
        SUB,
        ACK,
        (fill("f1", 10), S.FILLED, 10, 0, {"delta": 10}),
        (correct("f1", "c1", 10, 95), S.FILLED, 10, 0),
    ),
    scenario(
        "overfilling correction refused and flagged",
        SUB,
        ACK,
        (fill("f1", 6), S.PARTIALLY_FILLED, 6, 4, {"delta": 6}),
        (fill("f2", 2), S.PARTIALLY_FILLED, 8, 2, {"delta": 2}),
        (correct("f1", "c1", 9), S.PARTIALLY_FILLED, 8, 2, flagged(R.FILL_OVERFILL)),
    ),
    scenario(
        "correction of an unknown fill is refused and flagged",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (correct("nope", "c1", 3), S.PARTIALLY_FILLED, 2, 8, flagged(R.TRADE_UNKNOWN_FILL)),
    ),
    scenario(
        "same correction twice is applied once",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (correct("f1", "c1", 3), S.PARTIALLY_FILLED, 3, 7, {"delta": 1}),
        (correct("f1", "c1", 3), S.PARTIALLY_FILLED, 3, 7, dup(R.EVENT_REPEATED)),
    ),
    scenario(
        "correction of a busted fill is a contradiction",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (fill("f2", 1), S.PARTIALLY_FILLED, 3, 7, {"delta": 1}),
        (bust("f1"), S.PARTIALLY_FILLED, 1, 9, {"delta": -2}),
        (correct("f1", "c1", 3), S.PARTIALLY_FILLED, 1, 9, flagged(R.VENUE_CONTRADICTION)),
    ),
    scenario(
        "bust of a corrected fill by its new id",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (correct("f1", "c1", 3), S.PARTIALLY_FILLED, 3, 7, {"delta": 1}),
        (bust("c1"), S.ACKNOWLEDGED, 0, 10, {"delta": -3}),
    ),
    scenario(
        "bust after cancel then a late fill beyond quantity is refused",
        SUB,
        ACK,
        (fill("f1", 6), S.PARTIALLY_FILLED, 6, 4, {"delta": 6}),
        (cancel_ack(), S.CANCELLED, 6, 0),
        (bust("f1"), S.CANCELLED, 0, 0, {"reason": R.TRADE_BUSTED, "delta": -6}),
        (fill("f2", 11), S.CANCELLED, 0, 0, flagged(R.FILL_OVERFILL)),
    ),
    scenario(
        "C.1.c replace up accepted after a racing fill filled the order",
        SUB,
        ACK,
        (replace(12), S.PENDING_REPLACE, 0, 10),
        (fill("f1", 10), S.FILLED, 10, 0, {"delta": 10}),
        (replace_ack(), S.PARTIALLY_FILLED, 10, 2, {"qty": 12}),
        (fill("f2", 2), S.FILLED, 12, 0, {"delta": 2}),
    ),
    scenario(
        "D REJECT while a replace is pending over fills is a contradiction",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (replace(8), S.PENDING_REPLACE, 2, 8),
        (reject(), S.PENDING_REPLACE, 2, 8, flagged(R.VENUE_CONTRADICTION)),
    ),
    scenario(
        "B repeated CANCEL_REJECT absorbed",
        SUB,
        ACK,
        (cancel(), S.PENDING_CANCEL, 0, 10),
        (cancel_reject(), S.ACKNOWLEDGED, 0, 10),
        (cancel_reject(), S.ACKNOWLEDGED, 0, 10, dup(R.EVENT_REPEATED)),
    ),
    scenario(
        "B done for day while a cancel is pending, late cancel reject absorbed",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (cancel(), S.PENDING_CANCEL, 2, 8),
        (expire(), S.EXPIRED, 2, 0),
        (cancel_reject(), S.EXPIRED, 2, 0, dup(R.EVENT_ABSORBED)),
    ),
    scenario(
        "bust of a late fill on a cancelled order",
        SUB,
        ACK,
        (fill("f1", 8), S.PARTIALLY_FILLED, 8, 2, {"delta": 8}),
        (cancel_ack(), S.CANCELLED, 8, 0),
        (fill("f2", 2, 110), S.CANCELLED, 10, 0, {"reason": LATE, "delta": 2, "flags": (LATE,)}),
        (bust("f2"), S.CANCELLED, 8, 0, {"reason": R.TRADE_BUSTED, "delta": -2, "avg": 100}),
    ),
    scenario(
        "overfilling correction of a late fill refused",
        SUB,
        ACK,
        (fill("f1", 8), S.PARTIALLY_FILLED, 8, 2, {"delta": 8}),
        (cancel_ack(), S.CANCELLED, 8, 0),
        (fill("f2", 2), S.CANCELLED, 10, 0, {"reason": LATE, "delta": 2, "flags": (LATE,)}),
        (correct("f2", "c2", 3), S.CANCELLED, 10, 0, flagged(R.FILL_OVERFILL, (LATE,))),
    ),
    scenario(
        "correction completing the order while a cancel is pending",
        SUB,
        ACK,
        (fill("f1", 6), S.PARTIALLY_FILLED, 6, 4, {"delta": 6}),
        (cancel(), S.PENDING_CANCEL, 6, 4),
        (correct("f1", "c1", 10), S.FILLED, 10, 0, {"delta": 4}),
        (cancel_reject(), S.FILLED, 10, 0, dup(R.EVENT_ABSORBED)),
    ),
    scenario(
        "correction under another fill's id is a conflict",
        SUB,
        ACK,
        (fill("f1", 2), S.PARTIALLY_FILLED, 2, 8, {"delta": 2}),
        (fill("f2", 3), S.PARTIALLY_FILLED, 5, 5, {"delta": 3}),
        (correct("f1", "f2", 2, 99), S.PARTIALLY_FILLED, 5, 5, flagged(R.FILL_CONFLICT)),
    ),
    scenario(
        "sell average price across a correction",
        SUB,
        ACK,
        (fill("f1", 5, 100), S.PARTIALLY_FILLED, 5, 5, {"delta": -5, "avg": 100}),
        (fill("f2", 5, 110), S.FILLED, 10, 0, {"delta": -5, "avg": 105}),
        (correct("f2", "c2", 5, 90), S.FILLED, 10, 0, {"avg": 95}),
        side=SELL,
    ),
    scenario(
        "E late ACK of a cancelled order absorbed, REJECT of it a contradiction",
        SUB,
        (cancel_ack(), S.CANCELLED, 0, 0),
        (ack(), S.CANCELLED, 0, 0, dup(R.ACK_ABSORBED)),
        (reject(), S.CANCELLED, 0, 0, flagged(R.VENUE_CONTRADICTION)),
    ),
    scenario(
        "E CANCEL_ACK of an expired order is a contradiction",
        SUB,
        ACK,
        (fill("f1", 3), S.PARTIALLY_FILLED, 3, 7, {"delta": 3}),
        (expire(), S.EXPIRED, 3, 0),
        (cancel_ack(), S.EXPIRED, 3, 0, flagged(R.VENUE_CONTRADICTION)),
    ),
)
