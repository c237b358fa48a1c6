"""
The actions exploration takes (`execfsm.governance.explore`): each event with each
combination of its declared input values, and the values of each domain.

A finite domain is explored whole: a tuple, list, set or dict of values, and a hypothesis
strategy whose values can be listed (``sampled_from``, ``just``, ``booleans``, a small
``integers`` range, a ``one_of`` of those) up to `WHOLE` values. Any other strategy is
sampled (`Sampled`), and `sampled_domains` says which were, so that no PASS over them reads
as a proof.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from execfsm.errors import DefinitionError
from execfsm.fsm.properties import Inputs, Sampled, Stimulus

WHOLE = 64
"""A bare strategy with at most this many values is explored whole."""


@attrs.frozen
class Action:
    """
    One event, with its arguments, sent to one member ("" for a single machine).
    """

    member: str
    event: str
    args: Mapping[str, Any] = attrs.field(factory=dict, eq=False)
    shown: tuple[tuple[str, str], ...] = ()
    """The arguments as printed: (name, label)."""
    run: Callable[[Any], object] | None = attrs.field(default=None, eq=False)
    """A `Stimulus`'s step, taken instead of sending (`event` is then its label)."""

    def __str__(self) -> str:
        who = f"{self.member}." if self.member else ""
        shown = ", ".join(f"{k}={v}" for k, v in self.shown)
        return f"{who}{self.event}({shown})" if shown else f"{who}{self.event}"

    def take(self, members: Mapping[str, Any]) -> None:
        """
        Send the event to the member, or run the stimulus on it.
        """
        member = members[self.member]
        if self.run is not None:
            self.run(member)
        else:
            member.send(self.event, **self.args)


def show(value: Any) -> str:
    """
    A short label for a value in a trace.
    """
    summary = getattr(value, "decision", None) or getattr(value, "value", None)
    return str(summary) if summary is not None else str(value)


def _is_strategy(domain: Any) -> bool:
    return type(domain).__module__.startswith("hypothesis") and hasattr(domain, "example")


def finite_values(strategy: Any, limit: int = WHOLE) -> list[Any] | None:
    """
    Every value `strategy` can draw, in its own order, if it can be listed and has at
    most `limit` of them; else None.
    """
    inner = getattr(strategy, "wrapped_strategy", strategy)  # a LazyStrategy's own
    kind = type(inner).__name__
    if kind in ("SampledFromStrategy", "JustStrategy"):
        if getattr(inner, "_transformations", ()):
            return None  # .map / .filter: the values are not the elements
        elements = list(inner.elements)
        return elements if len(elements) <= limit else None
    if kind == "BooleansStrategy":
        return [False, True]
    if kind == "IntegersStrategy":
        start, end = getattr(inner, "start", None), getattr(inner, "end", None)
        if start is None or end is None or end - start + 1 > limit:
            return None
        return list(range(start, end + 1))
    if kind == "OneOfStrategy":
        found: list[Any] = []
        for branch in inner.original_strategies:
            values = finite_values(branch, limit)
            if values is None:
                return None
            found += [v for v in values if not any(v is f or repr(v) == repr(f) for f in found)]
        return found if len(found) <= limit else None
    return None


def _finite(domain: Any) -> list[Any] | None:
    """
    The values of a strategy domain that is explored whole, or None if it is sampled.
    """
    if isinstance(domain, Sampled):
        return finite_values(domain.strategy, domain.count)
    return finite_values(domain)


def _sample(sampled: Sampled) -> list[Any]:
    # hypothesis is a test dependency: only a machine that declares a strategy needs it.
    try:
        from hypothesis import HealthCheck, Phase, given, seed, settings
    except ImportError as exc:  # pragma: no cover - hypothesis is installed with [dev]
        raise DefinitionError(
            f"an input domain is a hypothesis strategy, but hypothesis is not installed: {exc}"
        ) from exc

    values: list[Any] = []
    seen: set[str] = set()

    @seed(sampled.seed)
    @settings(
        database=None,
        max_examples=max(20, sampled.count * 10),
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(sampled.strategy)
    def collect(value: Any) -> None:
        if len(values) < sampled.count and repr(value) not in seen:
            seen.add(repr(value))
            values.append(value)

    collect()
    return values


def domain_values(domain: Any, where: str) -> list[tuple[str, Any]]:
    """
    The (label, value) pairs of a declared domain, in a deterministic order: a strategy's
    every value when it has few (`finite_values`), else a sample.
    """
    if isinstance(domain, Sampled) or _is_strategy(domain):
        whole = _finite(domain)
        if whole is not None:
            return [(repr(v), v) for v in whole]
        sampled = domain if isinstance(domain, Sampled) else Sampled(domain)
        return [(repr(v), v) for v in _sample(sampled)]
    if isinstance(domain, Mapping):
        return [(str(k), v) for k, v in domain.items()]
    if isinstance(domain, set | frozenset):
        return [(show(v), v) for v in sorted(domain, key=repr)]
    if isinstance(domain, Iterable) and not isinstance(domain, str | bytes):
        return [(show(v), v) for v in domain]
    raise TypeError(
        f"{where}: a domain is a tuple, list, set or dict of values or a hypothesis "
        f"strategy, got {domain!r}"
    )


def sampled_domains(inputs: Inputs, member: str = "") -> list[str]:
    """
    The domains of `inputs` that are sampled rather than explored whole, each as
    ``"event.argument N of strategy"``.
    """
    found = []
    for event, domains in inputs.items():
        for name, domain in domains.items():
            if not (isinstance(domain, Sampled) or _is_strategy(domain)):
                continue
            if _finite(domain) is None:
                sampled = domain if isinstance(domain, Sampled) else Sampled(domain)
                who = f"{member}." if member else ""
                found.append(f"{who}{event}.{name} {sampled.count} of {sampled.strategy!r}")
    return found


def actions_for(
    member: str,
    events: Iterable[str],
    inputs: Inputs,
    owner: str,
    stimuli: Iterable[Stimulus] = (),
) -> list[Action]:
    """
    Every action on `member`: each event with each combination of its declared arguments
    (an event with no declared inputs is sent without arguments), then the `stimuli`.
    """
    found = []
    for event in events:
        domains = inputs.get(event, {})
        names = list(domains)
        values = [domain_values(domains[n], f"{owner} inputs[{event!r}][{n!r}]") for n in names]
        for combo in itertools.product(*values):
            found.append(
                Action(
                    member,
                    event,
                    {n: v for n, (_, v) in zip(names, combo, strict=True)},
                    tuple((n, label) for n, (label, _) in zip(names, combo, strict=True)),
                )
            )
    return found + [Action(member, s.label, run=s.run) for s in stimuli]
