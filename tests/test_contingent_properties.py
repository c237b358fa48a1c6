"""
The contingent group machine on both engines, and the group properties G1-G4 proven by
exploring interleavings of venue events to the legs — with mutations of the group's reaction
that the exploration must catch.
"""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

import execfsm.contingent.plan as plan
from execfsm import OrderIntent, ReasonCode
from execfsm.contingent import ContingentGroup, ContingentMachine, GroupState, TriggerMode
from execfsm.contingent.explore import explore_all, explore_group, g1_verdict, groups
from execfsm.contingent.plan import Cause, GroupView, LegView, Reaction
from execfsm.contracts import EventKind, OrderState
from execfsm.errors import ContractViolation
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.engine import Engine
from execfsm.fsm.model import MachineModel
from execfsm.testing import in_memory_audit

DEPTH = 3


def _without(kind: str) -> plan.React:  # type: ignore[name-defined]
    def react(view: GroupView, state: GroupState, cause: Cause | None = None) -> Reaction:
        reaction = plan.react(view, state, cause)
        return attrs.evolve(reaction, actions=tuple(a for a in reaction.actions if a.kind != kind))

    return react


def _never_overfilled(view: GroupView, state: GroupState, cause: Cause | None = None) -> Reaction:
    reaction = plan.react(view, state, cause)
    return plan.NOTHING if reaction.event == "overfill" else reaction


def _releases_early(view: GroupView, state: GroupState, cause: Cause | None = None) -> Reaction:
    group = view.group
    if state is GroupState.WORKING and group.parent_role is not None:
        held = tuple(
            plan.Action("release", leg.role, leg.intent.quantity)
            for leg in group.legs
            if leg.held and view.leg(leg.role).state is None
        )
        if held:
            return Reaction(None, held)
    return plan.react(view, state, cause)


class TestGroupProperties:
    def test_every_group_holds_g1_to_g4(self) -> None:
        """OCO, OTO and bracket, in both modes, hold G1-G4 to the depth explored."""
        found = explore_all(DEPTH)

        assert [(e.label, e.violation) for e in found if e.violation] == []
        assert all(e.sequences > 100 for e in found)

    @pytest.mark.parametrize("label", ["OCO FULL", "OCO PARTIAL", "BRACKET FULL"])
    def test_removing_cancel_on_fill_breaks_g2(self, label: str) -> None:
        """Mutation: the group no longer cancels the other leg; G2 fails with a path."""
        found = explore_group(label, groups()[label], DEPTH, _without("cancel"))

        assert found.prop == "G2"
        assert found.path

    def test_removing_cancel_on_fill_overfills_the_oco(self) -> None:
        """Mutation: no cancels and no overfill flag: the legs fill beyond the quantity
        and G1 names it."""

        def react(view: GroupView, state: GroupState, cause: Cause | None = None) -> Reaction:
            reaction = _without("cancel")(view, state, cause)
            return plan.NOTHING if reaction.event == "trigger" else reaction

        found = explore_group("OCO PARTIAL", groups()["OCO PARTIAL"], 4, react)

        assert found.prop == "G1"
        assert "filled past the group quantity" in found.violation

    def test_an_unflagged_overfill_breaks_g1(self) -> None:
        """Mutation: the group never raises OVERFILLED; G1 finds the race it hides."""
        found = explore_group("OCO PARTIAL", groups()["OCO PARTIAL"], DEPTH, _never_overfilled)

        assert found.prop == "G1"
        assert "not flagged" in found.violation

    def test_removing_the_resize_breaks_g1_in_full_mode(self) -> None:
        """Mutation: FULL mode without one-updates-other lets the pair overfill."""
        found = explore_group("OCO FULL", groups()["OCO FULL"], 4, _without("resize"))

        assert found.prop == "G1"

    def test_releasing_before_the_parent_fills_breaks_g3(self) -> None:
        """Mutation: the child is sent at once; G3 names it."""
        found = explore_group("OTO FULL", groups()["OTO FULL"], DEPTH, _releases_early)

        assert found.prop == "G3"

    def test_the_reference_engine_proves_the_same(self) -> None:
        """The exploration on python-statemachine's engine finds the same sequences."""
        group = groups()["BRACKET FULL"]
        compiled = explore_group("b", group, 2, engine=Engine.COMPILED)
        reference = explore_group("b", group, 2, engine=Engine.REFERENCE)

        assert (reference.sequences, reference.taken, reference.violation) == (
            compiled.sequences,
            compiled.taken,
            "",
        )

    def test_the_verdict_engine_reports_the_taken_edges(self) -> None:
        """G1 as an Explored engine: ok, with every guarded edge of the machine taken."""
        verdict = g1_verdict(ContingentMachine, DEPTH)
        model = MachineModel.from_machine(ContingentMachine)

        assert verdict.ok
        assert {(t.source, t.event, t.target) for t in model.transitions if t.guards} <= set(
            verdict.taken
        )


def _view(group: ContingentGroup, **legs: tuple[OrderState | None, int, int]) -> GroupView:
    return GroupView(
        group,
        {
            role: LegView(role, state, Decimal(filled), Decimal(qty))
            for role, (state, filled, qty) in legs.items()
        },
    )


def _intent(side: str, price: int, quantity: int = 4) -> OrderIntent:
    return OrderIntent("X/Y", side, Decimal(quantity), "LIMIT", "s", limit_price=Decimal(price))


class TestMachine:
    @pytest.mark.parametrize("engine", list(Engine))
    def test_a_trigger_without_its_fill_is_refused_and_audited(self, engine: Engine) -> None:
        """`trigger` with no leg filled is refused by its validator, on either engine."""
        audit = in_memory_audit()
        group = ContingentGroup.oco("g", _intent("SELL", 3), _intent("SELL", 1))
        machine = ContingentMachine(group, audit, engine=engine)
        machine.send("accept")
        view = _view(
            group,
            first=(OrderState.ACKNOWLEDGED, 0, 4),
            second=(OrderState.ACKNOWLEDGED, 0, 4),
        )
        with pytest.raises(ContractViolation):
            machine.send("trigger", view=view)

        assert machine.state is GroupState.WORKING
        assert audit.records[-1].outcome is AuditOutcome.REFUSED

    def test_both_engines_write_the_same_records(self) -> None:
        """One scripted group on each engine: identical audit records."""
        group = ContingentGroup.bracket(
            "b", _intent("BUY", 2), _intent("SELL", 3), _intent("SELL", 1)
        )
        trails = []
        for engine in Engine:
            audit = in_memory_audit()
            machine = ContingentMachine(group, audit, engine=engine)
            machine.send("accept", detail=group.terms())
            filled = _view(
                group,
                entry=(OrderState.FILLED, 4, 4),
                take_profit=(None, 0, 0),
                stop_loss=(None, 0, 0),
            )
            machine.take(plan.react(filled, machine.state), filled)
            won = _view(
                group,
                entry=(OrderState.FILLED, 4, 4),
                take_profit=(OrderState.FILLED, 4, 4),
                stop_loss=(OrderState.ACKNOWLEDGED, 0, 4),
            )
            machine.take(plan.react(won, machine.state), won)
            trails.append([(r.event, r.source, r.target, r.detail) for r in audit.records])

        assert trails[0] == trails[1]
        assert [t[2] for t in trails[0]] == ["WORKING", "RELEASED", "TRIGGERED"]

    def test_a_refusal_needs_a_reason(self) -> None:
        """`refuse` without a reason code is refused (reason_given)."""
        group = ContingentGroup.oco("g", _intent("SELL", 3), _intent("SELL", 1))
        machine = ContingentMachine(group, in_memory_audit())
        with pytest.raises(ContractViolation):
            machine.send("refuse")
        machine.send("refuse", reason_code=ReasonCode.CONTINGENT_GROUP_REFUSED)

        assert machine.state is GroupState.REFUSED


class TestPlan:
    def test_full_mode_reduces_the_other_leg(self) -> None:
        """FULL: a fill of 1 on the first leg resizes the second to 3."""
        group = ContingentGroup.oco(
            "g", _intent("SELL", 3), _intent("SELL", 1), mode=TriggerMode.FULL
        )
        view = _view(
            group,
            first=(OrderState.PARTIALLY_FILLED, 1, 4),
            second=(OrderState.ACKNOWLEDGED, 0, 4),
        )

        assert plan.react(view, GroupState.WORKING, Cause("first", EventKind.FILL)) == Reaction(
            None, (plan.Action("resize", "second", Decimal(3)),)
        )

    def test_the_terms_round_trip(self) -> None:
        """A group's terms decode to the same group."""
        group = ContingentGroup.bracket(
            "b", _intent("BUY", 2), _intent("SELL", 3), _intent("SELL", 1)
        )

        assert ContingentGroup.from_terms(group.terms()) == group

    def test_a_bracket_exit_on_the_entry_side_is_refused(self) -> None:
        """A bracket's exits must close the entry: same side is refused."""
        with pytest.raises(ContractViolation, match="bracket exit"):
            ContingentGroup.bracket("b", _intent("BUY", 2), _intent("BUY", 3), _intent("SELL", 1))
