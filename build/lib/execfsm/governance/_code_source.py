"""
How `execfsm.governance.code` reads source: normalisation (no docstrings, comments or
formatting), the names a definition reads, where a constant is assigned, and values written
out.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import inspect
import json
import types
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

ATOMS = (type(None), bool, int, float, complex, str, bytes, range)
MAX_DEPTH = 12
"""How deep a value is written out; below, ``<deep>`` (a cycle is ``<cycle>``)."""
REPR_LIMIT = 1000


def top_package(module: object) -> str:
    return str(module or "").partition(".")[0]


def qualified(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    return f"{module}:{getattr(obj, '__qualname__', None) or getattr(obj, '__name__', '?')}"


class _Stripped(ast.NodeTransformer):
    """Removes docstrings and bare string statements; an emptied body becomes ``pass``."""

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            kept = [
                s
                for s in body
                if not (
                    isinstance(s, ast.Expr)
                    and isinstance(s.value, ast.Constant)
                    and isinstance(s.value.value, str)
                )
            ]
            node.body = kept or [ast.Pass()]  # type: ignore[attr-defined]
        return node


def normalised(node: ast.AST) -> str:
    """
    The source of `node` without comments, formatting, docstrings or bare strings.
    """
    return ast.unparse(_Stripped().visit(copy.deepcopy(node)))


class Reads(ast.NodeVisitor):
    """
    The names a node reads (in first-read order) and the attribute chains on them (also
    ``getattr(x, "name")`` with a literal name), annotations included: the classes named in
    annotations of parameters, returns and variables or fields (``policy: LivePolicy | None``
    in a class body) offer the methods that run on what is given, returned or held.
    """

    def __init__(self) -> None:
        self.names: dict[str, None] = {}
        self.chains: dict[tuple[str, ...], None] = {}

    def visit_arg(self, node: ast.arg) -> None:
        if node.annotation is not None:  # what a parameter is: the methods it offers run
            self.visit(node.annotation)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        returns = [node.returns] if node.returns is not None else []
        for child in (*node.decorator_list, node.args, *returns, *node.body):
            self.visit(child)

    visit_AsyncFunctionDef = visit_FunctionDef  # the visitor's naming

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)
        self.visit(node.annotation)
        if node.value is not None:
            self.visit(node.value)

    def visit_Call(self, node: ast.Call) -> None:
        func, args = node.func, node.args
        if (
            isinstance(func, ast.Name)
            and func.id in ("getattr", "hasattr")
            and len(args) >= 2
            and isinstance(args[1], ast.Constant)
            and isinstance(args[1].value, str)
            and args[1].value.isidentifier()
        ):
            self.visit(ast.Attribute(value=args[0], attr=args[1].value, ctx=ast.Load()))
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain = [node.attr]
        base: ast.expr = node.value
        while isinstance(base, ast.Attribute):
            chain.insert(0, base.attr)
            base = base.value
        if isinstance(base, ast.Name):
            self.chains[(base.id, *chain)] = None
        self.visit(base)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.names[node.id] = None


def reads_of(node: ast.AST) -> Reads:
    reads = Reads()
    reads.visit(node)
    return reads


def first_line(node: Any) -> int:
    decorators = getattr(node, "decorator_list", None)
    lines = [d.lineno for d in decorators or ()]
    return min([*lines, node.lineno]) if lines else int(getattr(node, "lineno", 0))


def spans(node: Any, line: int, col: int, end_line: int, end_col: int) -> bool:
    start = (node.lineno, node.col_offset)
    end = (node.end_lineno or node.lineno, node.end_col_offset or 0)
    return start <= (line, col) and (end_line, end_col) <= end


def bytecode_hash(code: types.CodeType) -> str:
    digest = hashlib.sha256()

    def feed(c: types.CodeType) -> None:
        digest.update(c.co_code)
        digest.update(repr((c.co_names, c.co_varnames, c.co_freevars, c.co_cellvars)).encode())
        for const in c.co_consts:
            if isinstance(const, types.CodeType):
                feed(const)
            elif isinstance(const, (*ATOMS, tuple)):
                digest.update(repr(const).encode())
            else:
                digest.update(type(const).__qualname__.encode())

    feed(code)
    return digest.hexdigest()


MISSING = object()
MAX_IMPORTS = 8
"""How many ``from … import`` steps lead to where a constant is assigned, at most."""


def top_level(body: list[ast.stmt]) -> Iterable[ast.stmt]:
    """The module-level statements, also inside ``if``, ``try`` and ``with`` blocks."""
    for stmt in body:
        yield stmt
        for field in ("body", "orelse", "finalbody", "handlers"):
            if isinstance(stmt, ast.If | ast.Try | ast.With | ast.ExceptHandler):
                yield from top_level(getattr(stmt, field, []))


def binds(target: ast.expr, name: str) -> bool:
    if isinstance(target, ast.Name):
        return target.id == name
    if isinstance(target, ast.Tuple | ast.List | ast.Starred):
        parts = target.elts if not isinstance(target, ast.Starred) else [target.value]
        return any(binds(t, name) for t in parts)
    return False


def absolute_module(stmt: ast.ImportFrom, module: Any) -> str:
    if not stmt.level:
        return stmt.module or ""
    package = (getattr(module, "__package__", None) or "").split(".")
    base = package[: len(package) - stmt.level + 1]
    return ".".join([*base, *([stmt.module] if stmt.module else [])])


def is_code(value: Any) -> bool:
    return isinstance(
        value,
        type
        | types.FunctionType
        | types.BuiltinFunctionType
        | types.MethodType
        | staticmethod
        | classmethod
        | types.MethodDescriptorType
        | types.WrapperDescriptorType,
    )


def kind_of(value: Any) -> str:
    return "class" if isinstance(value, type) else "function"


def external_name(value: Any) -> str:
    module = getattr(value, "__module__", None) or getattr(
        getattr(value, "__objclass__", None), "__module__", "builtins"
    )
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    return f"{module}.{name}" if name else f"<{type(value).__qualname__}>"


def fields_of(value: Any) -> list[tuple[str, Any]] | None:
    kind = type(value)
    if attrs.has(kind):
        return [(f.name, getattr(value, f.name, "<unset>")) for f in attrs.fields(kind)]
    found: list[tuple[str, Any]] = []
    slots: list[str] = []
    for klass in kind.__mro__:
        names = klass.__dict__.get("__slots__", ())
        slots += [names] if isinstance(names, str) else list(names)
    for name in dict.fromkeys(slots):
        if name not in ("__dict__", "__weakref__") and hasattr(value, name):
            found.append((name, getattr(value, name)))
    own = getattr(value, "__dict__", None)
    if isinstance(own, dict):
        found += list(own.items())
    elif not slots:
        return None
    return found


def owner_of(func: Any, self_class: type | None) -> type | None:
    if self_class is None:
        return None
    for klass in self_class.__mro__:
        for value in vars(klass).values():
            if getattr(value, "__func__", value) is func:
                return klass
            if isinstance(value, property) and func in (value.fget, value.fset, value.fdel):
                return klass
    return None


def reach(key: str, definitions: Mapping[str, tuple[str, Iterable[str]]]) -> dict[str, str]:
    """
    The text of `key` and of every definition it reaches in `definitions` (key -> (text,
    uses)), by key, `key` first then sorted; a key with no definition reads ``<missing>``.
    """
    found: dict[str, str] = {}
    todo = [key]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        text, uses = definitions.get(current, ("<missing>", ()))
        found[current] = text
        todo.extend(uses)
    return {key: found[key], **{k: found[k] for k in sorted(found) if k != key}}


def fingerprint(closure: Mapping[str, str]) -> str:
    """
    The sha256 of a closure (key -> text), as stored in the spec.
    """
    data = json.dumps(sorted(closure.items()), ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def added_functions(
    cls: type, lines: list[str], start: int
) -> list[tuple[str, types.FunctionType]]:
    """
    The functions in `cls`'s own ``__dict__`` (also behind a staticmethod, classmethod or
    property) whose code is not in its class statement: set on it afterwards
    (``Box.fits = lambda self: True``) or by a decorator. Code made by ``exec`` (attrs' and
    dataclasses' generated methods, file ``<…>``) is left out, and a wrapper marked
    ``__execfsm_observer__`` (the transition-coverage plugin's, which only records the
    `AuditLog`s made) is read as the function it wraps.
    """
    try:  # `lines` and `start`: the class statement's, from `inspect.getsourcelines`
        filename = inspect.getsourcefile(cls)
    except (OSError, TypeError):
        return []
    found = []
    for name, value in sorted(vars(cls).items()):
        parts = [getattr(value, "__func__", value)]
        if isinstance(value, property):
            parts = [value.fget, value.fset, value.fdel]
        for part in parts:
            while getattr(part, "__execfsm_observer__", False):
                part = part.__wrapped__
            if not isinstance(part, types.FunctionType):
                continue
            code = part.__code__
            if code.co_filename.startswith("<"):
                continue
            inside = code.co_filename == filename and start <= code.co_firstlineno < start + len(
                lines
            )
            if not inside:
                found.append((name, part))
    return found
