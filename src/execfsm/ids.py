"""
Deterministic identifiers: sha256 over canonical JSON, identical in every process.

Nothing here reads a clock or a random source, so replaying the same inputs gives the same ids.
"""

from __future__ import annotations

import enum
import hashlib
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from execfsm.contracts import Fill, OrderIntent


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=False)
    if isinstance(value, frozenset | set):
        return sorted(value, key=str)
    raise TypeError(f"canonical_json: cannot encode {type(value).__name__} value {value!r}")


def canonical_json(value: Any) -> str:
    """
    The one JSON text of a value: sorted keys, no spaces, Decimals and enums as strings.

    >>> canonical_json({"b": Decimal("1.10"), "a": [1, None]})
    '{"a":[1,null],"b":"1.10"}'
    """
    return json.dumps(
        value, default=_default, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


json_string = json.encoder.encode_basestring
"""A str as a JSON string literal: the C encoder `canonical_json` uses (``ensure_ascii``
off), for writers that build canonical JSON directly on the hot path."""


def fill_json(fill: Fill) -> str:
    """
    ``canonical_json(fill)``, written directly for the hot path (property-tested equal).
    """
    return (
        f'{{"fee":"{fill.fee}","fill_id":{json_string(fill.fill_id)},'
        f'"price":"{fill.price}","quantity":"{fill.quantity}"}}'
    )


def intent_json(intent: OrderIntent) -> str:
    """
    ``canonical_json(intent)``, written directly for the hot path (property-tested equal):
    every intent's terms go on its intake record.
    """
    limit = "null" if intent.limit_price is None else f'"{intent.limit_price}"'
    intent_id = "null" if intent.intent_id is None else json_string(intent.intent_id)
    return (
        f'{{"intent_id":{intent_id},"limit_price":{limit},'
        f'"order_type":{json_string(intent.order_type.value)},"quantity":"{intent.quantity}",'
        f'"session_id":{json_string(intent.session_id)},"side":{json_string(intent.side.value)},'
        f'"strategy_id":{json_string(intent.strategy_id)},"symbol":{json_string(intent.symbol)},'
        f'"time_in_force":{json_string(intent.time_in_force.value)}}}'
    )


def sha256_hex(text: str) -> str:
    """
    Hex sha256 of the UTF-8 bytes of `text`.
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stable_id(prefix: str, *parts: Any) -> str:
    """
    A short readable id derived from `parts`: ``prefix-`` and 24 hex digits of their hash.

    >>> stable_id("ord", "k1") == stable_id("ord", "k1")
    True
    """
    texts = []
    for part in parts:  # canonical_json of strings and ints, written directly (the hot path)
        kind = type(part)
        if kind is str:
            texts.append(json_string(part))
        elif kind is int:
            texts.append(str(part))
        else:
            text = canonical_json(parts)
            break
    else:
        text = "[" + ",".join(texts) + "]"
    return f"{prefix}-{sha256_hex(text)[:24]}"


def idempotency_key(intent: OrderIntent) -> str:
    """
    The intent's idempotency key: same intent, same key, in any process.

    Built from the session, the strategy and either the caller's ``intent_id`` or, when there
    is none, the intent's whole content.
    """
    if intent.intent_id is not None:
        identity: Any = {"intent_id": intent.intent_id}
    else:
        identity = {"content": attrs.asdict(intent, recurse=False)}
    payload = {"session": intent.session_id, "strategy": intent.strategy_id, **identity}
    return sha256_hex(canonical_json(payload))


def jsonable(value: Any) -> Any:
    """
    `value` as plain JSON data (Decimals as strings, enums as values, attrs classes as dicts).
    """
    return json.loads(canonical_json(value))
