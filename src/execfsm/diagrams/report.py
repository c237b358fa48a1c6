"""
The governance report: per machine SVG, PNG, DOT and Mermaid, plus one page (Markdown, and
HTML with the SVGs inline) with the transition tables, guard descriptions, final states, the
declared cases (what a machine does with any other event), the live-execution policy in
words, and the hash of the committed spec.

Everything comes from the declared machines; the output has no timestamps, so regenerating
an unchanged machine changes no file.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path

from statemachine import StateMachine

from execfsm.diagrams.cases_table import CASES_NOTE, html_table, markdown_table, section_title
from execfsm.diagrams.dot import to_dot
from execfsm.diagrams.mermaid import to_mermaid
from execfsm.diagrams.render import render
from execfsm.diagrams.styles import kind_of
from execfsm.fsm import guards
from execfsm.fsm.model import MachineModel

LIVE_POLICY_TEXT = (
    "Live execution is blocked by default. The default execution mode is LIVE_BLOCKED, which "
    'always stops at stage 4 (routing) with POLICY_LIVE_NOT_ENABLED: "'
    + guards.LIVE_BLOCKED_DETAIL
    + '". An order reaches a live venue only when all three hold: the orchestrator runs in '
    "mode LIVE; it was given an explicit LivePolicy object that names who approved it and "
    "has not expired; and an adapter is registered for LIVE. No environment variable, "
    "configuration string or default creates a LivePolicy. The rule is the validator "
    "`live_execution_permitted` on ROUTING → DISPATCH, the only edge into DISPATCH, and "
    "`execfsm verify` proves (property P1) that no path reaches DISPATCH otherwise."
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else "-"


def _markdown_machine(name: str, model: MachineModel) -> list[str]:
    lines = [f"## {model.name} (`{name}`)", "", f"![{model.name}]({name}.svg)", ""]
    lines += [f"Mermaid source: [{name}.mmd]({name}.mmd), DOT: [{name}.dot]({name}.dot)", ""]
    lines += ["| state | kind | final |", "| --- | --- | --- |"]
    lines += [
        f"| {s.name} | {kind_of(s).value} | {'yes' if s.final else ''} |" for s in model.states
    ]
    lines += [
        "",
        "| from | event | to | conditions | validators |",
        "| --- | --- | --- | --- | --- |",
    ]
    for t in model.transitions:
        conds = _cell(", ".join([*t.conds, *(f"not {u}" for u in t.unless)]))
        validators = _cell(", ".join(t.validators))
        lines.append(f"| {t.source} | {t.event} | {t.target} | {conds} | {validators} |")
    lines += ["", "| guard | kind | description |", "| --- | --- | --- |"]
    validator_names = set(model.validators())
    for guard, text in model.guard_descriptions.items():
        kind = "validator" if guard in validator_names else "condition"
        lines.append(f"| `{guard}` | {kind} | {_cell(text)} |")
    lines += ["", "Final states: " + ", ".join(model.final_states), ""]
    if model.reason_codes:
        lines += ["Own reason codes: " + ", ".join(f"`{c}`" for c in model.reason_codes), ""]
    if model.cases:
        lines += [f"### {section_title(name)}", "", CASES_NOTE, "", *markdown_table(model), ""]
    return lines


def _html_machine(name: str, model: MachineModel, svg: str) -> list[str]:
    esc = html.escape
    parts = [
        f"<h2>{esc(model.name)} (<code>{esc(name)}</code>)</h2>",
        f"<div class='diagram'>{svg}</div>",
    ]
    parts.append(
        "<table><tr><th>from</th><th>event</th><th>to</th><th>conditions</th><th>validators</th></tr>"
    )
    for t in model.transitions:
        conds = ", ".join([*t.conds, *(f"not {u}" for u in t.unless)]) or "-"
        parts.append(
            f"<tr><td>{esc(t.source)}</td><td>{esc(t.event)}</td><td>{esc(t.target)}</td>"
            f"<td>{esc(conds)}</td><td>{esc(', '.join(t.validators) or '-')}</td></tr>"
        )
    parts.append("</table><table><tr><th>guard</th><th>description</th></tr>")
    for guard, text in model.guard_descriptions.items():
        parts.append(f"<tr><td><code>{esc(guard)}</code></td><td>{esc(text)}</td></tr>")
    parts.append("</table>")
    parts.append(f"<p>Final states: {esc(', '.join(model.final_states))}</p>")
    if model.reason_codes:
        codes = ", ".join(f"<code>{esc(c)}</code>" for c in model.reason_codes)
        parts.append(f"<p>Own reason codes: {codes}</p>")
    if model.cases:
        parts += [f"<h3>{esc(section_title(name))}</h3>", f"<p>{esc(CASES_NOTE)}</p>"]
        parts.append(html_table(model))
    return parts


def _svg_body(svg: str) -> str:
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def _spec_line(spec_hash: str | None) -> str:
    if spec_hash:
        return f"Committed spec `spec/machines.json` sha256: `{spec_hash}`"
    return "No committed spec found (run `execfsm spec --write`)."


DEFAULT_TITLE = "execfsm governance report"


def _policy_heading(policy: str | None) -> str:
    return "Live-execution policy" if policy is None else "Policy"


def markdown_report(
    machines: Mapping[str, type[StateMachine]],
    spec_hash: str | None,
    *,
    title: str = DEFAULT_TITLE,
    policy: str | None = None,
) -> str:
    """
    The Markdown report page (it links the SVGs `write_report` renders beside it); `title`
    and `policy` are the project's (None: execfsm's live-execution policy).
    """
    md = [f"# {title}", "", _spec_line(spec_hash), "", f"## {_policy_heading(policy)}"]
    md += ["", LIVE_POLICY_TEXT if policy is None else policy, ""]
    for name, machine in machines.items():
        md += _markdown_machine(name, MachineModel.from_machine(machine))
    return "\n".join(md).rstrip() + "\n"


def write_report(
    out: Path,
    machines: Mapping[str, type[StateMachine]],
    spec_hash: str | None,
    *,
    title: str = DEFAULT_TITLE,
    policy: str | None = None,
) -> list[Path]:
    """
    Write every diagram and the report page into `out`; return the files written. `title`
    and `policy` are the project's (None: execfsm's live-execution policy).
    """
    policy_text = LIVE_POLICY_TEXT if policy is None else policy
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    spec_line = _spec_line(spec_hash)
    page = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:"
        "collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}"
        ".diagram svg{max-width:100%;height:auto}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(spec_line.replace('`', ''))}</p>",
        f"<h2>{_policy_heading(policy)}</h2><p>{html.escape(policy_text)}</p>",
    ]
    for name, machine in machines.items():
        model = MachineModel.from_machine(machine)
        dot = to_dot(model)
        for suffix, text in (("dot", dot), ("mmd", to_mermaid(model))):
            path = out / f"{name}.{suffix}"
            path.write_text(text, encoding="utf-8")
            written.append(path)
        svg_path = render(dot, "svg", out / f"{name}.svg")
        written += [svg_path, render(dot, "png", out / f"{name}.png")]
        page += _html_machine(name, model, _svg_body(svg_path.read_text(encoding="utf-8")))
    page.append("</body></html>")
    report_md = markdown_report(machines, spec_hash, title=title, policy=policy)
    for path, text in ((out / "report.md", report_md), (out / "report.html", "\n".join(page))):
        path.write_text(text.rstrip() + "\n", encoding="utf-8")
        written.append(path)
    return written
