"""
Review 23 (hostile): instrument reference data checked at validation (stage 2).

Each test names the behaviour a user relies on; its docstring says what is promised and
what happens instead. Every test here fails against the code as reviewed.
"""

from __future__ import annotations

import json
from decimal import Decimal, localcontext
from pathlib import Path

import pytest

from execfsm.contingent.terms import ContingentGroup, GroupState
from execfsm.contracts import ExecutionMode, OrderIntent
from execfsm.errors import ConfigurationError
from execfsm.instruments import SIMULATED_INSTRUMENTS, InstrumentRegistry
from execfsm.instruments_file import load_instruments
from execfsm.testing import paper_orchestrator


def _limit(side: str, price: str, intent_id: str | None = None) -> OrderIntent:
    return OrderIntent(
        "BTC/EUR",
        side,
        Decimal(1),
        "LIMIT",
        "review",
        limit_price=Decimal(price),
        intent_id=intent_id,
    )


def test_a_bracket_whose_held_exit_is_off_tick_is_refused_before_the_entry_is_sent() -> None:
    """
    Promised: an off-tick price stops at stage 2 before any venue sees anything, and a
    contingent group is never half-sent (contingent/orders.py: "One leg stopped refuses the
    whole group ... nothing is sent").
    Actual: held legs are checked at submit only against CONTRACT_GUARDS
    (contingent/orders.py `_check_legs`, ~line 202), not INSTRUMENT_GUARDS. A bracket whose
    stop-loss is 90.005 on a 0.01 tick is accepted, the entry is sent and fills, and only
    then is the stop-loss refused (VALIDATION_PRICE_OFF_TICK, group flagged
    CONTINGENT_RELEASE_REFUSED): the operator holds an unprotected position.
    """
    orch = paper_orchestrator()
    venue = orch.registry.get(ExecutionMode.PAPER)
    venue.set_price("BTC/EUR", 100)  # type: ignore[union-attr]

    status = orch.submit_group(
        ContingentGroup.bracket(
            "rb1", _limit("BUY", "101"), _limit("SELL", "110"), _limit("SELL", "90.005")
        )
    )

    assert status.state is GroupState.REFUSED, status
    assert orch.get_position_ledger_snapshot().get("BTC/EUR") is None


def test_instrument_validation_gives_a_verdict_under_a_narrower_decimal_context() -> None:
    """
    Promised (fsm/instrument_guards.py docstring; bounds.py "a check cannot itself overflow
    or signal"): the instrument rules' remainders cannot signal; every refusal is a
    reason code, never an exception out of submit_intent.
    Actual: `price % instrument.price_increment` (instrument_guards.price_on_tick) reads the
    caller's decimal context; with precision 6 a valid BTC/EUR limit at 60000.01 raises
    decimal.InvalidOperation (DivisionImpossible) out of submit_intent, and the unit of work
    leaves the orchestrator poisoned: the order stays CREATED and resubmitting the intent
    raises KeyError 'order ... is already tracked'.
    """
    orch = paper_orchestrator()
    intent = OrderIntent(
        "BTC/EUR",
        "BUY",
        Decimal("0.01"),
        "LIMIT",
        "review",
        limit_price=Decimal("60000.01"),
        intent_id="ctx",
    )

    with localcontext() as ctx:
        ctx.prec = 6
        result = orch.submit_intent(intent)

    assert result.stage_reached > 2, result.reason_detail


_ENTRY = {
    "symbol": "BTC/EUR",
    "venue": "simulated",
    "base": "BTC",
    "quote": "EUR",
    "price_increment": "0.01",
    "size_increment": "0.001",
    "min_quantity": "0.001",
    "max_quantity": "100",
}


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("price_increment", "0_01"),  # read as Decimal("1"): a tick 100 times too coarse
        ("max_quantity", "1_00"),  # read as 100
        ("price_increment", "\u0660.\u0660\u0661"),  # Arabic-Indic digits, read as 0.01
    ],
    ids=["underscore-tick", "underscore-max", "arabic-indic-digits"],
)
def test_the_instruments_file_refuses_decimal_strings_that_are_not_plain_decimals(
    tmp_path: Path, key: str, text: str
) -> None:
    """
    Promised (instruments_file docstring, README): decimals are strings, a decimal string
    that is not a plain finite number is refused naming file, key and rule.
    Actual: `_decimal` passes the text to `Decimal()`, which accepts Python's digit-group
    underscores and any script's digits: "0_01" (a typo of 0.01) loads as a tick of 1,
    silently, and Arabic-Indic digits load too (bounds.py refuses non-ASCII digits for
    every order amount; the loader does not).
    """
    path = tmp_path / "instruments.json"
    path.write_text(json.dumps({"instrument": [{**_ENTRY, key: text}]}), encoding="utf-8")

    with pytest.raises(ConfigurationError, match=key):
        load_instruments(path)


def test_an_instrument_registry_cannot_list_an_instrument_under_another_symbol() -> None:
    """
    Promised (instruments.py): symbols matched exactly as the registry spells them; anything
    but an Instrument in a registry is a ConfigurationError.
    Actual: `InstrumentRegistry` is a public attrs class whose constructor takes any mapping
    unchecked (only `.of` checks): `InstrumentRegistry({"ETH/EUR": btc})` validates ETH/EUR
    intents against BTC/EUR's tick and lot, and `InstrumentRegistry({"BTC/EUR": "junk"})` is
    accepted and later raises AttributeError inside the pipeline's unit of work.
    """
    btc = SIMULATED_INSTRUMENTS.get("BTC/EUR")

    with pytest.raises(ConfigurationError):
        InstrumentRegistry({"ETH/EUR": btc})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        InstrumentRegistry({"BTC/EUR": "junk"})  # type: ignore[dict-item]
