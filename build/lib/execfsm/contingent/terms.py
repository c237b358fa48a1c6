"""
The terms of a contingent group: its kind (OCO, OTO, bracket), its trigger mode, and its legs,
each an ordinary `OrderIntent` with a role. Checked when built; encoded once (canonical JSON)
for the group's first audit record, which is what a restart rebuilds the group from.
"""

from __future__ import annotations

import enum
import json
from decimal import ROUND_DOWN, Decimal
from typing import Any

import attrs

from execfsm.contracts import OrderIntent, OrderSide, ReasonCode
from execfsm.errors import ContractViolation
from execfsm.ids import canonical_json, idempotency_key, stable_id


class ContingencyType(enum.StrEnum):
    """
    How the legs of a group depend on each other (FIX ContingencyType, tag 1385).
    """

    OCO = "OCO"
    """One-cancels-other: both legs work; a fill on one cancels (or reduces) the other."""
    OTO = "OTO"
    """One-triggers-other: the child is held, never sent, until the parent's fill releases it."""
    BRACKET = "BRACKET"
    """An entry that triggers a take-profit and a stop-loss, which form an OCO pair."""


class TriggerMode(enum.StrEnum):
    """
    Which fill triggers the contingency.
    """

    FULL = "FULL"
    """OTO: the parent's complete fill releases the child (a parent that ends part-filled
    releases it in proportion). OCO: a leg's complete fill cancels the other; a partial fill
    reduces the other by the filled amount (one-updates-other), so the pair never works for
    more than the group's quantity."""
    PARTIAL = "PARTIAL"
    """OTO: the parent's first fill releases the child in proportion to what is filled, and
    later fills raise it. OCO: any fill on one leg cancels the other."""


class GroupState(enum.StrEnum):
    """
    The states of a contingent group's machine.
    """

    PENDING = "PENDING"
    WORKING = "WORKING"
    RELEASED = "RELEASED"
    TRIGGERED = "TRIGGERED"
    DONE = "DONE"
    REFUSED = "REFUSED"
    OVERFILLED = "OVERFILLED"


_QUANTUM = Decimal("1e-12")

ROLES: dict[ContingencyType, tuple[tuple[str, bool], ...]] = {
    ContingencyType.OCO: (("first", False), ("second", False)),
    ContingencyType.OTO: (("parent", False), ("child", True)),
    ContingencyType.BRACKET: (("entry", False), ("take_profit", True), ("stop_loss", True)),
}
"""Each kind's roles in order, with whether the leg is held (not sent at submit)."""


def _refused(group_id: str, problem: str) -> ContractViolation:
    return ContractViolation(
        f"contingent group {group_id!r}: {problem}",
        reason=ReasonCode.CONTINGENT_GROUP_REFUSED,
        field="group",
        value=group_id,
    )


@attrs.frozen
class Leg:
    """
    One leg of a group: its role, its intent, and whether it is held at submit.
    """

    role: str
    intent: OrderIntent
    held: bool

    @property
    def idempotency_key(self) -> str:
        """
        The leg's intent's idempotency key.
        """
        return idempotency_key(self.intent)

    @property
    def client_order_id(self) -> str:
        """
        The id its order has (or will have once released): derived from its key, as intake
        derives it.
        """
        return stable_id("ord", self.idempotency_key)


@attrs.frozen
class ContingentGroup:
    """
    A contingent group's terms. Build one with `oco`, `oto` or `bracket`; a leg without an
    ``intent_id`` gets ``<group_id>.<role>`` (so its key, and its order id, do not depend on
    the quantity a release gives it).

    Refused with a `ContractViolation` (CONTINGENT_GROUP_REFUSED): an empty group id; OCO legs
    on different symbols or quantities; bracket exits on another symbol, on the entry's side,
    or for another quantity than the entry's; two legs with one idempotency key.
    """

    group_id: str
    kind: ContingencyType
    legs: tuple[Leg, ...]
    mode: TriggerMode

    @classmethod
    def oco(
        cls,
        group_id: str,
        first: OrderIntent,
        second: OrderIntent,
        *,
        mode: TriggerMode = TriggerMode.PARTIAL,
    ) -> ContingentGroup:
        """
        Two legs working at once; a fill on one cancels (or reduces) the other.
        """
        return cls._build(group_id, ContingencyType.OCO, (first, second), mode)

    @classmethod
    def oto(
        cls,
        group_id: str,
        parent: OrderIntent,
        child: OrderIntent,
        *,
        mode: TriggerMode = TriggerMode.FULL,
    ) -> ContingentGroup:
        """
        A parent sent now and a child held until the parent's fill releases it.
        """
        return cls._build(group_id, ContingencyType.OTO, (parent, child), mode)

    @classmethod
    def bracket(
        cls,
        group_id: str,
        entry: OrderIntent,
        take_profit: OrderIntent,
        stop_loss: OrderIntent,
        *,
        mode: TriggerMode = TriggerMode.FULL,
    ) -> ContingentGroup:
        """
        An entry whose fill releases a take-profit and a stop-loss, which then form an OCO.
        """
        return cls._build(group_id, ContingencyType.BRACKET, (entry, take_profit, stop_loss), mode)

    @classmethod
    def _build(
        cls,
        group_id: str,
        kind: ContingencyType,
        intents: tuple[OrderIntent, ...],
        mode: TriggerMode,
    ) -> ContingentGroup:
        if not isinstance(group_id, str) or not group_id.strip():
            raise _refused(str(group_id), "group_id must be a non-blank string")
        legs = []
        for (role, held), intent in zip(ROLES[kind], intents, strict=True):
            if not isinstance(intent, OrderIntent):
                raise _refused(group_id, f"leg {role} must be an OrderIntent")
            if intent.intent_id is None:
                intent = attrs.evolve(intent, intent_id=f"{group_id}.{role}")
            legs.append(Leg(role, intent, held))
        group = cls(group_id, ContingencyType(kind), tuple(legs), TriggerMode(mode))
        group._check()
        return group

    def _check(self) -> None:
        keys = {leg.idempotency_key for leg in self.legs}
        if len(keys) != len(self.legs):
            raise _refused(self.group_id, "two legs share one idempotency key")
        pair = [self.leg(role).intent for role in self.oco_roles]
        if pair:
            symbols = {i.symbol for i in pair}
            quantities = {i.quantity for i in pair}
            if len(symbols) != 1 or len(quantities) != 1:
                raise _refused(self.group_id, "the OCO legs must trade one symbol, one quantity")
        if self.kind is ContingencyType.BRACKET:
            entry = self.leg("entry").intent
            exit_side = OrderSide.SELL if entry.side is OrderSide.BUY else OrderSide.BUY
            for intent in pair:
                if (intent.symbol, intent.side, intent.quantity) != (
                    entry.symbol,
                    exit_side,
                    entry.quantity,
                ):
                    raise _refused(
                        self.group_id,
                        f"a bracket exit must be {exit_side} {entry.quantity} {entry.symbol}",
                    )

    # -- what the group is made of ---------------------------------------------------------

    def leg(self, role: str) -> Leg:
        """
        The leg playing `role`.
        """
        for leg in self.legs:
            if leg.role == role:
                return leg
        raise KeyError(f"contingent group {self.group_id}: no leg {role!r}")

    @property
    def parent_role(self) -> str | None:
        """
        The leg whose fill releases the held legs (OTO, bracket), or None (OCO).
        """
        return None if self.kind is ContingencyType.OCO else self.legs[0].role

    @property
    def oco_roles(self) -> tuple[str, ...]:
        """
        The legs that cancel each other: both OCO legs, a bracket's two exits.
        """
        if self.kind is ContingencyType.OCO:
            return ("first", "second")
        if self.kind is ContingencyType.BRACKET:
            return ("take_profit", "stop_loss")
        return ()

    @property
    def quantity(self) -> Decimal:
        """
        The group's quantity: what its OCO legs may fill together (the entry's quantity for a
        bracket, the legs' for an OCO, the parent's for an OTO).
        """
        return self.legs[0].intent.quantity

    def release_quantity(self, role: str, parent_filled: Decimal) -> Decimal:
        """
        What a held leg is released for: its own quantity in proportion to the parent's fill
        (all of it once the parent is completely filled), at most 12 decimal places.
        """
        parent = self.legs[0].intent.quantity
        own = self.leg(role).intent.quantity
        if parent_filled >= parent:
            return own
        return (own * parent_filled / parent).quantize(_QUANTUM, rounding=ROUND_DOWN).normalize()

    # -- the one encoding ------------------------------------------------------------------

    def terms(self) -> str:
        """
        The group's terms as canonical JSON: what its first audit record carries, and what
        a resubmitted group id is compared by.
        """
        return canonical_json(
            {
                "group_id": self.group_id,
                "kind": self.kind,
                "mode": self.mode,
                "legs": [
                    {"role": leg.role, "held": leg.held, "intent": leg.intent} for leg in self.legs
                ],
            }
        )

    @classmethod
    def from_terms(cls, text: str) -> ContingentGroup:
        """
        The group `terms` encoded.
        """
        data: dict[str, Any] = json.loads(text)
        legs = tuple(
            Leg(str(item["role"]), OrderIntent.from_mapping(item["intent"]), bool(item["held"]))
            for item in data["legs"]
        )
        return cls(
            str(data["group_id"]),
            ContingencyType(data["kind"]),
            legs,
            TriggerMode(data["mode"]),
        )
