"""
The runtime value of a module-level constant a guard reads, written out when it is plain
data (`execfsm.governance.code`): the statement that assigns a constant does not show a
later rebinding (``helpers.LIMIT = 10**9`` in another module), an item set below it
(``TABLE["most"] = 10**9``) or a shadowing assignment, but its value does.

Which constants: those named in UPPER_CASE without a leading underscore, or annotated
``Final``, whose value is plain data: None, bool, int, float, complex, str, bytes, Decimal,
Fraction, an enum member, and tuples, lists, sets, frozensets and dicts of those (sets by
their sorted items, dicts in their order). A private registry (``_REGISTERED``) that fills
with machines or classes as they are declared is left out by its name, so the spec does not
depend on what was imported before it was written; any other value keeps the source-only
rule.
"""

from __future__ import annotations

import ast
import decimal
import enum
import hashlib
from decimal import Decimal
from fractions import Fraction
from typing import Any

_SCALARS = (type(None), bool, int, float, complex, str, bytes, Decimal, Fraction)
VALUE_LIMIT = 4000
"""A longer value is written as its sha256 (it still counts)."""


def takes_value(name: str, statements: list[ast.stmt]) -> bool:
    """
    Whether the runtime value of constant `name`, assigned by `statements`, is fingerprinted.
    """
    if name.isupper() and not name.startswith("_"):
        return True
    for stmt in statements:
        if isinstance(stmt, ast.AnnAssign):
            names = {n.id for n in ast.walk(stmt.annotation) if isinstance(n, ast.Name)}
            attrs = {n.attr for n in ast.walk(stmt.annotation) if isinstance(n, ast.Attribute)}
            if "Final" in names | attrs:
                return True
    return False


def plain_text(value: Any, depth: int = 0) -> str | None:
    """
    `value` written out deterministically if it is plain data, else None.
    """
    if depth > 12:
        return None
    if isinstance(value, enum.Enum):
        kind = type(value)
        return f"{kind.__module__}:{kind.__qualname__}.{value.name}"
    if isinstance(value, _SCALARS):
        return repr(value)
    parts: list[str] = []
    if isinstance(value, tuple | list | set | frozenset):
        for item in value:
            text = plain_text(item, depth + 1)
            if text is None:
                return None
            parts.append(text)
        if isinstance(value, set | frozenset):
            return f"{type(value).__name__}({{{', '.join(sorted(parts))}}})"
        if isinstance(value, list):
            return f"[{', '.join(parts)}]"
        return f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"
    if isinstance(value, dict):
        for key, item in value.items():
            key_text, item_text = plain_text(key, depth + 1), plain_text(item, depth + 1)
            if key_text is None or item_text is None:
                return None
            parts.append(f"{key_text}: {item_text}")
        return "{" + ", ".join(parts) + "}"
    return None


def value_line(value: Any) -> str | None:
    """
    The ``# value:`` line of a plain-data constant, or None.
    """
    text = plain_text(value)
    if text is None:
        return None
    if len(text) > VALUE_LIMIT:
        text = f"<sha256 {hashlib.sha256(text.encode('utf-8')).hexdigest()}>"
    return f"# value: {text}"


CONTEXT_KEY = "decimal:getcontext()"
"""The definition every guard, callback and declaration reads: the decimal context."""


def decimal_context_text() -> str:
    """
    The decimal arithmetic a guard's comparisons and sums run under: the context of the
    thread writing the spec (execfsm code may set it at import, ``getcontext().prec = 3``)
    and ``DefaultContext`` (what a new thread starts from). Flags are left out: they record
    what was computed, not how.
    """
    lines = []
    for label, context in (
        ("getcontext()", decimal.getcontext()),
        ("DefaultContext", decimal.DefaultContext),
    ):
        traps = sorted(t.__name__ for t, on in context.traps.items() if on)
        lines.append(
            f"decimal.{label}: prec={context.prec}, rounding={context.rounding}, "
            f"Emin={context.Emin}, Emax={context.Emax}, capitals={context.capitals}, "
            f"clamp={context.clamp}, traps={traps}"
        )
    return "\n".join(lines)
