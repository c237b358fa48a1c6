"""
Crash test: a durable session is killed with SIGKILL at varied points, then restarted.

After every kill: each result returned before the kill is in the store, the chain verifies,
orders whose dispatch was interrupted were flagged, the reconciliation pass run at the
restart against the same venue (re-opened on its journal) leaves every order in the venue's
state with no operator, and resubmitting the whole session sends no key to the venue twice
(the venue's own journal file is the witness). ``CRASH_POINTS``
sets how many kill points run (`make crash-test` runs 200 of each kind: one intent at a
time, and several submitting threads with a thread cancelling beside them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from execfsm import ExecutionOrchestrator, OrderState, PipelineResult, ReasonCode
from execfsm.adapters.simulated import SimulatedVenue
from execfsm.clock import SystemClock
from execfsm.governance import MACHINES
from execfsm.governance.trail import verify_trail
from execfsm.ledger.replay import replay
from execfsm.reconciliation.findings import ReconPolicy
from tests.crash_driver import intents, open_session

ROOT = Path(__file__).resolve().parent.parent
COUNT = 40
POINTS = int(os.environ.get("CRASH_POINTS", "20"))


def kill_points(total: int) -> list[tuple[str, int]]:
    """Half after m returned results (the kill lands wherever the next intent is), half
    inside a dispatch (after the venue took the order, before we heard back)."""
    half = total // 2
    after = [("after", (i * 7) % COUNT) for i in range(half)]
    during = [("during", (i * 5) % 24) for i in range(total - half)]
    return [p for pair in zip(after, during, strict=False) for p in pair] + after[len(during) :]


def run_until_killed(
    tmp: Path, mode: str, point: int, batch: int = 1, threads: int = 1
) -> list[tuple[str, str]]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    pause_at = point if mode == "during" else -1
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and driver
        [
            sys.executable,
            "-m",
            "tests.crash_driver",
            str(tmp / "s.db"),
            str(tmp / "venue.journal"),
            str(COUNT),
            str(pause_at),
            str(batch),
            str(threads),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    returned: list[tuple[str, str]] = []
    try:
        for line in child.stdout:
            word, *rest = line.split()
            if word == "RESULT":
                returned.append((rest[0], rest[1]))
            if (
                mode == "after" and word in ("READY", "RESULT") and len(returned) >= point
            ) or word == "DISPATCHING":
                if mode == "after":
                    time.sleep(0.002 * (point % 4))  # land somewhere inside the next intent
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    return returned


BATCH = 6


def assert_in_the_venues_state(orch: ExecutionOrchestrator, venue: SimulatedVenue) -> None:
    """
    The promise after a restart against the same (truthful) venue: the reconciliation pass
    run before new work leaves every order as the venue holds it, with no flag and no
    operator, positions equal to the venue's, and nothing sent (the venue's own journal of
    created orders has no key twice, and `submit` was not called).
    """
    startup = orch.startup_reconciliation
    if orch.recovery.records == 0:  # killed before its first commit: a new session
        assert startup is None
        assert orch.get_order_ledger_snapshot() == []
        return
    assert startup is not None
    report, policy = startup, ReconPolicy()
    # An order the venue never received (the kill came before the venue call) is resolved
    # by the not-found rule, which waits for its answers over its time: later passes.
    for attempt in range(1, policy.not_found_after + 1):
        if report.clean:
            break
        report = orch.reconcile(SystemClock().now() + attempt * policy.not_found_wait)
    assert report.clean, report
    assert venue.submissions == []
    reports = venue.venue_reports()
    for order in orch.get_order_ledger_snapshot():
        held = reports.get(order.client_order_id)
        if held is None:  # never reached the venue: the pipeline stopped it, or not found
            assert order.state in (OrderState.CREATED, OrderState.FAILED, OrderState.REJECTED)
            continue
        assert (order.state, order.filled_quantity) == (held.state, held.cum_quantity)
        assert order.recon_flags == ()
    ours = {s: p.quantity for s, p in orch.get_position_ledger_snapshot().items() if p.quantity}
    assert ours == {s: q for s, q in venue.positions().items() if q}
    records = orch.get_audit_log_snapshot()
    assert verify_trail(records, MACHINES).ok
    assert replay(records).positions == orch.get_position_ledger_snapshot()


def resubmit_all(
    orch: ExecutionOrchestrator, returned: list[tuple[str, str]]
) -> dict[str, PipelineResult]:
    """Submit the whole session again: each result returned before the kill is answered
    as it was. Returns the results by key."""
    by_key = {}
    for intent in intents(COUNT):
        result = orch.submit_intent(intent)
        by_key[result.idempotency_key] = result
    for key, state in returned:
        assert str(by_key[key].pipeline_state) == state
    return by_key


@pytest.mark.parametrize(
    ("mode", "point", "batch"),
    [(mode, point, 1) for mode, point in kill_points(POINTS)]
    + [(mode, point, BATCH) for mode, point in kill_points(max(4, POINTS // 4))],
)
def test_kill_and_restart(tmp_path: Path, mode: str, point: int, batch: int) -> None:
    """Nothing returned is lost, nothing is sent twice, interrupted dispatches are flagged;
    one intent at a time and in `submit_intents` batches."""
    returned = run_until_killed(tmp_path, mode, point, batch)

    orch, venue = open_session(tmp_path / "s.db", tmp_path / "venue.journal")
    report = orch.recovery
    journal_before = list(venue.new_orders)

    assert len(journal_before) == len(set(journal_before))
    assert orch.audit_log.verify_chain().ok
    flagged = [r for r in orch.audit_log.records if r.event == "flag_reconciliation"]
    for client_order_id in report.interrupted:
        assert any(
            r.client_order_id == client_order_id
            and r.reason_code is ReasonCode.DISPATCH_OUTCOME_UNKNOWN
            for r in flagged
        )
    if mode == "during":  # in a batch: the orders written ahead with it, at most the batch
        assert 1 <= len(report.interrupted) <= batch
    assert_in_the_venues_state(orch, venue)
    by_key = resubmit_all(orch, returned)
    assert len(venue.new_orders) == len(set(venue.new_orders))
    assert not set(venue.submissions) & set(journal_before), "a key the venue had was sent again"
    assert set(journal_before) <= {
        k for k, r in by_key.items() if r.order and r.order.state != "CREATED"
    }


THREADS = 4
THREAD_POINTS = int(os.environ.get("CRASH_POINTS", "6"))


@pytest.mark.parametrize("point", range(THREAD_POINTS))
def test_kill_while_threads_submit_and_cancel(tmp_path: Path, point: int) -> None:
    """Killed while 4 threads submit and one cancels against a slow venue, the database
    opens again: its rows agree with its trail (units of work are committed whole), nothing
    returned is lost, nothing is sent twice, and an order left PENDING_CANCEL is flagged."""
    returned = run_until_killed(tmp_path, "after", point % (COUNT - 4), threads=THREADS)

    orch, venue = open_session(tmp_path / "s.db", tmp_path / "venue.journal")
    journal_before = list(venue.new_orders)

    records = orch.get_audit_log_snapshot()
    assert verify_trail(records, MACHINES).ok
    assert replay(records).positions == orch.get_position_ledger_snapshot()
    assert_in_the_venues_state(orch, venue)  # a cancel cut short too: as the venue says
    resubmit_all(orch, returned)
    assert len(journal_before) == len(set(journal_before))
    assert not set(venue.submissions) & set(journal_before), "a key the venue had was sent again"
