"""
The enums every layer shares: sides, types, states, modes, event kinds and reason codes.

A module of its own that imports nothing from the package, so the error tree and the
contracts both read `ReasonCode` without an import cycle.
"""

from __future__ import annotations

import ast
import enum
import functools
import inspect
import re
import textwrap


class OrderSide(enum.StrEnum):
    """
    Direction of an order.
    """

    BUY = "BUY"
    SELL = "SELL"


class OrderType(enum.StrEnum):
    """
    How the order is priced at the venue.
    """

    MARKET = "MARKET"
    LIMIT = "LIMIT"


class TimeInForce(enum.StrEnum):
    """
    How long an order rests at the venue.
    """

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    DAY = "DAY"
    GTD = "GTD"
    """Good till date: the order carries an ``expire_time``."""


class OrderState(enum.StrEnum):
    """
    The states of `OrderLifecycle`; the machine is the only thing that moves an order.
    """

    CREATED = "CREATED"
    SUBMITTED = "SUBMITTED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    PENDING_REPLACE = "PENDING_REPLACE"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"


FINAL_ORDER_STATES = frozenset(
    {
        OrderState.FILLED,
        OrderState.CANCELLED,
        OrderState.REJECTED,
        OrderState.EXPIRED,
        OrderState.FAILED,
    }
)
"""Order states in which the order is done (FIX: LeavesQty 0). No edge leaves them but a
trade bust or correction of a FILLED order, the one declared way back (`OrderLifecycle`)."""

IN_FLIGHT_ORDER_STATES = frozenset(
    {
        OrderState.SUBMITTED,
        OrderState.ACKNOWLEDGED,
        OrderState.PARTIALLY_FILLED,
        OrderState.PENDING_CANCEL,
        OrderState.PENDING_REPLACE,
    }
)
"""Order states the venue may still act on: what reconciliation must confirm after a stop."""


class ExecutionMode(enum.StrEnum):
    """
    Where an order is routed. `LIVE_BLOCKED` is the default and never reaches a venue.
    """

    PAPER = "PAPER"
    SHADOW = "SHADOW"
    TESTNET = "TESTNET"
    LIVE_BLOCKED = "LIVE_BLOCKED"
    LIVE = "LIVE"


class PipelineState(enum.StrEnum):
    """
    The states of `PipelineRun`: the eight stages, then how the run ended.
    """

    INTAKE = "INTAKE"
    VALIDATION = "VALIDATION"
    RISK_GATE = "RISK_GATE"
    ROUTING = "ROUTING"
    DISPATCH = "DISPATCH"
    EVENT_HANDLING = "EVENT_HANDLING"
    POST_TRADE = "POST_TRADE"
    RECON_HANDOFF = "RECON_HANDOFF"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    BLOCKED = "BLOCKED"
    PAUSED = "PAUSED"


STAGE_NUMBER = {
    PipelineState.INTAKE: 1,
    PipelineState.VALIDATION: 2,
    PipelineState.RISK_GATE: 3,
    PipelineState.ROUTING: 4,
    PipelineState.DISPATCH: 5,
    PipelineState.EVENT_HANDLING: 6,
    PipelineState.POST_TRADE: 7,
    PipelineState.RECON_HANDOFF: 8,
}
"""The seed's stage numbers (1 intake … 8 reconciliation hand-off)."""


class RiskDecision(enum.StrEnum):
    """
    What a pre-trade risk hook answers.
    """

    ALLOW = "ALLOW"
    BLOCK = "BLOCK"
    PAUSE = "PAUSE"


class EventKind(enum.StrEnum):
    """
    The kinds of execution event a venue (or a simulated one) reports.
    """

    ACK = "ACK"
    REJECT = "REJECT"
    FILL = "FILL"
    CANCEL_ACK = "CANCEL_ACK"
    CANCEL_REJECT = "CANCEL_REJECT"
    EXPIRE = "EXPIRE"
    REPLACE_ACK = "REPLACE_ACK"
    """The venue took the order's new terms (FIX ExecType=5 Replaced)."""
    REPLACE_REJECT = "REPLACE_REJECT"
    """The venue refused a replace (FIX OrderCancelReject, CxlRejResponseTo=2)."""
    TRADE_BUST = "TRADE_BUST"
    """The venue cancelled an execution after the fact (FIX ExecType=H), by ``exec_ref_id``."""
    TRADE_CORRECT = "TRADE_CORRECT"
    """The venue corrected an execution (FIX ExecType=G): ``exec_ref_id`` names it, ``fill``
    carries its corrected terms under the correction's own id."""


class ReasonCode(enum.StrEnum):
    """
    Stable reason codes. Append-only: never rename, reorder or reuse a member.
    """

    # Contract validation (stage 2, and fields checked at construction)
    VALIDATION_INVALID_QUANTITY = "VALIDATION_INVALID_QUANTITY"
    """The order quantity is missing, not positive or beyond the bounds: refused at
    validation."""
    VALIDATION_INVALID_PRICE = "VALIDATION_INVALID_PRICE"
    """The price does not fit the order type (a LIMIT order needs a limit price above 0, a
    MARKET order has none) or is out of bounds."""
    VALIDATION_INVALID_SYMBOL = "VALIDATION_INVALID_SYMBOL"
    """The symbol is blank, too long or contains characters an identifier may not."""
    VALIDATION_INVALID_FIELD = "VALIDATION_INVALID_FIELD"
    """Another field of the intent or event is malformed (an id, a venue text, an expiry
    that does not fit the time in force)."""
    # Risk gate (stage 3)
    RISK_BLOCKED = "RISK_BLOCKED"
    """The pre-trade risk hook answered BLOCK: the run ends in BLOCKED, nothing is sent."""
    RISK_PAUSED = "RISK_PAUSED"
    """The pre-trade risk hook answered PAUSE: the run waits in PAUSED until resumed or
    abandoned."""
    RISK_EVALUATION_FAILED = "RISK_EVALUATION_FAILED"
    """The risk hook raised or answered something that is not a decision: treated as a
    block (fail closed)."""
    RISK_KILL_SWITCH_ACTIVE = "RISK_KILL_SWITCH_ACTIVE"
    """An operator kill switch is active (or unreadable, which counts as active): every
    intent stops at the risk gate."""
    # Routing policy (stage 4)
    POLICY_LIVE_NOT_ENABLED = "POLICY_LIVE_NOT_ENABLED"
    """Dispatch to a live venue was refused: the mode is not LIVE, or no unexpired
    LivePolicy was given."""
    POLICY_NO_ADAPTER = "POLICY_NO_ADAPTER"
    """No adapter is registered for the run's execution mode: nothing can be sent."""
    # Adapter dispatch (stage 5)
    ADAPTER_REJECTED = "ADAPTER_REJECTED"
    """The venue (or its adapter) rejected the order."""
    ADAPTER_TIMEOUT = "ADAPTER_TIMEOUT"
    """The venue did not answer the adapter in time."""
    ADAPTER_ERROR = "ADAPTER_ERROR"
    """The adapter failed with an error it could not classify: the dispatch failed."""
    # Order lifecycle
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    """The event has no declared edge from the machine's current state: refused, the state
    is unchanged."""
    FILL_OVERFILL = "FILL_OVERFILL"
    """A fill would take the cumulative filled quantity beyond the order quantity:
    refused."""
    FILL_DUPLICATE = "FILL_DUPLICATE"
    """A fill id already applied came again with the same content: ignored and audited."""
    FILL_CONFLICT = "FILL_CONFLICT"
    """A fill id already applied came again with different content: refused and flagged."""
    FILL_INVALID_QUANTITY = "FILL_INVALID_QUANTITY"
    """A fill quantity is not above 0 (or out of bounds): refused."""
    FILL_INVALID_PRICE = "FILL_INVALID_PRICE"
    """A fill price is not above 0 (or out of bounds): refused."""
    FILL_INVALID_FEE = "FILL_INVALID_FEE"
    """A fill fee is negative (or out of bounds): refused."""
    FILL_AFTER_FINAL = "FILL_AFTER_FINAL"
    """A fill arrived after the order ended: booked in the position ledger, the order stays
    final and is flagged for reconciliation."""
    ACK_ABSORBED = "ACK_ABSORBED"
    """An acknowledgement arrived after the order had moved past it (e.g. after a fill):
    absorbed, the order never moves backwards."""
    ACK_AFTER_FAILURE = "ACK_AFTER_FAILURE"
    """An acknowledgement arrived for an order that had already failed locally: the venue
    has it, flagged for reconciliation."""
    REASON_MISSING = "REASON_MISSING"
    """A reject, fail or other ending event came without a reason code: refused."""
    EVENT_ORDER_MISMATCH = "EVENT_ORDER_MISMATCH"
    """An event names another order than the one it was applied to: refused."""
    EVENT_UNKNOWN_ORDER = "EVENT_UNKNOWN_ORDER"
    """An event names an order this process does not know: refused and recorded."""
    DUPLICATE_INTENT = "DUPLICATE_INTENT"
    """An intent with an idempotency key already seen: the original result is returned,
    nothing is sent again."""
    DISPATCH_OUTCOME_UNKNOWN = "DISPATCH_OUTCOME_UNKNOWN"
    """The dispatch timed out after sending: the order stays SUBMITTED and is flagged for
    reconciliation, never resent."""
    # Appended (keep every member above where it is)
    FILL_FOR_UNSENT_ORDER = "FILL_FOR_UNSENT_ORDER"
    """A fill names an order that was never submitted, so no venue can have filled it."""
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    """An intent reuses an idempotency key with other terms: refused, nothing sent."""
    CANCEL_OUTCOME_UNKNOWN = "CANCEL_OUTCOME_UNKNOWN"
    """The process stopped while a cancel was out: the venue may or may not have it."""
    VENUE_CONTRADICTION = "VENUE_CONTRADICTION"
    """The venue reports what cannot happen to the order in its state: we disagree."""
    EVENT_REPEATED = "EVENT_REPEATED"
    """The venue repeated an answer the order already took: nothing changes."""
    EVENT_ABSORBED = "EVENT_ABSORBED"
    """A late answer consistent with where the order is (e.g. a replace refused after the
    order filled): nothing changes."""
    TRADE_UNKNOWN_FILL = "TRADE_UNKNOWN_FILL"
    """A bust or correction names a fill the order does not have."""
    TRADE_BUSTED = "TRADE_BUSTED"
    """A fill of an order that had ended was busted: the order stays as it ended."""
    TRADE_CORRECTED = "TRADE_CORRECTED"
    """A fill of an order that had ended was corrected: the order stays as it ended."""
    REPLACE_OUTCOME_UNKNOWN = "REPLACE_OUTCOME_UNKNOWN"
    """The process stopped while a replace was out: the venue may or may not have it."""
    REPLACE_NOT_SUPPORTED = "REPLACE_NOT_SUPPORTED"
    """The order's adapter cannot amend orders: nothing was sent."""
    EXPIRED_BY_CLOCK = "EXPIRED_BY_CLOCK"
    """A DAY or GTD order reached its expiry time on the injected clock."""
    CONTINGENT_GROUP_REFUSED = "CONTINGENT_GROUP_REFUSED"
    """A contingent group was refused before anything was sent: a leg failed validation, the
    risk gate or routing, or the group's terms do not fit its kind."""
    CONTINGENT_LEG_NOT_SENT = "CONTINGENT_LEG_NOT_SENT"
    """A leg written ahead was not sent: its group had already reacted (its OCO sibling
    filled on submit)."""
    CONTINGENT_OVERFILL = "CONTINGENT_OVERFILL"
    """The legs of a group filled beyond the group's quantity (a fill raced the cancel or the
    reduction): flagged for reconciliation."""
    CONTINGENT_CANCEL_REJECTED = "CONTINGENT_CANCEL_REJECTED"
    """The venue refused the cancel a group sent for a leg: the leg works on, flagged."""
    CONTINGENT_REACTION_INTERRUPTED = "CONTINGENT_REACTION_INTERRUPTED"
    """A restart found a group whose reaction to a leg's fill (a cancel, a release) was due
    but never sent: flagged; `ContingentOrders.resume` sends it."""
    CONTINGENT_HELD_CANCELLED = "CONTINGENT_HELD_CANCELLED"
    """The parent of a one-triggers-other group ended without a fill: its held children are
    cancelled without ever being sent."""
    CONTINGENT_RELEASE_REFUSED = "CONTINGENT_RELEASE_REFUSED"
    """A child released by its parent's fill was stopped by the pipeline (risk, routing):
    the parent's position has no exit; flagged."""
    CALLBACK_FAILED = "CALLBACK_FAILED"
    """A machine's callback raised after its move was recorded: the move did not happen and
    the machine is where this record's ``target`` says (the record before is undone)."""
    RECON_AGREED = "RECON_AGREED"
    """Reconciliation found the order and the venue's report of it agree: its flags clear."""
    RECON_QUERY_FAILED = "RECON_QUERY_FAILED"
    """The venue could not answer reconciliation's question (it failed or timed out): the
    order stays as it was, flagged, and is asked again on the next pass."""
    RECON_ORDER_NOT_FOUND = "RECON_ORDER_NOT_FOUND"
    """The venue did not know the order after the configured number of questions over the
    configured time: it never reached the venue, so it ends REJECTED. Never re-sent."""
    RECON_VENUE_BEHIND = "RECON_VENUE_BEHIND"
    """The venue's report holds less than we already know (a lagging answer): nothing is
    changed, the order stays flagged and is asked again."""
    RECON_REPORT_IMPOSSIBLE = "RECON_REPORT_IMPOSSIBLE"
    """The venue's report cannot be true of our order (more filled than ordered, another side
    or symbol, an execution we hold with other terms): held for an operator."""
    RECON_EXTERNAL_ORDER = "RECON_EXTERNAL_ORDER"
    """The venue holds an order we have no record of (placed elsewhere, or by a session whose
    records were lost): reported, and adopted if the policy says so."""
    RECON_POSITION_DIFFERS = "RECON_POSITION_DIFFERS"
    """The venue's net position in a symbol differs from the position ledger's, by the size
    the record names."""
    VALIDATION_INSTRUMENT_HALTED = "VALIDATION_INSTRUMENT_HALTED"
    """The intent's instrument is listed but HALTED: the venue accepts no orders in it."""
    VALIDATION_PRICE_OFF_TICK = "VALIDATION_PRICE_OFF_TICK"
    """The limit price is not a whole multiple of the instrument's price increment."""
    VALIDATION_QUANTITY_OFF_LOT = "VALIDATION_QUANTITY_OFF_LOT"
    """The quantity is not a whole multiple of the instrument's size increment."""
    VALIDATION_QUANTITY_BELOW_MIN = "VALIDATION_QUANTITY_BELOW_MIN"
    """The quantity is below the instrument's minimum quantity."""
    VALIDATION_QUANTITY_ABOVE_MAX = "VALIDATION_QUANTITY_ABOVE_MAX"
    """The quantity is above the instrument's maximum quantity."""
    VALIDATION_NOTIONAL_BELOW_MIN = "VALIDATION_NOTIONAL_BELOW_MIN"
    """Quantity x price (the limit price, or a MARKET order's reference price) is below the
    instrument's minimum notional."""

    # Several orchestrators on one database
    IDEMPOTENCY_IN_PROGRESS_ELSEWHERE = "IDEMPOTENCY_IN_PROGRESS_ELSEWHERE"
    """The idempotency key is claimed by another orchestrator's stream, whose intent has no
    result yet: refused here, nothing sent (ask again for its result later)."""


# -- a machine's own reason codes ------------------------------------------------------------

_NAMESPACE = re.compile(r"[a-z][a-z0-9_]*(?:-[a-z0-9_]+)*\Z")
_CODE = re.compile(r"[A-Z][A-Z0-9_]*\Z")
_REGISTERED: dict[str, type[MachineReason]] = {}
"""Each namespace's reason enum, by namespace: one enum per namespace, process-wide."""


class MachineReason(enum.StrEnum):
    """
    The base of a user machine's own reason codes, declared as an `Enum`. Every member's
    value is ``"<namespace>.<MEMBER>"``, e.g. ``TIMEOUT = "session.TIMEOUT"``: the namespace
    (lower case, one per enum, unique in the process) keeps two machines' codes apart, and
    `ReasonCode` values never contain a dot, so execfsm's own codes, present or future,
    cannot collide with them. Audit records, the spec, trail verification and the report
    take them as they take `ReasonCode`.

    Raises:
        TypeError: at class definition, a value that is not ``"<namespace>.<MEMBER>"``, two
            namespaces in one enum, or a namespace another enum already took.
    """

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__members__:
            return  # an intermediate base without codes
        namespaces = set()
        for name, member in cls.__members__.items():
            namespace, dot, code = str(member.value).partition(".")
            if not (dot and _NAMESPACE.match(namespace) and code == name and _CODE.match(code)):
                raise TypeError(
                    f"{cls.__qualname__}.{name}: a machine's reason code is "
                    f"'<namespace>.{name}' (namespace lower case, e.g. 'session.{name}'), "
                    f"got {member.value!r}"
                )
            namespaces.add(namespace)
        if len(namespaces) != 1:
            raise TypeError(f"{cls.__qualname__}: one namespace per enum, got {sorted(namespaces)}")
        (namespace,) = namespaces
        taken = _REGISTERED.get(namespace)
        if taken is not None and _qualified(taken) != _qualified(cls):
            raise TypeError(
                f"{cls.__qualname__}: reason namespace {namespace!r} is already taken by "
                f"{_qualified(taken)}"
            )
        _REGISTERED[namespace] = cls

    @property
    def namespace(self) -> str:
        """
        The part of the code before the dot.
        """
        return self.value.partition(".")[0]


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


Reason = ReasonCode | MachineReason
"""What a refusal or a record may carry: one of execfsm's codes or a machine's own."""


def reason_of(text: str) -> Reason | None:
    """
    The reason code written as `text`: execfsm's own, or a registered machine's (its enum
    imported); None if no such code is known.
    """
    known = ReasonCode._value2member_map_.get(text)
    if known is not None:
        return ReasonCode(text)
    namespace, dot, _ = text.partition(".")
    reasons = _REGISTERED.get(namespace) if dot else None
    if reasons is None:
        return None
    return reasons._value2member_map_.get(text)  # type: ignore[return-value]


def builtin_reason(reason: Reason) -> ReasonCode:
    """
    `reason` as one of execfsm's own codes: what its built-in machines refuse with.

    Raises:
        TypeError: a machine's own code reached a place only execfsm's codes belong.
    """
    if not isinstance(reason, ReasonCode):
        raise TypeError(f"{reason!r} is a machine's own reason code, not one of execfsm's")
    return reason


def reason_description(reason: Reason) -> str:
    """
    What `reason` means, in one paragraph: the attribute docstring under its member (every
    `ReasonCode` has one; a machine's own `MachineReason` codes are described the same
    way). "" when the member has none or its enum's source cannot be read.
    """
    return _member_docs(type(reason)).get(reason.name, "")


@functools.cache
def _member_docs(cls: type[enum.Enum]) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError, IndentationError):  # no source: a REPL, a frozen app
        return {}
    node = ast.parse(source).body[0]
    if not isinstance(node, ast.ClassDef):
        return {}
    docs: dict[str, str] = {}
    for statement, after in zip(node.body, node.body[1:], strict=False):
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1):
            continue
        target = statement.targets[0]
        if (
            isinstance(target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[target.id] = " ".join(after.value.value.split())
    return docs
