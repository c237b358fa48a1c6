"""
The order book of the scripted FIX venue (`execfsm.testing.fix_acceptor`): its orders, by
every ClOrdID they went by, and the ExecutionReports it writes about them, as field lists.
No QuickFIX here: the acceptor sends what this returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Final

import attrs

from execfsm.adapters.fix import mapping as m
from execfsm.bounds import on_grid

FieldList = list[tuple[int, str]]
WORKING: Final = frozenset({"0", "1"})
"""OrdStatus New and Partially filled: a working order."""
_FINAL: Final = frozenset({"2", "4", "8", "C", "3"})


@attrs.define
class VenueOrder:
    """One order as the venue holds it."""

    order_id: str
    cl_ord_id: str
    """The ClOrdID it goes by now (after cancels and replaces)."""
    symbol: str
    side: str
    quantity: Decimal
    ord_type: str
    tif: str
    price: Decimal | None
    status: str = "0"
    cum: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)
    executions: dict[str, tuple[Decimal, Decimal]] = attrs.field(factory=dict)
    """ExecID → (qty, px) of every execution standing (a bust removes one)."""

    @property
    def leaves(self) -> Decimal:
        """What may still fill."""
        return Decimal(0) if self.status in _FINAL else self.quantity - self.cum

    @property
    def avg(self) -> Decimal:
        """The executions' average price (0 before the first)."""
        if not self.cum:
            return Decimal(0)
        return on_grid(self.notional / self.cum, ROUND_HALF_EVEN)

    def recount(self) -> None:
        """Cum and notional again from the standing executions."""
        self.cum = sum((q for q, _ in self.executions.values()), Decimal(0))
        self.notional = sum((q * p for q, p in self.executions.values()), Decimal(0))
        if self.status not in ("4", "8", "C", "3"):
            self.status = "2" if self.cum >= self.quantity else ("1" if self.cum else "0")


class Book:
    """
    The venue's orders and ids. ExecIDs and OrderIDs count up (``X1``, ``O1``): the same
    script gives the same ids.
    """

    def __init__(self, fee_bps: Decimal = Decimal(0)) -> None:
        self.orders: dict[str, VenueOrder] = {}
        """By the first ClOrdID."""
        self.aliases: dict[str, str] = {}
        """Every ClOrdID an order went by → its first."""
        self.fee_bps = fee_bps
        self._execs = 0
        self._ids = 0
        self.sent: dict[str, FieldList] = {}
        """ExecID → the report sent under it (to send it again, PossDup)."""

    def find(self, cl_ord_id: str) -> VenueOrder | None:
        """The order that went by `cl_ord_id` at any time."""
        first = self.aliases.get(cl_ord_id)
        return None if first is None else self.orders[first]

    def add(self, fields: Mapping[int, str]) -> VenueOrder:
        """Book a NewOrderSingle's order (the caller checked its ClOrdID is new)."""
        self._ids += 1
        cl = fields[m.CL_ORD_ID]
        price = fields.get(m.PRICE)
        order = VenueOrder(
            f"O{self._ids}",
            cl,
            fields.get(m.SYMBOL, ""),
            fields.get(m.SIDE, "1"),
            Decimal(fields.get(m.ORDER_QTY, "0")),
            fields.get(m.ORD_TYPE, "1"),
            fields.get(m.TIF, "1"),
            Decimal(price) if price is not None else None,
        )
        self.orders[cl] = order
        self.aliases[cl] = cl
        return order

    def exec_id(self) -> str:
        """The next ExecID."""
        self._execs += 1
        return f"X{self._execs}"

    def report(
        self,
        order: VenueOrder,
        exec_type: str,
        *,
        cl_ord_id: str | None = None,
        orig: str | None = None,
        extra: FieldList | None = None,
        exec_id: str | None = None,
    ) -> FieldList:
        """An ExecutionReport of `order` as it stands (kept by its ExecID)."""
        exec_id = exec_id or self.exec_id()
        fields: FieldList = [
            (m.ORDER_ID, order.order_id),
            (m.CL_ORD_ID, cl_ord_id or order.cl_ord_id),
            (m.EXEC_ID, exec_id),
            (m.EXEC_TYPE, exec_type),
            (m.ORD_STATUS, order.status),
            (m.SYMBOL, order.symbol),
            (m.SIDE, order.side),
            (m.ORDER_QTY, m.fmt(order.quantity)),
            (m.ORD_TYPE, order.ord_type),
            (m.TIF, order.tif),
            (m.CUM_QTY, m.fmt(order.cum)),
            (m.LEAVES_QTY, m.fmt(order.leaves)),
            (m.AVG_PX, m.fmt(order.avg)),
        ]
        if order.price is not None:
            fields.append((m.PRICE, m.fmt(order.price)))
        if orig is not None:
            fields.append((m.ORIG_CL_ORD_ID, orig))
        fields += extra or []
        self.sent[exec_id] = fields
        return fields

    def trade(self, order: VenueOrder, qty: Decimal, px: Decimal) -> FieldList:
        """An execution of `qty` at `px` (booked even on a final order: a late fill)."""
        exec_id = self.exec_id()
        order.executions[exec_id] = (qty, px)
        order.recount()
        fee = on_grid(qty * px * self.fee_bps / 10_000, ROUND_HALF_EVEN) if self.fee_bps else None
        extra = [(m.LAST_QTY, m.fmt(qty)), (m.LAST_PX, m.fmt(px))]
        if fee is not None:
            extra += [(m.COMMISSION, m.fmt(fee)), (m.COMM_TYPE, "3")]
        return self.report(order, "F", extra=extra, exec_id=exec_id)

    def fills_for(
        self, order: VenueOrder, px: Decimal, fractions: tuple[Decimal, ...]
    ) -> list[FieldList]:
        """Fill the order's leaves at `px`, in parts by `fractions` (the last takes the rest)."""
        leaves = order.leaves
        reports = []
        done = Decimal(0)
        parts = fractions or (Decimal(1),)
        for index, fraction in enumerate(parts, start=1):
            qty = leaves - done if index == len(parts) else on_grid(leaves * fraction, ROUND_DOWN)
            if qty <= 0:
                continue
            done += qty
            reports.append(self.trade(order, qty, px))
        return reports

    def status(self, order: VenueOrder | None, cl_ord_id: str, extra: FieldList) -> FieldList:
        """An Order Status answer (ExecType I); an unknown order: OrdStatus 8, OrdRejReason 5."""
        if order is None:
            return [
                (m.ORDER_ID, "NONE"),
                (m.CL_ORD_ID, cl_ord_id),
                (m.EXEC_ID, self.exec_id()),
                (m.EXEC_TYPE, "I"),
                (m.ORD_STATUS, "8"),
                (m.ORD_REJ_REASON, m.UNKNOWN_ORDER),
                (m.CUM_QTY, "0"),
                (m.LEAVES_QTY, "0"),
                (m.AVG_PX, "0"),
                *extra,
            ]
        return self.report(order, "I", cl_ord_id=cl_ord_id, extra=extra)
