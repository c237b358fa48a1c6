"""
`OrderLedger`: every order's lifecycle, by client order id, in creation order.
"""

from __future__ import annotations

import threading

from execfsm.contracts import Order
from execfsm.fsm.order import OrderLifecycle


class OrderLedger:
    """
    The orders of a session. Lifecycles live here; snapshots are plain `Order` values.
    """

    def __init__(self) -> None:
        self._lifecycles: dict[str, OrderLifecycle] = {}
        self._lock = threading.Lock()

    def add(self, lifecycle: OrderLifecycle) -> None:
        """
        Track a new order; its id must be new.
        """
        with self._lock:
            if lifecycle.client_order_id in self._lifecycles:
                raise KeyError(
                    f"order ledger: order {lifecycle.client_order_id} is already tracked"
                )
            self._lifecycles[lifecycle.client_order_id] = lifecycle

    def lifecycles(self) -> list[OrderLifecycle]:
        """
        Every order's lifecycle, in creation order.
        """
        with self._lock:
            return list(self._lifecycles.values())

    def get(self, client_order_id: str) -> OrderLifecycle | None:
        """
        The lifecycle of an order, or None if unknown.
        """
        return self._lifecycles.get(client_order_id)

    def __len__(self) -> int:
        return len(self._lifecycles)

    def snapshot(self) -> list[Order]:
        """
        Every order as it is now, in creation order.
        """
        return [lc.order for lc in self.lifecycles()]
