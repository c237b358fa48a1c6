"""
Guard code in the spec (issue 19): each guard's and callback's normalised code, and what it
reads, is fingerprinted in ``machines.json``; `execfsm verify` fails on any change to it,
naming the machine, the guard and its edges and showing a diff, until the spec is written
again — formatting, comments and docstrings aside.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from execfsm.cli import main
from execfsm.governance import MACHINES
from execfsm.governance.code import CodeIndex, code_spec
from execfsm.governance.spec import drift, spec_text, write_spec

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "scratchguards"

HELPERS = '''
"""Helpers the scratch guards call."""

LIMIT = 0
"""The smallest quantity refused."""


def positive(quantity: int) -> bool:
    """True for a quantity above the limit."""
    return quantity > LIMIT


class Box:
    """What a guard is given: its methods run too."""

    def __init__(self, size: int) -> None:
        self.size = size

    def fits(self) -> bool:
        return self.size < 10
'''

MACHINE = '''
"""A scratch machine whose guards read helpers, constants, defaults and closures."""

from statemachine import State

from execfsm import AuditedMachine, ContractViolation, ReasonCode, describe
from scratchguards import helpers
from scratchguards.helpers import LIMIT, Box, positive

STEP = 1


@describe("the quantity is positive")
def quantity_ok(quantity: int = 1) -> None:
    """Refuse a quantity that is not positive."""
    if not positive(quantity):  # the helper decides
        raise ContractViolation("bad quantity", reason=ReasonCode.VALIDATION_INVALID_QUANTITY)


@describe("the quantity is above the limit")
def above_limit(quantity: int = 1) -> bool:
    return quantity > LIMIT


@describe("the step is small")
def small_step(step: int = STEP, most: int = 10) -> bool:
    return step <= most


def at_least(floor: int):
    @describe("the count reaches the floor")
    def count_reaches(count: int = 0) -> bool:
        return count >= floor

    return count_reaches


count_reaches = at_least(3)


def _is_even(n: int) -> bool:
    return n % 2 == 0


def checked_by(check):
    @describe("the quantity passes its check")
    def passes(quantity: int = 2) -> bool:
        return check(quantity)

    return passes


passes = checked_by(_is_even)


@describe("the quantity is positive, asked through the module")
def via_module(quantity: int = 1) -> bool:
    return helpers.positive(quantity)


@describe("the box fits")
def box_fits(box: Box | None = None) -> bool:
    return box is None or box.fits()
tiny = describe("the quantity is tiny")(lambda quantity=1: quantity < 5)
tiny.__name__ = "tiny"


GROWS = [above_limit, small_step, count_reaches, tiny, passes, via_module, box_fits]


class Ticket(AuditedMachine):
    audit_machine = "ticket"

    new = State(initial=True)
    open = State()
    big = State()
    done = State(final=True)

    submit = new.to(open, validators=quantity_ok)
    grow = open.to(big, cond=GROWS) | open.to(open)
    close = big.to(done, cond="allowed") | open.to(done)

    @describe("the ticket may close")
    def allowed(self) -> bool:
        return self.budget() > 0

    def budget(self) -> int:
        return 5

    def after_close(self) -> None:
        self.closed = True

    _box: Box

    def after_grow(self) -> None:
        self.grew = self._box.fits() if hasattr(self, "_box") else False


class Noted(AuditedMachine):
    compiled_engine = False  # callbacks given to states and transitions themselves
    audit_machine = "noted"

    a = State(initial=True, exit="leaving")
    b = State(final=True)

    go = a.to(b, on="note")

    def note(self) -> None:
        self.noted = 1

    def leaving(self) -> None:
        self.left = True
'''


def _edit(source: str, old: str, new: str) -> str:
    assert old in source, old
    return source.replace(old, new)


class Scratch:
    """Loads versions of the scratch package, each from its own folder, under one name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def load(self, machine: str = MACHINE, helpers: str = HELPERS) -> types.ModuleType:
        self.count += 1
        folder = self.root / f"v{self.count}"
        package = folder / PACKAGE
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "helpers.py").write_text(textwrap.dedent(helpers))
        (package / "machine.py").write_text(textwrap.dedent(machine))
        self.forget()
        sys.path.insert(0, str(folder))
        try:
            return importlib.import_module(f"{PACKAGE}.machine")
        finally:
            sys.path.remove(str(folder))

    @staticmethod
    def forget() -> None:
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Scratch]:
    loader = Scratch(tmp_path)
    yield loader
    loader.forget()


def _drift_after(scratch: Scratch, tmp_path: Path, **changed: str) -> list[str]:
    """Write the spec of the original scratch machine, load the changed one, and diff."""
    first = scratch.load()
    write_spec(tmp_path / "spec", {"ticket": first.Ticket})
    second = scratch.load(**changed)
    return drift(tmp_path / "spec", {"ticket": second.Ticket})


class TestSpecHoldsCode:
    def test_every_guard_and_callback_has_a_fingerprint(
        self, scratch: Scratch, tmp_path: Path
    ) -> None:
        """The spec names each guard and callback with its kind, edges, fingerprint and
        normalised code (docstrings and comments gone)."""
        module = scratch.load()
        write_spec(tmp_path, {"ticket": module.Ticket})
        data = json.loads((tmp_path / "machines.json").read_text())

        code = data["machines"]["ticket"]["code"]
        assert set(code) >= {"quantity_ok", "above_limit", "small_step", "count_reaches"}
        assert {"tiny", "allowed", "after_close", "prepare_event"} <= set(code)
        assert code["quantity_ok"]["kind"] == "validator"
        assert code["quantity_ok"]["on"] == ["new --submit--> open"]
        assert code["after_close"]["kind"] == "callback"
        assert code["after_close"]["on"] == ["open --close--> done", "big --close--> done"]
        assert len(code["quantity_ok"]["fingerprint"]) == 64
        text = data["code"][code["quantity_ok"]["definition"]]["code"]
        assert "    if not positive(quantity):" in text
        assert not any("Refuse" in line or "the helper decides" in line for line in text)
        assert "scratchguards.helpers:positive" in data["code"]
        assert data["code"]["scratchguards.helpers:LIMIT"]["code"] == ["LIMIT = 0", "# value: 0"]

    def test_the_repository_spec_has_fingerprints(self) -> None:
        """The committed spec fingerprints the built-in machines' guards and callbacks."""
        data = json.loads((ROOT / "spec" / "machines.json").read_text())

        order = data["machines"]["order"]["code"]
        assert order["quantity_positive"]["on"] == ["CREATED --submit--> SUBMITTED"]
        assert order["after_transition"]["on"] == ["every transition"]
        assert "execfsm.fsm.guards:quantity_positive" in data["code"]
        assert "execfsm.fsm.guards:MAX_DECIMAL_PLACES" in data["code"]


class TestChangesAreDrift:
    def test_a_changed_guard_body_fails_with_a_diff(self, scratch: Scratch, tmp_path: Path) -> None:
        """The reviewer's case: same name and description, another body -> named, with a
        diff, on its edge."""
        changed = _edit(MACHINE, "if not positive(quantity):", "if quantity < -1000:")

        lines = _drift_after(scratch, tmp_path, machine=changed)

        assert "ticket: validator quantity_ok: code changed (on new --submit--> open):" in lines
        assert "  --- committed scratchguards.machine:quantity_ok" in lines
        assert "  -    if not positive(quantity):" in lines
        assert "  +    if quantity < -1000:" in lines

    def test_formatting_comments_and_docstrings_do_not_count(
        self, scratch: Scratch, tmp_path: Path
    ) -> None:
        """Reformatting a guard, editing its comments and docstring changes nothing."""
        changed = _edit(
            MACHINE,
            '''    """Refuse a quantity that is not positive."""
    if not positive(quantity):  # the helper decides
        raise ContractViolation("bad quantity", reason=ReasonCode.VALIDATION_INVALID_QUANTITY)''',
            '''    """
    Refuse, in other words, a quantity that is zero or negative.
    """
    # one comment more
    if not positive(
        quantity
    ):
        raise ContractViolation(
            'bad quantity',
            reason=ReasonCode.VALIDATION_INVALID_QUANTITY,
        )''',
        )
        changed = _edit(changed, "def budget(self) -> int:", "def budget(self) -> int:  # sure")

        assert _drift_after(scratch, tmp_path, machine=changed) == []

    def test_a_weakened_helper_fails(self, scratch: Scratch, tmp_path: Path) -> None:
        """A helper in another module of the package, weakened: the guard calling it fails."""
        changed = _edit(HELPERS, "return quantity > LIMIT", "return quantity > LIMIT - 1000")

        lines = _drift_after(scratch, tmp_path, helpers=changed)

        assert "ticket: validator quantity_ok: code changed (on new --submit--> open):" in lines
        assert any(line.startswith("ticket: cond via_module: code changed") for line in lines)
        assert "  -    return quantity > LIMIT" in lines
        assert "  +    return quantity > LIMIT - 1000" in lines
        assert not any("above_limit" in line for line in lines)

    def test_a_method_of_an_annotated_parameter_counts(
        self, scratch: Scratch, tmp_path: Path
    ) -> None:
        """The class a guard's parameter (or a machine's attribute) is annotated with is
        read: a weakened method of it fails the guard or callback that calls it."""
        changed = _edit(HELPERS, "return self.size < 10", "return self.size < 10000")

        lines = _drift_after(scratch, tmp_path, helpers=changed)

        assert any(line.startswith("ticket: cond box_fits: code changed") for line in lines)
        assert any(line.startswith("ticket: callback after_grow: code changed") for line in lines)
        assert "  +        return self.size < 10000" in lines

    def test_a_changed_constant_fails(self, scratch: Scratch, tmp_path: Path) -> None:
        """A constant imported from another module, changed: both guards reading it fail."""
        changed = _edit(HELPERS, "LIMIT = 0", "LIMIT = -1000")

        lines = _drift_after(scratch, tmp_path, helpers=changed)

        assert any(line.startswith("ticket: cond above_limit: code changed") for line in lines)
        assert any(line.startswith("ticket: validator quantity_ok: code changed") for line in lines)
        assert "  -LIMIT = 0" in lines
        assert "  +LIMIT = -1000" in lines

    @pytest.mark.parametrize(
        ("old", "new", "guard", "shown"),
        [
            ("STEP = 1", "STEP = 100", "small_step", "  +STEP = 100"),
            ("most: int = 10", "most: int = 1000", "small_step", "  +# defaults: (1, 1000)"),
            ("at_least(3)", "at_least(-1000)", "count_reaches", "  +# closure: floor = -1000"),
            ("quantity < 5", "quantity < 5000", "tiny", "  +lambda quantity=1: quantity < 5000"),
            ("n % 2 == 0", "n % 2 == 1", "passes", "  +    return n % 2 == 1"),
            ("return 5", "return 0", "allowed", "  +    return 0"),
            (
                "self.closed = True",
                "self.closed = False",
                "after_close",
                "  +    self.closed = False",
            ),
        ],
        ids=[
            "default-constant",
            "default",
            "closure",
            "described-lambda",
            "function-in-closure",
            "self-method",
            "callback",
        ],
    )
    def test_what_the_source_line_does_not_show_fails(
        self, scratch: Scratch, tmp_path: Path, old: str, new: str, guard: str, shown: str
    ) -> None:
        """A default argument, a closure value, a described lambda, a method the guard calls
        on self, a callback: each change is drift on the guard that runs it."""
        lines = _drift_after(scratch, tmp_path, machine=_edit(MACHINE, old, new))

        assert any(
            line.startswith("ticket: ") and f" {guard}: code changed" in line for line in lines
        )
        assert shown in lines

    @pytest.mark.parametrize(
        ("old", "new", "callback"),
        [("self.noted = 1", "self.noted = 2", "note"), ("self.left = True", "pass", "leaving")],
    )
    def test_a_callback_given_to_a_transition_or_state_counts(
        self, scratch: Scratch, tmp_path: Path, old: str, new: str, callback: str
    ) -> None:
        """``a.to(b, on="note")`` and ``State(exit="leaving")`` (python-statemachine's
        runtime only) are fingerprinted on their edges."""
        first = scratch.load()
        write_spec(tmp_path, {"noted": first.Noted})
        second = scratch.load(machine=_edit(MACHINE, old, new))

        lines = drift(tmp_path, {"noted": second.Noted})

        assert f"noted: callback {callback}: code changed (on a --go--> b):" in lines

    def test_an_old_spec_without_fingerprints_fails(self, tmp_path: Path) -> None:
        """A spec written before fingerprints is refused with a clear message, not passed."""
        write_spec(tmp_path, MACHINES)
        data = json.loads((tmp_path / "machines.json").read_text())
        del data["code"]
        for machine in data["machines"].values():
            del machine["code"]
        (tmp_path / "machines.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")

        lines = drift(tmp_path, MACHINES)

        assert len(lines) == 1
        assert "spec has no code fingerprints; regenerate" in lines[0]

    def test_verify_fails_naming_the_guard(
        self,
        scratch: Scratch,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """`execfsm verify` exits 1 with a FAIL line, the guard, its edge and the diff."""
        first = scratch.load()
        write_spec(tmp_path, {"ticket": first.Ticket})
        second = scratch.load(machine=_edit(MACHINE, "if not positive(", "if positive("))
        monkeypatch.setattr(
            "execfsm.cli_machines.load_project",
            lambda *_a, **_k: types.SimpleNamespace(
                machines={"ticket": second.Ticket}, spec_dir=lambda _given: tmp_path
            ),
        )

        code = main(["verify", "--spec-dir", str(tmp_path), "--depth", "1"])

        out = capsys.readouterr().out
        assert code == 1
        assert "FAIL spec drift" in out
        assert "  ticket: validator quantity_ok: code changed (on new --submit--> open):" in out
        assert "    +    if positive(quantity):" in out


class TestFingerprints:
    def test_the_same_in_processes_with_other_hash_seeds(self) -> None:
        """The spec text, fingerprints included, is the same in fresh processes with other
        PYTHONHASHSEEDs as in this one and as committed."""
        script = (
            "from execfsm.governance import MACHINES\n"
            "from execfsm.governance.spec import spec_text\n"
            "print(spec_text(MACHINES), end='')\n"
        )
        texts = []
        for seed in ("1", "4242"):
            env = {**os.environ, "PYTHONHASHSEED": seed}
            done = subprocess.run(  # noqa: S603 - our own interpreter
                [sys.executable, "-c", script],
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
                env=env,
                cwd=ROOT,
            )
            texts.append(done.stdout)

        assert texts[0] == texts[1] == spec_text(MACHINES)
        assert texts[0] == (ROOT / "spec" / "machines.json").read_text()

    def test_code_without_source_gets_a_marked_stable_fingerprint(self) -> None:
        """A function made by exec and a builtin are marked, not a crash; twice the same."""
        namespace: dict[str, object] = {"__name__": "scratch_exec"}
        exec("def made(x=1):\n    return x > 0\n", namespace)  # noqa: S102 - the point
        texts = []
        for _ in range(2):
            index = CodeIndex({"scratch_exec"})
            made, builtin = index.root(namespace["made"]), index.root(len)
            texts.append((index.closure(made), index.closure(builtin)))

        assert texts[0] == texts[1]
        made_text = next(iter(texts[0][0].values()))
        assert made_text.startswith("<no source: scratch_exec:made; bytecode sha256 ")
        assert "builtins.len" in next(iter(texts[0][1].values()))

    def test_the_built_in_machines_share_a_guard_fingerprint(self) -> None:
        """A guard on two machines (quantity_positive on order and pipeline) has one
        fingerprint."""
        entries, _definitions = code_spec(MACHINES)

        order, pipeline = entries["order"], entries["pipeline"]
        assert (
            order["quantity_positive"]["fingerprint"]
            == pipeline["quantity_positive"]["fingerprint"]
        )
        assert order["prepare_event"]["fingerprint"] != pipeline["prepare_event"]["fingerprint"]


SESSION = """
from statemachine import State

from execfsm import AuditedMachine, ContractViolation, ReasonCode, describe


@describe("the credentials are accepted")
def credentials_accepted(accepted: bool = True) -> None:
    if not accepted:
        raise ContractViolation("refused", reason=ReasonCode.VALIDATION_INVALID_FIELD)


class Session(AuditedMachine):
    audit_machine = "session"

    down = State(initial=True)
    up = State()
    gone = State(final=True)

    logon = down.to(up, validators=credentials_accepted)
    drop = up.to(down) | down.to(gone)

    def after_logon(self) -> None:
        self.logged_on = True
"""


def _execfsm(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "execfsm"), *args]
    return subprocess.run(  # noqa: S603 - our own console script
        command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


class TestScratchProject:
    def test_a_users_machine_is_fingerprinted_and_a_changed_guard_fails_verify(
        self, tmp_path: Path
    ) -> None:
        """A project with its own machine beside the built-ins: `spec --write` fingerprints
        its guard and callback (the built-ins' entries as committed here), and an edited
        guard body fails `verify --project` naming the guard."""
        project = tmp_path / "desk"
        (project / "src" / "deskguards").mkdir(parents=True)
        (project / "src" / "deskguards" / "__init__.py").write_text("")
        session = project / "src" / "deskguards" / "session.py"
        session.write_text(SESSION)
        (project / "pyproject.toml").write_text(
            '[project]\nname = "deskguards"\nversion = "0.1"\n\n'
            '[tool.execfsm]\nmachines = ["deskguards.session:Session"]\nbuiltin = true\n'
        )
        shutil.copytree(ROOT / "spec", project / "spec")

        written = _execfsm(project, "spec", "--write")

        assert written.returncode == 0, written.stderr
        data = json.loads((project / "spec" / "machines.json").read_text())
        committed = json.loads((ROOT / "spec" / "machines.json").read_text())
        code = data["machines"]["session"]["code"]
        assert code["credentials_accepted"]["on"] == ["down --logon--> up"]
        assert code["after_logon"]["kind"] == "callback"
        for name in ("order", "pipeline", "contingent"):
            assert data["machines"][name]["code"] == committed["machines"][name]["code"]

        session.write_text(SESSION.replace("if not accepted:", "if accepted is None:"))
        verified = _execfsm(tmp_path, "verify", "--project", str(project), "--depth", "1")

        assert verified.returncode == 1
        assert "FAIL spec drift" in verified.stdout
        assert "session: validator credentials_accepted: code changed" in verified.stdout
        assert "+    if accepted is None:" in verified.stdout
        assert "order:" not in verified.stdout
