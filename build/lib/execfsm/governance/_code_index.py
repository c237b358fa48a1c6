"""
`CodeIndex`: the definitions reached from a machine's guards and callbacks, each once (see
`execfsm.governance.code`).
"""

from __future__ import annotations

import ast
import enum
import functools
import inspect
import linecache
import sys
import textwrap
import types
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import attrs

from execfsm.governance._code_source import (
    ATOMS,
    MAX_DEPTH,
    MAX_IMPORTS,
    MISSING,
    REPR_LIMIT,
    absolute_module,
    added_functions,
    binds,
    bytecode_hash,
    external_name,
    fields_of,
    first_line,
    is_code,
    kind_of,
    normalised,
    owner_of,
    qualified,
    reach,
    reads_of,
    spans,
    top_level,
    top_package,
)
from execfsm.governance._code_values import takes_value, value_line


@attrs.frozen
class Definition:
    """One definition: its normalised text and the keys of the definitions it reads."""

    key: str
    text: str
    uses: tuple[str, ...]


class CodeIndex:
    """The definitions reached from some callables (roots), each once, keyed deterministically."""

    def __init__(self, packages: Iterable[str]) -> None:
        self.packages = frozenset(packages)
        self.definitions: dict[str, Definition] = {}
        self._seen: dict[Hashable, str] = {}
        self._keep: list[Any] = []  # keeps what `_seen` points at alive, so no id is reused
        self._todo: list[tuple[str, Callable[[], tuple[str, list[str]]]]] = []
        self._trees: dict[str, ast.Module | None] = {}

    # -- roots and keys -------------------------------------------------------------------------

    def covered(self, obj: Any) -> bool:
        """Whether `obj` (a function or class) belongs to a covered package."""
        return top_package(getattr(obj, "__module__", None)) in self.packages

    def root(self, obj: Any, self_class: type | None = None) -> str:
        """The key of `obj`'s definition, every definition it reaches added."""
        key = self._callable(obj, self_class)
        self._flush()
        return key

    def value(self, value: Any, base: str) -> str:
        """The key of a declared value (written out), every definition it reaches added."""
        key = self._queue(value, base, lambda: self._value_text(value))
        self._flush()
        return key

    def expression(self, machine: type, text: str) -> str:
        """
        The key of a guard expression (``cond="ready and not blocked"``), which reads the
        machine's guards it names.
        """
        marker = ("expression", id(machine), text)
        if marker not in self._seen:
            words = text.replace("(", " ").replace(")", " ").split()
            guards = [w for w in words if w not in ("and", "or", "not")]

            def make() -> tuple[str, list[str]]:
                uses = []
                for word in guards:
                    guard = getattr(machine, word)
                    uses.append(
                        self._callable(guard, machine if owner_of(guard, machine) else None)
                    )
                return f"expression: {text}", uses

            key = self._unique(f"{qualified(machine)}:{text}")
            self._seen[marker] = key
            self._keep.append(machine)
            self._todo.append((key, make))
        self._flush()
        return self._seen[marker]

    def _flush(self) -> None:
        while self._todo:
            todo_key, make = self._todo.pop(0)
            text, uses = make()
            self.definitions[todo_key] = Definition(todo_key, text, tuple(dict.fromkeys(uses)))

    def closure(self, key: str) -> dict[str, str]:
        """`key`'s text and the text of everything it reaches, by key."""
        return reach(key, {k: (d.text, d.uses) for k, d in self.definitions.items()})

    def _unique(self, base: str) -> str:
        key, n = base, 1
        taken = {k for k, _ in self._todo} | set(self.definitions)
        while key in taken:
            n += 1
            key = f"{base} #{n}"
        self.definitions[key] = Definition(key, "", ())  # reserved until processed
        return key

    def _queue(self, obj: Any, base: str, make: Callable[[], tuple[str, list[str]]]) -> str:
        marker = (id(obj), id(None))
        if marker in self._seen:
            return self._seen[marker]
        key = self._unique(base)
        self._seen[marker] = key
        self._keep.append(obj)
        self._todo.append((key, make))
        return key

    def _callable(self, obj: Any, self_class: type | None) -> str:
        if isinstance(obj, staticmethod | classmethod):
            obj = obj.__func__
        if isinstance(obj, types.MethodType):
            bound = obj.__self__
            if not isinstance(bound, type):  # a method of an object: its state counts too
                return self._queue(
                    obj, qualified(obj.__func__) + " bound", lambda: self._bound(obj)
                )
            obj, self_class = obj.__func__, bound
        if isinstance(obj, types.FunctionType):
            return self._function(obj, self_class)
        if isinstance(obj, type):
            return self._class(obj)
        base = qualified(type(obj)) + "()"
        if isinstance(obj, functools.partial):
            base = qualified(obj.func) + " partial"
        return self._queue(obj, base, lambda: self._value_text(obj))

    def _function(self, func: types.FunctionType, self_class: type | None) -> str:
        owner = owner_of(func, self_class)
        base = qualified(func)
        if self_class is not None and owner is not self_class:
            base += f" on {qualified(self_class)}"
        marker = (id(func), id(self_class))
        if marker in self._seen:
            return self._seen[marker]
        key = self._unique(base)
        self._seen[marker] = key
        self._keep += [func, self_class]
        self._todo.append((key, lambda: self._function_text(func, self_class, owner)))
        return key

    def _class(self, cls: type) -> str:
        return self._queue(cls, qualified(cls), lambda: self._class_text(cls))

    # -- source ---------------------------------------------------------------------------------

    def _tree(self, filename: str, module: Any) -> ast.Module | None:
        if filename not in self._trees:
            linecache.checkcache(filename)
            lines = linecache.getlines(filename, getattr(module, "__dict__", None))
            try:
                self._trees[filename] = ast.parse("".join(lines)) if lines else None
            except (SyntaxError, ValueError):
                self._trees[filename] = None
        return self._trees[filename]

    def _node(self, func: types.FunctionType) -> ast.AST | None:
        code = func.__code__
        tree = self._tree(code.co_filename, sys.modules.get(func.__module__ or ""))
        if tree is None:
            return None
        kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
        found = [
            n
            for n in ast.walk(tree)
            if isinstance(n, kinds)
            and first_line(n) == code.co_firstlineno
            and getattr(n, "name", "<lambda>") == code.co_name
        ]
        if len(found) > 1:  # lambdas on one line: the smallest one holding the code's positions
            spots = [p for p in code.co_positions() if None not in p]
            held = [n for n in found if all(spans(n, *p) for p in spots)]  # type: ignore[arg-type]
            found = sorted(held or found, key=lambda n: (n.end_lineno or 0, n.end_col_offset or 0))
        return found[0] if found else None

    def _function_text(
        self, func: types.FunctionType, self_class: type | None, owner: type | None
    ) -> tuple[str, list[str]]:
        node = self._node(func)
        code = func.__code__
        if node is None:
            return f"<no source: {qualified(func)}; bytecode sha256 {bytecode_hash(code)}>", []
        uses: list[str] = []
        lines = [normalised(node)]
        external: list[str] = []
        reads = reads_of(node)
        params = code.co_varnames[: code.co_argcount]
        static = owner is not None and isinstance(vars(owner).get(func.__name__), staticmethod)
        me = params[0] if params and self_class is not None and not static else None
        home = func.__globals__.get("__name__", func.__module__)  # where its globals live
        for name in reads.names:
            if name in code.co_freevars or name == me or name not in func.__globals__:
                continue  # a closure value (below), self (below), a local or a builtin
            self._read(func.__globals__[name], home, name, uses, external)
            for chain in (c for c in reads.chains if c[0] == name):
                self._module_chain(func.__globals__[name], chain, uses, external)
        if me is not None and self_class is not None:
            for attr in dict.fromkeys(c[1] for c in reads.chains if c[0] == me):
                lines += self._self_read(self_class, attr, me, uses)
            init = inspect.getattr_static(self_class, "__init__", None)
            if isinstance(init, types.FunctionType) and self.covered(init):
                uses.append(self._callable(init, self_class))  # what set `self` up
        if owner is not None and self_class is not None and "super" in reads.names:
            lines += self._super_reads(self_class, owner, node, uses)
        if func.__defaults__:
            lines.append(f"# defaults: {self._render(func.__defaults__, uses)}")
        if func.__kwdefaults__:
            lines.append(f"# keyword defaults: {self._render(func.__kwdefaults__, uses)}")
        for name, cell in zip(code.co_freevars, func.__closure__ or (), strict=False):
            if name == "__class__":
                continue
            try:
                value = cell.cell_contents
            except ValueError:
                lines.append(f"# closure: {name} = <unset>")
                continue
            lines.append(f"# closure: {name} = {self._render(value, uses)}")
        if external:
            lines.append(f"# external: {', '.join(dict.fromkeys(external))}")
        return "\n".join(lines), uses

    def _class_text(self, cls: type) -> tuple[str, list[str]]:
        try:
            lines, start = inspect.getsourcelines(cls)
            tree = ast.parse(textwrap.dedent("".join(lines)))
        except (OSError, TypeError, SyntaxError, ValueError, IndexError):
            return f"<no source: {qualified(cls)}>", []
        node = tree.body[0] if tree.body else tree
        uses: list[str] = []
        external: list[str] = []
        namespace = vars(sys.modules[cls.__module__]) if cls.__module__ in sys.modules else {}
        reads = reads_of(node)
        for name in reads.names:
            if name in namespace:
                self._read(namespace[name], cls.__module__, name, uses, external)
                for chain in (c for c in reads.chains if c[0] == name):
                    self._module_chain(namespace[name], chain, uses, external)
        text = normalised(node)
        for attr, func in added_functions(cls, lines, start):  # not what the class statement says
            text += f"\n# {cls.__qualname__}.{attr} = {self._render(func, uses)}"
        if external:
            text += f"\n# external: {', '.join(dict.fromkeys(external))}"
        return text, uses

    # -- what a name reads ----------------------------------------------------------------------

    def _read(
        self, value: Any, module: str | None, name: str, uses: list[str], external: list[str]
    ) -> None:
        if isinstance(value, types.ModuleType):
            return  # its attributes are read through `_module_chain`
        if is_code(value) and self.covered(getattr(value, "__func__", value)):
            uses.append(self._callable(value, None))
            return
        binding = self._binding(module, name)
        if binding is not None and top_package(binding[0]) not in self.packages:
            binding = None  # assigned outside the covered packages: not followed
        if is_code(value) and binding is None:
            external.append(f"{name}={external_name(value)}")
            return
        where = binding[0] if binding is not None else module
        marker = ("constant", where, name, id(value))  # a rebinding elsewhere: another value
        if marker not in self._seen:
            key = self._unique(f"{where}:{name}")
            self._seen[marker] = key
            self._keep.append(value)
            self._todo.append((key, lambda: self._constant(name, value, binding)))
        uses.append(self._seen[marker])

    def _binding(
        self, module: str | None, name: str, depth: int = 0
    ) -> tuple[str, list[ast.stmt]] | None:
        """Where `name` is assigned at `module`'s top level (``from … import`` followed to
        the module that assigns it), and the statements that assign it."""
        loaded = sys.modules.get(module or "")
        filename = getattr(loaded, "__file__", None)
        if loaded is None or not filename or depth > MAX_IMPORTS:
            return None
        tree = self._tree(filename, loaded)
        if tree is None:
            return None
        found: list[ast.stmt] = []
        for stmt in top_level(tree.body):
            if isinstance(stmt, ast.Assign) and any(binds(t, name) for t in stmt.targets):
                found.append(stmt)
            elif isinstance(stmt, ast.AnnAssign | ast.AugAssign) and binds(stmt.target, name):
                if stmt.value is not None:
                    found.append(stmt)
            elif isinstance(stmt, ast.ImportFrom) and not found:
                for alias in stmt.names:
                    if (alias.asname or alias.name) == name:
                        source = absolute_module(stmt, loaded)
                        return self._binding(source, alias.name, depth + 1)
        return (str(module), found) if found else None

    def _constant(
        self, name: str, value: Any, binding: tuple[str, list[ast.stmt]] | None
    ) -> tuple[str, list[str]]:
        uses: list[str] = []
        if binding is None:  # no assignment in the source: the value as it is now
            return f"{name} = {self._render(value, uses)}  # value, no source", uses
        module, statements = binding
        namespace = vars(sys.modules[module])
        external: list[str] = []
        texts = []
        for stmt in statements:
            texts.append(normalised(stmt))
            reads = reads_of(stmt)
            for read in reads.names:
                if read in namespace and read != name:
                    self._read(namespace[read], module, read, uses, external)
                    for chain in (c for c in reads.chains if c[0] == read):
                        self._module_chain(namespace[read], chain, uses, external)
        if external:
            texts.append(f"# external: {', '.join(dict.fromkeys(external))}")
        shown = value_line(value) if takes_value(name, statements) else None
        return "\n".join([*texts, *([shown] if shown else [])]), uses

    def _bound(self, method: types.MethodType) -> tuple[str, list[str]]:
        uses = [self._function(method.__func__, type(method.__self__))]  # type: ignore[arg-type]
        return f"{self._render(method.__self__, uses)}.{method.__func__.__name__}", uses

    def _value_text(self, value: Any) -> tuple[str, list[str]]:
        uses: list[str] = []
        text = self._render(value, uses)
        call = vars(type(value)).get("__call__")
        if isinstance(call, types.FunctionType) and self.covered(call):
            uses.append(self._callable(call, type(value)))
        return text, uses

    def _module_chain(
        self, value: Any, chain: tuple[str, ...], uses: list[str], external: list[str]
    ) -> None:
        for attr in chain[1:]:
            if not isinstance(value, types.ModuleType):
                return
            module_name = value.__name__
            value = getattr(value, attr, MISSING)
            if value is MISSING:
                return
            if not isinstance(value, types.ModuleType):
                self._read(value, module_name, attr, uses, external)
                return

    def _self_read(self, self_class: type, attr: str, me: str, uses: list[str]) -> list[str]:
        try:
            value = inspect.getattr_static(self_class, attr)
        except AttributeError:  # instance state: the class its annotation names is read
            self._annotated(self_class, attr, uses)
            return []
        if isinstance(value, types.MemberDescriptorType | types.GetSetDescriptorType):
            return []
        if isinstance(value, staticmethod | classmethod | types.FunctionType):
            uses.append(self._callable(value, self_class))
            return []
        if isinstance(value, property):
            for part in (value.fget, value.fset, value.fdel):
                if part is not None:
                    uses.append(self._callable(part, self_class))
            return []
        return [f"# {me}.{attr} = {self._render(value, uses)}"]

    def _annotated(self, self_class: type, attr: str, uses: list[str]) -> None:
        for klass in self_class.__mro__:
            note = vars(klass).get("__annotations__", {}).get(attr)
            if note is None:
                continue
            if not isinstance(note, str):
                if isinstance(note, type) and self.covered(note):
                    uses.append(self._class(note))
                return
            try:
                tree = ast.parse(note, mode="eval")
            except SyntaxError:
                return
            module = sys.modules.get(klass.__module__)
            namespace = vars(module) if module is not None else {}
            for name in reads_of(tree).names:
                if name in namespace:
                    self._read(namespace[name], klass.__module__, name, uses, [])
            return

    def _super_reads(
        self, self_class: type, owner: type, node: ast.AST, uses: list[str]
    ) -> list[str]:
        mro = self_class.__mro__
        after = mro[mro.index(owner) + 1 :] if owner in mro else ()
        found: list[str] = []
        for sub in ast.walk(node):
            if (
                isinstance(sub, ast.Attribute)
                and isinstance(sub.value, ast.Call)
                and isinstance(sub.value.func, ast.Name)
                and sub.value.func.id == "super"
            ):
                for klass in after:
                    if sub.attr in vars(klass):
                        value = vars(klass)[sub.attr]
                        if is_code(value) and self.covered(getattr(value, "__func__", value)):
                            uses.append(self._callable(value, self_class))
                        else:
                            found.append(f"# super().{sub.attr}: {external_name(value)}")
                        break
        return found

    # -- values ---------------------------------------------------------------------------------

    def _render(
        self, value: Any, uses: list[str], depth: int = 0, path: tuple[int, ...] = ()
    ) -> str:
        if isinstance(value, enum.Enum):
            kind = type(value)
            if self.covered(kind):
                uses.append(self._class(kind))
            return f"{kind.__qualname__}.{value.name}"
        if isinstance(value, ATOMS):
            return repr(value)
        if is_code(value):
            if self.covered(getattr(value, "__func__", value)):
                key = self._callable(value, None)
                uses.append(key)
                return f"<{kind_of(value)} {key}>"
            return f"<{kind_of(value)} {external_name(value)}>"
        if isinstance(value, types.ModuleType):
            return f"<module {value.__name__}>"
        if id(value) in path:
            return "<cycle>"
        if depth >= MAX_DEPTH:
            return "<deep>"
        inner = (*path, id(value))

        def sub(v: Any) -> str:
            return self._render(v, uses, depth + 1, inner)

        if isinstance(value, functools.partial):
            parts = [sub(value.func), *map(sub, value.args)]
            parts += [f"{k}={sub(v)}" for k, v in value.keywords.items()]
            return f"partial({', '.join(parts)})"
        if isinstance(value, property):
            return f"property({', '.join(sub(f) for f in (value.fget, value.fset, value.fdel))})"
        if isinstance(value, list | tuple):
            shown = ", ".join(map(sub, value))
            if isinstance(value, list):
                return f"[{shown}]"
            return f"({shown},)" if len(value) == 1 else f"({shown})"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{sub(k)}: {sub(v)}" for k, v in value.items()) + "}"
        if isinstance(value, set | frozenset):
            return f"{type(value).__name__}({{{', '.join(sorted(map(sub, value)))}}})"
        kind = type(value)
        fields = fields_of(value)
        if self.covered(kind) or attrs.has(kind):
            if self.covered(kind):
                uses.append(self._class(kind))
            if fields is not None:
                shown = ", ".join(f"{k}={sub(v)}" for k, v in fields)
                return f"{kind.__qualname__}({shown})"
        try:
            text = repr(value)
        except Exception:  # noqa: BLE001  # an object that cannot say what it is: opaque
            text = "0x"
        if "0x" in text or len(text) > REPR_LIMIT:
            return f"<opaque {external_name(kind)}>"
        return text
