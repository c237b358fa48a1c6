"""
The order machine's second table: every venue event in every state the transition table has
no edge for (and every situation that comes before the edges), with its outcome and reason.

One rule decides the rows (the FIX order state change matrices, nautilus_trader's order state
table): a venue event that is impossible given our state is refused, audited and flags the
order for reconciliation; one that is merely late or repeated and consistent is absorbed (or,
for a fill, booked) as declared here.
"""

from __future__ import annotations

from execfsm.enums import OrderState, ReasonCode
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.cases import ANY_EVENT, Case, CaseTable

__all__ = ["ORDER_CASES", "Situation"]


class Situation:
    """
    The situations `OrderLifecycle.apply` recognises before it looks at the state, in words.
    """

    UNSENT = "the order was never submitted"
    FILL_REPEATED = "the fill id was applied with the same terms"
    FILL_CONFLICTS = "the fill id was applied with other terms"
    NAMES_UNKNOWN_FILL = "the named fill is not one of the order's"
    NAMES_RETIRED_FILL = "the named fill was already busted or corrected"
    EXPIRED_BY_US = "the order expired by our clock (EXPIRED_BY_CLOCK)"
    ANSWERS_ANOTHER_REPLACE = "the answer names a replace other than the one pending"
    FOK_PART_FILLED = "a fill-or-kill order ends with part of it filled"
    NO_REPLACE_PENDING = "no replace is pending"
    REPLACE_ANSWERED = "the order's last replace was acknowledged and none is pending"
    WITHIN_QUANTITY = "the fill keeps the cumulative quantity within the order quantity"
    BEYOND_QUANTITY = "the fill takes the cumulative quantity beyond the order quantity"


_S = OrderState
ALL = tuple(s.value for s in OrderState)
LIVE = tuple(
    s.value
    for s in (
        _S.SUBMITTED,
        _S.ACKNOWLEDGED,
        _S.PARTIALLY_FILLED,
        _S.PENDING_CANCEL,
        _S.PENDING_REPLACE,
    )
)
DONE = tuple(s.value for s in (_S.FILLED, _S.CANCELLED, _S.REJECTED, _S.EXPIRED, _S.FAILED))
ENDED_UNFILLED = tuple(s.value for s in (_S.CANCELLED, _S.REJECTED, _S.EXPIRED, _S.FAILED))


def _states(*states: OrderState) -> tuple[str, ...]:
    return tuple(s.value for s in states)


_APPLIED, _DUP, _REFUSED = AuditOutcome.APPLIED, AuditOutcome.DUPLICATE, AuditOutcome.REFUSED
_R = ReasonCode

# fmt: off
# (event, states, outcome, reason, why), one row per line; situations first, then by event.
ORDER_CASES = CaseTable(
    situations=tuple(v for k, v in vars(Situation).items() if k.isupper()),
    cases=(
        # -- before the state: who the event is for, and what it names ----------------------
        Case("fill", ALL, _REFUSED, _R.FILL_FOR_UNSENT_ORDER, flags=True, when=Situation.UNSENT,
             why="the order was never submitted: no venue can have filled it"),
        Case("acknowledge", _states(_S.FAILED), _REFUSED, _R.ACK_AFTER_FAILURE, flags=True,
             when=Situation.UNSENT, why="the venue holds an order we consider dead"),
        Case(ANY_EVENT, ALL, _REFUSED, _R.VENUE_CONTRADICTION, flags=True, when=Situation.UNSENT,
             why="the order was never submitted: no venue can know it"),
        Case("fill", ALL, _DUP, _R.FILL_DUPLICATE, when=Situation.FILL_REPEATED,
             why="a re-delivered execution (FIX PossDup): booked once"),
        Case("fill", ALL, _REFUSED, _R.FILL_CONFLICT, flags=True, when=Situation.FILL_CONFLICTS,
             why="one execution id, two executions: the venue and we disagree"),
        Case("trade_correct", ALL, _DUP, _R.EVENT_REPEATED, when=Situation.FILL_REPEATED,
             why="the same correction re-delivered: applied once"),
        Case("trade_correct", ALL, _REFUSED, _R.FILL_CONFLICT, flags=True,
             when=Situation.FILL_CONFLICTS,
             why="the correction's fill id is another execution's"),
        Case("trade_bust", ALL, _DUP, _R.EVENT_REPEATED, when=Situation.NAMES_RETIRED_FILL,
             why="the fill was busted or corrected already: nothing left to bust"),
        Case("trade_correct", ALL, _REFUSED, _R.VENUE_CONTRADICTION, flags=True,
             when=Situation.NAMES_RETIRED_FILL,
             why="a correction of a fill already busted or replaced by a correction"),
        Case("trade_bust", ALL, _REFUSED, _R.TRADE_UNKNOWN_FILL, flags=True,
             when=Situation.NAMES_UNKNOWN_FILL, why="a bust of an execution we never had"),
        Case("trade_correct", ALL, _REFUSED, _R.TRADE_UNKNOWN_FILL, flags=True,
             when=Situation.NAMES_UNKNOWN_FILL, why="a correction of an execution we never had"),
        Case("replace_ack", ALL, _DUP, _R.EVENT_REPEATED, when=Situation.REPLACE_ANSWERED,
             why="the venue repeated its acknowledgement of the last replace"),
        Case("replace_ack", ALL, _REFUSED, _R.VENUE_CONTRADICTION, flags=True,
             when=Situation.ANSWERS_ANOTHER_REPLACE,
             why="new terms for a replace that is not the one pending"),
        Case("replace_reject", ALL, _DUP, _R.EVENT_REPEATED,
             when=Situation.ANSWERS_ANOTHER_REPLACE,
             why="a refusal of an earlier replace, already answered"),
        Case("replace_reject", LIVE, _DUP, _R.EVENT_REPEATED, when=Situation.NO_REPLACE_PENDING,
             why="no replace is pending: an answer already taken"),
        Case("cancel_ack", LIVE, _APPLIED, _R.VENUE_CONTRADICTION, flags=True,
             when=Situation.FOK_PART_FILLED, action="end_and_flag",
             why="fill or kill is all or nothing: the venue filled part, then cancelled; it "
                 "ends as the venue says, flagged"),
        Case("expire", LIVE, _APPLIED, _R.VENUE_CONTRADICTION, flags=True,
             when=Situation.FOK_PART_FILLED, action="end_and_flag",
             why="fill or kill is all or nothing: the venue filled part, then expired it; it "
                 "ends as the venue says, flagged"),
        # -- ACK -----------------------------------------------------------------------------
        Case("acknowledge", _states(_S.PENDING_CANCEL), _DUP, _R.ACK_ABSORBED,
             action="absorb_ack",
             why="the ACK raced our cancel: a rejected cancel now returns to ACKNOWLEDGED"),
        Case("acknowledge", _states(_S.ACKNOWLEDGED, _S.PARTIALLY_FILLED, _S.PENDING_REPLACE,
                                    _S.FILLED, _S.CANCELLED, _S.EXPIRED),
             _DUP, _R.ACK_ABSORBED, why="a late or repeated ACK: the order never moves back"),
        Case("acknowledge", _states(_S.REJECTED, _S.FAILED), _REFUSED, _R.ACK_AFTER_FAILURE,
             flags=True, why="the venue holds an order we consider dead"),
        # -- FILL after the order is done ------------------------------------------------------
        Case("fill", DONE, _APPLIED, _R.FILL_AFTER_FINAL, flags=True, action="book_late_fill",
             when=Situation.WITHIN_QUANTITY,
             why="the venue executed it after all: the money moved, so it is booked and "
                 "counted (FIX CumQty counts every execution)"),
        Case("fill", DONE, _REFUSED, _R.FILL_OVERFILL, flags=True, when=Situation.BEYOND_QUANTITY,
             why="more executed than ordered, on any path"),
        # -- REJECT --------------------------------------------------------------------------
        Case("reject", _states(_S.REJECTED), _DUP, _R.EVENT_REPEATED,
             why="the venue said it again"),
        Case("reject", _states(_S.FAILED), _DUP, _R.EVENT_ABSORBED,
             why="the venue refused an order we had given up on: both say it is dead"),
        Case("reject", _states(_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELLED, _S.EXPIRED),
             _REFUSED, _R.VENUE_CONTRADICTION, flags=True,
             why="a reject of an order that was executed or ended otherwise"),
        # -- CANCEL_ACK ------------------------------------------------------------------------
        Case("cancel_ack", _states(_S.CANCELLED), _DUP, _R.EVENT_REPEATED,
             why="the venue said it again"),
        Case("cancel_ack", _states(_S.EXPIRED), _DUP, _R.EVENT_ABSORBED,
             when=Situation.EXPIRED_BY_US,
             why="we expired it and asked the venue to cancel: both say it is done"),
        Case("cancel_ack", _states(_S.FAILED), _DUP, _R.EVENT_ABSORBED,
             why="the venue cancelled an order we had given up on: both say it is dead"),
        Case("cancel_ack", _states(_S.FILLED, _S.REJECTED, _S.EXPIRED), _REFUSED,
             _R.VENUE_CONTRADICTION, flags=True,
             why="a cancel of an order that was filled, refused or expired at the venue"),
        # -- CANCEL_REJECT: never changes a venue's order ------------------------------------------
        Case("cancel_reject", _states(_S.FILLED, _S.CANCELLED, _S.REJECTED, _S.EXPIRED,
                                      _S.FAILED),
             _DUP, _R.EVENT_ABSORBED, why="too late to cancel: the order had ended"),
        Case("cancel_reject", _states(_S.SUBMITTED, _S.ACKNOWLEDGED, _S.PARTIALLY_FILLED,
                                      _S.PENDING_REPLACE),
             _DUP, _R.EVENT_REPEATED, why="no cancel is pending: an answer already taken"),
        # -- EXPIRE ----------------------------------------------------------------------------
        Case("expire", _states(_S.EXPIRED), _DUP, _R.EVENT_REPEATED,
             why="expired already (by the venue, or by our clock first): applied once"),
        Case("expire", _states(_S.CANCELLED, _S.FAILED), _DUP, _R.EVENT_ABSORBED,
             why="the order had ended unfilled: both say it is done"),
        Case("expire", _states(_S.FILLED, _S.REJECTED), _REFUSED, _R.VENUE_CONTRADICTION,
             flags=True, why="an expiry of an order that was filled or refused"),
        # -- REPLACE_ACK / REPLACE_REJECT ---------------------------------------------------------
        Case("replace_ack", ALL, _REFUSED, _R.VENUE_CONTRADICTION, flags=True,
             why="new terms for an order with no replace pending, or that had ended unfilled"),
        Case("replace_reject", DONE, _DUP, _R.EVENT_ABSORBED, action="absorb_replace_answer",
             why="too late to replace: the order had ended"),
        Case("replace_reject", LIVE, _DUP, _R.EVENT_REPEATED,
             why="no replace is pending: an answer already taken"),
        # -- TRADE_BUST / TRADE_CORRECT of a fill the order has ----------------------------------
        Case("trade_bust", ENDED_UNFILLED, _APPLIED, _R.TRADE_BUSTED, action="bust_in_place",
             why="a venue busts executions after the fact: the order stays as it ended"),
        Case("trade_correct", ENDED_UNFILLED, _APPLIED, _R.TRADE_CORRECTED,
             action="correct_in_place",
             why="a venue corrects executions after the fact: the order stays as it ended"),
        # -- deny by default -----------------------------------------------------------------------
        Case(ANY_EVENT, ALL, _REFUSED, _R.VENUE_CONTRADICTION, flags=True,
             why="anything else the venue says is impossible for the order in its state"),
    ),
)
# fmt: on
