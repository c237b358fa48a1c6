"""
`ExecutionOrchestrator`: wires the stages, the machines, the adapters and the ledgers.

Default mode is `ExecutionMode.LIVE_BLOCKED`: a default orchestrator never reaches a venue.
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Iterable
from typing import Any, TypeVar

import attrs

from execfsm.adapters.dispatcher import Dispatcher
from execfsm.adapters.errors import translate
from execfsm.adapters.registry import AdapterRegistry
from execfsm.clock import SystemClock
from execfsm.contracts import (
    EventKind,
    ExecutionEvent,
    ExecutionMode,
    Fill,
    LivePolicy,
    Order,
    OrderIntent,
    OrderState,
    PipelineState,
    ReasonCode,
)
from execfsm.errors import (
    ContractViolation,
    FillSubscriberError,
    IdempotencyConflict,
    IllegalTransition,
    OutcomeUnknown,
    ReentrantCall,
    TransientVenueError,
)
from execfsm.fsm.audit import AuditEntry, AuditOutcome, AuditRecord
from execfsm.fsm.engine import Engine
from execfsm.fsm.order import EVENT_OF_KIND, EventOutcome, OrderLifecycle
from execfsm.killswitch import ManualKillSwitch
from execfsm.ledger.audit import AuditLog
from execfsm.ledger.positions import Position
from execfsm.ledger.recon import ReconRecord
from execfsm.ledger.store import IntentEntry, IntentStatus, LedgerStore, MemoryStore
from execfsm.recovery import interrupted_dispatch, recover
from execfsm.results import PipelineResult, ResultBook
from execfsm.risk import NullRiskHook
from execfsm.stages import (
    AFTER_SEND,
    FROM_RISK_GATE,
    UP_TO_DISPATCH,
    Stage,
    dispatch,
    intake,
    post_trade,
    recon,
)
from execfsm.stages._context import RunContext, Services
from execfsm.typing import Clock, FillSubscriber, KillSwitch, OrderAdapter, RiskHook

_UNSUCCESSFUL_ORDER_STATES = frozenset({OrderState.REJECTED, OrderState.FAILED})
_STRIPES = 64
"""Lock stripes: the same idempotency key always takes the same lock."""

_Outcome = TypeVar("_Outcome")


def _stripe(key: str) -> int:
    return zlib.crc32(key.encode()) % _STRIPES


def _delivered(outcome: _Outcome, subscriber_errors: list[Exception]) -> _Outcome:
    """
    `outcome`, or a `FillSubscriberError` carrying it if a fill subscriber raised: called
    once the unit of work is recorded, so a subscriber's failure loses nothing.
    """
    if subscriber_errors:
        raise FillSubscriberError(subscriber_errors, outcome)
    return outcome


_TERMS = ("symbol", "side", "order_type", "quantity", "limit_price", "time_in_force")
"""What an intent asks the venue for; the rest of it (session, strategy, intent id) is its
idempotency key."""


def _different_terms(
    intent: OrderIntent, earlier: PipelineResult | OrderIntent
) -> dict[str, tuple[Any, Any]]:
    """The terms in which `intent` differs from the one that first used its key."""
    first = earlier.order if isinstance(earlier, PipelineResult) else earlier
    if first is None:
        return {}
    return {
        name: (getattr(first, name), getattr(intent, name))
        for name in _TERMS
        if getattr(first, name) != getattr(intent, name)
    }


def _run_stages(ctx: RunContext, stages: Iterable[Stage], services: Services) -> bool:
    """Run `stages` in order; False once one stopped the run."""
    for stage in stages:  # noqa: SIM110 - the stages act; this is not a search
        if not stage(ctx, services):
            return False
    return True


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
        engine: `Engine.COMPILED` (default) or `Engine.REFERENCE` (python-statemachine's
            own); the names ``"compiled"`` and ``"reference"`` are accepted too.

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
    ) -> None:
        if not isinstance(execution_mode, ExecutionMode):
            raise ContractViolation(
                f"execution_mode: must be an ExecutionMode member, got {execution_mode!r}",
                reason=ReasonCode.VALIDATION_INVALID_FIELD,
                field="execution_mode",
                value=execution_mode,
            )
        if live_policy is not None and not isinstance(live_policy, LivePolicy):
            raise ContractViolation(
                f"live_policy: must be a LivePolicy object, got {type(live_policy).__name__}",
                reason=ReasonCode.VALIDATION_INVALID_FIELD,
                field="live_policy",
                value=live_policy,
            )
        clock = clock if clock is not None else SystemClock()
        registry = (
            registry if registry is not None else AdapterRegistry.with_simulated_venues(clock)
        )
        self._services = Services(
            audit=audit if audit is not None else AuditLog(clock),
            clock=clock,
            risk_hook=risk_hook if risk_hook is not None else NullRiskHook(),
            registry=registry,
            mode=execution_mode,
            live_policy=live_policy,
            dispatcher=dispatcher if dispatcher is not None else Dispatcher(),
            store=store if store is not None else MemoryStore(),
            engine=Engine.of(engine),
        )
        self._manual_switch = ManualKillSwitch()
        self._services.kill_switches.append(self._manual_switch)
        if kill_switch is not None:
            self._services.kill_switches.append(kill_switch)
        self._results = ResultBook()
        self._paused: dict[str, RunContext] = {}
        self._stripes = tuple(threading.RLock() for _ in range(_STRIPES))
        try:
            stored = self._services.store.load()
            self._services.store.bind(self._services.audit)
            with self._services.audit.unit() as unit:
                self.recovery = recover(self._services, stored, self._results, self._paused)
                """What was recovered from the store (empty for a new session)."""
            self._services.store.flush(unit.last_seq)
        except BaseException:
            self._services.store.close()  # a refused store is released at once
            raise
        for adapter in registry.adapters():
            adapter.set_event_sink(self.handle_event)
        self._services.dispatcher.deliver_late_answers_to(self.handle_event)

    # -- properties ------------------------------------------------------------------------

    @property
    def execution_mode(self) -> ExecutionMode:
        """
        The mode every intent of this orchestrator is routed by.
        """
        return self._services.mode

    @property
    def registry(self) -> AdapterRegistry:
        """
        The mode → adapter registry.
        """
        return self._services.registry

    @property
    def audit_log(self) -> AuditLog:
        """
        The audit log every machine writes to.
        """
        return self._services.audit

    # -- intents -------------------------------------------------------------------------

    def _lock(self, key: str) -> threading.RLock:
        return self._stripes[_stripe(key)]

    def submit_intent(self, intent: OrderIntent) -> PipelineResult:
        """
        Take one intent through the pipeline. A key seen before with the same terms returns
        the original result marked ``duplicate``, dispatches nothing, and is audited as a
        duplicate; with other terms it is an `IdempotencyConflict`, audited, nothing sent.
        """
        services = self._services
        self._refuse_reentry()
        key = intake.identify(intent)
        with self._lock(key):
            original = self._results.get(key)
            if original is not None:
                self._refuse_conflicts([(intent, key, original)])
                return self._answer_duplicate(original)
            with services.audit.unit() as unit:
                ctx = intake.run(intent, key, services)
                stopped = None
                if not _run_stages(ctx, UP_TO_DISPATCH, services):
                    stopped = self._finish(ctx)
            result = self._after_write_ahead(ctx, stopped, unit.last_seq)
        # Subscribers hear of the fills outside the lock: one may submit intents of its own.
        return _delivered(result, post_trade.notify(ctx.heard, services))

    def submit_intents(self, intents: Iterable[OrderIntent]) -> list[PipelineResult]:
        """
        Take a batch of intents through the pipeline, each as `submit_intent` would, with two
        commits for the whole batch instead of two per intent: every intent passes stages 1-4
        in order, the write-ahead of every order that may be sent is made durable at once,
        then they are sent in order and pass stages 6-8, and their results are made durable
        at once. Returns one result per intent, in order.

        What differs from submitting them one by one: the risk gate sees every intent of the
        batch before any of them is sent, so a hook that limits exposure must count the
        batch's earlier intents itself (as it must count orders in flight, whose fills come
        later, anyway). A key repeated in the batch with the same terms is answered as a
        duplicate of its first occurrence. Anything but an `OrderIntent`, and any key reused
        with other terms (`IdempotencyConflict`, audited), refuses the whole batch before
        any intent of it is run.
        """
        batch = list(intents)
        for index, intent in enumerate(batch):
            if not isinstance(intent, OrderIntent):
                raise ContractViolation(
                    f"intents[{index}]: must be an OrderIntent, got {type(intent).__name__}",
                    reason=ReasonCode.VALIDATION_INVALID_FIELD,
                    field=f"intents[{index}]",
                    value=intent,
                )
        self._refuse_reentry()
        keys = [intake.identify(intent) for intent in batch]
        with contextlib.ExitStack() as held:
            for stripe in sorted({_stripe(key) for key in keys}):  # one order: no deadlock
                held.enter_context(self._stripes[stripe])
            results, heard = self._submit_batch(batch, keys)
        return _delivered(results, post_trade.notify(heard, self._services))

    def _submit_batch(
        self, batch: list[OrderIntent], keys: list[str]
    ) -> tuple[list[PipelineResult], list[tuple[Order, Fill]]]:
        # Callers hold the stripe locks of every key.
        services = self._services
        first: dict[str, OrderIntent] = {}
        for intent, key in zip(batch, keys, strict=True):
            first.setdefault(key, intent)
        self._refuse_conflicts(
            [
                (intent, key, self._results.get(key) or first[key])
                for intent, key in zip(batch, keys, strict=True)
                if key in self._results or first[key] is not intent  # a key used before
            ]
        )
        results: dict[int, PipelineResult] = {}
        to_send: list[tuple[int, RunContext]] = []
        repeated: list[tuple[int, str]] = []
        opened: set[str] = set()
        with services.audit.unit() as unit:  # stages 1-4 of the whole batch: no venue call
            for index, (intent, key) in enumerate(zip(batch, keys, strict=True)):
                if key in opened or key in self._results:
                    repeated.append((index, key))
                    continue
                opened.add(key)
                ctx = intake.run(intent, key, services)
                if _run_stages(ctx, UP_TO_DISPATCH, services):
                    to_send.append((index, ctx))
                else:
                    results[index] = self._finish(ctx)
        services.store.flush(unit.last_seq)  # every write-ahead of the batch, in one commit
        for index, ctx in to_send:
            self._send(ctx)
            with services.audit.unit():
                _run_stages(ctx, AFTER_SEND, services)
                results[index] = self._finish(ctx)
        for index, key in repeated:
            results[index] = self._answer_duplicate(self._results[key], flush=False)
        services.store.flush()
        heard = [pair for _, ctx in to_send for pair in ctx.heard]
        return [results[index] for index in range(len(batch))], heard

    def resume(self, correlation_id: str) -> PipelineResult:
        """
        Re-enter the risk gate with a paused intent; risk is evaluated again.
        """
        self._refuse_reentry()
        ctx = self._paused_run(correlation_id)
        with self._lock(ctx.idempotency_key):
            if self._paused.pop(correlation_id, None) is None:
                return self._results[ctx.idempotency_key]  # another thread resumed it
            with self._services.audit.unit() as unit:
                ctx.reason_code, ctx.detail = None, ""
                ctx.run.send("resume")
                stopped = None
                if not _run_stages(ctx, FROM_RISK_GATE, self._services):
                    stopped = self._finish(ctx)
            result = self._after_write_ahead(ctx, stopped, unit.last_seq)
        return _delivered(result, post_trade.notify(ctx.heard, self._services))

    def abandon(self, correlation_id: str, reason: str = "abandoned by operator") -> PipelineResult:
        """
        End a paused intent BLOCKED; its order fails with RISK_PAUSED.
        """
        self._refuse_reentry()
        ctx = self._paused_run(correlation_id)
        with self._lock(ctx.idempotency_key):
            if self._paused.pop(correlation_id, None) is None:
                return self._results[ctx.idempotency_key]
            with self._services.audit.unit() as unit:
                ctx.stop("abandon", ReasonCode.RISK_PAUSED, reason)
                result = self._record(ctx)
            self._services.store.flush(unit.last_seq)
            return result

    def _paused_run(self, correlation_id: str) -> RunContext:
        ctx = self._paused.get(correlation_id)
        if ctx is None:
            raise ContractViolation(
                f"correlation_id: no paused intent has correlation id {correlation_id!r}",
                reason=ReasonCode.VALIDATION_INVALID_FIELD,
                field="correlation_id",
                value=correlation_id,
            )
        return ctx

    def _after_write_ahead(
        self, ctx: RunContext, stopped: PipelineResult | None, through: int
    ) -> PipelineResult:
        """
        Make the first unit of work durable (the write-ahead, before the order may leave, or
        the whole run if it `stopped` before dispatch), then send and finish in a second one.
        """
        services = self._services
        services.store.flush(through)
        if stopped is not None:
            return stopped
        self._send(ctx)
        with services.audit.unit() as unit:
            _run_stages(ctx, AFTER_SEND, services)
            result = self._finish(ctx)
        services.store.flush(unit.last_seq)
        return result

    def _send(self, ctx: RunContext) -> None:
        """
        The venue call. If Ctrl-C (or `SystemExit`) interrupts it, the venue may hold the
        order: it is flagged DISPATCH_OUTCOME_UNKNOWN and its result kept, as recovery does
        after a crash, so a resubmission is a duplicate, never a second send; then the
        interruption goes on to the caller. (The dispatcher turns every `Exception` of an
        adapter into an answer.)
        """
        try:
            dispatch.send(ctx, self._services)
        except (KeyboardInterrupt, SystemExit):
            entry = IntentEntry(
                ctx.idempotency_key,
                ctx.correlation_id,
                ctx.lifecycle.client_order_id,
                IntentStatus.DISPATCHING,
            )
            with self._services.audit.unit() as unit:
                self._results.keep(interrupted_dispatch(self._services, entry))
            self._services.store.flush(unit.last_seq)
            raise

    def _finish(self, ctx: RunContext) -> PipelineResult:
        if ctx.run.state is PipelineState.PAUSED:
            self._paused[ctx.correlation_id] = ctx
        return self._record(ctx)

    def _record(self, ctx: RunContext) -> PipelineResult:
        """The run's result, kept and staged with the unit of work it ends (callers flush)."""
        order = ctx.lifecycle.order
        state = ctx.run.state
        reason, detail = ctx.reason_code, ctx.detail
        success = (
            state is PipelineState.COMPLETED
            and reason is None
            and order.state not in _UNSUCCESSFUL_ORDER_STATES
        )
        if state is PipelineState.COMPLETED and order.state is OrderState.REJECTED:
            reason, detail = order.reason_code, "the venue rejected the order"
        result = PipelineResult(
            success=success,
            correlation_id=ctx.correlation_id,
            idempotency_key=ctx.idempotency_key,
            order=order,
            stage_reached=ctx.run.stage_reached,
            pipeline_state=state,
            reason_code=reason,
            reason_detail=detail,
            recon=ctx.recon,
        )
        status = IntentStatus.PAUSED if state is PipelineState.PAUSED else IntentStatus.DONE
        self._services.orders.settle(ctx.lifecycle)
        store = self._services.store
        store.stage_intent(
            IntentEntry(
                ctx.idempotency_key, ctx.correlation_id, order.client_order_id, status, result
            ),
            order,
        )
        self._results.keep(result)
        return result

    def _refuse_conflicts(
        self, uses: list[tuple[OrderIntent, str, PipelineResult | OrderIntent]]
    ) -> None:
        """
        Audit and raise an `IdempotencyConflict` if any intent reuses its key (given with
        it) with other terms than the intent (or the stored result's order) that first
        used it.
        """
        conflicts = [
            (intent, key, earlier, differences)
            for intent, key, earlier in uses
            if (differences := _different_terms(intent, earlier))
        ]
        if not conflicts:
            return
        audit = self._services.audit
        last = 0
        for _intent, key, earlier, differences in conflicts:
            correlation_id, client_order_id = intake.ids_of(key)
            shown = ", ".join(
                f"{name} {old!s} -> {new!s}" for name, (old, new) in differences.items()
            )
            last = audit.append(
                AuditEntry(
                    correlation_id=correlation_id,
                    client_order_id=client_order_id,
                    machine="pipeline",
                    event="submit_intent",
                    source=None
                    if isinstance(earlier, OrderIntent)
                    else earlier.pipeline_state.value,
                    target=None,
                    outcome=AuditOutcome.REFUSED,
                    reason_code=ReasonCode.IDEMPOTENCY_CONFLICT,
                    detail=f"idempotency key {key} reused with other terms: {shown}",
                )
            ).seq
        self._services.store.flush(last)
        intent, key, _earlier, differences = conflicts[0]
        raise IdempotencyConflict(
            f"intent: idempotency key {key} (intent_id {intent.intent_id!r}) was first used "
            f"with other terms ({', '.join(differences)} differ); nothing was sent"
            + (
                f", and {len(conflicts) - 1} more conflict(s) in the batch"
                if len(conflicts) > 1
                else ""
            ),
            reason=ReasonCode.IDEMPOTENCY_CONFLICT,
            idempotency_key=key,
            differences=differences,
        )

    def _answer_duplicate(self, original: PipelineResult, *, flush: bool = True) -> PipelineResult:
        record = self._services.audit.append(
            AuditEntry(
                correlation_id=original.correlation_id,
                client_order_id=original.order.client_order_id if original.order else None,
                machine="pipeline",
                event="submit_intent",
                source=original.pipeline_state.value,
                target=None,
                outcome=AuditOutcome.DUPLICATE,
                reason_code=ReasonCode.DUPLICATE_INTENT,
                detail=f"idempotency key {original.idempotency_key} already submitted",
            )
        )
        if flush:
            self._services.store.flush(record.seq)
        return attrs.evolve(original, duplicate=True)

    # -- after dispatch ----------------------------------------------------------------------

    def handle_event(self, event: ExecutionEvent) -> EventOutcome:
        """
        Apply a venue event that arrived after `submit_intent` returned, then book its fill
        and hand the order off to reconciliation, in one unit of work. An unknown order is
        refused and audited.
        """
        self._refuse_reentry()
        outcome, heard = self._handle_event(event)
        return _delivered(outcome, post_trade.notify(heard, self._services))

    def _handle_event(self, event: ExecutionEvent) -> tuple[EventOutcome, list[tuple[Order, Fill]]]:
        """`handle_event`, durable, with the fills it booked instead of telling subscribers."""
        services = self._services
        known = services.orders.order(event.client_order_id)  # its key; a packed one stays so
        if known is None:
            detail = f"event {event.event_id} names unknown order {event.client_order_id}"
            services.store.flush(self._audit_unknown(event, detail))
            refused = EventOutcome(
                AuditOutcome.REFUSED, None, ReasonCode.EVENT_UNKNOWN_ORDER, detail
            )
            return refused, []
        with self._lock(known.idempotency_key):
            with services.audit.unit() as unit:
                lifecycle = self._reopened(event.client_order_id)
                outcome = lifecycle.apply(event)
                heard = []
                if outcome.booked_fill is not None:
                    heard = post_trade.book(
                        lifecycle, [(outcome.booked_seq, outcome.booked_fill)], services
                    )
                if outcome.applied:
                    recon.hand_off(lifecycle, services, event.kind.value)
                services.orders.settle(lifecycle)
                services.store.stage_order(lifecycle.order)
            services.store.flush(unit.last_seq)
            return outcome, heard

    def _reopened(self, client_order_id: str) -> OrderLifecycle:
        """
        The order's lifecycle, got only under its lock (re-opened if packed): a lifecycle got
        before the lock may since have been packed by another thread (`OrderLedger.settle`),
        and changes made to that copy would be lost.
        """
        lifecycle = self._services.orders.get(client_order_id)
        if lifecycle is None:  # orders are never removed
            raise KeyError(f"order ledger: order {client_order_id} vanished")
        return lifecycle

    def cancel(self, client_order_id: str) -> EventOutcome:
        """
        Request a cancel: PENDING_CANCEL, written ahead (durable before the adapter is
        called: a stop inside the call leaves the order flagged CANCEL_OUTCOME_UNKNOWN at
        recovery), then the adapter answers CANCEL_ACK or CANCEL_REJECT.
        """
        known = self._services.orders.order(client_order_id)
        adapter = self._services.adapter_of.get(client_order_id)
        if known is None or adapter is None:
            raise ContractViolation(
                f"client_order_id: no dispatched order has id {client_order_id!r}",
                reason=ReasonCode.EVENT_UNKNOWN_ORDER,
                field="client_order_id",
                value=client_order_id,
            )
        self._refuse_reentry()
        with self._lock(known.idempotency_key):
            outcome, heard = self._cancel(client_order_id, adapter)
        return _delivered(outcome, post_trade.notify(heard, self._services))

    def _refuse_reentry(self) -> None:
        """
        Refuse a call made from inside one of this orchestrator's own units of work (a risk
        hook calling back): it could never be made durable before that unit ends.
        """
        if self._services.audit.in_unit():
            raise ReentrantCall(
                "orchestrator: called from inside one of its own units of work (a risk hook "
                "calling back?); call it from elsewhere, e.g. a fill subscriber"
            )

    def _cancel(
        self, client_order_id: str, adapter: OrderAdapter
    ) -> tuple[EventOutcome, list[tuple[Order, Fill]]]:
        services = self._services
        refused: EventOutcome | None = None
        with services.audit.unit() as unit:
            lifecycle = self._reopened(client_order_id)
            try:
                lifecycle.send("request_cancel")
            except IllegalTransition as exc:
                services.orders.settle(lifecycle)  # a final order: packed again
                refused = EventOutcome(AuditOutcome.REFUSED, lifecycle.order, exc.reason, str(exc))
            else:
                services.store.stage_order(lifecycle.order)
        services.store.flush(unit.last_seq)  # the write-ahead of the cancel
        if refused is not None:
            return refused, []
        try:
            answered = adapter.cancel(lifecycle.order)  # the venue call: outside any unit
        except Exception as raw:  # noqa: BLE001 - translated; the order stays PENDING_CANCEL
            error = translate(raw)
            detail = f"cancel to {adapter.name}: " + (
                str(error) if error is not None else f"{type(raw).__name__}: {raw}"
            )
            reason = (
                ReasonCode.ADAPTER_TIMEOUT
                if isinstance(error, OutcomeUnknown)
                else ReasonCode.ADAPTER_ERROR
            )
            with services.audit.unit() as unit:
                lifecycle.record("cancel_attempt", AuditOutcome.REFUSED, reason, detail)
                if not isinstance(error, TransientVenueError):
                    lifecycle.flag_for_reconciliation(reason, detail)
                services.store.stage_order(lifecycle.order)
            services.store.flush(unit.last_seq)
            return EventOutcome(AuditOutcome.REFUSED, lifecycle.order, reason, detail), []
        with services.audit.unit() as unit:
            state = str(lifecycle.state_value)
            lifecycle.record(
                "cancel_attempt",
                AuditOutcome.APPLIED,
                None,
                f"cancel to {adapter.name}: sent, {len(answered)} answer(s)",
                target=state,
            )
        services.store.flush(unit.last_seq)
        outcome = EventOutcome(AuditOutcome.APPLIED, lifecycle.order)
        heard: list[tuple[Order, Fill]] = []
        for event in answered:  # every answer is applied, whatever a subscriber raises
            outcome, booked = self._handle_event(event)
            heard.extend(booked)
        return outcome, heard

    def close(self) -> None:
        """
        Close the store (a SQLite store releases its writer lock): the session ends here.
        """
        self._services.store.close()

    def activate_kill_switch(self, reason: str = "activated by operator") -> None:
        """
        Halt trading: every intent from now on stops at the risk gate.
        """
        self._manual_switch.activate(reason)

    def release_kill_switch(self) -> None:
        """
        Release the API kill switch (a file switch, if configured, still applies).
        """
        self._manual_switch.release()

    def subscribe_fills(self, subscriber: FillSubscriber) -> None:
        """
        Call `subscriber(order, fill)` for every fill booked from now on.
        """
        self._services.fill_subscribers.append(subscriber)

    def _audit_unknown(self, event: ExecutionEvent, detail: str) -> int:
        return self._services.audit.append(
            AuditEntry(
                correlation_id=event.correlation_id,
                client_order_id=event.client_order_id,
                machine=OrderLifecycle.audit_machine,
                event=EVENT_OF_KIND[EventKind(event.kind)],
                source=None,
                target=None,
                outcome=AuditOutcome.REFUSED,
                reason_code=ReasonCode.EVENT_UNKNOWN_ORDER,
                detail=detail,
            )
        ).seq

    # -- snapshots ---------------------------------------------------------------------------

    def get_order_ledger_snapshot(self) -> list[Order]:
        """
        Every order as it stands now, in creation order.
        """
        return self._services.orders.snapshot()

    def get_position_ledger_snapshot(self) -> dict[str, Position]:
        """
        Every position, by symbol.
        """
        return self._services.positions.snapshot()

    def get_audit_log_snapshot(self) -> tuple[AuditRecord, ...]:
        """
        Every audit record so far, in ``seq`` order.
        """
        return tuple(self._services.audit.records)

    def get_recon_snapshot(self) -> tuple[ReconRecord, ...]:
        """
        Every reconciliation hand-off so far.
        """
        return self._services.recon.records

    def order(self, client_order_id: str) -> Order | None:
        """
        One order as it stands now.
        """
        return self._services.orders.order(client_order_id)
