"""
The `SimulatedVenue`'s journal: its durable record, one self-describing JSON line per order it
creates (key and terms), per event it emits (with the order's terms at that moment) and per
price move, so that a venue restarted on the same file knows what it knew: its orders, its
answers, what still rests, and which ids it already used.

Apart from the venue because it is a file format with its own rules (a torn last line is a
crash mid-write and is ignored, but only when it is provably one: the beginning of a record,
after at least one whole line of the journal; any other unreadable line refuses the journal,
which is then left as it was; a journal of bare keys, one a line, as venues wrote before,
still loads), not matching logic.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from os import PathLike
from pathlib import Path
from typing import BinaryIO

import msgspec

from execfsm.adapters._answers import StoredEvent, stored
from execfsm.adapters._venue_book import VenueBook
from execfsm.contracts import EventKind, ExecutionEvent, Order
from execfsm.errors import ConfigurationError, ExecFsmError
from execfsm.ids import encode
from execfsm.validators import Rule, misconfigured

_FINAL = frozenset({EventKind.CANCEL_ACK, EventKind.EXPIRE, EventKind.REJECT})
"""Events after which an order no longer rests."""


class _OrderLine(msgspec.Struct, tag_field="record", tag="order"):
    """
    An order the venue created for `key`, with its terms as it received them.
    """

    key: str
    order: Order


class _EventLine(msgspec.Struct, tag_field="record", tag="event"):
    """
    An event the venue emitted for `order` (its terms at the venue then); `answers` is the
    key of the submit it answered, if it did; `fills` the order's fill counter after a FILL.
    """

    order: Order
    event: ExecutionEvent
    answers: str | None = None
    fills: int | None = None


class _PriceLine(msgspec.Struct, tag_field="record", tag="price"):
    """
    A reference price the venue moved to.
    """

    symbol: str
    price: Decimal


_DECODER = msgspec.json.Decoder(_OrderLine | _EventLine | _PriceLine)

_OPENINGS = tuple(
    encode({"record": line.__struct_config__.tag})[:-1]
    for line in (_OrderLine, _EventLine, _PriceLine)
)
"""How each record's line begins (``{"record":"order"``, …): what a torn last line starts
with, or is the start of."""


class Replayed:
    """
    What a journal holds, read back in the order it was written.
    """

    def __init__(self) -> None:
        self.new_orders: list[str] = []
        self.responses: dict[str, tuple[StoredEvent, ...]] = {}
        self.entries: list[tuple[Order, ExecutionEvent]] = []
        self.resting: dict[str, Order] = {}
        self.replaced_ids: dict[str, str] = {}
        self.event_counts: dict[str, int] = {}
        self.fill_counts: dict[str, int] = {}
        self.prices: dict[str, Decimal] = {}
        self._answers: dict[str, list[StoredEvent]] = {}

    def _line(self, line: _OrderLine | _EventLine | _PriceLine) -> None:
        if isinstance(line, _OrderLine):
            self.new_orders.append(line.key)
            self._answers[line.key] = []
        elif isinstance(line, _EventLine):
            self._event(line)
        else:
            self.prices[line.symbol] = line.price

    def _event(self, line: _EventLine) -> None:
        """
        Replay one event as the venue emitted it: into its book, its answers, its counters
        and its resting orders (an order rests from its ACK until a final event or its fill).
        """
        order, event = line.order, line.event
        cid = event.client_order_id
        self.entries.append((order, event))
        if line.answers is not None and line.answers in self._answers:
            self._answers[line.answers].append(stored(event))
        self.event_counts[cid] = self.event_counts.get(cid, 0) + 1
        if line.fills is not None:
            self.fill_counts[cid] = line.fills
        kind = event.kind
        if kind is EventKind.ACK:
            self.resting[cid] = order
        elif kind is EventKind.REPLACE_ACK and cid in self.resting:
            orig = self.resting[cid].current_client_order_id
            self.replaced_ids.pop(orig, None)
            self.replaced_ids[order.current_client_order_id] = cid
            self.resting[cid] = order
        elif kind is EventKind.FILL and event.fill is not None and cid in self.resting:
            held = self.resting[cid]
            rest = held.with_changes(filled_quantity=held.filled_quantity + event.fill.quantity)
            if rest.remaining_quantity > 0:
                self.resting[cid] = rest
            else:
                del self.resting[cid]
        elif kind in _FINAL:
            self.resting.pop(cid, None)

    def _done(self) -> Replayed:
        self.responses = {key: tuple(events) for key, events in self._answers.items()}
        return self


def _valid(positive: Sequence[Decimal | None], others: Sequence[Decimal] = ()) -> bool:
    """
    Whether the amounts are finite, the `positive` ones (None aside) > 0, the `others` >= 0.
    """
    given = [a for a in positive if a is not None]
    if not all(a.is_finite() for a in (*given, *others)):
        return False
    return all(a > 0 for a in given) and all(a >= 0 for a in others)


def _problem(line: _OrderLine | _EventLine | _PriceLine) -> str | None:
    """
    What is wrong with the amounts of a decoded line (the decoder checks types, not values).
    """
    if isinstance(line, _PriceLine):
        return None if _valid([line.price]) else f"price {line.price} is not finite or not above 0"
    order = line.order
    if not _valid([order.quantity, order.limit_price], [order.filled_quantity]):
        return f"order {order.client_order_id}: an amount is not finite or not above 0"
    fill = line.event.fill if isinstance(line, _EventLine) else None
    if fill is not None and not _valid([fill.quantity, fill.price], [fill.fee]):
        return f"fill {fill.fill_id}: an amount is not finite or not above 0"
    return None


def _refused(path: Path, number: int, why: str) -> ConfigurationError:
    return misconfigured("journal", f"line {number} is not a venue journal record ({why})", path)


def torn_tail(torn: bytes, whole_lines: bool, openings: Sequence[bytes]) -> int:
    """
    How many bytes of `torn` (what follows the last newline of a JSON-lines file) to keep:
    all of it when it is blank, none when it is a record the writer was writing when it
    crashed (the beginning of a record, one of `openings` or the start of one, after at least
    one whole line: `whole_lines`). Anything else is not taken for a torn line: a
    `ValueError` says why (cutting it could destroy a file that is no such file at all).
    Shared by every append-only JSON-lines file execfsm writes (this journal, the FIX
    adapter's ClOrdID journal and inbox).
    """
    if not torn.strip():
        return len(torn)  # nothing was being written: a reader strips it, appending is safe
    if not whole_lines:
        raise ValueError("it has no newline and no whole journal line precedes it; nothing was cut")
    begun = torn.lstrip()
    if not any(begun.startswith(start) or start.startswith(begun) for start in openings):
        why = "the last line has no newline and is not the beginning of a record; nothing was cut"
        raise ValueError(why)
    return 0


def _torn(path: Path, number: int, torn: bytes, whole_lines: bool) -> int:
    """
    How many bytes of `torn` (what follows the last newline, line `number`) to keep
    (`torn_tail`); anything but a torn line refuses the journal.
    """
    try:
        return torn_tail(torn, whole_lines, _OPENINGS)
    except ValueError as exc:
        raise _refused(path, number, str(exc)) from None


def replay(path: Path) -> tuple[Replayed, int]:
    """
    What the journal at `path` holds, and how many of its bytes to keep: all but a torn last
    line (no newline; the beginning of a record after at least one whole line: a crash
    mid-write). Raises `ConfigurationError` naming the journal (and the line) when it cannot
    be read, the file untouched.
    """
    replayed = Replayed()
    try:
        data = path.read_bytes()
    except OSError as exc:
        rule = f"must be a readable text file ({type(exc).__name__})"
        raise misconfigured("journal", rule, path) from None
    lines = data.split(b"\n")
    torn = lines.pop()  # after the last newline: empty, or a line cut short by a crash
    records = False  # once a JSON record is read, a bare key is no longer a line of the journal
    whole_lines = False
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        whole_lines = True  # refused below unless it is a line of the journal
        if not text.startswith(b"{") and not records:
            try:
                key = text.decode("utf-8")
            except UnicodeDecodeError:
                raise _refused(path, number, "not UTF-8 text") from None
            if len(key.split()) != 1:
                raise _refused(path, number, "an old journal's line holds one key")
            replayed.new_orders.append(key)  # a journal of keys, as venues wrote before
            continue
        records = True
        try:
            line = _DECODER.decode(text)
        except (msgspec.DecodeError, ValueError, TypeError, ExecFsmError) as exc:
            raise _refused(path, number, str(exc)) from None
        problem = _problem(line)
        if problem is not None:
            raise _refused(path, number, problem)
        replayed._line(line)
    kept = _torn(path, len(lines) + 1, torn, whole_lines)
    return replayed._done(), len(data) - len(torn) + kept


_JOURNAL = Rule(
    lambda v: v is None or (isinstance(v, str | PathLike) and not Path(v).is_dir()),
    "must be None or the path of a file (not a directory)",
)


def open_journal(journal: Path | str | None) -> tuple[Replayed, VenueJournal | None]:
    """
    What the journal holds (nothing if there is none, or no such file yet), and the journal
    open for appending (None without one). A bad one is a `ConfigurationError`.
    """
    _JOURNAL.check(journal, "journal")
    if journal is None:
        return Replayed()._done(), None
    path = Path(journal)
    held, whole = replay(path) if path.exists() else (Replayed()._done(), None)
    try:
        return held, VenueJournal(path, whole)
    except OSError as exc:
        rule = f"must be a file the venue can append to ({type(exc).__name__})"
        raise misconfigured("journal", rule, journal) from None


class VenueJournal:
    """
    The journal file, kept open for appending. The venue writes in `recording`, which
    flushes before the venue's call returns.
    """

    def __init__(self, path: Path, whole: int | None = None) -> None:
        """
        Open `path` for appending, first cutting it to its `whole` bytes (a torn last line
        left by a crash, so that the next line starts on a line of its own).
        """
        self.path = path
        self._file: BinaryIO = path.open("ab")
        if whole is not None and whole < self._file.seek(0, 2):
            self._file.truncate(whole)
        self._write = self._file.write
        self._book: VenueBook = VenueBook()
        self._fill_counts: dict[str, int] = {}

    def watch(self, book: VenueBook, fill_counts: dict[str, int]) -> None:
        """
        Journal what the venue records in `book` in `recording`, with the fill counters in
        `fill_counts`.
        """
        self._book = book
        self._fill_counts = fill_counts

    @contextmanager
    def recording(self, answers: str | None = None) -> Iterator[None]:
        """
        Append every event the venue records inside (answering the submit of `answers`, if
        given), then flush, also when the call raises: the journal holds what the book holds.
        """
        mark = len(self._book)
        try:
            yield
        finally:
            self.events(self._book.since(mark), answers)
            self._file.flush()

    def order(self, key: str, order: Order) -> None:
        """
        Append an order the venue created for `key`.
        """
        self._write(encode(_OrderLine(key, order)) + b"\n")

    def events(
        self, entries: Sequence[tuple[Order, ExecutionEvent]], answers: str | None = None
    ) -> None:
        """
        Append the events in `entries` (answering the submit of `answers`, if given).
        """
        for order, event in entries:
            fills = None
            if event.kind is EventKind.FILL:
                fills = self._fill_counts.get(event.client_order_id)
            self._write(encode(_EventLine(order, event, answers, fills)) + b"\n")

    def price(self, symbol: str, price: Decimal) -> None:
        """
        Append a price move.
        """
        self._write(encode(_PriceLine(symbol, price)) + b"\n")

    def close(self) -> None:
        """
        Flush and close the file (the lines are already flushed: `recording` flushes).
        """
        self._file.close()
