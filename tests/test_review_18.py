"""
Review of issue 18 (items 1 and 3): a demanding user's own machines, reason codes, registration,
durable records and the command line, attacked through the public names.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from statemachine import State

from execfsm import (
    AuditedMachine,
    AuditOutcome,
    DefinitionError,
    ExecFsmError,
    ExecutionMode,
    ExecutionOrchestrator,
    IllegalTransition,
    MachineReason,
    OrderIntent,
    PolicyViolation,
    ReasonCode,
    SqliteStore,
    SteppingClock,
    describe,
    register_machine,
)
from execfsm.cli import main
from execfsm.clock import EPOCH
from execfsm.contracts import PipelineState, RiskDecision, RiskVerdict
from execfsm.enums import reason_of
from execfsm.governance.trail import verify_trail
from execfsm.ledger.audit import AuditLog, record_hash, record_json, record_to_dict
from execfsm.ledger.replay import replay
from execfsm.registry import known_machines, load_project, unregister_machine


class LinkReason(MachineReason):
    HEARTBEAT_LOST = "rv18link.HEARTBEAT_LOST"
    LOGON_REFUSED = "rv18link.LOGON_REFUSED"


@describe("the venue accepted the logon")
def logon_accepted(accepted: bool = True) -> None:
    if not accepted:
        raise PolicyViolation("link: logon refused", reason=LinkReason.LOGON_REFUSED)


class Link(AuditedMachine):
    """A venue link of the user's own."""

    audit_machine = "rv18link"
    reason_codes = LinkReason

    down = State(initial=True)
    up = State()
    closed = State(final=True)

    connect = down.to(up, validators=logon_accepted)
    drop = up.to(down)
    close = up.to(closed)


class Leg(AuditedMachine):
    """An order leg of a group: one instance per client order id, many per correlation id."""

    audit_machine = "rv18leg"
    audit_instance = "client_order_id"

    new = State(initial=True)
    working = State()
    filled = State(final=True)

    work = new.to(working)
    fill = working.to(filled)

    def __init__(self, audit: object, *, leg_id: str = "leg", **kwargs: object) -> None:
        self._leg_id = leg_id
        super().__init__(audit, **kwargs)  # type: ignore[arg-type]

    @property
    def client_order_id(self) -> str | None:
        return self._leg_id


@pytest.fixture
def link() -> Iterator[type[Link]]:
    register_machine(Link)
    yield Link
    unregister_machine(Link)


@pytest.fixture
def leg() -> Iterator[type[Leg]]:
    register_machine(Leg)
    yield Leg
    unregister_machine(Leg)


def _log() -> AuditLog:
    return AuditLog(SteppingClock(EPOCH))


def _intent(n: int) -> OrderIntent:
    return OrderIntent("BTC/EUR", "BUY", Decimal("0.1"), "MARKET", "rv18", intent_id=f"rv18-{n}")


def _reopen_machines(db: Path) -> dict[str, dict[str, str]]:
    orchestrator = ExecutionOrchestrator(store=SqliteStore(db))
    try:
        return {k: dict(v) for k, v in orchestrator.recovery.machines.items()}
    finally:
        orchestrator.close()


# -- findings: a public call writes what the store then refuses -------------------------------


class TestWritesTheStoreRefusesLater:
    def test_a_record_with_an_unknown_reason_is_refused_before_it_is_written(
        self, link: type[Link], tmp_path: Path
    ) -> None:
        """An unknown reason code never reaches the trail, so the store reopens."""
        db = tmp_path / "s.db"
        orchestrator = ExecutionOrchestrator(store=SqliteStore(db))
        session = link(orchestrator.audit_log, correlation_id="l-1")
        session.send("connect")
        with pytest.raises(ExecFsmError):
            session.record("heartbeat", AuditOutcome.REFUSED, "SESSION_TIMEOUT", "no beat")  # type: ignore[arg-type]
        orchestrator.close()

        assert _reopen_machines(db) == {"rv18link": {"l-1": "up"}}

    def test_a_validator_refusing_with_an_unknown_code_leaves_the_trail_readable(
        self, link: type[Link]
    ) -> None:
        """A guard raising with a code no enum declares does not poison the audit log."""

        @describe("always refuses, with a code nobody declared")
        def refuses() -> None:
            raise PolicyViolation("nope", reason="SESSION_TIMEOUT")  # type: ignore[arg-type]

        class Strict(AuditedMachine):
            audit_machine = "rv18strict"
            a = State(initial=True)
            b = State(final=True)
            go = a.to(b, validators=refuses)

        log = _log()
        with pytest.raises(ExecFsmError):
            Strict(log, correlation_id="s-1").send("go")

        assert all(r.reason_code is None or reason_of(str(r.reason_code)) for r in log.records)

    def test_a_refusal_recorded_without_a_reason_is_refused_before_it_is_written(
        self, link: type[Link], tmp_path: Path
    ) -> None:
        """record(REFUSED) without a reason raises, instead of bricking the store on reopen."""
        db = tmp_path / "s.db"
        orchestrator = ExecutionOrchestrator(store=SqliteStore(db))
        session = link(orchestrator.audit_log, correlation_id="l-1")
        session.send("connect")
        with pytest.raises(ExecFsmError):
            session.record("heartbeat", AuditOutcome.REFUSED, None, "no beat")
        orchestrator.close()

        assert _reopen_machines(db) == {"rv18link": {"l-1": "up"}}

    def test_an_applied_annotation_without_target_keeps_the_store_and_the_state(
        self, link: type[Link], tmp_path: Path
    ) -> None:
        """record(APPLIED) with target None ("nothing moved") leaves a trail that reopens."""
        db = tmp_path / "s.db"
        orchestrator = ExecutionOrchestrator(store=SqliteStore(db))
        session = link(orchestrator.audit_log, correlation_id="l-1")
        session.send("connect")
        with contextlib.suppress(ExecFsmError):  # refusing it before writing is as good
            session.record("heartbeat", AuditOutcome.APPLIED, None, "beat")
        orchestrator.close()

        reopened = ExecutionOrchestrator(store=SqliteStore(db))
        try:
            assert link.from_trail(reopened.audit_log, "l-1").current_state_value == "up"
        finally:
            reopened.close()

    def test_record_cannot_claim_a_move_the_machine_did_not_make(
        self, link: type[Link], tmp_path: Path
    ) -> None:
        """record(APPLIED, target=another state) is refused: no record says closed while up."""
        db = tmp_path / "s.db"
        orchestrator = ExecutionOrchestrator(store=SqliteStore(db))
        session = link(orchestrator.audit_log, correlation_id="l-1")
        session.send("connect")
        with pytest.raises(ExecFsmError):
            session.record("teleport", AuditOutcome.APPLIED, None, "", target="closed")
        orchestrator.close()

        assert _reopen_machines(db) == {"rv18link": {"l-1": "up"}}

    def test_a_machine_given_a_start_value_never_bricks_the_store(
        self, link: type[Link], tmp_path: Path
    ) -> None:
        """start_value (documented: re-opened from a store) is refused, or its moves reopen."""
        db = tmp_path / "s.db"
        orchestrator = ExecutionOrchestrator(store=SqliteStore(db))
        try:
            session = link(orchestrator.audit_log, start_value="up", correlation_id="l-1")
            session.send("drop")
        except ExecFsmError:
            pass  # refused before anything was written: as good
        orchestrator.close()

        assert _reopen_machines(db) in ({}, {"rv18link": {"l-1": "down"}})

    def test_a_risk_verdict_with_a_machines_own_code_never_poisons_the_store(
        self, link: type[Link], tmp_path: Path
    ) -> None:
        """A risk hook answering with the user's own code blocks the intent; the session goes on."""

        class Hook:
            def evaluate(self, intent: OrderIntent) -> RiskVerdict:
                return RiskVerdict(RiskDecision.BLOCK, "link down", LinkReason.HEARTBEAT_LOST)  # type: ignore[arg-type]

        db = tmp_path / "s.db"
        orchestrator = ExecutionOrchestrator(
            risk_hook=Hook(), execution_mode=ExecutionMode.PAPER, store=SqliteStore(db)
        )
        try:
            first = orchestrator.submit_intent(_intent(1))
            second = orchestrator.submit_intent(_intent(2))
        finally:
            orchestrator.close()

        assert (first.pipeline_state, second.pipeline_state) == (
            PipelineState.BLOCKED,
            PipelineState.BLOCKED,
        )

    def test_a_send_after_the_orchestrator_closed_is_refused(
        self, link: type[Link], tmp_path: Path
    ) -> None:
        """After close a user machine's move can never be made durable, so it raises."""
        db = tmp_path / "s.db"
        orchestrator = ExecutionOrchestrator(store=SqliteStore(db))
        session = link(orchestrator.audit_log, correlation_id="l-1")
        session.send("connect")
        orchestrator.close()
        with pytest.raises(ExecFsmError):
            session.send("drop")

        assert session.current_state_value == "up"


# -- findings: registration and re-opening -----------------------------------------------------


def _twin(final_value: str) -> type[AuditedMachine]:
    class Twin(AuditedMachine):
        audit_machine = "rv18twin"
        a = State(initial=True)
        b = State(final=True, value=final_value)
        go = a.to(b)

    return Twin


class TestRegistrationAndReopen:
    def test_another_declaration_under_the_same_qualified_name_is_refused(self) -> None:
        """Two different classes (a factory's, a reload's) cannot silently swap under one name."""
        first, second = _twin("b"), _twin("done")
        register_machine(first)
        try:
            with pytest.raises(DefinitionError, match="rv18twin"):
                register_machine(second)

            assert known_machines()["rv18twin"] is first
        finally:
            unregister_machine(first)
            unregister_machine(second)

    def test_from_trail_of_a_machine_named_by_client_order_id_does_not_mix_its_legs(
        self, leg: type[Leg]
    ) -> None:
        """Two legs of one group: re-opening the filled one never gives the other's state."""
        log = _log()
        a = leg(log, leg_id="A", correlation_id="grp-1")
        b = leg(log, leg_id="B", correlation_id="grp-1")
        a.send("work")
        a.send("fill")
        b.send("work")
        try:
            again = leg.from_trail(log, "grp-1", leg_id="A")
        except (ExecFsmError, TypeError, ValueError):
            return  # refusing a machine named by client_order_id is as good

        assert again.current_state_value == "filled"

    def test_from_trail_with_a_state_the_machine_lacks_names_it(self, link: type[Link]) -> None:
        """A record leaving the link in a state it does not declare: a typed error naming it."""
        log = _log()
        log.append_fields(
            "l-9", None, "rv18link", "connect", "down", "standby", AuditOutcome.APPLIED, None, ""
        )
        with pytest.raises(ExecFsmError, match="standby"):
            link.from_trail(log, "l-9")

    @pytest.mark.parametrize("name", ["../rv18escape", "rv18/sub", "rv18" + "x" * 300])
    def test_a_machine_name_unfit_for_a_file_name_is_refused(self, name: str) -> None:
        """audit_machine names files of the spec and diagrams: a path or 300 chars is refused."""
        cls = _twin("b")
        cls.audit_machine = name
        try:
            with pytest.raises(DefinitionError):
                register_machine(cls)
        finally:
            unregister_machine(cls)


# -- findings: the command line on hostile projects --------------------------------------------

MODULE = """
from statemachine import State
from execfsm import AuditedMachine


class M(AuditedMachine):
    audit_machine = "{name}"
    a = State(initial=True)
    b = State(final=True)
    go = a.to(b)
"""


def _project_file(root: Path, table: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "pyproject.toml"
    path.write_text(textwrap.dedent(table))
    return path


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "execfsm"), *args]
    return subprocess.run(  # noqa: S603 - our own console script
        command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


class TestCommandLine:
    def test_a_malformed_pyproject_above_the_folder_is_one_line_exit_2(
        self, tmp_path: Path
    ) -> None:
        """The nearest pyproject.toml is not TOML: one line naming it, exit 2, no traceback."""
        _project_file(tmp_path, "[tool.execfsm\nmachines = [\n")
        (tmp_path / "sub").mkdir()
        result = _cli(tmp_path / "sub", "spec")

        assert (result.returncode, "Traceback" in result.stderr) == (2, False), result.stderr
        assert "pyproject.toml" in result.stderr

    def test_a_pyproject_whose_tool_is_not_a_table_is_one_line_exit_2(self, tmp_path: Path) -> None:
        """``tool = 1`` in the nearest pyproject.toml: one line, exit 2, no traceback."""
        _project_file(tmp_path, "tool = 1\n")
        result = _cli(tmp_path, "spec")

        assert (result.returncode, "Traceback" in result.stderr) == (2, False), result.stderr

    def test_project_without_an_execfsm_table_is_refused(self, tmp_path: Path) -> None:
        """--project at a pyproject without [tool.execfsm] is refused, not run on execfsm's."""
        pyproject = _project_file(tmp_path, '[project]\nname = "x"\n')
        result = _cli(tmp_path, "spec", "--project", str(pyproject))

        assert result.returncode == 2, result.stdout[:200]
        assert "tool.execfsm" in result.stderr

    def test_a_module_that_exits_at_import_is_one_line_exit_2(self, tmp_path: Path) -> None:
        """A machine module calling sys.exit at import is reported like any import failure."""
        _project_file(tmp_path, '[tool.execfsm]\nmachines = ["rv18exit:M"]\n')
        (tmp_path / "rv18exit.py").write_text("import sys\nsys.exit(3)\n")
        result = _cli(tmp_path, "spec")

        assert result.returncode == 2
        assert "rv18exit" in result.stderr

    def test_machine_imports_from_the_current_folder(self, tmp_path: Path) -> None:
        """--machine module:Class finds module.py in the current folder (as python -m would)."""
        (tmp_path / "rv18here.py").write_text(MODULE.format(name="rv18here"))
        result = _cli(tmp_path, "spec", "--machine", "rv18here:M")

        assert result.returncode == 0, result.stderr
        assert list(json.loads(result.stdout)["machines"]) == ["rv18here"]

    def test_a_project_with_no_machines_is_refused(self, tmp_path: Path) -> None:
        """builtin = false and no machines: verify has nothing to prove and says so, exit 2."""
        _project_file(tmp_path, "[tool.execfsm]\nbuiltin = false\n")
        _cli(tmp_path, "spec", "--write")
        result = _cli(tmp_path, "verify")

        assert result.returncode == 2, result.stdout

    def test_a_machine_name_too_long_for_a_file_is_one_line_exit_2(self, tmp_path: Path) -> None:
        """spec --write with a 300-character machine name: one line, exit 2, no traceback."""
        _project_file(tmp_path, '[tool.execfsm]\nmachines = ["rv18lm:M"]\n')
        (tmp_path / "rv18lm.py").write_text(MODULE.format(name="x" * 300))
        result = _cli(tmp_path, "spec", "--write")

        assert (result.returncode, "Traceback" in result.stderr) == (2, False), result.stderr[-300:]

    def test_spec_and_diagrams_write_only_inside_their_folders(self, tmp_path: Path) -> None:
        """A machine named '../x' never makes the tools write outside spec/ and docs/governance/."""
        root = tmp_path / "proj"
        _project_file(root, '[tool.execfsm]\nmachines = ["rv18esc:M"]\n')
        (root / "rv18esc.py").write_text(MODULE.format(name="../rv18esc"))
        _cli(root, "spec", "--write")
        _cli(root, "diagrams")

        assert not (root / "rv18esc.dot").exists()
        assert not (root / "docs" / "rv18esc.svg").exists()


# -- what holds -------------------------------------------------------------------------------


class TestHolds:
    @pytest.mark.parametrize(
        "members",
        [
            {"X": "rv18al.X", "Y": "rv18al.X"},  # an alias
            {"A.B": "rv18dot.A.B"},  # a dot in the member name
            {"ÉCHEC": "rv18uni.ÉCHEC"},  # non-ASCII code
            {"X": "séance.X"},  # non-ASCII namespace
            {"RISK_BLOCKED": "RISK_BLOCKED"},  # equal to one of execfsm's codes
            {"X": "rv18nl.X\n"},  # a trailing newline
        ],
    )
    def test_hostile_reason_codes_are_refused_at_definition(self, members: dict[str, str]) -> None:
        """Aliases, dots, non-ASCII, execfsm's own codes and trailing newlines are refused."""
        with pytest.raises(TypeError):
            MachineReason("Hostile", members)  # type: ignore[call-arg]

    @pytest.mark.parametrize("codes", [ReasonCode, AuditOutcome, "rv18x.X", 42])
    def test_reason_codes_must_be_a_machine_reason_enum(self, codes: object) -> None:
        """execfsm's own enum, another enum, a string or a number as reason_codes: refused."""
        with pytest.raises(DefinitionError, match="reason_codes must be a MachineReason enum"):

            class Wrong(AuditedMachine):
                audit_machine = "rv18wrong"
                reason_codes = codes  # type: ignore[assignment]
                a = State(initial=True)
                b = State(final=True)
                go = a.to(b)

    def test_a_subclass_of_a_subclass_declares_codes(self) -> None:
        """Intermediate bases without members are allowed; the leaf's codes are known."""

        class Base(MachineReason):
            pass

        class Mid(Base):
            pass

        class Leaf(Mid):
            T = "rv18leaf.T"

        assert (reason_of("rv18leaf.T"), Leaf.T.namespace) == (Leaf.T, "rv18leaf")

    def test_a_very_long_code_survives_the_store(self, tmp_path: Path) -> None:
        """A 4000-character code is written, reopened and read back as its member."""
        code = "LONG_" + "X" * 4000
        reasons: Any = MachineReason("LongReason", {code: f"rv18long.{code}"})  # type: ignore[call-arg]
        refusal: MachineReason = reasons[code]

        @describe("refuses with a very long code")
        def refuse() -> None:
            raise PolicyViolation("no", reason=refusal)

        class Long(AuditedMachine):
            audit_machine = "rv18long"
            reason_codes = reasons
            a = State(initial=True)
            b = State(final=True)
            go = a.to(b, validators=refuse)

        register_machine(Long)
        try:
            db = tmp_path / "s.db"
            orchestrator = ExecutionOrchestrator(store=SqliteStore(db))
            with pytest.raises(PolicyViolation):
                Long(orchestrator.audit_log, correlation_id="x").send("go")
            orchestrator.close()
            reopened = ExecutionOrchestrator(store=SqliteStore(db))
            last = reopened.audit_log.records[-1]
            reopened.close()
        finally:
            unregister_machine(Long)

        assert last.reason_code is refusal

    def test_registration_races_have_one_winner(self) -> None:
        """Sixteen threads register sixteen classes under one name: one wins, 15 are refused."""
        classes = []
        for i in range(16):
            cls = _twin("b")
            cls.audit_machine = "rv18racer"
            cls.__qualname__ = f"Racer{i}"
            classes.append(cls)
        barrier = threading.Barrier(16)
        won: list[type] = []
        refused: list[Exception] = []

        def race(cls: type[AuditedMachine]) -> None:
            barrier.wait()
            try:
                register_machine(cls)
                won.append(cls)
            except DefinitionError as exc:
                refused.append(exc)

        threads = [threading.Thread(target=race, args=(c,)) for c in classes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            assert (len(won), len(refused)) == (1, 15)
            assert known_machines()["rv18racer"] is won[0]
        finally:
            for cls in classes:
                unregister_machine(cls)

    @pytest.mark.parametrize("name", ["pipeline", "order"])
    def test_a_builtin_name_is_refused(self, name: str) -> None:
        """A user machine cannot take execfsm's own machine names."""
        cls = _twin("b")
        cls.audit_machine = name

        with pytest.raises(DefinitionError, match="is taken by execfsm"):
            register_machine(cls)

    def test_another_machines_records_under_the_same_correlation_id_are_ignored(
        self, link: type[Link], leg: type[Leg]
    ) -> None:
        """from_trail reads only its own machine's records of the correlation id."""
        log = _log()
        session = link(log, correlation_id="shared")
        session.send("connect")
        part = leg(log, leg_id="L", correlation_id="shared")
        part.send("work")

        assert link.from_trail(log, "shared").current_state_value == "up"

    def test_an_unregistered_machines_records_are_refused_by_name(self, link: type[Link]) -> None:
        """A trail naming a machine nobody registered fails verification, naming it."""
        log = _log()
        log.append_fields("x", None, "rv18ghost", "go", "a", "b", AuditOutcome.APPLIED, None, "")
        result = verify_trail(log.records, known_machines())

        assert not result.ok
        assert "unknown machine 'rv18ghost'" in result.problem

    @pytest.mark.parametrize("name", ["correlation_id", "hash", "machine"])
    def test_a_machine_named_like_an_audit_field_round_trips(
        self, name: str, tmp_path: Path
    ) -> None:
        """A machine called like a record field is stored and recovered as any other."""
        cls = _twin("b")
        cls.audit_machine = name
        register_machine(cls)
        try:
            db = tmp_path / "s.db"
            orchestrator = ExecutionOrchestrator(store=SqliteStore(db))
            cls(orchestrator.audit_log, correlation_id="c").send("go")
            orchestrator.close()

            assert _reopen_machines(db) == {name: {"c": "b"}}
        finally:
            unregister_machine(cls)

    def test_user_records_interleaved_with_intents_from_threads_verify_and_replay(
        self, link: type[Link], tmp_path: Path
    ) -> None:
        """Six threads send user events and submit intents: the reopened trail verifies, replays."""
        db = tmp_path / "s.db"
        orchestrator = ExecutionOrchestrator(
            execution_mode=ExecutionMode.PAPER, store=SqliteStore(db)
        )
        errors: list[BaseException] = []

        def work(t: int) -> None:
            try:
                session = link(orchestrator.audit_log, correlation_id=f"t-{t}")
                for n in range(12):
                    session.send("connect" if n % 2 == 0 else "drop")
                    orchestrator.submit_intent(_intent(t * 100 + n))
                    if n % 5 == 0:
                        orchestrator.flush()
                session.send("connect")
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        orchestrator.close()
        reopened = ExecutionOrchestrator(store=SqliteStore(db))
        try:
            records = reopened.audit_log.records
            states = dict(reopened.recovery.machines["rv18link"])
            replayed = replay(records)
        finally:
            reopened.close()

        assert errors == []
        assert verify_trail(records, known_machines()).ok
        assert states == {f"t-{t}": "up" for t in range(6)}
        assert len(replayed.orders) == 72

    def test_a_refusal_in_a_risk_hook_is_durable_with_the_intent(
        self, link: type[Link], tmp_path: Path
    ) -> None:
        """User records written inside a unit (a risk hook that raises) are stored with it."""
        db = tmp_path / "s.db"

        class Hook:
            log: AuditLog

            def evaluate(self, intent: OrderIntent) -> RiskVerdict:
                session = link(self.log, correlation_id=f"h-{intent.intent_id}")
                session.send("connect")
                session.send("connect")  # illegal: IllegalTransition, the hook fails closed
                return RiskVerdict(RiskDecision.ALLOW)

        hook = Hook()
        orchestrator = ExecutionOrchestrator(risk_hook=hook, store=SqliteStore(db))
        hook.log = orchestrator.audit_log
        result = orchestrator.submit_intent(_intent(1))
        orchestrator.close()

        assert result.pipeline_state is PipelineState.BLOCKED
        assert _reopen_machines(db) == {"rv18link": {"h-rv18-1": "up"}}

    def test_a_forged_user_record_in_an_export_fails_audit_verify(
        self, link: type[Link], tmp_path: Path
    ) -> None:
        """A re-hashed export whose user record skips a state fails verification."""
        log = _log()
        session = link(log, correlation_id="l-1")
        session.send("connect")
        session.send("drop")
        rows = [record_to_dict(r) for r in log.records]
        rows[1]["source"], rows[1]["target"], rows[1]["event"] = "down", "closed", "close"
        prev = rows[0]["hash"]
        for row in rows[1:]:
            row["prev_hash"] = prev
            row["hash"] = prev = record_hash(row)
        trail = tmp_path / "forged.jsonl"
        trail.write_text(
            "".join(
                json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
                for r in rows
            )
        )
        assert record_json(log.records[0]) == trail.read_text().split("\n")[0]

        assert main(["audit", "verify", str(trail), "--machine", f"{__name__}:Link"]) == 1

    @pytest.mark.parametrize("between", ["pass", "o.flush()", "o.submit_intent(_intent(1))"])
    def test_a_kill_after_send_returned_loses_nothing(self, tmp_path: Path, between: str) -> None:
        """SIGKILL after connect and drop returned, never flushed by hand (with a flush or an
        intent's commit between them, or nothing): the store opens, the link in 'down'
        (`AuditedMachine.durable_on_return`)."""
        db = tmp_path / "k.db"
        script = textwrap.dedent(
            f"""
            import sys, time
            sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
            from tests.test_review_18 import Link, _intent
            from execfsm import ExecutionOrchestrator, SqliteStore, register_machine
            register_machine(Link)
            o = ExecutionOrchestrator(store=SqliteStore({str(db)!r}))
            s = Link(o.audit_log, correlation_id="k-1")
            s.send("connect")
            {between}
            s.send("drop")
            print("ready", flush=True)
            time.sleep(60)
            """
        )
        child = subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline() == "ready\n"
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait(timeout=30)
        register_machine(Link)
        try:
            reopened = ExecutionOrchestrator(store=SqliteStore(db))
            try:
                states = dict(reopened.recovery.machines["rv18link"])
                again = Link.from_trail(reopened.audit_log, "k-1")
            finally:
                reopened.close()
        finally:
            unregister_machine(Link)

        assert (states, again.current_state_value) == ({"k-1": "down"}, "down")

    def test_project_pointing_at_a_missing_path_is_one_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--project at a path that does not exist: exit 2, one line."""
        code = main(["spec", "--project", str(tmp_path / "nowhere")])
        err = capsys.readouterr().err

        assert (code, err.count("\n")) == (2, 1)
        assert "no pyproject.toml there" in err

    def test_project_pointing_at_its_file_works(self, tmp_path: Path) -> None:
        """--project may name the pyproject.toml itself."""
        root = tmp_path / "p"
        pyproject = _project_file(root, '[tool.execfsm]\nmachines = ["rv18file:M"]\n')
        (root / "rv18file.py").write_text(MODULE.format(name="rv18file"))
        result = _cli(tmp_path, "spec", "--project", str(pyproject))

        assert result.returncode == 0, result.stderr
        assert list(json.loads(result.stdout)["machines"]) == ["rv18file"]

    @pytest.mark.parametrize(
        ("source", "shown"),
        [
            ("raise RuntimeError('blew up')\n", "RuntimeError: blew up"),
            ("def (:\n", "SyntaxError"),
            (
                MODULE.replace("go = a.to(b)", "go = a.to(b, cond='is_ready')"),
                "DefinitionError",
            ),
        ],
    )
    def test_a_broken_machine_module_is_one_line_exit_2(
        self, tmp_path: Path, source: str, shown: str
    ) -> None:
        """A module that raises, does not parse, or declares a machine that fails: one line."""
        _project_file(tmp_path, '[tool.execfsm]\nmachines = ["rv18broken:M"]\n')
        (tmp_path / "rv18broken.py").write_text(source.format(name="rv18broken"))
        result = _cli(tmp_path, "spec")

        assert (result.returncode, result.stderr.count("\n")) == (2, 1), result.stderr
        assert shown in result.stderr

    def test_recover_and_audit_verify_from_elsewhere_with_project(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """recover --db and audit verify --db from another folder read the project's machine."""
        root = tmp_path / "proj"
        pyproject = _project_file(root, '[tool.execfsm]\nmachines = ["rv18rec:M"]\n')
        (root / "rv18rec.py").write_text(MODULE.format(name="rv18rec"))
        project = load_project(pyproject)
        machine = project.machines["rv18rec"]
        try:
            db = tmp_path / "s.db"
            orchestrator = ExecutionOrchestrator(store=SqliteStore(db))
            machine(orchestrator.audit_log, correlation_id="r-1").send("go")
            orchestrator.close()
            recovered = main(["recover", "--db", str(db), "--project", str(root)])
            out = capsys.readouterr().out
            verified = main(["audit", "verify", "--db", str(db), "--project", str(pyproject)])
        finally:
            unregister_machine(machine)

        assert (recovered, verified) == (0, 0)
        assert "rv18rec: 1 instance(s): 1 b" in out

    def test_builtin_true_keeps_execfsms_machines_beside_the_projects(self, tmp_path: Path) -> None:
        """``builtin = true``: the project's machine and execfsm's own are all under governance."""
        pyproject = _project_file(
            tmp_path, '[tool.execfsm]\nmachines = ["rv18bi:M"]\nbuiltin = true\n'
        )
        (tmp_path / "rv18bi.py").write_text(MODULE.format(name="rv18bi"))
        project = load_project(pyproject)
        try:
            assert set(project.machines) == {
                "contingent",
                "order",
                "pipeline",
                "reconciliation",
                "reconciliation_pass",
                "rv18bi",
            }
        finally:
            unregister_machine(project.machines["rv18bi"])

    def test_a_refusal_with_an_own_code_is_audited_and_recovered(
        self, link: type[Link], tmp_path: Path
    ) -> None:
        """A validator's own code is stored, read back as the member, and the state stays."""
        db = tmp_path / "s.db"
        orchestrator = ExecutionOrchestrator(store=SqliteStore(db))
        session = link(orchestrator.audit_log, correlation_id="l-1")
        with pytest.raises(PolicyViolation):
            session.send("connect", accepted=False)
        session.send("connect")
        with pytest.raises(IllegalTransition):
            session.send("connect")
        orchestrator.close()
        reopened = ExecutionOrchestrator(store=SqliteStore(db))
        try:
            codes = [r.reason_code for r in reopened.audit_log.records]
            state = dict(reopened.recovery.machines["rv18link"])
        finally:
            reopened.close()

        assert codes[0] is LinkReason.LOGON_REFUSED
        assert state == {"l-1": "up"}
