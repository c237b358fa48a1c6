"""
`AdapterRegistry`: which adapter serves which execution mode.

Registering an adapter for `ExecutionMode.LIVE` does not enable live execution: routing also
needs mode LIVE and an unexpired `LivePolicy` given to the orchestrator.
"""

from __future__ import annotations

from execfsm.adapters.simulated import SimulatedVenue
from execfsm.contracts import ExecutionMode
from execfsm.errors import ConfigurationError
from execfsm.typing import Clock, OrderAdapter
from execfsm.validators import has_methods, one_of_enum

SIMULATED_MODES = (ExecutionMode.PAPER, ExecutionMode.SHADOW, ExecutionMode.TESTNET)
"""Modes that get their own simulated venue by default."""

ADAPTER_SHAPE = has_methods("submit", "cancel", "set_event_sink")
"""An `OrderAdapter` by its shape: refused at registration, not at the first event."""


class AdapterRegistry:
    """
    A mapping from execution mode to adapter, with no adapter for LIVE_BLOCKED ever.
    """

    def __init__(self) -> None:
        self._adapters: dict[ExecutionMode, OrderAdapter] = {}

    @classmethod
    def with_simulated_venues(cls, clock: Clock) -> AdapterRegistry:
        """
        PAPER, SHADOW and TESTNET, each with its own `SimulatedVenue`.
        """
        registry = cls()
        for mode in SIMULATED_MODES:
            registry.register(mode, SimulatedVenue(clock, name=mode.value.lower()))
        return registry

    def register(self, mode: ExecutionMode, adapter: OrderAdapter) -> None:
        """
        Serve `mode` (a member, or its value such as ``"PAPER"``) with `adapter` (replacing
        any earlier one).
        """
        member = one_of_enum(ExecutionMode, mode, "mode")
        if member is ExecutionMode.LIVE_BLOCKED:
            raise ConfigurationError(
                "mode: LIVE_BLOCKED never dispatches, so it takes no adapter",
                field="mode",
                value=mode,
            )
        ADAPTER_SHAPE.check(adapter, "adapter")
        self._adapters[member] = adapter

    def get(self, mode: ExecutionMode) -> OrderAdapter | None:
        """
        The adapter for `mode`, or None.
        """
        return self._adapters.get(mode)

    def adapters(self) -> tuple[OrderAdapter, ...]:
        """
        Every registered adapter, in registration order.
        """
        return tuple(self._adapters.values())
