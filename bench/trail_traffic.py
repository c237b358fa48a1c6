"""
How long drawing a big trail takes (``execfsm diagrams --trail``): a paper session of N
market intents (about 12 records each), then reading its export, verifying it, counting its
traffic (one pass) and drawing and rendering the diagrams, each timed; counting is also timed
on a tenth of the trail, to show it grows linearly.

Usage: python bench/trail_traffic.py [--intents 8400]   (8400 intents: 100,800 records)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from execfsm import OrderIntent
from execfsm.cli_audit import read_trail
from execfsm.contracts import OrderSide, OrderType
from execfsm.diagrams.traffic import count_traffic, write_traffic
from execfsm.governance.trail import verify_trail
from execfsm.ledger.audit import record_json
from execfsm.registry import known_machines
from execfsm.testing import paper_orchestrator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--intents", type=int, default=8400)
    n = parser.parse_args().intents
    orch = paper_orchestrator()
    intents = [
        OrderIntent(
            "BTC/USD", OrderSide.BUY, Decimal("0.01"), OrderType.MARKET, "b", intent_id=f"i{i}"
        )
        for i in range(n)
    ]
    for start in range(0, n, 500):
        orch.submit_intents(intents[start : start + 500])
    machines = known_machines()
    with tempfile.TemporaryDirectory() as folder:
        trail = Path(folder) / "trail.jsonl"
        trail.write_text("".join(record_json(r) + "\n" for r in orch.audit_log.records))
        t0 = time.perf_counter()
        read = read_trail(trail, None)
        assert read is not None  # noqa: S101 - our own export
        records = read.records
        t1 = time.perf_counter()
        assert verify_trail(records, machines).ok  # noqa: S101
        t2 = time.perf_counter()
        count_traffic(records[: len(records) // 10], machines)
        t3 = time.perf_counter()
        traffic = count_traffic(records, machines)
        t4 = time.perf_counter()
        write_traffic(Path(folder) / "out", records, machines, traffic=traffic)
        t5 = time.perf_counter()
    print(f"{len(records)} records")
    print(f"read the export      {t1 - t0:7.3f} s")
    print(f"verify the trail     {t2 - t1:7.3f} s")
    print(f"count a tenth        {t3 - t2:7.3f} s")
    print(f"count all            {t4 - t3:7.3f} s ({(t4 - t3) / len(records) * 1e6:.2f} us/record)")
    print(f"draw + SVG + PNG     {t5 - t4:7.3f} s")


if __name__ == "__main__":
    main()
