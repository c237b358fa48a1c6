"""
Review of issue 19 (governance evidence): ``execfsm verify --diff DIR`` and ``execfsm diagrams
--trail/--db``, attacked as a hostile user, a reviewer sneaking a change past review, and an
operator in an incident. Each test is one defect; each fails on the code as reviewed.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from statemachine import State

from execfsm import (
    AuditedMachine,
    AuditLog,
    EventKind,
    ExecutionEvent,
    Fill,
    OrderIntent,
    SteppingClock,
    describe,
)
from execfsm.cli import main
from execfsm.clock import EPOCH
from execfsm.contingent import ContingentGroup, TriggerMode
from execfsm.demo import run_demo
from execfsm.diagrams.diff import diff_machine, summary_lines, write_diff
from execfsm.diagrams.traffic import count_traffic, traffic_digraph, write_traffic
from execfsm.fsm.model import MachineModel
from execfsm.governance import MACHINES
from execfsm.governance.spec import machine_spec
from execfsm.ledger.audit import record_hash
from execfsm.registry import known_machines
from execfsm.testing import paper_orchestrator


def _spec(machine: type[AuditedMachine]) -> dict[str, Any]:
    return machine_spec(MachineModel.from_machine(machine))


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "execfsm"), *args]
    return subprocess.run(  # noqa: S603 - our own console script
        command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def _project(root: Path, module: str, source: str) -> None:
    """A project of one machine of our own (execfsm's own left out: verify stays quick)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f'[tool.execfsm]\nmachines = ["{module}:M"]\nbuiltin = false\n', encoding="utf-8"
    )
    (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")


def _outside_code_spans(markdown: str) -> str:
    """The text of `markdown` outside its inline code spans, by CommonMark's rule: a run of
    n backticks opens a span that the next run of exactly n backticks closes; a run with no
    such closer is literal text."""
    outside: list[str] = []
    i = 0
    while i < len(markdown):
        if markdown[i] != "`":
            outside.append(markdown[i])
            i += 1
            continue
        j = i
        while j < len(markdown) and markdown[j] == "`":
            j += 1
        run = j - i
        closer = None
        for match in re.finditer(r"`+", markdown[j:]):
            if len(match.group()) == run:
                closer = j + match.end()
                break
        if closer is None:
            outside.append(markdown[i:j])
            i = j
        else:
            i = closer
    return "".join(outside)


# -- verify --diff ---------------------------------------------------------------------------


@describe("the amount is small")
def rv19e_small(amount: int = 1) -> bool:
    return amount < 10


@describe("the amount is large")
def rv19e_large(amount: int = 1) -> bool:
    return amount >= 10


class TwiceBefore(AuditedMachine):
    """a --go--> b declared twice, each guarded; b --back--> a guarded by the first guard."""

    audit_machine = "rv19etwice"

    a = State(initial=True)
    b = State()
    c = State(final=True)

    go = a.to(b, cond=rv19e_small) | a.to(b, cond=rv19e_large)
    back = b.to(a, cond=rv19e_small)
    end = b.to(c)


class TwiceAfter(AuditedMachine):
    """The same, with the guard of the first a --go--> b dropped: go from a is now free."""

    audit_machine = "rv19etwice"

    a = State(initial=True)
    b = State()
    c = State(final=True)

    go = a.to(b) | a.to(b, cond=rv19e_large)
    back = b.to(a, cond=rv19e_small)
    end = b.to(c)


def test_diff_shows_a_guard_dropped_from_an_edge_declared_twice() -> None:
    """An edge declared twice (same source, event, target, other guards): dropping the guard
    of one copy makes `go` unguarded. The reviewer expects the diff summary to name the
    changed edge `a --go--> b`, not "the same entries in another order" (the picture, too,
    draws only one a->b edge, grey)."""
    committed = _spec(TwiceBefore)
    committed["name"] = "TwiceAfter"  # only the guard differs
    diff = diff_machine("rv19etwice", committed, _spec(TwiceAfter))
    text = "\n".join(summary_lines(diff, None))

    assert diff.changed
    assert "a --go--> b" in text, text
    assert "another order" not in text, text


def test_diff_shows_a_guard_description_changed_past_sixty_characters() -> None:
    """The policy guard's description changes in its last words ("LIVE_BLOCKED never
    dispatches" was "LIVE_BLOCKED dispatches after review"). The reviewer expects the
    summary's old -> new to show the difference, not the same cut text on both sides."""
    current = _spec(MACHINES["pipeline"])
    text = current["guards"]["live_execution_permitted"]
    assert text.endswith("LIVE_BLOCKED never dispatches")
    committed = copy.deepcopy(current)
    committed["guards"]["live_execution_permitted"] = text.replace(
        "LIVE_BLOCKED never dispatches", "LIVE_BLOCKED dispatches after review"
    )
    lines = summary_lines(diff_machine("pipeline", committed, current), None)
    guard = [line for line in lines if "live_execution_permitted" in line]

    assert guard, lines
    assert "after review" in guard[0], guard[0]


MACHINE_V1 = """
from statemachine import State
from execfsm import AuditedMachine


class M(AuditedMachine):
    audit_machine = "rv19espec"
    a = State(initial=True)
    b = State(final=True)
    go = a.to(b)
"""

MACHINE_V2 = MACHINE_V1.replace(
    "    go = a.to(b)", "    c = State()\n    go = a.to(b)\n    hop = a.to(c)\n    on = c.to(b)"
)


def test_diff_into_the_spec_folder_does_not_overwrite_the_committed_spec(tmp_path: Path) -> None:
    """``verify --diff spec`` (DIR being the spec folder): the user expects the committed
    spec files to be left as they are (or the folder refused); instead the diff's
    ``rv19espec.dot`` overwrites the committed normalised ``spec/rv19espec.dot``."""
    _project(tmp_path, "rv19espec_m", MACHINE_V1)
    assert _cli(tmp_path, "spec", "--write").returncode == 0
    committed = {p.name: p.read_bytes() for p in (tmp_path / "spec").iterdir()}
    (tmp_path / "rv19espec_m.py").write_text(textwrap.dedent(MACHINE_V2), encoding="utf-8")

    result = _cli(tmp_path, "verify", "--diff", "spec")

    assert "Traceback" not in result.stderr, result.stderr
    after = {name: (tmp_path / "spec" / name).read_bytes() for name in committed}
    assert after == committed, "verify --diff rewrote a committed spec file"


def test_diff_on_a_spec_whose_machine_entry_is_not_an_object_is_a_message(
    tmp_path: Path,
) -> None:
    """A committed spec whose machine entry is a list (a bad merge, a hand edit): the user
    expects one line naming machines.json and exit 1 or 2, not an AttributeError traceback."""
    _project(tmp_path, "rv19ebad_m", MACHINE_V1.replace("rv19espec", "rv19ebad"))
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "machines.json").write_text('{"machines": {"rv19ebad": []}}\n')

    result = _cli(tmp_path, "verify", "--diff", "out")

    assert "Traceback" not in result.stderr, result.stderr[-600:]
    assert result.returncode in (1, 2)
    assert "machines.json" in result.stdout + result.stderr


def test_diff_of_a_machine_named_with_a_trailing_backslash_is_drawn(tmp_path: Path) -> None:
    """The committed spec (data a pull request can edit) holds a machine ``old\\`` that the
    declaration no longer has. Its name is the DOT graph's name, unescaped: ``digraph "old\\"``
    swallows the rest of the line, dot fails, and ``verify --diff`` dies with a traceback.
    The user expects the removed machine drawn (or a one-line message), never a traceback."""
    _project(tmp_path, "rv19ebs_m", MACHINE_V1.replace("rv19espec", "rv19ebs"))
    assert _cli(tmp_path, "spec", "--write").returncode == 0
    path = tmp_path / "spec" / "machines.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["machines"]["old\\"] = copy.deepcopy(data["machines"]["rv19ebs"])
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    result = _cli(tmp_path, "verify", "--diff", "out")

    assert "Traceback" not in result.stderr, result.stderr[-800:]
    assert result.returncode == 1  # drift: a machine removed


class MdBase(AuditedMachine):
    audit_machine = "rv19emd"

    a = State(initial=True)
    z = State(final=True)

    go = a.to(z)


class MdChanged(AuditedMachine):
    """Two added states whose names would be Markdown if pasted raw."""

    audit_machine = "rv19emd"

    a = State(initial=True)
    z = State(final=True)
    sneaky = State(value="x` <!-- the rest of the comment is hidden")
    split = State(value="y\n## injected heading")

    go = a.to(z)
    hop = a.to(sneaky)
    on = sneaky.to(split)
    off = split.to(z)


def test_diff_summary_shows_names_as_text_not_markdown(tmp_path: Path) -> None:
    """summary.md is posted on the pull request. A user's state names must show as text:
    a name with a newline must not start a heading, and a name with a backtick must not close
    its code span and open an HTML comment that hides the rest of the summary."""
    write_diff(tmp_path / "d", {"rv19emd": _spec(MdBase)}, {"rv19emd": MdChanged})
    text = (tmp_path / "d" / "summary.md").read_text(encoding="utf-8")

    assert not [line for line in text.splitlines() if line.startswith("## injected")], text
    assert "<!--" not in _outside_code_spans(text), text


def test_diff_writes_only_into_dir_whatever_the_committed_spec_names(tmp_path: Path) -> None:
    """The committed spec is data a pull request can edit. A machine in it named
    ``../escaped`` or by an absolute path (removed from the declaration) must not make
    ``verify --diff DIR`` write outside DIR; the user expects every file inside DIR."""
    committed = {name: _spec(cls) for name, cls in MACHINES.items()}
    committed["../escaped"] = copy.deepcopy(committed["pipeline"])
    committed[str(tmp_path / "absolute")] = copy.deepcopy(committed["pipeline"])
    out = tmp_path / "ci" / "out"

    written, _ = write_diff(out, committed, MACHINES)

    outside = [p for p in written if out.resolve() not in p.resolve().parents]
    assert outside == [], outside
    assert not (tmp_path / "ci" / "escaped.dot").exists()
    assert not (tmp_path / "absolute.dot").exists()


# -- diagrams --trail / --db -------------------------------------------------------------------


class MdHeld(AuditedMachine):
    audit_machine = "rv19eheld"

    start = State(initial=True)
    split = State(value="waiting\n# injected heading")
    sneaky = State(value="<!-- everything after this is hidden")
    done = State(final=True)

    one = start.to(split)
    two = start.to(sneaky)
    finish = split.to(done) | sneaky.to(done)


def test_trail_summary_shows_state_names_as_text_not_markdown(tmp_path: Path) -> None:
    """The trail summary names the states instances are held in. An operator pasting it into
    an incident ticket expects the names as text: no heading started by a newline in a name,
    no HTML comment opened by a name."""
    log = AuditLog(SteppingClock(EPOCH))
    MdHeld(log, correlation_id="i1").send("one")
    MdHeld(log, correlation_id="i2").send("two")
    write_traffic(tmp_path / "t", log.records, {"rv19eheld": MdHeld}, formats=())
    text = (tmp_path / "t" / "summary.md").read_text(encoding="utf-8")

    assert not [line for line in text.splitlines() if line.startswith("# injected")], text
    assert "<!--" not in _outside_code_spans(text), text


CRASH_SCRIPT = """
import os
import sys
from decimal import Decimal

from execfsm import OrderIntent, SimulatedVenue, SqliteStore, SystemClock
from execfsm.testing import paper_orchestrator


class Dying(SimulatedVenue):
    def submit(self, order, idempotency_key):
        if order.quantity == Decimal(3):
            os._exit(9)  # the process dies inside the venue call
        return super().submit(order, idempotency_key)


clock = SystemClock()
orch = paper_orchestrator(Dying(clock), clock=clock, store=SqliteStore(sys.argv[1]))
orch.submit_intent(OrderIntent("BTC/EUR", "BUY", Decimal(1), "MARKET", "t", intent_id="a"))
orch.submit_intent(OrderIntent("BTC/EUR", "BUY", Decimal(3), "MARKET", "t", intent_id="b"))
"""


def test_db_of_a_crash_mid_dispatch_draws_the_order_flagged_as_recover_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The process died inside the venue call. ``recover --db`` lists the order in flight
    with DISPATCH_OUTCOME_UNKNOWN. The README says ``diagrams --db`` takes recovery's view and
    draws such an order red (flagged); the operator expects it flagged and named in the
    summary, before anyone runs recovery. It is drawn held but not flagged."""
    script = tmp_path / "crash.py"
    script.write_text(CRASH_SCRIPT, encoding="utf-8")
    db = tmp_path / "crash.db"
    died = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(script), str(db)], capture_output=True, timeout=120, check=False
    )
    assert died.returncode == 9, died.stderr
    monkeypatch.chdir(tmp_path)

    assert main(["diagrams", "--db", str(db), "--out", str(tmp_path / "t")]) == 0
    out = capsys.readouterr().out
    order_line = next(line for line in out.splitlines() if line.startswith("order:"))
    summary = (tmp_path / "t" / "summary.md").read_text(encoding="utf-8")

    assert "1 SUBMITTED" in order_line, out
    assert "(1 flagged)" in order_line, out
    assert "DISPATCH_OUTCOME_UNKNOWN" in summary, summary


class RestingVenue:
    """Acknowledges every order and cancel; fills only when told to (the README's venue)."""

    name = "resting"

    def set_event_sink(self, sink: Any) -> None:
        self.sink = sink

    def submit(self, order: Any, idempotency_key: str) -> list[ExecutionEvent]:
        return [
            ExecutionEvent(
                EventKind.ACK,
                f"ack-{order.client_order_id}",
                order.client_order_id,
                order.correlation_id,
                EPOCH,
            )
        ]

    def cancel(self, order: Any) -> list[ExecutionEvent]:
        return [
            ExecutionEvent(
                EventKind.CANCEL_ACK,
                f"cxl-{order.client_order_id}",
                order.client_order_id,
                order.correlation_id,
                EPOCH,
            )
        ]


def test_a_completed_contingent_group_is_not_held() -> None:
    """The README's OCO: the stop loss fills, the take profit is cancelled, the group is DONE
    ("a group whose legs all ended has ended"). Its legs are drawn ended (CANCELLED, FILLED);
    the operator expects the group ended too, not "1 held: DONE" outlined as if stuck."""
    sell = {
        p: OrderIntent("BTC/EUR", "SELL", Decimal(1), "LIMIT", "x", limit_price=Decimal(p))
        for p in ("110", "90")
    }
    orch = paper_orchestrator(RestingVenue())
    status = orch.submit_group(
        ContingentGroup.oco("rv19e-exit", sell["110"], sell["90"], mode=TriggerMode.FULL)
    )
    _, stop_loss = status.legs.values()
    orch.handle_event(
        ExecutionEvent(
            EventKind.FILL,
            "f-1",
            stop_loss.client_order_id,
            stop_loss.correlation_id,
            EPOCH,
            fill=Fill("t-1", Decimal(1), Decimal(90)),
        )
    )
    assert str(orch.contingent.status("rv19e-exit").state) == "DONE"
    traffic = count_traffic(orch.audit_log.records, known_machines())

    assert traffic["order"].held == {}
    assert traffic["contingent"].held == {}, traffic["contingent"].held


class TwiceTraffic(AuditedMachine):
    """a --go--> b declared twice: [small] or [large]."""

    audit_machine = "rv19etraffic"

    a = State(initial=True)
    b = State(final=True)

    go = a.to(b, cond=rv19e_small) | a.to(b, cond=rv19e_large)


def test_counts_on_an_edge_declared_twice_add_up_to_the_moves() -> None:
    """Three instances go a -> b, all with a small amount (the [large] edge is never taken).
    The operator expects the counts on the picture to add up to the 3 moves; each copy of
    the edge is drawn "3x", 6 in all, the untaken [large] one included."""
    log = AuditLog(SteppingClock(EPOCH))
    for n in range(3):
        TwiceTraffic(log, correlation_id=f"i{n}").send("go", amount=1)
    traffic = count_traffic(log.records, {"rv19etraffic": TwiceTraffic})["rv19etraffic"]
    dot = traffic_digraph("rv19etraffic", MachineModel.from_machine(TwiceTraffic), traffic).source
    drawn = [int(n) for n in re.findall(r'label="(\d+)x', dot)]

    assert traffic.moves == 3
    assert sum(drawn) == 3, dot


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rv19e-demo")
    run_demo(out)
    return out


def test_overlapping_trails_count_each_record_once(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--trail`` is repeatable. An operator passes two exports of one store taken at
    different times (the first a prefix of the second). Each verifies, but the moves of the
    first 40 records are counted twice: the counts are not the machines' history, and nothing
    says so. The user expects each record counted once, or the overlap refused (exit != 0)."""
    full = demo / "audit.jsonl"
    early = tmp_path / "early.jsonl"
    early.write_text("".join(full.read_text(encoding="utf-8").splitlines(True)[:40]))
    monkeypatch.chdir(tmp_path)

    assert main(["diagrams", "--trail", str(full), "--out", str(tmp_path / "one")]) == 0
    alone = [line for line in capsys.readouterr().out.splitlines() if ": " in line][:3]
    code = main(
        ["diagrams", "--trail", str(early), "--trail", str(full), "--out", str(tmp_path / "two")]
    )
    both = [line for line in capsys.readouterr().out.splitlines() if ": " in line][:3]

    assert code != 0 or both == alone, (alone, both)


def test_force_with_an_unknown_machine_still_reports_an_illegal_move(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-hashed trail whose FILLED order is acknowledged again from SUBMITTED (illegal
    there), followed by one record of an unregistered machine. With ``--force`` the README
    promises the failure in red atop the summary; the operator expects the illegal record
    named. Only the unknown machine is warned about ("its records are left out"), and the
    order is drawn held in ACKNOWLEDGED as if the move were legal."""
    rows = [json.loads(line) for line in (demo / "audit.jsonl").read_text().splitlines()]
    filled = next(r for r in rows if r["machine"] == "order" and r["target"] == "FILLED")
    ack = next(
        r
        for r in rows
        if r["event"] == "acknowledge" and r["client_order_id"] == filled["client_order_id"]
    )
    forged = {**ack, "seq": rows[-1]["seq"] + 1}
    ghost = {**rows[-1], "machine": "rv19eghost", "seq": forged["seq"] + 1}
    rows += [forged, ghost]
    prev = rows[0]["hash"]
    for row in rows[1:]:
        row["prev_hash"] = prev
        row["hash"] = prev = record_hash(row)
    trail = tmp_path / "forged.jsonl"
    trail.write_text(
        "".join(
            json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
            for r in rows
        ),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)

    code = main(["diagrams", "--trail", str(trail), "--out", str(tmp_path / "t"), "--force"])
    summary = (tmp_path / "t" / "summary.md").read_text(encoding="utf-8")

    assert code == 1
    assert "rv19eghost" in summary
    assert f"seq {forged['seq']}" in summary, summary[:600]


class Settlement(AuditedMachine):
    """A user's machine whose middle state happens to be called COMPLETED: a trade completed
    at the venue waits there for settlement."""

    audit_machine = "rv19esettle"

    PENDING = State(initial=True)
    COMPLETED = State()
    SETTLED = State(final=True)

    complete = PENDING.to(COMPLETED)
    settle = COMPLETED.to(SETTLED)


def test_a_user_machine_instance_waiting_in_a_state_named_completed_is_held() -> None:
    """Whether an instance is held is read from the state's *name* (FILLED and COMPLETED
    count as ended), not from the user's declaration. Two trades wait in the non-final
    COMPLETED for settlement: recovery's view (`instance_states`) has them there, and the
    operator expects "2 held: COMPLETED"; the diagram says none held and "2 ended here"."""
    log = AuditLog(SteppingClock(EPOCH))
    for n in range(2):
        Settlement(log, correlation_id=f"trade-{n}").send("complete")
    traffic = count_traffic(log.records, {"rv19esettle": Settlement})["rv19esettle"]

    assert traffic.held == {"COMPLETED": 2}, (traffic.held, traffic.finished)


def test_an_unreadable_spec_leaves_no_stale_summary(tmp_path: Path) -> None:
    """``verify --diff out`` once on a clean tree (summary: no change), then again after a
    merge left conflict markers in spec/machines.json. The second run writes "no diff
    written", and out/summary.md still says "no change" from the first run: what a reviewer
    (or the README's CI step, posting out/summary.md) reads is not this run's result. The
    user expects summary.md to say the committed spec is unreadable, or be gone."""
    _project(tmp_path, "rv19estale_m", MACHINE_V1.replace("rv19espec", "rv19estale"))
    assert _cli(tmp_path, "spec", "--write").returncode == 0
    assert _cli(tmp_path, "verify", "--diff", "out").returncode == 0
    assert "no change" in (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    spec = tmp_path / "spec" / "machines.json"
    spec.write_text("<<<<<<< HEAD\n" + spec.read_text(encoding="utf-8") + "=======\n>>>>>>> b\n")

    result = _cli(tmp_path, "verify", "--diff", "out")

    assert result.returncode == 1, result.stdout
    summary = tmp_path / "out" / "summary.md"
    assert not summary.exists() or "no change" not in summary.read_text(encoding="utf-8")


def test_demo_whose_trail_folder_is_a_file_is_a_message(tmp_path: Path) -> None:
    """``execfsm demo --out X`` where X/trail is a file (say, an earlier export named
    so): the user expects one line naming X/trail and exit 2, as the other commands say
    "cannot write into ..."; the demo ends in a FileExistsError traceback instead."""
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "trail").write_text("not a folder\n", encoding="utf-8")

    result = _cli(tmp_path, "demo", "--out", "x")

    assert "Traceback" not in result.stderr, result.stderr[-600:]
    assert result.returncode == 2
    assert "trail" in result.stderr


def test_an_added_machine_shows_its_case_rows() -> None:
    """A case row added to a machine in the spec is listed ("case added: ..."), but a machine
    added whole lists none of its case rows, in the summary or the picture: a new machine
    whose table accepts, say, a fill in any state without a flag passes review unseen. The
    reviewer expects every case row of an added machine named (its reason at least)."""
    current = _spec(MACHINES["order"])
    assert current["cases"]
    diff = diff_machine("order", None, current)
    text = "\n".join(summary_lines(diff, None))

    missing = sorted({c["reason"] for c in current["cases"]} - set(re.findall(r"[A-Z_]+", text)))
    assert missing == [], text[:400]
