"""
Properties a machine of one's own declares (invariants, sequence properties, input domains,
groups), proved by exploring running instances, and checked over recorded audit trails.
"""

from __future__ import annotations

import enum
import itertools
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from hypothesis import strategies as st
from statemachine.states import States

from execfsm import ExecutionEvent, Fill, OrderLifecycle, PipelineRun
from execfsm.clock import EPOCH, SteppingClock
from execfsm.errors import DefinitionError, IllegalTransition
from execfsm.fsm.audit import AuditOutcome, AuditRecord
from execfsm.fsm.audited import AuditedMachine
from execfsm.fsm.guards import describe
from execfsm.fsm.properties import (
    Group,
    Invariant,
    Never,
    Only,
    Property,
    Sampled,
    StateInvariant,
    Stimulus,
    entered,
    on,
)
from execfsm.governance.declared import check_group, check_machine
from execfsm.governance.explore import domain_values, fingerprint, freeze, sampled_domains
from execfsm.governance.properties import verify_machine, verify_machines
from execfsm.governance.trail_properties import check_trail_properties, trail_properties
from execfsm.ledger.audit import AuditLog
from execfsm.testing import order_for, variant_of
from execfsm.typing import AuditSink
from tests.conftest import make_intent
from tests.test_governance import runnable

# -- a venue session, as a user would declare it ------------------------------------------


class Phase(enum.StrEnum):
    IDLE = "IDLE"
    OPEN = "OPEN"
    HALTED = "HALTED"
    CLOSED = "CLOSED"


@describe("the order keeps the session's exposure within its limit")
def fits(size: int, exposure: int, limit: int) -> bool:
    return exposure + size <= limit


class VenueSession(AuditedMachine):
    """Orders add to the exposure while it fits the limit; one that does not halts the
    session, which then can only close."""

    audit_machine = "session"

    _ = States.from_enum(Phase, initial=Phase.IDLE, final=[Phase.CLOSED])
    _.IDLE.to(_.OPEN, event="open")
    _.OPEN.to.itself(event="order", cond=fits, internal=True)
    _.OPEN.to(_.HALTED, event="order", unless=fits)
    _.OPEN.to(_.CLOSED, event="close")
    _.HALTED.to(_.CLOSED, event="close")

    inputs: ClassVar[Any] = {"order": {"size": (1, 3)}}
    properties: ClassVar[tuple[Property, ...]] = (
        Invariant("S1", "exposure never exceeds the limit", lambda s: s.exposure <= s.limit),
        Never("S2", "a halted session never opens again", entered("OPEN"), after=entered("HALTED")),
        Only("S3", "no order before the session opened", on("order"), after=entered("OPEN")),
    )

    def __init__(self, audit: AuditSink, *, limit: int = 4) -> None:
        self.exposure = 0
        self.limit = limit
        super().__init__(audit)

    @property
    def correlation_id(self) -> str:
        return "s-1"

    def guard_context(self) -> dict[str, Any]:
        return {"exposure": self.exposure, "limit": self.limit}

    def after_order(self, size: int, target: Any) -> None:
        if target.value is Phase.OPEN:
            self.exposure += size


class ForgetfulSession(VenueSession):
    """Its guard does not see the exposure so far: orders pile up beyond the limit."""

    def guard_context(self) -> dict[str, Any]:
        return {"exposure": 0, "limit": self.limit}


def resuming_session() -> type[VenueSession]:
    """A session that a halt can be resumed from: breaks S2."""
    return runnable(
        variant_of(VenueSession, "ResumingSession", lambda s: s.HALTED.to(s.OPEN, event="resume"))
    )


class UndeclaredSession(VenueSession):
    """The same machine with no input domain for ``order``'s size."""

    inputs: ClassVar[Any] = {}


# -- an OCO group over two legs -----------------------------------------------------------


class LegState(enum.StrEnum):
    WORKING = "WORKING"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"


class OcoState(enum.StrEnum):
    ACTIVE = "ACTIVE"
    TRIGGERED = "TRIGGERED"
    DONE = "DONE"


class Leg(AuditedMachine):
    """One leg: fills whole or is cancelled; a fill tells the parent."""

    audit_machine = "leg"
    _ = States.from_enum(
        LegState, initial=LegState.WORKING, final=[LegState.FILLED, LegState.CANCELLED]
    )
    _.WORKING.to(_.FILLED, event="fill")
    _.WORKING.to(_.CANCELLED, event="cancel")

    def __init__(self, name: str, parent: OcoParent, audit: AuditSink) -> None:
        self.name = name
        self.parent = parent
        self.filled = 0
        super().__init__(audit)

    @property
    def correlation_id(self) -> str:
        return f"leg-{self.name}"

    def after_fill(self, qty: int) -> None:
        self.filled += qty
        if self.parent.state_value is OcoState.ACTIVE:
            self.parent.send("leg_filled", leg=self.name)


class OcoParent(AuditedMachine):
    """The first leg filled cancels the other; closing cancels both."""

    audit_machine = "oco"
    _ = States.from_enum(OcoState, initial=OcoState.ACTIVE, final=[OcoState.DONE])
    _.ACTIVE.to(_.TRIGGERED, event="leg_filled")
    _.ACTIVE.to(_.DONE, event="close")
    _.TRIGGERED.to(_.DONE, event="close")

    def __init__(self, quantity: int, audit: AuditSink) -> None:
        self.quantity = quantity
        self.legs: dict[str, Leg] = {}
        super().__init__(audit)

    @property
    def correlation_id(self) -> str:
        return "oco-1"

    def after_leg_filled(self, leg: str) -> None:
        other = self.legs["b" if leg == "a" else "a"]
        if other.state_value is LegState.WORKING:
            other.send("cancel")

    def after_close(self) -> None:
        for leg in self.legs.values():
            if leg.state_value is LegState.WORKING:
                leg.send("cancel")


class CarelessParent(OcoParent):
    """Forgets to cancel the other leg."""

    def after_leg_filled(self, leg: str) -> None:
        pass


def oco_group(parent: type[OcoParent]) -> Group:
    def build(audit: AuditSink) -> dict[str, AuditedMachine]:
        oco = parent(5, audit)
        oco.legs = {"a": Leg("a", oco, audit), "b": Leg("b", oco, audit)}
        return {"parent": oco, **oco.legs}

    return Group(
        "oco",
        build,
        events={
            "a": {"fill": {"qty": (5,)}},
            "b": {"fill": {"qty": (5,)}},
            "parent": {"close": {}},
        },
        properties=(
            Invariant(
                "G1",
                "both legs never filled beyond the group's quantity",
                lambda m: m["a"].filled + m["b"].filled <= m["parent"].quantity,
            ),
            Never(
                "G2",
                "no leg fills once the other has filled",
                on("fill", member="b"),
                after=on("fill", member="a"),
            ),
        ),
    )


def unrelated_legs() -> Group:
    """Two real order legs of one unit each, in a group of one unit, with nothing to cancel
    the other: fills are venue events applied through `OrderLifecycle.apply`."""

    def build(audit: AuditSink) -> dict[str, AuditedMachine]:
        legs = {}
        for name in ("a", "b"):
            leg = OrderLifecycle(order_for(make_intent(intent_id=f"leg-{name}")), audit)
            leg.send("submit")
            legs[name] = leg
        return legs

    def fill(lc: OrderLifecycle) -> object:
        return lc.apply(ExecutionEvent.of_fill(lc.order, "e", EPOCH, Fill("f", 1, 10)))

    return Group(
        "two-legs",
        build,
        events={},
        stimuli={"a": (Stimulus("venue fill 1", fill),), "b": (Stimulus("venue fill 1", fill),)},
        properties=(
            Invariant(
                "G1",
                "the legs never fill beyond the group's one unit",
                lambda m: m["a"].order.filled_quantity + m["b"].order.filled_quantity <= 1,
            ),
        ),
    )


# -- tests ---------------------------------------------------------------------------------


def by_prop(results: list[Any]) -> dict[str, Any]:
    return {r.prop: r for r in results}


class TestMachineProperties:
    def test_a_right_machine_passes_its_properties(self) -> None:
        """The session keeps its invariant and sequence properties, and P2 and P3 hold."""
        results = by_prop(verify_machine("session", VenueSession, depth=5))

        assert [(p, r.status) for p, r in sorted(results.items())] == [
            ("P2", "PASS"),
            ("P3", "PASS"),
            ("S1", "PASS"),
            ("S2", "PASS"),
            ("S3", "PASS"),
        ]
        assert "configurations" in results["S1"].detail

    def test_a_broken_invariant_fails_with_the_shortest_trace(self) -> None:
        """A guard that forgets the exposure breaks S1; the trace is the shortest way."""
        s1 = by_prop(verify_machine("session", ForgetfulSession, depth=5))["S1"]

        assert (s1.ok, s1.status) == (False, "FAIL")
        assert s1.detail == "invariant broken: exposure never exceeds the limit"
        assert s1.path == ("open -> OPEN", "order(size=3) -> OPEN", "order(size=3) -> OPEN")

    def test_a_broken_sequence_property_fails_with_the_shortest_trace(self) -> None:
        """An edge out of HALTED back to OPEN breaks S2, shown from the start."""
        s2 = by_prop(verify_machine("session", resuming_session(), depth=5))["S2"]

        assert not s2.ok
        assert s2.detail == "state OPEN happened after state HALTED"
        assert s2.path == (
            "open -> OPEN",
            "order(size=3) -> OPEN",
            "order(size=3) -> HALTED",
            "resume -> OPEN",
        )

    def test_every_broken_property_gets_its_own_counterexample(self) -> None:
        """Exploration goes on after a property broke, for the others."""
        results = by_prop(verify_machine("session", resuming_session(), depth=5))

        assert (results["S1"].ok, results["S2"].ok, results["S3"].ok) == (True, False, True)

    def test_p3_passes_with_declared_inputs(self) -> None:
        """Both edges of ``order`` are taken with sizes 1 and 3."""
        p3 = by_prop(verify_machine("session", VenueSession))["P3"]

        assert p3.ok
        assert p3.detail == "2 guarded transitions taken"

    def test_p3_names_the_guard_and_the_missing_input(self) -> None:
        """Without a domain for ``size``, P3 is unproven, not failed, and says what to declare."""
        p3 = by_prop(verify_machine("session", UndeclaredSession))["P3"]

        assert (p3.ok, p3.unproven, p3.status) == (False, True, "UNPROVEN")
        assert "guard fits needs input 'size' of event 'order'" in p3.detail
        assert "declare inputs = {'order': {'size': (...)}} on UndeclaredSession" in p3.detail
        assert str(p3).startswith("UNPROVEN session P3 ")

    def test_inputs_passed_to_the_check_replace_the_declared_ones(self) -> None:
        """Inputs given to `check_machine` are used instead of the class's."""
        check = check_machine("session", UndeclaredSession, inputs={"order": {"size": [1, 3]}})

        assert ("OPEN", "order", "HALTED") in check.taken

    def test_inputs_for_an_unknown_event_are_refused(self) -> None:
        """A typo in the input domains is a definition error."""
        with pytest.raises(DefinitionError, match="unknown events \\['ordr'\\]"):
            check_machine("session", VenueSession, inputs={"ordr": {"size": [1]}})

    def test_a_strategy_is_sampled_the_same_on_every_run(self) -> None:
        """A hypothesis strategy gives the same values on every call, as many as asked."""
        first = domain_values(Sampled(st.integers(1, 100), count=4, seed=7), "size")
        second = domain_values(Sampled(st.integers(1, 100), count=4, seed=7), "size")

        assert first == second
        assert len(first) == 4

    def test_a_strategy_domain_explores_the_machine(self) -> None:
        """A machine whose sizes come from a strategy passes P3 and its properties."""

        class SampledSession(VenueSession):
            inputs: ClassVar[Any] = {"order": {"size": st.integers(1, 4)}}

        results = verify_machine("session", SampledSession, depth=4)

        assert [r.prop for r in results if not r.ok] == []


class Switch(enum.StrEnum):
    ON = "ON"
    OFF = "OFF"


class Counter(AuditedMachine):
    """Keeps its count private, behind a property: the fingerprint reads the property."""

    audit_machine = "counter"
    _ = States.from_enum(Switch, initial=Switch.ON, final=[Switch.OFF])
    _.ON.to.itself(event="bump", internal=True)
    _.ON.to(_.OFF, event="stop")

    properties: ClassVar[tuple[Property, ...]] = (
        Invariant("C1", "at most two bumps", lambda c: c.count <= 2),
    )

    def __init__(self, audit: AuditSink) -> None:
        self._count = 0
        super().__init__(audit)

    @property
    def correlation_id(self) -> str:
        return "c-1"

    @property
    def count(self) -> int:
        return self._count

    def after_bump(self) -> None:
        self._count += 1


class TestFingerprints:
    def test_a_public_property_tells_configurations_apart(self) -> None:
        """Context behind a property still counts: the third bump is found."""
        c1 = by_prop(verify_machine("counter", Counter, depth=4))["C1"]

        assert c1.path == ("bump -> ON", "bump -> ON", "bump -> ON")

    def test_a_snapshot_method_replaces_the_default(self) -> None:
        """A machine's own ``snapshot()`` decides what a configuration is: ignoring the count
        merges every bump into one configuration, so the third is never explored."""

        class Forgetful(Counter):
            def snapshot(self) -> object:
                return ()

        c1 = by_prop(verify_machine("counter", Forgetful, depth=4))["C1"]

        assert (c1.ok, c1.detail) == (True, "2 configurations, 4 sequences up to depth 4")


class BackLeg(AuditedMachine):
    """A leg that holds its parent (a cycle the fingerprint must not follow forever)."""

    audit_machine = "sound_leg"
    _ = States.from_enum(Switch, initial=Switch.ON, final=[Switch.OFF])
    _.ON.to(_.OFF, event="stop")

    def __init__(self, audit: AuditSink, parent: Any, correlation_id: str) -> None:
        self.parent = parent
        super().__init__(audit, correlation_id=correlation_id)


class LegHolder(AuditedMachine):
    """Holds a leg that points back at it, and a lock (which cannot be seen into)."""

    audit_machine = "sound_holder"
    _ = States.from_enum(Switch, initial=Switch.ON, final=[Switch.OFF])
    _.ON.to.itself(event="bump")
    _.ON.to(_.OFF, event="stop")

    def __init__(self, audit: AuditSink) -> None:
        super().__init__(audit, correlation_id="holder")
        self.leg = BackLeg(audit, self, "leg")

    def after_bump(self) -> None:
        if self.leg.current_state_value == Switch.ON:
            self.leg.send("stop")


def _log() -> AuditLog:
    return AuditLog(SteppingClock(EPOCH, timedelta(seconds=1)))


class TestSoundFingerprints:
    def test_a_cycle_through_a_child_machine_is_frozen_once(self) -> None:
        """A parent and a leg holding it fingerprint to the same value twice, and the
        leg's state tells two parents apart."""
        first, second = LegHolder(_log()), LegHolder(_log())
        before = fingerprint({"": first})
        second.send("bump")

        assert fingerprint({"": LegHolder(_log())}) == before
        assert fingerprint({"": second}) != before

    def test_shared_and_equal_are_told_apart(self) -> None:
        """Two references to one list are not two equal lists: a mutation through one
        shows through the other."""
        one: list[int] = []

        assert freeze([one, one]) != freeze([[], []])
        assert freeze([[], []]) == freeze([[], []])

    def test_values_of_different_types_are_not_merged(self) -> None:
        """``1``, ``1.0`` and ``True`` are equal in Python, not in what a guard can read."""
        assert len({freeze(1), freeze(1.0), freeze(True)}) == 3

    def test_slots_are_seen_into_private_ones_too(self) -> None:
        """A slotted helper (with a name-mangled slot) is told apart by its values."""

        class Book:
            __slots__ = ("__qty", "side")

            def __init__(self, qty: int) -> None:
                self.__qty = qty
                self.side = "BUY"

        assert freeze(Book(1)) == freeze(Book(1))
        assert freeze(Book(1)) != freeze(Book(2))

    def test_what_cannot_be_seen_into_never_merges(self) -> None:
        """An object with nothing to read (C code) equals only itself: two never merge."""
        one, other = object(), object()

        assert freeze(one) != freeze(other)
        assert freeze(one) == freeze(one)
        assert freeze([one]) != freeze([other])

    def test_a_lock_is_not_context(self) -> None:
        """A lock is unlocked between events: synchronisation, not what a machine knows."""
        import threading

        assert freeze(threading.Lock()) == freeze(threading.RLock()) == freeze(threading.Lock())

    def test_a_machine_holding_its_parent_is_explored(self) -> None:
        """Exploration over a parent whose leg holds it ends, and P3 holds."""
        results = verify_machine("holder", LegHolder, depth=3)

        assert [r.status for r in results] == ["PASS", "PASS"]


class Twins(AuditedMachine):
    """Two transitions with the same ends: the guarded one chosen when ``fast`` is given."""

    audit_machine = "twins"
    _ = States.from_enum(Switch, initial=Switch.ON, final=[Switch.OFF])
    _.ON.to(_.OFF, event="stop", cond="quick")
    _.ON.to(_.OFF, event="stop")

    inputs: ClassVar[Any] = {"stop": {"fast": (False, True)}}

    @describe("the stop is fast")
    def quick(self, fast: bool) -> bool:
        return fast


class NotedTwins(Twins):
    """The same, with an entry callback (the machine runs on the callback engine)."""

    audit_machine = "noted_twins"

    def on_enter_OFF(self) -> None:
        self.noted = True


class TestTwinTransitions:
    @pytest.mark.parametrize("machine", [Twins, NotedTwins])
    def test_a_guarded_twin_that_is_chosen_passes_p3(self, machine: type[Any]) -> None:
        """The guarded transition is taken when its guard holds: P3 sees which one was."""
        p3 = by_prop(verify_machine("twins", machine, depth=2))["P3"]

        assert (p3.ok, p3.detail) == (True, "1 guarded transitions taken")

    def test_a_guarded_twin_never_chosen_fails_p3(self) -> None:
        """With ``fast`` always False only the unguarded twin is taken: P3 fails."""
        p3 = by_prop(check_p3_of(Twins, {"stop": {"fast": (False,)}}))["P3"]

        assert p3.status == "FAIL"


def check_p3_of(machine: type[Any], inputs: Any) -> list[Any]:
    from execfsm.fsm.model import MachineModel
    from execfsm.governance.properties import check_p3

    check = check_machine("twins", machine, depth=2, inputs=inputs)
    return [check_p3("twins", MachineModel.from_machine(machine), check)]


class TestInputDomains:
    def test_a_small_sampled_from_is_explored_whole(self) -> None:
        """Every element of a small ``sampled_from``, in its order, and none said sampled."""
        domain = st.sampled_from(["a", "b", "c", "d", "e", "f", "g"])

        assert [v for _, v in domain_values(domain, "x")] == list("abcdefg")
        assert sampled_domains({"go": {"x": domain}}) == []

    def test_small_integer_ranges_booleans_and_one_of_are_explored_whole(self) -> None:
        """Strategies whose values can be listed are listed."""
        domain = st.one_of(st.integers(1, 3), st.booleans(), st.just("x"))

        assert [v for _, v in domain_values(domain, "x")] == [1, 2, 3, False, True, "x"]

    def test_a_large_strategy_is_sampled_and_said_so(self) -> None:
        """A strategy too large to list is sampled, and named as sampled."""
        domain = st.integers(1, 10**6)

        assert len(domain_values(domain, "qty")) == 5
        assert sampled_domains({"order": {"qty": domain}}) == [
            "order.qty 5 of integers(min_value=1, max_value=1000000)"
        ]

    def test_a_mapped_strategy_is_sampled(self) -> None:
        """``sampled_from(...).map(f)`` is not its elements: it is sampled."""
        assert sampled_domains({"go": {"x": st.sampled_from([1, 2]).map(str)}}) != []

    def test_a_pass_over_sampled_inputs_says_so(self) -> None:
        """The PASS of a property explored with sampled sizes names the sampled domain."""

        class Sampled6(VenueSession):
            inputs: ClassVar[Any] = {"order": {"size": st.integers(1, 1000)}}

        s1 = by_prop(verify_machine("session", Sampled6, depth=3))["S1"]

        assert s1.ok
        assert "inputs sampled, not explored whole: order.size 5 of integers" in s1.detail


_DRAWN = itertools.count()


class Flaky(AuditedMachine):
    """Takes a number from a module-level counter on each bump: no two replays alike."""

    audit_machine = "flaky"
    _ = States.from_enum(Switch, initial=Switch.ON, final=[Switch.OFF])
    _.ON.to.itself(event="bump")
    _.ON.to(_.OFF, event="stop")

    properties: ClassVar[tuple[Property, ...]] = (
        Invariant("F1", "never drew 2", lambda m: m.drawn != 2),
    )

    def __init__(self, audit: AuditSink) -> None:
        self.drawn = -1
        super().__init__(audit, correlation_id="flaky")

    def after_bump(self) -> None:
        self.drawn = next(_DRAWN)


class TestReplayAndRecords:
    def test_a_counterexample_that_does_not_replay_says_so(self) -> None:
        """A violation found on a path that breaks nothing when replayed is still a FAIL,
        and the detail says the machine does not behave the same on every replay."""
        f1 = by_prop(verify_machine("flaky", Flaky, depth=3))["F1"]

        assert f1.status == "FAIL"
        assert "does not break it again on fresh instances" in f1.detail

    def test_members_sharing_an_instance_id_are_refused(self) -> None:
        """Two members whose records carry one (machine, correlation id) are refused, by
        name."""
        group = Group(
            "shared",
            lambda sink: {
                "a": LegHolder(sink),
                "b": LegHolder(sink),
            },
            events={"a": {"bump": {}}, "b": {"bump": {}}},
        )

        with pytest.raises(DefinitionError, match="members 'a' and 'b' write records as one"):
            check_group(group, depth=2)

    def test_a_declared_self_transition_enters_its_state_on_a_trail(self) -> None:
        """A bump (ON -> ON, an event of the machine) enters ON; an annotation does not."""

        class Once(LegHolder):
            properties: ClassVar[tuple[Property, ...]] = (
                Never("O1", "ON entered once", entered("ON"), after=entered("ON")),
            )

        noted, bumped = _log(), _log()
        Once(noted).record("note", AuditOutcome.APPLIED)
        Once(bumped).send("bump")

        assert check_trail_properties(noted.records, {"holder": Once}) == []
        assert [v.prop for v in check_trail_properties(bumped.records, {"holder": Once})] == ["O1"]


class TestStimuli:
    def test_a_stimulus_drives_the_machine_and_is_printed_by_its_label(self) -> None:
        """Steps other than a plain send explore the machine; the trace names them."""

        class Driven(ForgetfulSession):
            inputs: ClassVar[Any] = {}
            stimuli: ClassVar[tuple[Stimulus, ...]] = (
                Stimulus("order of 3", lambda s: s.send("order", size=3)),
            )

        s1 = by_prop(verify_machine("session", Driven, depth=4))["S1"]

        assert s1.path == ("open -> OPEN", "order of 3 -> OPEN", "order of 3 -> OPEN")

    def test_transitions_a_stimulus_takes_count_for_p3(self) -> None:
        """A machine with no input domains, driven by stimuli, passes P3."""

        class Driven(UndeclaredSession):
            stimuli: ClassVar[tuple[Stimulus, ...]] = (
                Stimulus("order of 3", lambda s: s.send("order", size=3)),
            )

        p3 = by_prop(verify_machine("session", Driven, depth=4))["P3"]

        assert (p3.ok, p3.detail) == (True, "2 guarded transitions taken")

    def test_a_group_of_real_order_legs_applies_venue_events(self) -> None:
        """Two order legs with nothing wiring them both fill: the group invariant fails."""
        g1 = by_prop(check_group(unrelated_legs(), depth=3))["G1"]

        assert not g1.ok
        assert g1.path == (
            "a.venue fill 1 -> a=FILLED, b=SUBMITTED",
            "b.venue fill 1 -> a=FILLED, b=FILLED",
        )


class TestGroups:
    def test_a_wired_oco_keeps_its_group_properties(self) -> None:
        """The first fill cancels the other leg: never both filled, no fill after a fill."""
        results = by_prop(check_group(oco_group(OcoParent), depth=4))

        assert (results["G1"].ok, results["G2"].ok) == (True, True)

    def test_a_careless_parent_breaks_the_group_with_the_shortest_trace(self) -> None:
        """Without the cancel, both legs fill: the trace interleaves the members."""
        results = by_prop(check_group(oco_group(CarelessParent), depth=4))

        assert results["G1"].path == (
            "a.fill(qty=5) -> parent=TRIGGERED, a=FILLED, b=WORKING",
            "b.fill(qty=5) -> parent=TRIGGERED, a=FILLED, b=FILLED",
        )
        assert results["G2"].detail == "b.event fill happened after a.event fill"

    def test_verify_machines_checks_the_groups_a_machine_heads(self) -> None:
        """A machine's ``groups`` are checked once, after the machines."""

        class Heading(CarelessParent):
            groups: ClassVar[tuple[Group, ...]] = (oco_group(CarelessParent),)

        results = verify_machines({"oco": Heading}, depth=3)

        assert [(r.machine, r.prop, r.ok) for r in results if r.machine == "oco"][-2:] == [
            ("oco", "G1", False),
            ("oco", "G2", False),
        ]


def record(seq: int, event: str, source: str, target: str) -> AuditRecord:
    return AuditRecord(
        seq, EPOCH, "s-1", None, "session", event, source, target, AuditOutcome.APPLIED, None, "",
        "0" * 64, "0" * 64,
    )  # fmt: skip


class TestTrails:
    def test_a_recorded_session_keeps_its_properties(self) -> None:
        """A real session's trail (with a refusal in it) passes."""
        audit = AuditLog(SteppingClock(EPOCH, timedelta(seconds=1)))
        session = VenueSession(audit)
        session.send("open")
        session.send("order", size=3)
        session.send("order", size=3)
        with pytest.raises(IllegalTransition):
            session.send("open")
        session.send("close")

        assert check_trail_properties(audit.records, {"session": VenueSession}) == []

    def test_a_hand_made_trail_breaking_a_property_is_caught_at_its_seq(self) -> None:
        """An order before opening and a reopening after a halt are each reported once."""
        trail = [
            record(1, "order", "IDLE", "IDLE"),
            record(2, "open", "IDLE", "OPEN"),
            record(3, "order", "OPEN", "HALTED"),
            record(4, "resume", "HALTED", "OPEN"),
            record(5, "resume", "HALTED", "OPEN"),
        ]

        found = check_trail_properties(trail, {"session": VenueSession})

        assert [(v.prop, v.instance, v.seq) for v in found] == [("S3", "s-1", 1), ("S2", "s-1", 4)]
        assert str(found[1]).endswith(
            "record seq 4: state OPEN happened after state HALTED (resume HALTED -> OPEN)"
        )

    def test_a_state_invariant_is_checked_on_the_trail(self) -> None:
        """A state invariant is checked on every recorded state."""

        class NoHalt(VenueSession):
            properties: ClassVar[tuple[Property, ...]] = (
                StateInvariant("S4", "never halted", lambda s: s != "HALTED"),
            )

        trail = [record(1, "open", "IDLE", "OPEN"), record(2, "order", "OPEN", "HALTED")]

        found = check_trail_properties(trail, {"session": NoHalt})

        assert [(v.prop, v.seq, v.detail) for v in found] == [("S4", 2, "in state HALTED")]


class TestBuiltins:
    def test_the_built_in_machines_declare_p1_p4_p5(self) -> None:
        """P1 is the pipeline's declaration, P4 and P5 the order's; P2 and P3 apply to all."""
        assert [p.name for p in PipelineRun.properties] == ["P1"]
        assert [p.name for p in OrderLifecycle.properties] == ["P4", "P5"]

    def test_verify_machines_takes_the_machines_it_is_given(self) -> None:
        """Only the machines passed in are verified, each in the given order."""
        results = verify_machines({"pipeline": PipelineRun}, depth=5)

        assert [(r.machine, r.prop, r.ok) for r in results] == [
            ("pipeline", "P1", True),
            ("pipeline", "P2", True),
            ("pipeline", "P3", True),
        ]

    def test_a_trail_of_the_built_ins_has_nothing_to_break(self) -> None:
        """P1's pattern reads the route argument, which no record carries: a trail check
        of the built-in machines finds nothing to check, hence nothing broken."""
        audit = AuditLog(SteppingClock(EPOCH))
        run = PipelineRun(make_intent(), correlation_id="c", client_order_id="o", audit=audit)
        run.send("intake_done")

        machines = {"order": OrderLifecycle, "pipeline": PipelineRun}

        assert trail_properties(machines) == {"order": (), "pipeline": ()}
        assert check_trail_properties(audit.records, machines) == []
