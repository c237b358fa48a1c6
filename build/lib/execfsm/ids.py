"""
The canonical encoder, and the deterministic identifiers built on it.

One `msgspec` JSON encoder, built once, writes every id's input, every audit hash's text,
every store row and every export: keys sorted, no spaces, Decimals and enums as strings,
attrs classes as objects of their fields. The same bytes are how ledgers keep finished
values (`encode`): bytes are not tracked by the cyclic GC, as every attrs object is, and
`decode` reads them back with `msgspec`'s decoder for the attrs class.

Nothing here reads a clock or a random source, so replaying the same inputs gives the same ids.
"""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

import msgspec

from execfsm.contracts import OrderIntent

T = TypeVar("T")

ENCODER = msgspec.json.Encoder(order="sorted")
"""The one canonical encoder. A datetime it writes as RFC 3339 (UTC as ``Z``): the audit
trail stores ``ts`` as its ``isoformat()`` text instead, as it always has."""

_UNSET_LATER_FIELDS = (
    b'"exec_ref_id":null,',
    b'"expire_time":null,',
    b'"venue_client_order_id":null,',
)
"""Fields added after release 0.1.0 (`ExecutionEvent.exec_ref_id`, `OrderIntent.expire_time`,
`Order.expire_time`, `Order.venue_client_order_id`), as the encoder writes them unset. None of
them is ever the last key of its object, and ``":`` never occurs inside a JSON string (a
quote there is escaped), so each pattern matches only such a field."""


def encode(value: Any) -> bytes:
    """
    The canonical JSON of a value, as UTF-8 bytes. A field added after release 0.1.0 is left
    out while unset, so what that release wrote (store rows, idempotency keys, the intake
    record's terms, hence audit hashes) is still what this one writes, and still reads as
    canonical (a missing field decodes to its default).
    """
    data = _encode(value)
    if b'":null,' in data:
        for unset in _UNSET_LATER_FIELDS:
            data = data.replace(unset, b"")
    return data


_encode = ENCODER.encode

encode_fixed = ENCODER.encode
"""`encode` for a type that gained no field since release 0.1.0 and holds none that did
(audit rows, fills, positions): the same bytes, without the look for unset later fields, on
the hot path of every transition."""


def canonical_json(value: Any) -> str:
    """
    The one JSON text of a value: sorted keys, no spaces, Decimals and enums as strings.

    >>> from decimal import Decimal
    >>> canonical_json({"b": Decimal("1.10"), "a": [1, None]})
    '{"a":[1,null],"b":"1.10"}'
    """
    return encode(value).decode()


_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def decode(kind: type[T], data: bytes | str) -> T:
    """
    The `kind` (an attrs class) that canonical JSON `data` holds, every field checked for
    its declared type (a `msgspec.ValidationError`, a ValueError, names the bad field).
    """
    decoder = _DECODERS.get(kind)
    if decoder is None:
        decoder = _DECODERS[kind] = msgspec.json.Decoder(kind)
    value: T = decoder.decode(data)
    return value


def sha256_hex(text: str) -> str:
    """
    Hex sha256 of the UTF-8 bytes of `text`.
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stable_id(prefix: str, *parts: Any) -> str:
    """
    A short readable id derived from `parts`: ``prefix-`` and 24 hex digits of the hash of
    their canonical JSON (an array).

    >>> stable_id("ord", "k1") == stable_id("ord", "k1")
    True
    """
    return f"{prefix}-{hashlib.sha256(_encode(parts)).hexdigest()[:24]}"


def idempotency_key(intent: OrderIntent) -> str:
    """
    The intent's idempotency key: same intent, same key, in any process.

    Built from the session, the strategy and either the caller's ``intent_id`` or, when there
    is none, the intent's whole content.
    """
    identity: dict[str, Any] = {"session": intent.session_id, "strategy": intent.strategy_id}
    if intent.intent_id is not None:
        identity["intent_id"] = intent.intent_id
    else:
        identity["content"] = intent
    return hashlib.sha256(encode(identity)).hexdigest()


def jsonable(value: Any) -> Any:
    """
    `value` as plain JSON data (Decimals as strings, enums as values, attrs classes as dicts).
    """
    return msgspec.json.decode(encode(value))
