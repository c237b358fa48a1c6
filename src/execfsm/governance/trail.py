"""
Verification of a recorded audit trail against the declared machines: the hash chain and
gapless ``seq`` first, then that every applied transition was legal in the model at that
point of its machine's life (an edge, or an applied row of its declared cases taken in place),
and that every refusal or duplicate carries a reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from statemachine import StateMachine

from execfsm.contracts import ReasonCode
from execfsm.enums import MachineReason
from execfsm.fsm.audit import AuditOutcome, AuditRecord
from execfsm.fsm.cases import ANY_EVENT
from execfsm.fsm.model import MachineModel
from execfsm.ledger.audit import ChainVerification, verify_records

_REFUSED_BEFORE_ANY_STATE = frozenset(
    {
        ReasonCode.EVENT_UNKNOWN_ORDER,
        ReasonCode.IDEMPOTENCY_CONFLICT,
        ReasonCode.DUPLICATE_INTENT,
        ReasonCode.IDEMPOTENCY_IN_PROGRESS_ELSEWHERE,
    }
)
"""Refusals of something that never started here: an event for an order we do not know, an
intent whose key a batch (or another orchestrator's stream) had already used with other
terms, an intent answered with another stream's result or refused while that stream works
on it."""


def _declared_in_place(model: MachineModel, record: AuditRecord, state: str) -> bool:
    """
    Whether `record` is an applied row of the model's declared cases, as the record says
    (event, reason), taken in place in the state the subject is in.
    """
    if record.reason_code is None or not (record.source == record.target == state):
        return False
    reason = str(record.reason_code)
    return any(
        case.outcome == AuditOutcome.APPLIED
        and case.event in (record.event, ANY_EVENT)
        and state in case.states
        and case.reason == reason
        for case in model.cases
    )


def _bad(count: int, record: AuditRecord, problem: str) -> ChainVerification:
    return ChainVerification(False, count, record.seq, problem)


def verify_trail(
    records: Sequence[AuditRecord],
    machines: Mapping[str, type[StateMachine]],
    *,
    skip_unknown: bool = False,
) -> ChainVerification:
    """
    The first record that breaks the chain or the machines' rules, or ``ok``.
    `skip_unknown`: the records of a machine not in `machines` are checked in the chain
    only (a forced drawing leaves them out), else the first one fails.
    """
    chain = verify_records(records)
    if not chain.ok:
        return chain
    models = {name: MachineModel.from_machine(cls) for name, cls in machines.items()}
    edges = {
        name: {(t.source, t.event, t.target) for t in model.transitions}
        for name, model in models.items()
    }
    events = {name: set(model.events) for name, model in models.items()}
    instance_field = {
        name: getattr(cls, "audit_instance", "correlation_id") for name, cls in machines.items()
    }
    current: dict[tuple[str, str], str] = {}
    last_move: dict[tuple[str, str], tuple[str, str, str]] = {}
    for count, record in enumerate(records):
        model = models.get(record.machine)
        if model is None and skip_unknown:
            continue
        if model is None:
            return _bad(
                count,
                record,
                f"unknown machine {record.machine!r} (a machine of your own must be "
                f"registered: execfsm.register_machine, or [tool.execfsm] machines)",
            )
        instance = getattr(record, instance_field[record.machine])
        key = (record.machine, instance or "")
        known = key in current
        state = current.get(key, model.initial_state)
        code = record.reason_code
        if isinstance(code, MachineReason) and code.value not in model.reason_codes:
            return _bad(count, record, f"{code.value} is not a reason code of {model.name}")
        if record.outcome is AuditOutcome.APPLIED:
            if _declared_in_place(model, record, state):
                continue  # a declared case applied where the machine stands (a late fill)
            if record.source != state:
                problem = f"applied from {record.source}, but the {record.machine} was in {state}"
                return _bad(count, record, problem)
            edge = (record.source, record.event, record.target)
            if edge in edges[record.machine]:
                current[key] = str(record.target)
                last_move[key] = (record.event, str(record.source), str(record.target))
                continue
            if record.target == state and record.event not in events[record.machine]:
                continue  # an annotation (dispatch attempt, reconciliation flag): nothing moved
            shown = f"{record.source} --{record.event}--> {record.target}"
            return _bad(count, record, f"{shown} is not a transition of {model.name}")
        if record.reason_code is None:
            return _bad(count, record, f"{record.outcome} record carries no reason code")
        if record.source is None:
            if known or record.reason_code not in _REFUSED_BEFORE_ANY_STATE:
                return _bad(count, record, "a refusal without a source state")
        elif record.source != state:
            return _bad(
                count,
                record,
                f"{record.outcome} in {record.source}, but the {record.machine} was in {state}",
            )
        if record.reason_code is ReasonCode.CALLBACK_FAILED:
            undone = (record.event, str(record.target), str(record.source))
            if last_move.pop(key, None) != undone:
                return _bad(count, record, "undoes a move that is not the one recorded before")
            current[key] = str(record.target)  # the move recorded before did not happen
        else:
            last_move.pop(key, None)
    return ChainVerification(True, len(records))


def undone_move(record: AuditRecord) -> bool:
    """
    Whether `record` says the move recorded before it did not happen (a callback raised):
    the instance is then where its ``target`` says.
    """
    return record.reason_code is ReasonCode.CALLBACK_FAILED and record.target is not None


def instance_states(
    records: Sequence[AuditRecord], machines: Mapping[str, type[StateMachine]]
) -> dict[str, dict[str, str]]:
    """
    The state each instance of `machines` was left in by `records` (a verified trail): by
    machine name, then by instance (the record field the machine's ``audit_instance``
    names). Instances that never moved are absent.
    """
    fields = {
        name: getattr(cls, "audit_instance", "correlation_id") for name, cls in machines.items()
    }
    states: dict[str, dict[str, str]] = {}
    for record in records:
        field = fields.get(record.machine)
        if field is None or record.target is None:
            continue
        if record.outcome is not AuditOutcome.APPLIED and not undone_move(record):
            continue
        instance = getattr(record, field) or ""
        states.setdefault(record.machine, {})[instance] = record.target
    return states
