"""
`IntentRunner`: intents through the stages — one, a batch, a resumed or abandoned pause —
with the write-ahead made durable before an order may leave, and the answers to a key seen
before: the original result for the same terms, an audited `IdempotencyConflict` for others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

import attrs

from execfsm.adapters.dispatcher import Dispatcher
from execfsm.bounds import bounded_text
from execfsm.contracts import Fill, Order, OrderIntent, ReasonCode, TimeInForce
from execfsm.errors import ContractViolation, IdempotencyConflict, InProgressElsewhere
from execfsm.fsm.audit import AuditEntry, AuditOutcome
from execfsm.ledger.store import Claimed, IntentEntry, IntentStatus, SharedStore
from execfsm.orchestration.locks import StripedLocks
from execfsm.orchestration.units import WorkUnits, delivered
from execfsm.recovery import interrupted_dispatch
from execfsm.results import PipelineResult
from execfsm.stages import Pipeline, dispatch, intake, run_stages
from execfsm.stages._context import RunContext

_TERMS = (
    "symbol",
    "side",
    "order_type",
    "quantity",
    "limit_price",
    "time_in_force",
    "expire_time",
)
"""What an intent asks the venue for; the rest of it (session, strategy, intent id) is its
idempotency key."""

REASON_MAX_LENGTH = 1024
"""The longest reason an operator may give `abandon`, in characters."""
_REASON_TEXT = bounded_text(ReasonCode.VALIDATION_INVALID_FIELD, max_length=REASON_MAX_LENGTH)

Notify = Callable[[Iterable[tuple[Order, Fill]]], list[Exception]]
"""Tells the fill subscribers of booked fills; returns what they raised."""


def _different_terms(
    intent: OrderIntent, earlier: PipelineResult | OrderIntent
) -> dict[str, tuple[Any, Any]]:
    """The terms in which `intent` differs from the one that first used its key."""
    first = earlier.order if isinstance(earlier, PipelineResult) else earlier
    if first is None:
        return {}
    terms: tuple[str, ...] = _TERMS
    if isinstance(first, Order) and first.time_in_force is TimeInForce.DAY:
        terms = _TERMS[:-1]  # a DAY order's expiry is the day's end we set, not a term asked
    return {
        name: (getattr(first, name), getattr(intent, name))
        for name in terms
        if getattr(first, name) != getattr(intent, name)
    }


class IntentRunner:
    """
    Runs intents through `pipeline` on the books of `units`, serialised per key by `locks`;
    sends through `dispatcher`; `notify` tells the fill subscribers once a run is durable.
    """

    def __init__(
        self,
        units: WorkUnits,
        pipeline: Pipeline,
        dispatcher: Dispatcher,
        locks: StripedLocks,
        notify: Notify,
    ) -> None:
        self._units = units
        self._services = units.services
        store = units.services.store
        self._shared = store if isinstance(store, SharedStore) else None
        """The store's claim steps, when several orchestrators share it (checked once)."""
        self._results = units.results
        self._paused = units.paused
        self._pipeline = pipeline
        self._dispatcher = dispatcher
        self._locks = locks
        self._notify = notify

    def submit(self, intent: OrderIntent) -> PipelineResult:
        """
        `ExecutionOrchestrator.submit_intent`.
        """
        units = self._units
        services = self._services
        units.refuse_reentry()
        key = intake.identify(intent)
        with self._locks.of(key):
            original = self._results.get(key)
            if original is not None:
                self._refuse_conflicts([(intent, key, original)])
                return self._answer_duplicate(original)
            answer = self._claim(intent, key)
            if answer is not None:
                return self._answer_duplicate(answer[1], owner=answer[0])
            with units.unit() as unit:
                ctx = intake.run(intent, key, services)
                stopped = None
                if not run_stages(ctx, self._pipeline.up_to_dispatch):
                    stopped = units.finish(ctx)
            result = self._after_write_ahead(ctx, stopped, unit.last_seq)
        # Subscribers hear of the fills outside the lock: one may submit intents of its own.
        return delivered(result, self._notify(ctx.heard))

    def submit_batch(self, intents: Iterable[OrderIntent]) -> list[PipelineResult]:
        """
        `ExecutionOrchestrator.submit_intents`: each intent as `submit_intent` would take it,
        with two commits for the whole batch instead of two per intent: every intent passes
        stages 1-4 in order, the write-ahead of every order that may be sent is made durable
        at once, then they are sent in order and pass stages 6-8, and their results are made
        durable at once. Returns one result per intent, in order.

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
        self._units.refuse_reentry()
        keys = [intake.identify(intent) for intent in batch]
        with self._locks.all_of(keys):
            results, heard = self._submit_batch(batch, keys)
        return delivered(results, self._notify(heard))

    def _submit_batch(
        self, batch: list[OrderIntent], keys: list[str]
    ) -> tuple[list[PipelineResult], list[tuple[Order, Fill]]]:
        # Callers hold the stripe locks of every key.
        units = self._units
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
        elsewhere = self.claim_keys(first)
        results: dict[int, PipelineResult] = {}
        to_send: list[tuple[int, RunContext]] = []
        repeated: list[tuple[int, str]] = []
        opened: set[str] = set()
        with units.unit() as unit:  # stages 1-4 of the whole batch: no venue call
            for index, (intent, key) in enumerate(zip(batch, keys, strict=True)):
                if key in opened or key in self._results or key in elsewhere:
                    repeated.append((index, key))
                    continue
                opened.add(key)
                ctx = intake.run(intent, key, services)
                if run_stages(ctx, self._pipeline.up_to_dispatch):
                    to_send.append((index, ctx))
                else:
                    results[index] = units.finish(ctx)
        units.flush(unit.last_seq)  # every write-ahead of the batch, in one commit
        for position, (index, ctx) in enumerate(to_send):
            # The rest of the batch, read only if the send raises (no copy per intent).
            self._send(ctx, unsent=(later for _, later in islice(to_send, position + 1, None)))
            with units.unit():
                run_stages(ctx, self._pipeline.after_send)
                results[index] = units.finish(ctx)
        for index, key in repeated:
            if key in elsewhere:
                owner, earlier = elsewhere[key]
                results[index] = self._answer_duplicate(earlier, flush=False, owner=owner)
            else:
                results[index] = self._answer_duplicate(self._results[key], flush=False)
        units.flush()
        heard = [pair for _, ctx in to_send for pair in ctx.heard]
        return [results[index] for index in range(len(batch))], heard

    def resume(self, correlation_id: str) -> PipelineResult:
        """
        `ExecutionOrchestrator.resume`.
        """
        units = self._units
        units.refuse_reentry()
        ctx = self._paused_run(correlation_id)
        with self._locks.of(ctx.idempotency_key):
            if self._paused.pop(correlation_id, None) is None:
                return self._results[ctx.idempotency_key]  # another thread resumed it
            with units.unit() as unit:
                ctx.reason_code, ctx.detail = None, ""
                ctx.run.send("resume")
                stopped = None
                if not run_stages(ctx, self._pipeline.from_risk_gate):
                    stopped = units.finish(ctx)
            result = self._after_write_ahead(ctx, stopped, unit.last_seq)
        return delivered(result, self._notify(ctx.heard))

    def abandon(self, correlation_id: str, reason: str) -> PipelineResult:
        """
        `ExecutionOrchestrator.abandon`.
        """
        _REASON_TEXT.check(reason, "reason")  # before anything changes: the pause stays
        units = self._units
        units.refuse_reentry()
        ctx = self._paused_run(correlation_id)
        with self._locks.of(ctx.idempotency_key):
            if self._paused.pop(correlation_id, None) is None:
                return self._results[ctx.idempotency_key]
            with units.unit() as unit:
                ctx.stop("abandon", ReasonCode.RISK_PAUSED, reason)
                result = units.record(ctx)
            units.flush(unit.last_seq)
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
        units = self._units
        units.flush(through)
        if stopped is not None:
            return stopped
        self._send(ctx)
        with units.unit() as unit:
            run_stages(ctx, self._pipeline.after_send)
            result = units.finish(ctx)
        units.flush(unit.last_seq)
        return result

    def _send(self, ctx: RunContext, unsent: Iterable[RunContext] = ()) -> None:
        """
        The venue call. If Ctrl-C (or `SystemExit`) interrupts it, or an exception escapes
        the dispatcher's own code (the dispatcher turns every `Exception` of an adapter into
        an answer, so this is a bug or a broken collaborator, such as a sleeper that raises
        between attempts), the venue may hold the order: it is flagged
        DISPATCH_OUTCOME_UNKNOWN and its result kept, as recovery does after a crash, so a
        resubmission is a duplicate, never a second send; then the exception goes on to the
        caller. After an exception (the session goes on), a batch's orders written ahead
        but `unsent` yet are kept so too, as recovery would after a crash there (after Ctrl-C
        the session ends, and recovery flags them when it reopens).
        """
        try:
            dispatch.send(ctx, self._dispatcher)
        except (Exception, KeyboardInterrupt, SystemExit) as exc:
            cause = type(exc).__name__
            kept: list[tuple[RunContext, str | None]]
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                kept = [(ctx, None)]  # recovery's own words
            else:
                kept = [(ctx, f"the dispatch raised {cause}; the venue may hold the order")]
                kept += [(later, f"not sent: the batch stopped ({cause})") for later in unsent]
            units = self._units
            with units.unit() as unit:
                for run, detail in kept:
                    entry = IntentEntry(
                        run.idempotency_key,
                        run.correlation_id,
                        run.lifecycle.client_order_id,
                        IntentStatus.DISPATCHING,
                    )
                    self._results.keep(interrupted_dispatch(self._services, entry, detail))
            units.flush(unit.last_seq)
            raise

    def claim_keys(self, first: dict[str, OrderIntent]) -> dict[str, tuple[str, PipelineResult]]:
        """
        Claim every new key of a batch or a group (`_claim`); the owner and result of the
        ones another stream has finished, by key. A key in progress elsewhere (or used there
        with other terms) refuses them all: the claims made are released first.
        """
        elsewhere: dict[str, tuple[str, PipelineResult]] = {}
        claimed: list[str] = []
        try:
            for key, intent in first.items():
                if key in self._results:
                    continue
                answer = self._claim(intent, key)
                if answer is None:
                    claimed.append(key)
                else:
                    elsewhere[key] = answer
        except BaseException:
            self.release_keys(claimed)
            raise
        return elsewhere

    def release_keys(self, keys: list[str]) -> None:
        """
        Give back this orchestrator's claims of `keys` that no stored intent followed (a
        store shared by several orchestrators; nothing to do for others).
        """
        if self._shared is not None and keys:
            self._shared.release(keys)

    def _claim(self, intent: OrderIntent, key: str) -> tuple[str, PipelineResult] | None:
        """
        Claim `key` in a store shared by several orchestrators (a store with a ``claim``
        step: `PostgresStore`), before the intent's unit of work writes anything. None:
        this orchestrator owns the key, go on. Else another stream claimed it first: with
        other terms, an `IdempotencyConflict`; while it has no result, an
        `InProgressElsewhere` refusal (both audited, nothing sent); else its owner and
        result, to answer as a duplicate.
        """
        if self._shared is None:
            return None
        claimed: Claimed | None = self._shared.claim(key, intent)
        if claimed is None:
            return None
        self._refuse_conflicts([(intent, key, claimed.intent)])
        if claimed.result is not None:
            return claimed.owner, claimed.result
        correlation_id, client_order_id = intake.ids_of(key)
        seq = self._units.append(
            AuditEntry(
                correlation_id=correlation_id,
                client_order_id=client_order_id,
                machine="pipeline",
                event="submit_intent",
                source=None,
                target=None,
                outcome=AuditOutcome.REFUSED,
                reason_code=ReasonCode.IDEMPOTENCY_IN_PROGRESS_ELSEWHERE,
                detail=f"idempotency key {key} is claimed by stream {claimed.owner}, "
                "which has no result for it yet",
            )
        )
        self._units.flush(seq)
        raise InProgressElsewhere(
            f"intent: idempotency key {key} (intent_id {intent.intent_id!r}) is in progress "
            f"in stream {claimed.owner}; nothing was sent",
            reason=ReasonCode.IDEMPOTENCY_IN_PROGRESS_ELSEWHERE,
            idempotency_key=key,
            owner=claimed.owner,
        )

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
        last = 0
        for _intent, key, earlier, differences in conflicts:
            correlation_id, client_order_id = intake.ids_of(key)
            shown = ", ".join(
                f"{name} {old!s} -> {new!s}" for name, (old, new) in differences.items()
            )
            last = self._units.append(
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
            )
        self._units.flush(last)
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

    def _answer_duplicate(
        self, original: PipelineResult, *, flush: bool = True, owner: str | None = None
    ) -> PipelineResult:
        """
        `original` again, marked duplicate, audited; `owner`: the stream whose result it is
        (another orchestrator's: this trail never held the intent, so no state is claimed).
        """
        seq = self._units.append(
            AuditEntry(
                correlation_id=original.correlation_id,
                client_order_id=original.order.client_order_id if original.order else None,
                machine="pipeline",
                event="submit_intent",
                source=original.pipeline_state.value if owner is None else None,
                target=None,
                outcome=AuditOutcome.DUPLICATE,
                reason_code=ReasonCode.DUPLICATE_INTENT,
                detail=f"idempotency key {original.idempotency_key} already submitted"
                + ("" if owner is None else f" by stream {owner}"),
            )
        )
        if flush:
            self._units.flush(seq)
        return attrs.evolve(original, duplicate=True)
