"""
The committed transition spec (``spec/machines.json`` plus normalised DOT and Mermaid) and
the reviewer-readable diff between it and the declared machines.

``machines.json`` also fingerprints the code each guard and callback runs (its ``code``
entries, and the top-level ``code`` table of normalised definitions they reach; see
`execfsm.governance.code`), so a changed guard body is drift, shown as a diff.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from statemachine import StateMachine

from execfsm.diagrams.dot import to_dot
from execfsm.diagrams.mermaid import to_mermaid
from execfsm.fsm.model import CaseModel, MachineModel
from execfsm.governance.code import code_spec, diff_code
from execfsm.ids import sha256_hex

SPEC_FILE = "machines.json"


def machine_spec(model: MachineModel) -> dict[str, Any]:
    """
    One machine as canonical, sorted, Decimal-free data: states, transitions with their
    guards, each guard's description, and the declared case rows (in lookup order).
    """
    return {
        "name": model.name,
        "initial": model.initial_state,
        "states": [{"name": s.name, "initial": s.initial, "final": s.final} for s in model.states],
        "transitions": sorted(
            (
                {
                    "source": t.source,
                    "event": t.event,
                    "target": t.target,
                    "conds": list(t.conds),
                    "unless": list(t.unless),
                    "validators": list(t.validators),
                }
                for t in model.transitions
            ),
            key=lambda t: (t["source"], t["event"], t["target"]),
        ),
        "guards": dict(sorted(model.guard_descriptions.items())),
        "cases": [case_spec(c) for c in model.cases],
        **({"reason_codes": list(model.reason_codes)} if model.reason_codes else {}),
    }


def case_spec(case: CaseModel) -> dict[str, Any]:
    """
    One declared case row as spec data (rows stay in lookup order: the first match wins).
    """
    return {
        "event": case.event,
        "states": list(case.states),
        "when": case.when,
        "outcome": case.outcome,
        "reason": case.reason,
        "flags": case.flags,
        "action": case.action,
        "why": case.why,
    }


def case_name(case: Mapping[str, Any], all_states: Iterable[str] = ()) -> str:
    """
    How drift names a case row: ``event [when 'situation'] in S1|S2`` (``in any state`` for
    a row over every state of the machine).
    """
    states = list(case["states"])
    shown = "any state" if states and set(states) == set(all_states) else "|".join(states)
    when = f" when {case['when']!r}" if case.get("when") else ""
    return f"{case['event']}{when} in {shown}"


def _case_terms(case: Mapping[str, Any]) -> str:
    keys = ("outcome", "reason", "flags", "action", "why")
    return ", ".join(f"{k}={case.get(k)!r}" for k in keys)


def diff_cases(
    name: str,
    committed: list[Mapping[str, Any]],
    current: list[Mapping[str, Any]],
    states: list[str],
) -> list[str]:
    """
    Case rows added, removed or changed (by event, situation and states), and a change of
    their lookup order.
    """
    old = {case_name(c, states): c for c in committed}
    new = {case_name(c, states): c for c in current}
    lines = [
        f"{name}: case added: {row} ({_case_terms(new[row])})"
        for row in sorted(new.keys() - old.keys())
    ]
    lines += [
        f"{name}: case removed: {row} ({_case_terms(old[row])})"
        for row in sorted(old.keys() - new.keys())
    ]
    for row in sorted(new.keys() & old.keys()):
        if old[row] != new[row]:
            lines.append(
                f"{name}: case changed: {row}: {_case_terms(old[row])} -> {_case_terms(new[row])}"
            )
    kept_old = [row for row in old if row in new]
    kept_new = [row for row in new if row in old]
    if kept_old != kept_new:
        lines.append(f"{name}: case order changed (the first matching row wins)")
    return lines


def spec_text(
    machines: Mapping[str, type[StateMachine]], data: Mapping[str, Any] | None = None
) -> str:
    """
    The text of ``machines.json`` for these machines (their `spec_data`, if given).
    """
    return (
        json.dumps(spec_data(machines) if data is None else data, indent=2, sort_keys=True) + "\n"
    )


def spec_data(machines: Mapping[str, type[StateMachine]]) -> dict[str, Any]:
    """
    ``machines.json`` as data: each machine's spec with its guards' and callbacks' ``code``
    entries, and the normalised definitions they reach (top-level ``code``).
    """
    entries, definitions = code_spec(machines)
    data = {
        name: {**machine_spec(MachineModel.from_machine(cls)), "code": entries[name]}
        for name, cls in machines.items()
    }
    return {"machines": data, "code": definitions}


def artifacts(
    machines: Mapping[str, type[StateMachine]], data: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """
    Every committed spec file, by file name, as it must read (`data`: their `spec_data`).
    """
    files = {SPEC_FILE: spec_text(machines, data)}
    for name, cls in machines.items():
        model = MachineModel.from_machine(cls)
        files[f"{name}.dot"] = to_dot(model)
        files[f"{name}.mmd"] = to_mermaid(model)
    return files


def write_spec(directory: Path, machines: Mapping[str, type[StateMachine]]) -> list[Path]:
    """
    Write the spec files into `directory`.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in artifacts(machines).items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def spec_hash(directory: Path) -> str | None:
    """
    sha256 of the committed ``machines.json``, or None if there is none.
    """
    path = directory / SPEC_FILE
    return sha256_hex(path.read_text(encoding="utf-8")) if path.exists() else None


def _edge(t: Mapping[str, Any]) -> str:
    return f"{t['source']} --{t['event']}--> {t['target']}"


def _guards(t: Mapping[str, Any]) -> str:
    parts = [f"conds={t['conds']}", f"unless={t['unless']}", f"validators={t['validators']}"]
    return ", ".join(parts)


def diff_machine(
    name: str, committed: Mapping[str, Any] | None, current: Mapping[str, Any]
) -> list[str]:
    """
    Human-readable differences for one machine (empty when identical).
    """
    if committed is None:
        return [f"{name}: machine added (not in the committed spec)"]
    lines: list[str] = []
    old_states = {s["name"]: s for s in committed.get("states", [])}
    new_states = {s["name"]: s for s in current["states"]}
    for state in sorted(new_states.keys() - old_states.keys()):
        lines.append(f"{name}: state added: {state}")
    for state in sorted(old_states.keys() - new_states.keys()):
        lines.append(f"{name}: state removed: {state}")
    for state in sorted(new_states.keys() & old_states.keys()):
        if old_states[state] != new_states[state]:
            lines.append(
                f"{name}: state changed: {state}: {old_states[state]} -> {new_states[state]}"
            )
    old_edges = {_edge(t): t for t in committed.get("transitions", [])}
    new_edges = {_edge(t): t for t in current["transitions"]}
    for edge in sorted(new_edges.keys() - old_edges.keys()):
        lines.append(f"{name}: transition added: {edge} ({_guards(new_edges[edge])})")
    for edge in sorted(old_edges.keys() - new_edges.keys()):
        lines.append(f"{name}: transition removed: {edge} ({_guards(old_edges[edge])})")
    for edge in sorted(new_edges.keys() & old_edges.keys()):
        if old_edges[edge] != new_edges[edge]:
            lines.append(
                f"{name}: transition changed: {edge}: {_guards(old_edges[edge])} -> "
                f"{_guards(new_edges[edge])}"
            )
    old_guards, new_guards = committed.get("guards", {}), current["guards"]
    for guard in sorted(set(old_guards) | set(new_guards)):
        if old_guards.get(guard) != new_guards.get(guard):
            lines.append(
                f"{name}: guard description changed: {guard}: {old_guards.get(guard)!r} -> "
                f"{new_guards.get(guard)!r}"
            )
    lines += diff_cases(
        name, committed.get("cases", []), current.get("cases", []), sorted(new_states)
    )
    if committed.get("initial") != current["initial"]:
        lines.append(
            f"{name}: initial state changed: {committed.get('initial')} -> {current['initial']}"
        )
    return lines


def drift(directory: Path, machines: Mapping[str, type[StateMachine]]) -> list[str]:
    """
    Every difference between the committed spec in `directory` and the declared machines.
    """
    path = directory / SPEC_FILE
    if not path.exists():
        return [f"{path}: no committed spec; run `execfsm spec --write`"]
    try:
        whole = json.loads(path.read_text(encoding="utf-8"))
        committed = whole["machines"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        return [f"{path}: not a machine spec ({exc}); run `execfsm spec --write`"]
    lines: list[str] = []
    current_data = spec_data(machines)
    definitions = whole.get("code")
    fingerprinted = isinstance(definitions, dict) and all(
        isinstance(m, dict) and isinstance(m.get("code"), dict) for m in committed.values()
    )
    for name in machines:
        current = current_data["machines"][name]
        lines += diff_machine(name, committed.get(name), current)
        if fingerprinted and isinstance(committed.get(name), dict):
            lines += diff_code(
                name,
                committed[name]["code"],
                current["code"],
                definitions,
                current_data["code"],
            )
    if not fingerprinted:
        lines.append(
            f"{path}: spec has no code fingerprints; regenerate it (review the guards' and "
            "callbacks' code, then run `execfsm spec --write`)"
        )
    for name in sorted(set(committed) - set(machines)):
        lines.append(f"{name}: machine removed (still in the committed spec)")
    expected = artifacts(machines, current_data)
    for file_name, text in expected.items():
        if file_name == SPEC_FILE:
            continue
        on_disk = directory / file_name
        if not on_disk.exists() or on_disk.read_text(encoding="utf-8") != text:
            lines.append(
                f"{on_disk}: differs from the declared machine; run `execfsm spec --write`"
            )
    if not lines and path.read_text(encoding="utf-8") != expected[SPEC_FILE]:
        lines.append(f"{path}: formatting differs; run `execfsm spec --write`")
    return lines
