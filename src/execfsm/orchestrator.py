"""
`ExecutionOrchestrator`: the façade over the stages, the machines, the adapters and the
ledgers. It wires its collaborators (`execfsm.orchestration`): the intent runner, the event
processor, the units of work; each public method hands over to one of them.

Default mode is `ExecutionMode.LIVE_BLOCKED`: a default orchestrator never reaches a venue.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time
from decimal import Decimal

from execfsm.adapters.dispatcher import Dispatcher
from execfsm.adapters.registry import AdapterRegistry
from execfsm.clock import SystemClock
from execfsm.contingent.orders import ContingentOrders, GroupStatus
from execfsm.contingent.terms import ContingentGroup
from execfsm.contracts import ExecutionEvent, ExecutionMode, Fill, LivePolicy, Order, OrderIntent
from execfsm.fsm.audit import AuditRecord
from execfsm.fsm.engine import Engine
from execfsm.fsm.order import EventOutcome
from execfsm.instruments import InstrumentRegistry
from execfsm.killswitch import ManualKillSwitch
from execfsm.ledger.audit import AuditLog
from execfsm.ledger.positions import Position
from execfsm.ledger.recon import ReconRecord
from execfsm.ledger.store import LedgerStore, MemoryStore
from execfsm.orchestration.events import EventProcessor
from execfsm.orchestration.expiry import ExpirySweep
from execfsm.orchestration.intents import IntentRunner
from execfsm.orchestration.locks import StripedLocks
from execfsm.orchestration.units import WorkUnits
from execfsm.reconciliation.findings import ReconPolicy
from execfsm.reconciliation.reconciler import Reconciler
from execfsm.reconciliation.report import ReconReport
from execfsm.recovery import open_session
from execfsm.results import PipelineResult, ResultBook
from execfsm.risk import NullRiskHook
from execfsm.stages import Pipeline, RiskControls, RoutingPolicy, post_trade
from execfsm.stages._context import DAY_ENDS_AT, RunContext, Services
from execfsm.typing import Clock, FillSubscriber, KillSwitch, RiskHook
from execfsm.validators import has_methods, instance_of

_MODE = instance_of(ExecutionMode)
_LIVE_POLICY = instance_of(LivePolicy, optional=True)
_COLLABORATORS = {  # structural: any object of the shape passes (a user's fake too)
    "risk_hook": has_methods("evaluate", optional=True),
    "registry": has_methods("get", "adapters", optional=True),
    "clock": has_methods("now", optional=True),
    "audit": has_methods("append", "unit", "restore", "by_correlation", optional=True),
    "dispatcher": has_methods("dispatch", "deliver_late_answers_to", optional=True),
    "kill_switch": has_methods("status", optional=True),
    "store": has_methods("bind", "load", "stage_intent", "flush", "close", optional=True),
}


class ExecutionOrchestrator:
    """
    Takes `OrderIntent`s through the eight stages and keeps the ledgers.

    Args:
        risk_hook: The pre-trade risk gate (default: `NullRiskHook`, allow all).
        execution_mode: Where orders go; default `LIVE_BLOCKED`, which never dispatches.
        live_policy: The explicit approval LIVE mode needs; nothing else creates one.
        registry: Mode → adapter; default simulated venues for PAPER, SHADOW and TESTNET.
        clock: The only source of time; default the system's UTC clock.
        audit: The audit sink; default an in-memory `AuditLog` on `clock`.
        dispatcher: Timeout and retry policy of stage 5; default 3 attempts, no timeout.
        kill_switch: The operator's kill switch; while active every intent stops at the
            risk gate with RISK_KILL_SWITCH_ACTIVE.
        store: Where state is made durable; default in memory only. A store that already
            holds a session is recovered (see `recovery`): its chain is verified, ledgers are
            rebuilt, stored results answer resubmissions.
        engine: `Engine.COMPILED` (default) or `Engine.REFERENCE` (python-statemachine's own).
        day_ends_at: When DAY orders expire each day (`expire_due`), in UTC; default 00:00.
        reconciliation: How venue reconciliation decides (`ReconPolicy`; by default a store
            re-opened with an adapter that can answer is reconciled before new work).
        instruments: What validation (stage 2) checks symbols, ticks, lots and limits against.

    A setting of the wrong kind (a collaborator without its protocol's methods) is refused
    with a `ConfigurationError` naming it.

    Thread-safe: intents with different idempotency keys run concurrently; the same key (and
    the same order's later events) are serialised, so racing submissions dispatch once.
    """

    def __init__(
        self,
        risk_hook: RiskHook | None = None,
        execution_mode: ExecutionMode = ExecutionMode.LIVE_BLOCKED,
        *,
        live_policy: LivePolicy | None = None,
        registry: AdapterRegistry | None = None,
        clock: Clock | None = None,
        audit: AuditLog | None = None,
        dispatcher: Dispatcher | None = None,
        kill_switch: KillSwitch | None = None,
        store: LedgerStore | None = None,
        engine: Engine | str | None = None,
        day_ends_at: time = DAY_ENDS_AT,
        reconciliation: ReconPolicy | None = None,
        instruments: InstrumentRegistry | None = None,
    ) -> None:
        _MODE.check(execution_mode, "execution_mode")
        _LIVE_POLICY.check(live_policy, "live_policy")
        for name, value in zip(
            _COLLABORATORS,
            (risk_hook, registry, clock, audit, dispatcher, kill_switch, store),
            strict=True,
        ):
            _COLLABORATORS[name].check(value, name)
        clock = clock if clock is not None else SystemClock()
        if registry is None:
            registry = AdapterRegistry.with_simulated_venues(clock)
        dispatcher = dispatcher if dispatcher is not None else Dispatcher()
        self._services = Services(
            audit=audit if audit is not None else AuditLog(clock),
            store=store if store is not None else MemoryStore(),
            engine=Engine.of(engine),
            clock=clock,
            day_ends_at=day_ends_at,
            instruments=instruments,
        )
        self._routes = RoutingPolicy(registry, execution_mode, live_policy, clock)
        self._manual_switch = ManualKillSwitch()
        self._risk = RiskControls(
            risk_hook if risk_hook is not None else NullRiskHook(),
            [self._manual_switch] if kill_switch is None else [self._manual_switch, kill_switch],
        )
        self._fill_subscribers: list[FillSubscriber] = []
        paused: dict[str, RunContext] = {}
        self._units = WorkUnits(self._services, ResultBook(), paused)
        locks = StripedLocks()
        self._intents = IntentRunner(
            self._units,
            Pipeline.bind(self._services, self._risk, self._routes),
            dispatcher,
            locks,
            self._notify,
        )
        self._events = EventProcessor(self._units, locks, self._notify, self._risk)
        self._expiry = ExpirySweep(self._units, locks, self._events.handle_event)
        self.recovery = open_session(
            self._services, self._units.results, paused, registry.get(execution_mode)
        )
        """What was recovered from the store (empty for a new session)."""
        self.contingent = ContingentOrders(self._intents, self._events)
        """Contingent groups (OCO, OTO, bracket): `submit_group`, status, recovery."""
        self._events.listen(registry.adapters(), dispatcher)
        self._reconciler = Reconciler(
            self._units, locks, registry.get(execution_mode), self._notify, reconciliation
        )
        self._reconciler.contingent = self.contingent
        self.startup_reconciliation = self._reconciler.on_start(clock, self.recovery.records)
        """What reconciliation found and did before new work (None if none ran)."""

    # -- properties ------------------------------------------------------------------------

    @property
    def execution_mode(self) -> ExecutionMode:
        """The mode every intent of this orchestrator is routed by."""
        return self._routes.mode

    @property
    def registry(self) -> AdapterRegistry:
        """The mode → adapter registry."""
        return self._routes.registry

    @property
    def audit_log(self) -> AuditLog:
        """The audit log every machine writes to."""
        return self._services.audit

    # -- intents -------------------------------------------------------------------------

    def submit_intent(self, intent: OrderIntent) -> PipelineResult:
        """
        Take one intent through the pipeline. A key seen before with the same terms returns
        the original result marked ``duplicate``, dispatches nothing, and is audited as a
        duplicate; with other terms it is an `IdempotencyConflict`, audited, nothing sent.
        """
        return self._intents.submit(intent)

    def submit_intents(self, intents: Iterable[OrderIntent]) -> list[PipelineResult]:
        """
        Take a batch of intents through the pipeline, each as `submit_intent` would, with two
        commits for the whole batch instead of two per intent; one result per intent, in
        order. How that differs from one by one: `IntentRunner.submit_batch`.
        """
        return self._intents.submit_batch(intents)

    def submit_group(self, group: ContingentGroup) -> GroupStatus:
        """Send a contingent group, all legs or none (`execfsm.contingent.orders`)."""
        return self.contingent.submit(group)

    def resume(self, correlation_id: str) -> PipelineResult:
        """Re-enter the risk gate with a paused intent; risk is evaluated again."""
        return self._intents.resume(correlation_id)

    def abandon(self, correlation_id: str, reason: str = "abandoned by operator") -> PipelineResult:
        """End a paused intent BLOCKED; its order fails with RISK_PAUSED."""
        return self._intents.abandon(correlation_id, reason)

    # -- after dispatch ----------------------------------------------------------------------

    def handle_event(self, event: ExecutionEvent) -> EventOutcome:
        """Apply a venue event that arrived after `submit_intent` returned, book its fill and
        hand the order off to reconciliation, in one unit of work; an unknown order is refused."""
        return self._events.handle_event(event)

    def cancel(self, client_order_id: str) -> EventOutcome:
        """
        Request a cancel: PENDING_CANCEL, written ahead (durable before the adapter is
        called: a stop inside the call leaves the order flagged CANCEL_OUTCOME_UNKNOWN at
        recovery), then the adapter answers CANCEL_ACK or CANCEL_REJECT.
        """
        return self._events.cancel(client_order_id)

    def replace(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | int | str | None = None,
        limit_price: Decimal | int | str | None = None,
    ) -> EventOutcome:
        """
        Amend a live order (None keeps a term), written ahead as a cancel is; the outcome
        of the venue's answer, or why nothing was sent (`EventProcessor.replace` says how).
        """
        return self._events.replace(client_order_id, quantity, limit_price)

    def expire_due(self, now: datetime | None = None) -> list[EventOutcome]:
        """Expire the DAY and GTD orders due by `now` (default the clock's): `ExpirySweep`."""
        return self._expiry.expire_due(now)

    # -- reconciliation with the venue ------------------------------------------------------

    def reconcile(self, now: datetime | None = None, *, full: bool = False) -> ReconReport:
        """One reconciliation pass at `now` (default the clock's): `Reconciler.run`."""
        self._units.refuse_reentry()
        return self._reconciler.run(now if now else self._services.clock.now(), full=full)

    def release_held(self, client_order_id: str, detail: str = "released by operator") -> None:
        """Let reconciliation ask again about an order held for an operator."""
        self._reconciler.release(client_order_id, detail)

    # -- the session ----------------------------------------------------------------------

    def flush(self) -> None:
        """Make every audit record written so far durable (your own machines' records too)."""
        self._services.store.flush()

    def close(self) -> None:
        """Make what was written durable (`flush`), then close the store (a SQLite store
        releases its writer lock): the session ends here."""
        try:
            self._services.store.flush()
        finally:
            self._services.store.close()

    def activate_kill_switch(self, reason: str = "activated by operator") -> None:
        """Halt trading: every intent from now on stops at the risk gate."""
        self._manual_switch.activate(reason)

    def release_kill_switch(self) -> None:
        """Release the API kill switch (a file switch, if configured, still applies)."""
        self._manual_switch.release()

    def subscribe_fills(self, subscriber: FillSubscriber) -> None:
        """Call `subscriber(order, fill)` for every fill booked from now on."""
        self._fill_subscribers.append(subscriber)

    def _notify(self, heard: Iterable[tuple[Order, Fill]]) -> list[Exception]:
        """Tell the fill subscribers of `heard` (once it is durable); what they raised."""
        return post_trade.notify(heard, self._fill_subscribers)

    # -- snapshots ---------------------------------------------------------------------------

    def get_order_ledger_snapshot(self) -> list[Order]:
        """Every order as it stands now, in creation order."""
        return self._services.orders.snapshot()

    def get_position_ledger_snapshot(self) -> dict[str, Position]:
        """Every position, by symbol."""
        return self._services.positions.snapshot()

    def get_audit_log_snapshot(self) -> tuple[AuditRecord, ...]:
        """Every audit record so far, in ``seq`` order."""
        return tuple(self._services.audit.records)

    def get_recon_snapshot(self) -> tuple[ReconRecord, ...]:
        """Every reconciliation hand-off so far."""
        return self._services.recon.records

    def order(self, client_order_id: str) -> Order | None:
        """One order as it stands now."""
        return self._services.orders.order(client_order_id)
