"""
The FIX 4.4 mapping on its own: the ExecType table, Decimal figures exactly as written in
both directions (through QuickFIX's own message text), and what a status answer reports.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import quickfix as fix

from execfsm.adapters.fix import _messages as msgs
from execfsm.adapters.fix import mapping as m
from execfsm.contracts import EventKind, Order, OrderSide, OrderState, OrderType, ReasonCode
from execfsm.errors import TransientVenueError

TS = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
REF = m.OrderRef("ord-1", "cor-1", "BTC/EUR", OrderSide.BUY)


def report(exec_type: str, **extra: str) -> dict[int, str]:
    fields = {
        m.CL_ORD_ID: "ord-1",
        m.ORDER_ID: "O1",
        m.EXEC_ID: "X1",
        m.EXEC_TYPE: exec_type,
        m.ORD_STATUS: "0",
        m.SYMBOL: "BTC/EUR",
        m.SIDE: "1",
        m.ORDER_QTY: "2",
        m.CUM_QTY: "0",
        m.LEAVES_QTY: "2",
        m.AVG_PX: "0",
        m.LAST_QTY: "0.5",
        m.LAST_PX: "100",
        m.EXEC_REF_ID: "X0",
    }
    fields.update({int(k[1:]): v for k, v in extra.items()})
    return fields


class TestExecTypes:
    """ExecType (150) → event kind, as the README's table says."""

    @pytest.mark.parametrize(
        ("exec_type", "kind"),
        [
            ("0", EventKind.ACK),
            ("F", EventKind.FILL),
            ("4", EventKind.CANCEL_ACK),
            ("5", EventKind.REPLACE_ACK),
            ("8", EventKind.REJECT),
            ("C", EventKind.EXPIRE),
            ("3", EventKind.EXPIRE),
            ("H", EventKind.TRADE_BUST),
            ("G", EventKind.TRADE_CORRECT),
        ],
    )
    def test_each_exec_type_is_its_event(self, exec_type: str, kind: EventKind) -> None:
        """The report becomes one event of its kind, for our order, named by the ExecID."""
        event = m.event_of_report(report(exec_type), REF, TS)

        assert event is not None
        assert event.kind is kind
        assert event.client_order_id == "ord-1"
        assert event.correlation_id == "cor-1"
        assert event.event_id == "fix-X1"

    @pytest.mark.parametrize("exec_type", ["I", "A", "6", "E"])
    def test_status_and_pending_exec_types_move_nothing(self, exec_type: str) -> None:
        """Order Status and Pending New/Cancel/Replace are answers, not events."""
        assert m.event_of_report(report(exec_type), REF, TS) is None

    def test_a_trade_carries_its_execution(self) -> None:
        """LastQty, LastPx, ExecID and Commission (CommType 3) make the fill."""
        event = m.event_of_report(report("F", t12="0.05", t13="3"), REF, TS)

        assert event is not None
        assert event.fill is not None
        assert (event.fill.fill_id, event.fill.quantity, event.fill.price, event.fill.fee) == (
            "X1",
            Decimal("0.5"),
            Decimal(100),
            Decimal("0.05"),
        )

    def test_bust_and_correct_name_the_execution(self) -> None:
        """ExecRefID names the fill a Trade Cancel or Trade Correct is about."""
        bust = m.event_of_report(report("H"), REF, TS)
        correct = m.event_of_report(report("G"), REF, TS)

        assert bust is not None
        assert correct is not None
        assert bust.exec_ref_id == "X0"
        assert correct.exec_ref_id == "X0"
        assert correct.fill is not None

    def test_a_reject_carries_the_venue_reason(self) -> None:
        """A Rejected report is a REJECT with ADAPTER_REJECTED and the venue's text."""
        event = m.event_of_report(report("8", t103="1", t58="unknown symbol"), REF, TS)

        assert event is not None
        assert event.reason_code is ReasonCode.ADAPTER_REJECTED
        assert "OrdRejReason=1" in event.detail
        assert "Text=unknown symbol" in event.detail

    @pytest.mark.parametrize(
        ("to", "kind"), [("1", EventKind.CANCEL_REJECT), ("2", EventKind.REPLACE_REJECT)]
    )
    def test_a_cancel_reject_answers_by_cxl_rej_response_to(self, to: str, kind: EventKind) -> None:
        """OrderCancelReject is CANCEL_REJECT (434=1) or REPLACE_REJECT (434=2)."""
        fields = {m.CL_ORD_ID: "ord-1.r1", m.CXL_REJ_RESPONSE_TO: to}

        assert m.event_of_cancel_reject(fields, REF, TS, "7").kind is kind

    def test_an_unknown_cxl_rej_response_to_is_malformed(self) -> None:
        """434 other than 1 or 2 is refused."""
        with pytest.raises(m.MalformedReport, match="CxlRejResponseTo"):
            m.event_of_cancel_reject({m.CL_ORD_ID: "x", m.CXL_REJ_RESPONSE_TO: "9"}, REF, TS, "1")


class TestDecimals:
    """Quantities and prices cross FIX exactly as written, never through float."""

    @pytest.mark.parametrize("value", ["0.00000001", "123456789.123456789", "1", "60000.5"])
    def test_a_figure_round_trips_through_quickfix(self, value: str) -> None:
        """Our 35=D carries the Decimal as written; a report with it reads back equal."""
        order = Order(
            "ord-1",
            "cor-1",
            "k",
            "BTC/EUR",
            OrderSide.BUY,
            OrderType.LIMIT,
            Decimal(value),
            "s",
            limit_price=Decimal(value),
        )
        text = msgs.new_order_single(order, TS).toString()
        parsed = fix.Message(text, False)

        assert parsed.getField(m.ORDER_QTY) == value
        assert parsed.getField(m.PRICE) == value
        fields = msgs.fields_of(parsed)
        fields.update({m.EXEC_ID: "X1", m.EXEC_TYPE: "F", m.LAST_QTY: value, m.LAST_PX: value})
        event = m.event_of_report(fields, REF, TS)
        assert event is not None
        assert event.fill is not None
        assert event.fill.quantity == Decimal(value)
        assert m.fmt(event.fill.price) == value

    @pytest.mark.parametrize("raw", ["abc", "1e3", "1,5", "", "inf", "NaN", "0x10", " 1"])
    def test_a_field_that_is_not_a_plain_decimal_is_malformed(self, raw: str) -> None:
        """Exponents, words, commas, blanks and specials are refused, never guessed."""
        with pytest.raises(m.MalformedReport):
            m.decimal({m.LAST_QTY: raw}, m.LAST_QTY, "LastQty")

    def test_fmt_never_writes_an_exponent(self) -> None:
        """A Decimal with an exponent is written in plain notation."""
        assert m.fmt(Decimal("1E-8")) == "0.00000001"
        assert m.fmt(Decimal("1.2E+3")) == "1200"


class TestStatus:
    """Order Status answers (ExecType I) as reports."""

    def test_a_status_answer_is_a_report_with_the_executions_received(self) -> None:
        """OrdStatus 1 with CumQty equal to the executions we hold: PARTIALLY_FILLED with them."""
        fields = report("I", t39="1", t14="0.5", t151="1.5", t6="100", t44="100", t40="2")
        fill = m.venue_fill(m.event_of_report(report("F"), REF, TS), REF)  # type: ignore[arg-type]
        held = m.report_of_status(fields, "ord-1", [fill])

        assert held.state is OrderState.PARTIALLY_FILLED
        assert held.cum_quantity == Decimal("0.5")
        assert held.limit_price == Decimal(100)
        assert held.order_type is OrderType.LIMIT
        assert held.fills == (fill,)

    def test_a_status_answer_beyond_the_executions_received_is_incomplete(self) -> None:
        """CumQty above what we received is not guessed at: the query fails, to be asked again."""
        fields = report("I", t39="2", t14="2", t151="0", t6="100")
        with pytest.raises(TransientVenueError, match="incomplete"):
            m.report_of_status(fields, "ord-1", [])

    def test_an_unknown_order_answer_is_recognised(self) -> None:
        """OrdStatus 8 with OrdRejReason 5 means the venue does not know the order."""
        assert m.unknown_to_venue(report("I", t39="8", t103="5"))
        assert not m.unknown_to_venue(report("I", t39="8", t103="1"))
