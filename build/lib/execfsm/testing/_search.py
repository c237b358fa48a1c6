"""
The search behind `execfsm.testing.transition_paths`: for each target (a declared transition
or case row), the shortest path of real events that takes it.

Instances are told apart by a key (by default their state and what their guards see); a key
is expanded once, by trying every event with every input on a fresh instance replayed to it
(a try that applies nothing and leaves the key as it was goes on with the same instance, so
refused events cost no replay), and its children are kept for every later search. Each
target is searched by A* over keys, with the distance in the machine's graph from a state to
the target's source as the estimate: it never overestimates, since an event moves an
instance along at most one edge, so the first path found is a shortest one (if the key tells
apart all that the guards and cases look at).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from execfsm.fsm.model import MachineModel
from execfsm.testing.coverage import Edge, Target

if TYPE_CHECKING:
    from execfsm.testing.paths import Driver, Step

Key = Callable[[Any], Hashable]
Steps = tuple["Step", ...]


def distances(model: MachineModel) -> dict[str, dict[str, int]]:
    """
    For each state, the fewest edges to every state reachable from it.
    """
    graph: dict[str, set[str]] = {s.name: set() for s in model.states}
    for t in model.transitions:
        graph.setdefault(t.source, set()).add(t.target)
    table = {}
    for start in graph:
        seen, layer, depth = {start: 0}, [start], 0
        while layer:
            depth += 1
            nxt = []
            for state in layer:
                for target in graph.get(state, ()):
                    if target not in seen:
                        seen[target] = depth
                        nxt.append(target)
            layer = nxt
        table[start] = seen
    return table


class Search:
    """
    Shortest paths to targets over one machine's instances, sharing every expansion.
    """

    def __init__(self, driver: Driver, key: Key, max_depth: int, max_nodes: int) -> None:
        self.driver = driver
        self.key = key
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.distance = distances(driver.model)
        first, _ = driver.start()
        self.start = str(first.current_state_value)
        self.root = key(first)
        self.paths: dict[Hashable, Steps] = {self.root: ()}
        self.states: dict[Hashable, str] = {self.root: self.start}
        self.children: dict[Hashable, list[tuple[Step, Hashable]]] = {}
        self.seen: dict[Target, Steps] = {}
        """The shortest path seen taking each target, searched for or not."""

    def expand(self, node: Hashable) -> list[tuple[Step, Hashable]]:
        """
        Every try from `node`: the step and the key it leads to (cached).
        """
        known = self.children.get(node)
        if known is not None:
            return known
        driver, path = self.driver, self.paths[node]
        instance, audit = driver.start(path)
        tries = [(e, args) for e in driver.events for args in driver.options(instance, e)]
        found: list[tuple[Step, Hashable]] = []
        fresh = True
        for event, args in tries:
            if not fresh:
                instance, audit = driver.start(path)
            step = driver.step(instance, audit, event, args)
            child = self.key(instance)
            # Refused or repeated (nothing applied) and the same key: the instance is as it
            # was, and the next try goes on with it.
            fresh = child == node and all(line[3] != "applied" for line in step.trail)
            for target in step.takes:
                known_path = self.seen.get(target)
                if known_path is None or len(known_path) > len(path) + 1:
                    self.seen[target] = (*path, step)
            if child != node:
                found.append((step, child))
                if child not in self.paths or len(self.paths[child]) > len(path) + 1:
                    self.paths[child] = (*path, step)
                    self.states[child] = step.state
            elif step.takes:
                found.append((step, child))
        self.children[node] = found
        return found

    def estimate(self, target: Target, state: str) -> int | None:
        """
        The fewest events from `state` to taking `target` by the machine's graph, or None
        if it cannot get there.
        """
        ahead = self.distance.get(state, {state: 0})
        if isinstance(target, Edge):
            hops = ahead.get(target.source)
            return None if hops is None else hops + 1
        near = [ahead[s] for s in target.states if s in ahead]
        return min(near) + 1 if near else None

    def find(self, target: Target, budget: int) -> Steps | None:
        """
        A shortest path whose last step takes `target`, expanding at most `budget` keys not
        expanded before; else the shortest seen, if any.
        """
        estimate = self.estimate(target, self.start)
        if estimate is None:
            return None
        seen = self.seen.get(target)
        bound = len(seen) if seen is not None else self.max_depth + 1
        tie = itertools.count()
        heap = [(estimate, 0, next(tie), self.root)]
        done: set[Hashable] = set()
        while heap:
            f, _, _, node = heapq.heappop(heap)
            if f >= bound:
                break
            if node in done:
                continue
            done.add(node)
            path = self.paths[node]
            if len(path) >= self.max_depth:
                continue
            if node not in self.children:
                if budget <= 0 or len(self.children) >= self.max_nodes:
                    continue
                budget -= 1
            for step, child in self.expand(node):
                if target in step.takes:
                    return (*path, step)
                if child in done:
                    continue
                h = self.estimate(target, self.states[child])
                if h is not None:
                    g = len(self.paths[child])
                    heapq.heappush(heap, (g + h, -g, next(tie), child))
        return self.seen.get(target)


def select(found: Mapping[Target, Steps], targets: Sequence[Target]) -> list[tuple[Target, Steps]]:
    """
    Keep, longest first, each path whose goal no kept path takes yet; in goal order.
    """
    order = {target: i for i, target in enumerate(targets)}
    candidates = sorted(found.items(), key=lambda item: (-len(item[1]), order[item[0]]))
    covered: set[Target] = set()
    kept: list[tuple[Target, Steps]] = []
    for goal, steps in candidates:
        if goal not in covered:
            kept.append((goal, steps))
            covered.update(t for step in steps for t in step.takes)
    kept.sort(key=lambda item: order[item[0]])
    return kept
