"""
The store protocol the orchestrator writes through, and its in-memory implementation.

The orchestrator does its work in units of work (`AuditLog.unit`: an intent up to the venue
call, its remainder, a late event, a cancel's request and its answer), each staging its own
rows (its idempotency entry, its order), and calls `flush` at the points that must be
durable: before an adapter is called (write-ahead) and before a result is returned. Audit
records are taken from the audit log by ``seq``, only up to the first record of a unit still
open, so a commit carries complete units only; positions are booked from the committed
units' fills in the order of their audit records, as a replay of the trail would.
Concurrent callers share commits (group commit).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

from execfsm.contracts import Order, OrderIntent
from execfsm.fsm.audit import AuditRecord
from execfsm.ledger.audit import AuditLog
from execfsm.ledger.checkpoints import Checkpoint
from execfsm.ledger.positions import Booking, Position
from execfsm.results import PipelineResult


class IntentStatus(enum.StrEnum):
    """
    Where an intent stands in the idempotency index.
    """

    DISPATCHING = "DISPATCHING"
    """Written ahead of the adapter call: the venue may have the order."""
    PAUSED = "PAUSED"
    DONE = "DONE"


@attrs.frozen
class IntentEntry:
    """
    One row of the idempotency index.
    """

    idempotency_key: str
    correlation_id: str
    client_order_id: str
    status: IntentStatus
    result: PipelineResult | None = None
    """The intent's result, once there is one (a store serialises it when it writes)."""


@attrs.frozen
class Claimed:
    """
    An idempotency key another stream claimed first: its owner, the intent it claimed it
    with, and the owner's result once there is one (None: in progress there).
    """

    owner: str
    """The stream that claimed it."""
    intent: OrderIntent
    result: PipelineResult | None


@attrs.frozen
class StoredState:
    """
    Everything a store holds, as loaded for recovery.
    """

    records: Sequence[AuditRecord] = ()
    intents: Sequence[IntentEntry] = ()
    orders: Sequence[Order] = ()
    positions: Sequence[Position] = ()
    checkpoints: Sequence[Checkpoint] = ()
    """The trail's signed checkpoints, in seq order (a store that keeps them)."""


class LedgerStore(Protocol):
    """
    Where the orchestrator's state is made durable (or not).
    """

    def bind(self, audit: AuditLog) -> None:
        """
        The audit log whose new records each flush persists.
        """
        ...

    def load(self) -> StoredState:
        """
        What the store holds (empty for a new store).
        """
        ...

    def stage_intent(self, entry: IntentEntry, order: Order | None = None) -> None:
        """
        Stage an idempotency-index row, and the snapshot of its `order` if given, with the
        current unit of work (outside one, they are a unit of their own).
        """
        ...

    def stage_order(self, order: Order) -> None:
        """
        Stage an order snapshot with the current unit of work.
        """
        ...

    def stage_booking(self, booking: Booking) -> None:
        """
        Stage a fill the live position ledger booked, with the current unit of work: the
        store books its positions from these in trail order.
        """
        ...

    def flush(self, through: int | None = None) -> None:
        """
        Make the audit records up to seq `through` (default: every record so far) durable,
        with the rows of every unit of work that ended by then, and nothing of a unit of
        work still open (see `AuditLog.unit`).
        """
        ...

    def close(self) -> None:
        """
        Release the store's resources.
        """
        ...


@runtime_checkable
class SharedStore(Protocol):
    """
    A store several orchestrators share (`PostgresStore`): an idempotency key is claimed
    before an intent's unit of work writes anything. A store without these steps is its
    orchestrator's alone, and every key is its own.
    """

    def claim(self, key: str, intent: OrderIntent) -> Claimed | None:
        """
        Claim `key` for this orchestrator with the `intent` that uses it: None if it owns
        the key, else who does.
        """
        ...

    def release(self, keys: list[str]) -> None:
        """
        Give up this orchestrator's claims of `keys` that no stored intent followed.
        """
        ...


class MemoryStore:
    """
    The in-memory store: the in-memory ledgers are all there is, so nothing to do.
    """

    def bind(self, audit: AuditLog) -> None:
        """
        Nothing to bind.
        """

    def load(self) -> StoredState:
        """
        Always empty.
        """
        return StoredState()

    def stage_intent(self, entry: IntentEntry, order: Order | None = None) -> None:
        """
        Nothing to queue.
        """

    def stage_order(self, order: Order) -> None:
        """
        Nothing to queue.
        """

    def stage_booking(self, booking: Booking) -> None:
        """
        Nothing to queue.
        """

    def flush(self, through: int | None = None) -> None:
        """
        Nothing to flush.
        """

    def close(self) -> None:
        """
        Nothing to close.
        """
