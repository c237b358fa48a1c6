"""
Review of issue 19's guard fingerprints (i19-g): changes to what a guard *does* that
`execfsm verify` (`execfsm.governance.spec.drift`) must report, because the reviewer relies on
the promise "a weakened guard cannot pass `execfsm verify`".

Each test makes one change, either to a temporary copy of execfsm (its built-in machines,
checked against the committed ``spec/``) or to a scratch package of the user's own, and
expects drift to name it. The changes leave each guard's own source alone: they change what
the guard runs or reads.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from execfsm.governance.spec import drift, write_spec

ROOT = Path(__file__).resolve().parent.parent

# -- the built-in machines, changed in a temporary copy of execfsm ----------------------------

_DRIFT = """
from pathlib import Path
from execfsm.governance import MACHINES
from execfsm.governance.spec import drift
for line in drift(Path({spec!r}), MACHINES):
    print(line)
"""


def _builtin_drift(tmp_path: Path, relative: str, old: str, new: str) -> list[str]:
    """Copy execfsm, replace `old` by `new` in one of its files, and diff the built-in
    machines against the committed spec in a fresh interpreter importing the copy."""
    return _edited_drift(tmp_path, (relative, old, new))


def _edited_drift(tmp_path: Path, *edits: tuple[str, str, str]) -> list[str]:
    """`_builtin_drift` with several edits (file relative to execfsm, old, new), in order."""
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "src" / "execfsm", copy / "execfsm")
    for relative, old, new in edits:
        path = copy / "execfsm" / relative
        source = path.read_text()
        assert old in source, old
        path.write_text(source.replace(old, new, 1))
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", _DRIFT.format(spec=str(ROOT / "spec"))],
        env={**os.environ, "PYTHONPATH": str(copy)},
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_baseline_the_unchanged_copy_has_no_drift(tmp_path: Path) -> None:
    """The harness itself: an untouched copy of execfsm matches the committed spec (so the
    spec does not depend on the install path)."""
    assert _builtin_drift(tmp_path, "enums.py", "from", "from") == []


def test_a_weakened_live_policy_check_fails_verify(tmp_path: Path) -> None:
    """
    `live_execution_permitted` (P1's guard on the only edge into DISPATCH) calls
    ``route.live_policy.is_active(route.now)``. `Route` is fingerprinted, but `LivePolicy`,
    which only `Route`'s field annotation names, is not: making ``is_active`` always true lets
    LIVE dispatch with an expired or anonymous policy. A reviewer relies on verify naming
    ``live_execution_permitted`` with a diff of ``LivePolicy.is_active``.
    """
    lines = _builtin_drift(
        tmp_path,
        "contracts.py",
        "return bool(self.approved_by.strip()) and now < self.expires_at",
        "return True",
    )

    assert any("live_execution_permitted: code changed" in line for line in lines), lines
    assert any("return True" in line for line in lines), lines


def test_a_reached_constant_rebound_from_another_module_fails_verify(tmp_path: Path) -> None:
    """
    ``MAX_DECIMAL_PLACES`` is fingerprinted by the statement that assigns it in
    `execfsm.fsm.guards` (``= 12``). A module that rebinds it at import
    (``g.MAX_DECIMAL_PLACES = 40`` at the bottom of `execfsm.fsm.order`) changes what
    `amounts_bounded` refuses; the spec still shows ``MAX_DECIMAL_PLACES = 12``. A reviewer
    relies on verify naming `amounts_bounded`.
    """
    lines = _builtin_drift(
        tmp_path,
        "fsm/order.py",
        "OrderLifecycle.cases = ORDER_CASES",
        "OrderLifecycle.cases = ORDER_CASES\ng.MAX_DECIMAL_PLACES = 40\n",
    )

    assert any("amounts_bounded: code changed" in line for line in lines), lines


def test_the_decimal_context_set_at_import_fails_verify(tmp_path: Path) -> None:
    """
    `fill_completes` decides FILLED by ``quantity == order.quantity - order.filled_quantity``,
    exact only under the default decimal context (28 digits). A line in execfsm's own code
    that sets ``decimal.getcontext().prec = 3`` at import changes which fill completes an
    order; it is execfsm code, not the environment. A reviewer relies on verify failing.
    """
    lines = _builtin_drift(
        tmp_path,
        "fsm/order.py",
        "OrderLifecycle.cases = ORDER_CASES",
        "OrderLifecycle.cases = ORDER_CASES\nimport decimal\ndecimal.getcontext().prec = 3\n",
    )

    assert lines != [], "a changed decimal context passes verify"


def test_a_weakened_p1_statement_fails_verify(tmp_path: Path) -> None:
    """
    `execfsm verify` proves P1 "no path reaches DISPATCH in LIVE_BLOCKED, ..." with
    `builtin_properties.dispatch_allowed`. Dropping the LIVE_BLOCKED clause from it leaves
    P1's text and its PASS line the same while the check no longer states it: a later
    weakened guard would then be "proved" safe. Neither the property code nor the exploration
    is in the spec. A reviewer relies on verify reporting the changed statement.
    """
    lines = _builtin_drift(
        tmp_path,
        "fsm/builtin_properties.py",
        "if route is None or route.mode is ExecutionMode.LIVE_BLOCKED:\n        return False",
        "if route is None:\n        return False",
    )

    assert lines != [], "a weakened P1 statement passes verify"


# -- a user's machine, in a scratch package -------------------------------------------------

PACKAGE = "review19g"

HELPERS = """
LIMIT = 10

TABLE = {"most": 10}


class Box:
    def __init__(self, size: int) -> None:
        self.size = size

    def fits(self) -> bool:
        return self.size < 10
"""

MACHINE = """
from statemachine import State

from execfsm import AuditedMachine, describe
from review19g import helpers
from review19g.helpers import LIMIT, TABLE, Box


@describe("the quantity is within the limit")
def within_limit(quantity: int = 1) -> bool:
    return quantity <= LIMIT


@describe("the quantity is within the table's limit")
def within_table(quantity: int = 1) -> bool:
    return quantity <= TABLE["most"]


@describe("the quantity is within the limit, read by name")
def within_named(quantity: int = 1) -> bool:
    return quantity <= getattr(helpers, "LIMIT")


@describe("the box fits")
def box_fits(box: Box | None = None) -> bool:
    return box is None or box.fits()


class Ticket(AuditedMachine):
    audit_machine = "review_ticket"

    new = State(initial=True)
    open = State()
    done = State(final=True)

    submit = new.to(open, cond=[within_limit, within_table, within_named, box_fits])
    close = open.to(done, cond="under_cap") | open.to(open)

    def __init__(self, *args, **kwargs) -> None:
        self.cap = 5
        super().__init__(*args, **kwargs)

    @describe("the quantity is under the machine's cap")
    def under_cap(self, quantity: int = 1) -> bool:
        return quantity <= self.cap
"""


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


def _edit(source: str, old: str, new: str) -> str:
    assert old in source, old
    return source.replace(old, new, 1)


def _drift_after(scratch: Scratch, tmp_path: Path, **changed: str) -> list[str]:
    """Write the spec of the original scratch machine, load the changed one, and diff."""
    first = scratch.load()
    write_spec(tmp_path / "spec", {"review_ticket": first.Ticket})
    second = scratch.load(**changed)
    return drift(tmp_path / "spec", {"review_ticket": second.Ticket})


def _names(lines: list[str], guard: str) -> bool:
    return any(f" {guard}: code changed" in line for line in lines)


def test_scratch_baseline_unchanged_has_no_drift(scratch: Scratch, tmp_path: Path) -> None:
    """The harness: loading the same scratch package again is no drift."""
    assert _drift_after(scratch, tmp_path) == []


def test_a_table_entry_set_below_its_assignment_fails(scratch: Scratch, tmp_path: Path) -> None:
    """
    A module-level ``TABLE["most"] = 10**9`` after ``TABLE = {"most": 10}`` (a subscript
    target, not a name) is not among the statements that "assign" TABLE, so the spec keeps
    ``TABLE = {'most': 10}`` while `within_table` now allows a billion.
    """
    changed = HELPERS + '\nTABLE["most"] = 10 ** 9\n'

    lines = _drift_after(scratch, tmp_path, helpers=changed)

    assert _names(lines, "within_table"), lines


def test_a_constant_rebound_by_another_module_fails(scratch: Scratch, tmp_path: Path) -> None:
    """
    ``helpers.LIMIT = 10**9`` at the bottom of the machine's module changes what
    `within_limit` and `within_named` allow; the spec keeps ``LIMIT = 10`` from helpers.py.
    """
    changed = MACHINE + "\nhelpers.LIMIT = 10 ** 9\n"

    lines = _drift_after(scratch, tmp_path, machine=changed)

    assert _names(lines, "within_named"), lines


def test_an_imported_constant_shadowed_below_fails(scratch: Scratch, tmp_path: Path) -> None:
    """
    ``from review19g.helpers import LIMIT`` and, further down the same module,
    ``LIMIT = 10**9``: the guard reads the second, but the binding is followed through the
    import to helpers.py's ``LIMIT = 10``, the later assignment ignored.
    """
    changed = _edit(
        MACHINE,
        '@describe("the quantity is within the limit")',
        'LIMIT = 10 ** 9\n\n\n@describe("the quantity is within the limit")',
    )

    lines = _drift_after(scratch, tmp_path, machine=changed)

    assert _names(lines, "within_limit"), lines


def test_a_constant_read_through_getattr_fails(scratch: Scratch, tmp_path: Path) -> None:
    """
    `within_named` reads ``getattr(helpers, "LIMIT")``: a changed LIMIT changes it, like
    `within_limit`. A reviewer relies on both being named.
    """
    changed = _edit(HELPERS, "LIMIT = 10", "LIMIT = 10 ** 9")

    lines = _drift_after(scratch, tmp_path, helpers=changed)

    assert _names(lines, "within_limit"), lines
    assert _names(lines, "within_named"), lines


def test_an_instance_attribute_set_in_init_fails(scratch: Scratch, tmp_path: Path) -> None:
    """
    `under_cap` reads ``self.cap``, which the machine's ``__init__`` sets (no class attribute,
    no annotation). Raising the cap in ``__init__`` weakens the guard.
    """
    changed = _edit(MACHINE, "self.cap = 5", "self.cap = 10 ** 9")

    lines = _drift_after(scratch, tmp_path, machine=changed)

    assert _names(lines, "under_cap"), lines


def test_a_method_replaced_after_its_class_fails(scratch: Scratch, tmp_path: Path) -> None:
    """
    `box_fits` calls ``box.fits()`` on its annotated parameter; `Box` is fingerprinted by its
    class statement only. ``Box.fits = lambda self: True`` below it changes what runs.
    """
    changed = HELPERS + "\nBox.fits = lambda self: True\n"

    lines = _drift_after(scratch, tmp_path, helpers=changed)

    assert _names(lines, "box_fits"), lines


def test_a_narrowed_p1_exploration_fails_verify(tmp_path: Path) -> None:
    """
    P1 is proved over the routes `builtin_properties` builds from ``_POLICIES``. Dropping the
    expired and anonymous policies from it leaves only "no policy" and "active" to explore:
    P1 still PASSes (fewer configurations), so a later weakened ``is_active`` (hole above) or
    guard would never be exercised on an expired policy. The exploration is not in the spec.
    A reviewer relies on verify reporting that what P1 is proved over changed.
    """
    lines = _builtin_drift(
        tmp_path,
        "fsm/builtin_properties.py",
        '    "expired": LivePolicy("risk-officer", "verify", _NOW - timedelta(seconds=1)),\n'
        '    "anonymous": _anonymous,\n',
        "",
    )

    assert lines != [], "a narrowed P1 exploration passes verify"


def test_a_machine_state_set_in_init_that_guards_are_given_fails_verify(tmp_path: Path) -> None:
    """
    `fill_id_unused` is given ``seen_fills`` by `OrderLifecycle.guard_context`, which is
    fingerprinted and reads ``self._fills``; ``OrderLifecycle.__init__`` sets it (``= {}``)
    and is not. Setting it to a mapping whose ``get`` never finds anything turns the guard
    off (a re-used fill id is never refused by it), with every fingerprint unchanged. A
    reviewer relies on verify naming `fill_id_unused` (or `guard_context`).
    """
    blind = "class _Blind(dict):\n    def get(self, key, default=None):\n        return None\n\n\n"
    lines = _edited_drift(
        tmp_path,
        ("fsm/order.py", "class OrderLifecycle(", blind + "class OrderLifecycle("),
        (
            "fsm/order.py",
            "self._fills: dict[str, Fill] = {}",
            "self._fills: dict[str, Fill] = _Blind()",
        ),
    )

    assert lines != [], "a blind seen-fills mapping passes verify"
