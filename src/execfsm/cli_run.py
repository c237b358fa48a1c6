"""
``execfsm run``: replay an intents file into a store, and say what happened to each intent.

Every intent that did not complete (refused by a stage, rejected by the venue, paused at the
risk gate) gets a line naming its line in the file, its ``intent_id``, the stage it stopped
at, its reason code and the detail; a summary separates new work, duplicates of intents
already submitted, and refusals. ``--json`` writes one result per line instead (the summary
then goes to stderr), for scripts and ``jq``. A long run on a terminal shows a progress bar.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import attrs

from execfsm import cli_reconcile
from execfsm.adapters.registry import AdapterRegistry
from execfsm.cli_audit import read_input
from execfsm.cli_machines import InputError
from execfsm.cli_store import Target, open_store, shown
from execfsm.clock import SystemClock
from execfsm.contracts import ExecutionMode, OrderIntent, PipelineState
from execfsm.errors import ConfigurationError, IdempotencyConflict, InProgressElsewhere
from execfsm.instruments import InstrumentRegistry
from execfsm.instruments_file import load_instruments
from execfsm.intents_file import IntentsFileError, read_numbered_intents
from execfsm.ledger.checkpoints import load_signer
from execfsm.ledger.store import LedgerStore
from execfsm.orchestrator import ExecutionOrchestrator
from execfsm.results import PipelineResult

PROGRESS_FROM = 1_000
"""The fewest intents for which a run on a terminal shows a progress bar."""

INTERRUPTED = 130
"""The exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it."""

_STAGES = tuple(PipelineState)[:8]
"""The eight stages in order: stage n is ``_STAGES[n - 1]``."""


def stage_name(stage: int) -> str:
    """
    The name of stage `stage` (1-8), e.g. ``VALIDATION`` for 2.
    """
    return str(_STAGES[stage - 1]) if 1 <= stage <= len(_STAGES) else "?"


def parse_numbered(text: str, source: object = "input") -> list[tuple[int, OrderIntent]]:
    """
    Every intent of an intents file with its line number. Any bad line is an `InputError`
    listing every bad line of `source`, each with its number, and nothing is returned.
    """
    try:
        return read_numbered_intents(text)
    except IntentsFileError as exc:
        count = len(exc.errors)
        listed = "".join(f"\n  {error}" for error in exc.errors)
        raise InputError(
            f"{source}: {count} bad line{'' if count == 1 else 's'}, nothing was run:{listed}"
        ) from None


@attrs.frozen
class Outcome:
    """
    One intent of the file and what the pipeline answered for it.
    """

    line: int
    """The intent's line in the file, from 1."""
    intent: OrderIntent
    result: PipelineResult

    def as_json(self) -> dict[str, Any]:
        """
        The outcome as one flat JSON object (a line of ``execfsm run --json``).
        """
        result, order = self.result, self.result.order
        return {
            "line": self.line,
            "intent_id": self.intent.intent_id,
            "idempotency_key": result.idempotency_key,
            "correlation_id": result.correlation_id,
            "duplicate": result.duplicate,
            "success": result.success,
            "stage": result.stage_reached,
            "stage_name": stage_name(result.stage_reached),
            "pipeline_state": str(result.pipeline_state),
            "reason_code": None if result.reason_code is None else str(result.reason_code),
            "reason_detail": result.reason_detail,
            "client_order_id": None if order is None else order.client_order_id,
            "order_state": None if order is None else str(order.state),
            "symbol": self.intent.symbol,
            "side": str(self.intent.side),
            "quantity": str(self.intent.quantity),
        }

    def text(self) -> str:
        """
        The outcome as one line for an operator: line, intent_id, stage, reason, detail.
        """
        result = self.result
        stage = f"stage {result.stage_reached} {stage_name(result.stage_reached)}"
        reason = str(result.reason_code or result.pipeline_state)
        detail = result.reason_detail or "-"
        seen = " (duplicate: the earlier result)" if result.duplicate else ""
        intent_id = self.intent.intent_id or "-"
        return f"  line {self.line}  {intent_id}  {stage}  {reason}  {detail}{seen}"


class _StopRequest:
    """
    Whether Ctrl-C asked the run to stop once the batch in progress has finished.
    """

    requested = False


@contextlib.contextmanager
def _stop_between_batches() -> Iterator[_StopRequest]:
    """
    Turn the first Ctrl-C (SIGINT) into a request to stop between batches, so that no batch
    is cut between its write-ahead and its sends; a second one raises `KeyboardInterrupt`
    at once. Only the main thread receives signals: elsewhere Ctrl-C is left as it is.
    """
    stop = _StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True

    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


class _Progress:
    """
    A tqdm bar on stderr for a long run on a terminal; nothing otherwise (a pipe, a file, a
    CI log), and then tqdm is not even imported.
    """

    def __init__(self, total: int, stream: TextIO) -> None:
        self._bar: Any = None
        if total >= PROGRESS_FROM and stream.isatty():
            from tqdm import tqdm  # only a terminal needs it

            self._bar = tqdm(total=total, unit="intent", file=stream, leave=False)

    def advance(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def run(
    path: Path,
    mode: ExecutionMode,
    db: Target,
    batch: int,
    *,
    signing_key: Path | None = None,
    venue_journal: Path | None = None,
    as_json: bool = False,
    instruments_file: Path | None = None,
    stream: str = "main",
) -> int:
    """
    Run ``execfsm run`` with its parsed arguments.
    """
    try:
        instruments = None if instruments_file is None else load_instruments(instruments_file)
    except ConfigurationError as exc:
        raise InputError(str(exc)) from None
    try:
        numbered = parse_numbered(read_input(path), path)
    except KeyboardInterrupt:
        print(f"execfsm run: interrupted while reading {path}; nothing was run", file=sys.stderr)
        return INTERRUPTED
    signer = None if signing_key is None else load_signer(signing_key)
    store = open_store(db, stream=stream, signing_key=signer)
    clock = SystemClock()
    try:  # after the store: its writer lock keeps a live session's venue journal untouched
        registry, venue = cli_reconcile.journaled_registry(
            mode, clock, cli_reconcile.venue_journal(db, venue_journal, stream)
        )
    except BaseException:
        store.close()
        raise
    try:
        settings = (store, clock, registry, instruments)
        outcomes = _submit(numbered, mode, shown(db), batch, *settings)  # closes store
    finally:
        cli_reconcile.close_venue(venue)
    if isinstance(outcomes, int):
        return outcomes
    report(outcomes, f"{path} in mode {mode} (store {shown(db)})", as_json=as_json)
    return 0


def _submit(
    numbered: Sequence[tuple[int, OrderIntent]],
    mode: ExecutionMode,
    db: str,
    batch: int,
    store: LedgerStore,
    clock: SystemClock,
    registry: AdapterRegistry,
    instruments: InstrumentRegistry | None,
) -> list[Outcome] | int:
    """Every intent's outcome, or the exit status of a run that stopped (reported)."""
    outcomes: list[Outcome] = []
    total = len(numbered)
    in_batch = False
    progress = _Progress(total, sys.stderr)
    try:
        orchestrator = ExecutionOrchestrator(
            execution_mode=mode,
            store=store,
            clock=clock,
            registry=registry,
            instruments=instruments,
        )
        with _stop_between_batches() as stop:
            for start in range(0, total, batch):
                if stop.requested:
                    raise KeyboardInterrupt
                chunk = numbered[start : start + batch]
                in_batch = True
                results = orchestrator.submit_intents([intent for _, intent in chunk])
                in_batch = False
                outcomes.extend(
                    Outcome(line, intent, result)
                    for (line, intent), result in zip(chunk, results, strict=True)
                )
                progress.advance(len(chunk))
    except KeyboardInterrupt:
        progress.close()
        cut = (
            f"; a batch was cut short: `execfsm recover --db {db}` lists the orders it left in "
            "flight"
            if in_batch
            else ""
        )
        print(
            f"execfsm run: interrupted after {len(outcomes)} of {total} intents; what was "
            f"committed stays committed (store {db}){cut}",
            file=sys.stderr,
        )
        return INTERRUPTED
    except (IdempotencyConflict, InProgressElsewhere) as exc:
        progress.close()
        print(
            f"execfsm run: {exc}; stopped after {len(outcomes)} of {total} intents (the batch "
            f"with it ran nothing; what was committed before stays committed, store {db})",
            file=sys.stderr,
        )
        return 2
    finally:
        store.close()
    progress.close()
    return outcomes


def report(outcomes: Sequence[Outcome], source: str, *, as_json: bool = False) -> None:
    """
    Print what happened: with `as_json` one JSON object per intent on stdout and the
    summary on stderr; else the summary and a line per intent not completed, on stdout.
    """
    summary = summary_lines(outcomes, source)
    if as_json:
        for outcome in outcomes:
            print(json.dumps(outcome.as_json(), ensure_ascii=False, sort_keys=True))
        for line in summary:
            print(line, file=sys.stderr)
        return
    for line in summary:
        print(line)


def summary_lines(outcomes: Sequence[Outcome], source: str) -> list[str]:
    """
    The run's summary: new work by outcome, duplicates, refusals, and a line for each intent
    that did not complete.
    """
    new = [o for o in outcomes if not o.result.duplicate]
    duplicates = len(outcomes) - len(new)
    refused = [o for o in new if not o.result.success and not o.result.paused]
    paused = [o for o in new if o.result.paused]
    completed = len(new) - len(refused) - len(paused)
    counts = Counter((str(o.result.pipeline_state), str(o.result.reason_code or "-")) for o in new)
    lines = [
        f"{len(outcomes)} intents from {source}: {len(new)} new, {duplicates} duplicate(s) "
        "of intents already submitted (nothing sent for them)",
        f"  new work: {completed} completed, {len(refused)} refused or rejected, "
        f"{len(paused)} paused for review",
        *(
            f"  {count:>8}  {state:<10} {reason}"
            for (state, reason), count in sorted(counts.items())
        ),
    ]
    if duplicates:
        lines.append(
            f"  duplicates: {duplicates} answered with their earlier result, nothing run again"
        )
    left = [o for o in outcomes if not o.result.success]
    if left:
        lines.append(
            f"not completed: {len(left)} intent(s) (line, intent_id, stage, reason, detail):"
        )
        lines.extend(o.text() for o in left)
    return lines
