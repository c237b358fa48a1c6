"""
`Dispatcher`: one order to one adapter, with a per-attempt timeout and retries.

Retries back off exponentially with a cap and seeded jitter, and sleep through an injectable
sleeper, so tests and replays never wait. Every attempt reuses the order's idempotency key.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import attrs

from execfsm.adapters.errors import VenueFailure
from execfsm.contracts import ExecutionEvent, Order, ReasonCode
from execfsm.errors import OutcomeUnknown
from execfsm.typing import EventSink, OrderAdapter
from execfsm.validators import callable_setting, instance_of, number_between

_log = logging.getLogger(__name__)

MAX_DELAY_SECONDS = 86_400
"""The longest backoff delay and attempt timeout a setting may ask for: one day."""
MAX_MULTIPLIER = 100
"""The largest backoff multiplier."""
MAX_ATTEMPTS = 1_000
"""The most attempts a retry policy may make."""

_ATTEMPTS = number_between(1, MAX_ATTEMPTS, integer=True)
_DELAY = number_between(0, MAX_DELAY_SECONDS)
_MULTIPLIER = number_between(0, MAX_MULTIPLIER)
_JITTER = number_between(0, 1)
_FLAG = instance_of(bool)
_TIMEOUT = number_between(0, MAX_DELAY_SECONDS, strict_minimum=True)
_SLEEP = callable_setting()
_SEED = instance_of(int)


@attrs.frozen
class RetryPolicy:
    """
    How often and how patiently to retry a dispatch that failed transiently.

    The n-th retry waits ``min(max_delay, base_delay * multiplier ** (n - 1))`` seconds,
    scaled by a factor drawn uniformly from ``[1 - jitter, 1 + jitter]``.

    Bounds (anything else is a `ConfigurationError` naming the setting): ``max_attempts`` an
    int in [1, `MAX_ATTEMPTS`]; ``base_delay`` and ``max_delay`` finite numbers of seconds in
    [0, `MAX_DELAY_SECONDS`] (a day); ``multiplier`` in [0, `MAX_MULTIPLIER`]; ``jitter`` in
    [0, 1]; ``retry_unknown`` a bool.
    """

    max_attempts: int = attrs.field(default=3, validator=_ATTEMPTS)
    base_delay: float = attrs.field(default=0.05, validator=_DELAY)
    multiplier: float = attrs.field(default=2.0, validator=_MULTIPLIER)
    max_delay: float = attrs.field(default=2.0, validator=_DELAY)
    jitter: float = attrs.field(default=0.2, validator=_JITTER)
    retry_unknown: bool = attrs.field(default=True, validator=_FLAG)
    """Retry after an unknown outcome too (safe: the key is reused, the venue de-duplicates)."""

    def delay(self, retry: int, rng: random.Random) -> float:
        """
        Seconds to wait before retry number `retry` (1-based).
        """
        try:
            grown = self.base_delay * self.multiplier ** (retry - 1)
        except OverflowError:  # past any float: the cap applies (a zero base stays zero)
            grown = self.max_delay if self.base_delay else 0.0
        base = float(min(self.max_delay, grown))
        return max(0.0, base * (1 + rng.uniform(-self.jitter, self.jitter)))


_RETRY = instance_of(RetryPolicy)


class DispatchStatus(enum.StrEnum):
    """
    How a dispatch ended.
    """

    SENT = "SENT"
    """The adapter answered; its events follow."""
    NOT_SENT = "NOT_SENT"
    """Every attempt failed before reaching the venue."""
    REJECTED = "REJECTED"
    """The venue refused the order."""
    FAILED = "FAILED"
    """A permanent or unknown error; not retried."""
    UNKNOWN = "UNKNOWN"
    """The order may be at the venue; reconciliation must find out."""


@attrs.frozen
class Attempt:
    """
    One call to the adapter and how it ended.
    """

    number: int
    ok: bool
    reason: ReasonCode | None = None
    detail: str = ""


@attrs.frozen
class DispatchResult:
    """
    What the dispatcher reports to the dispatch stage.
    """

    status: DispatchStatus
    events: Sequence[ExecutionEvent] = ()
    reason: ReasonCode | None = None
    detail: str = ""
    maybe_sent: bool = False
    """True if any attempt may have reached the venue."""


def _system_sleep(seconds: float) -> None:
    time.sleep(seconds)


def _deliver(sink: EventSink, events: Sequence[ExecutionEvent]) -> None:
    """Every event to `sink`; one that fails is logged (nobody waits for it) and the rest go on."""
    for event in events:
        try:
            sink(event)
        except Exception:  # noqa: BLE001 - a background thread: log, never lose the rest
            _log.exception(
                "late answer: event %s for order %s could not be applied",
                event.event_id,
                event.client_order_id,
            )


class Dispatcher:
    """
    Sends orders with the policy's timeout and retries.

    Args:
        retry: The retry policy (default `RetryPolicy()`).
        timeout: Seconds one attempt may take, up to `MAX_DELAY_SECONDS` (a day); None waits
            as long as the adapter does. A call that times out may still have reached the
            venue: it counts as an unknown outcome, and if the adapter answers after all, its
            events go to the late-answer sink (`deliver_late_answers_to`; the orchestrator's
            `handle_event`).
        sleep: Called with each backoff delay (inject a recorder in tests).
        seed: Seeds the jitter (an int), so the same session waits the same way.

    A bad setting is refused with a `ConfigurationError` naming it.
    """

    def __init__(
        self,
        retry: RetryPolicy | None = None,
        *,
        timeout: float | None = None,
        sleep: Callable[[float], None] = _system_sleep,
        seed: int = 0,
    ) -> None:
        if timeout is not None:
            _TIMEOUT.check(timeout, "timeout")
        if retry is not None:
            _RETRY.check(retry, "retry")
        _SLEEP.check(sleep, "sleep")
        _SEED.check(seed, "seed")
        self.retry = retry if retry is not None else RetryPolicy()
        self.timeout = timeout
        self._sleep = sleep
        self._rng = random.Random(seed)  # noqa: S311 - jitter, not security: must replay
        self._pool: ThreadPoolExecutor | None = None
        self._late: ThreadPoolExecutor | None = None
        self._late_sink: EventSink | None = None
        self._pools_lock = threading.Lock()

    def deliver_late_answers_to(self, sink: EventSink) -> None:
        """
        Send the events of an answer that came after its attempt timed out to `sink`: the
        venue may have taken the order, and that answer may be the only news of it.
        """
        self._late_sink = sink

    def _call(self, adapter: OrderAdapter, order: Order, key: str) -> Sequence[ExecutionEvent]:
        if self.timeout is None:
            return adapter.submit(order, key)
        with self._pools_lock:  # threads dispatching at once share one pool of each kind
            if self._pool is None:
                self._pool = ThreadPoolExecutor(4, thread_name_prefix="execfsm-dispatch")
                self._late = ThreadPoolExecutor(1, thread_name_prefix="execfsm-late")
            pool = self._pool
        future = pool.submit(adapter.submit, order, key)
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            future.add_done_callback(self._answered_late)
            raise OutcomeUnknown(
                f"no answer within {self.timeout}s; the request may have reached the venue"
            ) from None

    def _answered_late(self, future: Future[Sequence[ExecutionEvent]]) -> None:
        # In the attempt's worker. The events are handed to one delivery thread, in the order
        # the answers came: a worker must not wait for an order's lock that a dispatch holds.
        sink, late = self._late_sink, self._late
        if sink is None or late is None or future.cancelled() or future.exception() is not None:
            return
        events = tuple(future.result())
        if events:
            late.submit(_deliver, sink, events)

    def dispatch(
        self,
        adapter: OrderAdapter,
        order: Order,
        key: str,
        on_attempt: Callable[[Attempt], object],
    ) -> DispatchResult:
        """
        Send `order` until it is answered, refused for good, or the attempts run out.
        """
        maybe_sent = False
        last_reason, last_detail = ReasonCode.ADAPTER_ERROR, ""
        for number in range(1, self.retry.max_attempts + 1):
            if number > 1:
                self._sleep(self.retry.delay(number - 1, self._rng))
            try:
                events = self._call(adapter, order, key)
            except Exception as raw:  # noqa: BLE001 - classified below; unknown fails closed
                failure = VenueFailure.of(
                    raw, f"attempt {number}/{self.retry.max_attempts} to {adapter.name}"
                )
                detail = failure.detail
                if failure.rejected:
                    on_attempt(Attempt(number, False, ReasonCode.ADAPTER_REJECTED, detail))
                    status = DispatchStatus.UNKNOWN if maybe_sent else DispatchStatus.REJECTED
                    return DispatchResult(
                        status, (), ReasonCode.ADAPTER_REJECTED, detail, maybe_sent
                    )
                if failure.transient or failure.unknown:
                    maybe_sent = maybe_sent or failure.unknown
                    last_reason, last_detail = failure.reason, detail
                    on_attempt(Attempt(number, False, last_reason, detail))
                    if failure.unknown and not self.retry.retry_unknown:
                        break
                    continue
                # PermanentVenueError, or an exception nobody translated: never retried.
                on_attempt(Attempt(number, False, ReasonCode.ADAPTER_ERROR, detail))
                if failure.error is None:
                    # Fail closed; we cannot tell where it failed, so reconciliation looks too.
                    return DispatchResult(
                        DispatchStatus.FAILED, (), ReasonCode.ADAPTER_ERROR, detail, True
                    )
                status = DispatchStatus.UNKNOWN if maybe_sent else DispatchStatus.FAILED
                return DispatchResult(status, (), ReasonCode.ADAPTER_ERROR, detail, maybe_sent)
            on_attempt(Attempt(number, True, None, f"attempt {number} to {adapter.name}: answered"))
            return DispatchResult(DispatchStatus.SENT, tuple(events), maybe_sent=maybe_sent)
        status = DispatchStatus.UNKNOWN if maybe_sent else DispatchStatus.NOT_SENT
        return DispatchResult(status, (), last_reason, last_detail, maybe_sent)
