"""
Review of issue 18 (properties of one's own, generated paths and coverage, engine parity):
machines a demanding user writes, checked for false PASSes, counterexamples that do not
replay, coverage that counts what no test took, and engine differences.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import strategies as st
from statemachine import State

from execfsm import (
    AuditedMachine,
    ContractViolation,
    Engine,
    Invariant,
    MachineReason,
    Never,
    Only,
    PolicyViolation,
    StateInvariant,
    describe,
    entered,
    on,
)
from execfsm.clock import EPOCH, FixedClock
from execfsm.enums import ReasonCode
from execfsm.errors import DefinitionError
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.model import MachineModel
from execfsm.fsm.properties import Group
from execfsm.governance.declared import check_group
from execfsm.governance.properties import PropertyResult, verify_machines
from execfsm.governance.trail_properties import check_trail_properties
from execfsm.ledger.audit import AuditLog
from execfsm.testing import transition_coverage, transition_paths, uncovered
from execfsm.testing.pytest_plugin import TransitionCoveragePlugin


def _log() -> AuditLog:
    return AuditLog(FixedClock(EPOCH))


def _result(results: list[PropertyResult], prop: str) -> PropertyResult:
    (found,) = [r for r in results if r.prop == prop]
    return found


# -- machines ---------------------------------------------------------------------------------


class PrivateTicks(AuditedMachine):
    """Counts ticks in a private attribute; the invariant reads it."""

    audit_machine = "rv_private"
    idle = State(initial=True)
    done = State(final=True)

    tick = idle.to.itself()
    finish = idle.to(done)

    properties = (Invariant("X1", "fewer than three ticks", lambda m: m._ticks < 3),)

    _ticks = 0

    def after_tick(self) -> None:
        self._ticks += 1


class Position:
    """A plain helper object (no ``__eq__``), as users keep books."""

    def __init__(self) -> None:
        self.qty = 0


class Buyer(AuditedMachine):
    """Keeps its position in a plain helper object mutated by a callback."""

    audit_machine = "rv_buyer"
    idle = State(initial=True)
    done = State(final=True)

    buy = idle.to.itself()
    finish = idle.to(done)

    properties = (Invariant("X2", "position at most 2", lambda m: m.pos.qty <= 2),)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.pos = Position()
        super().__init__(*args, **kwargs)

    def after_buy(self) -> None:
        self.pos.qty += 1


class Parallel(AuditedMachine):
    """Two transitions a -> b on one event: one guarded by a guard that never holds."""

    audit_machine = "rv_parallel"
    a = State(initial=True)
    b = State(final=True)

    go = a.to(b, cond="never") | a.to(b)

    @describe("never holds (a broken guard)")
    def never(self) -> bool:
        return False


class Leg(AuditedMachine):
    """One leg of a pair."""

    audit_machine = "rv_leg"
    open = State(initial=True)
    filled = State(final=True)
    cancelled = State(final=True)

    fill = open.to(filled)
    cancel = open.to(cancelled)


def _pair(ids: tuple[str, str]) -> Group:
    return Group(
        "rv_pair",
        lambda sink: {"a": Leg(sink, correlation_id=ids[0]), "b": Leg(sink, correlation_id=ids[1])},
        events={"a": {"fill": {}, "cancel": {}}, "b": {"fill": {}, "cancel": {}}},
        properties=(Never("G1", "leg a never fills", on("fill", member="a")),),
    )


class Router(AuditedMachine):
    """Sends to one of ten venues, given as a finite hypothesis strategy."""

    audit_machine = "rv_router"
    idle = State(initial=True)
    sent = State(final=True)

    route = idle.to(sent)

    inputs = {"route": {"venue": st.sampled_from([f"v{i}" for i in range(10)])}}
    properties = (
        Never("F1", "never routed to v9", on("route", where=lambda h: h.args["venue"] == "v9")),
    )


class Sizer(AuditedMachine):
    """A size limit weakened from 100 to 1000; sizes from an integer strategy."""

    audit_machine = "rv_sizer"
    idle = State(initial=True)
    sent = State(final=True)

    order = idle.to(sent, cond="small_enough")

    inputs = {"order": {"qty": st.integers(1, 10**6)}}
    properties = (
        Never("Q1", "no order above 100", on("order", where=lambda h: h.args["qty"] > 100)),
    )

    @describe("qty at most 1000 (weakened from 100)")
    def small_enough(self, qty: int) -> bool:
        return qty <= 1000


class Poke(AuditedMachine):
    """A refused event that changes private context before it is refused."""

    audit_machine = "rv_poke"
    idle = State(initial=True)
    busy = State()
    done = State(final=True)

    poke = idle.to(busy, cond="never_counting")
    go = idle.to(busy)
    finish = busy.to(done)

    properties = (
        Invariant(
            "K1",
            "busy only if never poked",
            lambda m: m._pokes == 0 or m.current_state_value == "idle",
        ),
    )

    _pokes = 0

    @describe("never holds; counts the attempt")
    def never_counting(self) -> bool:
        self._pokes += 1
        return False


class SessionReason(MachineReason):
    LOGON_REFUSED = "rvsession.LOGON_REFUSED"


@describe("the venue accepted the credentials")
def credentials_accepted(accepted: bool = True) -> None:
    if not accepted:
        raise PolicyViolation("logon refused", reason=SessionReason.LOGON_REFUSED)


class VenueSession(AuditedMachine):
    """The README's worked example, as written there."""

    audit_machine = "rv_session"
    reason_codes = SessionReason

    down = State(initial=True)
    logging_on = State()
    up = State()
    failed = State(final=True)

    connect = down.to(logging_on)
    logon_ok = logging_on.to(up, validators=credentials_accepted)
    timeout = logging_on.to(down, cond="retries_left") | logging_on.to(failed)
    drop = up.to(down)

    inputs = {"logon_ok": {"accepted": (True, False)}}
    properties = (
        Invariant("S1", "at most three logons time out", lambda s: s.timeouts <= 3),
        Never("S2", "a session that gave up never comes up", entered("up"), entered("failed")),
    )

    timeouts = 0

    @describe("fewer than two logons timed out so far")
    def retries_left(self) -> bool:
        return self.timeouts < 2

    def after_timeout(self) -> None:
        self.timeouts += 1


class Door(AuditedMachine):
    """A door that may be opened once; a callback notes things while it is open."""

    audit_machine = "rv_door"
    closed = State(initial=True)
    opened = State()
    locked = State(final=True)

    open = closed.to(opened)
    close = opened.to(closed)
    lock = closed.to(locked)

    properties = (
        Never("D1", "never opened after closing", entered("opened"), after=on("close")),
        Never("D4", "opened at most once", entered("opened"), after=entered("opened")),
        Only("D2", "locked only once it was closed", entered("locked"), after=on("close")),
        StateInvariant(
            "D3", "the state is a declared one", lambda s: s in {"closed", "opened", "locked"}
        ),
    )


class Counter(AuditedMachine):
    """Counts ticks in a public dict mutated in place."""

    audit_machine = "rv_counter"
    idle = State(initial=True)
    done = State(final=True)

    tick = idle.to.itself()
    finish = idle.to(done)

    properties = (Invariant("C1", "fewer than three ticks", lambda m: m.book["n"] < 3),)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.book = {"n": 0}
        super().__init__(*args, **kwargs)

    def after_tick(self) -> None:
        self.book["n"] += 1


class Child(AuditedMachine):
    """A child machine its parent drives (composition, not a group)."""

    audit_machine = "rv_child"
    c0 = State(initial=True)
    c1 = State()
    c2 = State()
    c3 = State(final=True)

    inc = c0.to(c1) | c1.to(c2) | c2.to(c3)


class Parent(AuditedMachine):
    """Each bump moves its child one step on."""

    audit_machine = "rv_parent"
    idle = State(initial=True)
    done = State(final=True)

    bump = idle.to.itself()
    finish = idle.to(done)

    properties = (
        Invariant("PC", "the child never ends", lambda m: m.child.current_state_value != "c3"),
    )

    def __init__(self, audit: Any, **kwargs: Any) -> None:
        super().__init__(audit, **kwargs)
        self.child = Child(audit, correlation_id="child")

    def after_bump(self) -> None:
        self.child.send("inc")


class Latch(AuditedMachine):
    """A child whose state shares a name with its parent's final state."""

    audit_machine = "rv_latch"
    open = State(initial=True)
    closed = State(final=True)

    inc = open.to(closed)


class Holder(AuditedMachine):
    """Closes its latch on the first bump; a bump once closed is refused."""

    audit_machine = "rv_holder"
    idle = State(initial=True)
    closed = State(final=True)

    bump = idle.to.itself()
    close = idle.to(closed)

    properties = (Never("PN", "never bumped once closed", on("bump"), after=entered("closed")),)

    def __init__(self, audit: Any, **kwargs: Any) -> None:
        super().__init__(audit, **kwargs)
        self.latch = Latch(audit, correlation_id="latch")

    def after_bump(self) -> None:
        if self.latch.current_state_value == "open":
            self.latch.send("inc")


# -- findings: false PASSes --------------------------------------------------------------------


class TestNoFalsePass:
    def test_invariant_over_a_private_attribute_fails_when_broken(self) -> None:
        """A counter kept in a private attribute that reaches 3 after three ticks breaks
        the invariant; exploration must not merge the configurations it tells apart."""
        results = verify_machines({"rv_private": PrivateTicks}, depth=6)

        assert _result(results, "X1").status == "FAIL"

    def test_invariant_over_a_plain_helper_object_fails_when_broken(self) -> None:
        """A position kept in a plain helper object (no ``__eq__``) that reaches 3 breaks
        the invariant; the helper's fields tell configurations apart."""
        results = verify_machines({"rv_buyer": Buyer}, depth=6)

        assert _result(results, "X2").status == "FAIL"

    def test_invariant_over_a_child_machine_fails_when_broken(self) -> None:
        """A parent holding a child machine it drives: three bumps end the child, so the
        invariant breaks; the child's state tells the parent's configurations apart."""
        results = verify_machines({"rv_parent": Parent}, depth=6)

        assert _result(results, "PC").status == "FAIL"

    def test_a_child_machines_records_are_not_the_parents_happenings(self) -> None:
        """The latch (another machine) entering its ``closed`` is not the holder entering
        ``closed``: "never bumped once closed" holds for the holder, as its trail says."""
        results = verify_machines({"rv_holder": Holder}, depth=4)

        assert _result(results, "PN").status == "PASS"

    def test_p3_does_not_pass_a_guarded_transition_never_taken_beside_an_unguarded_twin(
        self,
    ) -> None:
        """``a.to(b, cond=never) | a.to(b)``: the guarded transition is never taken, so P3
        must not PASS because its unguarded twin (same source, event, target) was."""
        results = verify_machines({"rv_parallel": Parallel}, depth=4)

        assert _result(results, "P3").status != "PASS"

    def test_group_member_pattern_is_not_passed_when_members_share_an_instance_id(self) -> None:
        """Two members whose records cannot be told apart (same machine, same correlation
        id): ``Never(on("fill", member="a"))`` is reported broken or the group refused,
        never PASSed."""
        try:
            results = check_group(_pair(("x", "x")), depth=3)
        except DefinitionError:
            return

        assert _result(results, "G1").status != "PASS"

    def test_finite_strategy_domain_is_explored_whole_or_the_pass_says_sampled(self) -> None:
        """``st.sampled_from`` ten venues: v9 is routed to, so F1 fails, or at least its PASS
        says that the domain was sampled rather than explored."""
        result = _result(verify_machines({"rv_router": Router}, depth=2), "F1")

        assert result.status == "FAIL" or "sampled" in result.detail

    def test_pass_over_an_integer_strategy_says_the_inputs_were_sampled(self) -> None:
        """A guard weakened to qty <= 1000 over ``st.integers(1, 10**6)``: five samples miss
        (100, 1000], so a PASS is no proof and must say the inputs were sampled."""
        result = _result(verify_machines({"rv_sizer": Sizer}, depth=2), "Q1")

        assert result.status == "FAIL" or "sampled" in result.detail


class TestCounterexamples:
    def test_counterexample_replays_to_the_violation(self) -> None:
        """The printed path of a broken invariant, replayed on a fresh instance, breaks it
        (the refused ``poke`` that changed the instance is part of it)."""
        result = _result(verify_machines({"rv_poke": Poke}, depth=3), "K1")
        machine = Poke(_log(), correlation_id="replay")
        for step in result.path:
            with contextlib.suppress(Exception):
                machine.send(step.split(" -> ")[0].split("(")[0])

        assert result.status == "FAIL"
        assert (machine._pokes > 0, machine.current_state_value) == (True, "busy")


# -- findings: generated paths and coverage ------------------------------------------------------


class TestPathsAndCoverage:
    def test_readme_session_paths_take_every_transition(self) -> None:
        """The README's VenueSession: ``logging_on -timeout-> failed`` needs two timeouts
        first (a guard reading ``self.timeouts``); the covering paths take it too."""
        paths = transition_paths(VenueSession)

        assert uncovered(VenueSession, paths) == ()

    def test_coverage_plugin_does_not_count_the_path_search_as_exercised(self) -> None:
        """Searching for paths (``transition_paths``) runs no test of the machine: the
        coverage a test run reports is not raised by it."""
        plugin = TransitionCoveragePlugin({"rv_session": VenueSession})
        plugin.install()
        try:
            transition_paths(VenueSession)
        finally:
            plugin.uninstall()

        assert plugin.result()["rv_session"].taken == frozenset()

    def test_coverage_counts_each_of_two_transitions_with_the_same_ends(self) -> None:
        """``a.to(b, cond=never) | a.to(b)`` declares two transitions; a run that takes the
        unguarded one does not cover the guarded one."""
        log = _log()
        Parallel(log, correlation_id="p").send("go")
        coverage = transition_coverage(log.records, Parallel)["rv_parallel"]

        assert len(coverage.transitions) == len(MachineModel.from_machine(Parallel).transitions)
        assert not coverage.complete


class TestTrailProperties:
    def test_an_annotation_is_not_an_entry_into_the_state(self) -> None:
        """A door opened once, with an annotation written while it is open: "opened at most
        once" holds on the trail (an annotation enters no state)."""
        log = _log()
        door = Door(log, correlation_id="d")
        door.send("open")
        door.record("note", AuditOutcome.APPLIED)

        assert check_trail_properties(log.records, {"rv_door": Door}) == []


# -- findings: audit trail and state after a failing callback ------------------------------------


class Fragile(AuditedMachine):
    """An ``on_<event>`` callback that raises after the audit write."""

    audit_machine = "rv_fragile"
    s = State(initial=True)
    t = State()
    f = State(final=True)

    go = s.to(t)
    stop = t.to(f)

    def on_go(self) -> None:
        raise RuntimeError("boom")


@pytest.mark.parametrize("engine", list(Engine))
def test_a_raising_on_callback_leaves_the_trail_where_the_machine_is(engine: Engine) -> None:
    """``on_go`` raises: the machine stays in ``s``, and the trail does not say it moved to
    ``t`` (re-opening it from the trail puts it where it is)."""
    log = _log()
    machine = Fragile(log, engine=engine, correlation_id="f")
    with pytest.raises(RuntimeError):
        machine.send("go")
    reopened = Fragile.from_trail(log, "f", engine=engine)

    assert reopened.current_state_value == machine.current_state_value


# -- what holds -----------------------------------------------------------------------------------


class TestHolds:
    def test_violation_at_exactly_the_depth_bound_is_found(self) -> None:
        """Three ticks break C1: depth 3 finds it (a shortest path), depth 2 does not."""
        shallow = _result(verify_machines({"rv_counter": Counter}, depth=2), "C1")
        deep = _result(verify_machines({"rv_counter": Counter}, depth=3), "C1")

        assert (shallow.status, deep.status, len(deep.path)) == ("PASS", "FAIL", 3)

    def test_group_member_pattern_fails_with_distinct_ids(self) -> None:
        """With distinct correlation ids, a's fill is found on a one-step path."""
        result = _result(check_group(_pair(("x", "y")), depth=3), "G1")

        assert (result.status, result.path) == ("FAIL", ("a.fill -> a=filled, b=open",))

    def test_trail_sequence_property_follows_each_instance(self) -> None:
        """Two doors interleaved, a refused record in between: only b, re-opened after its
        close, breaks D1, at its own record."""
        log = _log()
        a, b = Door(log, correlation_id="a"), Door(log, correlation_id="b")
        a.send("open")
        b.send("open")
        b.send("close")
        with contextlib.suppress(Exception):
            a.send("lock")
        a.send("close")
        b.send("open")
        found = check_trail_properties(log.records, {"rv_door": Door})

        assert [(v.instance, v.prop) for v in found] == [("b", "D1"), ("b", "D4")]

    def test_readme_session_properties_pass_and_explore_the_failed_state(self) -> None:
        """The README's session: S1 and S2 hold and P3 takes both guarded transitions."""
        results = verify_machines({"rv_session": VenueSession}, depth=8)

        assert [r.status for r in results] == ["PASS"] * 4


class Calls(AuditedMachine):
    """Callbacks of every kind, self and internal transitions, guards reading runtime values."""

    audit_machine = "rv_calls"
    s = State(initial=True)
    t = State()
    u = State(final=True)

    go = s.to(t, validators="not_negative", cond="one") | s.to(u, validators="not_negative")
    loop = s.to.itself() | t.to.itself()
    inner = s.to.itself(internal=True) | t.to.itself(internal=True)
    back = t.to(s)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.calls: list[Any] = []
        super().__init__(*args, **kwargs)

    @describe("x is not negative")
    def not_negative(self, x: int = 0) -> None:
        if x < 0:
            raise ContractViolation("negative", reason=ReasonCode.VALIDATION_INVALID_QUANTITY)

    @describe("x is one")
    def one(self, event: Any, source: Any, target: Any, state: Any, x: int = 0) -> bool:
        self.calls.append(("one", str(event), source.id, target.id, state.id))
        return x == 1

    def on_transition(self, event: Any, source: Any, target: Any, state: Any) -> None:
        self.calls.append(("on", str(event), source.id, target.id, state.id))

    def after_transition(self, event: Any, state: Any) -> None:
        self.calls.append(("after", str(event), state.id))

    def on_exit_state(self, state: Any) -> None:
        self.calls.append(("exit", state.id))

    def on_enter_state(self, event: Any, state: Any) -> None:
        self.calls.append(("enter", str(event), state.id))


def _trace(engine: Engine, steps: list[tuple[str, dict[str, Any]]], start: Any = None) -> Any:
    log = AuditLog(FixedClock(EPOCH))
    machine = Calls(log, engine=engine, correlation_id="c", start_value=start)
    out: list[Any] = [list(machine.calls)]
    for event, kwargs in steps:
        machine.calls.clear()
        try:
            if event.startswith("."):
                getattr(machine, event[1:])(**kwargs)
            else:
                machine.send(event, **kwargs)
            outcome: Any = "ok"
        except Exception as exc:  # noqa: BLE001  # compared, not judged
            outcome = (type(exc).__name__, str(exc))
        out.append(
            (
                event,
                outcome,
                machine.current_state_value,
                machine.is_terminated,
                list(machine.calls),
                [e.id for e in machine.allowed_events],
                [e.id for e in machine.enabled_events(**kwargs)],
            )
        )
    return out, log.export_jsonl()


@pytest.mark.parametrize(
    ("steps", "start"),
    [
        ([("loop", {}), ("inner", {}), ("go", {"x": -1}), ("go", {"x": 1})], None),
        ([(".loop", {}), (".go", {"x": 1}), ("loop", {}), ("inner", {}), (".back", {})], None),
        ([("go", {"x": 2}), ("go", {}), ("loop", {})], None),
        ([("back", {}), ("inner", {})], "t"),
        ([("go", {}), ("loop", {})], "u"),
    ],
)
def test_both_engines_run_callbacks_guards_and_queries_alike(steps: Any, start: Any) -> None:
    """Self and internal transitions, validators with conds, events called as methods with
    keyword arguments, guards reading event/source/target/state, a start value (also a
    final one) with entry callbacks: identical traces and records on both engines."""
    assert _trace(Engine.COMPILED, steps, start) == _trace(Engine.REFERENCE, steps, start)
