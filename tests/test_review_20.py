"""
Hostile review of venue reconciliation (issue 20): each test is a promise of the README or of
the reconciler's docstrings that the current code breaks. One test per defect.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from execfsm.adapters import _venue_book
from execfsm.adapters.query_faults import QueryFaults
from execfsm.adapters.reports import VenueFill, VenueOrderReport
from execfsm.cli import main
from execfsm.clock import EPOCH
from execfsm.contingent.terms import ContingentGroup, GroupState
from execfsm.contracts import (
    Fill,
    Order,
    OrderIntent,
    OrderSide,
    OrderState,
    OrderType,
    ReasonCode,
    TimeInForce,
)
from execfsm.errors import ConfigurationError, StoreError
from execfsm.ledger.sqlite import SqliteStore
from execfsm.reconciliation.findings import ReconPolicy
from execfsm.reconciliation.machine import ReconState
from execfsm.testing import Fault, order_for
from tests.test_reconciliation_stateful import Session, intent

Spoil = Callable[[VenueOrderReport], VenueOrderReport]


def lying(spoil: Spoil, limit: str | None = "1") -> tuple[Session, str]:
    """A session whose venue took a LIMIT order (the answer lost) and answers queries about
    it spoiled by `spoil`; the order's client order id."""
    s = Session()
    real = s.venue.order_report

    def order_report(cid: str) -> VenueOrderReport | None:
        report = real(cid)
        return None if report is None else spoil(report)

    s.venue.order_report = order_report  # type: ignore[method-assign]
    cid = s.submit(intent(limit=limit), Fault.TIMEOUT_AFTER_SEND)
    assert s.order(cid).state is OrderState.SUBMITTED
    return s, cid


def venue_fill(report: VenueOrderReport, exec_id: str, qty: str, **kw: object) -> VenueFill:
    return VenueFill(
        report.client_order_id,
        exec_id,
        kw.get("symbol", report.symbol),  # type: ignore[arg-type]
        kw.get("side", report.side),  # type: ignore[arg-type]
        Decimal(qty),
        Decimal(100),
        Decimal(0),
        EPOCH,
    )


def test_a_venue_holding_another_quantity_is_not_agreed() -> None:
    """Flags clear only when order and venue agree. The venue says it holds the order for
    5 where we sent 1 (no replace): that is a report no honest venue gives for our order, to
    be held for an operator. Instead `compare` never looks at the report's quantity: the
    order is ACKed, agreed, and its DISPATCH_OUTCOME_UNKNOWN flag cleared
    (reconciliation/compare.py, `compare`: no check of report.quantity vs order.quantity)."""
    s, cid = lying(lambda r: attrs.evolve(r, quantity=Decimal(5), leaves_quantity=Decimal(5)))
    report = s.orch.reconcile()
    assert [c.state for c in report.checks] == [ReconState.HELD]
    assert s.order(cid).recon_flags


def test_a_venue_holding_another_limit_price_is_not_agreed() -> None:
    """Flags clear only when order and venue agree. The venue rests our LIMIT 1 order at 7
    (no replace pending): a buy at 7 is not the order we sent. `compare` ignores
    report.limit_price outside a pending replace, so the order is agreed and unflagged
    (reconciliation/compare.py, `compare`)."""
    s, cid = lying(lambda r: attrs.evolve(r, limit_price=Decimal(7)))
    report = s.orch.reconcile()
    assert [c.state for c in report.checks] == [ReconState.HELD]
    assert s.order(cid).recon_flags


def test_a_report_in_a_state_no_venue_holds_is_held_without_touching_the_order() -> None:
    """Impossible reports are HELD for an operator. A report that says SUBMITTED (a state
    only we hold; `VenueOrderReport.state` documents ACKNOWLEDGED..REJECTED but accepts any
    OrderState) is held, but only after an ACK was applied to the order from it:
    `_catch_up` proposes an ACK for any state but REJECTED (compare.py `_catch_up`), and the
    reconciler applies the events before checking they reach the venue's state
    (reconciler.py `_take`). The operator finds the order ACKNOWLEDGED on the word of a
    report we judged impossible."""
    s, cid = lying(lambda r: attrs.evolve(r, state=OrderState.SUBMITTED))
    report = s.orch.reconcile()
    assert [c.state for c in report.checks] == [ReconState.HELD]
    assert s.order(cid).state is OrderState.SUBMITTED


def test_a_report_naming_one_execution_twice_books_nothing_from_it() -> None:
    """Impossible reports are HELD, and a held order is not brought to anything. A report
    whose fills list execution X1 twice (0.5 + 0.5, cum 1) passes VenueOrderReport's
    validation (the sum is checked, not the ids: adapters/reports.py `__attrs_post_init__`);
    the reconciler applies ACK and X1 (booking 0.5 into the position) and only then holds
    the order, so a fill from a report it rejects is in the books."""

    def twice(r: VenueOrderReport) -> VenueOrderReport:
        f = venue_fill(r, "X1", "0.5")
        return attrs.evolve(
            r, state=OrderState.FILLED, cum_quantity=Decimal(1), leaves_quantity=0, fills=(f, f)
        )

    s, cid = lying(twice)
    report = s.orch.reconcile()
    assert [c.state for c in report.checks] == [ReconState.HELD]
    assert s.order(cid).filled_quantity == 0
    assert not any(p.quantity for p in s.orch.get_position_ledger_snapshot().values())


def test_a_fill_reported_in_another_symbol_is_not_booked_to_the_order() -> None:
    """A report that contradicts our order is for reconciliation to find (reports.py). The
    venue reports our BTC/EUR order FILLED by an execution in ETH/EUR; neither the report's
    validation (fills must be "of this order" but only the client order id is checked) nor
    `compare` (symbol and side checked on the report, never on its fills) notices: the
    ETH/EUR execution is booked as a BTC/EUR fill and the order agreed and unflagged."""

    def eth(r: VenueOrderReport) -> VenueOrderReport:
        f = venue_fill(r, "X1", "1", symbol="ETH/EUR")
        return attrs.evolve(
            r, state=OrderState.FILLED, cum_quantity=Decimal(1), leaves_quantity=0, fills=(f,)
        )

    s, cid = lying(eth)
    report = s.orch.reconcile()
    assert [c.state for c in report.checks] == [ReconState.HELD]
    assert s.order(cid).filled_quantity == 0


def test_an_order_rejected_as_not_found_that_the_venue_later_shows_is_reconciled_again() -> None:
    """After a crash + restart against the same truthful venue every order ends in the
    venue's state. A venue that forgot the order in its answers (it had taken and filled
    it) gets it REJECTED by the not-found rule; then its lost ACK and fills arrive, the
    order is flagged (ACK_AFTER_FAILURE, FILL_AFTER_FINAL) and the venue answers truly. Every
    later pass skips it as "resolved before: not found" (reconciler.py `_check_order`: the
    NOT_FOUND machine state is final and short-circuits), it is never held either, so
    `release_held` refuses it: the order stays REJECTED with its flags forever while the
    venue holds it FILLED."""
    first = intent()
    cid = order_for(first).client_order_id
    s = Session(forget_orders=[cid])
    s.submit(first, Fault.TIMEOUT_AFTER_SEND)
    t0 = s.clock.now()
    s.orch.reconcile(t0)
    s.orch.reconcile(t0 + timedelta(seconds=10))
    assert s.order(cid).reason_code is ReasonCode.RECON_ORDER_NOT_FOUND
    s.venue.query_faults = QueryFaults()  # the venue answers truly again
    for event in s.inner.answered:  # its lost answers arrive late
        s.orch.handle_event(event)
    assert s.order(cid).recon_flags

    report = s.orch.reconcile(full=True)

    assert [c.state for c in report.checks] != [ReconState.NOT_FOUND]
    order = s.order(cid)
    assert order.state is OrderState.FILLED or report.held
    assert order.state is not OrderState.FILLED or not order.recon_flags


def test_reconcile_with_an_empty_db_path_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`execfsm reconcile` with a bad --db exits 2 with one line, no traceback. With
    ``--db ''`` it raises ValueError from pathlib (cli_reconcile.py `venue_journal`:
    ``db.with_name(db.name + JOURNAL_SUFFIX)`` on an empty name) out of `main`."""
    try:
        code = main(["reconcile", "--db", ""])
    except ValueError as exc:  # pragma: no cover - the defect
        pytest.fail(f"traceback instead of exit 2: {exc!r}")
    assert code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_reconcile_refuses_a_venue_journal_that_is_not_one_and_leaves_it_intact(
    tmp_path: Path,
) -> None:
    """Reconciliation only asks. Pointed (by mistake) at a file that is not a venue journal
    but holds no newline, `execfsm reconcile --venue-journal FILE` takes the whole file for a
    torn last line: it reconciles against an empty venue (exit 1, "reconciled") and
    truncates the file to 0 bytes (adapters/_venue_journal.py `replay` + `VenueJournal.__init__`
    cut the "torn" bytes), destroying the user's file."""
    db = tmp_path / "s.db"
    rows = tmp_path / "i.jsonl"
    rows.write_text(
        json.dumps(
            {
                "symbol": "BTC/EUR",
                "side": "BUY",
                "quantity": "0.01",
                "order_type": "MARKET",
                "strategy_id": "x",
                "intent_id": "a",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    assert main(["run", str(rows), "--mode", "paper", "--db", str(db)]) == 0
    other = tmp_path / "notes.txt"
    other.write_bytes(b"SQLite format 3\x00 some precious bytes, no newline")
    size = other.stat().st_size

    code = main(["reconcile", "--db", str(db), "--venue-journal", str(other)])

    assert other.stat().st_size == size
    assert code == 2


def test_a_contingent_leg_rejected_by_the_not_found_rule_ends_its_group() -> None:
    """A reconciled leg makes its group re-read its legs. An OTO whose parent never reached
    the venue ends with the parent REJECTED (RECON_ORDER_NOT_FOUND), but the group is told
    only when a check *applied* venue events (reconciler.py `_check_order`:
    ``if ... and check.applied``; the not-found rule's REJECT is applied in `_not_known`
    with ``applied`` 0), so it stays WORKING with a dead parent and a child it will never
    release. A venue-rejected parent, or the same group told of its leg, ends DONE."""
    s = Session()
    parent = intent("p", limit="1")
    child = intent("c", limit="1", side=OrderSide.SELL)
    s.venue.unsent.add("submit")  # the parent's request never leaves
    s.orch.submit_group(ContingentGroup.oto("g1", parent, child))
    t0 = s.clock.now() + timedelta(minutes=1)

    s.orch.reconcile(t0)
    s.orch.reconcile(t0 + timedelta(seconds=20))

    status = s.orch.contingent.status("g1")
    assert status.legs["parent"] is not None
    assert status.legs["parent"].reason_code is ReasonCode.RECON_ORDER_NOT_FOUND
    assert status.state is GroupState.DONE


def test_a_pass_over_many_orders_on_a_faulty_venue_is_not_quadratic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pass over N orders does O(N) work (the README's 10k-order passes). FaultyVenue's
    `order_report` (adapters/faulty.py `_answers`) rebuilds *every* report of the inner
    venue (``inner.venue_reports``) to answer about one order, so a pass over N orders builds
    N*N reports: 1,000 orders take ~6 s, 4,000 ~2 min, 10,000 ~12 min (measured). Counted
    here: 150 orders should build a few hundred reports, not 22,500."""
    s = Session()
    for i in range(150):
        s.submit(intent(f"q{i}", limit="1"), Fault.TIMEOUT_AFTER_SEND)
    built = 0
    real = _venue_book._report

    def counting(*args: object, **kwargs: object) -> VenueOrderReport:
        nonlocal built
        built += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_venue_book, "_report", counting)

    report = s.orch.reconcile()

    assert len(report.checks) == 150
    assert built <= 4 * 150, built


def test_the_not_found_wait_is_not_shortened_by_a_restart(tmp_path: Path) -> None:
    """An order the venue never had ends REJECTED only after N answers over time T, and the
    count and its start survive a restart. A pass at `now` counts its "unknown" answer from
    `now` (``first_miss = now``), but a reopened reconciler re-reads the start from the
    record's wall-clock ``ts`` (reconciler.py `_reopened`: ``first_miss or record.ts``). A
    pass at t0, a restart, and a pass at t0 + 2 s (T = 10 s) gives the order up as never
    reached: 2 answers over 2 s, not over 10."""
    policy = ReconPolicy(not_found_after=2, not_found_wait=timedelta(seconds=10), on_start=False)
    s = Session(policy=policy, store=SqliteStore(tmp_path / "s.db"))
    s.venue.unsent.add("submit")
    cid = s.submit(intent(limit="1"))
    t0 = s.clock.now() + timedelta(minutes=1)
    s.orch.reconcile(t0)
    s.orch.close()
    s.orch = s.open(SqliteStore(tmp_path / "s.db"))

    s.orch.reconcile(t0 + timedelta(seconds=2))

    assert s.order(cid).state is OrderState.SUBMITTED


def test_a_venue_listing_one_working_order_twice_does_not_stop_the_store(
    tmp_path: Path,
) -> None:
    """Every unit of work is all-or-nothing, and a unit that raises stops the store, so
    nothing may raise inside the reconciler's units. A venue whose `open_orders` lists the
    same external order twice (a paging glitch) makes a full adopting pass adopt it twice:
    the second `_adopt` adds the order to the ledger inside its unit, which raises
    ``KeyError: order ledger: order ext-1 is already tracked`` (reconciler.py `_adopt`;
    venue_side.py `external_orders` does not de-duplicate), and the store accepts no more
    writes: trading stops."""
    policy = ReconPolicy(adopt_external=True, on_start=False)
    s = Session(policy=policy, store=SqliteStore(tmp_path / "s.db"))
    external = VenueOrderReport(
        "ext-1",
        OrderState.ACKNOWLEDGED,
        "BTC/EUR",
        OrderSide.BUY,
        Decimal(2),
        Decimal(0),
        Decimal(2),
        None,
        (),
        limit_price=Decimal(100),
    )
    s.venue.open_orders = lambda: (external, external)  # type: ignore[method-assign]

    try:
        s.orch.reconcile(full=True)
        s.submit(intent("after"))
    except StoreError as exc:
        pytest.fail(f"the store stopped: {exc}")
    assert s.order("ext-1").state is OrderState.ACKNOWLEDGED


def test_a_fill_subscriber_may_call_reconcile_without_deadlocking() -> None:
    """Fill subscribers are called after their fills are durable, outside any unit and
    after the orchestrator's locks are released, so they may call back into it. Fills a
    pass books are told from inside the pass (reconciler.py `_settle`, called from `run`
    while it holds the non-reentrant ``_one_pass`` lock): a subscriber that asks for a pass
    of its own (or waits on a thread that does) blocks forever, and with it the pass and
    every later one. (A nested pass should run after, or raise `ReentrantCall`.)"""
    s = Session()
    s.submit(intent(), Fault.TIMEOUT_AFTER_SEND)  # filled at the venue, the answer lost
    answers: list[object] = []

    def subscriber(order: Order, fill: Fill) -> None:
        try:
            answers.append(s.orch.reconcile())
        except Exception as exc:  # noqa: BLE001 - a refusal is an answer too
            answers.append(exc)

    s.orch.subscribe_fills(subscriber)
    worker = threading.Thread(target=s.orch.reconcile, daemon=True)
    worker.start()
    worker.join(3)

    assert not worker.is_alive(), "the pass deadlocked on its own subscriber"
    assert answers


def test_an_order_failed_by_an_adapter_error_after_the_send_takes_the_venues_fills() -> None:
    """An adapter that sent the order and then raised (a RuntimeError parsing the answer)
    leaves it FAILED (ADAPTER_ERROR) *and* flagged DISPATCH_OUTCOME_UNKNOWN: we do not know
    it was never sent. The venue filled it. The money moved, so reconciliation books the
    venue's executions into the order and the position; the order machine never leaves
    FAILED, so the order cannot agree with a FILLED venue and is held for an operator, with
    both states in the reason (it was first judged impossible, "we failed it as never
    sent", and our books missed the whole fill)."""
    s = Session()

    def sends_then_raises(order: Order, key: str) -> object:
        s.inner.submit(order, key)
        raise RuntimeError("could not parse the venue's answer")

    s.venue.submit = sends_then_raises  # type: ignore[method-assign]
    cid = s.submit(intent())
    assert s.order(cid).recon_flags == (ReasonCode.DISPATCH_OUTCOME_UNKNOWN,)
    venue = s.inner.order_report(cid)
    assert venue is not None
    assert venue.state is OrderState.FILLED

    report = s.orch.reconcile()

    order = s.order(cid)
    assert order.filled_quantity == venue.cum_quantity
    assert s.orch.get_position_ledger_snapshot()["BTC/EUR"].quantity == venue.cum_quantity
    assert [c.state for c in report.held] == [ReconState.HELD]
    assert "FAILED" in report.held[0].detail
    assert "FILLED" in report.held[0].detail
    assert ReasonCode.RECON_REPORT_IMPOSSIBLE in order.recon_flags


def test_reconcile_on_a_db_path_that_is_not_a_database_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`execfsm reconcile` with a bad --db exits 2 with one line; exit 1 means "the pass
    ran and something is left" (README's command table). A --db that is a directory (or a
    file that is not a database) prints ``FAIL store ...`` and exits 1 (cli_reconcile.py
    `reconcile`: ``except StoreError: ... return 1``), so a script reads a bad path as a
    pass that left work for the next one."""
    journal = tmp_path / "venue.jsonl"
    journal.write_text("", encoding="utf-8")
    (tmp_path / "adir").mkdir()

    code = main(["reconcile", "--db", str(tmp_path / "adir"), "--venue-journal", str(journal)])

    assert code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_lagging_venue_that_has_not_yet_seen_an_acked_order_leaves_it_for_the_next_pass() -> None:
    """A venue whose report lags behind what we already hold is BEHIND and leaves the order
    for the next pass (README). A venue answering one event behind (FaultyVenue
    ``query_lag=1``, i.e. ordinary eventual consistency) does not yet list an order it has
    just ACKed; a full pass turns that into IMPOSSIBLE ("the venue does not know order ...,
    which it acknowledged": reconciler.py `_take` + `_venue_had`) and HOLDS a perfectly
    healthy order for an operator, flagged RECON_REPORT_IMPOSSIBLE; once the venue has
    caught up later passes still only list it as held."""
    s = Session(query_lag=1)
    cid = s.submit(intent(limit="1"))
    assert s.order(cid).state is OrderState.ACKNOWLEDGED

    first = s.orch.reconcile(full=True)
    s.venue.query_faults = QueryFaults()  # the venue has caught up
    s.orch.reconcile(full=True)

    assert not first.held
    assert s.order(cid).recon_flags == ()


def test_a_replaced_order_is_judged_by_the_venues_report_of_its_latest_id() -> None:
    """Replace chains: an order's id at the venue since a replace is its
    ``venue_client_order_id``. A venue that, like FIX venues, closes the original ClOrdID
    when a replace takes (OrdStatus REPLACED, reported CANCELLED here) and keeps the order
    working under the new one is asked about the *original* id first, and only about the
    new one if the first answer is None (reconciler.py `_ask`). The closed original's
    report wins: CANCEL_ACK is applied and our order, still working at the venue for 2
    under ``.r1``, ends CANCELLED in our books (and a full pass does not list ``.r1`` as
    external either, since it is "known")."""
    s = Session()
    cid = s.submit(intent(limit="1"))
    s.orch.replace(cid, quantity="2")
    new = s.order(cid).venue_client_order_id
    assert new is not None
    real = s.venue.order_report

    def fix_like(asked: str) -> VenueOrderReport | None:
        report = real(cid)
        assert report is not None
        if asked == cid:  # the original ClOrdID, closed by the replace
            return attrs.evolve(
                report, state=OrderState.CANCELLED, quantity=Decimal(1), leaves_quantity=0
            )
        return attrs.evolve(report, client_order_id=new) if asked == new else None

    s.venue.order_report = fix_like  # type: ignore[method-assign]

    s.orch.reconcile(full=True)

    assert s.order(cid).state is OrderState.ACKNOWLEDGED


@pytest.mark.parametrize("field", ["adopt_external", "on_start"])
def test_a_recon_policy_switch_given_as_the_string_false_is_refused(field: str) -> None:
    """`ReconPolicy` checks its settings once and refuses bad ones with a
    `ConfigurationError` (a count of 0, 2.5, True, a negative or non-timedelta wait are all
    refused). Its two switches are not checked (reconciliation/findings.py: no validator on
    ``on_start`` / ``adopt_external``): ``adopt_external="false"`` read from a config file
    is accepted and, being truthy, turns adoption of the venue's unknown orders ON."""
    with pytest.raises(ConfigurationError):
        ReconPolicy(**{field: "false"})  # type: ignore[arg-type]


def test_an_expired_order_the_venue_still_works_after_refusing_its_cancel_is_held() -> None:
    """Impossible reports, and anything the machine cannot bring to the venue's truth, are
    HELD for an operator; BEHIND is for a venue that lags. A GTD order expired by our clock
    whose cancel the venue *refused* (CANCEL_REJECT: it is still working there, and may
    fill) is flagged EXPIRED_BY_CLOCK; every pass then calls the venue BEHIND ("EXPIRED
    here, still ACKNOWLEDGED in the venue's report": compare.py, final here and open there)
    and leaves it for the next pass, forever: never held, never resolved, and the live
    order is not listed as external either."""
    s = Session()
    t = s.clock.now()
    gtd = OrderIntent(
        "BTC/EUR",
        OrderSide.BUY,
        Decimal(1),
        OrderType.LIMIT,
        "recon",
        limit_price=Decimal(1),
        intent_id="gtd",
        time_in_force=TimeInForce.GTD,
        expire_time=t + timedelta(seconds=5),
    )
    cid = s.submit(gtd)
    s.venue.script.append(Fault.REJECTED)  # the venue refuses the cancel of the expiry
    s.orch.expire_due(t + timedelta(seconds=10))
    venue = s.venue.order_report(cid)
    assert venue is not None
    assert venue.state is OrderState.ACKNOWLEDGED
    assert s.order(cid).recon_flags == (ReasonCode.EXPIRED_BY_CLOCK,)

    reports = [s.orch.reconcile(t + timedelta(minutes=k)) for k in (1, 2, 3)]

    assert any(r.held for r in reports)


def test_two_venue_orders_placed_by_hand_without_a_client_order_id_do_not_stop_the_store(
    tmp_path: Path,
) -> None:
    """Nothing may raise inside the reconciler's units (a unit that raises stops the
    store). Orders keyed by hand in the venue's own screen carry no client order id (""):
    `VenueOrderReport` accepts "", `adoption` builds an Order with client_order_id "" and
    idempotency key "external:", and the second such order collides with the first inside
    `_adopt`'s unit (KeyError "order ledger: order  is already tracked"): the store stops.
    (Same unit-raising path as the duplicate listing, reached here by two *different*
    venue orders, BUY 1 and SELL 3, which the pass can never tell apart by id.)"""
    policy = ReconPolicy(adopt_external=True, on_start=False)
    s = Session(policy=policy, store=SqliteStore(tmp_path / "s.db"))

    def by_hand(side: OrderSide, quantity: int, venue_id: str) -> VenueOrderReport:
        return VenueOrderReport(
            "",
            OrderState.ACKNOWLEDGED,
            "BTC/EUR",
            side,
            Decimal(quantity),
            Decimal(0),
            Decimal(quantity),
            None,
            limit_price=Decimal(5),
            venue_order_id=venue_id,
        )

    listed = (by_hand(OrderSide.BUY, 1, "V1"), by_hand(OrderSide.SELL, 3, "V2"))
    s.venue.open_orders = lambda: listed  # type: ignore[method-assign]

    try:
        report = s.orch.reconcile(full=True)
        s.submit(intent("after"))
    except StoreError as exc:
        pytest.fail(f"the store stopped: {exc}")
    assert len(report.external) == 2
