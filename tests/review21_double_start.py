"""
Support for test_review_21: a `FixAdapter` against the scripted venue in a process of its
own (a crash there must not take the test run with it). ``twice``: start it a second time,
then stop it; ``dropped``: let a started adapter go out of scope unstopped. Prints DONE at
the end.
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from pathlib import Path

from execfsm.adapters.fix import load_config
from execfsm.adapters.fix.adapter import FixAdapter
from execfsm.clock import SystemClock
from execfsm.testing.fix_acceptor import FixAcceptor


def _twice(config: Path) -> None:
    adapter = FixAdapter(load_config(config), SystemClock())
    print("first start", adapter.start(wait=5), flush=True)
    try:
        print("second start", adapter.start(wait=2), flush=True)
    except Exception as exc:  # noqa: BLE001 - a refusal is a fine answer: reported
        print("second start refused", type(exc).__name__, flush=True)
    adapter.stop(force=True)


def _dropped(config: Path) -> None:
    adapter = FixAdapter(load_config(config), SystemClock())
    print("started", adapter.start(wait=5), flush=True)  # and never stopped


def main(mode: str) -> int:
    folder = Path(tempfile.mkdtemp())
    venue = FixAcceptor(folder / "venue").start()
    config = folder / "fix.cfg"
    config.write_text(venue.initiator_config(folder / "ours"))
    (_twice if mode == "twice" else _dropped)(config)
    gc.collect()
    time.sleep(1)
    venue.stop()
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
