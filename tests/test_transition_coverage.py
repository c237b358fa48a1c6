"""
Tests generated from the built-in machines (`execfsm.testing.transition_paths`): the shortest
paths that take every transition and declared case row, replayed on both engines; and the
transition coverage read from audit trails (`execfsm.testing.transition_coverage`).
"""

from __future__ import annotations

import doctest
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from statemachine import State

from execfsm import AuditedMachine, MachineReason, describe
from execfsm.contracts import ReasonCode, TimeInForce
from execfsm.errors import PolicyViolation
from execfsm.fsm.audit import AuditOutcome, AuditRecord
from execfsm.fsm.engine import Engine
from execfsm.fsm.model import CaseModel
from execfsm.fsm.order import OrderLifecycle
from execfsm.fsm.order_cases import Situation
from execfsm.fsm.pipeline import PipelineRun
from execfsm.ledger.audit import AuditLog
from execfsm.testing import (
    Args,
    Edge,
    Path,
    coverage_summary,
    declared_targets,
    replay,
    run_path,
    send,
    transition_coverage,
    transition_paths,
    uncovered,
)
from execfsm.testing import coverage as coverage_module
from execfsm.testing import paths as paths_module
from execfsm.testing.pytest_plugin import TransitionCoveragePlugin
from execfsm.testing.strategies import event_paths
from tests.conftest import UNREACHABLE_ORDER_ROWS
from tests.machine_inputs import (
    PIPELINE_INPUTS,
    fire_order,
    order_inputs,
    order_key,
    order_maker,
    pipeline_maker,
)

MACHINES = {"order": OrderLifecycle, "pipeline": PipelineRun}

FOK = Situation.FOK_PART_FILLED


ORDER_TARGETS = declared_targets(OrderLifecycle)
UNREACHABLE = UNREACHABLE_ORDER_ROWS
FOK_ROWS = tuple(t for t in ORDER_TARGETS if isinstance(t, CaseModel) and t.when == FOK)

ORDER_PATHS = transition_paths(
    OrderLifecycle,
    make=order_maker(),
    inputs=order_inputs,
    fire=fire_order,
    key=order_key,
    only=[t for t in ORDER_TARGETS if t not in UNREACHABLE and t not in FOK_ROWS],
)
"""A ten-unit GTC order's paths: every transition, and every case row but the FOK ones."""
FOK_PATHS = transition_paths(
    OrderLifecycle,
    make=order_maker(time_in_force=TimeInForce.FOK),
    inputs=order_inputs,
    fire=fire_order,
    key=order_key,
    only=FOK_ROWS,
)
"""A fill-or-kill order's paths to the rows only such an order meets."""
PIPELINE_PATHS = transition_paths(PipelineRun, make=pipeline_maker(), inputs=PIPELINE_INPUTS)

Line = tuple[str, str | None, str | None, str, str | None]


def _lines(records: Sequence[AuditRecord]) -> list[Line]:
    return [
        (
            r.event,
            r.source,
            r.target,
            str(r.outcome),
            None if r.reason_code is None else str(r.reason_code),
        )
        for r in records
    ]


def _order_trails(engine: Engine = Engine.COMPILED) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    for path in ORDER_PATHS:
        records += replay(path, order_maker(engine), fire=fire_order).records
    for path in FOK_PATHS:
        maker = order_maker(engine, time_in_force=TimeInForce.FOK)
        records += replay(path, maker, fire=fire_order).records
    return records


def _pipeline_trails(paths: Sequence[Path] = PIPELINE_PATHS) -> list[AuditRecord]:
    return [r for path in paths for r in replay(path, pipeline_maker()).records]


class TestGeneratedPaths:
    def test_order_paths_take_every_transition_and_every_reachable_case(self) -> None:
        """The order's paths take all its transitions and every case row but two unreachable."""
        missing = uncovered(OrderLifecycle, [*ORDER_PATHS, *FOK_PATHS])

        assert missing == UNREACHABLE
        assert len(UNREACHABLE) == 2

    def test_pipeline_paths_take_every_transition(self) -> None:
        """The pipeline's paths take all its transitions."""
        missing = uncovered(PipelineRun, PIPELINE_PATHS)

        assert missing == ()

    def test_each_path_ends_with_the_target_it_was_found_for(self) -> None:
        """A path's last step takes its goal, and no two paths share an id."""
        paths = [*ORDER_PATHS, *FOK_PATHS, *PIPELINE_PATHS]

        assert all(p.goal in p.steps[-1].takes for p in paths)
        assert len({str(p) for p in paths}) == len(paths)

    def test_no_path_is_redundant(self) -> None:
        """Every order path takes a transition or case row that no other path takes."""
        redundant = [
            str(path)
            for path in ORDER_PATHS
            if path.covers <= {t for p in ORDER_PATHS if p is not path for t in p.covers}
        ]

        assert redundant == []

    def test_paths_are_shortest_for_their_goal(self) -> None:
        """The pipeline path to COMPLETED is the eight stages, and nothing shorter reaches it."""
        [done] = [p for p in PIPELINE_PATHS if p.end_state == "COMPLETED"]

        assert [s.event for s in done.steps] == [
            "intake_done",
            "validate",
            "allow",
            "route",
            "dispatched",
            "events_applied",
            "booked",
            "handed_off",
        ]
        assert str(done) == "RECON_HANDOFF-handed_off->COMPLETED"


@pytest.mark.parametrize("engine", list(Engine), ids=str)
class TestOrderPaths:
    @pytest.mark.parametrize("path", ORDER_PATHS, ids=str)
    def test_order_path(self, path: Path, engine: Engine) -> None:
        """The path takes its edges step by step and writes the same records on each engine."""
        run = run_path(path, order_maker(engine), fire=fire_order)
        expected = replay(path, order_maker(Engine.COMPILED), fire=fire_order)

        assert str(run.machine.order.state) == path.end_state
        assert _lines(run.records) == list(path.trail)
        assert run.records == expected.records
        assert run.audit.verify_chain().ok

    @pytest.mark.parametrize("path", FOK_PATHS, ids=str)
    def test_fill_or_kill_path(self, path: Path, engine: Engine) -> None:
        """A fill-or-kill order's path ends as the venue says, flagged."""
        run = run_path(path, order_maker(engine, TimeInForce.FOK), fire=fire_order)

        assert str(run.machine.order.state) == path.end_state
        assert _lines(run.records) == list(path.trail)
        assert run.machine.order.recon_flags


@pytest.mark.parametrize("engine", list(Engine), ids=str)
class TestPipelinePaths:
    @pytest.mark.parametrize("path", PIPELINE_PATHS, ids=str)
    def test_pipeline_path(self, path: Path, engine: Engine) -> None:
        """The path takes its edges step by step and writes the same records on each engine."""
        run = run_path(path, pipeline_maker(engine))
        expected = replay(path, pipeline_maker(Engine.COMPILED))

        assert str(run.machine.state) == path.end_state
        assert _lines(run.records) == list(path.trail)
        assert run.records == expected.records


class TestRandomPaths:
    @settings(max_examples=60)
    @given(
        path=event_paths(
            OrderLifecycle,
            make=order_maker(),
            inputs=order_inputs,
            fire=fire_order,
            paths=ORDER_PATHS,
        )
    )
    def test_random_order_paths_agree_on_both_engines(self, path: Path) -> None:
        """A random order path drawn on the compiled engine replays the same on the reference."""
        run = run_path(path, order_maker(Engine.REFERENCE), fire=fire_order)

        assert str(run.machine.order.state) == path.end_state

    @settings(max_examples=60)
    @given(
        path=event_paths(
            PipelineRun, make=pipeline_maker(), inputs=PIPELINE_INPUTS, paths=PIPELINE_PATHS
        )
    )
    def test_random_pipeline_paths_agree_on_both_engines(self, path: Path) -> None:
        """A random pipeline path replays step for step on the reference engine."""
        run = run_path(path, pipeline_maker(Engine.REFERENCE))

        assert str(run.machine.state) == path.end_state


class TestRunPath:
    def test_a_step_that_takes_another_edge_fails_naming_it(self) -> None:
        """Replaying a path whose event is lost fails at the step that diverged."""
        path = next(p for p in PIPELINE_PATHS if p.end_state == "COMPLETED")

        def lose_validate(machine: Any, event: str, kwargs: Mapping[str, Any]) -> None:
            send(machine, "intake_done" if event == "validate" else event, kwargs)

        with pytest.raises(AssertionError, match=r"step 2 validate\(\) -> RISK_GATE"):
            run_path(path, pipeline_maker(), fire=lose_validate)

    def test_a_path_of_another_start_fails(self) -> None:
        """A path replayed on an instance in another state fails before its first step."""
        path = PIPELINE_PATHS[0]
        moved = attrs.evolve(path, start="VALIDATION")

        with pytest.raises(AssertionError, match="starts in"):
            run_path(moved, pipeline_maker())


class TestTransitionCoverage:
    def test_generated_paths_cover_both_machines_from_their_trails(self) -> None:
        """The trails of every generated path take 100% of both machines' transitions."""
        coverage = transition_coverage([*_order_trails(), *_pipeline_trails()], MACHINES)

        assert coverage["order"].summary() == "order 69/69 (100%) [cases 38/40]"
        assert coverage["pipeline"].summary() == "pipeline 16/16 (100%)"
        assert coverage["order"].missing_cases == UNREACHABLE
        assert coverage["order"].instances == 2  # the GTC order and the FOK one

    def test_a_trail_that_misses_an_edge_reports_it_missing(self) -> None:
        """Without the paused run's abandon, its edge is missing and coverage drops to 15/16."""
        abandon = Edge("PAUSED", "abandon", "BLOCKED")
        paths = [p for p in PIPELINE_PATHS if abandon not in p.covers]

        coverage = transition_coverage(_pipeline_trails(paths), MACHINES)["pipeline"]

        assert coverage.missing == (abandon,)
        assert coverage.summary() == "pipeline 15/16 (93%)"
        assert coverage.percent == pytest.approx(93.75)
        assert "missing pipeline: PAUSED -abandon-> BLOCKED" in coverage_summary(
            {"pipeline": coverage}
        )

    def test_a_refusal_counts_only_the_row_it_matches(self) -> None:
        """A refused record counts the case row with its reason, not another refusal."""
        [ack_after_failure] = [
            p for p in ORDER_PATHS if str(p).startswith("FAILED:acknowledge:refused")
        ]
        records = list(replay(ack_after_failure, order_maker(), fire=fire_order).records)
        other = _with_reason(records[-1], "REASON_MISSING")

        seen = transition_coverage(records, MACHINES)["order"].cases_seen
        unseen = transition_coverage([*records[:-1], other], MACHINES)["order"].cases_seen

        assert ack_after_failure.goal in seen
        assert ack_after_failure.goal not in unseen

    def test_records_are_read_per_instance(self) -> None:
        """Records of several instances, interleaved, count each instance once."""
        records = _pipeline_trails()

        coverage = transition_coverage(records, {"pipeline": PipelineRun})["pipeline"]

        assert coverage.instances == 1  # every path ran the same intent
        assert coverage.complete

    def test_records_of_other_machines_are_skipped(self) -> None:
        """The order's records do not count toward the pipeline's coverage."""
        coverage = transition_coverage(_order_trails(), MACHINES)

        assert coverage["pipeline"].taken == frozenset()
        assert coverage["pipeline"].summary() == "pipeline 0/16 (0%)"


def _with_reason(record: AuditRecord, reason: str) -> AuditRecord:
    assert record.outcome is AuditOutcome.REFUSED
    return attrs.evolve(record, reason_code=ReasonCode[reason])


class TestDocs:
    @pytest.mark.parametrize("module", [paths_module, coverage_module], ids=lambda m: m.__name__)
    def test_doc_examples_run(self, module: Any) -> None:
        """The module's doc examples run as written."""
        result = doctest.testmod(module)

        assert result.failed == 0


class GiveUpReason(MachineReason):
    EXHAUSTED = "dialer.EXHAUSTED"


@describe("the venue answered")
def answered(ok: bool = False) -> bool:
    return ok


@describe("fewer than 3 attempts were made")
def attempts_left(attempts: int = 0) -> bool:
    return attempts < 3


@describe("a reason is given for giving up")
def says_why(reason: str = "") -> None:
    if not reason:
        raise PolicyViolation("dialer: giving up needs a reason", reason=GiveUpReason.EXHAUSTED)


class Dialer(AuditedMachine):
    """
    A machine of the user's own: its edges need event arguments to be chosen.
    """

    audit_machine = "dialer"
    reason_codes = GiveUpReason

    idle = State(initial=True)
    dialing = State()
    connected = State()
    gave_up = State(final=True)

    dial = idle.to(dialing)
    answer = (
        dialing.to(connected, cond=answered)
        | dialing.to.itself(cond=attempts_left)
        | dialing.to(gave_up, validators=says_why)
    )
    hang_up = connected.to(idle)

    @property
    def correlation_id(self) -> str:
        return "dialer-1"


DIALER_INPUTS = {
    "answer": [
        Args({"ok": True}, "answered"),
        Args({"attempts": 1}, "no answer, 1 attempt"),
        Args({"attempts": 3, "reason": "busy"}, "no answer, 3 attempts"),
        Args({"attempts": 3}, "no answer, no reason"),
    ]
}


class TestAnyMachine:
    def test_a_users_machine_gets_paths_that_take_every_transition(self) -> None:
        """A declared machine's guards are met with its declared inputs, edge by edge."""
        paths = transition_paths(Dialer, inputs=DIALER_INPUTS)

        assert uncovered(Dialer, paths) == ()
        assert [str(p) for p in paths] == [
            "dialing-answer->dialing",
            "dialing-answer->gave_up",
            "connected-hang_up->idle",
        ]
        assert paths[1].describe() == "dial() -> dialing\nanswer(no answer, 3 attempts) -> gave_up"

    def test_without_inputs_the_guarded_edges_are_uncovered(self) -> None:
        """With no arguments only the edges whose guards hold by default are found."""
        paths = transition_paths(Dialer)

        assert uncovered(Dialer, paths) == (
            Edge("dialing", "answer", "connected"),
            Edge("dialing", "answer", "gave_up"),
            Edge("connected", "hang_up", "idle"),
        )

    def test_inputs_may_depend_on_the_instance(self) -> None:
        """A callable domain gives each event its arguments from the running instance."""

        def inputs(machine: Dialer, event: str) -> list[dict[str, Any]]:
            answers = [
                {"ok": True},
                {"attempts": 1},
                {"attempts": 5, "reason": str(machine.state_value)},
            ]
            return answers if event == "answer" else [{}]

        paths = transition_paths(Dialer, inputs=inputs)

        assert uncovered(Dialer, paths) == ()

    @pytest.mark.parametrize("engine", list(Engine), ids=str)
    def test_its_paths_run_on_both_engines_and_cover_it(self, engine: Engine) -> None:
        """Replayed on either engine, its paths' trails cover every transition."""
        paths = transition_paths(Dialer, inputs=DIALER_INPUTS)

        runs = [run_path(p, lambda sink: Dialer(sink, engine=engine)) for p in paths]
        coverage = transition_coverage([r for run in runs for r in run.records], Dialer)

        assert coverage["dialer"].summary() == "dialer 5/5 (100%)"


class TestPlugin:
    def test_it_reads_the_logs_made_while_installed_and_restores_construction(self) -> None:
        """The plugin sees a log made after it is installed and leaves appending as it was."""
        before_init, before_append = AuditLog.__init__, AuditLog.append_fields
        plugin = TransitionCoveragePlugin({"pipeline": PipelineRun})
        plugin.install()
        try:
            run = replay(PIPELINE_PATHS[-1], pipeline_maker())
            wrapped_append = AuditLog.append_fields
        finally:
            plugin.uninstall()

        coverage = plugin.result()["pipeline"]

        assert coverage.taken == PIPELINE_PATHS[-1].covers
        assert coverage.instances == 1
        assert len(run.records) == len(PIPELINE_PATHS[-1].steps)
        assert wrapped_append is before_append
        assert AuditLog.__init__ is before_init

    def test_it_reads_records_appended_after_a_harvest(self) -> None:
        """A log still alive after a harvest is read again from where it stopped."""
        plugin = TransitionCoveragePlugin({"pipeline": PipelineRun})
        plugin.install()
        try:
            run = replay(attrs.evolve(PIPELINE_PATHS[0], steps=()), pipeline_maker())
        finally:
            plugin.uninstall()
        plugin.harvest()
        send(run.machine, "fail", {"reason_code": ReasonCode.ADAPTER_ERROR})

        coverage = plugin.result()["pipeline"]

        assert coverage.taken == {Edge("INTAKE", "fail", "FAILED")}

    def test_the_logs_of_the_path_search_are_not_read(self) -> None:
        """Searching for paths is no test: only the logs of the paths' runs are counted."""
        plugin = TransitionCoveragePlugin({"dialer": Dialer})
        plugin.install()
        try:
            paths = transition_paths(Dialer, inputs=DIALER_INPUTS)
            searched = plugin.result()["dialer"].taken
            run_path(paths[0], Dialer)
        finally:
            plugin.uninstall()

        assert searched == frozenset()
        assert plugin.result()["dialer"].taken == paths[0].covers

    def test_the_summary_lists_what_is_missing(self) -> None:
        """The summary line names each machine's share, then each edge no test took."""
        plugin = TransitionCoveragePlugin({"pipeline": PipelineRun})
        lines: list[str] = []

        plugin.pytest_terminal_summary(SimpleNamespace(write_line=lines.append))

        assert lines[0] == "transition coverage: pipeline 0/16 (0%)"
        assert lines[1] == "  missing pipeline: INTAKE -intake_done-> VALIDATION"
        assert len(lines) == 17
