"""A safe expression language for user target functions, and evaluators for it.

A user writes the target function as text, e.g. ``exp(-(x**2 + y**2))``.  The text is
untrusted: :func:`parse` never evaluates it; it walks Python's syntax tree of the text
(``ast.parse(text, mode="eval")``) through a whitelist and builds an :class:`Expr`, an
immutable tree whose numbers are exact rationals.

Grammar accepted by :func:`parse`:

* numbers written in the text (``3``, ``0.1``, ``1e-3``), kept as the exact rational of
  their decimal text (``0.1`` is 1/10, not the float nearest to it);
* ``+ - * /`` (binary), unary ``-`` and ``+``, and ``a ** q`` where ``q`` is a constant
  rational expression (``2``, ``-1``, ``1/3``); ``E ** u`` is read as ``exp(u)``;
* the listed variables, ``pi`` and ``E``;
* ``sin cos tan atan exp log sqrt abs tanh`` (one argument), ``min max`` (two or more).

Everything else is refused with :class:`ExpressionError`, a one-line
:class:`~certify.errors.InputError`.

Derivatives (:func:`gradient`, :func:`hessian`) go through sympy (:func:`to_sympy`,
:func:`from_sympy`, both by constructors and node whitelists, never by parsing text).
Derivatives of ``abs``, ``min`` and ``max`` give the internal operations ``sign`` and
``heaviside``, which the evaluators enclose by their hull over an interval.

:func:`evaluate` walks a tree with an *ops* object that supplies the arithmetic.  This
module provides :class:`FloatOps` (float64 numpy, no guarantee), :class:`MpOps` (mpmath
reference values) and :class:`NumpyIntervalOps` (vectorised outward-rounded intervals on
numpy arrays, built on :mod:`certify.intervals`).  The checker's rigorous scalar ops (Arb
and pyinterval) are in :mod:`certify.check.expr_backends`.

This module imports nothing from the engine or the checker.
"""

from __future__ import annotations

import ast
import keyword
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

import numpy as np

from certify import intervals as iv
from certify.errors import InputError

#: Longest accepted expression text, in characters.
MAX_TEXT = 20000
#: Deepest accepted syntax tree (operators and calls nested in one another).
MAX_DEPTH = 200
#: Largest accepted |numerator| and denominator of an exponent of ``**``.
MAX_EXPONENT = 1000
#: Largest accepted size, in bits, of a number written in the text or folded in an exponent.
MAX_NUMBER_BITS = 4096
#: Largest accepted decimal exponent of a float literal (``1e400`` is fine, ``1e5000`` not).
MAX_DECIMAL_EXPONENT = 1000

#: Functions of one argument that the text may call.
UNARY_FUNCTIONS = ("sin", "cos", "tan", "atan", "exp", "log", "sqrt", "abs", "tanh")
#: Functions of two or more arguments that the text may call.
NARY_FUNCTIONS = ("min", "max")
#: Operations produced only by differentiation (not allowed in the text).
INTERNAL_FUNCTIONS = ("sign", "heaviside")
_CONSTANTS = ("pi", "E")
_RESERVED = frozenset(UNARY_FUNCTIONS + NARY_FUNCTIONS + INTERNAL_FUNCTIONS + _CONSTANTS)

_BINARY = ("add", "sub", "mul", "div")
_LEAVES = ("num", "var", "pi", "e")
OPS = _LEAVES + _BINARY + ("neg", "pow") + UNARY_FUNCTIONS + NARY_FUNCTIONS + INTERNAL_FUNCTIONS


class ExpressionError(InputError):
    """An expression text, a variable list or a sympy result that is refused (one line)."""


class EnclosureFailure(ArithmeticError):
    """An operation that cannot be enclosed on the given argument (e.g. ``log`` of a set
    containing 0).

    A scalar backend raises it with ``reason`` only; :func:`evaluate` re-raises it with
    ``where`` set to the text of the sub-expression, and the message reads
    ``"<where>: <reason>"``.
    """

    def __init__(self, reason: str, where: str | None = None) -> None:
        self.reason, self.where = reason, where
        super().__init__(reason if where is None else f"{where}: {reason}")


# --------------------------------------------------------------------------- the tree


@dataclass(frozen=True, eq=True)
class Expr:
    """A node of an expression tree (immutable and hashable).

    ``op`` is one of :data:`OPS`.  ``"num"`` has the exact rational ``value``; ``"var"`` has
    ``index`` (position in the variable list) and ``name``; ``"pow"`` has one argument and
    the rational exponent ``value``; ``"pi"`` and ``"e"`` are the constants; the other ops
    take their operands in ``args`` (``"min"``/``"max"`` two or more).  Trees may share
    nodes; equal trees compare and hash equal.
    """

    op: str
    args: tuple[Expr, ...] = ()
    value: Fraction | None = None
    index: int | None = None
    name: str | None = None
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown expression op {self.op!r}")
        # Hashing is recursive; caching it keeps memoised evaluation linear in the tree.
        object.__setattr__(self, "_hash",
                           hash((self.op, self.args, self.value, self.index, self.name)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self):
        # Rebuild through the constructor: the cached hash of strings differs between
        # processes (hash randomisation), so it must not travel in a pickle.
        return (Expr, (self.op, self.args, self.value, self.index, self.name))

    def __str__(self) -> str:
        return text(self)


def num(q: Fraction | int) -> Expr:
    """The constant ``q`` (exact)."""
    return Expr("num", value=Fraction(q))


def var(index: int, name: str | None = None) -> Expr:
    """Variable number ``index``; ``name`` is what :func:`text` shows (and is part of the
    node's equality)."""
    return Expr("var", index=index, name=name)


def _node(op: str, *args: Expr) -> Expr:
    return Expr(op, tuple(args))


def _pow(base: Expr, q: Fraction) -> Expr:
    return Expr("pow", (base,), value=Fraction(q))


def _postorder(expr: Expr) -> list[Expr]:
    """Distinct nodes of ``expr`` (by identity), each after its arguments; no recursion."""
    seen: set[int] = set()
    out: list[Expr] = []
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        node, done = stack.pop()
        if done:
            out.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((a, False) for a in reversed(node.args) if id(a) not in seen)
    return out


def size(expr: Expr) -> int:
    """Number of nodes of the tree (a node shared by several parents counts once per
    occurrence)."""
    counts: dict[int, int] = {}
    for node in _postorder(expr):
        counts[id(node)] = 1 + sum(counts[id(a)] for a in node.args)
    return counts[id(expr)]


def variables_used(expr: Expr) -> dict[int, str | None]:
    """The variable indices that occur in ``expr``, with their display names."""
    return {n.index: n.name for n in _postorder(expr) if n.op == "var"}


# ------------------------------------------------------------------------ rendering

_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4}
_ATOM = 5


def _decimal_places(den: int, limit: int = 60) -> int | None:
    """The least k with den | 10**k (None if there is none up to ``limit``)."""
    for k in range(limit + 1):
        if 10 ** k % den == 0:
            return k
    return None


def _fraction_text(q: Fraction) -> tuple[str, int]:
    sign_prec = _ATOM if q >= 0 else _PREC["neg"]
    if q.denominator == 1:
        return str(q.numerator), sign_prec
    k = _decimal_places(q.denominator)
    if k is not None:
        # A terminating decimal is written as one, so that parse() gives the number back.
        digits = str(abs(q.numerator) * (10 ** k // q.denominator)).rjust(k + 1, "0")
        return ("-" if q < 0 else "") + digits[:-k] + "." + digits[-k:], sign_prec
    return f"{q.numerator}/{q.denominator}", (_PREC["div"] if q > 0 else _PREC["neg"])


def text(expr: Expr, names: Sequence[str] | None = None) -> str:
    """A readable rendering of ``expr`` in the input grammar (plus ``sign``, ``heaviside``).

    Variables are shown by their ``name``, else ``names[index]``, else ``x<index>``.  For
    trees built by :func:`parse`, ``parse(text(e), variables)`` gives back ``e``.
    """
    rendered: dict[int, tuple[str, int]] = {}

    def wrap(node: Expr, need: int, strict: bool = False) -> str:
        s, p = rendered[id(node)]
        return f"({s})" if (p < need or (strict and p == need)) else s

    for node in _postorder(expr):
        op = node.op
        if op == "num":
            r = _fraction_text(node.value)
        elif op == "var":
            if node.name is not None:
                r = (node.name, _ATOM)
            elif names is not None and node.index < len(names):
                r = (names[node.index], _ATOM)
            else:
                r = (f"x{node.index}", _ATOM)
        elif op == "pi":
            r = ("pi", _ATOM)
        elif op == "e":
            r = ("E", _ATOM)
        elif op in ("add", "sub"):
            a, b = node.args
            sym = " + " if op == "add" else " - "
            r = (wrap(a, 1) + sym + wrap(b, 1, strict=True), 1)
        elif op in ("mul", "div"):
            a, b = node.args
            sym = "*" if op == "mul" else "/"
            r = (wrap(a, 2) + sym + wrap(b, 2, strict=True), 2)
        elif op == "neg":
            r = ("-" + wrap(node.args[0], 3, strict=True), 3)
        elif op == "pow":
            q = node.value
            qs = str(q.numerator) if (q.denominator == 1 and q >= 0) else f"({q})"
            r = (wrap(node.args[0], 4, strict=True) + "**" + qs, 4)
        else:
            r = (f"{op}(" + ", ".join(rendered[id(a)][0] for a in node.args) + ")", _ATOM)
        rendered[id(node)] = r
    return rendered[id(expr)][0]


def _short(s: str, limit: int = 120) -> str:
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


# -------------------------------------------------------------------------- parsing


def check_variables(variables: Sequence[str], where: str = "target.variables") -> tuple[str, ...]:
    """Validate a variable list: distinct identifiers, none of them reserved.

    Returns the names as a tuple; raises :class:`ExpressionError` otherwise.  A name must be
    a Python identifier in NFKC normal form (Python's parser normalises identifiers, so a
    non-normal name could never be matched), not a keyword, and not ``pi``, ``E`` or a
    function name.
    """
    if isinstance(variables, str) or not isinstance(variables, Sequence):
        raise ExpressionError(f"{where}: must be a list of names")
    names = tuple(variables)
    for v in names:
        if not isinstance(v, str) or not v.isidentifier() or keyword.iskeyword(v):
            raise ExpressionError(f"{where}: {v!r} is not a valid variable name")
        if unicodedata.normalize("NFKC", v) != v:
            raise ExpressionError(f"{where}: {v!r} is not in NFKC normal form")
        if v in _RESERVED:
            raise ExpressionError(f"{where}: {v!r} is reserved (a constant or function name)")
    if len(set(names)) != len(names):
        dup = next(v for v in names if names.count(v) > 1)
        raise ExpressionError(f"{where}: variable {dup!r} is listed twice")
    return names


_REFUSED_NODES = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "subscripts are not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "'and'/'or' are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.IfExp: "conditional expressions are not allowed",
    ast.NamedExpr: "assignment expressions are not allowed",
    ast.Starred: "starred arguments are not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.List: "lists are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
}
_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div"}
_OP_SYMBOLS = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<",
               ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&",
               ast.Invert: "~", ast.Not: "not"}


class _Parser:
    def __init__(self, source: str, variables: tuple[str, ...], where: str,
                 variables_where: str) -> None:
        self.source, self.where, self.variables_where = source, where, variables_where
        self.index = {v: i for i, v in enumerate(variables)}

    def fail(self, node: ast.AST | None, reason: str) -> ExpressionError:
        seg = ast.get_source_segment(self.source, node) if node is not None else None
        at = f" in '{_short(seg, 80)}'" if seg else ""
        return ExpressionError(f"{self.where}: {reason}{at}")

    def number(self, node: ast.Constant) -> Fraction:
        v = node.value
        if isinstance(v, bool):
            raise self.fail(node, "booleans are not numbers")
        if isinstance(v, int):
            if v.bit_length() > MAX_NUMBER_BITS:
                raise self.fail(node, "number too large")
            return Fraction(v)
        if isinstance(v, float):
            seg = ast.get_source_segment(self.source, node) or repr(v)
            try:
                d = Decimal(seg.replace("_", ""))
            except InvalidOperation:
                raise self.fail(node, "unreadable number") from None
            if not d.is_finite() or abs(d.adjusted()) > MAX_DECIMAL_EXPONENT:
                raise self.fail(node, "number out of range")
            return Fraction(d)
        if isinstance(v, complex):
            raise self.fail(node, "complex numbers are not allowed")
        if isinstance(v, (str, bytes)):
            raise self.fail(node, "strings are not allowed")
        raise self.fail(node, f"constant {v!r} is not allowed")

    def build(self, node: ast.AST, depth: int) -> Expr:
        if depth > MAX_DEPTH:
            raise ExpressionError(f"{self.where}: nested more than {MAX_DEPTH} levels deep")
        d = depth + 1
        if isinstance(node, ast.Constant):
            return num(self.number(node))
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return _node("neg", self.build(node.operand, d))
            if isinstance(node.op, ast.UAdd):
                return self.build(node.operand, d)
            raise self.fail(node, f"operator '{_OP_SYMBOLS.get(type(node.op), '?')}' "
                                  "is not allowed")
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Pow):
                return self.power(node, d)
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise self.fail(node, f"operator '{_OP_SYMBOLS.get(type(node.op), '?')}' "
                                      "is not allowed")
            return _node(op, self.build(node.left, d), self.build(node.right, d))
        if isinstance(node, ast.Call):
            return self.call(node, d)
        for kind, reason in _REFUSED_NODES.items():
            if isinstance(node, kind):
                raise self.fail(node, reason)
        raise self.fail(node, f"{type(node).__name__} is not allowed")

    def name(self, node: ast.Name) -> Expr:
        n = node.id
        if n in self.index:
            return var(self.index[n], n)
        if n == "pi":
            return Expr("pi")
        if n == "E":
            return Expr("e")
        if n in UNARY_FUNCTIONS or n in NARY_FUNCTIONS:
            raise self.fail(node, f"function '{n}' must be called with arguments")
        raise ExpressionError(
            f"{self.where}: variable '{n}' is not listed in {self.variables_where}")

    def power(self, node: ast.BinOp, d: int) -> Expr:
        exponent = self.build(node.right, d)
        try:
            q = _fold(exponent)
        except _FoldError as e:
            raise self.fail(node, str(e)) from None
        if q is None:
            if isinstance(node.left, ast.Name) and node.left.id == "E" \
                    and node.left.id not in self.index:
                return _node("exp", exponent)
            raise self.fail(node, "the exponent of '**' must be a constant rational number; "
                                  "write exp(b*log(a)) for a**b")
        if abs(q.numerator) > MAX_EXPONENT or q.denominator > MAX_EXPONENT:
            raise self.fail(node, f"exponent {q} too large (limit {MAX_EXPONENT})")
        return _pow(self.build(node.left, d), q)

    def call(self, node: ast.Call, d: int) -> Expr:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "only the listed functions may be called")
        f = node.func.id
        if f not in UNARY_FUNCTIONS and f not in NARY_FUNCTIONS:
            raise self.fail(node, f"unknown name '{f}'")
        if node.keywords:
            raise self.fail(node, f"'{f}' takes no keyword arguments")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(node, "starred arguments are not allowed")
        if f in UNARY_FUNCTIONS and len(node.args) != 1:
            raise self.fail(node, f"'{f}' takes exactly 1 argument ({len(node.args)} given)")
        if f in NARY_FUNCTIONS and len(node.args) < 2:
            raise self.fail(node, f"'{f}' takes 2 or more arguments ({len(node.args)} given)")
        return Expr(f, tuple(self.build(a, d) for a in node.args))


class _FoldError(Exception):
    pass


def _fold(expr: Expr) -> Fraction | None:
    """The exact value of a constant rational expression, or None if it is not one.

    Raises :class:`_FoldError` for a division by zero or a value too large.
    """
    op = expr.op
    if op == "num":
        return expr.value
    if op == "neg":
        a = _fold(expr.args[0])
        return None if a is None else -a
    if op in _BINARY:
        a, b = _fold(expr.args[0]), _fold(expr.args[1])
        if a is None or b is None:
            return None
        if op == "div" and b == 0:
            raise _FoldError("division by zero in the exponent")
        r = {"add": a + b, "sub": a - b, "mul": a * b, "div": a / b if b else None}[op]
    elif op == "pow":
        a, n = _fold(expr.args[0]), expr.value
        if a is None or n.denominator != 1:
            return None
        if a == 0 and n < 0:
            raise _FoldError("division by zero in the exponent")
        bits = max(a.numerator.bit_length(), a.denominator.bit_length())
        if bits * abs(n.numerator) > MAX_NUMBER_BITS:
            raise _FoldError("number too large in the exponent")
        r = a ** int(n)
    else:
        return None
    if max(r.numerator.bit_length(), r.denominator.bit_length()) > MAX_NUMBER_BITS:
        raise _FoldError("number too large in the exponent")
    return r


def parse(text: str, variables: Sequence[str], where: str = "target.expr",
          variables_where: str = "target.variables") -> Expr:
    """Parse untrusted text into an :class:`Expr`, without evaluating any of it.

    Parameters
    ----------
    text : str
        The expression (grammar in the module docstring), at most :data:`MAX_TEXT`
        characters and :data:`MAX_DEPTH` levels deep.
    variables : sequence of str
        The variable names; variable ``variables[i]`` becomes ``var(i)``.
    where, variables_where : str
        Names of the input fields, used as prefixes of error messages.

    Returns
    -------
    Expr
        A tree whose numbers are the exact rationals written in the text.

    Raises
    ------
    ExpressionError
        With one line naming the offending sub-expression and the reason, for anything
        outside the grammar, bad variable lists, and over-long or over-deep text.
    """
    names = check_variables(variables, variables_where)
    if not isinstance(text, str):
        raise ExpressionError(f"{where}: must be a string")
    if len(text) > MAX_TEXT:
        raise ExpressionError(f"{where}: longer than {MAX_TEXT} characters")
    if not text.strip():
        raise ExpressionError(f"{where}: empty expression")
    try:
        with warnings.catch_warnings():
            # e.g. "'str' object is not callable" warnings: the text is refused anyway.
            warnings.simplefilter("ignore")
            tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        col = f" at column {e.offset}" if e.offset else ""
        raise ExpressionError(f"{where}: syntax error{col}: {_short(str(e.msg), 80)}") from None
    except (RecursionError, MemoryError, ValueError) as e:
        raise ExpressionError(f"{where}: expression too complex or unreadable "
                              f"({type(e).__name__})") from None
    try:
        return _Parser(text, names, where, variables_where).build(tree.body, 0)
    except RecursionError:
        raise ExpressionError(f"{where}: nested too deeply") from None


# ---------------------------------------------------------------------------- sympy


def _sympy():
    import sympy

    return sympy


def symbols_for(d: int) -> tuple[Any, ...]:
    """Real sympy symbols for variables ``0..d-1``.

    Their names are private (``_v0``, ``_v1``, ...) so that they cannot collide with a
    user's variable names.
    """
    sp = _sympy()
    return tuple(sp.Symbol(f"_v{i}", real=True) for i in range(d))


def to_sympy(expr: Expr, symbols: Sequence[Any]) -> Any:
    """The sympy expression of ``expr``, built by constructors only.

    ``symbols[i]`` stands for variable ``i`` (use real symbols: :func:`symbols_for`).
    Numbers become ``sympy.Rational``; ``heaviside`` becomes ``sympy.Heaviside`` (whose
    value 1/2 at 0 lies in the hull ``[0, 1]`` that the evaluators use).  sympy may
    simplify on construction (e.g. ``sqrt(x**2)`` becomes ``Abs(x)``), always to an equal
    function on the set where ``expr`` is defined; constant parts that are undefined over
    the reals become ``zoo``, ``nan`` or complex numbers, which :func:`from_sympy` refuses.

    Raises
    ------
    ValueError or TypeError
        When a sympy constructor refuses its arguments (e.g. ``Min`` of ``zoo``).
    """
    sp = _sympy()
    funcs = {"sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "atan": sp.atan, "exp": sp.exp,
             "log": sp.log, "sqrt": sp.sqrt, "abs": sp.Abs, "tanh": sp.tanh,
             "sign": sp.sign, "heaviside": sp.Heaviside, "min": sp.Min, "max": sp.Max}
    out: dict[int, Any] = {}
    for node in _postorder(expr):
        a = [out[id(x)] for x in node.args]
        op = node.op
        if op == "num":
            r = sp.Rational(node.value.numerator, node.value.denominator)
        elif op == "var":
            if node.index >= len(symbols):
                raise ValueError(f"variable index {node.index} has no symbol")
            r = symbols[node.index]
        elif op == "pi":
            r = sp.pi
        elif op == "e":
            r = sp.E
        elif op == "add":
            r = sp.Add(a[0], a[1])
        elif op == "sub":
            r = sp.Add(a[0], sp.Mul(sp.Integer(-1), a[1]))
        elif op == "mul":
            r = sp.Mul(a[0], a[1])
        elif op == "div":
            r = sp.Mul(a[0], sp.Pow(a[1], sp.Integer(-1)))
        elif op == "neg":
            r = sp.Mul(sp.Integer(-1), a[0])
        elif op == "pow":
            q = node.value
            r = sp.Pow(a[0], sp.Rational(q.numerator, q.denominator))
        elif op in funcs:
            r = funcs[op](*a)
        else:  # pragma: no cover - guarded by Expr construction
            raise ValueError(f"unknown op {op!r}")
        out[id(node)] = r
    return out[id(expr)]


def from_sympy(sexpr: Any, symbols: Sequence[Any], names: Sequence[str] | None = None) -> Expr:
    """Convert a sympy expression back to an :class:`Expr` through a node whitelist.

    Accepted: ``Add``, ``Mul``, ``Pow`` with a rational exponent, ``Integer``/``Rational``,
    the given symbols (``symbols[i]`` -> variable ``i``, displayed as ``names[i]`` if given),
    ``pi``, ``E``, ``exp log sin cos tan atan tanh Abs Min Max sign`` and ``Heaviside`` (with
    an optional value at 0 that must be a rational in ``[0, 1]``).

    Raises
    ------
    ValueError
        For anything else: floats, infinities, ``nan``, ``zoo``, ``I``, ``Piecewise``,
        ``Derivative``, ``DiracDelta``, other functions or symbols, non-rational exponents.
    """
    sp = _sympy()
    index = {s: i for i, s in enumerate(symbols)}
    funcs = {sp.sin: "sin", sp.cos: "cos", sp.tan: "tan", sp.atan: "atan", sp.exp: "exp",
             sp.log: "log", sp.tanh: "tanh", sp.Abs: "abs", sp.sign: "sign",
             sp.Min: "min", sp.Max: "max"}
    memo: dict[Any, Expr] = {}

    def neg_coeff(t: Any) -> bool:
        c, _ = t.as_coeff_Mul()
        return bool(isinstance(c, sp.Rational) and c < 0)

    def conv(e: Any) -> Expr:
        hit = memo.get(e)
        if hit is not None:
            return hit
        r = build(e)
        memo[e] = r
        return r

    def build(e: Any) -> Expr:
        if isinstance(e, sp.Float):
            raise ValueError(f"floating-point number {e} in a sympy result")
        if isinstance(e, sp.Rational):  # Integer, Half, One, Zero, NegativeOne, ...
            return num(Fraction(int(e.p), int(e.q)))
        if e is sp.pi:
            return Expr("pi")
        if e is sp.E:
            return Expr("e")
        if isinstance(e, sp.Symbol):
            if e not in index:
                raise ValueError(f"unknown symbol {e} in a sympy result")
            i = index[e]
            return var(i, names[i] if names is not None and i < len(names) else e.name)
        if isinstance(e, sp.Add):
            terms = list(e.args)
            # Put a positive term first so the result reads "a - b" rather than "-b + a".
            terms.sort(key=neg_coeff)
            acc = conv(terms[0])
            for t in terms[1:]:
                if neg_coeff(t):
                    acc = _node("sub", acc, conv(sp.Mul(sp.Integer(-1), t)))
                else:
                    acc = _node("add", acc, conv(t))
            return acc
        if isinstance(e, sp.Mul):
            c, rest = e.as_coeff_Mul()
            if isinstance(c, sp.Rational) and c < 0:
                return _node("neg", conv(sp.Mul(-c, rest)))
            numer, denom = [], []
            for f in e.args:
                if isinstance(f, sp.Pow) and isinstance(f.exp, sp.Rational) and f.exp < 0:
                    denom.append(conv(sp.Pow(f.base, -f.exp)))
                elif isinstance(f, sp.Rational) and f.p == 1 and f.q != 1:
                    denom.append(num(int(f.q)))
                else:
                    numer.append(conv(f))
            acc = numer[0] if numer else num(1)
            for f in numer[1:]:
                acc = _node("mul", acc, f)
            if denom:
                den = denom[0]
                for f in denom[1:]:
                    den = _node("mul", den, f)
                acc = _node("div", acc, den)
            return acc
        if isinstance(e, sp.Pow):
            q = e.exp
            if not isinstance(q, sp.Rational):
                if e.base is sp.E:
                    return _node("exp", conv(q))
                raise ValueError(f"non-rational exponent in {e}")
            if q == sp.Rational(1, 2):
                return _node("sqrt", conv(e.base))
            return _pow(conv(e.base), Fraction(int(q.p), int(q.q)))
        if isinstance(e, sp.Heaviside):
            if len(e.args) == 2:
                h0 = e.args[1]
                if not (isinstance(h0, sp.Rational) and 0 <= h0 <= 1):
                    raise ValueError(f"Heaviside value at 0 must be a rational in [0, 1]: {e}")
            elif len(e.args) != 1:
                raise ValueError(f"unexpected {e}")
            return _node("heaviside", conv(e.args[0]))
        f = getattr(e, "func", None)
        if f in funcs:
            args = [conv(a) for a in e.args]
            name = funcs[f]
            if name in ("min", "max"):
                if len(args) < 2:
                    raise ValueError(f"{name} with fewer than 2 arguments: {e}")
            elif len(args) != 1:
                raise ValueError(f"{name} with {len(args)} arguments: {e}")
            return Expr(name, tuple(args))
        raise ValueError(f"unsupported sympy expression {type(e).__name__}: {_short(str(e))}")

    allowed = (sp.Float, sp.Rational, sp.Symbol, sp.Add, sp.Mul, sp.Pow, sp.Heaviside)

    def check(e: Any) -> None:
        if not (isinstance(e, allowed) or e is sp.pi or e is sp.E
                or getattr(e, "func", None) in funcs):
            raise ValueError(f"unsupported sympy expression {type(e).__name__}: "
                             f"{_short(str(e))}")

    # Post-order traversal without Python recursion over deep sympy trees; a node is
    # checked against the whitelist before its arguments are visited.
    stack = [(sexpr, False)]
    while stack:
        e, ready = stack.pop()
        if e in memo:
            continue
        if ready:
            memo[e] = build(e)
        else:
            check(e)
            stack.append((e, True))
            stack.extend((a, False) for a in getattr(e, "args", ()) if a not in memo)
    return memo[sexpr]


def _derivative_names(expr: Expr, d: int) -> list[str]:
    used = variables_used(expr)
    return [used.get(i) or f"x{i}" for i in range(d)]


def _sympy_of_target(expr: Expr, syms: Sequence[Any], what: str) -> Any:
    try:
        return to_sympy(expr, syms)
    except (ValueError, TypeError) as e:
        raise ExpressionError(f"{what} cannot be differentiated: {_short(str(e), 120)}; "
                              "give construction.lipschitz") from None


def _convert_derivative(sexpr: Any, syms: Sequence[Any], names: Sequence[str], what: str) -> Expr:
    try:
        return from_sympy(sexpr, syms, names)
    except ValueError as e:
        raise ExpressionError(f"{what} cannot be differentiated: {_short(str(e), 120)}; "
                              "give construction.lipschitz") from None


def gradient(expr: Expr, d: int) -> tuple[Expr, ...]:
    """The partial derivatives of ``expr`` with respect to variables ``0..d-1``.

    Computed by ``sympy.diff`` on :func:`to_sympy` with real symbols.  Where ``expr`` is
    smooth the result is the classical derivative; at kinks of ``abs``, ``min``, ``max``
    it contains ``sign`` / ``heaviside`` terms whose interval hulls enclose every one-sided
    derivative.  Each derivative is defined (and equal to the derivative) at least where
    ``expr`` is differentiable and its sub-expressions are in their domains.

    Raises
    ------
    ExpressionError
        When sympy produces anything outside :func:`from_sympy`'s whitelist (``Piecewise``,
        ``Derivative``, ``Subs``, ``DiracDelta``, ...).
    """
    sp = _sympy()
    syms = symbols_for(d)
    names = _derivative_names(expr, d)
    what = f"target '{_short(text(expr), 80)}'"
    f = _sympy_of_target(expr, syms, what)
    return tuple(_convert_derivative(sp.diff(f, s), syms, names, what) for s in syms)


def hessian(expr: Expr, d: int) -> list[list[Expr]]:
    """The second partial derivatives ``H[i][j] = d^2 expr / dx_i dx_j`` (as
    :func:`gradient`; ``abs``, ``min``, ``max`` give ``DiracDelta`` and are refused).

    Raises
    ------
    ExpressionError
        As :func:`gradient`.
    """
    sp = _sympy()
    syms = symbols_for(d)
    names = _derivative_names(expr, d)
    what = f"target '{_short(text(expr), 80)}'"
    f = _sympy_of_target(expr, syms, what)
    rows = []
    for si in syms:
        fi = sp.diff(f, si)
        rows.append([_convert_derivative(sp.diff(fi, sj), syms, names, what) for sj in syms])
    return rows


# ------------------------------------------------------------------------ evaluation


def evaluate(expr: Expr, x: Sequence[Any], ops: Any) -> Any:
    """Evaluate ``expr`` with the arithmetic of ``ops`` at ``x`` (``x[i]`` is variable i).

    ``ops`` supplies ``const(q)``, ``pi()``, ``e()``, ``add sub mul div min max`` (two
    arguments), ``neg exp log sqrt sin cos tan atan tanh abs sign heaviside`` (one),
    ``pow_int(a, n)`` and ``pow_frac(a, q)``.  ``min``/``max`` of several arguments are
    folded left.  Repeated sub-trees are evaluated once per call.  If ``ops`` is
    inclusion isotone (every operation encloses its exact result for all arguments in
    its input sets), the result encloses ``expr`` at every point of the box ``x``.

    Raises
    ------
    EnclosureFailure
        If an operation cannot be enclosed; the message names the sub-expression, e.g.
        ``log(x - 1): argument may be <= 0``.  ``ArithmeticError`` raised by an op
        (e.g. ``ZeroDivisionError``) is reported the same way.
    """
    memo: dict[Expr, Any] = {}
    for node in _postorder(expr):
        if node in memo:
            continue
        try:
            memo[node] = _apply(node, [memo[a] for a in node.args], x, ops)
        except EnclosureFailure as e:
            if e.where is not None:
                raise
            raise EnclosureFailure(e.reason, _short(text(node))) from None
        except ArithmeticError as e:
            raise EnclosureFailure(str(e) or type(e).__name__, _short(text(node))) from None
    return memo[expr]


def _apply(node: Expr, a: list[Any], x: Sequence[Any], ops: Any) -> Any:
    op = node.op
    if op == "num":
        return ops.const(node.value)
    if op == "var":
        if node.index >= len(x):
            raise ValueError(f"no value given for variable {node.index} ({node.name})")
        return x[node.index]
    if op == "pi":
        return ops.pi()
    if op == "e":
        return ops.e()
    if op == "pow":
        q = node.value
        if q.denominator == 1:
            return ops.pow_int(a[0], int(q))
        return ops.pow_frac(a[0], q)
    if op in ("min", "max"):
        f = getattr(ops, op)
        acc = a[0]
        for b in a[1:]:
            acc = f(acc, b)
        return acc
    if op in OPS:
        return getattr(ops, op)(*a)
    raise ValueError(f"unknown op {op!r}")


# ------------------------------------------------------------------- float and mpmath


class FloatOps:
    """Plain float64 numpy evaluation (vectorised; no error bound, NaN/inf possible).

    ``heaviside(0)`` is 1/2, ``sign(0)`` is 0.
    """

    def const(self, q: Fraction) -> float:
        return float(q)

    def pi(self) -> float:
        return np.pi

    def e(self) -> float:
        return np.e

    def add(self, a, b):
        return np.add(a, b)

    def sub(self, a, b):
        return np.subtract(a, b)

    def mul(self, a, b):
        return np.multiply(a, b)

    def div(self, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.divide(a, b)

    def neg(self, a):
        return np.negative(a)

    def pow_int(self, a, n: int):
        with np.errstate(all="ignore"):
            return np.power(np.asarray(a, dtype=float), float(n))

    def pow_frac(self, a, q: Fraction):
        with np.errstate(all="ignore"):
            return np.power(np.asarray(a, dtype=float), float(q))

    def _f(name):  # noqa: N805 - a helper that builds methods
        g = getattr(np, name)

        def method(self, a):
            with np.errstate(all="ignore"):
                return g(a)
        return method

    exp, log, sqrt = _f("exp"), _f("log"), _f("sqrt")
    sin, cos, tan, atan, tanh = _f("sin"), _f("cos"), _f("tan"), _f("arctan"), _f("tanh")
    abs, sign = _f("abs"), _f("sign")
    del _f

    def heaviside(self, a):
        return np.heaviside(a, 0.5)

    def min(self, a, b):
        return np.minimum(a, b)

    def max(self, a, b):
        return np.maximum(a, b)


class MpOps:
    """mpmath evaluation at ``prec_digits`` decimal digits (scalar; reference values).

    Uses a private mpmath context (the global ``mpmath.mp`` is untouched).  Values of
    ``x`` may be floats (converted exactly) or mpf.  Raises :class:`EnclosureFailure` for
    ``log`` of a number <= 0, ``sqrt`` of a negative, division by 0, ``tan`` at a pole
    (cannot happen for floats) and non-integer powers of negatives.  ``heaviside(0)`` is
    1/2, ``sign(0)`` is 0.
    """

    def __init__(self, prec_digits: int = 30) -> None:
        import mpmath

        self.ctx = mpmath.MPContext()
        self.ctx.dps = prec_digits

    def point(self, values: Sequence[float]) -> list[Any]:
        """The values as mpf numbers of this context (exact for floats)."""
        return [self.ctx.mpf(v) for v in values]

    def const(self, q: Fraction):
        return self.ctx.mpf(q.numerator) / q.denominator

    def pi(self):
        return +self.ctx.pi

    def e(self):
        return self.ctx.e + 0

    def add(self, a, b):
        return a + b

    def sub(self, a, b):
        return a - b

    def mul(self, a, b):
        return a * b

    def div(self, a, b):
        if b == 0:
            raise EnclosureFailure("division by zero")
        return a / b

    def neg(self, a):
        return -a

    def pow_int(self, a, n: int):
        if n < 0 and a == 0:
            raise EnclosureFailure("zero to a negative power")
        return self.ctx.power(a, n)

    def pow_frac(self, a, q: Fraction):
        if a < 0 or (a == 0 and q < 0):
            raise EnclosureFailure("base out of domain")
        if a == 0:
            return self.ctx.mpf(0)
        return self.ctx.exp(self.const(q) * self.ctx.log(a))

    def exp(self, a):
        return self.ctx.exp(a)

    def log(self, a):
        if a <= 0:
            raise EnclosureFailure("argument <= 0")
        return self.ctx.log(a)

    def sqrt(self, a):
        if a < 0:
            raise EnclosureFailure("argument < 0")
        return self.ctx.sqrt(a)

    def sin(self, a):
        return self.ctx.sin(a)

    def cos(self, a):
        return self.ctx.cos(a)

    def tan(self, a):
        if self.ctx.cos(a) == 0:
            raise EnclosureFailure("pole of tan")
        return self.ctx.tan(a)

    def atan(self, a):
        return self.ctx.atan(a)

    def tanh(self, a):
        return self.ctx.tanh(a)

    def abs(self, a):
        return abs(a)

    def sign(self, a):
        return self.ctx.mpf(self.ctx.sign(a))

    def heaviside(self, a):
        return self.ctx.mpf(1) if a > 0 else self.ctx.mpf(0) if a < 0 else self.ctx.mpf(0.5)

    def min(self, a, b):
        return min(a, b)

    def max(self, a, b):
        return max(a, b)


# ------------------------------------------------------------------ numpy intervals


def _finite(*ivs) -> np.ndarray:
    ok = True
    for lo, hi in ivs:
        ok = ok & np.isfinite(lo) & np.isfinite(hi)
    return np.asarray(ok)


def _out(lo, hi, ok) -> tuple[np.ndarray, np.ndarray]:
    """Set the elements that are not ``ok``, not finite or NaN to ``(-inf, inf)``."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    ok = ok & np.isfinite(lo) & np.isfinite(hi) & (lo <= hi)
    return np.where(ok, lo, -np.inf), np.where(ok, hi, np.inf)


class NumpyIntervalOps:
    """Vectorised outward-rounded interval arithmetic on pairs ``(lo, hi)`` of float64 arrays.

    Guarantee: for every element, the output interval contains the exact value of the
    operation at every point of the input intervals, or is ``(-inf, inf)``.  The infinite
    interval means *no enclosure* (the operation is undefined somewhere on the element's
    box, e.g. ``log`` of an interval reaching 0, a divisor interval containing 0, a pole
    of ``tan``, or an overflow); every operation maps an element with a non-finite
    endpoint to ``(-inf, inf)``, so "no enclosure" propagates to the final result (even
    through bounded functions such as ``sin``).  Nothing here raises for invalid boxes,
    and no output is NaN.

    Rounding: ``+ - * /`` and ``sqrt`` are widened by one ulp, ``exp`` by
    :data:`certify.intervals.EXP_ULPS`, ``log sin cos tan atan tanh`` by
    :data:`certify.intervals.FUNC_ULPS` (see :mod:`certify.intervals`).  ``abs``, ``min``,
    ``max``, ``sign`` and ``heaviside`` are exact on the end points; ``sign`` and
    ``heaviside`` return the hull of their values over the interval (``heaviside`` takes
    every value of ``[0, 1]`` at 0).
    """

    def const(self, q: Fraction):
        lo, hi = np.float64(iv.frac_down(q)), np.float64(iv.frac_up(q))
        return _out(lo, hi, True)

    def pi(self):
        # float(pi) = 3.14159265358979311... < pi < the next float.
        return np.asarray(np.pi), np.asarray(iv.up(np.float64(np.pi)))

    def e(self):
        # float(e) = 2.71828182845904509... < e < the next float.
        return np.asarray(np.e), np.asarray(iv.up(np.float64(np.e)))

    def add(self, a, b):
        return _out(*iv.add(*a, *b), _finite(a, b))

    def sub(self, a, b):
        return _out(*iv.sub(*a, *b), _finite(a, b))

    def mul(self, a, b):
        return _out(*iv.mul(*a, *b), _finite(a, b))

    def div(self, a, b):
        ok = _finite(a, b) & ((b[0] > 0) | (b[1] < 0))
        return _out(*iv.div(*a, *b), ok)

    def neg(self, a):
        return _out(-a[1], -a[0], _finite(a))

    def pow_int(self, a, n: int):
        ok = _finite(a)
        lo, hi = iv.pow_int(a[0], a[1], abs(n))
        r = _out(lo, hi, ok)
        return self.div(self.const(Fraction(1)), r) if n < 0 else r

    def pow_frac(self, a, q: Fraction):
        """``a**q`` for a non-integer rational ``q``: defined for ``a >= 0`` if ``q > 0``,
        for ``a > 0`` if ``q < 0``; computed as ``exp(q * log(a))`` at the end points."""
        lo, hi = a
        ok = _finite(a) & ((lo >= 0) if q > 0 else (lo > 0))
        ql, qh = np.float64(iv.frac_down(q)), np.float64(iv.frac_up(q))

        def bounds(x):
            with np.errstate(all="ignore"):
                plo, phi = iv.mul(ql, qh, iv.log_down(x), iv.log_up(x))
                return iv.exp_down(plo), iv.exp_up(phi)

        safe_lo = np.where(lo > 0, lo, 1.0)
        safe_hi = np.where(hi > 0, hi, 1.0)
        l_lo, l_hi = bounds(safe_lo)
        h_lo, h_hi = bounds(safe_hi)
        if q > 0:
            rlo = np.where(lo > 0, l_lo, 0.0)
            rhi = np.where(hi > 0, h_hi, 0.0)
        else:
            rlo, rhi = h_lo, l_hi
        return _out(rlo, rhi, ok)

    def exp(self, a):
        return _out(iv.exp_down(a[0]), iv.exp_up(a[1]), _finite(a))

    def log(self, a):
        ok = _finite(a) & (a[0] > 0)
        return _out(iv.log_down(a[0]), iv.log_up(a[1]), ok)

    def sqrt(self, a):
        ok = _finite(a) & (a[0] >= 0)
        return _out(iv.sqrt_down(a[0]), iv.sqrt_up(a[1]), ok)

    def sin(self, a):
        return _out(*iv.sin(*a), _finite(a))

    def cos(self, a):
        return _out(*iv.cos(*a), _finite(a))

    def tan(self, a):
        return _out(*iv.tan(*a), _finite(a))

    def atan(self, a):
        with np.errstate(all="ignore"):
            return _out(*iv.atan(*a), _finite(a))

    def tanh(self, a):
        with np.errstate(all="ignore"):
            return _out(*iv.tanh(*a), _finite(a))

    def abs(self, a):
        lo, hi = a
        rlo = np.where(lo >= 0, lo, np.where(hi <= 0, -hi, 0.0))
        rhi = np.maximum(np.abs(lo), np.abs(hi))
        return _out(rlo, rhi, _finite(a))

    def sign(self, a):
        lo, hi = a
        rlo = np.where(lo > 0, 1.0, np.where(lo == 0, 0.0, -1.0))
        rhi = np.where(hi < 0, -1.0, np.where(hi == 0, 0.0, 1.0))
        return _out(rlo, rhi, _finite(a))

    def heaviside(self, a):
        lo, hi = a
        return _out(np.where(lo > 0, 1.0, 0.0), np.where(hi < 0, 0.0, 1.0), _finite(a))

    def min(self, a, b):
        return _out(np.minimum(a[0], b[0]), np.minimum(a[1], b[1]), _finite(a, b))

    def max(self, a, b):
        return _out(np.maximum(a[0], b[0]), np.maximum(a[1], b[1]), _finite(a, b))


def enclose_numpy(expr: Expr, lo_list: Sequence[Any], hi_list: Sequence[Any]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Enclose ``expr`` on a batch of boxes with :class:`NumpyIntervalOps`.

    Parameters
    ----------
    expr : Expr
    lo_list, hi_list : sequences of arrays
        ``lo_list[i]``, ``hi_list[i]`` are the bounds of variable ``i`` on each box
        (broadcast together).

    Returns
    -------
    (lo, hi) : float64 arrays of the broadcast shape
        For each box, ``[lo, hi]`` contains ``expr(x)`` for every ``x`` in the box, or is
        ``(-inf, inf)`` (no enclosure: ``expr`` may be undefined on the box, the box is
        empty or has NaN or infinite bounds, or a value overflows).  Never NaN.
    """
    los = [np.asarray(v, dtype=float) for v in lo_list]
    his = [np.asarray(v, dtype=float) for v in hi_list]
    shape = np.broadcast_shapes(*(v.shape for v in los + his)) if los else ()
    x = [_out(lo, hi, True) for lo, hi in zip(los, his)]
    lo, hi = evaluate(expr, x, NumpyIntervalOps())
    return (np.broadcast_to(lo, shape).astype(float, copy=True),
            np.broadcast_to(hi, shape).astype(float, copy=True))
