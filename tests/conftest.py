"""
Shared fixtures: an order ready to submit, its lifecycle, and a fixed-clock audit log; and
the run's transition coverage of the built-in machines, printed at the end of the session
(`execfsm.testing.pytest_plugin`).
"""

from __future__ import annotations

import enum
import json
import os
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, settings

from execfsm.contracts import Order, OrderIntent, OrderSide, OrderType
from execfsm.diagrams.report import DEFAULT_DEPTH
from execfsm.fsm.cases import ANY_EVENT
from execfsm.fsm.model import CaseModel
from execfsm.fsm.order import OrderLifecycle
from execfsm.governance import MACHINES
from execfsm.governance.declared import PropertyResult
from execfsm.governance.properties import verify_machines
from execfsm.ledger.audit import AuditLog
from execfsm.registry import builtin_machines
from execfsm.testing import declared_targets, in_memory_audit, order_for
from execfsm.testing.pytest_plugin import TransitionCoveragePlugin
from tests.pg_server import pg_server, pg_url, summary_line

__all__ = ["pg_server", "pg_url"]  # fixtures, for every test module

settings.register_profile(
    "ci", max_examples=200, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("soak", max_examples=5_000, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _unreachable(row: CaseModel) -> bool:
    """
    The order's case rows no sequence of events can meet: the deny-by-default row (an edge
    or an earlier row answers every venue event in every state first), and the LIVE
    ``replace_reject`` row without a situation (with no replace pending the
    ``NO_REPLACE_PENDING`` row answers; with one, every LIVE state has an edge for it).
    """
    deny_all = row.event == ANY_EVENT and not row.when
    repeated = (row.event, row.when, row.outcome) == ("replace_reject", "", "duplicate")
    return deny_all or (repeated and "SUBMITTED" in row.states)


UNREACHABLE_ORDER_ROWS = tuple(
    t for t in declared_targets(OrderLifecycle) if isinstance(t, CaseModel) and _unreachable(t)
)
"""Declared, kept as a safety net, and never met: the run's summary counts them apart."""


def pytest_configure(config: pytest.Config) -> None:
    plugin = TransitionCoveragePlugin(builtin_machines(), unreachable=UNREACHABLE_ORDER_ROWS)
    config.pluginmanager.register(plugin, "execfsm-transition-coverage")


def make_intent(**overrides: object) -> OrderIntent:
    """
    A valid one-unit LIMIT buy, with any field overridden.
    """
    fields: dict[str, object] = {
        "symbol": "BTC/EUR",
        "side": OrderSide.BUY,
        "quantity": Decimal("1.0"),
        "order_type": OrderType.LIMIT,
        "strategy_id": "test",
        "limit_price": Decimal("50000"),
        "intent_id": "intent-1",
    }
    fields.update(overrides)
    return OrderIntent(**fields)  # type: ignore[arg-type]


@pytest.fixture
def audit() -> AuditLog:
    return in_memory_audit()


@pytest.fixture
def order() -> Order:
    return order_for(make_intent())


@pytest.fixture
def lifecycle(order: Order, audit: AuditLog) -> OrderLifecycle:
    return OrderLifecycle(order, audit)


LATER_FIELDS = frozenset({"exec_ref_id", "expire_time", "venue_client_order_id"})
"""Fields added after release 0.1.0 (issue 17)."""


def previous_canonical_json(value: Any) -> str:
    """
    The previous release's `canonical_json` (the standard library's encoder with a default
    hook): the oracle the msgspec encoder is held to, byte for byte. That release had no
    fields added since (`LATER_FIELDS`): unset, they are not written.
    """

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, enum.Enum):
            return value.value
        if attrs.has(type(value)):
            fields = attrs.asdict(value, recurse=False)
            return {k: v for k, v in fields.items() if not (k in LATER_FIELDS and v is None)}
        raise TypeError(type(value).__name__)

    return json.dumps(
        value, default=default, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


@pytest.fixture(scope="session")
def builtin_results() -> list[PropertyResult]:
    """What `execfsm verify` finds for execfsm's own machines at its default depth, checked
    once per session (about 15 s) for the tests of the governance report."""
    return verify_machines(MACHINES, DEFAULT_DEPTH)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say loudly, once, that the PostgreSQL tests were skipped and why."""
    line = summary_line()
    if line is not None:
        terminalreporter.write_line(line, yellow=True, bold=True)
