"""Layer 1 (the AST policy): the reference's tables plus Airlock's own adversarial cases.

These run no process: they prove the *immediate* refusal with a rule name and a line.
The boundary itself is proven in tests/integration/test_sandbox.py.
"""

from __future__ import annotations

import time

import pytest

from airlock.sandbox import SandboxViolation, check
from airlock.sandbox._ast_policy import prepare

# The reference's "Auto-Rejected Code Patterns" table.
REFERENCE_REJECTED = [
    ("import os", "import"),
    ("from pathlib import Path", "import"),
    ('eval("1+1")', "forbidden-builtin"),
    ("exec(\"print('hi')\")", "forbidden-builtin"),
    ('compile("x=1", "", "exec")', "forbidden-builtin"),
    ('open("/etc/passwd")', "forbidden-builtin"),
    ('input("Enter: ")', "forbidden-builtin"),
    ("setattr(int, 'x', 1)", "forbidden-builtin"),
    ("delattr(obj, 'x')", "forbidden-builtin"),
    ("dir(object)", "forbidden-builtin"),
    ("().__class__", "private-attribute"),
    ("object.__subclasses__()", "private-attribute"),
    ("func.__globals__", "private-attribute"),
    ("int.__bases__", "private-attribute"),
    ("print.__builtins__", "private-attribute"),
    ("e.__traceback__", "private-attribute"),
    ("func.__code__", "private-attribute"),
    ('__import__("os")', "forbidden-builtin"),
    ("gen.gi_frame", "blocked-attribute"),
    ("f.f_globals", "blocked-attribute"),
]

# The reference's "Exploit Attempts" rows that layer 1 refuses statically.
REFERENCE_EXPLOITS_STATIC = [
    ("'____class____'[2:-2]", "dunder-text"),
    ("t = type(1)\nt.__subclasses__(t)", "private-attribute"),
    ("try:\n    1/0\nexcept Exception as e:\n    e.__traceback__", "private-attribute"),
    ("def g():\n    yield 1\ng().gi_frame", "blocked-attribute"),
    ("f = lambda: setattr(int, 'x', 1)", "forbidden-builtin"),
    ("[x := getattr((), '__class__')]", "dunder-text"),
]

# Airlock's own adversarial cases.
ADVERSARIAL = [
    # match/case class patterns reaching attributes (the escape that broke the reference)
    ("match ():\n    case object(__class__=c):\n        pass", "private-attribute"),
    ("match 1:\n    case int(__subclasses__=s):\n        pass", "private-attribute"),
    ("class C:\n    __match_args__ = ('x',)", "dunder-name"),
    ("import re\nmatch re:\n    case object(enum=m):\n        pass", "module-pattern"),
    ("match m:\n    case object(sys=s):\n        pass", "blocked-attribute"),
    # format-string attribute walks
    ("'{0.__class__}'.format(1)", "format-attribute-walk"),
    ("'{0.real.imag}'.format(1)", "format-attribute-walk"),
    ("'{0[0]}'.format([1])", "format-attribute-walk"),
    ("'{x}'.format_map({'x': 1})", "blocked-attribute"),
    # generator / coroutine / async-generator frames
    ("async def c():\n    pass\nc().cr_frame", "blocked-attribute"),
    ("def g():\n    yield\ng().gi_code", "blocked-attribute"),
    ("x.ag_frame", "blocked-attribute"),
    ("x.f_back", "blocked-attribute"),
    ("x.tb_frame", "blocked-attribute"),
    ("e.with_traceback(None)", "blocked-attribute"),
    # metaclass and decorator tricks
    ("class M(type):\n    pass\nclass C(metaclass=M):\n    pass", "class-keyword"),
    ("class C:\n    def __getattr__(self, n):\n        return 1", "dunder-method"),
    ("class C:\n    def __init_subclass__(cls):\n        pass", "dunder-method"),
    ("@(lambda f: f.__globals__)\ndef f():\n    pass", "private-attribute"),
    # unicode identifiers (NFKC): script letters normalise to ASCII ones
    ("().__\U0001d4b8lass__", "private-attribute"),
    ("().\U0001d4c8ys", "blocked-attribute"),
    ("\uff45val('1')", "forbidden-builtin"),  # fullwidth e + 'val' == eval
    ("'\uff3f\uff3fclass\uff3f\uff3f'", "dunder-text"),
    # modules that re-export sys / os
    ("import statistics\nstatistics.sys", "blocked-attribute"),
    ("import datetime\ndatetime.sys", "blocked-attribute"),
    ("import random\nrandom._os", "private-attribute"),
    ("from statistics import sys", "blocked-attribute"),
    ("import operator\noperator.attrgetter('x')", "import"),
    ("from . import x", "relative-import"),
    ("from math import *", "star-import"),
    ("import json._x", "import"),
    # names that reach the interpreter
    ("__builtins__", "forbidden-builtin"),
    ("__build_class__", "forbidden-builtin"),
    ("globals()", "forbidden-builtin"),
    ("vars()", "forbidden-builtin"),
    ("breakpoint()", "forbidden-builtin"),
    ("__airlock_ga__", "dunder-name"),
    ("def f(__x):\n    pass", "dunder-name"),
    ("b'\\x5f\\x5fclass\\x5f\\x5f'", "dunder-text"),
]

# The reference's "Allowed Code Patterns" plus what data work needs.
ALLOWED = [
    "result = 2 + 3 * 4",
    '"hello".upper().split("L")',
    "[x**2 for x in range(10)]",
    "{k: v**2 for k, v in enumerate(range(5))}",
    "def add(a, b):\n    return a + b",
    "class Point:\n    pass",
    "try:\n    1/0\nexcept ZeroDivisionError:\n    pass",
    'list("abc"); dict(a=1)',
    "len([1]); sum([1]); sorted([2, 1]); min(1, 2); max(1, 2)",
    "isinstance(1, int)",
    'list(enumerate(["a", "b"]))',
    "import math, statistics, json, re, datetime, collections, itertools, functools\n"
    "import decimal, fractions, string, textwrap, random",
    "from collections import Counter\nfrom datetime import date",
    "class P:\n    def __init__(self, x):\n        self.x = x\n    def __repr__(self):\n        return f'P({self.x})'",
    "class Q(P):\n    def __init__(self):\n        super().__init__(1)",
    "match p:\n    case P(x=1):\n        pass\n    case [a, b]:\n        pass",
    "f'{1 + 1:>5} {\"x\"!r}'",
    "'{} and {:.2f} and {name}'.format(1, 2.5, name='n')",
    "if __name__ == '__main__':\n    print('main')",
]


@pytest.mark.parametrize("code,rule", REFERENCE_REJECTED + REFERENCE_EXPLOITS_STATIC + ADVERSARIAL)
def test_refused_with_rule_and_line(code: str, rule: str) -> None:
    with pytest.raises(SandboxViolation) as info:
        check(code)
    assert info.value.rule == rule, str(info.value)
    assert info.value.line is not None and info.value.line >= 1
    assert rule in str(info.value)


def test_violation_names_the_right_line() -> None:
    with pytest.raises(SandboxViolation) as info:
        check("x = 1\ny = 2\nz = ().__class__\n")
    assert info.value.line == 3
    assert "line 3" in str(info.value)


def test_airlock_exports_sandbox_violation() -> None:
    import airlock

    assert airlock.SandboxViolation is SandboxViolation


@pytest.mark.parametrize("code", ALLOWED)
def test_allowed_patterns_pass(code: str) -> None:
    check(code)
    prepared = prepare(code)
    compile(prepared.source(), "<t>", "exec")  # the rewritten source is valid Python too


def test_attribute_reads_are_rewritten_through_the_guard() -> None:
    src = prepare("import math\nx = math.pi\n'a'.upper()").source()
    assert "__airlock_ga__(math, 'pi')" in src
    assert "__airlock_ga__('a', 'upper')" in src


@pytest.mark.parametrize("bad", [None, 1, b"print(1)", ["x"]])
def test_wrong_types_are_clear_errors(bad: object) -> None:
    with pytest.raises(SandboxViolation) as info:
        check(bad)  # type: ignore[arg-type]
    assert info.value.rule == "type"


def test_compile_time_errors_are_violations_with_line() -> None:
    with pytest.raises(SandboxViolation) as info:
        prepare("x = 1\nreturn x\n")
    assert info.value.rule == "syntax" and info.value.line == 2


def test_syntax_error_is_a_violation_with_line() -> None:
    with pytest.raises(SandboxViolation) as info:
        check("x = 1\ndef (:\n")
    assert info.value.rule == "syntax" and info.value.line == 2


@pytest.mark.parametrize("code", ["(" * 5000 + ")" * 5000, "x = " + "-" * 200_000 + "1",
                                  "\n".join(f"x{i} = {i}" for i in range(40_000)), "x" * 300_000, "a\x00b"])
def test_huge_or_deep_input_is_refused_quickly(code: str) -> None:
    started = time.perf_counter()
    with pytest.raises(SandboxViolation) as info:
        prepare(code)
    assert info.value.rule in {"too-complex", "too-large", "syntax"}
    assert time.perf_counter() - started < 5.0


def test_long_adversarial_strings_are_linear() -> None:
    code = "s = '" + "_" * 200_000 + "'"
    started = time.perf_counter()
    check(code)
    assert time.perf_counter() - started < 2.0
