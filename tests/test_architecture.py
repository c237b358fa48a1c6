"""
The shape of the house: no module too long to read, no runtime import cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "execfsm"
LONGEST_MODULE = 500
LONGEST_ORCHESTRATOR = 300


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.Module, module: str, known: set[str]) -> set[str]:
    """
    The package modules `module` imports at run time: at load time or inside a function, but
    not under ``if TYPE_CHECKING`` (never run).
    """
    found: set[str] = set()
    is_package = (PACKAGE.joinpath(*module.split(".")[1:]) / "__init__.py").exists()
    package = module if is_package else module.rpartition(".")[0]

    class Imports(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if _is_type_checking(node):
                for child in node.orelse:
                    self.visit(child)
            else:
                self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(a.name for a in node.names if a.name in known)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base in known:
                found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known)

    Imports().visit(tree)
    return found


def _graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {_module_name(p) for p in paths}
    graph = {}
    for path in paths:
        name = _module_name(path)
        graph[name] = _runtime_imports(ast.parse(path.read_text()), name, known) - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()
    on_path: list[str] = []

    def walk(node: str) -> list[str] | None:
        if node in on_path:
            return [*on_path[on_path.index(node) :], node]
        if node in done:
            return None
        on_path.append(node)
        for target in sorted(graph[node]):
            found = walk(target)
            if found:
                return found
        on_path.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        found = walk(node)
        if found:
            return found
    return None


class TestShape:
    """
    The package stays readable: short modules, a thin orchestrator, imports in one direction.
    """

    def test_no_module_is_longer_than_the_limit(self) -> None:
        """Every module in src/ is at most 500 lines; the orchestrator at most 300."""
        lengths = {p: len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
        too_long = {
            str(p.relative_to(SRC)): n
            for p, n in lengths.items()
            if n > (LONGEST_ORCHESTRATOR if p.name == "orchestrator.py" else LONGEST_MODULE)
        }

        assert too_long == {}

    def test_no_runtime_import_cycle(self) -> None:
        """No package module imports (at load time or in a function) one that imports it back."""
        graph = _graph()

        assert _cycle(graph) is None

    def test_the_cycle_finder_finds_a_cycle(self) -> None:
        """The finder is not blind: a two-module cycle is reported."""
        graph = {"a": {"b"}, "b": {"a"}, "c": set()}

        assert _cycle(graph) == ["a", "b", "a"]

    def test_an_import_inside_a_function_counts(self) -> None:
        """A cycle closed by an import inside a function is found; TYPE_CHECKING ones are not."""
        known = {"execfsm.a", "execfsm.b", "execfsm.c"}
        a = ast.parse("from execfsm.b import B\n")
        b = ast.parse("def f():\n    from execfsm.a import A\n    return A\n")
        c = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import execfsm.a\n")
        graph = {
            "execfsm.a": _runtime_imports(a, "execfsm.a", known),
            "execfsm.b": _runtime_imports(b, "execfsm.b", known),
            "execfsm.c": _runtime_imports(c, "execfsm.c", known),
        }

        assert graph["execfsm.c"] == set()
        assert _cycle(graph) == ["execfsm.a", "execfsm.b", "execfsm.a"]
