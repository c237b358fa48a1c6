"""
Governance: diagrams, the committed spec and its drift check, property verification with
counterexamples, and audit-trail verification.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest
from statemachine.states import States

from execfsm import (
    EventKind,
    ExecutionEvent,
    Fill,
    MachineModel,
    OrderLifecycle,
    PipelineRun,
    ReasonCode,
)
from execfsm.cli import main
from execfsm.clock import EPOCH
from execfsm.contracts import OrderState
from execfsm.diagrams import render as render_module
from execfsm.diagrams.dot import to_dot
from execfsm.diagrams.mermaid import to_mermaid
from execfsm.diagrams.provenance import Provenance
from execfsm.diagrams.render import RendererMissing, find_dot, render
from execfsm.diagrams.report import markdown_report
from execfsm.fsm import revisions
from execfsm.fsm.audited import AuditedMachine
from execfsm.fsm.guards import describe
from execfsm.fsm.order_cases import ORDER_CASES, Situation
from execfsm.governance import MACHINES
from execfsm.governance.declared import PropertyResult
from execfsm.governance.properties import verify_machine, verify_machines
from execfsm.governance.spec import artifacts, drift, spec_hash, write_spec
from execfsm.governance.trail import verify_trail
from execfsm.ids import canonical_json
from execfsm.ledger.audit import AuditLog, record_from_dict, record_hash, record_to_dict
from execfsm.testing import in_memory_audit, order_for, variant_of
from tests.conftest import make_intent

M = TypeVar("M", bound=AuditedMachine)

ROOT = Path(__file__).resolve().parent.parent


def runnable(variant: type[M]) -> type[M]:
    """The variant compiled for the compiled engine, so that exploration can run it (a
    `variant_of` copy does not run on python-statemachine's engine)."""
    namespace = {"compiled_engine": True, "__module__": variant.__module__}
    subclass: type[M] = type(variant)(variant.__name__, (variant,), namespace)
    return subclass


def broken_pipeline() -> type[PipelineRun]:
    """PipelineRun plus a ROUTING -> DISPATCH shortcut without the live validator."""
    return runnable(
        variant_of(
            PipelineRun, "ShortcutPipeline", lambda s: s.ROUTING.to(s.DISPATCH, event="shortcut")
        )
    )


FIXED_SOURCE = Provenance("9.9.9", "0123abcd", "2026-01-02")
"""A report's provenance fixed for tests."""


def stated_provenance(report_md: str) -> Provenance:
    """The version, commit and date a Markdown report states (to regenerate it)."""
    cells = {}
    for line in report_md.splitlines():
        parts = [p.strip() for p in line.strip("|").split("|")]
        if len(parts) == 2:
            cells[parts[0]] = parts[1].strip("`")
    day, _, rest = cells["generated on"].partition(" ")
    return Provenance(
        cells["execfsm version"],
        cells["git commit"],
        day,
        "SOURCE_DATE_EPOCH" if "SOURCE_DATE_EPOCH" in rest else "given",
    )


class Trap(enum.StrEnum):
    START = "START"
    LOOP = "LOOP"
    DONE = "DONE"


class TrapMachine(AuditedMachine):
    """A machine whose LOOP state can never reach a final state (the library's own check is
    switched off, as a machine generated from data might have it)."""

    validate_final_reachability = False
    audit_machine = "trap"
    _ = States.from_enum(Trap, initial=Trap.START, final=[Trap.DONE])
    _.START.to(_.DONE, event="finish")
    _.START.to(_.LOOP, event="wander")
    _.LOOP.to.itself(event="spin")


class TestDiagrams:
    @pytest.mark.parametrize("name", list(MACHINES))
    def test_dot_is_deterministic_and_complete(self, name: str) -> None:
        """Two builds give identical DOT naming every state and every event."""
        model = MachineModel.from_machine(MACHINES[name])

        first, second = to_dot(model), to_dot(model)

        assert first == second
        assert all(f'"{s.name}"' in first or f"\t{s.name} " in first for s in model.states)
        assert all(t.event in first for t in model.transitions)
        assert "0x" not in first

    def test_validators_and_conds_are_on_the_edges(self) -> None:
        """Edge labels show the event, [conditions] and {validators}."""
        dot = to_dot(MachineModel.from_machine(PipelineRun))

        assert "{live_execution_permitted}" in dot
        assert "[not fill_completes]" in to_dot(MachineModel.from_machine(OrderLifecycle))

    def test_mermaid_lists_every_transition(self) -> None:
        """The Mermaid text has one line per transition plus the initial and final markers."""
        model = MachineModel.from_machine(OrderLifecycle)

        text = to_mermaid(model)

        assert text.startswith("stateDiagram-v2\n")
        assert text.count(" --> ") == len(model.transitions) + 1 + len(model.final_states)

    @pytest.mark.parametrize("fmt", ["svg", "png"])
    def test_renders_without_system_graphviz(self, tmp_path: Path, fmt: str) -> None:
        """The bundled renderer writes a real SVG or PNG file."""
        out = render(to_dot(MachineModel.from_machine(PipelineRun)), fmt, tmp_path / f"p.{fmt}")

        head = out.read_bytes()[:8]
        assert head.startswith(b"\x89PNG") if fmt == "png" else b"<svg" in out.read_bytes()[:400]

    def test_missing_renderer_is_a_clear_message(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """With no dot program anywhere, `execfsm diagrams` says how to get one and exits 2."""
        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.setattr(render_module.sys, "executable", str(tmp_path / "python"))

        with pytest.raises(RendererMissing, match="graphviz-pure"):
            find_dot()
        code = main(["diagrams", "--out", str(tmp_path / "out")])

        assert code == 2
        assert "pip install 'execfsm[diagrams]'" in capsys.readouterr().err

    def test_committed_report_matches_the_machines(
        self, builtin_results: list[PropertyResult]
    ) -> None:
        """docs/governance holds the DOT, Mermaid and report of the declared machines (the
        report regenerated with the version, commit and date it states)."""
        docs = ROOT / "docs" / "governance"
        expected = {
            f"{name}.{suffix}": text
            for name, cls in MACHINES.items()
            for suffix, text in (
                ("dot", to_dot(MachineModel.from_machine(cls), compact=True, cases=False)),
                ("mmd", to_mermaid(MachineModel.from_machine(cls))),
            )
        }
        committed = (docs / "report.md").read_text(encoding="utf-8")
        expected["report.md"] = markdown_report(
            MACHINES,
            spec_hash(ROOT / "spec"),
            results=builtin_results,
            source=stated_provenance(committed),
        )

        for file_name, text in expected.items():
            assert (docs / file_name).read_text(encoding="utf-8") == text, file_name
        for name in MACHINES:
            assert (docs / f"{name}.svg").stat().st_size > 0
            assert (docs / f"{name}.png").stat().st_size > 0

    def test_report_lists_every_case_row(self) -> None:
        """The report has the section on any other venue event, one line per case row with
        its states, event, situation, outcome, reason code, flags and why."""
        text = markdown_report(MACHINES, "abc", results=(), source=FIXED_SOURCE)
        section = text.split("### What an order does with any other venue event", 1)[1]
        section = section.split("\n## ", 1)[0]
        rows = [line for line in section.splitlines() if line.startswith("| ")][2:]

        assert len(rows) == len(ORDER_CASES.cases)
        assert rows[0].startswith("| any state | `fill` | the order was never submitted |")
        assert "| refused | FILL_FOR_UNSENT_ORDER | yes |" in rows[0]
        assert all(case.why.replace("|", "\\|") in text for case in ORDER_CASES.rows())

    def test_dot_has_the_cases_as_a_side_table(self) -> None:
        """The order's DOT has one table node with every case row, not an edge per row."""
        model = MachineModel.from_machine(OrderLifecycle)

        dot = to_dot(model)

        assert "declared_cases [label=<<table" in dot
        assert dot.count("<tr>") == len(model.cases) + 2
        assert dot.count(" -> ") == len(model.transitions)
        assert "FILL_AFTER_FINAL" in dot
        assert "declared_cases" not in to_dot(MachineModel.from_machine(PipelineRun))

    def test_mermaid_has_the_cases_as_a_note(self) -> None:
        """The order's Mermaid has a note beside CREATED with one line per case row."""
        model = MachineModel.from_machine(OrderLifecycle)

        text = to_mermaid(model)
        note = text.split("note left of CREATED\n", 1)[1].split("    end note", 1)[0]

        assert len(note.splitlines()) == len(model.cases) + 1
        assert "FILL_OVERFILL" in note

    def test_report_states_the_live_policy(self) -> None:
        """The report explains the live-execution policy in words."""
        text = markdown_report(MACHINES, "abc", results=(), source=FIXED_SOURCE)

        assert "Live execution is blocked by default" in text
        assert "| committed spec | `spec/machines.json` sha256 `abc` |" in text


class TestSpecDrift:
    def test_committed_spec_matches(self) -> None:
        """The committed spec/ is what the declared machines generate."""
        assert drift(ROOT / "spec", MACHINES) == []

    def test_spec_is_sorted_canonical_json(self) -> None:
        """machines.json is sorted, indented JSON with one entry per transition."""
        text = artifacts(MACHINES)["machines.json"]
        data = json.loads(text)

        assert text == json.dumps(data, indent=2, sort_keys=True) + "\n"
        assert len(data["machines"]["order"]["transitions"]) == 69

    def test_spec_carries_the_case_rows(self) -> None:
        """machines.json lists every declared case row of the order, in lookup order."""
        data = json.loads(artifacts(MACHINES)["machines.json"])
        cases = data["machines"]["order"]["cases"]

        assert [(c["event"], c["reason"]) for c in cases] == [
            (c.event, str(c.reason)) for c in ORDER_CASES.rows()
        ]
        assert cases[-1] == {
            "event": "*",
            "states": [s.value for s in OrderState],
            "when": "",
            "outcome": "refused",
            "reason": "VENUE_CONTRADICTION",
            "flags": True,
            "action": "",
            "why": ORDER_CASES.cases[-1].why,
        }
        assert data["machines"]["pipeline"]["cases"] == []

    def test_changed_case_row_is_named(self, tmp_path: Path) -> None:
        """A case row whose outcome changed without `spec --write` is reported by its name,
        with the old and new terms."""
        write_spec(tmp_path, MACHINES)
        spec = json.loads((tmp_path / "machines.json").read_text())
        row = next(c for c in spec["machines"]["order"]["cases"] if c["reason"] == "FILL_OVERFILL")
        row["outcome"], row["flags"] = "duplicate", False
        (tmp_path / "machines.json").write_text(json.dumps(spec))

        lines = drift(tmp_path, MACHINES)

        assert len(lines) == 1
        assert lines[0].startswith("order: case changed: fill when 'the fill takes the")
        assert "in FILLED|CANCELLED|REJECTED|EXPIRED|FAILED" in lines[0]
        assert "outcome='duplicate'" in lines[0]
        assert "outcome='refused'" in lines[0]

    def test_added_and_removed_case_rows_are_named(self, tmp_path: Path) -> None:
        """A row only in the declaration is added, one only in the spec removed."""
        write_spec(tmp_path, MACHINES)
        spec = json.loads((tmp_path / "machines.json").read_text())
        cases = spec["machines"]["order"]["cases"]
        first = next(
            i for i, c in enumerate(cases) if c["event"] == "replace_ack" and not c["when"]
        )
        dropped = cases.pop(first)
        cases.append({**dropped, "event": "shout"})
        (tmp_path / "machines.json").write_text(json.dumps(spec))

        lines = drift(tmp_path, MACHINES)

        assert "order: case added: replace_ack in any state (outcome='refused'" in lines[0]
        assert lines[1].startswith("order: case removed: shout in any state")

    def test_reordered_case_rows_are_drift(self, tmp_path: Path) -> None:
        """Swapping two rows changes which matches first: drift says so."""
        write_spec(tmp_path, MACHINES)
        spec = json.loads((tmp_path / "machines.json").read_text())
        cases = spec["machines"]["order"]["cases"]
        cases[0], cases[1] = cases[1], cases[0]
        (tmp_path / "machines.json").write_text(json.dumps(spec))

        lines = drift(tmp_path, MACHINES)

        assert lines == ["order: case order changed (the first matching row wins)"]

    def test_added_transition_is_named(self, tmp_path: Path) -> None:
        """A transition added without `spec --write` is reported by source, event and target."""
        write_spec(tmp_path, MACHINES)
        changed = {**MACHINES, "pipeline": broken_pipeline()}

        lines = drift(tmp_path, changed)

        assert "pipeline: transition added: ROUTING --shortcut--> DISPATCH" in lines[0]
        assert any("pipeline.dot: differs" in line for line in lines)

    def test_removed_validator_is_named(self, tmp_path: Path) -> None:
        """Editing a transition's guards is reported with the old and new guard lists."""
        write_spec(tmp_path, MACHINES)
        spec = json.loads((tmp_path / "machines.json").read_text())
        route = next(
            t for t in spec["machines"]["pipeline"]["transitions"] if t["event"] == "route"
        )
        route["validators"] = ["adapter_registered"]
        (tmp_path / "machines.json").write_text(json.dumps(spec))

        lines = drift(tmp_path, MACHINES)

        assert lines[0].startswith("pipeline: transition changed: ROUTING --route--> DISPATCH")
        assert "live_execution_permitted" in lines[0]

    def test_verify_exits_1_on_drift(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`execfsm verify` prints the diff naming the transition and exits 1."""
        write_spec(tmp_path, MACHINES)
        monkeypatch.setitem(MACHINES, "pipeline", broken_pipeline())

        code = main(["verify", "--spec-dir", str(tmp_path), "--depth", "4"])

        out = capsys.readouterr().out
        assert code == 1
        assert "transition added: ROUTING --shortcut--> DISPATCH" in out
        assert "FAIL pipeline P1" in out

    def test_verify_passes_on_the_repository(self, capsys: pytest.CaptureFixture[str]) -> None:
        """On the committed spec every check passes."""
        code = main(["verify", "--spec-dir", str(ROOT / "spec"), "--depth", "5"])

        out = capsys.readouterr().out
        assert code == 0
        assert out.count("PASS") == 21  # 8 built-in, 6 contingent, 7 of the reconciliation machines
        assert "PASS order P5 filled quantity never exceeds the quantity in force" in out


class TestProperties:
    def test_real_machines_hold(self) -> None:
        """P1-P5 (and the contingent group's G1-G4) hold for the declared machines."""
        results = verify_machines(MACHINES, depth=5)

        assert [(r.machine, r.prop) for r in results if not r.ok] == []
        assert {r.prop for r in results} == {
            "P1",
            "P2",
            "P3",
            "P4",
            "P5",
            "G1",
            "G2",
            "G3",
            "G4",
            "R1",
            "R2",
            "R3",
        }

    def test_shortcut_to_dispatch_violates_p1_with_a_path(self) -> None:
        """A ROUTING -> DISPATCH edge without the live validator breaks P1; the counterexample
        is the event path from INTAKE, in LIVE_BLOCKED."""
        results = {r.prop: r for r in verify_machine("pipeline", broken_pipeline())}

        p1 = results["P1"]
        assert not p1.ok
        assert p1.detail.startswith("DISPATCH entered without a route that permits it")
        assert p1.detail.endswith("(intent=valid MARKET)")
        assert p1.path == (
            "intake_done -> VALIDATION",
            "validate -> RISK_GATE",
            "allow(verdict=ALLOW) -> ROUTING",
            "shortcut -> DISPATCH",
        )

    def test_trap_state_violates_p2_with_a_path(self) -> None:
        """A state that cannot reach a final state breaks P2, with the path into it."""
        results = {r.prop: r for r in verify_machine("trap", TrapMachine)}

        assert not results["P2"].ok
        assert "LOOP cannot reach a final state" in results["P2"].detail
        assert results["P2"].path == ("wander -> LOOP",)

    def test_guard_that_always_refuses_violates_p3(self) -> None:
        """A validator that can never pass leaves its transition untakeable: P3 names it."""

        @describe("never allows anything")
        def never() -> None:
            from execfsm.errors import PolicyViolation

            raise PolicyViolation("no", reason=ReasonCode.RISK_BLOCKED)

        variant = runnable(
            variant_of(
                PipelineRun,
                "NeverPipeline",
                lambda s: s.POST_TRADE.to(s.FAILED, event="explode", validators=never),
            )
        )

        p3 = {r.prop: r for r in verify_machine("pipeline", variant)}["P3"]

        assert not p3.ok
        assert "POST_TRADE --explode--> FAILED" in p3.detail
        assert "never" in p3.detail

    def test_order_without_overfill_check_violates_p4(self) -> None:
        """An order machine whose guards see no previous fills lets fills exceed the quantity;
        P4 prints the fill sequence that does it."""

        class ForgetfulOrder(OrderLifecycle):
            def guard_context(self) -> dict[str, Any]:
                context = super().guard_context()
                context["order"] = attrs.evolve(context["order"], filled_quantity=0)
                return context

        p4 = {r.prop: r for r in verify_machine("order", ForgetfulOrder, depth=4)}["P4"]

        assert not p4.ok
        assert "> quantity 4" in p4.detail
        assert p4.path[0] == "submit"
        assert sum(1 for step in p4.path if step.startswith("fill(")) >= 2

    def test_late_fill_beyond_quantity_let_through_violates_p5(self) -> None:
        """An order machine that takes a late fill beyond the quantity for one within it
        overfills; P5 fails with the event sequence that does it."""

        class LaxLateOrder(OrderLifecycle):
            def _situation(self, name: str, event: ExecutionEvent) -> str:
                found = super()._situation(name, event)
                beyond = found == Situation.BEYOND_QUANTITY
                return Situation.WITHIN_QUANTITY if beyond else found

        p5 = {r.prop: r for r in verify_machine("order", LaxLateOrder)}["P5"]

        assert not p5.ok
        assert "> quantity in force 4" in p5.detail
        assert p5.path[0] == "submit"
        assert p5.path[-1].startswith("fill(")

    def test_correction_without_quantity_check_violates_p5(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With `correction_within_quantity` weakened to pass everything, a correction of a
        cancelled order's fill overfills it; P5 prints the path through the cancel."""
        monkeypatch.setattr(revisions, "correction_within_quantity", lambda *a, **k: None)

        p5 = {r.prop: r for r in verify_machine("order", OrderLifecycle)}["P5"]

        assert not p5.ok
        assert "filled quantity 6 > quantity in force 4 (CANCELLED)" in p5.detail
        assert p5.path == (
            "submit",
            "fill(a,1)",
            "fill(b,2)",
            "cancel_ack",
            "trade_correct(a->a2,4@1)",
        )

    def test_replace_that_forgets_the_racing_fills_violates_p5(self) -> None:
        """An order machine that takes a replace's quantity as it is, though fills that raced
        the replace passed it (FIX C.3.c amends it to what is filled), ends with more filled
        than in force; P5 fails on the REPLACE_ACK."""

        class ForgetfulReplaceOrder(OrderLifecycle):
            def after_replace_ack(self, target: Any) -> None:
                replace = self._pending_replace
                assert replace is not None
                self._order = self._order.with_changes(
                    quantity=replace.quantity,
                    limit_price=replace.limit_price,
                    venue_client_order_id=replace.new_client_order_id,
                    state=target.value,
                )
                self._pending_replace = None

        results = verify_machine("order", ForgetfulReplaceOrder)
        p5 = {r.prop: r for r in results}["P5"]

        assert not p5.ok
        assert "filled quantity 3 > quantity in force 2" in p5.detail
        assert "request_replace(quantity=2)" in p5.path
        assert p5.path[-1] == "replace_ack"

    def test_original_machines_are_untouched_by_variants(self) -> None:
        """Building a variant does not add its edges to the machine it copies."""
        broken_pipeline()

        model = MachineModel.from_machine(PipelineRun)

        assert "shortcut" not in model.events


def recorded_session() -> AuditLog:
    audit = in_memory_audit()
    lc = OrderLifecycle(order_for(make_intent()), audit)
    lc.send("submit")
    lc.apply(ExecutionEvent.ack(lc.order, "e1", EPOCH))
    lc.apply(ExecutionEvent.of_fill(lc.order, "e2", EPOCH, Fill("f1", "0.5", "10")))
    lc.apply(ExecutionEvent.of_fill(lc.order, "e3", EPOCH, Fill("f1", "0.5", "10")))
    lc.apply(ExecutionEvent.of_kind(EventKind.EXPIRE, lc.order, "e4", EPOCH))
    lc.apply(ExecutionEvent.of_fill(lc.order, "e5", EPOCH, Fill("f2", "0.5", "10")))
    return audit


def revised_session() -> AuditLog:
    audit = in_memory_audit()
    lc = OrderLifecycle(order_for(make_intent()), audit)
    lc.send("submit")
    qty = lc.order.quantity
    lc.apply(ExecutionEvent.of_fill(lc.order, "e1", EPOCH, Fill("f1", qty, "10")))
    lc.apply(ExecutionEvent.bust(lc.order, "e2", EPOCH, "f1"))
    lc.apply(ExecutionEvent.of_fill(lc.order, "e3", EPOCH, Fill("f2", qty, "10")))
    lc.apply(ExecutionEvent.of_fill(lc.order, "e4", EPOCH, Fill("f3", qty, "10")))
    lc.apply(ExecutionEvent.bust(lc.order, "e5", EPOCH, "f2"))
    lc.apply(ExecutionEvent.of_fill(lc.order, "e6", EPOCH, Fill("f4", qty / 2, "10")))
    lc.apply(ExecutionEvent.of_kind(EventKind.CANCEL_ACK, lc.order, "e7", EPOCH))
    lc.apply(ExecutionEvent.of_fill(lc.order, "e8", EPOCH, Fill("f5", qty / 4, "10")))
    lc.apply(ExecutionEvent.bust(lc.order, "e9", EPOCH, "f4"))
    return audit


def rechain(records: list[dict[str, Any]]) -> list[Any]:
    """Recompute every hash, as a forger who knows the scheme would."""
    prev = "0" * 64
    out = []
    for data in records:
        data = {**data, "prev_hash": prev}
        data["hash"] = record_hash(data)
        prev = data["hash"]
        out.append(record_from_dict(data))
    return out


class TestAuditTrail:
    def test_recorded_session_verifies(self) -> None:
        """A real trail (applied, duplicate, refused, late fill) passes every check."""
        audit = recorded_session()

        result = verify_trail(list(audit.records), MACHINES)

        assert (result.ok, result.records) == (True, 6)

    def test_revised_session_verifies(self) -> None:
        """Busts out of FILLED, an overfill refused there, then a late fill and a bust on the
        cancelled order (applied rows of the declared cases) pass every check."""
        audit = revised_session()

        result = verify_trail(list(audit.records), MACHINES)

        assert (result.ok, result.records) == (True, len(audit.records))
        assert {r.reason_code for r in audit.records} >= {
            ReasonCode.FILL_AFTER_FINAL,
            ReasonCode.TRADE_BUSTED,
        }

    def test_in_place_record_with_another_reason_is_caught(self) -> None:
        """An in-place applied record whose reason no declared case gives fails at its seq."""
        data = [record_to_dict(r) for r in revised_session().records]
        seq = next(d["seq"] for d in data if d["reason_code"] == "TRADE_BUSTED")
        data[seq - 1] = {**data[seq - 1], "reason_code": "FILL_AFTER_FINAL"}

        result = verify_trail(rechain(data), MACHINES)

        assert (result.ok, result.first_bad_seq) == (False, seq)

    def test_orchestrated_trail_verifies(self, tmp_path: Path) -> None:
        """The demo's whole trail passes `execfsm audit verify`."""
        main(["demo", "--out", str(tmp_path)])

        assert main(["audit", "verify", str(tmp_path / "audit.jsonl")]) == 0

    def test_edited_field_is_caught_at_its_seq(self) -> None:
        """Changing one field without rehashing fails the chain at that record."""
        records = list(recorded_session().records)
        records[2] = attrs.evolve(records[2], target="FILLED")

        result = verify_trail(records, MACHINES)

        assert (result.ok, result.first_bad_seq) == (False, 3)

    def test_forged_illegal_transition_is_caught(self) -> None:
        """A rehashed trail with a transition the model does not have fails at that seq."""
        data = [record_to_dict(r) for r in recorded_session().records]
        data[1] = {**data[1], "event": "acknowledge", "source": "SUBMITTED", "target": "FILLED"}

        result = verify_trail(rechain(data), MACHINES)

        assert (result.ok, result.first_bad_seq) == (False, 2)
        assert "not a transition" in result.problem

    def test_forged_out_of_order_transition_is_caught(self) -> None:
        """A legal edge applied from a state the order was not in fails at that seq."""
        data = [record_to_dict(r) for r in recorded_session().records]
        del data[1]  # drop the ACK: the fill then starts from SUBMITTED's successor wrongly
        for seq, record in enumerate(data, start=1):
            record["seq"] = seq

        result = verify_trail(rechain(data), MACHINES)

        assert (result.ok, result.first_bad_seq) == (False, 2)
        assert "was in SUBMITTED" in result.problem

    def test_refusal_without_reason_is_caught(self) -> None:
        """A refused record must carry a reason code."""
        data = [record_to_dict(r) for r in recorded_session().records]
        data[3] = {**data[3], "reason_code": None}

        result = verify_trail(rechain(data), MACHINES)

        assert (result.ok, result.first_bad_seq) == (False, 4)
        assert "no reason code" in result.problem

    def test_tampered_file_names_the_seq_on_the_command_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`execfsm audit verify` on a tampered file exits 1 naming the bad record's seq."""
        data = [record_to_dict(r) for r in recorded_session().records]
        data[4] = {**data[4], "detail": "nothing to see"}
        path = tmp_path / "audit.jsonl"
        path.write_text("".join(canonical_json(d) + "\n" for d in data))

        code = main(["audit", "verify", str(path)])

        assert code == 1
        assert "record seq 5" in capsys.readouterr().err
