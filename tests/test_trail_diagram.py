"""
The audit trail replayed onto the diagrams (`execfsm.diagrams.traffic`, ``execfsm diagrams
--trail/--db``, the demo's ``trail/`` folder).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statemachine import State

from execfsm import ExecutionOrchestrator, OrderIntent, SqliteStore
from execfsm.adapters.dispatcher import Dispatcher
from execfsm.adapters.simulated import SimulatedVenue
from execfsm.clock import EPOCH, SteppingClock
from execfsm.contracts import OrderSide, OrderType
from execfsm.demo import run_demo
from execfsm.diagrams.traffic import (
    UnknownMachineError,
    count_traffic,
    traffic_digraph,
    write_traffic,
)
from execfsm.fsm.audit import AuditOutcome, AuditRecord
from execfsm.fsm.audited import AuditedMachine
from execfsm.fsm.model import MachineModel
from execfsm.ledger.audit import AuditLog, record_json
from execfsm.ledger.replay import replay
from execfsm.ledger.trail_text import record_from_line
from execfsm.registry import known_machines, register_machine, unregister_machine
from execfsm.risk import ConditionalRiskHook
from execfsm.testing import Fault, FaultyVenue, paper_orchestrator


def _read(path: Path) -> list[AuditRecord]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [record_from_line(line, line=n) for n, line in enumerate(lines, 1)]


def _write(path: Path, records: Sequence[AuditRecord]) -> Path:
    path.write_text("".join(record_json(r) + "\n" for r in records), encoding="utf-8")
    return path


def _moving(records: Sequence[AuditRecord], name: str) -> int:
    model = MachineModel.from_machine(known_machines()[name])
    edges = {(t.source, t.event, t.target) for t in model.transitions}
    return sum(
        1
        for r in records
        if r.machine == name
        and r.outcome is AuditOutcome.APPLIED
        and (r.source, r.event, r.target) in edges
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    run_demo(out)
    return out


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with instances held: a dispatch timed out (flagged), a resting limit order,
    an intent paused for review."""
    db = tmp_path_factory.mktemp("held") / "held.db"
    clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
    venue = FaultyVenue(SimulatedVenue(clock), [Fault.TIMEOUT_AFTER_SEND] * 5)
    risk = ConditionalRiskHook(
        allowed_symbols=["BTC/EUR", "ETH/EUR"], max_quantity=10, review_quantity="2.5"
    )
    orch = paper_orchestrator(
        venue,
        clock=clock,
        risk_hook=risk,
        store=SqliteStore(db),
        dispatcher=Dispatcher(sleep=lambda _s: None),
    )
    for symbol, qty, price, intent_id in (
        ("BTC/EUR", "0.5", None, "a"),
        ("BTC/EUR", "0.2", Decimal(1000), "b"),
        ("ETH/EUR", "3", None, "c"),
    ):
        order_type = OrderType.MARKET if price is None else OrderType.LIMIT
        orch.submit_intent(
            OrderIntent(
                symbol,
                OrderSide.BUY,
                Decimal(qty),
                order_type,
                "t",
                limit_price=price,
                intent_id=intent_id,
            )
        )
    orch.close()
    return db


class Odd(AuditedMachine):
    """A user machine whose state names need escaping in DOT."""

    audit_machine = "odd"

    quoted = State(value='a"b', initial=True)
    angled = State(value="<x>")
    slashed = State(value="back\\lslash", final=True)

    go = quoted.to(angled)
    stop = angled.to(slashed)


@pytest.fixture
def odd() -> Iterator[type[Odd]]:
    register_machine(Odd)
    yield Odd
    unregister_machine(Odd)


class TestCounting:
    def test_edge_counts_sum_to_the_applied_moves_of_each_machine(self, demo: Path) -> None:
        """Each machine's edge counts add up to its applied records along declared edges."""
        records = _read(demo / "audit.jsonl") + _read(demo / "audit-live-attempts.jsonl")

        traffic = count_traffic(records, known_machines())

        assert {n: t.moves for n, t in traffic.items()} == {n: _moving(records, n) for n in traffic}
        assert traffic["order"].moves > 0

    @settings(max_examples=30, deadline=None)
    @given(cut=st.integers(min_value=0, max_value=200))
    def test_any_prefix_counts_its_moves_and_its_records(self, demo: Path, cut: int) -> None:
        """On every prefix of a trail, edge counts equal the moving records, and every
        record of a machine is counted once."""
        records = _read(demo / "audit.jsonl")[:cut]

        traffic = count_traffic(records, known_machines())

        for name, seen in traffic.items():
            assert seen.moves == _moving(records, name)
            assert seen.records == sum(1 for r in records if r.machine == name)

    def test_refusals_are_counted_by_state_and_reason(self, demo: Path) -> None:
        """The demo's two invalid intents are refused in VALIDATION, one per reason."""
        traffic = count_traffic(_read(demo / "audit.jsonl"), known_machines())

        assert traffic["pipeline"].refusals == {
            "VALIDATION": {"VALIDATION_INVALID_PRICE": 1, "VALIDATION_INVALID_QUANTITY": 1}
        }

    def test_held_states_match_what_recovery_sees(self, held: Path) -> None:
        """Held orders are recovery's in-flight orders, flagged ones included; the paused
        intent is held in PAUSED."""
        store = SqliteStore(held, read_only=True)
        records = store.load().records
        store.close()
        reopened = ExecutionOrchestrator(store=SqliteStore(held))
        in_flight = reopened.recovery.in_flight
        reopened.close()
        replayed = replay(records)

        traffic = count_traffic(records, known_machines())

        order = traffic["order"]
        assert order.held == {"SUBMITTED": 1, "ACKNOWLEDGED": 1}
        assert sorted(order.held) == sorted(str(o.state) for o in in_flight)
        assert order.held_flagged == {str(o.state): 1 for o in in_flight if o.recon_flags}
        assert [(f.instance, f.reasons) for f in order.flagged] == [
            (o.client_order_id, tuple(map(str, o.recon_flags))) for o in in_flight if o.recon_flags
        ]
        assert {f.instance: f.state for f in order.flagged} == {
            f.instance: str(replayed.orders[f.instance].state) for f in order.flagged
        }
        assert traffic["pipeline"].held == {"PAUSED": 1}

    def test_a_user_machines_held_instance_is_where_recovery_puts_it(
        self, odd: type[Odd], tmp_path: Path
    ) -> None:
        """A registered machine's instance left in a middle state is held there."""
        log = AuditLog(SteppingClock(EPOCH))
        Odd(log, correlation_id="o-1").send("go")
        finished = Odd(log, correlation_id="o-2")
        finished.send("go")
        finished.send("stop")

        traffic = count_traffic(log.records, known_machines())

        assert traffic["odd"].held == {"<x>": 1}
        assert traffic["odd"].finished == {"back\\lslash": 1}

    def test_records_of_an_unknown_machine_are_an_error_naming_it(self, demo: Path) -> None:
        """A trail with a machine nobody registered is refused, naming the machine."""
        records = _read(demo / "audit.jsonl")

        with pytest.raises(UnknownMachineError, match="unknown machine 'order'") as error:
            count_traffic(records, {"pipeline": known_machines()["pipeline"]})

        assert error.value.machine == "order"

    def test_an_empty_trail_counts_nothing(self) -> None:
        """No records: every machine is there, with zero traffic."""
        traffic = count_traffic([], known_machines())

        assert set(traffic) == set(known_machines())
        assert all(t.moves == 0 and t.records == 0 and not t.held for t in traffic.values())


class TestDrawing:
    def test_taken_edges_carry_their_count_and_untaken_ones_are_faint(self, demo: Path) -> None:
        """A taken edge's label starts with its count; an untaken one is faint and dashed."""
        traffic = count_traffic(_read(demo / "audit.jsonl"), known_machines())
        model = MachineModel.from_machine(known_machines()["pipeline"])

        dot = traffic_digraph("pipeline", model, traffic["pipeline"]).source

        assert 'label="8x\nintake_done"' in dot
        assert 'color="#d1d5db"' in dot
        assert 'label=abandon color="#d1d5db"' in dot
        assert "refused 2:" in dot

    def test_held_and_flagged_states_are_highlighted(self, held: Path) -> None:
        """A state holding flagged instances is outlined in red with its counts."""
        store = SqliteStore(held, read_only=True)
        records = store.load().records
        store.close()
        traffic = count_traffic(records, known_machines())
        model = MachineModel.from_machine(known_machines()["order"])

        dot = traffic_digraph("order", model, traffic["order"]).source

        assert 'label="SUBMITTED\n1 held\nFLAGGED 1\nin place: flag_reconciliation x1"' in dot
        assert 'label="ACKNOWLEDGED\n1 held"' in dot
        assert 'color="#dc2626"' in dot

    def test_names_needing_escapes_stay_literal(self, odd: type[Odd], tmp_path: Path) -> None:
        """States named a"b, <x> and back\\lslash are drawn as text and dot renders them."""
        log = AuditLog(SteppingClock(EPOCH))
        Odd(log, correlation_id="o-1").send("go")

        written = write_traffic(tmp_path, log.records, {"odd": Odd}, formats=("svg",))

        dot = (tmp_path / "odd.dot").read_text(encoding="utf-8")
        svg = (tmp_path / "odd.svg").read_text(encoding="utf-8")
        assert 'label="a\\"b"' in dot
        assert 'label="<x>\n1 held"' in dot
        assert "back\\\\lslash" in dot
        assert "a&quot;b" in svg
        assert "&lt;x&gt;" in svg
        assert "back\\lslash" in svg
        assert tmp_path / "summary.md" in written

    def test_an_empty_trail_is_drawn_with_a_message(self, tmp_path: Path) -> None:
        """An empty trail writes every diagram and says the trail is empty."""
        write_traffic(tmp_path, [], known_machines(), formats=())

        summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
        assert "The trail is empty" in summary
        assert sorted(p.name for p in tmp_path.glob("*.dot")) == [
            f"{n}.dot" for n in sorted(known_machines())
        ]

    def test_a_forced_drawing_carries_the_warning(self, demo: Path, tmp_path: Path) -> None:
        """The warning heads every picture and the summary."""
        write_traffic(
            tmp_path, _read(demo / "audit.jsonl"), known_machines(), warning="chain broken"
        )

        assert "WARNING: chain broken" in (tmp_path / "order.dot").read_text(encoding="utf-8")
        assert "**WARNING: chain broken**" in (tmp_path / "summary.md").read_text(encoding="utf-8")

    def test_the_summary_lists_held_and_flagged_instances(self, held: Path, tmp_path: Path) -> None:
        """The summary says what is held where, and names the flagged order and its flag."""
        store = SqliteStore(held, read_only=True)
        records = store.load().records
        store.close()

        write_traffic(tmp_path, records, known_machines(), formats=())

        summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
        assert "- now: 1 held: ACKNOWLEDGED; 1 held: SUBMITTED (1 flagged)" in summary
        assert "in SUBMITTED: DISPATCH_OUTCOME_UNKNOWN" in summary
        assert "- now: 1 held: PAUSED" in summary


class TestDemo:
    def test_the_demo_writes_its_replayed_diagrams(self, demo: Path) -> None:
        """The demo's folder holds its session drawn on every machine, SVG and PNG."""
        folder = demo / "trail"

        for name in known_machines():
            assert (folder / f"{name}.svg").read_text(encoding="utf-8").startswith("<?xml")
            assert (folder / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert "## OrderLifecycle (`order`)" in (folder / "summary.md").read_text(encoding="utf-8")


def _execfsm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "execfsm"), *args]
    return subprocess.run(  # noqa: S603 - our own console script
        command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


class TestCommand:
    def test_a_trail_file_is_drawn(self, demo: Path, tmp_path: Path) -> None:
        """``diagrams --trail`` exits 0, writes every diagram and the summary, and prints
        what is held."""
        out = tmp_path / "out"

        done = _execfsm(
            "diagrams", "--trail", str(demo / "audit.jsonl"), "--out", str(out), cwd=tmp_path
        )

        assert done.returncode == 0, done.stderr
        assert "order: 24 records, 23 moves, 0 refused; held now: none" in done.stdout
        assert {p.name for p in out.iterdir()} >= {"order.svg", "order.png", "summary.md"}

    def test_a_database_is_drawn(self, held: Path, tmp_path: Path) -> None:
        """``diagrams --db`` reads the store's trail and reports the flagged held order."""
        out = tmp_path / "out"

        done = _execfsm("diagrams", "--db", str(held), "--out", str(out), cwd=tmp_path)

        assert done.returncode == 0, done.stderr
        assert "held now: 1 ACKNOWLEDGED, 1 SUBMITTED (1 flagged)" in done.stdout
        assert (out / "order.svg").exists()

    def test_a_broken_chain_is_refused_and_nothing_drawn(self, demo: Path, tmp_path: Path) -> None:
        """A tampered record fails verification: exit 1, the record named, no file."""
        lines = (demo / "audit.jsonl").read_text(encoding="utf-8").splitlines()
        tampered = json.loads(lines[4])
        tampered["detail"] = "tampered"
        lines[4] = json.dumps(tampered, separators=(",", ":"), sort_keys=True)
        trail = tmp_path / "broken.jsonl"
        trail.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = tmp_path / "out"

        done = _execfsm("diagrams", "--trail", str(trail), "--out", str(out), cwd=tmp_path)

        assert done.returncode == 1
        assert "fails verification at record seq 5" in done.stderr
        assert "nothing drawn" in done.stderr
        assert not out.exists()

    def test_force_draws_a_broken_chain_with_a_warning(self, demo: Path, tmp_path: Path) -> None:
        """With --force it is drawn, warned about, and still exits 1."""
        lines = (demo / "audit.jsonl").read_text(encoding="utf-8").splitlines()
        tampered = json.loads(lines[4])
        tampered["detail"] = "tampered"
        lines[4] = json.dumps(tampered, separators=(",", ":"), sort_keys=True)
        trail = tmp_path / "broken.jsonl"
        trail.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = tmp_path / "out"

        done = _execfsm(
            "diagrams", "--trail", str(trail), "--out", str(out), "--force", cwd=tmp_path
        )

        assert done.returncode == 1
        assert "WARNING" in done.stderr
        assert "WARNING" in (out / "summary.md").read_text(encoding="utf-8")
        assert "WARNING" in (out / "order.dot").read_text(encoding="utf-8")

    def test_an_unknown_machine_is_bad_input_naming_it(self, demo: Path, tmp_path: Path) -> None:
        """A trail of an unregistered machine: exit 2, the machine and the way to register
        it named."""
        text = (demo / "audit.jsonl").read_text(encoding="utf-8")
        trail = tmp_path / "foreign.jsonl"
        trail.write_text(text.replace('"machine":"order"', '"machine":"desk"'), encoding="utf-8")

        done = _execfsm(
            "diagrams", "--trail", str(trail), "--out", str(tmp_path / "o"), cwd=tmp_path
        )

        assert done.returncode == 2
        assert "unknown machine 'desk'" in done.stderr
        assert "--machine MODULE:CLASS" in done.stderr

    def test_an_empty_trail_is_drawn_and_said(self, tmp_path: Path) -> None:
        """An empty export: exit 0, zero-traffic diagrams, and a message."""
        trail = tmp_path / "empty.jsonl"
        trail.write_text("", encoding="utf-8")

        done = _execfsm(
            "diagrams", "--trail", str(trail), "--out", str(tmp_path / "o"), cwd=tmp_path
        )

        assert done.returncode == 0, done.stderr
        assert "the trail is empty" in done.stdout
        assert (tmp_path / "o" / "order.svg").exists()

    def test_a_user_machine_named_on_the_command_line_is_drawn(
        self, odd: type[Odd], tmp_path: Path
    ) -> None:
        """``--machine MODULE:CLASS`` makes a user machine's trail drawable, odd names and
        all; without it the trail is refused naming the machine."""
        (tmp_path / "oddpkg.py").write_text(
            "from statemachine import State\n"
            "from execfsm.fsm.audited import AuditedMachine\n\n\n"
            "class Odd(AuditedMachine):\n"
            '    audit_machine = "odd"\n'
            "    quoted = State(value='a\"b', initial=True)\n"
            '    angled = State(value="<x>")\n'
            '    slashed = State(value="back\\\\lslash", final=True)\n'
            "    go = quoted.to(angled)\n"
            "    stop = angled.to(slashed)\n",
            encoding="utf-8",
        )
        log = AuditLog(SteppingClock(EPOCH))
        Odd(log, correlation_id="o-1").send("go")
        trail = _write(tmp_path / "odd.jsonl", log.records)
        out = tmp_path / "out"

        refused = _execfsm("diagrams", "--trail", str(trail), "--out", str(out), cwd=tmp_path)
        done = _execfsm(
            "diagrams",
            "--trail",
            str(trail),
            "--machine",
            "oddpkg:Odd",
            "--out",
            str(out),
            cwd=tmp_path,
        )

        assert refused.returncode == 2
        assert "unknown machine 'odd'" in refused.stderr
        assert done.returncode == 0, done.stderr
        assert "odd: 1 records, 1 moves, 0 refused; held now: 1 <x>" in done.stdout
        assert "&lt;x&gt;" in (out / "odd.svg").read_text(encoding="utf-8")

    def test_a_trail_and_a_database_together_are_bad_usage(self, tmp_path: Path) -> None:
        """Both sources at once: exit 2."""
        done = _execfsm("diagrams", "--trail", "a.jsonl", "--db", "b.db", cwd=tmp_path)

        assert done.returncode == 2
        assert "not both" in done.stderr
