"""
The adapter's own record of every ClOrdID it sent, and for which order: written (and synced)
before the request leaves, read back at start, so a report that arrives after a restart (a
resend, a late fill) is still named by our order, and a ClOrdID is never sent twice.
"""

from __future__ import annotations

import json
import os
import threading
from decimal import Decimal
from pathlib import Path

from execfsm.adapters.fix._lines import whole_lines
from execfsm.adapters.fix.mapping import OrderRef
from execfsm.contracts import OrderSide
from execfsm.errors import ConfigurationError
from execfsm.ids import canonical_json


class ClOrdIdJournal:
    """
    ClOrdID → `OrderRef` (with the terms sent under it) and what was sent under it (35=D, F,
    G), appended to a JSON-lines file (None: in memory only).
    """

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._refs: dict[str, OrderRef] = {}
        self._sent: set[str] = set()
        self._kinds: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self._orders: dict[str, list[OrderRef]] = {}  # the terms of each 35=D/G, per order
        self._path = path
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            # a last line cut by a crash is cut off: its request never left
            for number, line in whole_lines(path, "journal", "ClOrdID record"):
                try:
                    row = json.loads(line)
                    qty, px = row.get("qty"), row.get("px")  # absent from older journals
                    ref = OrderRef(
                        row["cid"],
                        row["corr"],
                        row["symbol"],
                        OrderSide(row["side"]),
                        Decimal(qty) if qty is not None else None,
                        Decimal(px) if px is not None else None,
                    )
                    self._add(row["clordid"], ref, row["kind"])
                except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
                    raise ConfigurationError(
                        f"{path}: line {number} is not a ClOrdID record: {type(exc).__name__}",
                        field="journal",
                        value=str(path),
                    ) from None

    def _add(self, cl_ord_id: str, ref: OrderRef, kind: str) -> None:
        self._refs[cl_ord_id] = ref
        self._kinds[cl_ord_id] = kind
        self._sent.add(cl_ord_id)
        key = f"{ref.client_order_id}:{kind}"
        self._counts[key] = self._counts.get(key, 0) + 1
        if kind in ("D", "G"):
            self._orders.setdefault(ref.client_order_id, []).append(ref)

    def ref(self, cl_ord_id: str) -> OrderRef | None:
        """The order a ClOrdID was sent for, if any."""
        with self._lock:
            return self._refs.get(cl_ord_id)

    def accepted(self, cl_ord_id: str) -> tuple[OrderRef, ...]:
        """The terms a report under `cl_ord_id` may carry: those sent under it, and, for a
        cancel, those of the order and of every replace sent for it (a replace whose answer
        never came may have been taken: the venue's answer to the cancel carries its terms)."""
        with self._lock:
            ref = self._refs.get(cl_ord_id)
            if ref is None:
                return ()
            if self._kinds.get(cl_ord_id) != "F":
                return (ref,)
            return (ref, *self._orders.get(ref.client_order_id, ()))

    def sent(self, cl_ord_id: str) -> bool:
        """Whether a request already went (or may have gone) out under `cl_ord_id`."""
        with self._lock:
            return cl_ord_id in self._sent

    def kind(self, cl_ord_id: str) -> str | None:
        """What was sent under `cl_ord_id` (35=D, F or G), if anything."""
        with self._lock:
            return self._kinds.get(cl_ord_id)

    def count(self, client_order_id: str, kind: str) -> int:
        """How many requests of `kind` (35=D/F/G) were sent for the order."""
        with self._lock:
            return self._counts.get(f"{client_order_id}:{kind}", 0)

    def record(self, cl_ord_id: str, ref: OrderRef, kind: str) -> None:
        """Keep `cl_ord_id` for `ref` (durable before the request is sent)."""
        with self._lock:
            if self._path is not None:
                row = {
                    "clordid": cl_ord_id,
                    "cid": ref.client_order_id,
                    "corr": ref.correlation_id,
                    "symbol": ref.symbol,
                    "side": str(ref.side),
                    "kind": kind,
                }
                if ref.quantity is not None:
                    row["qty"] = format(ref.quantity, "f")
                if ref.limit_price is not None:
                    row["px"] = format(ref.limit_price, "f")
                with self._path.open("a", encoding="utf-8") as out:
                    out.write(canonical_json(row) + "\n")
                    out.flush()
                    os.fsync(out.fileno())
            self._add(cl_ord_id, ref, kind)
