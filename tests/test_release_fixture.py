"""
What the previous release wrote (``tests/fixtures/release-0.1.0``, made by its own code) still
verifies, reads back, and is written byte for byte the same: trails, exports, store rows, ids.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from execfsm.contracts import Fill, Order, OrderIntent
from execfsm.demo import run_demo
from execfsm.ids import canonical_json, decode, idempotency_key, stable_id
from execfsm.ledger.audit import record_from_dict, record_json, verify_records
from execfsm.ledger.positions import Position
from execfsm.results import PipelineResult

FIXTURE = Path(__file__).parent / "fixtures" / "release-0.1.0"
TRAILS = ("audit.jsonl", "audit-live-attempts.jsonl")
EXPORTS = (*TRAILS, "recon.jsonl", "orders.json", "positions.json")
KINDS: dict[str, type[Any]] = {
    "intents": PipelineResult,
    "orders": Order,
    "positions": Position,
}


def _text(name: str) -> str:
    return (FIXTURE / name).read_text(encoding="utf-8")


def _store_rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in _text("store-rows.jsonl").splitlines()]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    run_demo(out)
    return out


class TestPreviousTrails:
    @pytest.mark.parametrize("name", TRAILS)
    def test_trail_verifies_and_exports_unchanged(self, name: str) -> None:
        """A trail the previous release exported parses, verifies, and is written again
        byte-identical."""
        lines = _text(name).splitlines()
        records = [record_from_dict(json.loads(line), line=n) for n, line in enumerate(lines, 1)]

        assert verify_records(records).ok
        assert [record_json(r) for r in records] == lines


class TestSameSessionSameBytes:
    @pytest.mark.parametrize("name", EXPORTS)
    def test_demo_exports_are_byte_identical(self, demo: Path, name: str) -> None:
        """The scripted session writes every export exactly as the previous release did."""
        assert (demo / name).read_text(encoding="utf-8") == _text(name)

    def test_demo_store_rows_are_byte_identical(self, demo: Path) -> None:
        """The store's intent, order and position rows are the previous release's text."""
        conn = sqlite3.connect(demo / "demo.db")
        rows = [
            {"table": table, "key": key, "text": text}
            for table, key_column, column in (
                ("intents", "idempotency_key", "result"),
                ("orders", "client_order_id", "snapshot"),
                ("positions", "symbol", "snapshot"),
            )
            for key, text in conn.execute(
                f"SELECT {key_column}, {column} FROM {table} ORDER BY rowid"  # noqa: S608
            )
        ]
        conn.close()

        assert rows == _store_rows()

    @pytest.mark.parametrize("row", _store_rows(), ids=lambda r: f"{r['table']}-{r['key']}")
    def test_store_row_reads_back_and_writes_the_same(self, row: dict[str, str]) -> None:
        """Each stored row decodes into its value, which encodes to the same text."""
        value = decode(KINDS[row["table"]], row["text"])

        assert canonical_json(value) == row["text"]


class TestSameIds:
    IDS = json.loads(_text("ids.json"))

    @pytest.mark.parametrize("case", IDS["intents"])
    def test_intent_key_ids_and_terms(self, case: dict[str, Any]) -> None:
        """An intent's idempotency key, correlation and order ids and intake terms are the
        previous release's."""
        intent = OrderIntent(**{"strategy_id": "s1", **case["intent"]})
        key = idempotency_key(intent)

        assert key == case["idempotency_key"]
        assert stable_id("cor", key) == case["correlation_id"]
        assert stable_id("ord", key) == case["client_order_id"]
        assert canonical_json(intent) == case["intent_json"]

    @pytest.mark.parametrize("case", IDS["fills"])
    def test_fill_json(self, case: dict[str, Any]) -> None:
        """A fill's audit detail is the previous release's text."""
        fill_id, *amounts = case["fill"]

        assert canonical_json(Fill(fill_id, *map(Decimal, amounts))) == case["fill_json"]

    @pytest.mark.parametrize("case", IDS["stable_ids"])
    def test_stable_id(self, case: dict[str, Any]) -> None:
        """An id of strings and ints is the previous release's."""
        assert stable_id("x", *case["parts"]) == case["id"]
