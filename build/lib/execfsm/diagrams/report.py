"""
The governance report: per machine SVG, PNG, DOT and Mermaid, plus one page (Markdown, and
HTML standing alone with the diagrams inside) that shows, per machine, the diagram with its
legend, the states, the transition table, every guard in plain words, the declared cases,
every property `execfsm verify` checks with PASS or FAIL (and the counterexample of a
failure) and its own reason codes; then the policy (the live-execution policy and the kill
switch), the glossary of reason codes, and where the report comes from (execfsm version,
git commit, generation date, the hash of the committed spec).

Everything comes from the declared machines and the property results; the date is given
or read from ``SOURCE_DATE_EPOCH`` (`execfsm.diagrams.provenance`), so regenerating an
unchanged project at the same commit with the same date changes no file.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

from statemachine import StateMachine

from execfsm.diagrams._blocks import (
    Block,
    Code,
    Diagram,
    Heading,
    Inline,
    Items,
    Para,
    Raw,
    Table,
    Text,
    html_table,
    plain,
    prose,
    to_html_body,
    to_markdown,
)
from execfsm.diagrams.cases_table import CASES_NOTE, COLUMNS, markdown_table, row_cells
from execfsm.diagrams.cases_table import section_title as cases_title
from execfsm.diagrams.dot import to_dot
from execfsm.diagrams.evidence import (
    KILL_SWITCH,
    LIVE_POLICY,
    glossary_blocks,
    property_blocks,
    provenance_blocks,
    summary_line,
)
from execfsm.diagrams.legend import legend_blocks
from execfsm.diagrams.mermaid import to_mermaid
from execfsm.diagrams.provenance import Provenance, provenance
from execfsm.diagrams.render import render
from execfsm.diagrams.styles import kind_of, validator_keys
from execfsm.fsm.model import MachineModel
from execfsm.governance.declared import PropertyResult
from execfsm.governance.properties import verify_machines

DEFAULT_TITLE = "execfsm governance report"
DEFAULT_DEPTH = 5
"""The exploration depth of the properties, as `execfsm verify`'s default."""

_CSS = (
    "body{font-family:sans-serif;max-width:1200px;margin:auto;padding:0 1em;line-height:1.4}"
    "table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:2px 6px;"
    "font-size:13px;text-align:left;vertical-align:top}th{background:#f3f4f6}"
    ".diagram{margin:0;overflow-x:auto;border:1px solid #e5e7eb}"
    ".diagram img{max-width:none;height:auto;display:block}"
    "strong.pass{color:#166534}strong.fail{color:#b91c1c}"
    "strong.unproven{color:#92400e}.trace{font-size:13px;list-style:none}code{background:#f3f4f6;"
    "padding:0 2px}.provenance td:first-child{font-weight:bold}"
)


def _code_list(names: Sequence[str]) -> tuple[Inline, ...]:
    parts: list[Inline] = []
    for i, name in enumerate(names):
        parts += [", "] if i else []
        parts.append(Code(name))
    return tuple(parts)


def _transition_rows(model: MachineModel) -> tuple[tuple[Text, ...], ...]:
    keys = validator_keys(model)
    rows = []
    for t in model.transitions:
        conds = [*t.conds, *(f"not {u}" for u in t.unless)]
        key = keys.get(t.validators)
        validators: Text = _code_list(t.validators) if t.validators else "-"
        if key:
            validators = (Code(f"{{{key}}}"), ": ", *_code_list(t.validators))
        rows.append(
            (t.source, Code(t.event), t.target, _code_list(conds) if conds else "-", validators)
        )
    return tuple(rows)


def _cases_blocks(name: str, model: MachineModel) -> list[Block]:
    if not model.cases:
        return []
    rows = [tuple(prose(c) if c else "-" for c in row_cells(model, case)) for case in model.cases]
    return [
        Heading(3, cases_title(name)),
        Para(prose(CASES_NOTE)),
        Raw(tuple(markdown_table(model)), html_table(COLUMNS, rows, css="cases")),
    ]


def machine_blocks(
    name: str, model: MachineModel, results: Sequence[PropertyResult], svg: bytes
) -> list[Block]:
    """
    One machine's section of the report.
    """
    validator_names = set(model.validators())
    guards = tuple(
        (Code(guard), "validator" if guard in validator_names else "condition", prose(text))
        for guard, text in model.guard_descriptions.items()
    )
    states = tuple((s.name, kind_of(s).value, "yes" if s.final else "") for s in model.states)
    blocks: list[Block] = [
        Heading(2, (f"{model.name} (", Code(name), ")"), anchor=f"machine-{name}"),
        Diagram(f"{name}.svg", f"{model.name} state diagram", svg),
        Para(
            (
                "The diagram is drawn at full size (a wide one scrolls sideways); it is also ",
                Code(f"{name}.svg"),
                " and ",
                Code(f"{name}.png"),
                " beside this page, with its sources ",
                Code(f"{name}.dot"),
                " (DOT) and ",
                Code(f"{name}.mmd"),
                " (Mermaid). Every declared transition is a line on an arrow of the diagram and "
                "a row of the transition table.",
            )
        ),
        *legend_blocks(model),
        Heading(3, "States"),
        Table(("state", "kind", "final"), states),
        Heading(3, "Transitions"),
        Table(("from", "event", "to", "conditions", "validators"), _transition_rows(model)),
        Heading(3, "Guards in plain words"),
        Table(("guard", "kind", "description"), guards) if guards else Para("No guards."),
        Para(("Final states: ", ", ".join(model.final_states) or "none", ".")),
        *property_blocks(results),
    ]
    if model.reason_codes:
        blocks.append(
            Para(("Own reason codes (see the glossary): ", *_code_list(model.reason_codes)))
        )
    return blocks + _cases_blocks(name, model)


def _policy_blocks(machines: Mapping[str, type[StateMachine]], policy: str | None) -> list[Block]:
    blocks: list[Block] = []
    if policy is not None:
        blocks += [Heading(2, "Policy", anchor="policy"), Para(prose(policy))]
    if policy is None or "pipeline" in machines:
        blocks += [
            Heading(2, "Live-execution policy", anchor="live-policy"),
            Para(LIVE_POLICY),
            Heading(2, "Kill switch", anchor="kill-switch"),
            Para(KILL_SWITCH, css="kill-switch"),
        ]
    return blocks


def report_blocks(
    machines: Mapping[str, type[StateMachine]],
    spec_hash: str | None,
    *,
    title: str,
    policy: str | None,
    results: Sequence[PropertyResult],
    source: Provenance,
    diagrams: Mapping[str, bytes],
) -> list[Block]:
    """
    The whole report, in order.
    """
    blocks: list[Block] = [
        Heading(1, prose(title)),
        *provenance_blocks(source, spec_hash),
        Para(summary_line(results)),
        Items(tuple((f"{m.__name__} (", Code(name), ")") for name, m in machines.items())),
        *_policy_blocks(machines, policy),
    ]
    for name, machine in machines.items():
        mine = [r for r in results if r.machine == name]
        model = MachineModel.from_machine(machine)
        blocks += machine_blocks(name, model, mine, diagrams.get(name, b""))
    groups = [r for r in results if r.machine not in machines]
    if groups:
        blocks += [
            Heading(2, "Groups of machines", anchor="groups"),
            *property_blocks(groups, level=3),
        ]
    return blocks + glossary_blocks(machines)


def _results(
    machines: Mapping[str, type[StateMachine]],
    results: Sequence[PropertyResult] | None,
    depth: int,
) -> Sequence[PropertyResult]:
    return verify_machines(machines, depth) if results is None else results


def markdown_report(
    machines: Mapping[str, type[StateMachine]],
    spec_hash: str | None,
    *,
    title: str = DEFAULT_TITLE,
    policy: str | None = None,
    results: Sequence[PropertyResult] | None = None,
    source: Provenance | None = None,
    depth: int = DEFAULT_DEPTH,
) -> str:
    """
    The Markdown report page (it links the SVGs `write_report` renders beside it); `title`
    and `policy` are the project's (None: execfsm's live-execution policy). `results` are
    the property results to show (None: `verify_machines` at `depth`, as `execfsm verify`);
    `source` the provenance (None: found now, see `provenance`).
    """
    blocks = report_blocks(
        machines,
        spec_hash,
        title=title,
        policy=policy,
        results=_results(machines, results, depth),
        source=source if source is not None else provenance(Path.cwd()),
        diagrams={},
    )
    return to_markdown(blocks)


def write_report(
    out: Path,
    machines: Mapping[str, type[StateMachine]],
    spec_hash: str | None,
    *,
    title: str = DEFAULT_TITLE,
    policy: str | None = None,
    results: Sequence[PropertyResult] | None = None,
    source: Provenance | None = None,
    depth: int = DEFAULT_DEPTH,
) -> list[Path]:
    """
    Write every diagram and the report pages into `out`; return the files written. The
    keyword arguments are `markdown_report`'s.
    """
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    svgs: dict[str, bytes] = {}
    for name, machine in machines.items():
        model = MachineModel.from_machine(machine)
        dot = to_dot(model, compact=True, cases=False)
        for suffix, text in (("dot", dot), ("mmd", to_mermaid(model))):
            path = out / f"{name}.{suffix}"
            path.write_text(text, encoding="utf-8")
            written.append(path)
        svg_path = render(dot, "svg", out / f"{name}.svg")
        written += [svg_path, render(dot, "png", out / f"{name}.png")]
        svgs[name] = svg_path.read_bytes()
    blocks = report_blocks(
        machines,
        spec_hash,
        title=title,
        policy=policy,
        results=_results(machines, results, depth),
        source=source if source is not None else provenance(Path.cwd()),
        diagrams=svgs,
    )
    page = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(plain(prose(title)))}</title><style>{_CSS}</style></head><body>",
        *to_html_body(blocks),
        "</body></html>",
    ]
    pages = {"report.md": to_markdown(blocks), "report.html": "\n".join(page)}
    for file_name, text in pages.items():
        path = out / file_name
        path.write_text(text.rstrip() + "\n", encoding="utf-8")
        written.append(path)
    return written
