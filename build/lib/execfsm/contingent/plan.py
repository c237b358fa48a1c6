"""
What a contingent group does about its legs: one pure function, `react`, from the group's
state and a view of its legs (and the leg event that arrived) to the group's next event and
the actions it owes (cancel a leg, release a held one, resize one). The orchestrator's driver
and the property exploration both run it, so what is proven is what runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import attrs

from execfsm.contingent.terms import ContingencyType, ContingentGroup, GroupState, TriggerMode
from execfsm.contracts import FINAL_ORDER_STATES, EventKind, OrderState, ReasonCode

LIVE = frozenset(
    {
        OrderState.SUBMITTED,
        OrderState.ACKNOWLEDGED,
        OrderState.PARTIALLY_FILLED,
        OrderState.PENDING_REPLACE,
    }
)
"""Leg states in which the venue may still fill the leg and no cancel is out."""

RESIZABLE = frozenset({OrderState.ACKNOWLEDGED, OrderState.PARTIALLY_FILLED})
"""Leg states in which a replace (a resize) can be requested."""

_ZERO = Decimal(0)


@attrs.frozen
class LegView:
    """
    One leg as the group sees it. ``state`` None: a held leg, never sent.
    """

    role: str
    state: OrderState | None
    filled: Decimal = _ZERO
    quantity: Decimal = _ZERO
    """The quantity in force (a resize changes it)."""

    @property
    def live(self) -> bool:
        """
        Sent, not final, no cancel out.
        """
        return self.state in LIVE

    @property
    def settled(self) -> bool:
        """
        Final (a held leg that is never released counts once its group says so).
        """
        return self.state in FINAL_ORDER_STATES


@attrs.frozen
class GroupView:
    """
    A group's terms and its legs as they stand: what the group machine's guards read.
    """

    group: ContingentGroup
    legs: Mapping[str, LegView]

    def leg(self, role: str) -> LegView:
        """
        The view of the leg playing `role`.
        """
        return self.legs[role]

    @property
    def oco_filled(self) -> Decimal:
        """
        What the OCO legs have filled together.
        """
        return sum((self.legs[r].filled for r in self.group.oco_roles), _ZERO)


@attrs.frozen
class Cause:
    """
    The leg event the group reacts to (None when it re-reads its legs, e.g. after a send).
    """

    role: str
    kind: EventKind


@attrs.frozen
class Action:
    """
    What the group asks of a leg: ``cancel`` it, ``release`` it (a held leg, for
    ``quantity``), or ``resize`` it (a replace to ``quantity``).
    """

    kind: str
    role: str
    quantity: Decimal | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.role}" + (f" to {self.quantity}" if self.quantity else "")


@attrs.frozen
class Reaction:
    """
    The group's next event (None: it stays), the actions it owes, and a flag to raise.
    """

    event: str | None = None
    actions: tuple[Action, ...] = ()
    reason: ReasonCode | None = None
    detail: str = ""


NOTHING = Reaction()

# -- the predicates the machine's guards state ------------------------------------------------


def overfilled(view: GroupView) -> bool:
    """
    The OCO legs have filled more, together, than the group's quantity.
    """
    return bool(view.group.oco_roles) and view.oco_filled > view.group.quantity


def parent_releases(view: GroupView) -> bool:
    """
    The parent has the fill its mode needs: complete (FULL) or any (PARTIAL); a parent that
    ended part-filled releases in either mode.
    """
    role = view.group.parent_role
    if role is None:
        return False
    parent = view.leg(role)
    if parent.filled <= 0:
        return False
    return (
        view.group.mode is TriggerMode.PARTIAL
        or parent.state is OrderState.FILLED
        or parent.settled
    )


def parent_ended_unfilled(view: GroupView) -> bool:
    """
    The parent ended (cancelled, rejected, expired, failed) without any fill.
    """
    role = view.group.parent_role
    return role is not None and view.leg(role).settled and view.leg(role).filled == 0


def oco_winner(view: GroupView) -> str | None:
    """
    The OCO leg whose fill triggers the cancel of the others: complete (FULL), any (PARTIAL).
    """
    for role in view.group.oco_roles:
        leg = view.leg(role)
        if leg.filled > 0 and (
            view.group.mode is TriggerMode.PARTIAL or leg.filled >= leg.quantity
        ):
            return role
    return None


def settled(view: GroupView) -> bool:
    """
    Every sent leg is final, held legs are never to be sent, and nothing is overfilled.
    """
    if overfilled(view):
        return False
    for leg in view.legs.values():
        if leg.state is None:
            if not parent_ended_unfilled(view):
                return False
        elif not leg.settled:
            return False
    return True


# -- the reaction -------------------------------------------------------------------------------


def _cancels(view: GroupView, winner: str) -> tuple[Action, ...]:
    return tuple(
        Action("cancel", role)
        for role in view.group.oco_roles
        if role != winner and view.leg(role).live
    )


def _oco_resizes(view: GroupView, cause: Cause | None) -> tuple[Action, ...]:
    """
    One-updates-other: after a fill on an OCO leg (or a leg's ack: in flight it could not be
    reduced), every OCO leg that works for more than the group's quantity less what the
    others filled is reduced to it; a leg with nothing left is cancelled. Before a trigger
    this is FULL mode's answer to partial fills; after one it reduces the winner by what
    raced its cancel on the others.
    """
    if cause is None or cause.kind not in (EventKind.FILL, EventKind.ACK):
        return ()
    actions = []
    for role in view.group.oco_roles:
        leg = view.leg(role)
        if leg.state not in RESIZABLE:
            continue
        if cause.kind is EventKind.ACK and cause.role != role:
            continue
        target = view.group.quantity - (view.oco_filled - leg.filled)
        if target <= leg.filled:
            actions.append(Action("cancel", role))
        elif target < leg.quantity:
            actions.append(Action("resize", role, target))
    return tuple(actions)


def _release_resizes(view: GroupView, cause: Cause | None) -> tuple[Action, ...]:
    """
    PARTIAL mode: a released leg follows its parent's fills (raised in proportion).
    """
    parent = view.group.parent_role
    if cause is None or parent is None or view.group.mode is not TriggerMode.PARTIAL:
        return ()
    if cause.kind not in (EventKind.FILL, EventKind.ACK):
        return ()
    filled = view.leg(parent).filled
    actions = []
    for leg in view.group.legs:
        seen = view.leg(leg.role)
        if not leg.held or seen.state not in RESIZABLE:
            continue
        if cause.role not in (parent, leg.role) or (cause.role == parent) != (
            cause.kind is EventKind.FILL
        ):
            continue
        target = view.group.release_quantity(leg.role, filled)
        if target > seen.quantity:
            actions.append(Action("resize", leg.role, target))
    return tuple(actions)


def react(view: GroupView, state: GroupState, cause: Cause | None = None) -> Reaction:
    """
    The group's next step in `state` given its legs (`view`) and the leg event (`cause`).
    """
    group = view.group
    if state in (GroupState.PENDING, GroupState.REFUSED, GroupState.OVERFILLED):
        return NOTHING
    if overfilled(view):
        detail = f"the OCO legs filled {view.oco_filled} of a group quantity {group.quantity}"
        stop = tuple(Action("cancel", r) for r in group.oco_roles if view.leg(r).live)
        return Reaction("overfill", stop, ReasonCode.CONTINGENT_OVERFILL, detail)
    if state is GroupState.WORKING and group.parent_role is not None:
        if parent_releases(view):
            filled = view.leg(group.parent_role).filled
            actions = tuple(
                Action("release", leg.role, group.release_quantity(leg.role, filled))
                for leg in group.legs
                if leg.held and view.leg(leg.role).state is None
            )
            return Reaction("release", actions, detail=f"the parent filled {filled}")
        if parent_ended_unfilled(view):
            detail = "the parent ended without a fill: the held legs are cancelled, never sent"
            return Reaction("complete", (), ReasonCode.CONTINGENT_HELD_CANCELLED, detail)
        return NOTHING
    oco_state = GroupState.WORKING if group.kind is ContingencyType.OCO else GroupState.RELEASED
    if state is oco_state:
        winner = oco_winner(view)
        if winner is not None:
            detail = f"{winner} filled {view.leg(winner).filled}: the other legs are cancelled"
            return Reaction("trigger", _cancels(view, winner), detail=detail)
    if state is not GroupState.DONE and settled(view):
        return Reaction("complete", detail="every leg has ended")
    if (
        state is GroupState.TRIGGERED
        and cause is not None
        and cause.kind is EventKind.CANCEL_REJECT
        and view.leg(cause.role).live
    ):
        detail = f"the venue refused to cancel {cause.role}: it works on"
        return Reaction(None, (), ReasonCode.CONTINGENT_CANCEL_REJECTED, detail)
    actions = _oco_resizes(view, cause) if state in (oco_state, GroupState.TRIGGERED) else ()
    if state is GroupState.RELEASED:
        actions += _release_resizes(view, cause)
    return Reaction(None, actions) if actions else NOTHING


def owed_resizes(view: GroupView, state: GroupState) -> tuple[Action, ...]:
    """
    The resizes the group's legs stand in need of now, whatever event came last: an OCO
    leg working for more than the group's quantity less what the others filled, a released
    leg below its parent's proportion (PARTIAL).
    """
    group = view.group
    actions: tuple[Action, ...] = ()
    oco_state = GroupState.WORKING if group.kind is ContingencyType.OCO else GroupState.RELEASED
    if state in (oco_state, GroupState.TRIGGERED):
        actions += _oco_resizes(view, Cause("", EventKind.FILL))
    if state is GroupState.RELEASED and group.parent_role is not None:
        actions += _release_resizes(view, Cause(group.parent_role, EventKind.FILL))
    return actions


def due(view: GroupView, state: GroupState) -> tuple[str, ...]:
    """
    What a group owes that a restart cannot see sent: a reaction not taken yet, a resize
    not requested (`owed_resizes`), a released leg that was never sent. Empty: nothing owed.
    (A triggered group's cancels are read from the legs' trails by the driver.)
    """
    reaction = react(view, state)
    owed = [str(a) for a in reaction.actions]
    if reaction.event is not None:
        owed.insert(0, f"{reaction.event} not taken")
    owed += [str(a) for a in owed_resizes(view, state) if str(a) not in owed]
    if state is not GroupState.PENDING and state is not GroupState.REFUSED:
        for leg in view.group.legs:
            if (
                leg.held
                and view.leg(leg.role).state is None
                and state is not GroupState.WORKING
                and not parent_ended_unfilled(view)
            ):
                owed.append(f"release {leg.role}")
    return tuple(owed)


def owed_actions(view: GroupView, state: GroupState) -> tuple[Action, ...]:
    """The cancels a triggered group owes its live other legs; the releases a released
    group owes its held legs never sent; the resizes its legs need (`owed_resizes`)."""
    group = view.group
    resizes = owed_resizes(view, state)
    if state is GroupState.TRIGGERED:
        winner = oco_winner(view)
        cancels = tuple(
            Action("cancel", role)
            for role in group.oco_roles
            if role != winner and view.leg(role).live
        )
        return cancels + tuple(a for a in resizes if a.role not in {c.role for c in cancels})
    if state is GroupState.RELEASED and group.parent_role is not None:
        filled = view.leg(group.parent_role).filled
        return (
            tuple(
                Action("release", leg.role, group.release_quantity(leg.role, filled))
                for leg in group.legs
                if leg.held and view.leg(leg.role).state is None
            )
            + resizes
        )
    return resizes
