"""A strict parser for sympy ``srepr`` text: a whitelist of node types, no eval.

``srepr`` prints an expression as nested constructor calls, e.g.
``Add(Symbol('x', real=True), Integer(1))``.  :func:`parse_srepr` tokenises that text and
builds the expression by calling only the constructors of :data:`NODES` with arguments that
are themselves parsed nodes, integers, quoted names or the keywords of :data:`ASSUMPTIONS`.
Anything else (attribute access, unknown names, operators, floats, nesting beyond
:data:`MAX_DEPTH`, text longer than :data:`MAX_CHARS`, integers longer than
:data:`MAX_DIGITS` digits, integer exponents beyond :data:`MAX_EXPONENT`) is refused with
``ValueError``.
Untrusted text never reaches ``eval``, ``exec`` or ``sympify``.
"""

from __future__ import annotations

import re
from typing import Any

import sympy as sp

MAX_CHARS = 2_000_000
MAX_DEPTH = 200
#: Integer literals and exponents are bounded so that evaluation cannot blow up.
MAX_DIGITS = 4000
MAX_EXPONENT = 10_000

#: Constructors that may appear, with how their positional arguments are passed.
NODES: dict[str, Any] = {
    "Add": sp.Add, "Mul": sp.Mul, "Pow": sp.Pow, "exp": sp.exp, "log": sp.log,
    "sin": sp.sin, "cos": sp.cos, "tanh": sp.tanh, "Abs": sp.Abs, "Max": sp.Max,
    "Min": sp.Min, "Sum": sp.Sum, "Limit": sp.Limit, "Tuple": sp.Tuple,
    "Indexed": sp.Indexed, "IndexedBase": sp.IndexedBase, "Heaviside": sp.Heaviside,
    "sign": sp.sign, "Lt": sp.Lt, "Le": sp.Le, "Gt": sp.Gt, "Ge": sp.Ge, "Eq": sp.Eq,
}
#: Zero-argument constants.
CONSTANTS: dict[str, Any] = {
    "pi": sp.pi, "E": sp.E, "oo": sp.oo, "Infinity": sp.oo, "NegativeInfinity": -sp.oo,
    "Zero": sp.Integer(0), "One": sp.Integer(1), "NegativeOne": sp.Integer(-1),
    "Half": sp.Rational(1, 2),
}
#: Assumption keywords accepted by ``Symbol``, ``IndexedBase`` and ``Function``.
ASSUMPTIONS = frozenset({"real", "positive", "negative", "nonnegative", "nonpositive",
                         "integer", "finite", "nonzero", "zero", "commutative"})

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<int>-?[0-9]+)"
                    r"|(?P<str>'[^'\\]{0,200}')|(?P<punct>[(),=]))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"unexpected text at offset {pos}: {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or len(text) > MAX_CHARS:
            raise ValueError("expression text missing or too long")
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, kind: str, value: str | None = None) -> str:
        t = self.peek()
        if t is None or t[0] != kind or (value is not None and t[1] != value):
            raise ValueError(f"expected {value or kind} at token {self.i}, got {t}")
        self.i += 1
        return t[1]

    def args(self, depth: int) -> tuple[list[Any], dict[str, bool]]:
        pos: list[Any] = []
        kw: dict[str, bool] = {}
        self.take("punct", "(")
        if self.peek() == ("punct", ")"):
            self.i += 1
            return pos, kw
        while True:
            t = self.peek()
            nxt = self.toks[self.i + 1] if self.i + 1 < len(self.toks) else None
            if t and t[0] == "name" and nxt == ("punct", "="):
                key = t[1]
                self.i += 2
                val = self.take("name")
                if key not in ASSUMPTIONS or val not in ("True", "False") or key in kw:
                    raise ValueError(f"keyword {key}={val} not allowed")
                kw[key] = val == "True"
            else:
                if kw:
                    raise ValueError("positional argument after keyword")
                pos.append(self.value(depth + 1))
            if self.peek() == ("punct", ","):
                self.i += 1
                continue
            self.take("punct", ")")
            return pos, kw

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ValueError("expression nested too deeply")
        t = self.peek()
        if t is None:
            raise ValueError("unexpected end of expression")
        kind, val = t
        if kind == "int":
            self.i += 1
            if len(val) > MAX_DIGITS:
                raise ValueError("integer literal too long")
            return int(val)
        if kind == "str":
            self.i += 1
            return val[1:-1]
        if kind != "name":
            raise ValueError(f"unexpected {val!r}")
        self.i += 1
        if val in CONSTANTS:
            return CONSTANTS[val]
        if self.peek() != ("punct", "("):
            raise ValueError(f"bare name {val!r} not allowed")
        pos, kw = self.args(depth)
        if val in ("Symbol", "Dummy"):
            if len(pos) != 1 or not isinstance(pos[0], str) or val == "Dummy":
                raise ValueError("Symbol needs one quoted name")
            return sp.Symbol(pos[0], **kw)
        if val == "Integer":
            if len(pos) != 1 or type(pos[0]) is not int or kw:
                raise ValueError("Integer needs one integer")
            return sp.Integer(pos[0])
        if val == "Rational":
            if len(pos) != 2 or any(type(x) is not int for x in pos) or kw or pos[1] == 0:
                raise ValueError("Rational needs two integers")
            return sp.Rational(pos[0], pos[1])
        if val == "Function":
            if len(pos) != 1 or not isinstance(pos[0], str) or kw:
                raise ValueError("Function needs one quoted name")
            f = sp.Function(pos[0])
            if self.peek() != ("punct", "("):
                raise ValueError("undefined function must be applied")
            fargs, fkw = self.args(depth)
            if fkw or not fargs or not all(isinstance(x, sp.Basic) for x in fargs):
                raise ValueError("bad function arguments")
            return f(*fargs)
        if val not in NODES:
            raise ValueError(f"node type {val!r} is not in the whitelist")
        if val == "IndexedBase":
            if len(pos) != 1 or not isinstance(pos[0], sp.Symbol):
                raise ValueError("IndexedBase needs one symbol")
            return sp.IndexedBase(pos[0], **kw)
        if kw:
            raise ValueError(f"{val} takes no keywords")
        if not all(isinstance(x, sp.Basic) for x in pos):
            raise ValueError(f"{val} arguments must be expressions")
        if val == "Pow" and len(pos) == 2 and pos[1].is_Integer and abs(pos[1]) > MAX_EXPONENT:
            raise ValueError("integer exponent too large")
        return NODES[val](*pos)


def parse_srepr(text: str) -> sp.Basic:
    """Parse ``srepr`` text through the whitelist (module docstring).

    Parameters
    ----------
    text : str
        Output of :func:`sympy.srepr` for an expression built from :data:`NODES`,
        :data:`CONSTANTS`, ``Symbol``, ``Integer``, ``Rational`` and undefined functions.

    Returns
    -------
    sympy.Basic
        The expression; ``parse_srepr(srepr(e)) == e`` for such expressions.

    Raises
    ------
    ValueError
        For any text outside the grammar (never evaluates it).
    """
    p = _Parser(text)
    out = p.value(0)
    if p.i != len(p.toks):
        raise ValueError("trailing text after the expression")
    if not isinstance(out, sp.Basic):
        raise ValueError("not an expression")
    return out
