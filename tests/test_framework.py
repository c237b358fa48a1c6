"""
A machine of the user's own gets what execfsm's machines get: its own reason codes in the
audit trail, registration for the tools and the stores, durable records that a re-opened
orchestrator recovers, and the command line on a project that declares it — through the
public names only.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from statemachine import State

import execfsm
from execfsm import (
    AuditChainError,
    AuditedMachine,
    AuditOutcome,
    DefinitionError,
    Engine,
    ExecutionOrchestrator,
    IllegalTransition,
    MachineModel,
    MachineReason,
    PolicyViolation,
    ReasonCode,
    SqliteStore,
    StateInvariant,
    SteppingClock,
    StoreError,
    describe,
    register_machine,
)
from execfsm.cli import main
from execfsm.clock import EPOCH
from execfsm.enums import reason_of
from execfsm.governance.properties import verify_machines
from execfsm.governance.trail import verify_trail
from execfsm.ledger.audit import AuditLog, record_from_dict, record_json, record_to_dict
from execfsm.registry import known_machines, load_project, unregister_machine


class ElsewhereReason(MachineReason):
    OTHER = "elsewhere.OTHER"


class GateReason(MachineReason):
    CLOSED = "gate.CLOSED"
    TOO_MANY = "gate.TOO_MANY"


@describe("the gate is open for business")
def gate_open(open_now: bool = True) -> None:
    if not open_now:
        raise PolicyViolation("gate: closed for the day", reason=GateReason.CLOSED)


@describe("fewer than 3 tries so far")
def tries_left(tries: int = 0) -> bool:
    return tries < 3


class Gate(AuditedMachine):
    """A throwaway user machine: enter through a gate that may be closed."""

    audit_machine = "gate"
    reason_codes = GateReason

    outside = State(initial=True)
    waiting = State()
    inside = State(final=True)
    gave_up = State(final=True)

    knock = outside.to(waiting, validators=gate_open)
    admit = waiting.to(inside)
    retry = waiting.to(waiting, cond=tries_left, internal=True) | waiting.to(gave_up)

    properties = (StateInvariant("G1", "a caller never gives up", lambda s: s != "gave_up"),)


@pytest.fixture
def gate_registered() -> Iterator[type[Gate]]:
    register_machine(Gate)
    yield Gate
    unregister_machine(Gate)


class TestOwnReasonCodes:
    def test_a_refusal_carries_the_machines_own_code_on_both_engines(self) -> None:
        for engine in Engine:
            log = AuditLog(SteppingClock(EPOCH))
            gate = Gate(log, engine=engine, correlation_id="g-1")
            with pytest.raises(PolicyViolation) as refused:
                gate.send("knock", open_now=False)
            assert refused.value.reason is GateReason.CLOSED
            (record,) = log.records
            assert (record.outcome, record.reason_code) == (AuditOutcome.REFUSED, GateReason.CLOSED)
            assert gate.current_state_value == "outside"

    def test_the_code_survives_export_and_reading_back(self) -> None:
        log = AuditLog(SteppingClock(EPOCH))
        with pytest.raises(PolicyViolation):
            Gate(log, correlation_id="g-1").send("knock", open_now=False)
        (record,) = log.records
        line = record_json(record)
        assert '"reason_code":"gate.CLOSED"' in line
        again = record_from_dict(json.loads(line))
        assert again == record
        assert again.reason_code is GateReason.CLOSED

    def test_an_unknown_namespaced_code_is_refused_when_read(self) -> None:
        log = AuditLog(SteppingClock(EPOCH))
        with pytest.raises(PolicyViolation):
            Gate(log, correlation_id="g-1").send("knock", open_now=False)
        data = record_to_dict(log.records[0])
        data["reason_code"] = "nobody.CLOSED"
        with pytest.raises(AuditChainError, match="reason_code must be a known reason code"):
            record_from_dict(data)

    @pytest.mark.parametrize(
        ("value", "problem"),
        [
            ("CLOSED", "'<namespace>.CLOSED'"),
            ("Gate.CLOSED", "'<namespace>.CLOSED'"),
            ("gate.OPEN", "'<namespace>.CLOSED'"),
        ],
    )
    def test_a_code_not_of_the_namespaced_form_is_refused_at_definition(
        self, value: str, problem: str
    ) -> None:
        with pytest.raises(TypeError, match=problem):

            class Bad(MachineReason):
                CLOSED = value

    def test_a_namespace_is_one_enums(self) -> None:
        with pytest.raises(TypeError, match=r"already taken by tests\.test_framework\.GateReason"):

            class Other(MachineReason):
                CLOSED = "gate.CLOSED"

        assert reason_of("gate.CLOSED") is GateReason.CLOSED

    def test_execfsm_codes_never_collide_with_a_machines(self) -> None:
        """A dot is in every machine's code and in none of execfsm's."""
        assert all("." not in code.value for code in ReasonCode)
        assert reason_of("RISK_BLOCKED") is ReasonCode.RISK_BLOCKED


class TestRegistration:
    def test_a_name_taken_by_execfsm_is_refused(self) -> None:
        class Order2(Gate):
            audit_machine = "order"

        with pytest.raises(DefinitionError, match=r"'order' is taken by execfsm\.fsm\.order"):
            register_machine(Order2)

    def test_no_name_or_not_a_machine_is_refused(self) -> None:
        class Nameless(Gate):
            audit_machine = ""

        with pytest.raises(DefinitionError, match="audit_machine must name the machine"):
            register_machine(Nameless)
        with pytest.raises(DefinitionError, match="not an AuditedMachine subclass"):
            register_machine(dict)  # type: ignore[type-var]

    def test_a_guard_without_a_description_is_refused_at_definition(self) -> None:
        def undescribed() -> bool:
            return True

        with pytest.raises(DefinitionError, match="guard 'undescribed' has no description"):

            class Loose(AuditedMachine):
                audit_machine = "loose"
                a = State(initial=True)
                b = State(final=True)
                go = a.to(b, cond=undescribed)

    def test_registering_twice_is_harmless(self, gate_registered: type[Gate]) -> None:
        assert register_machine(Gate) is Gate
        assert known_machines()["gate"] is Gate


def _gate_session(db: Path) -> None:
    orchestrator = ExecutionOrchestrator(store=SqliteStore(db))
    gate = Gate(orchestrator.audit_log, correlation_id="g-1")
    gate.send("knock")
    gate.send("retry", tries=1)
    with pytest.raises(IllegalTransition):
        gate.send("knock")
    orchestrator.close()  # flushes: the user machine's records are durable


class TestDurable:
    def test_an_unregistered_machine_in_a_store_is_refused_by_name(
        self, gate_registered: type[Gate], tmp_path: Path
    ) -> None:
        db = tmp_path / "g.db"
        _gate_session(db)
        unregister_machine(Gate)
        with pytest.raises(StoreError, match=r"unknown machine 'gate'.*register_machine"):
            ExecutionOrchestrator(store=SqliteStore(db))

    def test_a_registered_machine_is_recovered_where_it_was(
        self, gate_registered: type[Gate], tmp_path: Path
    ) -> None:
        db = tmp_path / "g.db"
        _gate_session(db)
        orchestrator = ExecutionOrchestrator(store=SqliteStore(db))
        try:
            assert orchestrator.recovery.records == 3
            assert orchestrator.recovery.machines == {"gate": {"g-1": "waiting"}}
            for engine in Engine:
                gate = Gate.from_trail(orchestrator.audit_log, "g-1", engine=engine)
                assert gate.current_state_value == "waiting"
            gate.send("admit")
            assert orchestrator.audit_log.records[-1].target == "inside"
        finally:
            orchestrator.close()
        assert verify_trail(SqliteStore(db, read_only=True).load().records, known_machines()).ok

    def test_an_illegal_move_in_the_stored_trail_is_caught(
        self, gate_registered: type[Gate]
    ) -> None:
        log = AuditLog(SteppingClock(EPOCH))
        Gate(log, correlation_id="g-1").send("knock")
        forged = AuditLog(SteppingClock(EPOCH))
        forged.append_fields(
            "g-2", None, "gate", "admit", "outside", "inside", AuditOutcome.APPLIED, None, ""
        )
        assert verify_trail(log.records, known_machines()).ok
        result = verify_trail(forged.records, known_machines())
        assert not result.ok
        assert "outside --admit--> inside is not a transition of Gate" in result.problem

    def test_a_refusal_with_another_machines_code_is_caught(
        self, gate_registered: type[Gate]
    ) -> None:
        """A namespaced code belongs to one machine: on another machine's record it is forged."""
        forged = AuditLog(SteppingClock(EPOCH))
        forged.append_fields(
            "g-1",
            None,
            "gate",
            "knock",
            "outside",
            "outside",
            AuditOutcome.REFUSED,
            ElsewhereReason.OTHER,
            "",
        )
        own = AuditLog(SteppingClock(EPOCH))
        own.append_fields(
            "g-1",
            None,
            "gate",
            "knock",
            "outside",
            "outside",
            AuditOutcome.REFUSED,
            GateReason.CLOSED,
            "",
        )

        assert verify_trail(own.records, known_machines()).ok
        result = verify_trail(forged.records, known_machines())
        assert not result.ok
        assert "elsewhere.OTHER is not a reason code of Gate" in result.problem

    @pytest.mark.parametrize("engine", list(Engine))
    def test_a_machine_cannot_write_a_code_it_did_not_declare(
        self, gate_registered: type[Gate], engine: Engine
    ) -> None:
        """What verification would refuse (and a reopened store with it) is never written."""
        log = AuditLog(SteppingClock(EPOCH))
        gate = Gate(log, correlation_id="g-1", engine=engine)

        with pytest.raises(DefinitionError, match=r"elsewhere\.OTHER is not one of its reason"):
            gate.record("knock", AuditOutcome.REFUSED, ElsewhereReason.OTHER, "no")
        assert not log.records


# -- a scratch project, outside the package, on the command line -----------------------------

SESSION_MODULE = '''
"""A venue session of a user's own, declared with execfsm's public names only."""

from statemachine import State

from execfsm import AuditedMachine, MachineReason, PolicyViolation, describe


class SessionReason(MachineReason):
    LOGON_REFUSED = "desk_session.LOGON_REFUSED"
    """The venue refused the session's credentials."""


@describe("the venue accepted the credentials")
def credentials_accepted(accepted: bool = True) -> None:
    if not accepted:
        raise PolicyViolation("logon refused", reason=SessionReason.LOGON_REFUSED)


@describe("fewer than 3 logon attempts timed out")
def attempts_left(attempts: int = 0) -> bool:
    return attempts < 3


class VenueSession(AuditedMachine):
    audit_machine = "desk_session"
    reason_codes = SessionReason

    down = State(initial=True)
    logging_on = State()
    up = State()
    failed = State(final=True)

    connect = down.to(logging_on)
    logon_ok = logging_on.to(up, validators=credentials_accepted)
    timeout = logging_on.to(down, cond=attempts_left) | logging_on.to(failed)
    drop = up.to(down)
'''

RUN_SCRIPT = """
import sys
from deskpkg.session import VenueSession
from execfsm import ExecutionOrchestrator, SqliteStore, register_machine
from execfsm.ledger.audit import record_json

register_machine(VenueSession)
orchestrator = ExecutionOrchestrator(store=SqliteStore(sys.argv[1]))
session = VenueSession(orchestrator.audit_log, correlation_id="desk-1")
session.send("connect")
session.send("timeout", attempts=1)
session.send("connect")
try:
    session.send("logon_ok", accepted=False)
except Exception as exc:
    print("refused:", exc.reason)
session.send("logon_ok")
with open(sys.argv[2], "w") as out:
    for record in orchestrator.get_audit_log_snapshot():
        out.write(record_json(record) + "\\n")
orchestrator.close()
"""


def _execfsm(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "execfsm"), *args]
    return subprocess.run(  # noqa: S603 - our own console script
        command, cwd=project, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("desk")
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [project]
            name = "deskpkg"
            version = "0.1"

            [tool.execfsm]
            machines = ["deskpkg.session:VenueSession"]
            title = "Desk A machines"
            policy = "Sessions log on only inside trading hours."
            """
        )
    )
    package = root / "src" / "deskpkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "session.py").write_text(SESSION_MODULE)
    (root / "run.py").write_text(RUN_SCRIPT)
    return root


class TestScratchProject:
    def test_its_code_imports_nothing_private(self) -> None:
        for source in (SESSION_MODULE, RUN_SCRIPT):
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.ImportFrom) and node.module:
                    parts = node.module.split(".")
                    names = [alias.name for alias in node.names]
                    assert not any(p.startswith("_") for p in parts + names), node.module

    def test_spec_verify_and_diagrams(self, project: Path) -> None:
        written = _execfsm(project, "spec", "--write")
        assert written.returncode == 0, written.stderr
        spec = json.loads((project / "spec" / "machines.json").read_text())
        assert list(spec["machines"]) == ["desk_session"]
        assert spec["machines"]["desk_session"]["reason_codes"] == ["desk_session.LOGON_REFUSED"]

        verified = _execfsm(project, "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert f"PASS spec: the declared machines match {project / 'spec'}/" in verified.stdout
        assert "PASS desk_session P2" in verified.stdout
        assert "order" not in verified.stdout

        drawn = _execfsm(project, "diagrams")
        assert drawn.returncode == 0, drawn.stderr
        report = (project / "docs" / "governance" / "report.md").read_text()
        assert report.startswith("# Desk A machines\n")
        assert "Sessions log on only inside trading hours." in report
        assert "Live-execution policy" not in report
        assert "Own reason codes (see the glossary): `desk_session.LOGON_REFUSED`" in report
        assert (
            "| `desk_session.LOGON_REFUSED` | The venue refused the session's credentials. |"
            in report
        )
        assert (project / "docs" / "governance" / "desk_session.svg").exists()

    def test_a_changed_machine_is_drift(self, project: Path) -> None:
        _execfsm(project, "spec", "--write")
        session = project / "src" / "deskpkg" / "session.py"
        original = session.read_text()
        try:
            session.write_text(original.replace("drop = up.to(down)", "drop = up.to(failed)"))
            verified = _execfsm(project, "verify")
            assert verified.returncode == 1
            assert "FAIL spec drift" in verified.stdout
        finally:
            session.write_text(original)

    def test_durable_storage_audit_verify_and_recover(self, project: Path) -> None:
        db, trail = project / "desk.db", project / "trail.jsonl"
        run = subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "run.py", str(db), str(trail)],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={"PYTHONPATH": str(project / "src")},
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout == "refused: desk_session.LOGON_REFUSED\n"

        for args in (["audit", "verify", "--db", str(db)], ["audit", "verify", str(trail)]):
            checked = _execfsm(project, *args)
            assert checked.returncode == 0, checked.stderr
            assert "5 records, chain intact, every transition legal" in checked.stdout

        recovered = _execfsm(project, "recover", "--db", str(db))
        assert recovered.returncode == 0, recovered.stderr
        assert "desk_session: 1 instance(s): 1 up" in recovered.stdout

        elsewhere = _execfsm(Path("/"), "audit", "verify", "--db", str(db))
        assert elsewhere.returncode == 1
        assert "namespace 'desk_session': is its machine registered?" in elsewhere.stderr

        named = _execfsm(Path("/"), "audit", "verify", str(trail), "--project", str(project))
        assert named.returncode == 0, named.stderr


def test_the_public_names_are_exported() -> None:
    for name in ("AuditedMachine", "MachineReason", "describe", "register_machine", "Case"):
        assert name in execfsm.__all__
    assert load_project().machines.keys() >= {"order", "pipeline"}


class TestProjectFile:
    @pytest.mark.parametrize(
        ("table", "problem"),
        [
            ('machines = "deskpkg.session:VenueSession"', "machines must be a list of strings"),
            ('machines = ["deskpkg.session"]', "expected 'package.module:Class'"),
            ('machines = ["no_such_module_xyz:Session"]', "cannot import no_such_module_xyz"),
            ('machines = ["json:JSONDecoder"]', "JSONDecoder is not an execfsm AuditedMachine"),
            ('title = ""', "title must be a non-empty string"),
            ("builtin = 1", "builtin must be true or false"),
            ('machine = ["x:Y"]', "unknown keys ['machine']"),
        ],
    )
    def test_a_bad_table_is_refused_naming_the_key(
        self, tmp_path: Path, table: str, problem: str
    ) -> None:
        pyproject = tmp_path / "pyproject.toml"
        pyproject.write_text(f"[tool.execfsm]\n{table}\n")
        with pytest.raises(execfsm.ConfigurationError, match=re.escape(problem)):
            load_project(pyproject)

    def test_the_command_line_says_it_in_one_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code = main(["spec", "--machine", "no_such_module_xyz:Session"])
        assert code == 2
        err = capsys.readouterr().err
        assert err.startswith("execfsm spec: machine 'no_such_module_xyz:Session': cannot import")
        assert err.count("\n") == 1
        assert main(["verify", "--project", str(tmp_path)]) == 2
        assert "no pyproject.toml there" in capsys.readouterr().err

    def test_two_machines_cannot_share_a_name(self, gate_registered: type[Gate]) -> None:
        class Impostor(Gate):
            pass

        Impostor.__qualname__ = "Impostor"
        with pytest.raises(
            DefinitionError, match=r"'gate' is taken by tests\.test_framework\.Gate"
        ):
            register_machine(Impostor)


class TestTrailProperties:
    def test_audit_verify_properties_names_the_instance_and_record(
        self, gate_registered: type[Gate], tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        log = AuditLog(SteppingClock(EPOCH))
        patient, impatient = Gate(log, correlation_id="g-1"), Gate(log, correlation_id="g-2")
        patient.send("knock")
        patient.send("admit")
        impatient.send("knock")
        impatient.send("retry", tries=3)
        trail = tmp_path / "trail.jsonl"
        trail.write_text("".join(record_json(r) + "\n" for r in log.records))

        assert main(["audit", "verify", str(trail)]) == 0  # legal moves: the chain holds
        capsys.readouterr()
        assert main(["audit", "verify", str(trail), "--properties"]) == 1
        err = capsys.readouterr().err
        assert "FAIL gate G1 a caller never gives up" in err
        assert "g-2: record seq 4" in err
        assert "g-1" not in err

    def test_a_trail_that_keeps_them_passes(
        self, gate_registered: type[Gate], tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        log = AuditLog(SteppingClock(EPOCH))
        gate = Gate(log, correlation_id="g-1")
        gate.send("knock")
        gate.send("admit")
        trail = tmp_path / "trail.jsonl"
        trail.write_text("".join(record_json(r) + "\n" for r in log.records))
        assert main(["audit", "verify", str(trail), "--properties"]) == 0
        assert "the declared properties hold on every recorded instance" in capsys.readouterr().out


class Brittle(AuditedMachine):
    """A user machine whose callbacks raise between the record and the commit."""

    audit_machine = "brittle"
    idle = State(initial=True)
    busy = State()
    done = State(final=True)

    start = idle.to(busy)
    finish = busy.to(done)

    fail_on: str = ""

    def on_start(self) -> None:
        if self.fail_on == "on":
            raise RuntimeError("on_start broke")

    def on_enter_busy(self) -> None:
        if self.fail_on == "enter":
            raise ContractViolationLike("entering busy broke")


class ContractViolationLike(execfsm.ContractViolation):
    def __init__(self, message: str) -> None:
        super().__init__(message, reason=ReasonCode.VALIDATION_INVALID_FIELD)


class TestFailingCallbacks:
    @pytest.mark.parametrize("engine", list(Engine))
    @pytest.mark.parametrize("where", ["on", "enter"])
    def test_the_trail_undoes_a_move_a_callback_broke(self, engine: Engine, where: str) -> None:
        register_machine(Brittle)
        try:
            log = AuditLog(SteppingClock(EPOCH))
            machine = Brittle(log, engine=engine, correlation_id="b-1")
            machine.fail_on = where
            with pytest.raises((RuntimeError, execfsm.ContractViolation)):
                machine.send("start")
            assert machine.current_state_value == "idle"
            undo = next(r for r in log.records if r.reason_code is ReasonCode.CALLBACK_FAILED)
            assert (undo.source, undo.target, undo.outcome) == (
                "busy",
                "idle",
                AuditOutcome.REFUSED,
            )
            assert verify_trail(log.records, known_machines()).ok
            assert Brittle.from_trail(log, "b-1").current_state_value == "idle"
            machine.fail_on = ""
            machine.send("start")
            machine.send("finish")
            assert verify_trail(log.records, known_machines()).ok
        finally:
            unregister_machine(Brittle)

    def test_an_undo_of_a_move_never_recorded_is_caught(self) -> None:
        register_machine(Brittle)
        try:
            forged = AuditLog(SteppingClock(EPOCH))
            forged.append_fields(
                "b-1", None, "brittle", "start", "idle", "busy", AuditOutcome.APPLIED, None, ""
            )
            forged.append_fields(
                "b-1", None, "brittle", "finish", "busy", "idle", AuditOutcome.REFUSED,
                ReasonCode.CALLBACK_FAILED, "forged",
            )  # fmt: skip
            result = verify_trail(forged.records, known_machines())
            assert not result.ok
            assert "undoes a move that is not the one recorded before" in result.problem
        finally:
            unregister_machine(Brittle)

    def test_a_store_with_an_undone_move_reopens_where_the_machine_is(self, tmp_path: Path) -> None:
        register_machine(Brittle)
        try:
            db = tmp_path / "b.db"
            orchestrator = ExecutionOrchestrator(store=SqliteStore(db))
            machine = Brittle(orchestrator.audit_log, correlation_id="b-1")
            machine.fail_on = "on"
            with pytest.raises(RuntimeError):
                machine.send("start")
            orchestrator.close()
            reopened = ExecutionOrchestrator(store=SqliteStore(db))
            try:
                assert reopened.recovery.machines == {"brittle": {"b-1": "idle"}}
            finally:
                reopened.close()
        finally:
            unregister_machine(Brittle)


class TestReferenceOnlyMachines:
    def test_an_expression_guard_is_modelled_verified_and_refused_on_the_compiled_engine(
        self,
    ) -> None:
        class Expressive(AuditedMachine):
            compiled_engine = False  # python-statemachine's runtime runs the expression
            audit_machine = "expressive"
            a = State(initial=True)
            b = State(final=True)
            go = a.to(b, cond="ready and not blocked")

            @describe("the desk is ready")
            def ready(self) -> bool:
                return True

            @describe("a halt is in force")
            def blocked(self) -> bool:
                return False

        model = MachineModel.from_machine(Expressive)
        (transition,) = model.transitions
        assert transition.conds == ("ready and not blocked",)
        assert model.guard_descriptions["ready and not blocked"] == (
            "(the desk is ready) and not (a halt is in force)"
        )
        results = {r.prop: r for r in verify_machines({"expressive": Expressive})}
        assert results["P3"].ok
        assert results["P2"].ok
        machine = Expressive(AuditLog(SteppingClock(EPOCH)), correlation_id="e-1")
        assert machine.engine is Engine.REFERENCE
        machine.send("go")
        assert machine.current_state_value == "b"

    def test_an_expression_naming_an_undescribed_guard_is_refused(self) -> None:
        class Vague(AuditedMachine):
            compiled_engine = False
            audit_machine = "vague"
            a = State(initial=True)
            b = State(final=True)
            go = a.to(b, cond="ready or whatever")

            @describe("the desk is ready")
            def ready(self) -> bool:
                return True

        with pytest.raises(DefinitionError, match="'whatever' is not a described guard"):
            MachineModel.from_machine(Vague)
