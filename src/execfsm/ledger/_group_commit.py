"""
The group-commit engine a durable store is built on: units of work queued as they end, and
one commit (the leader's) carrying every finished unit for every waiting thread, so a commit
holds complete units only. A store subclasses `GroupCommitStore` and writes (`_write`) and
reads in its own medium (`execfsm.ledger.sqlite`, `execfsm.ledger.postgres`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from threading import get_ident

from execfsm.contracts import Order
from execfsm.errors import ReentrantCall, StoreError
from execfsm.ledger._checkpointer import Checkpointer
from execfsm.ledger.audit import AuditLog, Line
from execfsm.ledger.checkpoints import Checkpoint, first_mismatch
from execfsm.ledger.positions import Booking, Position, book_in_trail_order
from execfsm.ledger.store import IntentEntry, StoredState
from execfsm.ledger.units import UnitOfWork


class _Unit:
    """The rows one unit of work staged, queued once it ends."""

    __slots__ = ("alone", "bookings", "first_seq", "intents", "last_seq", "orders")

    def __init__(self, *, alone: bool = False) -> None:
        self.intents: dict[str, IntentEntry] = {}
        self.orders: dict[str, Order] = {}
        self.bookings: list[Booking] = []
        self.alone = alone
        """Staged outside any unit of work: a unit by itself, queued once its row is in."""
        self.first_seq = 0
        """No audit record of the unit comes before this seq."""
        self.last_seq = 0
        """The seq of the unit's last audit record: its rows are committed with that
        record."""


class GroupCommitStore:
    """
    The store protocol's staging, flushing and group commit, over a medium a subclass
    provides: `_write` (one transaction, all or nothing) and `_abort` (after a failed
    write). A subclass sets ``_label`` (how messages name the store), ``read_only`` and
    ``_checkpoints``, and ``_stored_seq`` and ``_positions`` as its `load` finds them.
    """

    _label: str
    read_only: bool = False
    _checkpoints: Checkpointer | None = None

    def _init_commit_state(self) -> None:
        self._audit: AuditLog | None = None
        self._units_by_thread: Mapping[int, UnitOfWork] = {}
        """The bound audit log's open units of work, by thread."""
        self._stored_seq = 0
        self._durable_through = 0
        """Every record up to this seq, and every unit of work ending by it, is durable."""
        self._state_lock = threading.Lock()
        self._queued: list[_Unit] = []
        """Finished units of work not yet committed, in the order they finished."""
        self._in_flight: list[_Unit] = []
        """The units the commit in progress carries."""
        self._positions: dict[str, Position] = {}
        """The positions the committed trail books: what the positions table holds."""
        self._commit_lock = threading.Lock()
        """Guards ``_committing``, ``_durable_through`` and ``_wanted`` (taken directly, in
        C, rather than through the condition's Python ``__enter__``)."""
        self._commit_ended = threading.Condition(self._commit_lock)
        """Notified when a commit ends (and when the store stops)."""
        self._commit_waiters = 0
        """How many flushes wait on ``_commit_ended``."""
        self._watermark_moved = threading.Condition(self._commit_lock)
        """Notified when the watermark reaches a flush waiting for it (see `_wake`), and
        when a commit ends."""
        self._committing = False
        self._wanted: list[int] = []
        """The seq each flush waiting on ``_watermark_moved`` waits for."""
        self._broken: StoreError | None = None
        self.commits = 0
        """How many transactions this store has committed (group commit makes it small)."""

    def bind(self, audit: AuditLog) -> None:
        """
        Persist `audit`'s new records: the ones `load` returned are already stored.
        """
        self._refuse_if_read_only("bind an audit log")
        self._audit = audit
        self._units_by_thread = audit.units_by_thread
        self._durable_through = self._stored_seq
        audit.collect_lines(self._stored_seq)
        audit.on_units(self._unit_finished, self._wake)
        audit.on_settle(self.flush)

    def _loaded(self, state: StoredState) -> StoredState:
        """
        Take in what `load` read (where the trail ends, the positions it books) and return
        it; a writer refuses a trail its checkpoints deny: it never appends to, nor signs
        over, such a trail.
        """
        records = state.records
        self._stored_seq = records[-1].seq if records else 0
        self._positions = {position.symbol: position for position in state.positions}
        if not self.read_only:
            problem = (
                first_mismatch(records, state.checkpoints)
                if self._checkpoints is None
                else self._checkpoints.opened(records, state.checkpoints)
            )
            if problem is not None:
                raise self._poison(f"{problem}; nothing is appended to it")
        return state

    def _poison(self, message: str) -> StoreError:
        self._broken = StoreError(f"{self._label}: {message}")
        # A fresh error to raise: the kept one never gets a traceback, whose frames would
        # hold this store in a cycle and keep its writer lock until the cyclic GC runs.
        return StoreError(str(self._broken))

    def _refuse_if_read_only(self, action: str) -> None:
        if self.read_only:
            raise StoreError(f"{self._label}: opened read-only, so it cannot {action}")

    def _check(self) -> None:
        self._refuse_if_read_only("write")
        if self._broken is not None:
            raise StoreError(f"{self._broken} (the store accepts no more writes; reopen it)")

    def _rows(self) -> _Unit:
        """
        The rows the open unit of work on this thread has staged (made on first use), or
        outside a unit a unit of their own (``alone``: the caller queues it once its row is
        in). The store must take writes.
        """
        if self._broken is not None or self.read_only:
            self._check()  # raises
        units = self._units_by_thread
        unit = units.get(get_ident()) if units else None
        if unit is None:
            return _Unit(alone=True)
        rows: _Unit | None = unit.rows
        if rows is None:
            rows = unit.rows = _Unit()
        return rows

    def stage_intent(self, entry: IntentEntry, order: Order | None = None) -> None:
        """
        Stage an idempotency-index row, and the snapshot of its `order` if given, with the
        current unit of work.
        """
        rows = self._rows()
        rows.intents[entry.idempotency_key] = entry
        if order is not None:
            rows.orders[order.client_order_id] = order
        if rows.alone:
            self._queue_alone(rows)

    def stage_order(self, order: Order) -> None:
        """
        Stage an order snapshot with the current unit of work.
        """
        rows = self._rows()
        rows.orders[order.client_order_id] = order
        if rows.alone:
            self._queue_alone(rows)

    def stage_booking(self, booking: Booking) -> None:
        """
        Stage a fill the live ledger booked with the current unit of work: the positions
        table books it, in trail order, when the unit is committed.
        """
        rows = self._rows()
        rows.bookings.append(booking)
        if rows.alone:
            self._queue_alone(rows)

    def _queue_alone(self, rows: _Unit) -> None:
        # Rows staged outside any unit of work: a unit by themselves, after every record.
        last = len(self._audit) if self._audit is not None else 0
        rows.first_seq, rows.last_seq = last + 1, last
        with self._state_lock:
            self._queued.append(rows)

    def _unit_finished(self, unit: UnitOfWork, failure: BaseException | None = None) -> None:
        """
        Queue the rows `unit` staged, tagged with its seqs. A unit that raised midway is
        half-done: rather than store half of it, the store takes no more writes, so the
        database keeps the complete units before it.
        """
        rows: _Unit | None = unit.rows
        unit.rows = None
        if failure is not None:
            if self._broken is None:
                self._poison(
                    f"a unit of work failed midway ({type(failure).__name__}: {failure}); "
                    "nothing of it was stored"
                )
            return
        if rows is not None:
            rows.first_seq, rows.last_seq = unit.first_seq, unit.last_seq
            with self._state_lock:
                self._queued.append(rows)

    def _wake(self, watermark: int | None) -> None:
        """
        The audit log's watermark moved to `watermark` (None: a unit failed and the store
        stopped). Wake the flushes waiting for the watermark only if one of them waits for
        no more than that; the ones waiting for a commit to end sleep on. A flush adds what
        it waits for before it reads the watermark, so one added after this read sees the
        new watermark: no wake-up is missed, and a unit nobody waits on pays no lock.
        """
        if self._wanted or watermark is None:
            with self._commit_lock:
                if watermark is None:
                    self._commit_ended.notify_all()
                    self._watermark_moved.notify_all()
                elif any(wanted <= watermark for wanted in self._wanted):
                    self._watermark_moved.notify_all()

    def _watermark(self) -> int:
        """
        The highest seq a commit may take: below the first record of every unit still open
        (`AuditLog.watermark`), and never inside a finished unit whose records go on past
        it (units interleave: a finished unit's last records may follow an open unit's
        first), so a commit carries whole units only.
        """
        watermark = self._audit.watermark() if self._audit is not None else 0
        with self._state_lock:
            while True:
                split = [
                    unit.first_seq
                    for unit in self._queued
                    if unit.first_seq <= watermark < unit.last_seq
                ]
                if not split:
                    return watermark
                watermark = min(split) - 1

    def _done(self, wanted: int) -> bool:
        # Under ``_commit_lock``: the records up to `wanted`, and every queued unit ending
        # by then, are durable.
        if self._durable_through < wanted:
            return False
        with self._state_lock:
            for units in (self._in_flight, self._queued):
                for unit in units:
                    if unit.last_seq <= wanted:
                        return False
        return True

    def flush(self, through: int | None = None) -> None:
        """
        Return once every audit record up to seq `through` (default: every record written
        before the call) is durable, with the rows of every unit of work that ended by then.

        Only finished units are committed: a commit takes the records up to the audit log's
        `~AuditLog.watermark` (below the first record of any unit still open) and the rows
        of the units that ended by it, so after any crash the database holds a prefix of
        complete units. Group commit: one caller (the leader) commits for every thread while
        the others wait; a caller whose data a commit already covered returns without one.
        A failure rolls the transaction back (nothing of it is stored), breaks the store and
        is raised to every caller waiting on it.
        """
        if self._broken is not None or self.read_only:
            self._check()  # raises
        if self._checkpoints is not None:  # a session flushes once recovery took the trail
            self._checkpoints.trail_taken = True
        audit = self._audit
        if self._units_by_thread and get_ident() in self._units_by_thread:
            raise ReentrantCall(
                f"{self._label}: flush called inside a unit of work (a risk hook calling "
                "its orchestrator?): it could never be durable before that unit ends"
            )
        wanted = through if through is not None else len(audit or ())
        with self._commit_lock:
            while True:
                if self._broken is not None:
                    self._check()  # raises
                if self._done(wanted):
                    return
                if self._committing:
                    self._commit_waiters += 1
                    try:
                        self._commit_ended.wait()  # then see whether it carried the caller's
                    finally:
                        self._commit_waiters -= 1
                    continue
                # Lead a commit only once it can carry the caller's records: every unit of
                # work begun before them has ended (`_wake` says when).
                self._wanted.append(wanted)  # before the watermark is read: see `_wake`
                try:
                    watermark = self._watermark()
                    if watermark >= wanted:
                        self._committing = True
                        break
                    self._watermark_moved.wait()
                finally:
                    self._wanted.remove(wanted)
        try:
            self._commit_queued(watermark)
        finally:
            with self._commit_lock:
                self._committing = False
                if self._commit_waiters:
                    self._commit_ended.notify_all()
                if self._wanted:
                    self._watermark_moved.notify_all()

    def _commit_queued(self, watermark: int) -> None:
        # Only the leader runs this (``_committing`` is set). The watermark only rises, so
        # the one the leader read is still a point a commit may stop at.
        lines = self._audit.take_lines(watermark) if self._audit else []
        with self._state_lock:
            units = [unit for unit in self._queued if unit.last_seq <= watermark]
            self._queued = [unit for unit in self._queued if unit.last_seq > watermark]
            self._in_flight = units
        intents: dict[str, IntentEntry] = {}
        orders: dict[str, Order] = {}
        bookings: list[Booking] = []
        for unit in units:  # in the order they ended: a later snapshot replaces an earlier
            intents.update(unit.intents)
            orders.update(unit.orders)
            bookings += unit.bookings
        try:
            positions: dict[str, Position] = {}
            if bookings:
                touched = book_in_trail_order(self._positions, bookings)
                positions = {symbol: self._positions[symbol] for symbol in sorted(touched)}
            checkpoint = self._checkpoints.due(lines) if self._checkpoints else None
            if lines or intents or orders or positions:
                self._write(lines, intents, orders, positions, checkpoint)
                self.commits += 1
            if self._checkpoints is not None:
                self._checkpoints.committed(lines, checkpoint)
        except Exception as exc:  # noqa: BLE001 - any failure loses the taken rows: poison
            self._abort()
            raise self._poison(f"write failed, nothing of it was stored: {exc}") from None
        with self._commit_lock:
            if watermark > self._durable_through:
                self._durable_through = watermark
            with self._state_lock:
                self._in_flight = []

    def _write(
        self,
        lines: list[Line],
        intents: dict[str, IntentEntry],
        orders: dict[str, Order],
        positions: dict[str, Position],
        checkpoint: Checkpoint | None = None,
    ) -> None:
        """
        One transaction: the records, the rows of the units they end and the checkpoint
        covering them (if any), all or nothing.
        """
        raise NotImplementedError

    def _abort(self) -> None:
        """
        After a failed `_write`: end whatever transaction it left open (nothing of it stays).
        """
