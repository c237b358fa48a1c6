"""
Run in a subprocess by tests/test_review_21b.py: one FixAdapter logged on to the scripted
venue, a second FixAdapter on the same settings file (same FileStorePath, same CompIDs)
started and stopped, then the first stopped. Prints one JSON line of what happened.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from execfsm.adapters.fix import load_config
from execfsm.adapters.fix.adapter import FixAdapter
from execfsm.clock import SystemClock
from execfsm.errors import ConfigurationError
from execfsm.testing.fix_acceptor import FixAcceptor


def main() -> int:
    folder = Path(tempfile.mkdtemp())
    venue = FixAcceptor(folder / "venue").start()
    config = folder / "fix.cfg"
    config.write_text(venue.initiator_config(folder / "ours"))
    first = FixAdapter(load_config(config), SystemClock())
    out: dict[str, object] = {"first_logged_on": first.start(wait=5)}
    second = None
    try:
        second = FixAdapter(load_config(config), SystemClock())
        out["second_logged_on"] = second.start(wait=2)
        out["refused"] = False
    except ConfigurationError as exc:
        out["refused"] = True
        out["why"] = str(exc)
    finally:
        if second is not None:
            second.stop(force=True)
    out["first_still_logged_on"] = first.logged_on
    print(json.dumps(out), flush=True)
    first.stop(force=True)
    venue.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
