"""
Units of work of an `AuditLog`: the records a thread writes inside one, and what a store
stages meanwhile, become durable together, never apart (see `AuditLog.unit`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from execfsm.ledger.audit import AuditLog


class UnitOfWork:
    """
    One unit of work of an `AuditLog` (see `AuditLog.unit`), a context manager: open from
    ``__enter__`` to ``__exit__``. A plain class, not a generator-based context manager:
    every intent opens two. The store that persists the log keeps what it stages meanwhile
    on the unit itself (`rows`), so staging finds it with one lookup.
    """

    __slots__ = ("first_seq", "last_seq", "log", "rows", "thread")

    def __init__(self, log: AuditLog | None, thread: int) -> None:
        self.log = log
        self.thread = thread
        self.first_seq = 0
        """No record of the unit comes before this seq (the log's length + 1 when it
        opened)."""
        self.last_seq = 0
        """No record of the unit comes after this seq: the log's length when it closed (so
        it may count records other threads wrote meanwhile; while open, the length when
        it opened)."""
        self.rows: Any = None
        """What the store staged with this unit (the store's own type; None: nothing)."""

    def __enter__(self) -> UnitOfWork:
        log = self.log
        if log is not None:
            with log._lock:
                self.last_seq = log._rows.count
                self.first_seq = self.last_seq + 1
                log._open_units[self] = self.first_seq
                log._units_by_thread[self.thread] = self
        return self

    def __exit__(self, kind: object, failure: BaseException | None, _tb: object) -> None:
        log = self.log
        if log is None:
            return
        del log._units_by_thread[self.thread]
        # No record of this unit can come later (a plain read: the count moves only after
        # a record is kept, and this thread wrote its own already).
        self.last_seq = log._rows.count
        hooks = log._unit_hooks
        try:
            if hooks is not None:
                # Its rows join the store's queue before it may commit; a unit that raised
                # midway is never committed: the store stops taking writes instead.
                hooks[0](self, failure)
        except BaseException as exc:
            if failure is None and hooks is not None:
                failure = exc  # its rows may not be queued: the store must stop too
                hooks[0](self, exc)
            raise
        finally:
            watermark = None  # None: waiters must see the store stopped
            if failure is None:
                with log._lock:
                    open_units = log._open_units
                    del open_units[self]
                    # The watermark moves only when the oldest open unit ends: waking the
                    # waiting flushes for any other would only put them back to sleep.
                    if not open_units:
                        watermark = log._rows.count
                    else:
                        oldest = min(open_units.values())
                        watermark = oldest - 1 if self.first_seq < oldest else -1
            # A failed unit stays open for good: the watermark never passes its records,
            # so no commit (not even one a leader had begun) can carry half of it.
            if hooks is not None and watermark != -1:
                hooks[1](watermark)


UnitStaged = Callable[[UnitOfWork, BaseException | None], None]
"""A store's hook as a unit ends: ``staged(unit, failure)`` (see `AuditLog.on_units`)."""
UnitsMoved = Callable[[int | None], None]
"""A store's hook once the watermark moved: ``moved(watermark)`` (see `AuditLog.on_units`)."""

NO_STORE_UNIT = UnitOfWork(None, 0)
"""The unit of every log no store persists: nothing to hold back, nothing to queue."""
