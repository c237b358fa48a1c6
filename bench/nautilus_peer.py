"""
The peer in `make bench`: nautilus_trader's order state machine on the lifecycle ours runs.

Run by bench/bench.py in its own virtualenv (nautilus_trader needs Python 3.12; `make bench`
makes bench/.venv-nautilus). It answers on stdout, one JSON object a line: first its versions,
then, for each line "N" read from stdin, the seconds N market-order lifecycles took. Reading
requests one at a time lets bench.py interleave its runs with ours in one session.

One lifecycle: a MarketOrder built with the public constructor (its OrderInitialized event
is made there), then OrderSubmitted, OrderAccepted and OrderFilled built with their public
constructors and applied with `order.apply`. Identifiers are built before the clock starts,
as ours are; event ids (UUID4) are made inside, as each event needs a new one.
"""

from __future__ import annotations

import gc
import json
import platform
import sys
import time

import nautilus_trader
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.model.enums import LiquiditySide, OrderSide, OrderStatus, OrderType
from nautilus_trader.model.events import OrderAccepted, OrderFilled, OrderSubmitted
from nautilus_trader.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    StrategyId,
    TradeId,
    TraderId,
    VenueOrderId,
)
from nautilus_trader.model.objects import Currency, Money, Price, Quantity
from nautilus_trader.model.orders import MarketOrder

TRADER = TraderId("TRADER-001")
STRATEGY = StrategyId("S-001")
INSTRUMENT = InstrumentId.from_str("BTC/EUR.SIM")
ACCOUNT = AccountId("SIM-001")
EUR = Currency.from_str("EUR")
QTY = Quantity.from_str("0.01")
PX = Price.from_str("100.00")
FEE = Money(0, EUR)


def lifecycles(n: int) -> float:
    """Seconds for `n` market-order lifecycles: initialize, submitted, accepted, filled."""
    ids = [(ClientOrderId(f"O-{i}"), VenueOrderId(f"V-{i}"), TradeId(f"T-{i}")) for i in range(n)]
    orders = []
    gc.collect()
    start = time.perf_counter()
    for client_id, venue_id, trade_id in ids:
        order = MarketOrder(TRADER, STRATEGY, INSTRUMENT, client_id, OrderSide.BUY, QTY, UUID4(), 0)
        order.apply(OrderSubmitted(TRADER, STRATEGY, INSTRUMENT, client_id, ACCOUNT, UUID4(), 0, 0))
        order.apply(
            OrderAccepted(TRADER, STRATEGY, INSTRUMENT, client_id, venue_id, ACCOUNT, UUID4(), 0, 0)
        )
        order.apply(
            OrderFilled(
                TRADER,
                STRATEGY,
                INSTRUMENT,
                client_id,
                venue_id,
                ACCOUNT,
                trade_id,
                None,
                OrderSide.BUY,
                OrderType.MARKET,
                QTY,
                PX,
                EUR,
                FEE,
                LiquiditySide.TAKER,
                UUID4(),
                0,
                0,
            )
        )
        orders.append(order)  # ours keeps every order's trail too
    elapsed = time.perf_counter() - start
    if any(order.status != OrderStatus.FILLED for order in orders):
        raise RuntimeError("a nautilus order did not end FILLED")
    return elapsed


def main() -> int:
    hello = {"nautilus_trader": nautilus_trader.__version__, "python": platform.python_version()}
    print(json.dumps(hello), flush=True)
    for line in sys.stdin:
        n = int(line)
        print(json.dumps({"n": n, "seconds": lifecycles(n)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
