"""
MachineModel extraction: complete against the declaration, and strict about guards.
"""

from __future__ import annotations

import enum

import pytest
from statemachine.states import States

from execfsm import DefinitionError, MachineModel, OrderLifecycle, OrderState
from execfsm.fsm._audited import AuditedMachine
from execfsm.fsm.guards import describe


class Tiny(enum.StrEnum):
    A = "A"
    B = "B"


@pytest.fixture(scope="module")
def model() -> MachineModel:
    return MachineModel.from_machine(OrderLifecycle)


class TestOrderModel:
    def test_states_with_initial_and_final(self, model: MachineModel) -> None:
        """Every order state is listed; CREATED starts it, the five final states end it."""
        assert [s.name for s in model.states] == [s.value for s in OrderState]
        assert model.initial_state == "CREATED"
        assert set(model.final_states) == {"FILLED", "CANCELLED", "REJECTED", "EXPIRED", "FAILED"}

    def test_every_declared_transition_is_listed(self, model: MachineModel) -> None:
        """The model has one entry per (source, event, target) the library itself sees."""
        declared = {
            (str(t.source.value), str(event), str(t.target.value))
            for state in OrderLifecycle.states
            for t in state.transitions
            for event in t.events
        }

        assert {(t.source, t.event, t.target) for t in model.transitions} == declared
        assert len(model.transitions) == len(declared) == 28

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
            "fill_id_unused",
            "fill_well_formed",
            "fill_within_quantity",
            "names_present",
            "price_fits_type",
            "quantity_positive",
            "reason_given",
        )
        assert all(model.guard_descriptions[name] for name in model.validators())
        assert set(model.guard_functions) == set(model.guard_descriptions)

    def test_final_states_have_no_way_out(self, model: MachineModel) -> None:
        """No transition leaves a final state."""
        assert not [t for t in model.transitions if t.source in model.final_states]


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
