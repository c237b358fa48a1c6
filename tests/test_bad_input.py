"""
The bad-input catalogue: malformed intents, events, files and settings. Each gives a clear
error naming the field and the rule (a ReasonCode where the pipeline reports it), and leaves
ledgers and audit trail unchanged apart from an audited refusal.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from execfsm import (
    AdapterRegistry,
    AuditOutcome,
    ContractViolation,
    EventKind,
    ExecutionEvent,
    ExecutionMode,
    ExecutionOrchestrator,
    Fill,
    LivePolicy,
    OrderIntent,
    OrderState,
    ReasonCode,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.adapters.dispatcher import Dispatcher, RetryPolicy
from execfsm.cli import main
from execfsm.clock import EPOCH
from execfsm.governance import MACHINES
from execfsm.governance.trail import verify_trail
from tests.conftest import make_intent

# -- intents refused at construction (type rules) ---------------------------------------------

CONSTRUCTION: list[tuple[str, Any]] = [
    ("quantity", 0.1),
    ("quantity", float("nan")),
    ("quantity", float("inf")),
    ("quantity", float("-inf")),
    ("quantity", "NaN"),
    ("quantity", "Infinity"),
    ("quantity", "-Infinity"),
    ("quantity", "abc"),
    ("quantity", ""),
    ("quantity", True),
    ("quantity", None),
    ("quantity", [1]),
    ("quantity", b"1"),
    ("limit_price", 1.5),
    ("limit_price", "nan"),
    ("limit_price", "inf"),
    ("limit_price", object()),
    ("side", "HOLD"),
    ("side", ""),
    ("side", 1),
    ("side", None),
    ("order_type", "STOP"),
    ("order_type", None),
    ("time_in_force", "GTX"),
    ("symbol", 42),
    ("symbol", None),
    ("symbol", b"BTC/EUR"),
    ("strategy_id", None),
    ("strategy_id", 7),
    ("intent_id", 5),
    ("session_id", []),
]


@pytest.mark.parametrize(
    ("field", "value"), CONSTRUCTION, ids=[f"{f}={v!r}" for f, v in CONSTRUCTION]
)
def test_malformed_intent_is_refused_naming_the_field(field: str, value: Any) -> None:
    """A value of the wrong type or a non-finite number is refused at construction."""
    with pytest.raises(ContractViolation) as caught:
        make_intent(**{field: value})

    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"symbol": "BTC/EUR"},
            "missing required field(s) order_type, quantity, side, strategy_id",
        ),
        ({**attrs.asdict(make_intent()), "leverage": 5}, "unknown field(s) leverage"),
        ("BUY 1 BTC", "must be a JSON object"),
    ],
)
def test_intent_from_plain_data_names_missing_and_extra_fields(data: Any, message: str) -> None:
    """Plain data with missing or extra fields is refused by name."""
    with pytest.raises(ContractViolation, match=message.replace("(", r"\(").replace(")", r"\)")):
        OrderIntent.from_mapping(data)


# -- intents refused by the pipeline's validation stage --------------------------------------

PIPELINE: list[tuple[dict[str, Any], ReasonCode, str]] = [
    ({"quantity": 0}, ReasonCode.VALIDATION_INVALID_QUANTITY, "quantity"),
    ({"quantity": -1}, ReasonCode.VALIDATION_INVALID_QUANTITY, "quantity"),
    ({"quantity": "-0.0001"}, ReasonCode.VALIDATION_INVALID_QUANTITY, "quantity"),
    ({"quantity": 10**12}, ReasonCode.VALIDATION_INVALID_QUANTITY, "quantity"),
    ({"quantity": "1e30"}, ReasonCode.VALIDATION_INVALID_QUANTITY, "quantity"),
    ({"quantity": "1e-13"}, ReasonCode.VALIDATION_INVALID_QUANTITY, "quantity"),
    ({"limit_price": None}, ReasonCode.VALIDATION_INVALID_PRICE, "limit_price"),
    ({"limit_price": 0}, ReasonCode.VALIDATION_INVALID_PRICE, "limit_price"),
    ({"limit_price": "-5"}, ReasonCode.VALIDATION_INVALID_PRICE, "limit_price"),
    ({"limit_price": 10**13}, ReasonCode.VALIDATION_INVALID_PRICE, "limit_price"),
    ({"limit_price": "0.0000000000001"}, ReasonCode.VALIDATION_INVALID_PRICE, "limit_price"),
    ({"symbol": ""}, ReasonCode.VALIDATION_INVALID_SYMBOL, "symbol"),
    ({"symbol": "   "}, ReasonCode.VALIDATION_INVALID_SYMBOL, "symbol"),
    ({"symbol": "BTC\nEUR"}, ReasonCode.VALIDATION_INVALID_SYMBOL, "symbol"),
    ({"symbol": "BTC\x00"}, ReasonCode.VALIDATION_INVALID_SYMBOL, "symbol"),
    ({"symbol": "\t"}, ReasonCode.VALIDATION_INVALID_SYMBOL, "symbol"),
]


def paper() -> tuple[ExecutionOrchestrator, SimulatedVenue]:
    clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
    venue = SimulatedVenue(clock)
    registry = AdapterRegistry()
    registry.register(ExecutionMode.PAPER, venue)
    orch = ExecutionOrchestrator(execution_mode=ExecutionMode.PAPER, registry=registry, clock=clock)
    orch.submit_intent(make_intent(intent_id="good", limit_price=Decimal(70_000)))
    return orch, venue


@pytest.mark.parametrize(
    ("overrides", "reason", "field"),
    PIPELINE,
    ids=[f"{next(iter(o))}={next(iter(o.values()))!r}" for o, _, _ in PIPELINE],
)
def test_invalid_intent_stops_at_validation_and_changes_nothing_else(
    overrides: dict[str, Any], reason: ReasonCode, field: str
) -> None:
    """The pipeline refuses the intent at stage 2 with the field's reason code; the venue is
    not called, positions and other orders are untouched, and the audit gains only this
    intent's records, one of them the refusal."""
    orch, venue = paper()
    orders_before = orch.get_order_ledger_snapshot()
    positions_before = orch.get_position_ledger_snapshot()
    records_before = orch.get_audit_log_snapshot()

    result = orch.submit_intent(make_intent(intent_id="bad", **overrides))

    assert (result.stage_reached, result.reason_code) == (2, reason)
    assert field in result.reason_detail
    assert len(venue.new_orders) == 1
    assert orch.get_position_ledger_snapshot() == positions_before
    orders_after = orch.get_order_ledger_snapshot()
    assert orders_after[:-1] == orders_before
    assert orders_after[-1].state is OrderState.FAILED
    new = orch.get_audit_log_snapshot()[len(records_before) :]
    assert {r.correlation_id for r in new} == {result.correlation_id}
    assert [(r.event, r.reason_code) for r in new if r.outcome is AuditOutcome.REFUSED] == [
        ("validate", reason)
    ]
    assert verify_trail(orch.get_audit_log_snapshot(), MACHINES).ok


# -- events -----------------------------------------------------------------------------------


def _dispatched() -> tuple[ExecutionOrchestrator, str, str]:
    orch, _ = paper()
    result = orch.submit_intent(make_intent(intent_id="resting", limit_price=Decimal(1)))
    assert result.order is not None
    return orch, result.order.client_order_id, result.correlation_id


EVENTS: list[tuple[str, dict[str, Any], ReasonCode]] = [
    ("unknown order", {"client_order_id": "ord-ghost"}, ReasonCode.EVENT_UNKNOWN_ORDER),
    ("wrong correlation", {"correlation_id": "cor-other"}, ReasonCode.EVENT_ORDER_MISMATCH),
    ("negative fee", {"fill": Fill("f", "0.1", "1", "-0.01")}, ReasonCode.FILL_INVALID_FEE),
    ("zero fill", {"fill": Fill("f", "0", "1")}, ReasonCode.FILL_INVALID_QUANTITY),
    ("negative fill", {"fill": Fill("f", "-1", "1")}, ReasonCode.FILL_INVALID_QUANTITY),
    ("zero price", {"fill": Fill("f", "0.1", "0")}, ReasonCode.FILL_INVALID_PRICE),
    ("negative price", {"fill": Fill("f", "0.1", "-3")}, ReasonCode.FILL_INVALID_PRICE),
]


@pytest.mark.parametrize(("name", "fields", "reason"), EVENTS, ids=[e[0] for e in EVENTS])
def test_bad_event_is_refused_and_audited_only(
    name: str, fields: dict[str, Any], reason: ReasonCode
) -> None:
    """A bad venue event is refused with its reason; orders and positions stay as they were
    and the trail gains exactly one refusal."""
    orch, cid, correlation = _dispatched()
    base = {"client_order_id": cid, "correlation_id": correlation, "fill": Fill("f", "0.1", "1")}
    event = ExecutionEvent(EventKind.FILL, f"bad-{name}", ts_event=EPOCH, **{**base, **fields})
    orders, positions = orch.get_order_ledger_snapshot(), orch.get_position_ledger_snapshot()
    records = len(orch.get_audit_log_snapshot())

    outcome = orch.handle_event(event)

    assert (outcome.outcome, outcome.reason_code) == (AuditOutcome.REFUSED, reason)
    assert orch.get_order_ledger_snapshot() == orders
    assert orch.get_position_ledger_snapshot() == positions
    new = orch.get_audit_log_snapshot()[records:]
    assert [(r.outcome, r.reason_code) for r in new] == [(AuditOutcome.REFUSED, reason)]
    assert verify_trail(orch.get_audit_log_snapshot(), MACHINES).ok


MALFORMED_EVENTS: list[tuple[str, dict[str, Any], str]] = [
    ("fill event without a fill", {"kind": EventKind.FILL}, "fill"),
    ("ack carrying a fill", {"kind": EventKind.ACK, "fill": Fill("f", "1", "1")}, "fill"),
    ("naive timestamp", {"ts_event": EPOCH.replace(tzinfo=None)}, "ts_event"),
    ("unknown kind", {"kind": "TRADE"}, "kind"),
    ("reason as a string", {"kind": EventKind.REJECT, "reason_code": "REJECTED"}, "reason_code"),
    ("numeric event id", {"event_id": 5}, "event_id"),
    ("fill with a float quantity", {"kind": EventKind.FILL, "fill": "x"}, "fill"),
]


@pytest.mark.parametrize(
    ("name", "fields", "field"), MALFORMED_EVENTS, ids=[e[0] for e in MALFORMED_EVENTS]
)
def test_malformed_event_is_refused_at_construction(
    name: str, fields: dict[str, Any], field: str
) -> None:
    """An event that cannot describe anything real never reaches a machine."""
    base: dict[str, Any] = {
        "kind": EventKind.ACK,
        "event_id": "e",
        "client_order_id": "ord-1",
        "correlation_id": "cor-1",
        "ts_event": EPOCH,
    }

    with pytest.raises(ContractViolation) as caught:
        ExecutionEvent(**{**base, **fields})

    assert caught.value.field == field


def test_fill_with_float_quantity_is_refused() -> None:
    """A fill built with a float quantity is refused naming the field."""
    with pytest.raises(ContractViolation, match="quantity"):
        Fill("f", 0.1, "1")


# -- files for `execfsm run` -----------------------------------------------------------------

GOOD_LINE = (
    '{"symbol":"BTC/EUR","side":"BUY","quantity":"1","order_type":"MARKET","strategy_id":"s"}'
)
FILES: list[tuple[str, bytes, str]] = [
    ("malformed JSON", b"{symbol: BTC}", "line 2: not valid JSON"),
    ("truncated line", GOOD_LINE[:-9].encode(), "line 2: not valid JSON"),
    ("not an object", b"[1, 2]", "line 2: intent: must be a JSON object"),
    ("unknown field", GOOD_LINE[:-1].encode() + b',"venue":"x"}', "unknown field(s) venue"),
    (
        "missing field",
        b'{"symbol":"BTC/EUR","side":"BUY","quantity":"1","order_type":"MARKET"}',
        "missing required field(s) strategy_id",
    ),
    ("float quantity", GOOD_LINE.replace('"1"', "1.5").encode(), "line 2: quantity"),
    (
        "NaN quantity",
        GOOD_LINE.replace('"1"', '"NaN"').encode(),
        "line 2: quantity: must be a finite number",
    ),
    (
        "unknown side",
        GOOD_LINE.replace("BUY", "LONG").encode(),
        "line 2: side: must be one of BUY, SELL",
    ),
    ("binary garbage", b"\xff\xfe\x00garbage", "cannot read"),
]


@pytest.mark.parametrize(("name", "second_line", "message"), FILES, ids=[f[0] for f in FILES])
def test_bad_jsonl_file_is_reported_and_nothing_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, second_line: bytes, message: str
) -> None:
    """A bad line is reported with its number and the rule; exit 2; no intent is run."""
    path = tmp_path / "intents.jsonl"
    path.write_bytes(GOOD_LINE.encode() + b"\n" + second_line + b"\n")

    code = main(["run", str(path), "--mode", "paper", "--db", str(tmp_path / "run.db")])

    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert captured.out == ""


@pytest.mark.parametrize("where", ["missing.jsonl", "."])
def test_unreadable_file_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    """A missing file or a directory exits 2 with the path named."""
    code = main(["run", str(tmp_path / where), "--db", str(tmp_path / "run.db")])

    assert code == 2
    assert "cannot read" in capsys.readouterr().err


# -- settings ---------------------------------------------------------------------------------

SETTINGS: list[tuple[str, Any, str]] = [
    ("mode as a string", lambda: ExecutionOrchestrator(execution_mode="LIVE"), "execution_mode"),
    ("policy as a string", lambda: ExecutionOrchestrator(live_policy="approved"), "live_policy"),
    (
        "naive policy expiry",
        lambda: LivePolicy("cro", "x", EPOCH.replace(tzinfo=None)),
        "expires_at",
    ),
    ("zero attempts", lambda: RetryPolicy(max_attempts=0), "max_attempts"),
    ("negative timeout", lambda: Dispatcher(timeout=-1), "timeout"),
    ("zero timeout", lambda: Dispatcher(timeout=0), "timeout"),
    ("float fee", lambda: SimulatedVenue(SteppingClock(EPOCH), fee_bps=1.5), "fee_bps"),
    (
        "fractions not summing to 1",
        lambda: SimulatedVenue(SteppingClock(EPOCH), partial_fills=("0.5",)),
        "partial_fills",
    ),
    (
        "adapter for LIVE_BLOCKED",
        lambda: AdapterRegistry().register(
            ExecutionMode.LIVE_BLOCKED, SimulatedVenue(SteppingClock(EPOCH))
        ),
        "mode",
    ),
]


@pytest.mark.parametrize(("name", "build", "field"), SETTINGS, ids=[s[0] for s in SETTINGS])
def test_bad_setting_is_a_clear_error(name: str, build: Any, field: str) -> None:
    """A bad setting is refused at construction, naming the setting."""
    with pytest.raises(ContractViolation) as caught:
        build()

    assert caught.value.field == field


def test_the_catalogue_has_at_least_50_cases() -> None:
    """The catalogue covers at least fifty malformed inputs."""
    total = len(CONSTRUCTION) + 3 + len(PIPELINE) + len(EVENTS) + len(MALFORMED_EVENTS) + 1
    total += len(FILES) + 2 + len(SETTINGS)

    assert total >= 50
