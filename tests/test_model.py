"""
MachineModel extraction: complete against the declaration, and strict about guards.
"""

from __future__ import annotations

import enum

import pytest
from statemachine.states import States

from execfsm import DefinitionError, MachineModel, OrderLifecycle, OrderState, PipelineRun
from execfsm.contracts import FINAL_ORDER_STATES
from execfsm.enums import ReasonCode
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.audited import AuditedMachine
from execfsm.fsm.cases import Case, CaseTable
from execfsm.fsm.guards import describe
from execfsm.fsm.model import CaseModel
from execfsm.fsm.order_cases import ORDER_CASES


class Tiny(enum.StrEnum):
    A = "A"
    B = "B"


@pytest.fixture(scope="module")
def model() -> MachineModel:
    return MachineModel.from_machine(OrderLifecycle)


class TestOrderModel:
    def test_states_with_initial_and_final(self, model: MachineModel) -> None:
        """Every order state is listed; CREATED starts it, four final states end it (FILLED is
        done but not final: a bust or correction may leave it)."""
        assert [s.name for s in model.states] == [s.value for s in OrderState]
        assert "PENDING_REPLACE" in [s.name for s in model.states]
        assert model.initial_state == "CREATED"
        assert set(model.final_states) == {"CANCELLED", "REJECTED", "EXPIRED", "FAILED"}
        assert OrderState.FILLED in FINAL_ORDER_STATES

    def test_every_declared_transition_is_listed(self, model: MachineModel) -> None:
        """The model has one entry per (source, event, target) the library itself sees."""
        declared = {
            (str(t.source.value), str(event), str(t.target.value))
            for state in OrderLifecycle.states
            for t in state.transitions
            for event in t.events
        }

        assert {(t.source, t.event, t.target) for t in model.transitions} == declared
        assert len(model.transitions) == len(declared) == 69

    def test_validators_and_conds_per_edge(self, model: MachineModel) -> None:
        """Guards are attached to the right edges, split into conds, unless and validators."""
        by_edge = {(t.source, t.event, t.target): t for t in model.transitions}
        submit = by_edge["CREATED", "submit", "SUBMITTED"]
        partial = by_edge["ACKNOWLEDGED", "fill", "PARTIALLY_FILLED"]
        complete = by_edge["ACKNOWLEDGED", "fill", "FILLED"]

        assert submit.validators == (
            "names_present",
            "quantity_positive",
            "price_fits_type",
            "amounts_bounded",
            "expiry_fits_time_in_force",
        )
        assert partial.unless == ("fill_completes",)
        assert complete.conds == ("fill_completes",)
        assert (
            partial.validators
            == complete.validators
            == (
                "fill_well_formed",
                "fill_id_unused",
                "fill_within_quantity",
            )
        )

    def test_every_validator_is_listed_and_described(self, model: MachineModel) -> None:
        """The model lists every validator of the lifecycle, each with a description."""
        assert model.validators() == (
            "amounts_bounded",
            "correction_within_quantity",
            "expiry_fits_time_in_force",
            "fill_id_unused",
            "fill_well_formed",
            "fill_within_quantity",
            "names_counted_fill",
            "names_present",
            "nothing_filled_yet",
            "price_fits_type",
            "quantity_positive",
            "reason_given",
            "replace_pending",
            "replace_terms_valid",
        )
        assert all(model.guard_descriptions[name] for name in model.validators())
        assert set(model.guard_functions) == set(model.guard_descriptions)

    def test_final_states_have_no_way_out(self, model: MachineModel) -> None:
        """No transition leaves a final state."""
        assert not [t for t in model.transitions if t.source in model.final_states]

    def test_revision_edges_are_listed(self, model: MachineModel) -> None:
        """Replace, bust and correction edges are in the model, with their guards."""
        by_edge = {(t.source, t.event, t.target): t for t in model.transitions}

        replace = by_edge["ACKNOWLEDGED", "request_replace", "PENDING_REPLACE"]
        bust = by_edge["FILLED", "trade_bust", "PARTIALLY_FILLED"]
        assert replace.validators == ("replace_terms_valid",)
        assert bust.conds == ("bust_leaves_fills",)
        assert bust.validators == ("names_counted_fill",)
        assert ("PENDING_REPLACE", "replace_ack", "FILLED") in by_edge
        assert by_edge["FILLED", "request_replace", "PENDING_REPLACE"].validators == (
            "replace_terms_valid",
        )
        assert by_edge["FILLED", "replace_ack", "PARTIALLY_FILLED"].validators == (
            "replace_pending",
        )


class TestCases:
    def test_model_lists_every_case_row(self, model: MachineModel) -> None:
        """The model carries every row of ORDER_CASES, in lookup order, as plain values."""
        rows = [CaseModel.from_case(case) for case in ORDER_CASES.rows()]

        assert OrderLifecycle.cases is ORDER_CASES
        assert list(model.cases) == rows
        assert len(model.cases) == len(ORDER_CASES.cases)

    def test_case_row_fields(self, model: MachineModel) -> None:
        """A row keeps its event, states, situation, outcome, reason, flags, action and why."""
        late = next(c for c in model.cases if c.action == "book_late_fill")

        assert (late.event, late.outcome, late.reason, late.flags) == (
            "fill",
            "applied",
            "FILL_AFTER_FINAL",
            True,
        )
        assert late.states == ("FILLED", "CANCELLED", "REJECTED", "EXPIRED", "FAILED")
        assert late.when
        assert late.why

    def test_machine_without_cases_has_none(self) -> None:
        """A machine that declares no CaseTable has an empty tuple of cases."""
        assert MachineModel.from_machine(PipelineRun).cases == ()

    def test_case_for_an_unknown_state_is_a_definition_error(self) -> None:
        """A row naming a state the machine does not have cannot be extracted."""

        @describe("always fine")
        def fine() -> None:
            return None

        class Cased(AuditedMachine):
            _ = States.from_enum(Tiny, initial=Tiny.A, final=[Tiny.B])
            _.A.to(_.B, event="go", validators=fine)

        Cased.cases = CaseTable(
            (Case("go", ("C",), AuditOutcome.REFUSED, ReasonCode.ILLEGAL_TRANSITION, "no"),)
        )

        with pytest.raises(DefinitionError, match="unknown states"):
            MachineModel.from_machine(Cased)


class TestDefinitionErrors:
    def test_undescribed_guard_is_a_definition_error(self) -> None:
        """A guard without a description cannot be extracted."""

        def secret_rule() -> None:
            return None

        class Broken(AuditedMachine):
            compiled_engine = False  # else refused at definition, by the same check
            _ = States.from_enum(Tiny, initial=Tiny.A, final=[Tiny.B])
            _.A.to(_.B, event="go", validators=secret_rule)

        with pytest.raises(DefinitionError, match="secret_rule"):
            MachineModel.from_machine(Broken)

    def test_described_guard_is_extracted(self) -> None:
        """A decorated guard's description is carried into the model."""

        @describe("always fine")
        def fine() -> None:
            return None

        class Small(AuditedMachine):
            _ = States.from_enum(Tiny, initial=Tiny.A, final=[Tiny.B])
            _.A.to(_.B, event="go", validators=fine)

        assert MachineModel.from_machine(Small).guard_descriptions == {"fine": "always fine"}
