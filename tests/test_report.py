"""
The governance report for people: property results with counterexamples, the legend, the
guards in words, the reason-code glossary, the kill switch, where the report comes from, and
escaping (names never become markup).
"""

from __future__ import annotations

import enum
import html
import re
from pathlib import Path
from typing import ClassVar

import pytest
from statemachine.states import States

from execfsm import MachineReason
from execfsm.cli import main
from execfsm.diagrams._blocks import Code
from execfsm.diagrams.dot import to_dot
from execfsm.diagrams.evidence import glossary_rows, machine_reasons
from execfsm.diagrams.provenance import (
    UNKNOWN,
    Provenance,
    git_commit,
    provenance,
    report_date,
)
from execfsm.diagrams.report import markdown_report, write_report
from execfsm.diagrams.styles import validator_keys
from execfsm.enums import ReasonCode, reason_description
from execfsm.fsm.audited import AuditedMachine
from execfsm.fsm.guards import describe
from execfsm.fsm.model import MachineModel
from execfsm.fsm.properties import Invariant, Property
from execfsm.governance import MACHINES
from execfsm.governance.declared import PropertyResult
from execfsm.governance.properties import verify_machines
from execfsm.registry import unregister_machine
from execfsm.typing import AuditSink

SOURCE = Provenance("1.2.3", "feedface", "2026-12-01")


class TallyReason(MachineReason):
    TOO_MANY = "rptally.TOO_MANY"
    """The tally refused a bump beyond its cap (`cap` <b>bold</b>)."""


class Count(enum.StrEnum):
    ON = "ON"
    OFF = "OFF"


@describe("the tally is open (`open` <i>now</i>)")
def tally_open() -> None:
    return None


class Tally(AuditedMachine):
    """Counts bumps; its invariant allows two, so the third breaks it."""

    audit_machine = "tally"
    reason_codes = TallyReason
    _ = States.from_enum(Count, initial=Count.ON, final=[Count.OFF])
    _.ON.to.itself(event="bump", internal=True, validators=tally_open)
    _.ON.to(_.OFF, event="stop")

    properties: ClassVar[tuple[Property, ...]] = (
        Invariant("T1", "at most two bumps", lambda t: t.count <= 2),
    )

    def __init__(self, audit: AuditSink) -> None:
        self.count = 0
        super().__init__(audit)

    @property
    def correlation_id(self) -> str:
        return "t-1"

    def after_bump(self) -> None:
        self.count += 1


class Hostile(Tally):
    """The same machine under a class name that is markup."""


Hostile.__name__ = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def tally_results() -> list[PropertyResult]:
    return verify_machines({"tally": Tally}, depth=4)


def visible_text(page: str) -> str:
    """The text of an HTML page without its tags, style and attributes."""
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


class TestFailingProperty:
    def test_markdown_shows_fail_and_the_counterexample(
        self, tally_results: list[PropertyResult]
    ) -> None:
        """A broken invariant reads FAIL with the numbered path that breaks it."""
        text = markdown_report({"tally": Tally}, None, results=tally_results, source=SOURCE)

        assert "| **FAIL** | `T1` | at most two bumps |" in text
        assert "**FAIL** `T1` of tally:" in text
        assert "```text\n1. bump -> ON\n2. bump -> ON\n3. bump -> ON\n```" in text
        assert "| **PASS** | `P2` |" in text
        assert "**PASS** 2, **FAIL** 1, **UNPROVEN** 0" in text

    def test_html_shows_fail_and_the_counterexample(
        self, tmp_path: Path, tally_results: list[PropertyResult]
    ) -> None:
        """The HTML page marks the failure and lists the trace step by step."""
        write_report(tmp_path, {"tally": Tally}, None, results=tally_results, source=SOURCE)
        page = (tmp_path / "report.html").read_text(encoding="utf-8")

        assert "<td><strong class='fail'>FAIL</strong></td><td><code>T1</code></td>" in page
        assert (
            "<ol class='trace'><li><code>1. bump -&gt; ON</code></li>"
            "<li><code>2. bump -&gt; ON</code></li><li><code>3. bump -&gt; ON</code></li></ol>"
        ) in page

    def test_results_default_to_what_verify_finds(self) -> None:
        """Without results the report runs the same checks as `execfsm verify`."""
        text = markdown_report({"tally": Tally}, None, source=SOURCE, depth=4)

        assert "| **FAIL** | `T1` |" in text


class TestContent:
    def test_every_machine_has_its_sections(self, builtin_results: list[PropertyResult]) -> None:
        """Each built-in machine has a heading, diagram, legend, tables, guards and its
        properties; the page has the policy, kill switch, glossary and provenance."""
        text = markdown_report(MACHINES, "abc", results=builtin_results, source=SOURCE)

        for name, machine in MACHINES.items():
            section = text.split(f"## {machine.__name__} (`{name}`)\n", 1)[1].split("\n## ")[0]
            assert f"![{machine.__name__} state diagram]({name}.svg)" in section
            for heading in ("Legend", "States", "Transitions", "Guards in plain words"):
                assert f"### {heading}\n" in section
            assert "### Properties\n" in section
            for guard, description in MachineModel.from_machine(machine).guard_descriptions.items():
                assert f"| `{guard}` |" in section
                start = description.split("`")[0][:30]
                assert start.replace("<", "&lt;").replace("|", "\\|") in section
        for line in (
            "| execfsm version | 1.2.3 |",
            "| git commit | `feedface` |",
            "| generated on | 2026-12-01 |",
            "## Kill switch",
            "`RISK_KILL_SWITCH_ACTIVE`",
            "## Live-execution policy",
            "## Reason codes",
            "| **PASS** | `P1` | no path reaches DISPATCH",
            "| **PASS** | `G1` |",
        ):
            assert line in text, line

    def test_the_order_legend_lists_each_validator_set_once(self) -> None:
        """The order's repeated fill validators have one key, defined once in the legend."""
        model = MachineModel.from_machine(MACHINES["order"])
        text = markdown_report({"order": MACHINES["order"]}, None, results=(), source=SOURCE)
        keys = validator_keys(model)
        fills = ("fill_well_formed", "fill_id_unused", "fill_within_quantity")
        key = keys[fills]

        assert f"| `{{{key}}}` | the validators `fill_well_formed`, `fill_id_unused`" in text
        assert text.count(f"| `{{{key}}}` |") == 1

    def test_the_compact_order_diagram_keeps_every_transition(self) -> None:
        """One arrow per pair of states, one label line per transition; validator sets by key."""
        model = MachineModel.from_machine(MACHINES["order"])

        dot = to_dot(model, compact=True, cases=False)

        pairs = {(t.source, t.target) for t in model.transitions}
        assert dot.count(" -> ") == len(pairs) < len(model.transitions)
        assert "declared_cases" not in dot
        assert "{fill_well_formed}" not in dot
        label_lines = sum(
            len(label.split("\n")) for label in re.findall(r'-> \S+ \[label="([^"]*)"', dot)
        ) + len(re.findall(r"-> \S+ \[label=\w", dot))
        assert label_lines == len(model.transitions)

    def test_spec_dot_is_unchanged_by_the_compact_option(self) -> None:
        """The committed spec's DOT keeps one edge per transition with every validator."""
        model = MachineModel.from_machine(MACHINES["order"])

        dot = to_dot(model)

        assert dot.count(" -> ") == len(model.transitions)
        assert "{fill_well_formed}" in dot

    def test_own_reason_codes_are_in_the_glossary(self, tmp_path: Path) -> None:
        """A machine's own codes are listed with their docstring, escaped in both pages."""
        write_report(tmp_path, {"tally": Tally}, None, results=(), source=SOURCE)
        md = (tmp_path / "report.md").read_text(encoding="utf-8")
        page = (tmp_path / "report.html").read_text(encoding="utf-8")

        assert "### Codes of tally" in md
        assert (
            "| `rptally.TOO_MANY` | The tally refused a bump beyond its cap (`cap` "
            "&lt;b>bold&lt;/b>). |"
        ) in md
        assert (
            "<td><code>rptally.TOO_MANY</code></td><td>The tally refused a bump beyond its cap "
            "(<code>cap</code> &lt;b&gt;bold&lt;/b&gt;).</td>"
        ) in page


class TestGlossary:
    @pytest.mark.parametrize("code", list(ReasonCode))
    def test_every_reason_code_has_a_description(self, code: ReasonCode) -> None:
        """Each of execfsm's reason codes says what it means."""
        assert len(reason_description(code)) > 20

    @pytest.mark.parametrize("name", list(MACHINES))
    def test_every_builtin_machine_code_has_a_description(self, name: str) -> None:
        """Each built-in machine's own reason codes say what they mean."""
        assert all(reason_description(code) for code in machine_reasons(MACHINES[name]))

    def test_the_glossary_has_every_code(self) -> None:
        """The glossary table lists every ReasonCode in declaration order."""
        rows = glossary_rows(ReasonCode)

        assert [row[0] for row in rows] == [Code(c.value) for c in ReasonCode]


class TestEscaping:
    def test_names_never_become_markup(self, tmp_path: Path) -> None:
        """A class named <script>, a title and policy with markup and backticks, and guard
        descriptions with tags are text in both pages; the HTML has no backtick at all."""
        write_report(
            tmp_path,
            {"tally": Hostile},
            None,
            title="<b>Desk</b> `A`",
            policy="Never <script>evil()</script> in `live` | mode.",
            results=(),
            source=SOURCE,
        )
        page = (tmp_path / "report.html").read_text(encoding="utf-8")
        md = (tmp_path / "report.md").read_text(encoding="utf-8")

        assert "<script" not in page.lower()
        assert "<b>" not in page
        assert "<i>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<title>&lt;b&gt;Desk&lt;/b&gt; A</title>" in page
        assert "`" not in page
        assert "Never &lt;script&gt;evil()&lt;/script&gt; in <code>live</code> | mode." in page
        assert "<script" not in md.lower()
        assert "<b>" not in md
        assert "<i>" not in md
        assert md.startswith("# &lt;b>Desk&lt;/b> `A`\n")
        assert "`" not in visible_text(page)

    def test_the_committed_page_has_no_backticks(self) -> None:
        """docs/governance/report.html shows names as code, never as backquoted text."""
        page = Path(__file__).parent.parent / "docs" / "governance" / "report.html"

        text = page.read_text(encoding="utf-8")

        assert "`" not in text
        assert text.count("<img alt=") == len(MACHINES)

    def test_the_diagram_of_a_hostile_name_renders(self, tmp_path: Path) -> None:
        """A machine whose name looks like an HTML label still renders (as text)."""
        written = write_report(tmp_path, {"tally": Hostile}, None, results=(), source=SOURCE)

        svg = (tmp_path / "tally.svg").read_text(encoding="utf-8")
        assert tmp_path / "tally.png" in written
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg


class TestProvenance:
    def test_outside_git_the_commit_is_unknown(self, tmp_path: Path) -> None:
        """A folder outside any checkout gives 'unknown', never an error."""
        assert git_commit(tmp_path) == UNKNOWN

    def test_without_git_the_commit_is_unknown(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No git program gives 'unknown' too."""
        monkeypatch.setenv("PATH", str(tmp_path))

        assert git_commit(Path(__file__).parent) == UNKNOWN

    def test_in_this_checkout_the_commit_is_found(self) -> None:
        """In a git checkout the commit is HEAD's full id."""
        commit = git_commit(Path(__file__).parent)

        if commit == UNKNOWN:
            pytest.skip("the tests do not run in a git checkout")
        assert re.match(r"[0-9a-f]{40}( \+ uncommitted changes)?\Z", commit)

    def test_the_date_is_given_or_from_source_date_epoch(self) -> None:
        """--date wins, then SOURCE_DATE_EPOCH; an ISO date-time is cut to its date."""
        env = {"SOURCE_DATE_EPOCH": "1700000000"}

        assert report_date("2026-03-04T10:00:00+00:00", env) == ("2026-03-04", "given")
        assert report_date(None, env) == ("2023-11-14", "SOURCE_DATE_EPOCH")
        assert report_date(None, {})[1] == "today"
        with pytest.raises(ValueError, match="SOURCE_DATE_EPOCH"):
            report_date(None, {"SOURCE_DATE_EPOCH": "soon"})
        with pytest.raises(ValueError, match="yesterday"):
            report_date("yesterday", {})

    def test_provenance_overrides(self, tmp_path: Path) -> None:
        """The date and commit can be given; the version is the installed one."""
        found = provenance(tmp_path, date="2026-12-01", commit="abc", env={})

        assert (found.commit, found.date, found.date_source) == ("abc", "2026-12-01", "given")
        assert found.version != ""

    def test_the_cli_writes_the_given_date(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`execfsm diagrams --date` puts that date in the report; a bad date exits 2."""
        monkeypatch.chdir(tmp_path)
        monkeypatch.syspath_prepend(str(Path(__file__).parent.parent))

        try:
            code = main(
                [
                    *("diagrams", "--out", "out", "--date", "2026-02-03", "--depth", "2"),
                    *("--machine", "tests.test_report:Tally"),
                ]
            )
        finally:
            unregister_machine(Tally)
        bad = main(["diagrams", "--out", "out", "--date", "someday"])

        text = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
        assert code == 0
        assert "| generated on | 2026-02-03 |" in text
        assert "| git commit | `unknown` |" in text
        assert bad == 2
