"""
The orchestrator's collaborators: striped locks and the bound pipeline.
"""

from __future__ import annotations

import threading

from execfsm import AdapterRegistry, ExecutionMode, NullRiskHook, SteppingClock
from execfsm.clock import EPOCH
from execfsm.ledger.audit import AuditLog
from execfsm.orchestration.locks import STRIPES, StripedLocks, stripe
from execfsm.stages import Pipeline, RiskControls, RoutingPolicy, dispatch, events, validation
from execfsm.stages._context import Services


class TestStripedLocks:
    def test_a_key_always_takes_the_same_lock(self) -> None:
        """The stripe is a pure function of the key, so racing submissions meet."""
        locks = StripedLocks()

        assert locks.of("k1") is locks.of("k1")
        assert 0 <= stripe("k1") < STRIPES

    def test_all_of_holds_every_key_until_it_ends(self) -> None:
        """A batch holds the locks of all its keys (a key repeated takes its lock once)."""
        locks = StripedLocks()
        taken: list[bool] = []

        def try_take(key: str) -> None:
            lock = locks.of(key)
            taken.append(lock.acquire(blocking=False))
            if taken[-1]:
                lock.release()

        with locks.all_of(["a", "b", "a"]):
            for key in ("a", "b"):
                thread = threading.Thread(target=try_take, args=(key,))
                thread.start()
                thread.join()
        try_take("a")

        assert taken == [False, False, True]


class TestPipeline:
    def test_bind_keeps_the_stage_order(self) -> None:
        """The stages run in the declared order; a resumed run re-enters at the risk gate."""
        clock = SteppingClock(EPOCH)
        routes = RoutingPolicy(AdapterRegistry(), ExecutionMode.PAPER, None, clock)
        pipeline = Pipeline.bind(
            Services(audit=AuditLog(clock)), RiskControls(NullRiskHook()), routes
        )

        assert pipeline.up_to_dispatch[0] is validation.run
        assert pipeline.after_send[:2] == (dispatch.answer, events.run)
        assert pipeline.from_risk_gate == pipeline.up_to_dispatch[1:]
        assert (len(pipeline.up_to_dispatch), len(pipeline.after_send)) == (4, 4)
