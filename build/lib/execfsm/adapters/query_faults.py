"""
How `FaultyVenue` spoils its answers to queries: lagging, missing and wrong reports.

Each spoiling is a pure function of the settings, the seed and the true reports, so the same
venue state and seed give the same answers whatever the order of the questions.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from decimal import Decimal

import attrs

from execfsm.adapters.reports import VenueFill, VenueOrderReport
from execfsm.enums import OrderSide, OrderState
from execfsm.validators import misconfigured, number_between

_RATE = number_between(0, 1)
_LAG = number_between(0, 1_000_000, integer=True)


class WrongReport(enum.StrEnum):
    """
    How a wrong report contradicts the order it names (each is a valid report in itself).
    """

    OVERFILLED = "OVERFILLED"
    """Filled twice the order's quantity (the report's quantity grows with it)."""
    OTHER_SIDE = "OTHER_SIDE"
    """The opposite side, for the order and its fills."""
    OTHER_SYMBOL = "OTHER_SYMBOL"
    """Another symbol (``WRONG:`` before the real one), for the order and its fills."""


@attrs.frozen
class QueryFaults:
    """
    The query settings of a `FaultyVenue`, checked once.

    Args:
        lag: Answers reflect the venue as it was this many events ago.
        forget: Client order ids the venue reports as unknown (None).
        forget_rate: Of the other orders, the fraction reported unknown, each chosen by the
            seed and its id alone.
        wrong: Client order id → how its report is wrong.
        seed: Chooses the forgotten fraction.
    """

    lag: int = 0
    forget: frozenset[str] = frozenset()
    forget_rate: float = 0.0
    wrong: Mapping[str, WrongReport] = attrs.field(factory=dict)
    seed: int = 0

    @classmethod
    def checked(
        cls,
        lag: int,
        forget: Collection[str],
        forget_rate: float,
        wrong: Mapping[str, WrongReport],
        seed: int | None,
    ) -> QueryFaults:
        """
        The settings, or a `ConfigurationError` naming the bad one.
        """
        _LAG.check(lag, "query_lag")
        _RATE.check(forget_rate, "forget_rate")
        if isinstance(forget, str) or not all(isinstance(i, str) for i in forget):
            raise misconfigured("forget_orders", "must be a collection of client order ids", forget)
        if not isinstance(wrong, Mapping) or not all(
            isinstance(k, str) and isinstance(v, WrongReport) for k, v in wrong.items()
        ):
            rule = "must map client order ids to WrongReport members"
            raise misconfigured("wrong_reports", rule, wrong)
        return cls(lag, frozenset(forget), forget_rate, dict(wrong), seed or 0)

    def forgets(self, client_order_id: str) -> bool:
        """
        Whether the venue reports `client_order_id` as unknown.
        """
        if client_order_id in self.forget:
            return True
        if not self.forget_rate:
            return False
        draw = random.Random(f"{self.seed}|{client_order_id}").random()  # noqa: S311 - faults
        return draw < self.forget_rate

    def spoil(self, reports: Mapping[str, VenueOrderReport]) -> dict[str, VenueOrderReport]:
        """
        `reports` as this venue answers them: forgotten ones left out, wrong ones wrong.
        """
        spoiled = {}
        for cid, report in reports.items():
            if self.forgets(cid):
                continue
            how = self.wrong.get(cid)
            spoiled[cid] = report if how is None else _wrong(report, how)
        return spoiled


def _wrong(report: VenueOrderReport, how: WrongReport) -> VenueOrderReport:
    if how is WrongReport.OTHER_SIDE:
        side = OrderSide.SELL if report.side is OrderSide.BUY else OrderSide.BUY
        fills = tuple(attrs.evolve(f, side=side) for f in report.fills)
        return attrs.evolve(report, side=side, fills=fills)
    if how is WrongReport.OTHER_SYMBOL:
        symbol = f"WRONG:{report.symbol}"
        fills = tuple(attrs.evolve(f, symbol=symbol) for f in report.fills)
        return attrs.evolve(report, symbol=symbol, fills=fills)
    quantity = report.quantity * 2
    price = report.avg_price or Decimal(1)
    extra = VenueFill(
        report.client_order_id,
        f"wrong-{report.client_order_id}",
        report.symbol,
        report.side,
        quantity - report.cum_quantity,
        price,
        Decimal(0),
        report.fills[-1].ts_event if report.fills else _epoch(),
    )
    return attrs.evolve(
        report,
        state=OrderState.FILLED,
        quantity=quantity,
        cum_quantity=quantity,
        leaves_quantity=Decimal(0),
        avg_price=price,
        fills=(*report.fills, extra),
    )


def _epoch() -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC)
