"""
The venues `execfsm demo` runs its one scripted session against: the paper venue
(`SimulatedVenue`) or, with ``--venue fix``, the scripted FIX 4.4 acceptor over a real
QuickFIX session on 127.0.0.1.
"""

from __future__ import annotations

import errno
import shutil
import time
from pathlib import Path
from typing import Protocol

from execfsm.adapters.simulated import SimulatedVenue
from execfsm.errors import ConfigurationError
from execfsm.typing import Clock, OrderAdapter

SETTLE_SECONDS = 10.0
"""How long the demo waits for a FIX venue's reports to arrive."""


class DemoVenue(Protocol):
    """What the demo needs of its venue."""

    @property
    def adapter(self) -> OrderAdapter:
        """The adapter the orchestrator sends to."""
        ...

    @property
    def submissions(self) -> int:
        """How many orders reached the venue."""
        ...

    @property
    def description(self) -> str:
        """What the venue is and how the orders reached it, for the demo's summary."""
        ...

    def set_price(self, symbol: str, price: str) -> None:
        """Move a price (resting orders may fill)."""

    def settle(self) -> None:
        """Wait until what the venue sent was applied."""

    def close(self) -> None:
        """Release the venue."""


class PaperDemoVenue:
    """The paper venue: everything happens inside the call."""

    def __init__(self, venue: SimulatedVenue) -> None:
        self._venue = venue

    @property
    def adapter(self) -> OrderAdapter:
        return self._venue

    @property
    def submissions(self) -> int:
        return len(self._venue.submissions)

    @property
    def description(self) -> str:
        return "the paper venue (simulated, in this process)"

    def set_price(self, symbol: str, price: str) -> None:
        self._venue.set_price(symbol, price)

    def settle(self) -> None:
        return None

    def close(self) -> None:
        self._venue.close()


DEMO_FIX_FILES = ("fix.cfg", "venue", "ours")
"""What the FIX demo writes in its folder: the settings file, the acceptor's files, ours."""


def _clear(folder: Path) -> None:
    """Remove what an earlier FIX demo wrote in `folder`; a folder holding anything else is
    refused (`FileExistsError`), never emptied: the demo removes only its own files."""
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "a file, not a folder", str(folder))
    if not folder.exists():
        return
    foreign = sorted(p.name for p in folder.iterdir() if p.name not in DEMO_FIX_FILES)
    if foreign:
        why = f"holds files the demo did not write ({', '.join(foreign)}); nothing removed"
        raise FileExistsError(errno.EEXIST, why, str(folder))
    for name in DEMO_FIX_FILES:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


class FixDemoVenue:
    """The scripted FIX acceptor (fees 10 bps, fills in 40/60 parts) and a `FixAdapter`
    logged on to it, both in this process; their files in `folder` (what an earlier demo
    wrote there is removed; a folder holding anything else is refused)."""

    def __init__(self, folder: Path, clock: Clock) -> None:
        from execfsm.adapters.fix.adapter import FixAdapter  # needs execfsm[fix]
        from execfsm.adapters.fix.config import load_config
        from execfsm.testing.fix_acceptor import FixAcceptor

        _clear(folder)
        self.acceptor = FixAcceptor(folder / "venue", fee_bps=10, partial_fills=("0.4", "0.6"))
        self.acceptor.start()
        config = folder / "fix.cfg"
        config.write_text(self.acceptor.initiator_config(folder / "ours"), encoding="utf-8")
        self._adapter = FixAdapter(load_config(config), clock, name="fix")
        if not self._adapter.start(wait=SETTLE_SECONDS):
            self.close()
            raise ConfigurationError(
                f"demo: no FIX logon on 127.0.0.1:{self.acceptor.port}",
                field="venue",
                value="fix",
            )

    @property
    def adapter(self) -> OrderAdapter:
        return self._adapter

    @property
    def submissions(self) -> int:
        return sum(self.acceptor.new_order_singles.values())

    @property
    def description(self) -> str:
        return (
            f"FIX 4.4 over QuickFIX to the scripted acceptor on 127.0.0.1:{self.acceptor.port} "
            "(submissions are the NewOrderSingles it received)"
        )

    def set_price(self, symbol: str, price: str) -> None:
        self.acceptor.set_price(symbol, price)
        self.settle()

    def settle(self) -> None:
        end = time.monotonic() + SETTLE_SECONDS
        while self._adapter.messages_received < self.acceptor.sent_count:
            if time.monotonic() > end:
                break
            time.sleep(0.005)
        self._adapter.drain(SETTLE_SECONDS)

    def close(self) -> None:
        self._adapter.stop(force=True)
        self.acceptor.stop()
