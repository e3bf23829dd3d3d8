"""Layer 1: a fast AST policy so users get an immediate, clear refusal.

This layer is *not* the boundary (the bubblewrap process in ``_bwrap`` is); it exists so
obvious escapes are refused with a rule name and a line instead of being run and contained.
Accepted code is rewritten so every attribute read goes through the runtime guard
``__airlock_ga__`` (see ``_runner``), which also catches dynamic names (``getattr`` with built
strings, module re-exports such as ``statistics.sys``, ``str.format`` field walks).
"""

from __future__ import annotations

import ast
import string
import sys
import unicodedata
from dataclasses import dataclass
from types import CodeType

from ._errors import SandboxViolation

__all__ = ["ALLOWED_MODULES", "BLOCKED_ATTRS", "BLOCKED_NAMES", "ALLOWED_DUNDER_DEFS", "Prepared", "check",
           "prepare"]

#: Modules user code may import (and their submodules). Everything data work needs, nothing with I/O.
ALLOWED_MODULES = frozenset({
    "math", "cmath", "statistics", "json", "re", "datetime", "collections", "itertools", "functools",
    "decimal", "fractions", "string", "textwrap", "random", "heapq", "bisect", "copy",
})

#: Builtins user code may not name at all.
BLOCKED_NAMES = frozenset({
    "eval", "exec", "compile", "open", "input", "setattr", "delattr", "dir", "vars", "globals", "locals",
    "breakpoint", "__import__", "help", "exit", "quit", "memoryview", "__builtins__", "__loader__",
    "__spec__", "__build_class__", "copyright", "credits", "license",
})

#: Attribute names refused anywhere (frames, code, tracebacks, module handles, format walkers).
BLOCKED_ATTRS = frozenset({
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "cr_origin",
    "ag_frame", "ag_code", "ag_await", "f_globals", "f_locals", "f_builtins", "f_back", "f_code",
    "f_trace", "tb_frame", "tb_next", "co_code", "co_consts", "co_names", "func_globals", "func_code",
    "im_func", "im_class", "mro", "sys", "os", "modules", "builtins", "format_map", "Formatter",
    "vformat", "get_field", "attrgetter", "methodcaller", "subprocess", "importlib", "load_module",
    "exec_module", "system", "popen", "with_traceback",
})

#: Dunder methods a user class may define (data classes with a repr, operators, containers).
ALLOWED_DUNDER_DEFS = frozenset({
    "__init__", "__repr__", "__str__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
    "__hash__", "__len__", "__iter__", "__next__", "__contains__", "__getitem__", "__setitem__",
    "__delitem__", "__bool__", "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
    "__truediv__", "__rtruediv__", "__floordiv__", "__mod__", "__pow__", "__neg__", "__pos__", "__abs__",
    "__and__", "__or__", "__xor__", "__enter__", "__exit__", "__call__", "__post_init__",
})

#: Dunder names a user may read as plain names.
_ALLOWED_DUNDER_LOADS = frozenset({"__name__"})

#: Dunder words refused even inside string literals (slicing/concatenation tricks start here).
_DUNDER_TEXT = tuple(f"__{w}__" for w in (
    "class", "subclasses", "globals", "bases", "base", "builtins", "import", "code", "traceback",
    "mro", "dict", "getattribute", "getattr", "reduce", "reduce_ex", "loader", "spec", "closure",
    "func", "self", "module", "init_subclass", "subclasshook", "set_name", "match_args", "defaults",
    "kwdefaults", "qualname", "wrapped", "build_class", "frame",
))

#: Module names a ``match`` class pattern may not bind by keyword: ``case object(enum=m)`` on a
#: module reads the attribute without the runtime guard, so module handles are refused statically.
_MODULE_NAMES = frozenset(sys.stdlib_module_names) - ALLOWED_MODULES

MAX_SOURCE_CHARS = 256 * 1024
MAX_NODES = 100_000
GUARD_NAME = "__airlock_ga__"


def _bad_attr(name: str) -> str | None:
    """Why reading attribute ``name`` is refused, or None."""
    n = unicodedata.normalize("NFKC", name)
    if n.startswith("_"):
        return "private-attribute"
    if n in BLOCKED_ATTRS:
        return "blocked-attribute"
    return None


def _format_fields_walk(fmt: str) -> bool:
    """True if a format string has a field that walks attributes or indexes (``{0.__class__}``)."""
    try:
        for _lit, field, spec, _conv in string.Formatter().parse(fmt):
            if field and ("." in field or "[" in field):
                return True
            if spec and "{" in spec and _format_fields_walk(spec):
                return True
    except ValueError:
        return False  # malformed: str.format will raise at run time
    return False


class _Checker(ast.NodeVisitor):
    """Collects the first violation (iteratively walked by ``check``)."""

    def visit_node(self, node: ast.AST) -> None:  # noqa: C901 - one table of rules
        line = getattr(node, "lineno", None)
        if isinstance(node, ast.Import):
            for alias in node.names:
                self._module(alias.name, line)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise SandboxViolation("relative-import", "relative imports are not allowed", line)
            self._module(node.module or "", line)
            for alias in node.names:
                if alias.name == "*":
                    raise SandboxViolation("star-import", "'from ... import *' is not allowed", line)
                reason = _bad_attr(alias.name)
                if reason:
                    raise SandboxViolation(reason, f"importing {alias.name!r} is not allowed", line)
        elif isinstance(node, ast.Name):
            self._name(node.id, isinstance(node.ctx, ast.Load), line)
        elif isinstance(node, ast.Attribute):
            reason = _bad_attr(node.attr)
            super_init = (node.attr == "__init__" and isinstance(node.value, ast.Call)
                          and isinstance(node.value.func, ast.Name) and node.value.func.id == "super")
            if reason and not super_init:
                raise SandboxViolation(reason, f"attribute {node.attr!r} is not allowed", line)
        elif isinstance(node, ast.MatchClass):
            for attr in node.kwd_attrs:
                reason = _bad_attr(attr) or ("module-pattern" if attr in _MODULE_NAMES else None)
                if reason:
                    raise SandboxViolation(reason, f"match pattern attribute {attr!r} is not allowed", line)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.name
            if n.startswith("__") and n.endswith("__") and n not in ALLOWED_DUNDER_DEFS:
                raise SandboxViolation("dunder-method", f"defining {n!r} is not allowed", line)
        elif isinstance(node, ast.ClassDef):
            if node.keywords:
                raise SandboxViolation("class-keyword", "class keywords (metaclass=...) are not allowed", line)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for n in node.names:
                self._name(n, False, line)
        elif isinstance(node, ast.arg):
            if node.arg.startswith("__"):
                raise SandboxViolation("dunder-name", f"parameter {node.arg!r} is not allowed", line)
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            text = unicodedata.normalize("NFKC", text)
            for word in _DUNDER_TEXT:
                if word in text:
                    raise SandboxViolation("dunder-text", f"string contains {word!r}", line)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "format" and isinstance(node.func.value, ast.Constant) \
                    and isinstance(node.func.value.value, str) and _format_fields_walk(node.func.value.value):
                raise SandboxViolation("format-attribute-walk",
                                       "str.format fields may not use '.' or '[' (attribute/index walks)", line)

    def _module(self, name: str, line: int | None) -> None:
        top = name.split(".")[0]
        if top not in ALLOWED_MODULES or any(p.startswith("_") for p in name.split(".")):
            raise SandboxViolation("import", f"import of {name!r} is not allowed "
                                   f"(allowed: {', '.join(sorted(ALLOWED_MODULES))})", line)

    def _name(self, name: str, load: bool, line: int | None) -> None:
        if name in BLOCKED_NAMES:
            raise SandboxViolation("forbidden-builtin", f"{name!r} is not allowed", line)
        if name.startswith("__") and not (load and name in _ALLOWED_DUNDER_LOADS):
            raise SandboxViolation("dunder-name", f"name {name!r} is not allowed", line)


class _Rewrite(ast.NodeTransformer):
    """Every attribute read becomes ``__airlock_ga__(obj, 'name')`` (the runtime guard)."""

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if not isinstance(node.ctx, ast.Load):
            return node
        call = ast.Call(func=ast.Name(id=GUARD_NAME, ctx=ast.Load()),
                        args=[node.value, ast.Constant(value=node.attr)], keywords=[])
        return ast.copy_location(call, node)


def _parse(code: str) -> ast.Module:
    if not isinstance(code, str):
        raise SandboxViolation("type", f"code must be str, not {type(code).__name__}")
    if len(code) > MAX_SOURCE_CHARS:
        raise SandboxViolation("too-large", f"code is {len(code)} characters (limit {MAX_SOURCE_CHARS})")
    if "\x00" in code:
        raise SandboxViolation("syntax", "code contains a NUL character")
    try:
        return ast.parse(code, "<sandbox>", "exec")
    except SyntaxError as exc:
        raise SandboxViolation("syntax", exc.msg or "invalid syntax", exc.lineno) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise SandboxViolation("too-complex", f"code cannot be parsed ({type(exc).__name__})") from None


def check(code: str) -> ast.Module:
    """Validate ``code``; raise ``SandboxViolation`` (rule and line) on the first refused construct."""
    tree = _parse(code)
    checker = _Checker()
    count = 0
    for node in ast.walk(tree):  # breadth-first with a queue: no recursion, linear
        count += 1
        if count > MAX_NODES:
            raise SandboxViolation("too-complex", f"code has more than {MAX_NODES} syntax nodes")
        checker.visit_node(node)
    return tree


@dataclass(frozen=True)
class Prepared:
    """Checked, guard-rewritten code: the tree (for source transport) and its compiled form
    (for bytecode transport, which keeps the user's line numbers)."""

    tree: ast.Module
    code: CodeType

    def source(self) -> str:
        try:
            return ast.unparse(self.tree)
        except (RecursionError, MemoryError):
            raise SandboxViolation("too-complex", "code is nested too deeply") from None


def prepare(code: str) -> Prepared:
    """Check ``code``; return it rewritten so every attribute read goes through the runtime guard."""
    tree = check(code)
    try:
        tree = ast.fix_missing_locations(_Rewrite().visit(tree))
        compiled = compile(tree, "<sandbox>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise SandboxViolation("syntax", exc.msg or "invalid syntax", exc.lineno) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise SandboxViolation("too-complex", f"code cannot be compiled ({type(exc).__name__})") from None
    return Prepared(tree, compiled)
