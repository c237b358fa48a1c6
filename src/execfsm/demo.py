"""
The scripted paper session behind ``execfsm demo``: every path of the pipeline, end to end.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import attrs

from execfsm.adapters.registry import AdapterRegistry
from execfsm.adapters.simulated import SimulatedVenue
from execfsm.clock import EPOCH, SteppingClock
from execfsm.contracts import ExecutionMode, OrderIntent, OrderSide, OrderType
from execfsm.demo_venues import DemoVenue, FixDemoVenue, PaperDemoVenue
from execfsm.diagrams.render import RendererMissing
from execfsm.diagrams.traffic import write_traffic
from execfsm.errors import StoreError
from execfsm.fsm.audit import AuditRecord
from execfsm.ids import canonical_json, jsonable
from execfsm.instruments import SIMULATED_INSTRUMENTS, Instrument, InstrumentRegistry
from execfsm.ledger.audit import AuditLog
from execfsm.ledger.checkpoints import SIDECAR_SUFFIX, Signer, checkpoint_json
from execfsm.ledger.sqlite import SqliteStore
from execfsm.orchestrator import ExecutionOrchestrator
from execfsm.registry import known_machines
from execfsm.results import PipelineResult
from execfsm.risk import ConditionalRiskHook


@attrs.frozen
class DemoRow:
    """
    One line of the demo's summary table.
    """

    label: str
    result: PipelineResult
    order_state_now: str


@attrs.frozen
class DemoReport:
    """
    What the demo did and where it wrote its files.
    """

    rows: tuple[DemoRow, ...]
    out_dir: Path
    files: tuple[Path, ...]
    chain_ok: bool
    venue_submissions: int
    trail_files: tuple[Path, ...] = ()
    """The session's trail replayed onto each machine's diagram (``out_dir/trail/``)."""
    venue: str = ""
    """What the venue was (`DemoVenue.description`)."""


DEMO_INSTRUMENTS = InstrumentRegistry.of(
    [
        *SIMULATED_INSTRUMENTS,
        Instrument(
            "DOGE/EUR",
            "simulated",
            "DOGE",
            "EUR",
            Decimal("0.00001"),
            Decimal(1),
            Decimal(1),
            Decimal(1_000_000),
        ),
    ],
    "the demo",
)
"""The simulated venue's instruments and DOGE/EUR: listed (so validation passes it), and
then blocked by the demo's risk hook, which does not allow it."""


def _intent(symbol: str, side: OrderSide, qty: str, **extra: object) -> OrderIntent:
    order_type = OrderType.LIMIT if "limit_price" in extra else OrderType.MARKET
    return OrderIntent(symbol, side, Decimal(qty), order_type, "demo", **extra)  # type: ignore[arg-type]


def run_demo(
    out_dir: Path,
    db: Path | None = None,
    *,
    signing_key: Signer | None = None,
    venue_kind: str = "paper",
) -> DemoReport:
    """
    Run the scripted session on a stepping clock (so its output is identical every run),
    durably in the SQLite database `db` (default ``out_dir/demo.db``, started afresh; the
    paper venue keeps its journal beside it, ``<db>.venue.jsonl``), write
    the audit trail and ledger snapshots to `out_dir`, and report. With `signing_key` the
    store writes signed checkpoints, exported beside the trail in
    ``audit.jsonl.checkpoints``. With `venue_kind` ``"fix"`` the same session runs over
    FIX 4.4 against the scripted acceptor (`execfsm.testing.fix_acceptor`), started
    in-process on a free port, its files in ``out_dir/fix``.

    Raises:
        OSError: `out_dir`, or its ``trail`` folder, cannot be written into (checked before
            the session runs: a file named so is refused at once).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    trail_dir = out_dir / TRAIL_DIR
    if trail_dir.exists() and not trail_dir.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "a file, not a folder", str(trail_dir))
    if db is None:
        db = out_dir / "demo.db"
        journal = db.with_name(db.name + VENUE_JOURNAL_SUFFIX)
        for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), journal):
            stale.unlink(missing_ok=True)
    else:
        journal = db.with_name(db.name + VENUE_JOURNAL_SUFFIX)
        for there in (db, journal):
            if there.exists():
                raise StoreError(f"demo: {there} exists; the scripted session starts afresh")
    store = SqliteStore(db, signing_key=signing_key)
    clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
    if venue_kind == "fix":
        try:
            venue: DemoVenue = FixDemoVenue(out_dir / "fix", clock)
        except BaseException:
            store.close()
            raise
    else:
        venue = PaperDemoVenue(
            SimulatedVenue(
                clock,
                name="paper",
                fee_bps=10,
                slippage_bps=5,
                partial_fills=("0.4", "0.6"),
                journal=journal,
            )
        )
    registry = AdapterRegistry()
    registry.register(ExecutionMode.PAPER, venue.adapter)
    risk = ConditionalRiskHook(
        allowed_symbols=["BTC/EUR", "ETH/EUR", "BTC/USD", "ETH/USD"],
        max_quantity=10,
        review_quantity="2.5",
    )
    paper = ExecutionOrchestrator(
        risk_hook=risk,
        execution_mode=ExecutionMode.PAPER,
        registry=registry,
        clock=clock,
        store=store,
        instruments=DEMO_INSTRUMENTS,
    )
    audit = paper.audit_log
    live_audit = AuditLog(clock)
    rows: list[tuple[str, PipelineResult]] = []

    def submit(label: str, intent: OrderIntent) -> PipelineResult:
        result = paper.submit_intent(intent)
        venue.settle()  # a FIX venue's later reports are in before the next step
        rows.append((label, result))
        return result

    market = _intent("BTC/EUR", OrderSide.BUY, "0.5", intent_id="d1")
    submit("market buy 0.5 BTC/EUR (two partial fills)", market)
    submit(
        "marketable limit buy 2 ETH/EUR @ 3100",
        _intent("ETH/EUR", OrderSide.BUY, "2", limit_price=Decimal(3100), intent_id="d2"),
    )
    submit(
        "resting limit buy 0.2 BTC/EUR @ 59000, filled by a price move",
        _intent("BTC/EUR", OrderSide.BUY, "0.2", limit_price=Decimal(59000), intent_id="d3"),
    )
    venue.set_price("BTC/EUR", "58900")
    to_cancel = submit(
        "resting limit sell 1 ETH/EUR @ 3500, then cancelled",
        _intent("ETH/EUR", OrderSide.SELL, "1", limit_price=Decimal(3500), intent_id="d4"),
    )
    if to_cancel.order is not None:
        paper.cancel(to_cancel.order.client_order_id)
        venue.settle()
    submit("invalid: quantity 0", _intent("ETH/EUR", OrderSide.BUY, "0", intent_id="d5"))
    submit(
        "invalid: LIMIT without limit_price",
        OrderIntent("ETH/EUR", OrderSide.BUY, Decimal(1), OrderType.LIMIT, "demo", intent_id="d6"),
    )
    submit(
        "risk-blocked: symbol DOGE/EUR not allowed",
        _intent("DOGE/EUR", OrderSide.BUY, "100", intent_id="d7"),
    )
    large = _intent("ETH/EUR", OrderSide.BUY, "3", intent_id="d8")
    paused = submit("3 ETH/EUR: paused for review", large)
    risk.approve(large)
    rows.append(("  ... approved and resumed", paper.resume(paused.correlation_id)))
    venue.settle()
    submit("duplicate of the market buy (not sent again)", market)
    blocked = ExecutionOrchestrator(risk_hook=risk, clock=clock, audit=live_audit)
    rows.append(
        (
            "live attempt, default mode LIVE_BLOCKED",
            blocked.submit_intent(_intent("BTC/EUR", OrderSide.BUY, "0.1", intent_id="d9")),
        )
    )
    live = ExecutionOrchestrator(
        risk_hook=risk, execution_mode=ExecutionMode.LIVE, clock=clock, audit=live_audit
    )
    rows.append(
        (
            "live attempt, mode LIVE without a LivePolicy",
            live.submit_intent(_intent("BTC/EUR", OrderSide.BUY, "0.1", intent_id="d10")),
        )
    )

    ledgers = {paper: "paper", blocked: "live_blocked", live: "live"}
    files: tuple[Path, ...] = (
        _write(out_dir / "audit.jsonl", audit.export_jsonl()),
        _write(out_dir / "audit-live-attempts.jsonl", live_audit.export_jsonl()),
        _write(
            out_dir / "orders.json",
            _pretty({name: o.get_order_ledger_snapshot() for o, name in ledgers.items()}),
        ),
        _write(out_dir / "positions.json", _pretty(paper.get_position_ledger_snapshot())),
        _write(
            out_dir / "recon.jsonl",
            "".join(canonical_json(r) + "\n" for r in paper.get_recon_snapshot()),
        ),
    )
    by_id = {o.client_order_id: o for orch in ledgers for o in orch.get_order_ledger_snapshot()}
    table = tuple(
        DemoRow(
            label, result, str(by_id[result.order.client_order_id].state) if result.order else "-"
        )
        for label, result in rows
    )
    store.close()
    venue.close()
    if journal.exists():
        files = (*files, journal)
    sidecar = out_dir / f"audit.jsonl{SIDECAR_SUFFIX}"
    if signing_key is not None:
        files = (*files, _write_checkpoints(db, sidecar))
    else:  # an earlier signed demo's checkpoints are not this trail's
        sidecar.unlink(missing_ok=True)
    chain_ok = audit.verify_chain().ok and live_audit.verify_chain().ok
    trail = _replayed(out_dir / TRAIL_DIR, (*audit.records, *live_audit.records))
    return DemoReport(
        table, out_dir, (db, *files), chain_ok, venue.submissions, trail, venue.description
    )


VENUE_JOURNAL_SUFFIX = ".venue.jsonl"
"""The paper venue's journal beside the database (``<db>.venue.jsonl``), which
``execfsm reconcile --db`` re-opens to ask the same venue."""

TRAIL_DIR = "trail"
"""The demo's folder for its session replayed onto the diagrams."""


def _replayed(out: Path, records: Sequence[AuditRecord]) -> tuple[Path, ...]:
    """
    Both trails of the session (paper and live attempts) drawn on every machine; without a
    ``dot`` program, the DOT text and the summary only.
    """
    source = "the demo session (audit.jsonl and audit-live-attempts.jsonl)"
    machines = known_machines()
    try:
        return tuple(write_traffic(out, records, machines, source=source))
    except RendererMissing:
        return tuple(write_traffic(out, records, machines, source=source, formats=()))


def _write_checkpoints(db: Path, path: Path) -> Path:
    reader = SqliteStore(db, read_only=True)
    try:
        checkpoints = reader.load().checkpoints
    finally:
        reader.close()
    return _write(path, "".join(checkpoint_json(c) + "\n" for c in checkpoints))


def _pretty(value: object) -> str:
    return json.dumps(jsonable(value), indent=2, sort_keys=True) + "\n"


def _write(path: Path, text: str) -> Path:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def format_table(report: DemoReport) -> str:
    """
    The demo's summary as a fixed-width text table.
    """
    header = ("intent", "stage", "pipeline", "order (now)", "reason")
    lines = [
        (
            row.label,
            str(row.result.stage_reached),
            str(row.result.pipeline_state),
            row.order_state_now,
            str(row.result.reason_code or "-"),
        )
        for row in report.rows
    ]
    widths = [max(len(r[i]) for r in (header, *lines)) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    rule = "  ".join("-" * w for w in widths)
    rows = [fmt.format(*header), rule, *(fmt.format(*r) for r in lines)]
    return "\n".join(row.rstrip() for row in rows)
