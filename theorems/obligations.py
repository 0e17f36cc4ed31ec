"""Proof obligations: their kinds, their payloads and the only dischargers that exist.

An :class:`Obligation` is an id, a one-line statement and a *payload*; the payload's type
fixes the obligation's kind and the discharger that runs it.  There are exactly six kinds
(:data:`KINDS`) and every discharger is rigorous or reports honestly:

``identity``  (:class:`Identity`, :func:`discharge_identity`)
    A list of :class:`Fact` s.  An equation ``lhs == rhs`` holds when sympy reduces
    ``lhs - rhs`` (after ``doit()``, so limits and sums are evaluated) to exactly ``0``.  An
    inequality ``lhs >= rhs`` needs a *certificate* ``C``: sympy must reduce
    ``lhs - rhs - C`` to ``0`` and establish ``C >= 0`` exactly, either from its symbols'
    assumptions (``C.is_nonnegative is True``, every denominator ``is_positive``) or by one
    monotonicity step: ``C = c(v)`` at ``v = at >= 0`` with ``c(0) >= 0`` and
    ``c'(v) >= 0`` for all ``v >= 0`` (both by assumptions), hence ``c(at) >= 0`` by the
    fundamental theorem of calculus (``c`` contains no ``Abs``, ``Max``, ``sign``, ... and
    ``c``, ``c'`` have positive denominators, so they are continuous on ``[0, oo)``); or,
    for a certificate that is one finite ``Sum``, by proving its summand nonnegative in
    either way.  A numeric spot check never discharges anything.
``inequality``  (:class:`Inequality`, :func:`discharge_inequality`)
    ``expr <= bound`` for all parameters in a box, by interval branch and bound in
    python-flint Arb ball arithmetic: bisect until every sub-box's enclosure is decided;
    where a gradient enclosure has a sign the box is reduced to the corresponding face
    (monotonicity test).  A sub-box whose enclosure lies entirely above the bound is a
    disproof (status ``failed``); running out of budget gives ``failed`` with reason
    ``undecided``.
``construction``  (:class:`Construction`, :func:`discharge_construction`)
    The stored binary64 matrices of a network, converted exactly to rationals
    (``sympy.Rational(float)`` is exact), multiplied symbolically with a symbol for every
    input entry; each :class:`Claim` compares a score, a score difference or a value with
    its intended expression exactly, or up to an explicit rational tolerance on a difference
    that must be free of the input symbols.
``reduction``  (:class:`Reduction`, :func:`discharge_reduction`)
    Output column k depends on ``X`` only through the affine scalar ``y_k``: every softmax
    input (score) and every value that output column k reads has its gradient, with respect
    to all input entries, parallel to the constant gradient of ``y_k`` (all 2x2 minors
    vanish exactly).  A polynomial whose gradient is everywhere parallel to a fixed nonzero
    vector is constant on the hyperplanes ``y_k = const`` (they are connected), hence a
    function of ``y_k``.
``instance``  (:class:`Instance`, :func:`discharge_instance`)
    A certificate object accepted by the independent checker
    ``certify.check.verify.check_certificate`` (imported lazily; if it cannot be imported
    the status is ``failed`` with that reason, never skipped).
``open``  (:class:`Open`, :func:`discharge_open`)
    Not implemented or not mechanised (the reason says which); the status is
    always ``open``, never proved.

Statuses: ``proved-symbolic`` (identity, construction, reduction), ``verified-interval``
(inequality, instance), ``open``, ``failed``.  No sampling-based discharger exists, and
:class:`Obligation` refuses any payload type that is not one of the six above.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp
from flint import arb, ctx

from certify.network import (
    Attention,
    AttentionNet,
    SelectColumns,
    SequenceAffine,
    TokenAffine,
)

KINDS: tuple[str, ...] = ("identity", "inequality", "construction", "reduction", "instance",
                          "open")
STATUSES: tuple[str, ...] = ("proved-symbolic", "verified-interval", "open", "failed")
STATUS_TEXT: dict[str, str] = {"proved-symbolic": "proved symbolically",
                               "verified-interval": "verified by interval arithmetic",
                               "open": "open", "failed": "FAILED"}


@dataclass(frozen=True)
class Result:
    """Outcome of one discharge: a status of :data:`STATUSES`, a reason, the wall time."""

    status: str
    detail: str
    seconds: float

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    @property
    def ok(self) -> bool:
        """True for ``proved-symbolic`` and ``verified-interval``."""
        return self.status in ("proved-symbolic", "verified-interval")


# =========================================================================================
# identity
# =========================================================================================

@dataclass(frozen=True)
class Fact:
    """``lhs == rhs`` or ``lhs >= rhs`` with a nonnegativity certificate (module docstring).

    For ``relation == ">="``: ``certificate`` is ``C`` (an expression in ``via`` when ``via``
    is given, else already the final certificate) and ``lhs - rhs == C|_{via=at}``.  With
    ``termwise`` the certificate is one ``Sum`` whose summand is proved nonnegative (with
    ``at`` possibly depending on the summation index).
    """

    lhs: sp.Expr
    rhs: sp.Expr
    relation: str = "=="
    certificate: sp.Expr | None = None
    via: sp.Symbol | None = None
    at: sp.Expr | None = None
    label: str = ""
    termwise: bool = False


def _sym(x: Any) -> sp.Expr:
    """``x`` (a sympy object or a number, never text) as a sympy object: obligations are
    built from code, and text must never reach sympify."""
    if isinstance(x, (str, bytes)):
        raise TypeError("an obligation takes sympy objects or numbers, not text")
    return sp.sympify(x)


def equal(lhs: Any, rhs: Any, label: str = "") -> Fact:
    """The fact ``lhs == rhs``.

    Parameters
    ----------
    lhs, rhs : sympy expression or number
        Sides of the equation; ``Limit``/``Sum`` objects are evaluated by ``doit``.
    label : str
        Name used in failure messages.

    Returns
    -------
    Fact
        Proved by :func:`prove_fact` only if sympy reduces ``lhs - rhs`` to exactly 0.
    """
    return Fact(_sym(lhs), _sym(rhs), "==", label=label)


def at_least(lhs: Any, rhs: Any, certificate: Any, via: sp.Symbol | None = None,
             at: Any = None, label: str = "", termwise: bool = False) -> Fact:
    """The fact ``lhs >= rhs`` with a nonnegativity certificate.

    Parameters
    ----------
    lhs, rhs : sympy expression or number
        The claim is ``lhs >= rhs`` for all values of the symbols allowed by their assumptions.
    certificate : sympy expression
        ``C`` with ``lhs - rhs == C`` (or ``C|_{via=at}``); must be provably nonnegative.
    via : sympy.Symbol, optional
        A symbol declared ``nonnegative``: ``C >= 0`` is then proved by monotonicity in ``via``
        from ``via = 0`` (``C(0) >= 0``, ``dC/dvia >= 0``, ``C`` smooth without poles).
    at : sympy expression, optional
        The value of ``via`` in the claim; it must be provably nonnegative.
    label : str
        Name used in failure messages.
    termwise : bool
        ``C`` is one finite ``Sum`` whose summand is proved nonnegative.

    Returns
    -------
    Fact
    """
    return Fact(_sym(lhs), _sym(rhs), ">=", _sym(certificate), via,
                None if at is None else _sym(at), label, termwise)


@dataclass(frozen=True)
class Identity:
    """Payload of an ``identity`` obligation: every fact must be proved exactly.

    ``premise_bounds`` holds, for an entailment that *applies* a premise's bound
    (:func:`premise_bound`), the bound each premise node exports, by node id; every fact is
    proved after :func:`resolve_bounds` has put those bounds in.  It is not exported: replay
    reads the bounds from the exported premise nodes instead.
    """

    facts: tuple[Fact, ...]
    premise_bounds: tuple[tuple[str, sp.Expr], ...] = ()


#: Prefix of the names by which an entailment refers to the bound a premise node exports:
#: a symbol ``bound:<id>`` (the bound as a whole, any value) or an applied function
#: ``bound:<id>(p1, v1, ..., pk, vk)`` (the bound with its parameters ``p_i`` set to ``v_i``).
BOUND_PREFIX = "bound:"


def premise_bound(node_id: str, *pairs: tuple[sp.Symbol, Any]) -> sp.Expr:
    """The bound node ``node_id`` exports with parameter ``p`` set to ``v`` for each pair.

    Parameters
    ----------
    node_id : str
        The premise; it must be among the entailment's ``uses``.
    *pairs : (sympy.Symbol, sympy expression)
        Parameters of the exported bound (free symbols of it) and their values.

    Returns
    -------
    sympy expression
        The unevaluated application ``bound:<id>(p1, v1, ...)``; :func:`resolve_bounds`
        replaces it by the exported bound with the parameters substituted.
    """
    args = [x for p, v in pairs for x in (p, _sym(v))]
    if not args:
        raise ValueError("an applied premise bound needs at least one parameter")
    return sp.Function(BOUND_PREFIX + node_id)(*args)


def applied_bounds(expr: sp.Basic) -> set[sp.Expr]:
    """The applications ``bound:<id>(...)`` occurring in ``expr``."""
    return {a for a in expr.atoms(sp.core.function.AppliedUndef)
            if a.func.__name__.startswith(BOUND_PREFIX)}


def bound_variables(expr: sp.Basic) -> set[sp.Symbol]:
    """Every symbol bound somewhere in ``expr``: summation and product indices, integration
    variables, and the variable of a ``Limit``."""
    out: set[sp.Symbol] = set()
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.concrete.expr_with_limits.ExprWithLimits):
            out |= set(node.variables)
        elif isinstance(node, sp.Limit):
            out.add(node.args[1])
    return out


def satisfies_assumptions(value: sp.Basic, param: sp.Symbol) -> bool:
    """Whether sympy establishes for ``value`` every assumption that holds for ``param``
    (``param.assumptions0``: integer, positive, nonnegative, finite, ...)."""
    return all(getattr(value, f"is_{key}", None) is truth
               for key, truth in param.assumptions0.items() if truth is True)


def resolve_bounds(expr: sp.Basic, exports: dict[str, sp.Expr]) -> sp.Basic:
    """``expr`` with every ``bound:<id>(p1, v1, ..., pk, vk)`` replaced by the bound node
    ``<id>`` exports, its parameters ``p_i`` set to ``v_i`` simultaneously.

    Parameters
    ----------
    expr : sympy expression
    exports : dict
        Exported bound by node id.

    Returns
    -------
    sympy expression
        Equal to ``expr`` read with each application standing for its premise's bound.

    Raises
    ------
    ValueError
        If a node has no exported bound, the arguments are not pairs of distinct symbols
        and values, a ``p_i`` is not a free symbol of the bound or is also bound in it (a
        summation index cannot be set), a value mentions a bound variable of the bound (it
        would be captured) or another application, a sum in ``expr`` binds a symbol of the
        bound other than the parameters set, a value is not known to satisfy every
        assumption of its parameter (a nonnegative u, a positive integer M: the premise is
        proved only there), or the bound itself names a premise bound.
    """
    rules: dict[sp.Expr, sp.Expr] = {}
    binders = bound_variables(expr)
    for a in applied_bounds(expr):
        nid = a.func.__name__[len(BOUND_PREFIX):]
        if nid not in exports:
            raise ValueError(f"no exported bound of {nid!r} to apply")
        bound = exports[nid]
        if applied_bounds(bound) or any(str(x).startswith(BOUND_PREFIX)
                                         for x in bound.free_symbols):
            raise ValueError(f"the bound of {nid} refers to other premises' bounds")
        params, values = a.args[0::2], a.args[1::2]
        if not a.args or len(a.args) % 2 or len(set(params)) != len(params) \
                or not all(isinstance(p, sp.Symbol) for p in params):
            raise ValueError(f"{a}: arguments must be distinct symbols, each with a value")
        free = bound.free_symbols
        captured = bound_variables(bound)
        for p, v in zip(params, values, strict=True):
            if p not in free or p in captured:
                raise ValueError(f"{a}: {p} is not a parameter of the bound of {nid}")
            if v.free_symbols & captured or applied_bounds(v):
                raise ValueError(f"{a}: the value {v} would be captured or is not plain")
            if not satisfies_assumptions(v, p):
                raise ValueError(f"{a}: the value {v} is not known to satisfy the "
                                 f"assumptions of {p} ({_declared(p)})")
        if (free - set(params)) & binders:
            raise ValueError(f"{a}: a sum here binds a symbol of the bound of {nid} "
                             f"({sorted(map(str, (free - set(params)) & binders))})")
        rules[a] = bound.xreplace(dict(zip(params, values, strict=True)))
    return expr.xreplace(rules) if rules else expr


def _declared(p: sp.Symbol) -> str:
    keys = ("integer", "positive", "nonnegative", "real", "finite")
    return ", ".join(k for k in keys if p.assumptions0.get(k) is True) or "none"


def resolve_fact(f: Fact, exports: dict[str, sp.Expr]) -> Fact:
    """``f`` with :func:`resolve_bounds` applied to its sides, certificate and ``at``."""
    r = lambda e: None if e is None else resolve_bounds(e, exports)  # noqa: E731
    return Fact(r(f.lhs), r(f.rhs), f.relation, r(f.certificate), f.via, r(f.at), f.label,
                f.termwise)


def is_zero(expr: sp.Expr) -> bool:
    """Whether sympy reduces ``expr`` (after ``doit``) to exactly ``0``.

    Parameters
    ----------
    expr : sympy expression

    Returns
    -------
    bool
        True only if every sum in ``expr`` stays within its index's assumptions
        (:func:`sums_respect_assumptions`) and ``expand``, ``simplify`` or
        ``simplify(expand(powsimp(...)))`` returns 0, or the sums cancel by linearity
        (:func:`_zero_by_merged_sums`); each is an equivalence transformation, so True is a
        proof that ``expr == 0``.  False means "not proved", not "nonzero".
    """
    if isinstance(expr, (str, bytes)):  # replayed expressions come from the whitelist parser
        raise TypeError("is_zero takes a sympy expression, not text")
    expr = sp.sympify(expr)
    if not sums_respect_assumptions(expr):
        return False
    e = expr.doit()
    if e == 0 or _zero_by_merged_sums(e):
        return True
    for step in (sp.expand, sp.simplify,
                 lambda x: sp.simplify(sp.expand(sp.powsimp(sp.expand(x), force=False)))):
        try:
            if step(e) == 0:
                return True
        except (TypeError, ValueError, NotImplementedError, RecursionError):
            continue
    return False


#: Assumptions of a summation index and which limit must have them so that every index
#: value ``lo, lo + 1, ..., hi`` has them: kept upwards (check ``lo``), downwards (``hi``),
#: or by adding integers (``lo``); ``finite`` needs both.  Any other assumption (``nonzero``
#: without a sign, ``even``, ``prime``, ...) is refused.
_UP = frozenset({"positive", "extended_positive", "nonnegative", "extended_nonnegative"})
_DOWN = frozenset({"negative", "extended_negative", "nonpositive", "extended_nonpositive"})
_SHIFT = frozenset({"commutative", "complex", "hermitian", "real", "extended_real",
                    "integer", "rational", "algebraic"})


def sums_respect_assumptions(expr: sp.Basic) -> bool:
    """Whether every ``Sum`` in ``expr`` ranges only over values its index's assumptions
    allow, and no ``Limit`` is taken of a non-smooth expression: ``hi - lo`` an integer
    and ``hi - lo + 1 >= 0`` (a whole number of terms, no reversed range), and each
    assumption of the index holds at the limit that carries it to every index value
    (:data:`_UP`, :data:`_DOWN`, :data:`_SHIFT`; ``nonzero`` only together with a sign).

    Sympy simplifies a summand using the index's assumptions (``sqrt(k^2) = k`` for a
    positive k), so a sum whose range leaves them could be "proved" equal to a wrong value;
    such a sum is refused instead.  Sympy also takes one-sided limits at a jump of
    ``Heaviside``, ``sign``, ... wrongly (the limit of ``Heaviside(a x)`` as x -> 0+ is 1/2
    for every a), so such limits are refused too.
    """
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.Limit) and node.args[0].has(*_NOT_SMOOTH):
            return False
        if not isinstance(node, sp.Sum):
            continue
        for var, lo, hi in node.limits:
            if (hi - lo + 1).is_nonnegative is not True or (hi - lo).is_integer is not True:
                return False
            for key, truth in var.assumptions0.items():
                if truth is not True:
                    continue
                if key in ("nonzero", "extended_nonzero"):
                    ends = (lo,) if var.is_positive else (hi,) if var.is_negative else None
                elif key in _UP or key in _SHIFT:
                    ends = (lo,)
                elif key in _DOWN:
                    ends = (hi,)
                elif key == "finite":
                    ends = (lo, hi)
                else:
                    ends = None
                if ends is None or not all(getattr(x, f"is_{key}", None) is True
                                           for x in ends):
                    return False
    return True


def _zero_by_merged_sums(e: sp.Expr) -> bool:
    """True if ``e`` is proved 0 by linearity of finite sums: the terms of ``e`` that are
    ``c * Sum(f, L)`` (one summation, ``c`` free of its index) are grouped by their limits
    ``L``, each group's ``sum c f`` is proved 0 as a function of the index and the rest of
    ``e`` is proved 0.  ``Sum(f, L) + Sum(g, L) = Sum(f + g, L)`` holds for every finite sum
    (also under Karr's convention for reversed limits), so this is a proof; False means
    "not proved this way"."""
    groups: dict[Any, list[sp.Expr]] = {}
    rest: list[sp.Expr] = []
    for t in sp.Add.make_args(e):
        sums = [f for f in sp.Mul.make_args(t) if isinstance(f, sp.Sum)]
        if len(sums) != 1 or len(sums[0].limits) != 1:
            rest.append(t)
            continue
        s = sums[0]
        coeff = sp.Mul(*[f for f in sp.Mul.make_args(t) if f is not s])
        if s.limits[0][0] in coeff.free_symbols:
            return False
        groups.setdefault(s.limits, []).append(coeff * s.function)
    if not groups or (len(groups) == 1 and not rest and len(next(iter(groups.values()))) == 1):
        return False
    return all(is_zero(sp.Add(*fs)) for fs in groups.values()) and is_zero(sp.Add(*rest))


def _denominators_positive(expr: sp.Expr) -> bool:
    """Every denominator of ``together(expr)`` is positive by the symbols' assumptions."""
    _, den = sp.fraction(sp.together(expr))
    return den.is_positive is True or den == 1


def _nonnegative(expr: sp.Expr) -> bool:
    """``expr >= 0`` everywhere by sympy's assumptions, and ``expr`` has no pole."""
    return expr.is_nonnegative is True and _denominators_positive(expr)


#: Functions that may be discontinuous or non-differentiable: refused by the monotonicity rule.
_NOT_SMOOTH = (sp.Abs, sp.sign, sp.Heaviside, sp.Piecewise, sp.Max, sp.Min, sp.floor,
               sp.ceiling, sp.frac, sp.DiracDelta)


def _prove_nonneg(C: sp.Expr, via: sp.Symbol | None, at: sp.Expr | None) -> str:
    """Empty string if ``C|_{via=at} >= 0`` is proved exactly, else the reason."""
    if via is None:
        return "" if _nonnegative(C) else "sympy cannot establish certificate >= 0"
    if at is None or via.is_nonnegative is not True:
        return "the monotonicity variable must be declared nonnegative"
    if C.has(*_NOT_SMOOTH):
        return "the monotonicity rule needs a smooth certificate (no Abs, Max, sign, ...)"
    if not _nonnegative(at):
        return f"sympy cannot establish {at} >= 0"
    # The rule integrates over every real v in [0, at]: the checks must hold for all of
    # them, not only for the values via's own assumptions allow (an integer via would let
    # a pole between two integers through).
    z = sp.Dummy("z", nonnegative=True)
    C = C.xreplace({via: z})
    if not _nonnegative(sp.simplify(C.subs(z, 0))):
        return f"certificate at {via} = 0 is not provably >= 0"
    if not (_nonnegative(sp.diff(C, z)) and _denominators_positive(C)):
        return f"d(certificate)/d{via} is not provably >= 0 for every real {via} >= 0"
    return ""


def _same_limits_sums(*exprs: sp.Expr) -> bool:
    return all(isinstance(e, sp.Sum) for e in exprs) and \
        len({e.limits for e in exprs}) == 1


def prove_fact(f: Fact) -> tuple[bool, str]:
    """Prove one :class:`Fact` exactly.

    Parameters
    ----------
    f : Fact

    Returns
    -------
    (bool, str)
        ``(True, "")`` if proved (see the module docstring for the rules), else
        ``(False, reason)``.
    """
    name = f.label or f"{f.lhs} {f.relation} {f.rhs}"
    if not all(sums_respect_assumptions(e) for e in (f.lhs, f.rhs, f.certificate, f.at)
               if e is not None):
        return False, (f"a sum ranges beyond its index's assumptions (or a limit is of a "
                       f"non-smooth expression) in: {name}")
    if f.relation == "==":
        return (True, "") if is_zero(f.lhs - f.rhs) else (
            False, f"sympy does not reduce lhs - rhs to 0 in: {name}")
    if f.relation != ">=" or f.certificate is None:
        return False, f"malformed fact: {name}"
    C = f.certificate
    final = C if f.via is None else C.subs(f.via, f.at)
    if _same_limits_sums(f.lhs, f.rhs, final):
        # Sum(u) - Sum(v) - Sum(c) over identical limits is Sum(u - v - c): compare summands
        # (doit on a symbolic series can be slow and proves nothing more).
        same = is_zero(f.lhs.function - f.rhs.function - final.function)
    else:
        same = is_zero(f.lhs - f.rhs - final)
    if not same:
        return False, f"lhs - rhs is not the certificate in: {name}"
    if f.termwise:
        # A finite sum of nonnegative terms is nonnegative; Karr's convention makes
        # Sum(t, (i, lo, hi)) a sum over hi - lo + 1 >= 0 terms only when that is >= 0.
        if not isinstance(C, sp.Sum) or len(C.limits) != 1:
            return False, f"termwise certificate must be a single Sum in: {name}"
        _, lo, hi = C.limits[0]
        if (hi - lo + 1).is_nonnegative is not True:
            return False, f"the sum may have a negative number of terms in: {name}"
        why = _prove_nonneg(C.function, f.via, f.at)
    else:
        why = _prove_nonneg(C, f.via, f.at)
    return (True, "") if not why else (False, f"{why} in: {name}")


def discharge_identity(payload: Identity) -> tuple[str, str]:
    """Discharger of the ``identity`` kind.

    Parameters
    ----------
    payload : Identity

    Returns
    -------
    (str, str)
        ``("proved-symbolic", summary)`` if every fact, with its applied premise bounds
        resolved from ``payload.premise_bounds`` (:func:`resolve_bounds`), is proved by
        :func:`prove_fact`; else ``("failed", reason of the first unproved fact)``, also
        when an applied bound cannot be resolved.
    """
    exports = dict(payload.premise_bounds)
    for f in payload.facts:
        try:
            f = resolve_fact(f, exports)
        except ValueError as exc:
            return "failed", f"{exc} in: {f.label}"
        ok, why = prove_fact(f)
        if not ok:
            return "failed", why
    return "proved-symbolic", f"{len(payload.facts)} fact(s) proved exactly by sympy"


# =========================================================================================
# inequality: Arb branch and bound
# =========================================================================================

Rat = int | Fraction | sp.Rational


@dataclass(frozen=True)
class Case:
    """``expr <= bound`` for every point of ``box`` (tuples ``(symbol, lo, hi)``)."""

    expr: sp.Expr
    box: tuple[tuple[sp.Symbol, Rat, Rat], ...]
    bound: sp.Expr
    label: str = ""


@dataclass(frozen=True)
class Inequality:
    """Payload of an ``inequality`` obligation; all cases must be verified."""

    cases: tuple[Case, ...]
    budget: int = 20000
    prec: int = 106
    #: Filled by the discharger: one interval cover (tree) per verified case, in order.
    covers: list = field(default_factory=list, compare=False, repr=False)


def _fraction(q: Any) -> Fraction:
    if isinstance(q, Fraction):
        return q
    if isinstance(q, float):
        if not math.isfinite(q):
            raise ValueError("non-finite box bound")
        return Fraction(q)
    if isinstance(q, int):
        return Fraction(q)
    r = sp.Rational(q)
    return Fraction(int(r.p), int(r.q))


def arb_rational(q: Any) -> arb:
    """Arb ball containing a rational number exactly.

    Parameters
    ----------
    q : int, Fraction, sympy Rational or float
        Floats are taken as their exact binary64 value; NaN and infinities are refused.

    Returns
    -------
    flint.arb
        A ball (at the current working precision) that contains ``q``.
    """
    f = _fraction(q)
    return arb(f.numerator) / arb(f.denominator)


def arb_interval(lo: Any, hi: Any) -> arb:
    """Arb ball containing the closed interval ``[lo, hi]``.

    Parameters
    ----------
    lo, hi : int, Fraction, sympy Rational or float

    Returns
    -------
    flint.arb
        A ball containing every real number between ``lo`` and ``hi``.
    """
    a, b = arb_rational(lo), arb_rational(hi)
    return a if lo == hi and a.is_exact() else a.union(b)


def _powi(x: arb, n: int) -> arb:
    if n == 0:
        return arb(1)
    if n < 0:
        return 1 / _powi(x, -n)
    if n % 2 == 0 and x.lower() < 0 < x.upper():
        m = (-x.lower()).max(x.upper())
        r = m
        for _ in range(n - 1):
            r = r * m
        return arb(0).union(r)
    r = x
    for _ in range(n - 1):
        r = r * x
    return r


def _abs(x: arb) -> arb:
    if x.lower() >= 0:
        return x
    if x.upper() <= 0:
        return -x
    return arb(0).union((-x.lower()).max(x.upper()))


_UNARY: dict[type, Callable[[arb], arb]] = {
    sp.exp: lambda x: x.exp(), sp.log: lambda x: x.log(), sp.sin: lambda x: x.sin(),
    sp.cos: lambda x: x.cos(), sp.tanh: lambda x: x.tanh(), sp.Abs: _abs,
}


def compile_arb(expr: sp.Expr, symbols: Sequence[sp.Symbol]
                ) -> Callable[[Sequence[arb]], arb]:
    """Compile a sympy expression into a rigorous Arb interval function.

    Parameters
    ----------
    expr : sympy expression
        Built from rationals, floats (exact), ``pi``, ``E``, the given symbols, ``+``, ``*``,
        powers, ``exp``, ``log``, ``sin``, ``cos``, ``tanh``, ``Abs``, ``Max`` and ``Min``.
    symbols : sequence of sympy.Symbol
        The arguments, in order.

    Returns
    -------
    callable
        ``f(balls) -> arb``: for balls ``B_i``, the result contains ``expr`` evaluated at every
        point of ``B_1 x ... x B_n`` where it is defined.  Constants are enclosed at the working
        precision current at compile time.

    Raises
    ------
    ValueError
        For an unsupported node or a free symbol not in ``symbols``.
    """
    index = {s: i for i, s in enumerate(symbols)}

    def build(e: sp.Expr) -> Callable[[Sequence[arb]], arb]:
        if e.is_Symbol:
            if e not in index:
                raise ValueError(f"free symbol {e} is not a box variable")
            i = index[e]
            return lambda v: v[i]
        if e.is_Rational or e.is_Float:
            c = arb_rational(sp.Rational(e))
            return lambda v: c
        if e is sp.pi:
            c = arb.pi()
            return lambda v: c
        if e is sp.E:
            c = arb.const_e()
            return lambda v: c
        if isinstance(e, sp.Add):
            fs = [build(a) for a in e.args]

            def add(v):
                s = fs[0](v)
                for f in fs[1:]:
                    s = s + f(v)
                return s
            return add
        if isinstance(e, sp.Mul):
            fs = [build(a) for a in e.args]

            def mul(v):
                s = fs[0](v)
                for f in fs[1:]:
                    s = s * f(v)
                return s
            return mul
        if isinstance(e, sp.Pow):
            fb = build(e.base)
            if e.exp.is_Integer:
                n = int(e.exp)
                return lambda v: _powi(fb(v), n)
            if e.exp == sp.Rational(1, 2):
                return lambda v: fb(v).sqrt()
            fe = build(e.exp)
            return lambda v: (fe(v) * fb(v).log()).exp()
        if isinstance(e, (sp.Max, sp.Min)):
            fs = [build(a) for a in e.args]
            pick = arb.max if isinstance(e, sp.Max) else arb.min

            def ext(v):
                s = fs[0](v)
                for f in fs[1:]:
                    s = pick(s, f(v))
                return s
            return ext
        fn = _UNARY.get(type(e)) or _UNARY.get(e.func)
        if fn is not None and len(e.args) == 1:
            fa = build(e.args[0])
            return lambda v: fn(fa(v))
        raise ValueError(f"unsupported expression node {e.func.__name__} in interval evaluation")

    if isinstance(expr, (str, bytes)):  # covers are built from sympy objects, never text
        raise TypeError("an interval expression must be a sympy expression, not text")
    return build(sp.sympify(expr))


_NONSMOOTH = (sp.Max, sp.Min, sp.Abs, sp.Piecewise, sp.sign, sp.Heaviside)


def _fmt_box(box: Sequence[tuple[Fraction, Fraction]], syms: Sequence[sp.Symbol]) -> str:
    return ", ".join(f"{s} in [{float(lo):.17g}, {float(hi):.17g}]"
                     for s, (lo, hi) in zip(syms, box, strict=True))


def _fmt_arb(v: arb) -> str:
    return f"[{float(v.lower()):.9g}, {float(v.upper()):.9g}]"


def prove_case(case: Case, budget: int, prec: int, min_split: int = 48,
               cover: list | None = None) -> tuple[str, str, int]:
    """Breadth-first interval branch and bound for one :class:`Case`.

    Boxes are processed widest first, so a violation is found at the coarsest level where
    the enclosure separates from the bound.  Where a partial derivative has a certain sign
    on a box, the box is replaced by the face where the expression is largest (monotonicity
    test; only for expressions without ``Max``/``Min``/``Abs``/``Piecewise``).  A box that is
    still undecided after ``min_split`` halvings of every variable is set aside and the
    search goes on elsewhere.

    Parameters
    ----------
    case : Case
    budget : int
        Maximal number of boxes evaluated.
    prec : int
        Arb working precision in bits.
    min_split : int
        Halvings of a variable's range below which a box is not split further.

    cover : list, optional
        If given and the case is verified, receives one node: the interval cover as a tree
        (:func:`_cover_node`): ``{"box": ..., "leaf": True}`` where the enclosure is below the
        bound, ``{"box": ..., "face": [...], "child": node}`` for a monotonicity step and
        ``{"box": ..., "split": i, "children": [left, right]}`` for a bisection.  The tree
        is what ``attncert theorems replay`` re-checks.

    Returns
    -------
    (str, str, int)
        ``(verdict, detail, boxes)``; verdict ``"verified"`` (every point of the box satisfies
        ``expr <= bound``), ``"violated"`` (a sub-box on which every point violates it) or
        ``"undecided"`` (budget exhausted, or boxes this precision cannot decide).
    """
    syms = [s for s, _, _ in case.box]
    root = tuple((_fraction(lo), _fraction(hi)) for _, lo, hi in case.box)
    if any(lo > hi for lo, hi in root):
        return "undecided", "empty box", 0
    tiny = [(hi - lo) / 2**min_split for lo, hi in root]
    with ctx.workprec(prec):
        f = compile_arb(case.expr, syms)
        c = compile_arb(case.bound, [])([])
        grads = None
        if not case.expr.has(*_NONSMOOTH):
            grads = [compile_arb(sp.diff(case.expr, s), syms) for s in syms]
        nodes: dict[int, dict] = {}
        queue = deque([(root, None)])
        count = 0
        unresolved: list[tuple[tuple[Fraction, Fraction], ...]] = []
        while queue:
            box, slot = queue.popleft()
            node: dict[str, Any] = {"box": _box_json(box)}
            if slot is None:
                nodes[0] = node
            else:
                slot(node)
            count += 1
            if count > budget:
                return "undecided", f"undecided after {budget} boxes", count
            env = [arb_interval(lo, hi) for lo, hi in box]
            v = f(env)
            if v <= c:
                node["leaf"] = True
                continue
            if v > c:
                return "violated", (f"certainly violated on {_fmt_box(box, syms)}: "
                                    f"expression in {_fmt_arb(v)}, bound {_fmt_arb(c)}"), count
            if grads is not None:
                new = list(box)
                for i, (lo, hi) in enumerate(box):
                    if lo == hi:
                        continue
                    g = grads[i](env)
                    if g >= 0:
                        new[i] = (hi, hi)
                    elif g <= 0:
                        new[i] = (lo, lo)
                if new != list(box):
                    node["face"] = _box_json(new)
                    queue.append((tuple(new), _setter(node, "child")))
                    continue
            widths = [(hi - lo) / t if t else Fraction(0)
                      for (lo, hi), t in zip(box, tiny, strict=True)]
            i = int(np.argmax(widths))
            if widths[i] <= 1:
                unresolved.append(box)
                continue
            lo, hi = box[i]
            mid = (lo + hi) / 2
            left, right = list(box), list(box)
            left[i], right[i] = (lo, mid), (mid, hi)
            node["split"] = i
            node["children"] = [None, None]
            queue.append((tuple(left), _setter(node["children"], 0)))
            queue.append((tuple(right), _setter(node["children"], 1)))
    if unresolved:
        return "undecided", (f"{len(unresolved)} box(es) undecided at {prec}-bit precision, "
                             f"e.g. {_fmt_box(unresolved[0], syms)}"), count
    if cover is not None:
        cover.append(nodes[0])
    return "verified", "", count


def _box_json(box: Sequence[tuple[Fraction, Fraction]]) -> list[list[str]]:
    """A box as JSON: per variable ``[lo, hi]`` as exact fraction strings ``"p/q"``."""
    return [[f"{lo.numerator}/{lo.denominator}", f"{hi.numerator}/{hi.denominator}"]
            for lo, hi in box]


def _setter(container: Any, key: Any) -> Callable[[dict], None]:
    def put(node: dict) -> None:
        container[key] = node
    return put


def discharge_inequality(payload: Inequality) -> tuple[str, str]:
    """Discharger of the ``inequality`` kind.

    Parameters
    ----------
    payload : Inequality

    Returns
    -------
    (str, str)
        ``("verified-interval", summary)`` if every case is verified by :func:`prove_case`;
        ``("failed", "violated ...")`` with a sub-box where every point violates a case, or
        ``("failed", "undecided ...")`` when the budget or the precision runs out.
    """
    total = 0
    payload.covers.clear()
    for case in payload.cases:
        verdict, detail, count = prove_case(case, payload.budget, payload.prec,
                                            cover=payload.covers)
        total += count
        name = f" [{case.label}]" if case.label else ""
        if verdict == "violated":
            return "failed", f"violated{name}: {detail}"
        if verdict != "verified":
            return "failed", f"undecided{name}: {detail}"
    return "verified-interval", (f"{len(payload.cases)} case(s), {total} boxes, "
                                 f"Arb {payload.prec}-bit balls")


# =========================================================================================
# exact symbolic evaluation of a network
# =========================================================================================

def exact(v: Any) -> sp.Rational:
    """A binary64 number as an exact sympy rational.

    Parameters
    ----------
    v : float-like

    Returns
    -------
    sympy.Rational
        Exactly the binary64 value of ``float(v)``.

    Raises
    ------
    ValueError
        For NaN and infinities.
    """
    f = float(v)
    if not math.isfinite(f):
        raise ValueError("non-finite weight")
    return sp.Rational(f)


def exact_matrix(a: np.ndarray) -> sp.Matrix:
    """Exact rational copy of a binary64 matrix (1-d input becomes one row).

    Parameters
    ----------
    a : numpy.ndarray

    Returns
    -------
    sympy.Matrix
    """
    a = np.atleast_2d(np.asarray(a, float))
    return sp.Matrix(a.shape[0], a.shape[1], lambda i, j: exact(a[i, j]))


def latent_expr(w_k: Any, t_k: float, k: int, n: int) -> sp.Expr:
    """``y_k = w_k . x_k + t_k`` in the symbols of :func:`input_symbols` (d = len(w_k)).

    The binary64 coefficients are converted exactly; shared by T1 and T2 obligations.
    """
    w = np.asarray(w_k, float).reshape(-1)
    X = input_symbols(len(w), n)
    return sp.Add(*[exact(w[a]) * X[a, k] for a in range(len(w))]) + exact(t_k)


def latent_range(w_k: Any, t_k: float, lo_k: Any, hi_k: Any) -> tuple[Fraction, Fraction]:
    """Exact ``(min, max)`` of ``w_k . x + t_k`` over the box ``lo_k <= x <= hi_k``.

    Exact rational arithmetic on the binary64 data; shared by T1 and T2 obligations.
    """
    w = np.asarray(w_k, float).reshape(-1)
    lo, hi = np.asarray(lo_k, float).reshape(-1), np.asarray(hi_k, float).reshape(-1)
    ylo = yhi = Fraction(float(t_k))
    for a in range(len(w)):
        c = Fraction(float(w[a]))
        u, v = c * Fraction(float(lo[a])), c * Fraction(float(hi[a]))
        ylo += min(u, v)
        yhi += max(u, v)
    return ylo, yhi


def input_symbols(d: int, n: int) -> sp.Matrix:
    """The symbolic input of a network.

    Parameters
    ----------
    d, n : int
        Token dimension and number of tokens.

    Returns
    -------
    sympy.Matrix
        ``d x n`` matrix of real symbols ``x{a}_{b}`` (row a, token b).
    """
    return sp.Matrix(d, n, lambda a, b: sp.Symbol(f"x{a}_{b}", real=True))


@dataclass(frozen=True)
class SymbolicHead:
    """Exact scores ``S[key, query]`` and values ``V[row, key] = (W_O W_V Z)[row, key]``."""

    S: sp.Matrix
    V: sp.Matrix


@dataclass(frozen=True)
class SymbolicNet:
    """A network of shape affine -> attention -> select-columns, evaluated exactly."""

    X: sp.Matrix
    Z: sp.Matrix
    heads: tuple[SymbolicHead, ...]
    columns: tuple[int, ...]


def symbolic_network(net: AttentionNet) -> SymbolicNet:
    """Exact symbolic scores and values of a network with symbolic input.

    Parameters
    ----------
    net : AttentionNet
        Of the shape (sequence-affine or token-affine, attention, select-columns).

    Returns
    -------
    SymbolicNet
        ``Z = affine(X)`` and, per head, ``S = (W_K Z)^T (W_Q Z)`` and ``V = W_O W_V Z``,
        expanded polynomials in the input symbols with exact rational coefficients.

    Raises
    ------
    ValueError
        For any other network shape.
    """
    if len(net.layers) != 3 or not isinstance(net.layers[1], Attention) or net.layers[1].residual \
            or not isinstance(net.layers[2], SelectColumns):
        raise ValueError("unsupported network: expected affine, attention, select-columns")
    d, n = net.input_shape
    X = input_symbols(d, n)
    first = net.layers[0]
    if isinstance(first, SequenceAffine):
        dz, m = first.out_shape
        Z = sp.zeros(dz, m)
        for i, j, a, b, v in first.weights:
            Z[int(i), int(j)] += exact(v) * X[int(a), int(b)]
        for i, j, v in first.bias:
            Z[int(i), int(j)] += exact(v)
    elif isinstance(first, TokenAffine):
        W, c = exact_matrix(first.weight), exact_matrix(first.bias)
        Z = W * X + c
    else:
        raise ValueError("unsupported network: the first layer must be affine")
    heads = []
    for h in net.layers[1].heads:
        Q = exact_matrix(h.W_Q) * Z
        K = exact_matrix(h.W_K) * Z
        S = (K.T * Q).applyfunc(sp.expand)
        V = (exact_matrix(h.W_O) * exact_matrix(h.W_V) * Z).applyfunc(sp.expand)
        heads.append(SymbolicHead(S, V))
    return SymbolicNet(X, Z, tuple(heads), tuple(net.layers[2].columns))


# =========================================================================================
# construction
# =========================================================================================

QUANTITIES = ("score", "score-difference", "value", "z", "weight")
#: Matrices a ``"weight"`` claim may name.
WEIGHT_MATRICES = ("W_Q", "W_K", "W_V", "W_O")


@dataclass(frozen=True)
class Claim:
    """One intended quantity of a network, in the input symbols of :func:`input_symbols`.

    ``quantity`` / ``index``:

    * ``"score"``, ``(head, key, query)``: ``S[key, query]``;
    * ``"score-difference"``, ``(head, key_i, key_j, query)``: ``S[key_j, q] - S[key_i, q]``;
    * ``"value"``, ``(head, row, key)``: ``(W_O W_V Z)[row, key]``;
    * ``"z"``, ``(row, column)``: ``Z[row, column]`` of the affine map's output;
    * ``"weight"``, ``(head, m, row, col)``: the stored entry of matrix
      ``WEIGHT_MATRICES[m]`` of the head (a constant).

    With ``tolerance == 0`` the quantity must equal ``expected`` exactly; otherwise
    ``quantity - expected`` must be free of input symbols with absolute value at most
    ``tolerance`` (exact rational comparison).
    """

    quantity: str
    index: tuple[int, ...]
    expected: sp.Expr
    tolerance: sp.Rational = sp.Integer(0)
    label: str = ""


@dataclass(frozen=True)
class Construction:
    """Payload of a ``construction`` obligation: claims about one network."""

    net: AttentionNet
    claims: tuple[Claim, ...]


def _quantity(sn: SymbolicNet, c: Claim, net: AttentionNet) -> sp.Expr:
    if c.quantity == "score":
        h, key, q = c.index
        return sn.heads[h].S[key, q]
    if c.quantity == "score-difference":
        h, ki, kj, q = c.index
        return sn.heads[h].S[kj, q] - sn.heads[h].S[ki, q]
    if c.quantity == "value":
        h, row, key = c.index
        return sn.heads[h].V[row, key]
    if c.quantity == "z":
        row, col = c.index
        return sn.Z[row, col]
    if c.quantity == "weight":
        h, m, row, col = c.index
        head = net.layers[1].heads[h]
        a = np.atleast_2d(np.asarray(getattr(head, WEIGHT_MATRICES[m]), float))
        if not (0 <= row < a.shape[0] and 0 <= col < a.shape[1]):
            raise IndexError(f"no entry ({row}, {col}) in {WEIGHT_MATRICES[m]}")
        return exact(a[row, col])
    raise ValueError(f"unknown quantity {c.quantity!r}")


def discharge_construction(payload: Construction) -> tuple[str, str]:
    """Discharger of the ``construction`` kind.

    Parameters
    ----------
    payload : Construction

    Returns
    -------
    (str, str)
        ``("proved-symbolic", summary)`` if every claim holds exactly on the stored weights
        (see :class:`Claim`), else ``("failed", the first claim that does not hold)``.
    """
    try:
        sn = symbolic_network(payload.net)
    except ValueError as exc:
        return "failed", str(exc)
    xs = set(sn.X)
    for c in payload.claims:
        try:
            actual = _quantity(sn, c, payload.net)
        except (IndexError, ValueError) as exc:
            return "failed", f"{c.label or c.quantity}: {exc}"
        diff = sp.expand(actual - c.expected)
        name = c.label or f"{c.quantity}{c.index}"
        if c.tolerance == 0:
            if diff != 0:
                return "failed", f"{name}: network gives {actual}, intended {c.expected}"
            continue
        if diff.free_symbols & xs or not diff.is_Rational:
            return "failed", f"{name}: the difference {diff} depends on the input"
        if abs(diff) > c.tolerance:
            return "failed", (f"{name}: difference {float(diff):.6g} exceeds the tolerance "
                              f"{float(c.tolerance):.6g}")
    return "proved-symbolic", f"{len(payload.claims)} claim(s) hold exactly on the stored weights"


# =========================================================================================
# reduction
# =========================================================================================

@dataclass(frozen=True)
class Reduction:
    """Output column k of ``net`` depends on ``X`` only through ``targets[k]`` (affine)."""

    net: AttentionNet
    targets: tuple[sp.Expr, ...]


def _function_of(f: sp.Expr, xs: Sequence[sp.Symbol], grad_y: Sequence[sp.Expr],
                 e0: int | None) -> sp.Symbol | None:
    """``None`` if ``grad f`` is parallel to ``grad_y`` (exact minors), else a witness.

    ``e0`` indexes a nonzero entry of ``grad_y``; ``None`` means ``y`` is constant, and then
    ``f`` must be constant too.
    """
    if e0 is None:
        return next((x for x in xs if sp.diff(f, x) != 0), None)
    df0 = sp.diff(f, xs[e0])
    for e, x in enumerate(xs):
        if sp.expand(sp.diff(f, x) * grad_y[e0] - df0 * grad_y[e]) != 0:
            return x
    return None


def discharge_reduction(payload: Reduction) -> tuple[str, str]:
    """Discharger of the ``reduction`` kind: every output column is a function of its ``y_k``.

    For output column k (network column ``q = columns[k]``), ``y_k`` must be affine in the
    inputs, and for every head every score ``S[j, q]`` and every value entry must have its
    gradient parallel to ``grad y_k`` (all 2x2 minors vanish exactly; if ``y_k`` is
    constant they must be constant).  A polynomial whose gradient is everywhere parallel
    to a fixed nonzero vector is constant on the hyperplanes ``y_k = const``, hence a
    function of ``y_k``; the output column
    ``sum_h W_O^h W_V^h Z softmax(S_h[:, q])`` is then a function of ``y_k`` alone.  The
    engine's bisection on ``y_k`` (``certify/reduction.py``) relies on this.

    Parameters
    ----------
    payload : Reduction

    Returns
    -------
    (str, str)
        ``("proved-symbolic", summary with the varying row of each output column)`` or
        ``("failed", the first score or value that depends on something else)``.
    """
    try:
        sn = symbolic_network(payload.net)
    except ValueError as exc:
        return "failed", str(exc)
    xs = list(sn.X)
    if len(payload.targets) != len(sn.columns):
        return "failed", "one target scalar per output column is required"
    for k, (q, y) in enumerate(zip(sn.columns, payload.targets, strict=True)):
        if isinstance(y, (str, bytes)):  # targets are sympy objects; text never reaches sympify
            return "failed", "a reduction target must be a sympy expression, not text"
        y = sp.expand(sp.sympify(y))
        grad = [sp.diff(y, x) for x in xs]
        if any(not g.is_Rational for g in grad):
            return "failed", f"y_{k} is not affine in the input"
        nz = [e for e, g in enumerate(grad) if g != 0]
        for h, head in enumerate(sn.heads):
            for key in range(head.S.shape[0]):
                w = _function_of(head.S[key, q], xs, grad, nz[0] if nz else None)
                if w is not None:
                    return "failed", (f"output {k}: score of key {key} (head {h}) depends on "
                                      f"{w} other than through y_{k}")
                for row in range(head.V.shape[0]):
                    w = _function_of(head.V[row, key], xs, grad, nz[0] if nz else None)
                    if w is not None:
                        return "failed", (f"output {k}: value ({row}, {key}) of head {h} "
                                          f"depends on {w} other than through y_{k}")
    xset = set(xs)
    rows = []
    for q in sn.columns:
        varying = [i for i in range(sn.Z.shape[0]) if sn.Z[i, q].free_symbols & xset]
        rows.append(f"column {q}: varying row(s) {varying}")
    return "proved-symbolic", (f"{len(sn.columns)} output column(s): every score and value "
                               "is a function of its y_k (exact gradient test); "
                               + "; ".join(rows))


# =========================================================================================
# instance and open
# =========================================================================================

@dataclass(frozen=True)
class Instance:
    """A certificate built by ``make_certificate`` must pass the independent checker.

    ``certificate`` is filled by the discharger with the certificate it checked (one item),
    so that the proof export carries it and replay checks it again.
    """

    make_certificate: Callable[[], dict]
    description: str
    backend: str = "both"
    certificate: list = field(default_factory=list, compare=False, repr=False)


def discharge_instance(payload: Instance) -> tuple[str, str]:
    """Discharger of the ``instance`` kind.

    Imports ``certify.check.verify.check_certificate`` lazily, builds the certificate with
    ``payload.make_certificate()``, keeps it in ``payload.certificate`` and runs the checker
    with ``payload.backend``.

    Parameters
    ----------
    payload : Instance

    Returns
    -------
    (str, str)
        ``("verified-interval", checker summary)`` if the checker returns ``(True, ...)``;
        ``("failed", reason)`` if the checker cannot be imported, the certificate cannot be
        built, or the checker rejects it.
    """
    try:
        from certify.check.verify import check_certificate
    except Exception as exc:  # the checker is a separate component; report why it is missing
        return "failed", f"independent checker unavailable: {type(exc).__name__}: {exc}"
    payload.certificate.clear()
    try:
        cert = payload.make_certificate()
    except Exception as exc:
        return "failed", f"could not build the certificate: {type(exc).__name__}: {exc}"
    payload.certificate.append(cert)
    verified, reason = check_certificate(cert, backend=payload.backend)
    if verified is True:
        return "verified-interval", f"checker ({payload.backend}) accepted: {reason}"
    return "failed", f"checker rejected the certificate: {reason}"


@dataclass(frozen=True)
class Open:
    """An obligation whose construction or proof is not mechanised (the reason says why)."""

    reason: str


def discharge_open(payload: Open) -> tuple[str, str]:
    """Discharger of the ``open`` kind: nothing is claimed.

    Parameters
    ----------
    payload : Open

    Returns
    -------
    (str, str)
        Always ``("open", payload.reason)``.
    """
    return "open", payload.reason


# =========================================================================================
# obligations
# =========================================================================================

Payload = Identity | Inequality | Construction | Reduction | Instance | Open

KIND_OF: dict[type, str] = {Identity: "identity", Inequality: "inequality",
                            Construction: "construction", Reduction: "reduction",
                            Instance: "instance", Open: "open"}

DISCHARGERS: dict[str, Callable[[Any], tuple[str, str]]] = {
    "identity": discharge_identity, "inequality": discharge_inequality,
    "construction": discharge_construction, "reduction": discharge_reduction,
    "instance": discharge_instance, "open": discharge_open,
}

#: The statuses each kind may produce besides ``failed``.
SUCCESS_STATUS: dict[str, str] = {"identity": "proved-symbolic",
                                  "inequality": "verified-interval",
                                  "construction": "proved-symbolic",
                                  "reduction": "proved-symbolic",
                                  "instance": "verified-interval", "open": "open"}


#: What a discharged obligation establishes: for all parameters under the stated
#: hypotheses, for all parameters in a stated bounded box, or for one instance.
SCOPES: tuple[str, ...] = ("general", "box", "instance")

#: The scope of each kind unless an obligation states one: identities are proved for all
#: parameters; interval inequalities, network checks and certificates are instance checks
#: unless their box is a parameter box (then the obligation says ``scope="box"``).
DEFAULT_SCOPE: dict[str, str] = {"identity": "general", "inequality": "instance",
                                 "construction": "instance", "reduction": "instance",
                                 "instance": "instance", "open": "general"}


@dataclass(frozen=True)
class Obligation:
    """A checked proof obligation; its kind is determined by the payload's exact type.

    ``uses`` names the obligations this one's argument relies on (the edges of the proof
    DAG, :mod:`theorems.proof_dag`); ``scope`` (:data:`SCOPES`) says what a success
    establishes, defaulting to :data:`DEFAULT_SCOPE` of the kind.  Construction, reduction
    and instance checks are always instance-scoped (refused otherwise).  The DAG reports a
    node "proved" only if it and every node below it have scope ``general``.
    """

    id: str
    statement: str
    payload: Payload = field(repr=False)
    uses: tuple[str, ...] = ()
    scope: str = ""

    def __post_init__(self) -> None:
        if type(self.payload) not in KIND_OF:
            raise TypeError(f"obligation {self.id}: payload {type(self.payload).__name__} "
                            "is not one of the rigorous kinds")
        if not self.scope:
            object.__setattr__(self, "scope", DEFAULT_SCOPE[KIND_OF[type(self.payload)]])
        if self.scope not in SCOPES:
            raise ValueError(f"obligation {self.id}: unknown scope {self.scope!r}")
        if self.scope != "instance" and KIND_OF[type(self.payload)] in (
                "construction", "reduction", "instance"):
            raise ValueError(f"obligation {self.id}: a {self.kind} check is instance-only")
        object.__setattr__(self, "uses", tuple(self.uses))

    @property
    def kind(self) -> str:
        """One of :data:`KINDS`."""
        return KIND_OF[type(self.payload)]

    def discharge(self) -> Result:
        """Run the kind's discharger and time it.

        Returns
        -------
        Result
            The discharger's status and detail; an exception inside the discharger, or a status
            that the kind may not produce, becomes status ``failed``.
        """
        start = time.perf_counter()
        try:
            status, detail = DISCHARGERS[self.kind](self.payload)
        except Exception as exc:  # a crashing discharger proves nothing
            status, detail = "failed", f"discharger raised {type(exc).__name__}: {exc}"
        if status not in (SUCCESS_STATUS[self.kind], "failed"):
            status, detail = "failed", f"discharger returned {status!r} for kind {self.kind}"
        return Result(status, detail, time.perf_counter() - start)


# =========================================================================================
# registry entries
# =========================================================================================

@dataclass(frozen=True)
class TheoremEntry:
    """One lemma or theorem of docs/mathematics.md as the registry exposes it.

    ``paper`` maps ``"v1"``/``"v2"`` to the paper's numbering (or ``"unknown"``);
    ``paper_claim`` is the paper's claim in asymptotic form, or ``"unknown"``;
    ``hypotheses`` and ``conclusion`` are sympy objects; ``a_priori_bound`` is our explicit,
    proved bound (``None`` when there is none yet); ``obligations`` builds the list lazily.
    """

    id: str
    title: str
    paper: dict[str, str]
    paper_claim: str
    hypotheses: tuple[sp.Basic, ...]
    conclusion: sp.Basic
    statement: str
    obligations: Callable[[], list[Obligation]]
    construction: Callable[..., Any] | None = None
    a_priori_bound: sp.Expr | None = None
