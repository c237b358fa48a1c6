"""
`OrderReconciliation`: the declared life of reconciling one order with the venue, one
instance per order (correlation id ``recon:<client order id>``), written with the public
machine API as any machine is. Every answer of the venue is one event, taken on the ground
its validator states (a `Finding` of the right kind; the not-found rule's count and time), so
the trail shows each question's outcome and `execfsm verify` proves the rules (R1-R3).

The machine decides nothing by itself and sends nothing: the reconciler
(`execfsm.reconciliation.reconciler`) asks the venue, compares (`compare`), and applies the
order events a DIFFERS finding carries, each marked by an ``apply`` record of this machine
just before the order's own record.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta
from typing import Any

from statemachine.states import States

from execfsm.contracts import ExecutionEvent
from execfsm.enums import EventKind, ReasonCode
from execfsm.errors import ContractViolation
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.audited import AuditedMachine
from execfsm.fsm.engine import Engine
from execfsm.fsm.guards import describe
from execfsm.fsm.properties import Invariant, Never, Pattern, Setup
from execfsm.ledger.audit import AuditLog
from execfsm.reconciliation.findings import Finding, FindingKind, ReconPolicy
from execfsm.typing import AuditSink


class ReconState(enum.StrEnum):
    """
    Where reconciling one order stands.
    """

    NEEDED = "NEEDED"
    """The order needs the venue's word (flagged, or in flight too long)."""
    APPLYING = "APPLYING"
    """The venue knows more: its events are being applied to the order."""
    AGREED = "AGREED"
    """The order and the venue agree; the order's flags are cleared."""
    NOT_FOUND = "NOT_FOUND"
    """The venue never had the order (the not-found rule): it ended REJECTED."""
    HELD = "HELD"
    """The venue's word is impossible for the order: an operator must look."""


def _unmet(rule: str, finding: Finding | None) -> ContractViolation:
    shown = "no finding" if finding is None else f"a {finding.kind} finding"
    return ContractViolation(
        f"reconciliation: {rule} does not hold ({shown})",
        reason=ReasonCode.ILLEGAL_TRANSITION,
        field="finding",
        value=None if finding is None else str(finding.kind),
    )


def _of_kind(finding: Finding | None, *kinds: FindingKind) -> Finding:
    if not isinstance(finding, Finding) or finding.kind not in kinds:
        shown = " or ".join(kinds)
        raise _unmet(f"the venue's answer is {shown}", finding)
    return finding


_ASKED_AT = " (asked at "


def asked(detail: str, now: datetime) -> str:
    """`detail` with the time the venue was asked at, which the not-found rule counts from
    (an "unknown" record's own time is the audit clock's, not the pass's `now`)."""
    return f"{detail}{_ASKED_AT}{now.isoformat()})"


def asked_at(detail: str) -> datetime | None:
    """The time `asked` wrote into `detail`, or None."""
    _, found, rest = detail.rpartition(_ASKED_AT)
    if not found or not rest.endswith(")"):
        return None
    try:
        return datetime.fromisoformat(rest[:-1])
    except ValueError:
        return None


def not_found_rule(
    misses: int, first_miss: datetime | None, now: datetime, policy: ReconPolicy
) -> tuple[bool, int, timedelta]:
    """
    Whether one more "unknown" answer at `now` meets the not-found rule, after `misses`
    such answers since `first_miss`; with the count and the time it would stand at.
    """
    count, waited = misses + 1, now - (first_miss if first_miss is not None else now)
    return count >= policy.not_found_after and waited >= policy.not_found_wait, count, waited


@describe("the venue's report agrees with the order (state and executions)")
def report_agrees(finding: Finding | None = None) -> None:
    """Refuse ``agree`` on anything but an AGREES finding."""
    _of_kind(finding, FindingKind.AGREES)


@describe("the venue's report is possible for the order and knows more than we do")
def report_differs(finding: Finding | None = None) -> None:
    """Refuse ``differ`` unless the finding carries the events to apply."""
    if not _of_kind(finding, FindingKind.DIFFERS).events:
        raise _unmet("a DIFFERS finding carries the events to apply", finding)


@describe("the venue could not answer, or its answer is behind what we know (with a reason)")
def no_usable_answer(finding: Finding | None = None) -> None:
    """Refuse ``unanswered`` unless the finding says why nothing can be done yet."""
    if _of_kind(finding, FindingKind.UNANSWERED, FindingKind.BEHIND).reason is None:
        raise _unmet("an unusable answer names its reason", finding)


@describe("the venue's report is impossible for the order (with a reason)")
def report_impossible(finding: Finding | None = None) -> None:
    """Refuse ``hold`` on anything but an IMPOSSIBLE finding with its reason."""
    if _of_kind(finding, FindingKind.IMPOSSIBLE).reason is None:
        raise _unmet("an impossible report names its reason", finding)


def _unknown_answer(
    finding: Finding | None,
    now: datetime | None,
    misses: int,
    first_miss: datetime | None,
    policy: ReconPolicy | None,
) -> tuple[bool, str]:
    """Whether an UNKNOWN `finding` at `now` meets the not-found rule, and how far it is."""
    _of_kind(finding, FindingKind.UNKNOWN)
    if now is None or policy is None:
        raise _unmet("an unknown answer is timed", finding)
    met, count, waited = not_found_rule(misses, first_miss, now, policy)
    shown = (
        f"the not-found rule ({policy.not_found_after} answers over {policy.not_found_wait}; "
        f"{count} over {waited} so far)"
    )
    return met, shown


@describe("the venue does not know the order, and the not-found rule's count or time is not met")
def not_known_yet(
    finding: Finding | None = None,
    now: datetime | None = None,
    misses: int = 0,
    first_miss: datetime | None = None,
    policy: ReconPolicy | None = None,
) -> None:
    """Refuse ``unknown`` once the not-found rule would resolve the order (``give_up``)."""
    met, shown = _unknown_answer(finding, now, misses, first_miss, policy)
    if met:
        raise _unmet(f"{shown} is met: give_up resolves it", finding)


@describe("the venue did not know the order the configured number of times over the time")
def not_found_rule_met(
    finding: Finding | None = None,
    now: datetime | None = None,
    misses: int = 0,
    first_miss: datetime | None = None,
    policy: ReconPolicy | None = None,
) -> None:
    """Refuse ``give_up`` until the count and the time of the not-found rule are both met."""
    met, shown = _unknown_answer(finding, now, misses, first_miss, policy)
    if not met:
        raise _unmet(shown, finding)


@describe("the event is one of those the venue's report calls for")
def called_for(finding: Finding | None = None, venue_event: ExecutionEvent | None = None) -> None:
    """Refuse ``apply`` of an event the finding being applied does not carry."""
    if venue_event is None or venue_event not in _of_kind(finding, FindingKind.DIFFERS).events:
        raise _unmet("the event applied is one the report calls for", finding)


_RECORDED_HOLD = ReasonCode.RECON_REPORT_IMPOSSIBLE
"""The reason every ``hold`` record carries."""
_T0 = datetime(2026, 1, 1, tzinfo=UTC)
_ACK = ExecutionEvent(EventKind.ACK, "recon-1", "o-1", "c-1", _T0)
_OTHER_ACK = ExecutionEvent(EventKind.ACK, "recon-2", "o-1", "c-1", _T0)
_EXPLORED_POLICY = ReconPolicy(not_found_after=2, not_found_wait=timedelta(minutes=5))
R1 = "an order is resolved as never having reached the venue only once the not-found rule is met"
R2 = "the order and the venue are taken to agree only on a report that agrees"
R3 = "nothing but an operator's release leaves HELD"


def _rule_met(machine: OrderReconciliation) -> bool:
    if machine.state is not ReconState.NOT_FOUND:
        return True
    policy = machine.policy
    return machine.misses >= policy.not_found_after and machine.missed_for >= policy.not_found_wait


def _agreed_on_agreement(machine: OrderReconciliation) -> bool:
    last = machine.last_finding
    return machine.state is not ReconState.AGREED or (
        last is not None and last.kind is FindingKind.AGREES
    )


def _leaves_held(happening: Any) -> bool:
    return bool(happening.source == ReconState.HELD.value and happening.event != "release")


class OrderReconciliation(AuditedMachine):
    """
    Reconciling one order. Deny by default: an edge not listed is refused.

    Args:
        client_order_id: The order's id; the instance's correlation id is
            ``recon:<client_order_id>``.
        audit: The sink every transition and refusal is written to.
        policy: The not-found rule's settings.
        start_value: Re-open an instance recovered from its trail in this state.
        misses, first_miss: The not-found count and its start, recovered from the trail.
    """

    audit_machine = "reconciliation"
    durable_on_return = False  # the orchestrator's units of work make it durable
    audit_instance = "correlation_id"
    resting_states = (ReconState.AGREED.value,)

    _ = States.from_enum(ReconState, initial=ReconState.NEEDED, final=[ReconState.NOT_FOUND])

    # fmt: off
    # NEEDED: each answer of the venue is one event.
    _.NEEDED.to(_.AGREED, event="agree", validators=report_agrees)
    _.NEEDED.to(_.APPLYING, event="differ", validators=report_differs)
    _.NEEDED.to.itself(event="unanswered", validators=no_usable_answer, internal=True)
    _.NEEDED.to.itself(event="unknown", validators=not_known_yet, internal=True)
    _.NEEDED.to(_.NOT_FOUND, event="give_up", validators=not_found_rule_met)
    _.NEEDED.to(_.HELD, event="hold", validators=report_impossible)

    # APPLYING: one `apply` per order event, each just before the order's own record.
    _.APPLYING.to.itself(event="apply", validators=called_for, internal=True)
    _.APPLYING.to(_.AGREED, event="agree", validators=report_agrees)
    _.APPLYING.to(_.HELD, event="hold", validators=report_impossible)  # did not converge

    # AGREED is not final: the order may need the venue's word again (a new flag).
    _.AGREED.to(_.NEEDED, event="reopen")

    # HELD: only an operator's release lets reconciliation ask again.
    _.HELD.to(_.NEEDED, event="release")
    # fmt: on

    policy: ReconPolicy = _EXPLORED_POLICY

    properties = (
        Invariant("R1", R1, _rule_met),
        Invariant("R2", R2, _agreed_on_agreement),
        Never("R3", R3, Pattern(where=_leaves_held, label="an event other than release from HELD")),
    )
    _FOUND = {
        "agrees": Finding(FindingKind.AGREES),
        "unknown": Finding(FindingKind.UNKNOWN),
        "unanswered": Finding(FindingKind.UNANSWERED, reason=ReasonCode.RECON_QUERY_FAILED),
        "behind": Finding(FindingKind.BEHIND, reason=ReasonCode.RECON_VENUE_BEHIND),
        "impossible": Finding(FindingKind.IMPOSSIBLE, reason=ReasonCode.RECON_REPORT_IMPOSSIBLE),
        "unreasoned": Finding(FindingKind.IMPOSSIBLE),
        "differs": Finding(FindingKind.DIFFERS, events=(_ACK,)),
        "differs, no events": Finding(FindingKind.DIFFERS),
    }
    _NOW = {"t0": _T0, "t0+1m": _T0 + timedelta(minutes=1), "t0+10m": _T0 + timedelta(minutes=10)}
    inputs = {
        "agree": {"finding": _FOUND},
        "unanswered": {"finding": _FOUND},
        "unknown": {"finding": _FOUND, "now": _NOW},
        "give_up": {"finding": _FOUND, "now": _NOW},
        "hold": {"finding": _FOUND},
        "differ": {"finding": _FOUND},
        "apply": {
            "finding": _FOUND,
            "venue_event": {"the report's ACK": _ACK, "another": _OTHER_ACK},
        },
    }
    setups = (
        Setup("not found after 2 answers over 5 minutes", lambda cls, audit: cls("o-1", audit)),
    )

    def __init__(
        self,
        client_order_id: str,
        audit: AuditSink,
        *,
        policy: ReconPolicy | None = None,
        start_value: ReconState | None = None,
        engine: Engine | str | None = None,
        misses: int = 0,
        first_miss: datetime | None = None,
        correlation_id: str | None = None,
        generation: int = 1,
    ) -> None:
        self._client_order_id = client_order_id
        self.generation = generation
        """Which instance of the order's reconciliation this is: a new one starts when an
        order resolved as not found is flagged again (the venue showed it after all)."""
        if policy is not None:
            self.policy = policy
        self.misses = misses
        """How many times in a row the venue did not know the order."""
        self.first_miss = first_miss
        """When it first did not (None before that)."""
        self.missed_for = timedelta(0)
        """From the first "unknown" answer to the last."""
        self.last_finding: Finding | None = None
        super().__init__(
            audit, start_value=start_value, engine=engine, correlation_id=correlation_id
        )

    @classmethod
    def reopened(
        cls, client_order_id: str, audit: AuditLog, policy: ReconPolicy, engine: Engine
    ) -> OrderReconciliation:
        """
        The latest instance reconciling `client_order_id`, re-opened where its records in
        `audit` left it, with the not-found count and its start (the time its first
        "unknown" answer was asked at) and, if held, the reason it was held for.
        """
        generation = 1
        while audit.by_correlation(cls.correlation_of(client_order_id, generation + 1)):
            generation += 1
        state: str | None = None
        misses, first_miss = 0, None
        last: Finding | None = None
        for record in audit.by_correlation(cls.correlation_of(client_order_id, generation)):
            if record.machine != cls.audit_machine or record.outcome is not AuditOutcome.APPLIED:
                continue
            state = record.target
            if record.event == "hold":  # what the operator is shown
                last = Finding(FindingKind.IMPOSSIBLE, record.detail, reason=_RECORDED_HOLD)
            if record.event in ("unknown", "give_up"):
                misses += 1
                first_miss = first_miss or asked_at(record.detail) or record.ts
            elif record.event in ("agree", "differ", "reopen", "release"):
                misses, first_miss = 0, None
        machine = cls(
            client_order_id,
            audit,
            policy=policy,
            start_value=None if state is None else ReconState(state),
            engine=engine,
            misses=misses,
            first_miss=first_miss,
            generation=generation,
        )
        machine.last_finding = last
        return machine

    @staticmethod
    def correlation_of(client_order_id: str, generation: int = 1) -> str:
        """
        The correlation id of an instance reconciling `client_order_id`: ``recon:<id>``,
        then ``recon:<id>#<n>`` for the n-th.
        """
        suffix = "" if generation == 1 else f"#{generation}"
        return f"recon:{client_order_id}{suffix}"

    @property
    def correlation_id(self) -> str:
        """``recon:<client order id>`` (``#<n>`` for a later instance)."""
        return self.correlation_of(self._client_order_id, self.generation)

    @property
    def client_order_id(self) -> str:
        """The order reconciled."""
        return self._client_order_id

    @property
    def state(self) -> ReconState:
        """Where it stands."""
        value: ReconState = self.current_state_value
        return value

    def guard_context(self) -> dict[str, Any]:
        """The not-found rule's count, start and settings, for its validators."""
        return {"misses": self.misses, "first_miss": self.first_miss, "policy": self.policy}

    # -- callbacks ---------------------------------------------------------------------------

    def after_unknown(self, now: datetime) -> None:
        """Count the answer toward the not-found rule."""
        self._missed(now)

    def after_give_up(self, now: datetime, finding: Finding) -> None:
        """The last answer counts too."""
        self._missed(now)
        self.last_finding = finding

    def _missed(self, now: datetime) -> None:
        self.misses += 1
        if self.first_miss is None:
            self.first_miss = now
        self.missed_for = now - self.first_miss

    def after_agree(self, finding: Finding) -> None:
        """The venue had it: the not-found count starts again."""
        self.last_finding = finding
        self._known()

    def after_differ(self, finding: Finding) -> None:
        """The venue had it."""
        self.last_finding = finding
        self._known()

    def after_hold(self, finding: Finding) -> None:
        self.last_finding = finding

    def _known(self) -> None:
        self.misses, self.first_miss, self.missed_for = 0, None, timedelta(0)
