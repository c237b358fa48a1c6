"""
Diagram diffs for review (`execfsm.diagrams.diff`, ``execfsm verify --diff``).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from execfsm.diagrams.diff import (
    ADDED,
    CHANGED,
    REMOVED,
    diff_digraph,
    diff_machine,
    diff_machines,
    summary_lines,
    write_diff,
)
from execfsm.governance import MACHINES
from execfsm.governance.spec import spec_data

SPEC_DIR = Path(__file__).resolve().parent.parent / "spec"
ALLOW_TEXT = "leaving the risk gate needs an ALLOW decision"


def _declared(name: str) -> dict[str, Any]:
    """The machine's entry as ``spec --write`` writes it (its guards' code included)."""
    entry: dict[str, Any] = spec_data(MACHINES)["machines"][name]
    return entry


def _committed_before_the_change() -> dict[str, Any]:
    """The pipeline as a reviewer's base branch had it: no PAUSED --abandon--> BLOCKED edge
    (so the declaration adds it), a state OLD_STATE with an edge into it (so the declaration
    removes them), and another description of ``risk_allows`` (so it changed)."""
    spec = copy.deepcopy(_declared("pipeline"))
    spec["transitions"] = [
        t for t in spec["transitions"] if (t["source"], t["event"]) != ("PAUSED", "abandon")
    ]
    spec["states"].append({"name": "OLD_STATE", "initial": False, "final": False})
    spec["transitions"].append(
        {
            "source": "ROUTING",
            "event": "legacy",
            "target": "OLD_STATE",
            "conds": [],
            "unless": [],
            "validators": [],
        }
    )
    spec["guards"]["risk_allows"] = "the risk hook said yes"
    return spec


class TestComparison:
    def test_added_edge_removed_state_and_changed_guard_are_found(self) -> None:
        """Each kind of change is reported where it belongs."""
        diff = diff_machine("pipeline", _committed_before_the_change(), _declared("pipeline"))

        assert diff.transitions_added == (("PAUSED", "abandon", "BLOCKED"),)
        assert diff.states_removed == ("OLD_STATE",)
        assert diff.transitions_removed == (("ROUTING", "legacy", "OLD_STATE"),)
        assert [(g.name, g.fields) for g in diff.guards_changed] == [
            ("risk_allows", (("description", "the risk hook said yes", ALLOW_TEXT),))
        ]
        assert diff.changed

    def test_identical_specs_are_no_change(self) -> None:
        """The declared machine against its own spec: nothing differs."""
        diff = diff_machine("order", _declared("order"), _declared("order"))

        assert not diff.changed
        assert diff.guards_changed == diff.transitions_changed == ()

    @pytest.mark.parametrize("layout", ["inline", "table"])
    def test_any_other_per_guard_field_that_differs_is_a_changed_guard(self, layout: str) -> None:
        """A code fingerprint, inside the guard's entry or in a table of its own, that
        differs makes the guard changed, naming the field."""
        old, new = _declared("pipeline"), _declared("pipeline")
        for spec, digest in ((old, "aaa"), (new, "bbb")):
            if layout == "inline":
                spec["guards"]["risk_allows"] = {"description": ALLOW_TEXT, "code_hash": digest}
            else:
                spec["fingerprints"] = {"risk_allows": {"code_hash": digest, "source": "x"}}

        diff = diff_machine("pipeline", old, new)

        field = "code_hash" if layout == "inline" else "fingerprints.code_hash"
        assert [(g.name, g.fields) for g in diff.guards_changed] == [
            ("risk_allows", ((field, "aaa", "bbb"),))
        ]
        assert diff.other == ()

    def test_a_machine_missing_from_the_spec_is_added(self) -> None:
        """No committed spec: every machine is new."""
        diffs = diff_machines(None, {"order": MACHINES["order"]})

        assert [(d.machine, d.committed, d.changed) for d in diffs] == [("order", None, True)]

    def test_a_machine_only_the_spec_has_is_removed_and_drawn_red(self) -> None:
        """A machine dropped from the declarations: every state and edge red and dashed."""
        committed = {"order": _declared("order"), "gone": _declared("pipeline")}

        diffs = diff_machines(committed, {"order": MACHINES["order"]})

        gone = diffs[-1]
        assert (gone.machine, gone.current, gone.changed) == ("gone", None, True)
        dot = diff_digraph(gone).source
        assert f'color="{ADDED}"' not in dot
        assert len(re.findall(f'(?<!font)color="{REMOVED}"', dot)) == len(
            gone.states_removed
        ) + len(gone.transitions_removed)
        assert "- machine removed (still in the committed spec)" in summary_lines(gone, None)

    def test_a_state_that_became_final_is_changed(self) -> None:
        """A state whose final flag flipped is listed as changed, old and new."""
        old = _declared("pipeline")
        for state in old["states"]:
            if state["name"] == "PAUSED":
                state["final"] = True

        diff = diff_machine("pipeline", old, _declared("pipeline"))

        assert diff.states_changed == ("PAUSED",)
        assert "- state changed: `PAUSED` (final True -> False)" in summary_lines(diff, None)


class TestDiagram:
    def test_colours_and_labels_say_what_changed(self) -> None:
        """Added edge green with ``+``, removed state red and dashed with ``-``, the edge of
        the changed guard orange, and a note with its old and new description."""
        diff = diff_machine("pipeline", _committed_before_the_change(), _declared("pipeline"))

        dot = diff_digraph(diff).source

        assert f'[label="+ abandon\n{{reason_given}}" color="{ADDED}"' in dot
        assert f'label="- OLD_STATE\n(removed)" color="{REMOVED}"' in dot
        assert 'style="rounded,filled,dashed"' in dot
        assert f'label="- legacy" color="{REMOVED}"' in dot
        assert f'label="~ allow\n~ {{risk_allows}} changed" color="{CHANGED}"' in dot
        assert f"risk_allows: description: 'the risk hook said yes' -> '{ALLOW_TEXT}'" in dot
        assert 'label=intake_done color="#9ca3af"' in dot

    def test_a_changed_guard_list_marks_what_was_added(self) -> None:
        """A validator added to an existing edge is marked ``+`` on the orange edge, and the
        summary lists the new guard as added."""
        old = _declared("pipeline")
        for t in old["transitions"]:
            if (t["source"], t["event"]) == ("VALIDATION", "validate"):
                t["validators"] = t["validators"][:-1]
        del old["guards"]["notional_at_least_min"]
        diff = diff_machine("pipeline", old, _declared("pipeline"))

        dot = diff_digraph(diff).source

        assert "+ {notional_at_least_min}" in dot
        assert "  {names_present}" in dot
        assert any(
            line.startswith("- guard added: `notional_at_least_min`: description: (none) ->")
            for line in summary_lines(diff, None)
        )


class TestSummary:
    def test_summary_lines_and_files_for_a_changed_machine(self, tmp_path: Path) -> None:
        """The changed machine gets its SVG and its lines; the others say no change."""
        committed = {name: _declared(name) for name in MACHINES}
        committed["pipeline"] = _committed_before_the_change()

        written, _ = write_diff(tmp_path, committed, MACHINES)

        summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
        assert sorted(p.name for p in written) == ["pipeline.dot", "pipeline.svg", "summary.md"]
        assert "1 of 5 machine(s) differ" in summary
        for line in (
            "- state removed: `OLD_STATE`",
            "- transition added: `PAUSED --abandon--> BLOCKED {reason_given}`",
            "- transition removed: `ROUTING --legacy--> OLD_STATE`",
            f"- guard changed: `risk_allows`: description: 'the risk hook said yes' -> "
            f"'{ALLOW_TEXT}'",
            "![pipeline diff](pipeline.svg)",
        ):
            assert line in summary.splitlines()
        assert summary.count("no change") == len(MACHINES) - 1

    def test_no_change_says_so_and_draws_nothing(self, tmp_path: Path) -> None:
        """Every machine as committed: only the summary, saying no change for each."""
        committed = {name: _declared(name) for name in MACHINES}

        written, _ = write_diff(tmp_path, committed, MACHINES)

        summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
        assert [p.name for p in written] == ["summary.md"]
        assert "0 of 5 machine(s) differ from the committed `spec/machines.json`: no change." in (
            summary
        )
        assert summary.count("\nno change\n") == len(MACHINES)


def _execfsm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "execfsm"), *args]
    return subprocess.run(  # noqa: S603 - our own console script
        command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


class TestCommand:
    def test_drift_fails_as_before_and_writes_the_diff(self, tmp_path: Path) -> None:
        """With drift, verify still exits 1; --diff writes the SVG and the summary."""
        spec = tmp_path / "spec"
        shutil.copytree(SPEC_DIR, spec)
        data = json.loads((spec / "machines.json").read_text(encoding="utf-8"))
        data["machines"]["pipeline"] = _committed_before_the_change()
        (spec / "machines.json").write_text(json.dumps(data), encoding="utf-8")
        out = tmp_path / "diff"

        verify = ("verify", "--spec-dir", str(spec), "--depth", "1")

        done = _execfsm(*verify, "--diff", str(out), cwd=tmp_path)

        assert done.returncode == 1
        assert _execfsm(*verify, cwd=tmp_path).returncode == 1
        assert "FAIL spec drift" in done.stdout
        assert (out / "pipeline.svg").read_text(encoding="utf-8").startswith("<?xml")
        assert "- state removed: `OLD_STATE`" in (out / "summary.md").read_text(encoding="utf-8")

    def test_no_drift_exits_as_without_diff_and_says_no_change(self, tmp_path: Path) -> None:
        """The committed spec: the exit status is verify's own, and the summary says no
        change."""
        out = tmp_path / "diff"
        verify = ("verify", "--spec-dir", str(SPEC_DIR), "--depth", "1")

        done = _execfsm(*verify, "--diff", str(out), cwd=tmp_path)

        assert done.returncode == _execfsm(*verify, cwd=tmp_path).returncode
        assert "PASS spec" in done.stdout
        assert sorted(p.name for p in out.iterdir()) == ["summary.md"]
        assert ": no change." in (out / "summary.md").read_text(encoding="utf-8")
