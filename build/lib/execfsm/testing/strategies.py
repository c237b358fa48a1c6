"""
A Hypothesis strategy of event paths of any declared machine (needs ``hypothesis``).

A drawn path usually starts as one of the machine's covering paths (`transition_paths`), so
every transition is near, and goes on with random events, mostly ones the current state has
an edge for, each with one of its declared inputs; it is drawn by running a real instance,
so each step knows what it took, and `run_path` replays it on any engine and checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from hypothesis import strategies as st

from execfsm.testing.paths import (
    Driver,
    Fire,
    Inputs,
    Make,
    Path,
    Step,
    state_key,
    transition_paths,
)

__all__ = ["event_paths"]


def event_paths(
    machine: type,
    *,
    make: Make | None = None,
    inputs: Inputs | None = None,
    fire: Fire | None = None,
    paths: Sequence[Path] | None = None,
    key: Callable[[Any], Hashable] = state_key,
    max_steps: int = 10,
) -> st.SearchStrategy[Path]:
    """
    Paths of `machine`, biased to cover: three in four start with one of `paths` (default:
    its covering `transition_paths`, found once, when the strategy is first drawn from),
    then up to `max_steps` random events follow, four in five of them events the current
    state has an edge for.

    Args:
        make, inputs, fire, key: As for `transition_paths`.
        paths: The paths to start from; ``[]`` starts every path at the initial state.
    """
    driver = Driver(machine, make, inputs, fire)
    edges: dict[str, list[str]] = {}
    for t in driver.model.transitions:
        edges.setdefault(t.source, [])
        if t.event not in edges[t.source]:
            edges[t.source].append(t.event)
    memo: dict[str, Any] = {} if paths is None else {"paths": paths}

    def covering() -> Sequence[Path]:
        if "paths" not in memo:
            memo["paths"] = transition_paths(machine, make=make, inputs=inputs, fire=fire, key=key)
        found: Sequence[Path] = memo["paths"]
        return found

    def initial() -> str:
        if "start" not in memo:
            memo["start"] = str(driver.start()[0].current_state_value)
        start: str = memo["start"]
        return start

    @st.composite
    def draw_path(draw: st.DrawFn) -> Path:
        prefix: tuple[Step, ...] = ()
        known = covering()
        from_known = draw(st.integers(0, 3)) > 0
        if known and from_known:
            prefix = draw(st.sampled_from(known)).steps
        instance, audit = driver.start(prefix)
        steps = list(prefix)
        for _ in range(draw(st.integers(0, max_steps))):
            near = edges.get(str(instance.current_state_value), [])
            prefer_near = draw(st.integers(0, 4)) > 0
            pool = near if near and prefer_near else list(driver.events)
            event = draw(st.sampled_from(pool))
            options = driver.options(instance, event)
            if options:
                steps.append(driver.step(instance, audit, event, draw(st.sampled_from(options))))
        return Path(driver.name, initial(), tuple(steps))

    return draw_path()
