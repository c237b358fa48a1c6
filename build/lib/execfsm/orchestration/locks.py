"""
Striped locks: one lock per idempotency key's stripe, so racing submissions of one key (and
an order's later events) are serialised while other keys run concurrently.
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Iterable, Iterator

STRIPES = 64
"""Lock stripes: the same idempotency key always takes the same lock."""


def stripe(key: str) -> int:
    """
    The stripe of `key`, the same in every process.
    """
    return zlib.crc32(key.encode()) % STRIPES


class StripedLocks:
    """
    `STRIPES` re-entrant locks; a key takes the lock of its stripe.
    """

    def __init__(self) -> None:
        self._locks = tuple(threading.RLock() for _ in range(STRIPES))

    def of(self, key: str) -> threading.RLock:
        """
        The lock of `key`'s stripe.
        """
        return self._locks[stripe(key)]

    @contextlib.contextmanager
    def all_of(self, keys: Iterable[str]) -> Iterator[None]:
        """
        Hold the locks of every key, taken in one order (no deadlock between batches).
        """
        with contextlib.ExitStack() as held:
            for index in sorted({stripe(key) for key in keys}):
                held.enter_context(self._locks[index])
            yield
