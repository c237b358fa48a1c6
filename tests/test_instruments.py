"""
Instrument reference data: the contract, the operator's file, and validation (stage 2)
refusing each instrument rule on its boundary and one step off it, through the pipeline and
through `execfsm run`.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from execfsm import ExecutionOrchestrator
from execfsm.adapters.simulated import DEFAULT_PRICES, SimulatedVenue
from execfsm.cli import main
from execfsm.clock import EPOCH, SteppingClock
from execfsm.contracts import OrderIntent, OrderSide, OrderType, PipelineState, ReasonCode
from execfsm.errors import ConfigurationError
from execfsm.fsm.guards import description_of
from execfsm.fsm.instrument_guards import INSTRUMENT_GUARDS
from execfsm.fsm.model import MachineModel
from execfsm.fsm.pipeline import PipelineRun
from execfsm.instruments import (
    SIMULATED_INSTRUMENTS,
    Instrument,
    InstrumentRegistry,
    InstrumentStatus,
)
from execfsm.instruments_file import load_instruments
from execfsm.testing import paper_orchestrator

R = ReasonCode

TOML = """
[[instrument]]
symbol = "TST/EUR"
venue = "simulated"
base = "TST"
quote = "EUR"
price_increment = "0.05"
size_increment = "0.01"
min_quantity = "0.10"
max_quantity = "100"
min_notional = "10"
reference_price = "20"

[[instrument]]
symbol = "NRP/EUR"
venue = "simulated"
base = "NRP"
quote = "EUR"
price_increment = "0.05"
size_increment = "0.01"
min_quantity = "0.10"
max_quantity = "100"
min_notional = "10"

[[instrument]]
symbol = "HLT/EUR"
venue = "simulated"
base = "HLT"
quote = "EUR"
price_increment = "0.01"
size_increment = "1"
min_quantity = "1"
max_quantity = "10"
status = "HALTED"
"""

# (symbol, quantity, limit price or None for MARKET) -> the stage-2 refusal, or None (passes)
CASES: list[tuple[str, str, str, str | None, ReasonCode | None, str]] = [
    ("tick on", "TST/EUR", "1", "20.05", None, ""),
    ("tick off", "TST/EUR", "1", "20.04", R.VALIDATION_PRICE_OFF_TICK, "price increment 0.05"),
    ("lot on", "TST/EUR", "1.01", "20", None, ""),
    ("lot off", "TST/EUR", "1.011", "20", R.VALIDATION_QUANTITY_OFF_LOT, "size increment 0.01"),
    ("min on", "TST/EUR", "0.50", "20", None, ""),
    ("min off", "TST/EUR", "0.09", "200", R.VALIDATION_QUANTITY_BELOW_MIN, "min_quantity 0.10"),
    ("max on", "TST/EUR", "100", "20", None, ""),
    ("max off", "TST/EUR", "100.01", "20", R.VALIDATION_QUANTITY_ABOVE_MAX, "max_quantity 100"),
    ("notional on", "TST/EUR", "0.5", "20", None, ""),
    ("notional off", "TST/EUR", "0.5", "19.95", R.VALIDATION_NOTIONAL_BELOW_MIN, "min_notional"),
    ("market notional on", "TST/EUR", "0.5", None, None, ""),
    ("market notional off", "TST/EUR", "0.49", None, R.VALIDATION_NOTIONAL_BELOW_MIN, "9.80"),
    ("market, no reference price", "NRP/EUR", "0.1", None, None, ""),
    ("halted", "HLT/EUR", "1", "1", R.VALIDATION_INSTRUMENT_HALTED, "HALTED"),
    ("unknown", "XYZ/EUR", "1", "1", R.VALIDATION_INVALID_SYMBOL, "not a listed instrument"),
    ("case folded", "tst/eur", "1", "20", R.VALIDATION_INVALID_SYMBOL, "'tst/eur'"),
]
VALUES = {  # the value each refusal names
    "tick off": "20.04",
    "lot off": "1.011",
    "min off": "0.09",
    "max off": "100.01",
    "notional off": "9.975",
    "market notional off": "0.49",
    "halted": "HLT/EUR",
    "unknown": "XYZ/EUR",
    "case folded": "tst/eur",
}


def registry(tmp_path: Path) -> InstrumentRegistry:
    path = tmp_path / "instruments.toml"
    path.write_text(TOML, encoding="utf-8")
    return load_instruments(path)


def intent(symbol: str, quantity: str, price: str | None, intent_id: str = "i") -> OrderIntent:
    return OrderIntent(
        symbol,
        OrderSide.BUY,
        Decimal(quantity),
        OrderType.MARKET if price is None else OrderType.LIMIT,
        "instruments",
        limit_price=None if price is None else Decimal(price),
        intent_id=intent_id,
    )


def orchestrator(instruments: InstrumentRegistry) -> ExecutionOrchestrator:
    clock = SteppingClock(EPOCH)
    venue = SimulatedVenue(clock, prices={"TST/EUR": "20", "NRP/EUR": "20", "HLT/EUR": "1"})
    return paper_orchestrator(venue, clock=clock, instruments=instruments)


class TestThroughThePipeline:
    @pytest.mark.parametrize(
        ("label", "symbol", "quantity", "price", "reason", "rule"),
        CASES,
        ids=[c[0] for c in CASES],
    )
    def test_each_rule_on_the_boundary_and_one_step_off(
        self,
        tmp_path: Path,
        label: str,
        symbol: str,
        quantity: str,
        price: str | None,
        reason: ReasonCode | None,
        rule: str,
    ) -> None:
        """On the boundary an intent passes validation; one step off it stops FAILED at
        stage 2 with its own code and a detail naming the value and the rule."""
        orch = orchestrator(registry(tmp_path))

        result = orch.submit_intent(intent(symbol, quantity, price))

        if reason is None:
            assert result.stage_reached > 2, result.reason_detail
            assert not str(result.reason_code or "").startswith("VALIDATION")
        else:
            assert (result.pipeline_state, result.stage_reached, result.reason_code) == (
                PipelineState.FAILED,
                2,
                reason,
            )
            assert rule in result.reason_detail
            assert VALUES[label] in result.reason_detail

    def test_lowercase_symbol_is_unknown_by_default(self) -> None:
        """``btc/eur`` is not ``BTC/EUR``: the default registry does not fold case."""
        orch = paper_orchestrator()

        result = orch.submit_intent(intent("btc/eur", "0.01", None))

        assert (result.stage_reached, result.reason_code) == (2, R.VALIDATION_INVALID_SYMBOL)
        assert "'btc/eur' is not a listed instrument" in result.reason_detail

    def test_refusal_is_audited_and_nothing_is_sent(self, tmp_path: Path) -> None:
        """A refused intent's pipeline reject names the code; the venue is never called."""
        clock = SteppingClock(EPOCH)
        venue = SimulatedVenue(clock, prices={"TST/EUR": "20"})
        orch = paper_orchestrator(venue, clock=clock, instruments=registry(tmp_path))

        result = orch.submit_intent(intent("TST/EUR", "1", "20.04"))

        rejects = [r for r in orch.get_audit_log_snapshot() if r.event == "reject"]
        assert [r.reason_code for r in rejects] == [R.VALIDATION_PRICE_OFF_TICK]
        assert venue.submissions == []
        assert result.order is not None
        assert result.order.reason_code is R.VALIDATION_PRICE_OFF_TICK

    def test_the_default_is_the_simulated_venues_instruments(self) -> None:
        """The default registry lists exactly the venue's priced symbols, at its prices."""
        prices = {i.symbol: i.reference_price for i in SIMULATED_INSTRUMENTS}

        assert prices == dict(DEFAULT_PRICES)

    def test_an_orchestrator_refuses_a_registry_of_the_wrong_kind(self) -> None:
        """`instruments=` takes an InstrumentRegistry; anything else is a ConfigurationError."""
        with pytest.raises(ConfigurationError, match="instruments"):
            ExecutionOrchestrator(instruments={"BTC/EUR": None})  # type: ignore[arg-type]

    def test_the_pipeline_declares_the_rules(self) -> None:
        """Every instrument rule is a described validator of VALIDATION -validate-> RISK_GATE,
        after the order contract."""
        model = MachineModel.from_machine(PipelineRun)
        (validate,) = [t for t in model.transitions if t.event == "validate"]
        names = tuple(g.__name__ for g in INSTRUMENT_GUARDS)

        assert validate.validators[-len(names) :] == names
        assert all(description_of(g) for g in INSTRUMENT_GUARDS)


class TestThroughTheCommandLine:
    def test_run_refuses_each_rule_at_stage_two(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`execfsm run --instruments FILE` stops each off-rule line at stage 2 with its code
        and detail (in the store), and passes each line on the boundary."""
        instruments = tmp_path / "instruments.toml"
        instruments.write_text(TOML, encoding="utf-8")
        rows = []
        for n, (label, symbol, quantity, price, _reason, _rule) in enumerate(CASES):
            row: dict[str, Any] = {
                "symbol": symbol,
                "side": "BUY",
                "quantity": quantity,
                "order_type": "MARKET" if price is None else "LIMIT",
                "strategy_id": "cli",
                "intent_id": f"{n}-{label}",
            }
            if price is not None:
                row["limit_price"] = price
            rows.append(json.dumps(row))
        path = tmp_path / "intents.jsonl"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        db = tmp_path / "run.db"

        code = main(["run", str(path), "--db", str(db), "--instruments", str(instruments)])

        out = capsys.readouterr().out
        assert code == 0
        refused = [c for c in CASES if c[4] is not None]
        for reason in {c[4] for c in refused}:
            count = sum(1 for c in refused if c[4] is reason)
            assert f"{count:>8}  FAILED     {reason}" in out
        with sqlite3.connect(db) as con:
            text = "\n".join(str(row) for row in con.execute("SELECT * FROM audit"))
        for label, *_ in refused:
            assert VALUES[label] in text

    def test_run_with_the_default_registry_refuses_unknown_symbols(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without --instruments the simulated venue's instruments apply: SOL/EUR, btc/eur
        and an off-tick BTC/EUR price stop at stage 2."""
        rows = [
            {"symbol": "SOL/EUR", "quantity": "1", "order_type": "MARKET"},
            {"symbol": "btc/eur", "quantity": "1", "order_type": "MARKET"},
            {"symbol": "BTC/EUR", "quantity": "1", "order_type": "LIMIT", "limit_price": "1.001"},
            {"symbol": "BTC/EUR", "quantity": "0.000001", "order_type": "MARKET"},
        ]
        path = tmp_path / "intents.jsonl"
        path.write_text(
            "".join(
                json.dumps({"side": "BUY", "strategy_id": "s", "intent_id": str(n), **row}) + "\n"
                for n, row in enumerate(rows)
            ),
            encoding="utf-8",
        )

        code = main(["run", str(path), "--mode", "paper", "--db", str(tmp_path / "run.db")])

        out = capsys.readouterr().out
        assert code == 0
        assert "       2  FAILED     VALIDATION_INVALID_SYMBOL" in out
        assert "       1  FAILED     VALIDATION_PRICE_OFF_TICK" in out
        assert "       1  FAILED     VALIDATION_QUANTITY_OFF_LOT" in out

    def test_run_with_a_bad_instruments_file_is_bad_input(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A bad instruments file ends `execfsm run` with exit 2 and one line naming it."""
        bad = tmp_path / "instruments.toml"
        bad.write_text(TOML.replace('"0.05"', "0.05", 1), encoding="utf-8")
        path = tmp_path / "intents.jsonl"
        path.write_text("", encoding="utf-8")

        code = main(["run", str(path), "--db", str(tmp_path / "r.db"), "--instruments", str(bad)])

        err = capsys.readouterr().err
        assert code == 2
        assert str(bad) in err
        assert "instrument[0] (TST/EUR).price_increment" in err
        assert len(err.strip().splitlines()) == 1


class TestTheFile:
    def test_toml_and_json_read_the_same(self, tmp_path: Path) -> None:
        """The same instruments written as TOML and as JSON read back equal."""
        toml = registry(tmp_path)
        as_json = {
            "instrument": [
                {
                    k: (str(v) if isinstance(v, Decimal) else v)
                    for k, v in {
                        "symbol": i.symbol,
                        "venue": i.venue,
                        "base": i.base,
                        "quote": i.quote,
                        "price_increment": i.price_increment,
                        "size_increment": i.size_increment,
                        "min_quantity": i.min_quantity,
                        "max_quantity": i.max_quantity,
                        "min_notional": i.min_notional,
                        "status": str(i.status),
                        "reference_price": i.reference_price,
                    }.items()
                    if v is not None
                }
                for i in toml
            ]
        }
        path = tmp_path / "instruments.json"
        path.write_text(json.dumps(as_json), encoding="utf-8")

        assert list(load_instruments(path)) == list(toml)
        assert toml.get("HLT/EUR").status is InstrumentStatus.HALTED  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        ("name", "text", "message"),
        [
            (
                "unknown.toml",
                TOML.replace('venue = "simulated"', 'venu = "x"', 1),
                "venu: unknown key",
            ),
            ("top.toml", "other = 1\n" + TOML, "other: unknown key"),
            ("missing.toml", TOML.replace('quote = "EUR"\n', "", 1), "quote: is required"),
            ("float.toml", TOML.replace('"0.05"', "0.05", 1), "not a float 0.05"),
            (
                "bad.toml",
                TOML.replace('"0.05"', '"0.0.5"', 1),
                "must be a decimal number, got '0.0.5'",
            ),
            ("nan.toml", TOML.replace('"0.05"', '"NaN"', 1), "finite"),
            (
                "zero.toml",
                TOML.replace('"0.05"', '"0"', 1),
                "price_increment: must be a Decimal greater than 0",
            ),
            (
                "status.toml",
                TOML.replace('"HALTED"', '"halted"', 1),
                "status: must be TRADABLE or HALTED",
            ),
            (
                "dup.toml",
                TOML.replace('"NRP/EUR"', '"TST/EUR"', 1),
                "instrument[1].symbol: symbol 'TST/EUR' is already listed by instrument[0]",
            ),
            (
                "offlot.toml",
                TOML.replace('"0.10"', '"0.105"', 1),
                "min_quantity: must be a multiple of size_increment 0.01",
            ),
            (
                "minmax.toml",
                TOML.replace('"100"', '"0.05"', 1),
                "max_quantity: must be at least min_quantity",
            ),
            ("syntax.toml", TOML + "\n[[instrument]\n", "line"),
            ("empty.toml", "", "must be a non-empty list"),
            (
                "float.json",
                '{"instrument": [{"symbol": "A/B", "venue": "v", "base": "A", "quote": "B", '
                '"price_increment": 0.01, "size_increment": "1", "min_quantity": "1", '
                '"max_quantity": "2"}]}',
                "price_increment: must be a decimal string",
            ),
            ("dupkey.json", '{"instrument": [], "instrument": []}', "appears twice"),
            ("syntax.json", '{"instrument": [\n  {,}\n]}', "line 2"),
            ("list.yaml", "instrument: []", "must end in .toml or .json"),
        ],
    )
    def test_a_bad_file_is_refused_naming_file_key_and_rule(
        self, tmp_path: Path, name: str, text: str, message: str
    ) -> None:
        """Each mistake is a ConfigurationError naming the file, where, and the rule."""
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")

        with pytest.raises(ConfigurationError) as caught:
            load_instruments(path)

        assert str(caught.value).startswith(f"{path}: ")
        assert message in str(caught.value)

    def test_a_missing_file_is_refused(self, tmp_path: Path) -> None:
        """A file that is not there is a ConfigurationError naming it."""
        with pytest.raises(ConfigurationError, match="cannot be read"):
            load_instruments(tmp_path / "none.toml")


class TestTheContract:
    def test_a_symbol_twice_is_refused(self) -> None:
        """A registry lists each symbol once."""
        btc = SIMULATED_INSTRUMENTS.get("BTC/EUR")
        assert btc is not None

        with pytest.raises(ConfigurationError, match="must be unique"):
            InstrumentRegistry.of([btc, btc])

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("price_increment", Decimal(0)),
            ("size_increment", Decimal("-0.1")),
            ("min_notional", Decimal(-1)),
            ("max_quantity", Decimal("Infinity")),
            ("price_increment", Decimal("1E-13")),
            ("symbol", " "),
            ("status", "HALTED"),
        ],
    )
    def test_bad_terms_are_refused(self, field: str, value: object) -> None:
        """An increment, limit or name that breaks its rule is a ConfigurationError naming it."""
        terms: dict[str, Any] = {
            "symbol": "A/B",
            "venue": "v",
            "base": "A",
            "quote": "B",
            "price_increment": Decimal("0.01"),
            "size_increment": Decimal("0.1"),
            "min_quantity": Decimal("0.1"),
            "max_quantity": Decimal(10),
            field: value,
        }

        with pytest.raises(ConfigurationError, match=field):
            Instrument(**terms)
