"""
SIGKILL with an order in flight over FIX: the venue took the NewOrderSingle, we never heard
back. The restarted session (same SQLite store, same FIX store and ClOrdID journal)
reconciles at start by a status request, ends where an uninterrupted one would, and sends
nothing twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from execfsm import OrderState, ReasonCode
from execfsm.testing.fix_acceptor import FixAcceptor
from tests.fix_crash_driver import INTENT, session
from tests.fix_rig import eventually

ROOT = Path(__file__).resolve().parent.parent


def test_a_kill_in_flight_is_reconciled_at_restart(tmp_path: Path) -> None:
    """Killed while the venue holds the order unanswered: at restart the order is ACKNOWLEDGED
    by reconciliation, it then fills, a resubmission sends nothing, the venue saw one 35=D."""
    venue = FixAcceptor(tmp_path / "venue").start()
    config = tmp_path / "fix.cfg"
    config.write_text(venue.initiator_config(tmp_path / "ours", extra="ResponseTimeout=60\n"))
    venue.hold_next_request()
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and driver
        [sys.executable, "-m", "tests.fix_crash_driver", str(tmp_path / "s.db"), str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "DISPATCHING"
        assert eventually(lambda: sum(venue.new_order_singles.values()) == 1, timeout=10)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
        assert venue.book.orders  # the venue holds it

        orch, adapter = session(tmp_path / "s.db", config)
        try:
            [order] = orch.get_order_ledger_snapshot()
            cid = order.client_order_id
            assert orch.startup_reconciliation is not None
            assert order.state is OrderState.ACKNOWLEDGED
            assert ReasonCode.DISPATCH_OUTCOME_UNKNOWN not in order.recon_flags
            assert order.venue_order_id == "O1"

            venue.fill(cid, "0.25", "50000")
            assert eventually(lambda: orch.order(cid).state is OrderState.FILLED)  # type: ignore[union-attr]
            again = orch.submit_intent(INTENT)
            assert again.duplicate
            assert orch.get_position_ledger_snapshot()["BTC/EUR"].quantity == Decimal("0.25")
            assert venue.new_order_singles[cid] == 1
            assert adapter.requests.count(("D", cid)) == 0  # the restarted adapter sent none
        finally:
            adapter.stop(force=True)
            orch.close()
    finally:
        if child.poll() is None:
            child.kill()
        venue.stop()


def test_a_report_taken_but_never_applied_is_applied_at_the_next_start(tmp_path: Path) -> None:
    """A Trade QuickFIX took (so the venue will not resend it) but the process never applied
    is in the adapter's inbox: the next start applies it, booked once."""
    venue = FixAcceptor(tmp_path / "venue").start()
    config = tmp_path / "fix.cfg"
    config.write_text(venue.initiator_config(tmp_path / "ours"))
    orch, adapter = session(tmp_path / "s.db", config)
    try:
        result = orch.submit_intent(INTENT)
        assert result.order is not None
        cid = result.order.client_order_id

        def dies(event: object) -> None:
            raise RuntimeError("the process stops here")

        adapter.set_event_sink(dies)
        venue.fill(cid, "0.25", "50000")
        assert eventually(lambda: len(adapter.delivery_failures) == 1)
    finally:
        adapter.stop(force=True)
        orch.close()
    assert orch.order(cid).state is OrderState.ACKNOWLEDGED  # type: ignore[union-attr]

    again, adapter = session(tmp_path / "s.db", config)
    try:
        assert eventually(lambda: again.order(cid).state is OrderState.FILLED)  # type: ignore[union-attr]
        adapter.drain()
        fills = [r for r in again.get_audit_log_snapshot() if r.event == "fill"]
        # the startup reconciliation's status answer may apply it first (from the inbox's
        # executions); the replay is then an audited duplicate, never a second booking
        assert str(fills[0].outcome) == "applied"
        assert {str(r.outcome) for r in fills[1:]} <= {"duplicate"}
        assert again.get_position_ledger_snapshot()["BTC/EUR"].quantity == Decimal("0.25")
        assert venue.new_order_singles[cid] == 1
    finally:
        adapter.stop(force=True)
        again.close()
        venue.stop()
