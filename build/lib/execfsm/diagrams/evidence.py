"""
The evidence sections of the governance report: where it comes from (version, commit,
date, spec hash), the property results `execfsm verify` produces (with the counterexample of
each failure), the live-execution policy and the kill switch in words, and the glossary of
reason codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from statemachine import StateMachine

from execfsm.diagrams._blocks import (
    Block,
    Code,
    Heading,
    Inline,
    Para,
    Strong,
    Table,
    Text,
    Trace,
    prose,
)
from execfsm.diagrams.provenance import Provenance
from execfsm.enums import MachineReason, Reason, ReasonCode, reason_description
from execfsm.fsm import guards
from execfsm.governance.declared import PropertyResult

LIVE_POLICY: tuple[Inline, ...] = (
    "Live execution is blocked by default. The default execution mode is LIVE_BLOCKED, which "
    "always stops at stage 4 (routing) with ",
    Code("POLICY_LIVE_NOT_ENABLED"),
    f': "{guards.LIVE_BLOCKED_DETAIL}". An order reaches a live venue only when all three '
    "hold: the orchestrator runs in mode LIVE; it was given an explicit LivePolicy object "
    "that names who approved it and has not expired; and an adapter is registered for LIVE. "
    "No environment variable, configuration string or default creates a LivePolicy. The rule "
    "is the validator ",
    Code("live_execution_permitted"),
    " on ROUTING → DISPATCH, the only edge into DISPATCH, and ",
    Code("execfsm verify"),
    " proves (property P1) that no path reaches DISPATCH otherwise.",
)
"""The live-execution policy in words."""

KILL_SWITCH: tuple[Inline, ...] = (
    "An operator can halt all trading with a kill switch: the orchestrator's own manual switch (",
    Code("ExecutionOrchestrator.activate_kill_switch"),
    ", undone by ",
    Code("release_kill_switch"),
    "), and any switch given to it as ",
    Code("kill_switch="),
    ", such as a ",
    Code("FileKillSwitch"),
    " whose file reads off or on and is read on every intent, so a change takes effect at "
    "once. Switches fail closed: one whose state cannot be read, or reads as anything but an "
    "explicit off (off, inactive, released, 0, false), is active. While a switch is active "
    "every intent stops at the risk gate (stage 3): the run ends BLOCKED with ",
    Code("RISK_KILL_SWITCH_ACTIVE"),
    " and nothing is sent. An amendment of a working order is refused with the same code "
    "unless it only reduces the quantity at the same price. Orders already at the venue are "
    "not cancelled by the switch.",
)
"""The kill switch in words."""


def provenance_blocks(provenance: Provenance, spec_hash: str | None) -> list[Block]:
    """
    The version, commit, date and committed spec hash, as a table.
    """
    day = provenance.date
    if provenance.date_source == "SOURCE_DATE_EPOCH":
        day += " (from SOURCE_DATE_EPOCH)"
    spec: Text = (
        (Code("spec/machines.json"), " sha256 ", Code(spec_hash))
        if spec_hash
        else ("none found (run ", Code("execfsm spec --write"), ")")
    )
    rows: tuple[tuple[Text, ...], ...] = (
        ("execfsm version", provenance.version),
        ("git commit", Code(provenance.commit)),
        ("generated on", day),
        ("committed spec", spec),
    )
    return [Table(("about this report", ""), rows, css="provenance")]


def _cell_path(result: PropertyResult) -> Text:
    return result.detail or "-"


def summary_line(results: Sequence[PropertyResult]) -> Text:
    """
    How many properties passed, failed or could not be proven.
    """
    counts = {s: sum(1 for r in results if r.status == s) for s in ("PASS", "FAIL", "UNPROVEN")}
    parts: list[Inline] = [f"{len(results)} properties checked by exploration: "]
    for i, (status, count) in enumerate(counts.items()):
        parts += [", "] if i else []
        parts += [Strong(status), f" {count}"]
    return (*parts, ".")


def property_blocks(results: Sequence[PropertyResult], *, level: int = 3) -> list[Block]:
    """
    Each result with PASS, FAIL or UNPROVEN, what it states and what exploration found; a
    failure's counterexample follows the table as a numbered trace.
    """
    if not results:
        return [Heading(level, "Properties"), Para("No property was checked.")]
    rows = tuple((Strong(r.status), Code(r.prop), r.title, _cell_path(r)) for r in results)
    blocks: list[Block] = [
        Heading(level, "Properties"),
        Table(("result", "property", "states that", "evidence"), rows, css="properties"),
    ]
    for result in results:
        if result.ok:
            continue
        blocks.append(
            Para(
                (
                    Strong(result.status),
                    " ",
                    Code(result.prop),
                    f" of {result.machine}: {result.detail}",
                    ". Counterexample, from the initial state:" if result.path else "",
                ),
                css="failure",
            )
        )
        if result.path:
            blocks.append(Trace(tuple(f"{i}. {step}" for i, step in enumerate(result.path, 1))))
    return blocks


def glossary_rows(reasons: Iterable[Reason]) -> tuple[tuple[Text, Text], ...]:
    """
    Each code with its meaning (its docstring, see `reason_description`).
    """
    return tuple(
        (Code(str(code.value)), prose(reason_description(code) or "(no description declared)"))
        for code in reasons
    )


def machine_reasons(machine: type[StateMachine]) -> list[MachineReason]:
    """
    The machine's own reason codes (its ``reason_codes`` enum), in declaration order.
    """
    reasons = getattr(machine, "reason_codes", None)
    if isinstance(reasons, type) and issubclass(reasons, MachineReason):
        return list(reasons)
    return []


def glossary_blocks(machines: Mapping[str, type[StateMachine]]) -> list[Block]:
    """
    The glossary: execfsm's reason codes, then each machine's own.
    """
    blocks: list[Block] = [
        Heading(2, "Reason codes", anchor="reason-codes"),
        Para(
            "Every refusal, block and flag in the audit trail carries one of these codes. "
            "execfsm's own codes are stable and append-only; a machine's own codes are "
            "namespaced (namespace.CODE)."
        ),
        Table(("code", "meaning"), glossary_rows(ReasonCode), css="glossary"),
    ]
    for name, machine in machines.items():
        own = machine_reasons(machine)
        if own:
            blocks += [
                Heading(3, f"Codes of {name}"),
                Table(("code", "meaning"), glossary_rows(own), css="glossary"),
            ]
    return blocks
