"""
Instrument registries for tests that need what the default one refuses.
"""

from __future__ import annotations

from decimal import Decimal

from execfsm.instruments import SIMULATED_INSTRUMENTS, Instrument, InstrumentRegistry

UNPRICED = "XYZ/EUR"
"""A symbol `LISTS_UNPRICED` lists but the simulated venue does not price: validation
passes it, the venue rejects it (ADAPTER_REJECTED)."""

LISTS_UNPRICED = InstrumentRegistry.of(
    [
        *SIMULATED_INSTRUMENTS,
        Instrument(
            UNPRICED,
            "simulated",
            "XYZ",
            "EUR",
            Decimal("0.01"),
            Decimal("0.00001"),
            Decimal("0.00001"),
            Decimal(100_000),
        ),
    ],
    "tests: the simulated venue's instruments and XYZ/EUR, which it does not price",
)
"""The simulated venue's instruments, and `UNPRICED`: for tests of a venue REJECT."""
