"""
Finished intents are kept packed: canonical JSON bytes (`execfsm.ids.encode`) that read back
exactly, and that ledgers re-open on demand without losing a change. That the cyclic GC never
walks them is a speed check, in bench/checks.py (`make bench`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from execfsm import ExecutionEvent, OrderLifecycle
from execfsm.clock import EPOCH
from execfsm.contracts import Fill, Order, OrderState, PipelineState, ReasonCode
from execfsm.ids import decode, encode
from execfsm.ledger.orders import OrderLedger
from execfsm.ledger.positions import Position
from execfsm.ledger.recon import ReconRecord
from execfsm.results import PipelineResult, ResultBook
from execfsm.testing import in_memory_audit, order_for
from tests.conftest import make_intent
from tests.strategies import fills, orders, positions, recons, results


def _assert_exact(copy: object, original: object) -> None:
    # repr as well as ==: Decimal('1.0') == Decimal('1'), and an enum equals its value
    assert copy == original
    assert repr(copy) == repr(original)


class TestRoundTrip:
    @pytest.mark.parametrize(
        ("cls", "values"),
        [
            (Order, orders),
            (Fill, fills),
            (Position, positions),
            (ReconRecord, recons),
            (PipelineResult, results),
        ],
    )
    @given(data=st.data())
    def test_reads_back_exactly(
        self, cls: type[Any], values: st.SearchStrategy[Any], data: st.DataObject
    ) -> None:
        """Every field, enum member and Decimal exponent survives packing."""
        value = data.draw(values)

        _assert_exact(decode(cls, encode(value)), value)

    @given(orders, orders)
    def test_an_order_packed_again_packs_the_same(self, order: Order, other: Order) -> None:
        """The same snapshot packed twice (hand-off, lifecycle, result) gives the same bytes;
        any other order reads back as itself."""
        first = encode(order)

        assert encode(order) == first
        _assert_exact(decode(Order, encode(other)), other)
        _assert_exact(decode(Order, first), order)

    @pytest.mark.parametrize("cls", [Order, Fill, Position, ReconRecord, PipelineResult])
    def test_every_field_is_packed(self, cls: type[Any]) -> None:
        """Every attrs field of the class is in its packed form (one encoder derives them
        all from the field list)."""
        example = {
            Order: lambda: order_for(make_intent()),
            Fill: lambda: Fill("f", "1", "2"),
            Position: lambda: Position("BTC/EUR"),
            ReconRecord: lambda: ReconRecord(
                "c", "o", order_for(make_intent()), Position("BTC/EUR"), 1, 2
            ),
            PipelineResult: lambda: PipelineResult(
                True, "c", "k", None, 8, PipelineState.COMPLETED
            ),
        }[cls]()
        later = {"expire_time", "venue_client_order_id"}  # written only once set (`encode`)
        written = set(json.loads(encode(example)))
        assert written == {a.name for a in attrs.fields(cls)} - later
        if cls is Order:
            assert isinstance(example, Order)
            expiring = example.with_changes(expire_time=EPOCH, venue_client_order_id="x.r1")
            assert set(json.loads(encode(expiring))) == {a.name for a in attrs.fields(cls)}


def _filled_lifecycle(audit: Any, **intent: Any) -> OrderLifecycle:
    lc = OrderLifecycle(order_for(make_intent(**intent)), audit)
    lc.send("submit")
    lc.apply(ExecutionEvent.of_fill(lc.order, "e1", EPOCH, Fill("f1", "0.4", "100")))
    lc.apply(ExecutionEvent.of_fill(lc.order, "e2", EPOCH, Fill("f2", "0.6", "101")))
    return lc


class TestLifecycle:
    @given(orders, st.lists(fills, max_size=3), st.lists(fills, max_size=2), st.booleans())
    def test_round_trip(
        self, order: Order, seen: list[Fill], late: list[Fill], cancelling: bool
    ) -> None:
        """A re-opened order has the state, fills, late fills and pre-cancel state it had."""
        resume = OrderState.ACKNOWLEDGED if cancelling else None
        original = OrderLifecycle.restore(
            order, in_memory_audit(), fills=seen, late_fills=late, resume_state=resume
        )

        copy = OrderLifecycle.from_packed(original.packed(), in_memory_audit())

        _assert_exact(copy.order, original.order)
        assert copy.state_value is original.state_value
        _assert_exact(copy.fills, original.fills)
        _assert_exact(copy.late_fills, original.late_fills)
        assert copy.guard_context()["resume_state"] is resume

    def test_a_reopened_order_still_knows_its_fills(self) -> None:
        """A re-delivered fill is a duplicate, a changed one a conflict, as before packing."""
        audit = in_memory_audit()
        lc = OrderLifecycle.from_packed(_filled_lifecycle(audit).packed(), audit)
        again = ExecutionEvent.of_fill(lc.order, "e3", EPOCH, Fill("f2", "0.6", "101"))
        changed = ExecutionEvent.of_fill(lc.order, "e4", EPOCH, Fill("f2", "0.6", "99"))

        assert lc.apply(again).outcome.value == "duplicate"
        assert lc.apply(changed).reason_code is ReasonCode.FILL_CONFLICT
        assert lc.order.filled_quantity == Decimal("1.0")


class TestOrderLedger:
    def test_a_final_order_is_packed_and_reopened_on_demand(self) -> None:
        """Settling a final order packs it; `get` re-opens it equal, once, for every caller."""
        audit = in_memory_audit()
        ledger = OrderLedger(audit)
        lc = _filled_lifecycle(audit)
        ledger.add(lc)

        ledger.settle(lc)

        assert ledger.order(lc.client_order_id) == lc.order
        reopened = ledger.get(lc.client_order_id)
        assert reopened is not None
        assert reopened is not lc
        _assert_exact(reopened.order, lc.order)
        assert ledger.get(lc.client_order_id) is reopened  # live until settled again
        assert ledger.snapshot() == [lc.order]

    def test_a_live_order_is_never_packed(self) -> None:
        """An order that can still move stays the same object."""
        audit = in_memory_audit()
        ledger = OrderLedger(audit)
        lc = OrderLifecycle(order_for(make_intent()), audit)
        lc.send("submit")
        ledger.add(lc)

        ledger.settle(lc)

        assert ledger.get(lc.client_order_id) is lc

    def test_a_stale_lifecycle_does_not_overwrite_the_current_one(self) -> None:
        """Settling a lifecycle that was packed and re-opened since keeps the newer one."""
        audit = in_memory_audit()
        ledger = OrderLedger(audit)
        stale = _filled_lifecycle(audit)
        ledger.add(stale)
        ledger.settle(stale)
        current = ledger.get(stale.client_order_id)
        assert current is not None
        late = ExecutionEvent.of_fill(current.order, "e9", EPOCH, Fill("f9", "1", "100"))
        current.apply(late)  # an overfill after final: refused and flagged

        ledger.settle(stale)

        now = ledger.order(stale.client_order_id)
        assert now is not None
        assert now.recon_flags == (ReasonCode.FILL_OVERFILL,)


class TestResultBook:
    @given(results)
    def test_a_kept_result_reads_back_exactly(self, result: PipelineResult) -> None:
        """The book answers with the result it was given, by idempotency key."""
        book = ResultBook()
        book.keep(result)

        assert result.idempotency_key in book
        _assert_exact(book.get(result.idempotency_key), result)
        _assert_exact(book[result.idempotency_key], result)
        assert book.get(result.idempotency_key + "x") is None
