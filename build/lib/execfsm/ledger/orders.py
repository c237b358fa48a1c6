"""
`OrderLedger`: every order's lifecycle, by client order id, in creation order.
"""

from __future__ import annotations

import threading
from typing import Any

from execfsm.contracts import Order
from execfsm.fsm.engine import Engine
from execfsm.fsm.order import OrderLifecycle
from execfsm.ids import decode
from execfsm.typing import AuditSink


class OrderLedger:
    """
    The orders of a session. Lifecycles live here; snapshots are plain `Order` values.

    A final order is kept packed (`OrderLifecycle.packed`) once its owner `settle`s it, and
    re-opened when an event names it again: most final orders never hear of anything
    again, and a session of millions of live lifecycles would have the cyclic GC walk them
    all at every full collection.

    Args:
        audit: The sink re-opened lifecycles write to.
        engine: The engine re-opened lifecycles run on.
    """

    def __init__(self, audit: AuditSink, engine: Engine = Engine.COMPILED) -> None:
        self._audit = audit
        self._engine = engine
        self._entries: dict[str, OrderLifecycle | tuple[Any, ...]] = {}
        self._lock = threading.Lock()

    def add(self, lifecycle: OrderLifecycle) -> None:
        """
        Track a new order; its id must be new.
        """
        with self._lock:
            if lifecycle.client_order_id in self._entries:
                raise KeyError(
                    f"order ledger: order {lifecycle.client_order_id} is already tracked"
                )
            self._entries[lifecycle.client_order_id] = lifecycle

    def get(self, client_order_id: str) -> OrderLifecycle | None:
        """
        The lifecycle of an order (re-opened if it was packed), or None if unknown.

        Callers that change it get it while holding the order's lock and `settle` it when
        done: a lifecycle got before the lock may since have been packed by another thread.
        """
        entry = self._entries.get(client_order_id)
        if entry is None or isinstance(entry, OrderLifecycle):
            return entry
        with self._lock:
            entry = self._entries[client_order_id]
            if isinstance(entry, OrderLifecycle):
                return entry
            lifecycle = OrderLifecycle.from_packed(entry, self._audit, engine=self._engine)
            self._entries[client_order_id] = lifecycle
            return lifecycle

    def settle(self, lifecycle: OrderLifecycle) -> None:
        """
        Pack `lifecycle` if its order is final (the caller holds the order's lock).
        """
        if not lifecycle.is_final:
            return
        packed = lifecycle.packed()
        with self._lock:
            if self._entries.get(lifecycle.client_order_id) is lifecycle:
                self._entries[lifecycle.client_order_id] = packed

    def order(self, client_order_id: str) -> Order | None:
        """
        An order as it is now, or None if unknown (a packed one stays packed).
        """
        entry = self._entries.get(client_order_id)
        if entry is None or isinstance(entry, OrderLifecycle):
            return None if entry is None else entry.order
        return decode(Order, entry[0])

    def __len__(self) -> int:
        return len(self._entries)

    def unsettled(self) -> list[Order]:
        """
        The orders not packed, in creation order: every order that is not final (a final one
        may be among them until it is settled). Nothing is decoded.
        """
        with self._lock:
            entries = list(self._entries.values())
        return [e.order for e in entries if isinstance(e, OrderLifecycle)]

    def snapshot(self) -> list[Order]:
        """
        Every order as it is now, in creation order.
        """
        with self._lock:
            entries = list(self._entries.values())
        return [e.order if isinstance(e, OrderLifecycle) else decode(Order, e[0]) for e in entries]
