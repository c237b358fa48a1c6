"""
The group properties of contingent orders, proven by bounded exploration over interleavings of
venue events to every leg — fills in parts, acks, cancels and their rejects, venue rejects,
expiries, replace answers — on real `OrderLifecycle` legs and a real `ContingentMachine`,
with the group reacting after every event through the same `plan.react` the orchestrator
runs (its actions applied as the orchestrator applies them: a cancel is a ``request_cancel``,
a resize a ``request_replace``, a release a new leg submitted).

The properties, checked after every step:

- G1 quantity: the OCO legs never fill beyond the group's quantity, unless the group is
  OVERFILLED (flagged) and every fill past the quantity landed on a leg the group had
  already asked to cancel or reduce, or one it could not ask (in flight, a request already
  out, or ended: a late fill, which the order flags too): a race with the venue, never
  hidden.
- G2 cancel on trigger: once an OCO leg's fill triggered the group, every other OCO leg is
  ended, or its cancel (or reduction) was requested in the same reaction.
- G3 held: a held leg (OTO child, bracket exit) is never sent before the parent has a fill
  (FULL mode: before it is completely filled, or ended part-filled); a parent that ended
  without a fill never releases it.
- G4 settles: once every sent leg has ended and nothing is owed, the group has ended too.

The same check over a mutated `react` (e.g. one that drops the cancels) must fail: that is
how the tests show the exploration can tell. Written against plain functions (a predicate
per property over a `Step`), ready to be re-declared in the framework's property form.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from decimal import Decimal

import attrs

import execfsm.contingent.plan as plan
from execfsm.clock import EPOCH, FixedClock
from execfsm.contingent.machine import G1, G2, G3, G4, ContingentMachine
from execfsm.contingent.plan import Action, Cause, GroupView, LegView, Reaction
from execfsm.contingent.terms import ContingentGroup, GroupState, TriggerMode
from execfsm.contracts import (
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
from execfsm.fsm.engine import Engine
from execfsm.fsm.order import OrderLifecycle
from execfsm.ledger.audit import AuditLog

React = Callable[[GroupView, GroupState, Cause | None], Reaction]


QUANTITY = Decimal(4)
_FILLS = (1, 3, 4)
_KINDS = (
    EventKind.ACK,
    EventKind.CANCEL_ACK,
    EventKind.CANCEL_REJECT,
    EventKind.REJECT,
    EventKind.EXPIRE,
    EventKind.REPLACE_ACK,
    EventKind.REPLACE_REJECT,
)


def _intent(side: OrderSide, price: int) -> OrderIntent:
    return OrderIntent("X/Y", side, QUANTITY, OrderType.LIMIT, "verify", limit_price=Decimal(price))


def groups() -> dict[str, ContingentGroup]:
    """
    The groups explored: each kind in each trigger mode, every leg for `QUANTITY`.
    """
    buy, sell = OrderSide.BUY, OrderSide.SELL
    found: dict[str, ContingentGroup] = {}
    for mode in TriggerMode:
        found[f"OCO {mode}"] = ContingentGroup.oco(
            "g", _intent(sell, 3), _intent(sell, 1), mode=mode
        )
        found[f"OTO {mode}"] = ContingentGroup.oto(
            "g", _intent(buy, 2), _intent(sell, 3), mode=mode
        )
        found[f"BRACKET {mode}"] = ContingentGroup.bracket(
            "g", _intent(buy, 2), _intent(sell, 3), _intent(sell, 1), mode=mode
        )
    return found


@attrs.frozen
class GroupExploration:
    """
    What an exploration found: sequences run, group edges taken, the first violation.
    """

    label: str
    sequences: int
    taken: frozenset[tuple[str, str, str]]
    violation: str = ""
    prop: str = ""
    path: tuple[str, ...] = ()


class _World:
    """
    One replay: the group machine, its legs, and what the group asked of them.
    """

    def __init__(self, group: ContingentGroup, react: React, engine: Engine) -> None:
        self.group = group
        self.react = react
        self.engine = engine
        self.audit = AuditLog(FixedClock(EPOCH))
        self.machine = ContingentMachine(group, self.audit, engine=engine)
        self.legs: dict[str, OrderLifecycle | None] = {leg.role: None for leg in group.legs}
        self.asked: set[str] = set()
        self.winner: str | None = None
        self.fills = 0
        self.problem = ""
        self.prop = ""
        for leg in group.legs:
            if not leg.held:
                self._send_leg(leg.role, leg.intent)
        self.machine.send("accept", detail=group.terms())

    def _send_leg(self, role: str, intent: OrderIntent) -> None:
        order = Order.from_intent(
            intent,
            client_order_id=f"ord-{role}",
            correlation_id=f"cor-{role}",
            idempotency_key=f"key-{role}",
        )
        lifecycle = OrderLifecycle(order, self.audit, engine=self.engine)
        lifecycle.send("submit")
        self.legs[role] = lifecycle

    def view(self) -> GroupView:
        legs = {}
        for role, lc in self.legs.items():
            if lc is None:
                legs[role] = LegView(role, None)
            else:
                order = lc.order
                legs[role] = LegView(role, order.state, order.filled_quantity, order.quantity)
        return GroupView(self.group, legs)

    def _fail(self, prop: str, problem: str) -> None:
        if not self.problem:
            self.prop, self.problem = prop, problem

    def venue(self, role: str, kind: EventKind, quantity: int = 0) -> None:
        lc = self.legs[role]
        assert lc is not None  # noqa: S101 - only sent legs are offered events
        before, had = lc.order.state, lc.order.filled_quantity
        fill = None
        if kind is EventKind.FILL:
            self.fills += 1
            fill = Fill(f"f{self.fills}", quantity, 1)
        reason = ReasonCode.ADAPTER_REJECTED if kind is EventKind.REJECT else None
        event = ExecutionEvent(
            kind, "evt", lc.client_order_id, lc.correlation_id, EPOCH, fill=fill, reason_code=reason
        )
        lc.apply(event)
        self.settle(Cause(role, kind))
        view = self.view()
        # G1: past the quantity only by a flagged race.
        if plan.overfilled(view):
            if self.machine.state is not GroupState.OVERFILLED:
                self._fail("G1", f"OCO legs filled {view.oco_filled} > {QUANTITY}, not flagged")
            elif (
                lc.order.filled_quantity > had
                and role in self.group.oco_roles
                and role not in self.asked
                and before in plan.RESIZABLE
            ):
                self._fail(
                    "G1",
                    f"{role} filled past the group quantity ({view.oco_filled} > {QUANTITY}) "
                    f"in {before}, though the group never asked to cancel or reduce it",
                )
        self.check(view)

    def settle(self, cause: Cause | None) -> None:
        """
        React as the orchestrator does until the group stays where it is.
        """
        for _ in range(8):
            view = self.view()
            reaction = self.react(view, self.machine.state, cause)
            cause = None
            if reaction.event == "trigger":
                self.winner = plan.oco_winner(view)
            self.machine.take(reaction, view)
            for action in reaction.actions:
                self._perform(action, view)
            if reaction.event is None:
                return

    def _perform(self, action: Action, view: GroupView) -> None:
        lc = self.legs[action.role]
        if action.kind == "release":
            # G3: released only on the parent's fill.
            parent = view.leg(self.group.legs[0].role)
            if parent.filled <= 0 or (
                self.group.mode is TriggerMode.FULL
                and parent.state is not OrderState.FILLED
                and not parent.settled
            ):
                self._fail("G3", f"{action.role} released with the parent {parent.state}")
            assert action.quantity is not None  # noqa: S101 - a release names its quantity
            intent = attrs.evolve(self.group.leg(action.role).intent, quantity=action.quantity)
            self._send_leg(action.role, intent)
            return
        assert lc is not None  # noqa: S101 - cancels and resizes name sent legs
        self.asked.add(action.role)
        try:
            if action.kind == "cancel":
                lc.send("request_cancel")
            else:
                lc.send("request_replace", replace=lc.replace_request(quantity=action.quantity))
        except (IllegalTransition, ContractViolation):
            pass  # the orchestrator's call is refused alike; the exploration goes on

    def check(self, view: GroupView) -> None:
        state = self.machine.state
        if state is GroupState.TRIGGERED:
            for role in self.group.oco_roles:
                if role != self.winner and view.leg(role).live and role not in self.asked:
                    self._fail("G2", f"triggered by {self.winner}, but {role} works on unasked")
        parent = self.group.parent_role
        if parent is not None and plan.parent_ended_unfilled(view):
            for leg in self.group.legs:
                if leg.held and view.leg(leg.role).state is not None:
                    self._fail("G3", f"{leg.role} was sent though the parent never filled")
        if (
            plan.settled(view)
            and not plan.due(view, state)
            and state not in (GroupState.DONE, GroupState.OVERFILLED)
        ):
            self._fail("G4", f"every leg ended, the group stays {state}")

    def key(self) -> tuple[object, ...]:
        legs = tuple(
            None
            if lc is None
            else (
                lc.order.state,
                lc.order.filled_quantity,
                lc.order.quantity,
                lc.pending_replace is not None,
                lc.guard_context()["resume_state"],
            )
            for lc in self.legs.values()
        )
        return (self.machine.state, legs, frozenset(self.asked), self.winner)


def _alphabet(group: ContingentGroup) -> list[tuple[str, EventKind, int]]:
    steps: list[tuple[str, EventKind, int]] = []
    for leg in group.legs:
        steps.extend((leg.role, EventKind.FILL, q) for q in _FILLS)
        steps.extend((leg.role, kind, 0) for kind in _KINDS)
    return steps


def _name(step: tuple[str, EventKind, int]) -> str:
    role, kind, quantity = step
    return f"{role}:{kind.lower()}" + (f"({quantity})" if quantity else "")


def explore_group(
    label: str,
    group: ContingentGroup,
    depth: int = 5,
    react: React = plan.react,
    engine: Engine = Engine.COMPILED,
) -> GroupExploration:
    """
    Every interleaving of venue events to the group's legs up to `depth`, replayed from a
    fresh group; a configuration already seen is not expanded again. The first violation of
    G1-G4 ends it with the shortest path to it.
    """
    alphabet = _alphabet(group)
    seen: set[tuple[object, ...]] = set()
    taken: set[tuple[str, str, str]] = set()
    queue: deque[tuple[int, ...]] = deque([()])
    sequences = 0
    while queue:
        prefix = queue.popleft()
        for index in range(len(alphabet)):
            step = alphabet[index]
            sequence = (*prefix, index)
            world = _World(group, react, engine)
            replayable = True
            for i in sequence:
                role, kind, quantity = alphabet[i]
                if world.legs[role] is None:
                    replayable = False  # a held leg: the venue cannot speak of it yet
                    break
                world.venue(role, kind, quantity)
                if world.problem:
                    break
            if not replayable:
                continue
            sequences += 1
            if world.problem:
                path = tuple(_name(alphabet[i]) for i in sequence)
                return GroupExploration(
                    label, sequences, frozenset(taken), world.problem, world.prop, path
                )
            for record in world.audit.records:
                if record.machine == "contingent" and record.source != record.target:
                    taken.add((str(record.source), record.event, str(record.target)))
            key = world.key()
            if key in seen or len(sequence) >= depth:
                continue
            seen.add(key)
            queue.append(sequence)
            del step
    return GroupExploration(label, sequences, frozenset(taken))


def explore_all(depth: int = 4, react: React = plan.react) -> list[GroupExploration]:
    """
    `explore_group` over every group of `groups`.
    """
    return [explore_group(label, group, depth, react) for label, group in groups().items()]


PROPERTIES = (("G1", G1), ("G2", G2), ("G3", G3), ("G4", G4))
"""The group properties, by id."""


def prove_groups(
    depth: int = 4, react: React = plan.react
) -> tuple[list[tuple[str, str, bool, str, tuple[str, ...]]], frozenset[tuple[str, str, str]]]:
    """
    G1-G4 over every group of `groups` to `depth`: one (id, title, ok, detail, path) per
    property (the first counterexample, or how much was explored), and the group edges taken
    (a refusal at submit included), for P3.
    """
    explorations = explore_all(depth, react)
    taken = set().union(*(e.taken for e in explorations))
    refused = ContingentMachine(groups()["OCO FULL"], AuditLog(FixedClock(EPOCH)))
    refused.send("refuse", reason_code=ReasonCode.CONTINGENT_GROUP_REFUSED)
    taken.add(("PENDING", "refuse", "REFUSED"))
    sequences = sum(e.sequences for e in explorations)
    results: list[tuple[str, str, bool, str, tuple[str, ...]]] = []
    for prop, title in PROPERTIES:
        failed = next((e for e in explorations if e.prop == prop), None)
        if failed is None:
            detail = f"{sequences} sequences up to depth {depth} over {len(explorations)} groups"
            results.append((prop, title, True, detail, ()))
        else:
            results.append((prop, title, False, f"{failed.label}: {failed.violation}", failed.path))
    return results, frozenset(taken)


@attrs.frozen
class GroupVerdict:
    """
    One group property's verdict in the shape the declared-property form's ``Explored``
    engines return (``ok``, ``detail``, ``path``, ``taken``).
    """

    ok: bool
    detail: str = ""
    path: tuple[str, ...] = ()
    taken: frozenset[tuple[str, str, str]] = frozenset()


@functools.cache
def _proven(depth: int) -> tuple[dict[str, GroupVerdict], frozenset[tuple[str, str, str]]]:
    results, taken = prove_groups(depth)
    return {r[0]: GroupVerdict(r[2], r[3], r[4], taken) for r in results}, taken


def _verdict(prop: str, depth: int) -> GroupVerdict:
    return _proven(max(depth, 2))[0][prop]


def g1_verdict(_machine: type[object], depth: int) -> GroupVerdict:
    """
    G1 as an ``Explored`` engine: ``Explored("G1", G1, "execfsm.contingent.explore:g1_verdict")``.
    """
    return _verdict("G1", depth)


def g2_verdict(_machine: type[object], depth: int) -> GroupVerdict:
    """
    G2 as an ``Explored`` engine.
    """
    return _verdict("G2", depth)


def g3_verdict(_machine: type[object], depth: int) -> GroupVerdict:
    """
    G3 as an ``Explored`` engine.
    """
    return _verdict("G3", depth)


def g4_verdict(_machine: type[object], depth: int) -> GroupVerdict:
    """
    G4 as an ``Explored`` engine.
    """
    return _verdict("G4", depth)
