"""
`ContingentMachine`: the declared parent machine of one contingent group (OCO, OTO, bracket)
over its `OrderLifecycle` legs, written with the framework's public machine API as a user
would write one: an `AuditedMachine` subclass, states from an enum, one edge per line, guards
that are `describe`d validators over a `GroupView` of the legs.

The group's decisions are `execfsm.contingent.plan.react`; every edge's validator states the
condition `react` took it on, so an event sent on any other ground is refused and audited.
"""

from __future__ import annotations

from typing import Any

from statemachine.states import States

import execfsm.contingent.plan as plan
from execfsm.contingent.plan import GroupView
from execfsm.contingent.terms import ContingentGroup, GroupState
from execfsm.contracts import ReasonCode
from execfsm.errors import ContractViolation
from execfsm.fsm import guards as g
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.audited import AuditedMachine
from execfsm.fsm.engine import Engine
from execfsm.fsm.guards import describe
from execfsm.fsm.properties import Explored
from execfsm.typing import AuditSink

G1 = "the OCO legs never fill beyond the group quantity, except a flagged race with the venue"
G2 = "once an OCO leg triggers, every other OCO leg is ended or its cancel was requested"
G3 = "a held leg is never sent before its parent has the fill that releases it"
G4 = "once every sent leg has ended and nothing is owed, the group has ended"
"""The group properties' titles; `execfsm.contingent.explore` proves them (G1-G4)."""


def _unmet(rule: str, view: GroupView | None) -> ContractViolation:
    shown = "no view of the legs" if view is None else f"group {view.group.group_id}"
    return ContractViolation(
        f"contingent: {rule} does not hold ({shown})",
        reason=ReasonCode.ILLEGAL_TRANSITION,
        field="view",
        value=None if view is None else view.group.group_id,
    )


@describe("the parent has the fill its mode needs (all, or any; any once it has ended)")
def parent_releases(view: GroupView | None = None) -> None:
    """
    Refuse ``release`` unless the parent's fill releases the held legs.
    """
    if view is None or not plan.parent_releases(view):
        raise _unmet("parent_releases", view)


@describe("an OCO leg filled as the mode says (all of it, or any of it)")
def oco_leg_filled(view: GroupView | None = None) -> None:
    """
    Refuse ``trigger`` unless an OCO leg's fill triggers the cancel of the others.
    """
    if view is None or plan.oco_winner(view) is None:
        raise _unmet("oco_leg_filled", view)


@describe("every sent leg has ended, held legs will never be sent, fills within the quantity")
def legs_settled(view: GroupView | None = None) -> None:
    """
    Refuse ``complete`` while a leg may still fill or a held leg may still be released.
    """
    if view is None or not plan.settled(view):
        raise _unmet("legs_settled", view)


@describe("the OCO legs together filled more than the group's quantity")
def fills_beyond_quantity(view: GroupView | None = None) -> None:
    """
    Refuse ``overfill`` unless the legs really filled beyond the group's quantity.
    """
    if view is None or not plan.overfilled(view):
        raise _unmet("fills_beyond_quantity", view)


class ContingentMachine(AuditedMachine):
    """
    One contingent group's machine. Deny by default: an edge not listed is refused.

    Args:
        group: The group's terms; its ``group_id`` is the ``correlation_id`` of every record.
        audit: The sink every transition and refusal is written to.
        start_value: Re-open a group recovered from its trail in this state.
        engine: `Engine.COMPILED` (default) or `Engine.REFERENCE`.
    """

    audit_machine = "contingent"
    durable_on_return = False  # the orchestrator's units of work make it durable
    audit_instance = "correlation_id"  # the group id: one instance per group
    resting_states = (GroupState.DONE.value,)  # every leg ended (G4); only a late fill moves it

    properties = (  # proven over interleavings of venue events to the legs
        Explored("G1", G1, "execfsm.contingent.explore:g1_verdict", extra_depth=-1),
        Explored("G2", G2, "execfsm.contingent.explore:g2_verdict", extra_depth=-1),
        Explored("G3", G3, "execfsm.contingent.explore:g3_verdict", extra_depth=-1),
        Explored("G4", G4, "execfsm.contingent.explore:g4_verdict", extra_depth=-1),
    )

    _ = States.from_enum(
        GroupState,
        initial=GroupState.PENDING,
        final=[GroupState.REFUSED, GroupState.OVERFILLED],
    )

    # fmt: off
    # PENDING: the legs pass stages 2-4 together; the first record carries the group's terms.
    _.PENDING.to(_.WORKING, event="accept")
    _.PENDING.to(_.REFUSED, event="refuse", validators=g.reason_given)  # nothing was sent

    # WORKING: OCO legs both work; an OTO parent (a bracket entry) works, its children held.
    _.WORKING.to(_.RELEASED, event="release", validators=parent_releases)
    _.WORKING.to(_.TRIGGERED, event="trigger", validators=oco_leg_filled)
    _.WORKING.to(_.DONE, event="complete", validators=legs_settled)
    _.WORKING.to(_.OVERFILLED, event="overfill", validators=fills_beyond_quantity)

    # RELEASED: the children were sent; a bracket's exits now work as an OCO pair.
    _.RELEASED.to(_.TRIGGERED, event="trigger", validators=oco_leg_filled)
    _.RELEASED.to(_.DONE, event="complete", validators=legs_settled)
    _.RELEASED.to(_.OVERFILLED, event="overfill", validators=fills_beyond_quantity)

    # TRIGGERED: the cancels of the other legs are out.
    _.TRIGGERED.to(_.DONE, event="complete", validators=legs_settled)
    _.TRIGGERED.to(_.OVERFILLED, event="overfill", validators=fills_beyond_quantity)  # a fill raced the cancel  # noqa: E501

    # DONE is not final: a late fill on a cancelled leg can still overfill the group.
    _.DONE.to(_.OVERFILLED, event="overfill", validators=fills_beyond_quantity)  # late fill after the cancel  # noqa: E501
    # fmt: on

    def __init__(
        self,
        group: ContingentGroup,
        audit: AuditSink,
        *,
        start_value: GroupState | None = None,
        engine: Engine | str | None = None,
    ) -> None:
        self.group = group
        super().__init__(audit, start_value=start_value, engine=engine)

    @property
    def correlation_id(self) -> str:
        """
        The group's id.
        """
        return self.group.group_id

    @property
    def state(self) -> GroupState:
        """
        The group's current state.
        """
        value: GroupState = self.current_state_value
        return value

    def guard_context(self) -> dict[str, Any]:
        """
        Nothing is injected: the legs' view comes with each event.
        """
        return {}

    def take(self, reaction: plan.Reaction, view: GroupView) -> None:
        """
        Take `reaction`'s event with `view` (its guard checks it), or, with no event, record
        its flag where the group stands. The caller then performs its actions.
        """
        if reaction.event is not None:
            self.send(
                reaction.event, view=view, reason_code=reaction.reason, detail=reaction.detail
            )
        elif reaction.reason is not None:
            self.record(
                "flag",
                AuditOutcome.APPLIED,
                reaction.reason,
                reaction.detail,
                target=str(self.state),
            )
