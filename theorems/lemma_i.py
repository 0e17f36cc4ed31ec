"""Lemma I: attention as interpolation (docs/mathematics.md, section 3).

The paper's numbering of this lemma: unknown.

Anchors ``L_j = a + j Delta`` (``j = 0..p-1``, ``Delta = (b - a)/(p - 1)``), a query carrying
``y`` and keys ``beta (2 L_j, -L_j^2)``: the scores are ``beta (2 L_j y - L_j^2)``, the
weights ``w_j(y)`` are proportional to ``exp(-beta (y - L_j)^2)`` and the head's output is
``o(y) = sum_j w_j(y) v_j``.  With ``kappa = beta Delta^2``:

I1  the score equals ``beta (y^2 - (y - L_j)^2)`` and the common ``beta y^2`` cancels in the
    softmax.
I2  (``v_j = L_j``) ``o(y) in [a, b]`` and ``o'(y) = 2 beta Var_w(L) >= 0``.
I3  (``v_j = L_j``) for every real y, ``|o(y) - Range_[a,b](y)| <= Delta c(kappa)`` with
    ``c(kappa) = 1/2 + 2 sum_{k>=1} (k+1) exp(-kappa k^2)``, and for y outside ``[a, b]``
    the sharper ``Delta sum_{k>=1} k exp(-kappa k^2)``.
I4  as ``beta -> oo`` the output tends to the nearest anchor and the sup error to Delta/2.
I5  (``v_j = g(L_j)``) the head approximates g, with error controlled by the modulus of
    continuity ``omega`` of g: ``|o(y) - g(y)| <= omega(Delta) + 2 sum_{k>=1}
    omega((k+1) Delta) exp(-kappa k^2)`` on ``[a, b]``.

Proof of I3 from the checked facts.  For ``y = L_j + theta Delta`` with ``theta in [0, 1]``
(bracket ``B = {j, j+1}``) the identity I3.decomposition gives
``o - y = W_B (o_2 - y) + sum_{i not in B} w_i (L_i - y)`` with ``W_B <= 1`` the bracket's
weight and ``o_2`` the renormalised two-anchor average.  By I3.renormalise, I3.sigmoid-range
and I3.sigmoid-within-half, ``|o_2 - y| <= Delta/2``.  An anchor k >= 1 steps beyond the
bracket has score gap ``>= kappa k^2`` to a bracket anchor (I3.tail-gap), hence weight
``<= exp(-kappa k^2)`` (Lemma S), and distance ``<= (k+1) Delta`` to y (I3.tail-distance);
there are at most two such anchors per k.  The triangle inequality gives the bound.  For y
below a (above b symmetrically), ``o - a = sum_i w_i (L_i - a)`` with ``L_i - a = i Delta``
and gap ``>= kappa i^2`` to anchor 0 (I3.tail-gap-outside), giving the sharper bound.  The
infinite series is bounded by a finite sum plus a geometric tail (I3.tail-series):
``sum_{k>=K} (k+1) e^{-kappa k^2} <= T_K(r) = r^K ((K+1) - K r)/(1 - r)^2`` with
``r = e^{-kappa K} < 1``.  The combination is itself an obligation: I3.count (the anchors
outside the bracket are indexed bijectively by side and k, so at most two per k) and
I3.bound (for every K and kappa > 0, the triangle inequality over the decomposition; an
entailment: its bound is ``E = Delta S + sum_{k=1}^{K} 2 D G`` at the bounds S = 1/2,
D = (k+1) Delta, G = e^{-kappa k^2} that I3.sigmoid-within-half, I3.tail-distance and
I3.tail-gap export, which replay recomputes; :func:`_i3_assembly`), I3.bound-outside for y
outside [a, b].  I3.instance checks the closed form on five concrete heads by interval branch and
bound; two of them have bounds below their heads' error without the 1/2.

I4: the upper bound tends to Delta/2 (I4.upper-limit); at ``theta = 1/2 - eta`` the error is
at least ``Delta ((1 - 2 T0) (1/2 - eta - sigma(-2 kappa eta)) - 2 T1)`` with
``T0 = e^{-kappa}/(1 - e^{-kappa})`` bounding the tail weight and ``T1 = T_1(e^{-kappa})`` the
tail's contribution, which tends to ``Delta (1/2 - eta)`` (I4.lower-limit) for every
``eta in (0, 1/2)``; so the sup error tends to Delta/2.

I4.lower-limit also proves the inequality it names, from the premises ``g >= 0``,
``W_B >= 1 - 2 T0`` and the tail bound.

I5: the decomposition ``o - g(y) = sum_j w_j (g(L_j) - g(y))`` is proved for general p
(I5.decomposition) and the bound is interval-verified for ``g = sin`` with p = 9, kappa = 4
(I5.instance; the bound 0.268 is below the oscillation of sin on [0, 2]);
the statement for an arbitrary modulus of continuity is left open (I5.general).
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Any

import sympy as sp
from flint import arb, ctx

from theorems.obligations import (
    Case,
    Identity,
    Inequality,
    Obligation,
    Open,
    TheoremEntry,
    at_least,
    compile_arb,
    equal,
    premise_bound,
    resolve_bounds,
)

ID = "lemma-i"

half = sp.Rational(1, 2)
y = sp.Symbol("y", real=True)
a_s = sp.Symbol("a", real=True)
b_s = sp.Symbol("b", real=True)
beta = sp.Symbol("beta", positive=True)
kappa = sp.Symbol("kappa", positive=True)
Delta = sp.Symbol("Delta", positive=True)
theta = sp.Symbol("theta", real=True)
k_s = sp.Symbol("k", integer=True, positive=True)
p_s = sp.Symbol("p", integer=True, positive=True)
j_s = sp.Symbol("j", integer=True, nonnegative=True)
i_s = sp.Symbol("i", integer=True, nonnegative=True)
E = sp.IndexedBase("e", positive=True)


#: I5.instance: the head's values are ``I5_VALUES(L_j)`` and its target ``I5_TARGET(y)``.
I5_VALUES = sp.sin
I5_TARGET = sp.sin


def sigma(z: Any) -> sp.Expr:
    """The logistic function ``1/(1 + exp(-z))``."""
    return 1 / (1 + sp.exp(-z))


def _rational(x: Any) -> sp.Expr:
    """Exact sympy number for ints, Fractions and binary64 floats; symbols pass through."""
    if isinstance(x, float):
        if not math.isfinite(x):
            raise ValueError("non-finite parameter")
        return sp.Rational(x)
    if isinstance(x, Fraction):
        return sp.Rational(x.numerator, x.denominator)
    if isinstance(x, int) and not isinstance(x, bool):
        return sp.Integer(x)
    if isinstance(x, sp.Basic):
        return x
    raise TypeError(f"expected a number or a sympy expression, got {type(x).__name__}")


def default_terms(kappa_value: Any) -> int:
    """Number of explicit series terms used by :func:`a_priori_bound_I3`.

    Parameters
    ----------
    kappa_value : number or sympy expression

    Returns
    -------
    int
        ``ceil(sqrt(60/kappa))`` clipped to ``[4, 4000]`` for a number (the geometric tail is
        then below ``e^{-60}`` relative), 4 for a symbolic kappa.  Any value gives a valid
        upper bound; this one makes the closed form nearly exact.
    """
    kv = _rational(kappa_value)
    if not kv.is_number:
        return 4
    return int(min(4000, max(4, math.ceil(math.sqrt(60 / float(kv))))))


def tail_bound(kap: Any, K: int) -> sp.Expr:
    """Closed-form bound of the series tail ``sum_{k>=K} (k+1) e^{-kap k^2}``.

    Parameters
    ----------
    kap : number or sympy expression
        Must be positive for the bound to hold (then ``r = e^{-kap K} < 1``).
    K : int
        First omitted index, ``K >= 1``.

    Returns
    -------
    sympy expression
        ``T_K(r) = r^K ((K+1) - K r)/(1 - r)^2`` with ``r = e^{-kap K}`` (I3.tail-series:
        ``e^{-kap k^2} <= r^k`` for ``k >= K`` and ``sum_{k>=K} (k+1) r^k = T_K(r)``).
    """
    r = sp.exp(-_rational(kap) * K)
    return r**K * ((K + 1) - K * r) / (1 - r) ** 2


def tail_bound_outside(kap: Any, K: int) -> sp.Expr:
    """Closed-form bound of ``sum_{k>=K} k e^{-kap k^2}`` (same argument as :func:`tail_bound`).

    Parameters
    ----------
    kap : number or sympy expression
        Positive.
    K : int
        First omitted index, ``K >= 1``.

    Returns
    -------
    sympy expression
        ``U_K(r) = r^K (K - (K-1) r)/(1 - r)^2`` with ``r = e^{-kap K}``.
    """
    r = sp.exp(-_rational(kap) * K)
    return r**K * (K - (K - 1) * r) / (1 - r) ** 2


def a_priori_bound_I3(kap: Any = kappa, delta: Any = 1, terms: int | None = None) -> sp.Expr:
    """Our proved I3 bound ``Delta (1/2 + 2 sum_{k>=1} (k+1) e^{-kappa k^2})`` in closed form.

    Parameters
    ----------
    kap : symbol, rational or float, default the positive symbol ``kappa``
        Floats are taken as their exact binary64 value; must be positive.
    delta : symbol, rational or float, default 1
        The anchor spacing Delta.
    terms : int, optional
        Number N of explicit terms (default :func:`default_terms`).

    Returns
    -------
    sympy expression
        ``Delta (1/2 + 2 (sum_{k=1}^{N} (k+1) e^{-kappa k^2} + T_{N+1}(e^{-kappa (N+1)})))``:
        an exact expression that is an upper bound of the series :func:`i3_series`
        (I3.tail-series), and therefore of ``sup_y |o(y) - Range_[a,b](y)|`` (Lemma I3).
    """
    kv = _rational(kap)
    n = default_terms(kv) if terms is None else int(terms)
    if n < 0:
        raise ValueError("terms must be >= 0")
    s = sp.Add(*[(k + 1) * sp.exp(-kv * k * k) for k in range(1, n + 1)])
    return _rational(delta) * (half + 2 * (s + tail_bound(kv, n + 1)))


def a_priori_bound_I3_outside(kap: Any = kappa, delta: Any = 1,
                              terms: int | None = None) -> sp.Expr:
    """Closed-form upper bound of ``Delta sum_{k>=1} k e^{-kappa k^2}``, the I3 bound for y
    outside ``[a, b]``.

    Parameters
    ----------
    kap, delta, terms
        As in :func:`a_priori_bound_I3`.

    Returns
    -------
    sympy expression
    """
    kv = _rational(kap)
    n = default_terms(kv) if terms is None else int(terms)
    s = sp.Add(*[k * sp.exp(-kv * k * k) for k in range(1, n + 1)])
    return _rational(delta) * (s + tail_bound_outside(kv, n + 1))


def i3_series(kap: Any = kappa, delta: Any = Delta) -> sp.Expr:
    """The I3 bound of docs/mathematics.md as an unevaluated infinite series.

    Parameters
    ----------
    kap : symbol or number, default ``kappa``
    delta : symbol or number, default ``Delta``

    Returns
    -------
    sympy expression
        ``delta (1/2 + 2 Sum((k+1) exp(-kap k^2), (k, 1, oo)))``.
    """
    k = sp.Symbol("k", integer=True, positive=True)
    return _rational(delta) * (half + 2 * sp.Sum((k + 1) * sp.exp(-_rational(kap) * k**2),
                                                 (k, 1, sp.oo)))


def a_priori_bound_I3_arb(kap: Any, delta: Any = 1, terms: int | None = None,
                          prec: int = 128) -> arb:
    """Rigorous evaluation of :func:`a_priori_bound_I3`.

    Parameters
    ----------
    kap : number
        Positive; floats are taken as their exact binary64 value.
    delta : number, default 1
    terms : int, optional
        As in :func:`a_priori_bound_I3`.
    prec : int
        Arb working precision in bits.

    Returns
    -------
    flint.arb
        A ball containing the exact value of the closed form; its ``upper()`` is a rigorous
        upper bound of the I3 bound.

    Raises
    ------
    ValueError
        If ``kap`` is not a positive number.
    """
    kv = _rational(kap)
    if not (kv.is_number and kv > 0):
        raise ValueError("kappa must be a positive number")
    with ctx.workprec(prec):
        return compile_arb(a_priori_bound_I3(kv, delta, terms), [])([])


def range_expr(v: Any, a: Any, b: Any) -> sp.Expr:
    """``Range_[a,b](v) = min(max(v, a), b)`` as a sympy expression.
    """
    return sp.Min(sp.Max(v, a), b)


def head_error_expr(a: Any, b: Any, p: int, kap: Any, values: list[sp.Expr] | None = None,
                    target: sp.Expr | None = None) -> sp.Expr:
    """Exact error ``o(y) - target(y)`` of the ideal head as a sympy expression in ``y``.

    Parameters
    ----------
    a, b : number
        Interval of the anchors ``L_j = a + j (b - a)/(p - 1)`` (exact).
    p : int
        Number of anchors, ``p >= 2``.
    kap : number
        ``kappa``; ``beta = kappa / Delta^2`` exactly.
    values : list of sympy expressions, optional
        Values ``v_j`` (default ``L_j``).
    target : sympy expression in ``y``, optional
        Default ``Range_[a,b](y)``.

    Returns
    -------
    sympy expression
        ``sum_j (v_j - target(y)) / sum_i exp(s_i - s_j)`` with
        ``s_i - s_j = beta ((y - L_j)^2 - (y - L_i)^2)``: equal to ``o(y) - target(y)`` because
        the weights sum to 1.
    """
    a, b, kv = _rational(a), _rational(b), _rational(kap)
    dl = (b - a) / (p - 1)
    bt = kv / dl**2
    L = [a + j * dl for j in range(p)]
    v = L if values is None else values
    f = range_expr(y, a, b) if target is None else target
    terms = []
    for j in range(p):
        den = sp.Add(*[sp.exp(bt * ((y - L[j]) ** 2 - (y - L[i]) ** 2)) for i in range(p)])
        terms.append((v[j] - f) / den)
    return sp.Add(*terms)


def _instance_case(a: Any, b: Any, p: int, kap: Any, lo: Any, hi: Any, bound: sp.Expr,
                   values: list[sp.Expr] | None = None, target: sp.Expr | None = None,
                   label: str = "") -> tuple[Case, Case]:
    err = head_error_expr(a, b, p, kap, values, target)
    box = ((y, _rational(lo), _rational(hi)),)
    return (Case(err, box, bound, label + " upper"), Case(-err, box, bound, label + " lower"))


def obligations() -> list[Obligation]:
    """The obligations of Lemma I.

    Returns
    -------
    list of Obligation
        Identity and inequality obligations for I1-I5 (see the module docstring); I5.general
        is the only open one.
    """
    obs: list[Obligation] = []
    L = sp.Symbol("L", real=True)
    # ---------------------------------------------------------------- I1
    obs.append(Obligation(
        "I1.score", "beta (2 L y - L^2) == beta (y^2 - (y - L)^2)",
        Identity((equal(beta * (2 * L * y - L**2), beta * (y**2 - (y - L) ** 2)),))))
    s = sp.IndexedBase("s", real=True)
    c = sp.Symbol("c", real=True)
    Ls = sp.symbols("L0:4", real=True)
    sc = [beta * (2 * Lk * y - Lk**2) for Lk in Ls]
    gauss = [sp.exp(-beta * (y - Lk) ** 2) for Lk in Ls]
    obs.append(Obligation(
        "I1.shift", "softmax is invariant under a common shift (general p), so with the "
        "scores of I1.score w_j(y) = exp(-beta (y - L_j)^2) / sum_i exp(-beta (y - L_i)^2) "
        "(also checked for p = 4 symbolic anchors)",
        Identity((equal(sp.exp(s[j_s]) / sp.Sum(sp.exp(s[i_s]), (i_s, 0, p_s - 1)),
                        sp.exp(s[j_s] - c) / sp.Sum(sp.exp(s[i_s] - c), (i_s, 0, p_s - 1)),
                        label="general p"),
                  *[equal(sp.exp(sc[k]) / sp.Add(*[sp.exp(v) for v in sc]),
                          gauss[k] / sp.Add(*gauss), label=f"p=4, j={k}")
                    for k in range(4)]))))
    # ---------------------------------------------------------------- I2
    S = lambda f: sp.Sum(f, (j_s, 0, p_s - 1))  # noqa: E731
    Lj = a_s + j_s * Delta
    o_low = S(Lj * E[j_s]) / S(E[j_s])
    Lj_top = b_s - j_s * Delta  # the same anchors indexed from the top
    o_top = S(Lj_top * E[j_s]) / S(E[j_s])
    obs.append(Obligation(
        "I2.range", "o(y) in [a, b]: o - a = sum_j w_j j Delta >= 0 and b - o >= 0 "
        "(general p, any positive weights e_j)",
        Identity((at_least(o_low, a_s, S(j_s * Delta * E[j_s]) / S(E[j_s]), label="o >= a"),
                  at_least(b_s, o_top, S(j_s * Delta * E[j_s]) / S(E[j_s]),
                           label="o <= b (anchors b - j Delta)")))))
    Lg = sp.IndexedBase("L", real=True)
    ex = sp.exp(beta * (2 * Lg[j_s] * y - Lg[j_s] ** 2))
    o_gen = S(Lg[j_s] * ex) / S(ex)
    var_gen = S(Lg[j_s] ** 2 * ex) / S(ex) - o_gen**2
    facts = [equal(sp.diff(o_gen, y), 2 * beta * var_gen, label="general p, any anchors")]
    for p in (3, 4):
        Lp = sp.symbols(f"L0:{p}", real=True)
        ws = [sp.exp(-beta * (y - v) ** 2) for v in Lp]
        D = sp.Add(*ws)
        op = sp.Add(*[v * w for v, w in zip(Lp, ws, strict=True)]) / D
        vp = sp.Add(*[v**2 * w for v, w in zip(Lp, ws, strict=True)]) / D - op**2
        facts.append(equal(sp.diff(op, y), 2 * beta * vp, label=f"p={p} Gaussian weights"))
    obs.append(Obligation(
        "I2.derivative", "o'(y) = 2 beta Var_w(L) (general p with symbolic anchors; p = 3, 4 "
        "with Gaussian weights)", Identity(tuple(facts))))
    o_e = S(Lg[j_s] * E[j_s]) / S(E[j_s])
    obs.append(Obligation(
        "I2.variance", "Var_w(L) = sum_j w_j (L_j - o)^2 >= 0 (general p), so o' >= 0",
        Identity((at_least(S(Lg[j_s] ** 2 * E[j_s]) / S(E[j_s]) - o_e**2, 0,
                           S((Lg[j_s] - o_e) ** 2 * E[j_s]) / S(E[j_s])),))))
    # ---------------------------------------------------------------- I3
    Lb = sp.Symbol("L_j", real=True)
    bt = kappa / Delta**2
    yy = Lb + theta * Delta
    e0, e1 = sp.exp(-bt * (yy - Lb) ** 2), sp.exp(-bt * (yy - Lb - Delta) ** 2)
    obs.append(Obligation(
        "I3.renormalise", "the two bracketing anchors, renormalised, give "
        "L_j + Delta sigma(2 kappa (theta - 1/2)) at y = L_j + theta Delta",
        Identity((equal((Lb * e0 + (Lb + Delta) * e1) / (e0 + e1),
                        Lb + Delta * sigma(2 * kappa * (theta - half))),))))
    z = sp.Symbol("z", nonnegative=True)
    obs.append(Obligation(
        "I3.sigmoid-range", "sigma(z) in [1/2, 1] and sigma(-z) in [0, 1/2] for z >= 0 "
        "(z = 2 kappa |theta - 1/2|)",
        Identity((at_least(sigma(z), half, sigma(z) - half, via=z, at=z),
                  at_least(1, sigma(z), sp.exp(-z) / (1 + sp.exp(-z))),
                  at_least(half, sigma(-z), half - sigma(-z), via=z, at=z),
                  at_least(sigma(-z), 0, sigma(-z))))))
    th, sg = sp.symbols("theta s", real=True)
    h1, one = sp.Rational(1, 2), sp.Integer(1)
    cases = []
    for lo, hi in ((sp.Integer(0), h1), (h1, one)):
        box = ((th, lo, hi), (sg, lo, hi))
        # Labelled "conclusion": the node exports the common bound 1/2 of |s - theta|
        # (I3.bound's entailment names it bound:I3.sigmoid-within-half).
        cases += [Case(sg - th, box, h1, f"conclusion: theta, s in [{lo}, {hi}]: s - theta"),
                  Case(th - sg, box, h1, f"conclusion: theta, s in [{lo}, {hi}]: theta - s")]
    obs.append(Obligation(
        "I3.sigmoid-within-half", "|s - theta| <= 1/2 when theta and s = sigma(2 kappa "
        "(theta - 1/2)) lie in the same half of [0, 1]; so the two-anchor term is within "
        "Delta/2 of y for every kappa >= 0", Inequality(tuple(cases))))
    phi = sp.Symbol("phi", nonnegative=True)  # 1 - theta
    thn = sp.Symbol("theta", nonnegative=True)
    kn = sp.Symbol("k", integer=True, nonnegative=True)
    kapn = sp.Symbol("kappa", nonnegative=True)
    sn = sp.Symbol("s", nonnegative=True)
    obs.append(Obligation(
        "I3.tail-gap", "an anchor k steps beyond the bracket has score gap >= kappa k^2 to a "
        "bracket anchor: (k + 1 - theta)^2 - (1 - theta)^2 >= k^2 and (k + theta)^2 - "
        "theta^2 >= k^2 for theta in [0, 1] (scores -kappa (offset - theta)^2 in units of "
        "Delta); so e^{-gap} <= e^{-kappa k^2}, the bound it exports for that anchor's "
        "weight (Lemma S: the weight is at most e^{-gap})",
        Identity((equal(-bt * (yy - (Lb + (1 + k_s) * Delta)) ** 2,
                        -kappa * (1 + k_s - theta) ** 2, label="scores in units of Delta"),
                  at_least(kapn * (kn + phi) ** 2 - kapn * phi**2, kapn * kn**2,
                           2 * kapn * kn * phi, label="right tail (phi = 1 - theta)"),
                  at_least(kapn * (kn + thn) ** 2 - kapn * thn**2, kapn * kn**2,
                           2 * kapn * kn * thn, label="left tail"),
                  # Exported bound e^{-kappa k^2} (k >= 1 as in I3.bound's sum).
                  at_least(sp.exp(-kappa * k_s**2),
                           sp.exp(-(kappa * (k_s + phi) ** 2 - kappa * phi**2)),
                           sp.exp(-kappa * k_s**2) * (1 - sp.exp(-z)), via=z,
                           at=2 * kappa * k_s * phi,
                           label="conclusion: right: e^{-gap} <= e^{-kappa k^2}"),
                  at_least(sp.exp(-kappa * k_s**2),
                           sp.exp(-(kappa * (k_s + thn) ** 2 - kappa * thn**2)),
                           sp.exp(-kappa * k_s**2) * (1 - sp.exp(-z)), via=z,
                           at=2 * kappa * k_s * thn,
                           label="conclusion: left: e^{-gap} <= e^{-kappa k^2}")))))
    obs.append(Obligation(
        "I3.tail-gap-outside", "for y = a - s Delta (s >= 0) anchor i has score gap >= "
        "kappa i^2 to anchor 0 and distance i Delta to a (symmetric above b)",
        Identity((at_least(kapn * (kn + sn) ** 2 - kapn * sn**2, kapn * kn**2,
                           2 * kapn * kn * sn),
                  equal((a_s + kn * Delta) - a_s, kn * Delta)))))
    obs.append(Obligation(
        "I3.tail-distance", "an anchor k steps beyond the bracket is within (k+1) Delta of y",
        # Exported bound (k+1) Delta (k >= 1 as in I3.bound's sum).
        Identity((at_least((k_s + 1) * Delta, (k_s + 1 - thn) * Delta, thn * Delta,
                           label="conclusion: right: L_{j+1+k} - y"),
                  at_least((k_s + 1) * Delta, (k_s + 1 - phi) * Delta, phi * Delta,
                           label="conclusion: left: y - L_{j-k} = (k + theta) Delta")))))
    e5 = sp.symbols("e0:5", positive=True)
    L5 = sp.symbols("l0:5", real=True)
    D5 = sp.Add(*e5)
    o5 = sp.Add(*[v * w for v, w in zip(L5, e5, strict=True)]) / D5
    WB = (e5[1] + e5[2]) / D5
    o2 = (L5[1] * e5[1] + L5[2] * e5[2]) / (e5[1] + e5[2])
    tail = sp.Add(*[e5[i] / D5 * (L5[i] - y) for i in (0, 3, 4)])
    # General p and bracket B = {c, c+1}: the sum over i not in B is the full sum less the
    # two bracket terms (its definition), so the split is algebra over the opaque sums.
    cb = sp.Symbol("c", integer=True, nonnegative=True)
    D_all = S(E[j_s])
    N_all = S((Lg[j_s] - y) * E[j_s])
    E_B = E[cb] + E[cb + 1]
    o2_g = (Lg[cb] * E[cb] + Lg[cb + 1] * E[cb + 1]) / E_B
    rest = N_all - E[cb] * (Lg[cb] - y) - E[cb + 1] * (Lg[cb + 1] - y)
    obs.append(Obligation(
        "I3.decomposition", "for every p >= 2, every bracket B = {c, c+1} and positive "
        "weights: o - y = sum_i w_i (L_i - y) = W_B (o_2 - y) + sum_{i not in B} w_i "
        "(L_i - y), W_B + sum_{i not in B} w_i = 1 (also spelled out for p = 5, B = {1, 2})",
        Identity((equal(o_e - y, N_all / D_all, label="general p"),
                  equal(N_all / D_all, E_B / D_all * (o2_g - y) + rest / D_all,
                        label="general p, bracket {c, c+1}: W_B (o_2 - y) + rest"),
                  equal(E_B / D_all + (D_all - E_B) / D_all, 1,
                        label="W_B + sum_{i not in B} w_i = 1"),
                  equal(o5 - y, WB * (o2 - y) + tail, label="p=5")))))
    r = sp.Symbol("r", positive=True)
    u = sp.Symbol("u", positive=True)
    K = sp.Symbol("K", integer=True, positive=True)
    mm = sp.Symbol("m", integer=True, nonnegative=True)
    xg = sp.Symbol("x", nonnegative=True)
    gg = sp.Symbol("g", nonnegative=True)
    T = lambda KK, rr: rr**KK * ((KK + 1) - KK * rr) / (1 - rr) ** 2  # noqa: E731
    U = lambda KK, rr: rr**KK * (KK - (KK - 1) * rr) / (1 - rr) ** 2  # noqa: E731
    base = sp.exp(-kapn * K * (K + mm))
    obs.append(Obligation(
        "I3.tail-series", "sum_{k>=K} (k+1) e^{-kappa k^2} <= T_K(e^{-kappa K}): "
        "e^{-kappa k^2} <= r^k for k = K + m >= K, 0 < r = e^{-kappa K} < 1, and "
        "sum_{k>=K} (k+1) r^k = T_K(r) by telescoping (T_K(r) - T_{K+1}(r) = (K+1) r^K, "
        "T_K(r) -> 0); likewise U_K for sum k r^k",
        Identity((at_least(base, sp.exp(-kapn * (K + mm) ** 2), base - base * sp.exp(-gg),
                           via=gg, at=kapn * (K + mm) * mm, label="termwise comparison"),
                  at_least(1 - sp.exp(-xg), xg * sp.exp(-xg),
                           1 - sp.exp(-xg) - xg * sp.exp(-xg), via=xg, at=xg,
                           label="1 - r >= kappa K r (> 0 for kappa K > 0)"),
                  equal(T(K, r) - T(K + 1, r), (K + 1) * r**K, label="telescoping T"),
                  equal(sp.Limit(T(K, 1 / (1 + u)), K, sp.oo), 0, label="T_K -> 0, 0<r<1"),
                  equal(U(K, r) - U(K + 1, r), K * r**K, label="telescoping U"),
                  equal(sp.Limit(U(K, 1 / (1 + u)), K, sp.oo), 0, label="U_K -> 0, 0<r<1"),
                  equal(a_priori_bound_I3(kappa, Delta, 3),
                        Delta * (half + 2 * (2 * sp.exp(-kappa) + 3 * sp.exp(-4 * kappa)
                                             + 4 * sp.exp(-9 * kappa)
                                             + T(4, sp.exp(-4 * kappa)))),
                        label="a_priori_bound_I3 is finite sum + T_{N+1}")))))
    obs += _i3_assembly({o.id: o for o in obs})
    inst = []
    # Each case's bound is below the largest error of its head (no case is vacuous): the
    # error of the two-anchor term alone reaches about 0.13 Delta (kappa = 4), 0.27 Delta
    # (kappa = 8), and more for smaller kappa, while every bound is below b - a.
    for (a, b, p, kv) in ((-1, 1, 2, 4), (-1, 1, 5, Fraction(1, 2)),
                          (-1, 1, 5, 3), (0, 3, 4, 1), (-1, 1, 5, 8)):
        dl = Fraction(b - a, p - 1)
        bound = a_priori_bound_I3(kv, sp.Rational(dl.numerator, dl.denominator))
        w = Fraction(b - a, 2)
        inst += list(_instance_case(a, b, p, kv, a - w, b + w, bound,
                                    label=f"a={a}, b={b}, p={p}, kappa={kv}"))
    obs.append(Obligation(
        "I3.instance", "|o(y) - Range(y)| <= Delta c(kappa) for all y in "
        "[a - (b-a)/2, b + (b-a)/2] on five concrete heads (exact anchors and beta; "
        "p = 2 with kappa = 4 and p = 5 with kappa = 8 have bounds below their heads' "
        "largest error without the 1/2)",
        Inequality(tuple(inst))))
    # ---------------------------------------------------------------- I4
    eta = sp.Symbol("eta", positive=True)
    ra = sp.exp(-kappa)
    T0 = ra / (1 - ra)
    T1 = T(1, ra)
    lower = (1 - 2 * T0) * (half - eta - sigma(-2 * kappa * eta)) - 2 * T1
    # W_B = 1 - 2 T0 + omega and tail = 2 Delta T1 - tau (omega, tau >= 0: the premises),
    # g >= 0 the two-anchor error in units of Delta.
    omega_s, tau_s, gs = sp.symbols("omega tau g", nonnegative=True)
    WBs = 1 - 2 * T0 + omega_s
    tails = 2 * Delta * T1 - tau_s
    obs.append(Obligation(
        "I4.pointwise", "as kappa -> oo the two-anchor term tends to the nearest anchor: "
        "sigma(2 kappa (theta - 1/2)) -> 0 for theta = 1/2 - eta, -> 1 for theta = 1/2 + eta",
        Identity((equal(sp.Limit(sigma(2 * kappa * (-eta)), kappa, sp.oo), 0),
                  equal(sp.Limit(sigma(2 * kappa * eta), kappa, sp.oo), 1)))))
    obs.append(Obligation(
        "I4.upper-limit", "the I3 bound tends to Delta/2 as kappa -> oo",
        Identity((equal(sp.Limit(a_priori_bound_I3(kappa, Delta, 1), kappa, sp.oo),
                        Delta / 2),))))
    obs.append(Obligation(
        "I4.lower-limit", "the error at theta = 1/2 - eta is at least Delta ((1 - 2 T0) (1/2 "
        "- eta - sigma(-2 kappa eta)) - 2 T1), which tends to Delta (1/2 - eta); with "
        "I4.upper-limit the sup error tends to Delta/2",
        Identity((at_least(WBs * Delta * gs - tails, Delta * ((1 - 2 * T0) * gs - 2 * T1),
                           omega_s * Delta * gs + tau_s,
                           label="y - o >= Delta ((1 - 2 T0) g - 2 T1) for g = 1/2 - eta - "
                                 "sigma(-2 kappa eta) >= 0, W_B >= 1 - 2 T0, tail <= "
                                 "2 Delta T1"),
                  equal(sp.Limit(lower, kappa, sp.oo), half - eta),
                  equal(sp.Limit(half - eta, eta, 0), half, label="eta -> 0"),
                  equal(Delta * (sigma(2 * kappa * (half - eta - half)) - (half - eta)),
                        -Delta * (half - eta - sigma(-2 * kappa * eta)),
                        label="o_2 - y at theta = 1/2 - eta")))))
    # ---------------------------------------------------------------- I5
    g = sp.Function("g")
    obs.append(Obligation(
        "I5.decomposition", "o(y) - g(y) = sum_j w_j (g(L_j) - g(y)) for values g(L_j) "
        "(general p)",
        Identity((equal(S(g(Lg[j_s]) * E[j_s]) / S(E[j_s]) - g(y),
                        S((g(Lg[j_s]) - g(y)) * E[j_s]) / S(E[j_s])),))))
    # Bound 0.268 is far below the oscillation of sin on [0, 2]: wrong values fail.
    a5, b5, p5, k5 = 0, 2, 9, 4
    d5 = sp.Rational(b5 - a5, p5 - 1)
    L5v = [a5 + j * d5 for j in range(p5)]
    bound5 = a_priori_bound_I3(k5, d5) + d5 / 2  # omega(h) = h: Delta (1 + 2 S(kappa))
    obs.append(Obligation(
        "I5.instance", "g = sin on [0, 2], p = 9, kappa = 4, omega(h) = h: |o(y) - sin(y)| "
        "<= omega(Delta) + 2 sum_k omega((k+1) Delta) e^{-kappa k^2} for all y in [0, 2]",
        Inequality(_instance_case(a5, b5, p5, k5, a5, b5, bound5,
                                  values=[I5_VALUES(v) for v in L5v], target=I5_TARGET(y),
                                  label="sin"))))
    obs.append(Obligation(
        "I5.general", "for every continuous g with modulus omega: |o(y) - g(y)| <= "
        "omega(Delta) + 2 sum_{k>=1} omega((k+1) Delta) e^{-kappa k^2} on [a, b]",
        Open("not mechanised for an arbitrary modulus of continuity: the chain of "
             "inequalities uses I5.decomposition, I3.tail-gap, I3.tail-distance and Lemma S "
             "exactly as in I3; only the instance g = sin is verified (I5.instance)")))
    return [dataclasses.replace(o, uses=USES.get(o.id, ()), scope=SCOPE.get(o.id, o.scope))
            for o in obs]


#: Inequalities whose box is the whole domain of their variables, so they hold in general:
#: theta and s = sigma(2 kappa (theta - 1/2)) both lie in [0, 1/2] or both in [1/2, 1], for
#: every kappa >= 0 (I3.sigmoid-range), and the two cases cover both boxes entirely.
SCOPE: dict[str, str] = {"I3.sigmoid-within-half": "general"}


#: The proof DAG of Lemma I: which obligations each one's argument uses.
USES: dict[str, tuple[str, ...]] = {
    "I1.shift": ("I1.score",),
    "I2.derivative": ("I1.shift",),
    "I2.variance": ("I2.derivative",),
    "I3.renormalise": ("I1.shift",),
    "I3.sigmoid-within-half": ("I3.renormalise", "I3.sigmoid-range"),
    "I3.tail-gap": ("I1.score",),
    "I3.bound": ("I3.decomposition", "I3.renormalise", "I3.sigmoid-within-half", "I3.tail-gap",
                 "S.pointwise", "S.gap", "I3.tail-distance", "I3.count", "I3.tail-series"),
    "I3.bound-outside": ("I3.tail-gap-outside", "S.pointwise", "S.gap", "I2.range",
                         "I3.tail-series"),
    "I3.instance": ("I3.bound",),
    "I4.upper-limit": ("I3.bound",),
    "I4.lower-limit": ("I3.decomposition", "I3.renormalise", "I3.tail-gap", "S.pointwise",
                       "I3.tail-distance", "I3.count", "I3.tail-series", "I4.pointwise"),
    "I5.instance": ("I5.decomposition",),
    "I5.general": ("I5.decomposition", "I3.tail-gap", "I3.tail-distance"),
}


#: The premises whose exported bounds I3.bound's entailment combines (bound:<id> symbols).
I3_PREMISES: tuple[str, ...] = ("I3.sigmoid-within-half", "I3.tail-distance", "I3.tail-gap")


def i3_bound_expr(terms: Any = None) -> sp.Expr:
    """I3.bound's stated bound ``Delta/2 + 2 Delta sum_{k=1}^{K} (k+1) e^{-kappa k^2}``."""
    Kt = sp.Symbol("K", integer=True, positive=True) if terms is None else terms
    return half * Delta + sp.Sum(2 * (k_s + 1) * Delta * sp.exp(-kappa * k_s**2), (k_s, 1, Kt))


def i3_entailment_bound(two_per_distance: bool = True) -> sp.Expr:
    """I3.bound's entailment bound ``E = Delta S + sum_{k=1}^{K} 2 D G`` in the premise
    bounds ``S = bound:I3.sigmoid-within-half`` (|s - theta|), ``D = bound:I3.tail-distance(k,
    k)`` (offset of an anchor k steps beyond the bracket) and ``G = bound:I3.tail-gap(k, k)``
    (its weight), the last two applied at the summation index; the factor 2 counts the two
    anchors per k (I3.count).  ``two_per_distance=False`` drops it (for tests: the
    conclusion then no longer matches)."""

    Kt = sp.Symbol("K", integer=True, positive=True)
    S, D, G = i3_premise_bounds()
    return Delta * S + sp.Sum((2 if two_per_distance else 1) * D * G, (k_s, 1, Kt))


def i3_premise_bounds() -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """``S = bound:I3.sigmoid-within-half`` (a symbol) and ``D``, ``G``: the bounds
    I3.tail-distance and I3.tail-gap export, applied at the summation index k
    (``bound:<id>(k, k)``, :func:`theorems.obligations.premise_bound`)."""
    from theorems.t2_rate import bound_symbol

    return (bound_symbol("I3.sigmoid-within-half"),
            premise_bound("I3.tail-distance", (k_s, k_s)),
            premise_bound("I3.tail-gap", (k_s, k_s)))


def _i3_assembly(premises: dict[str, Obligation] | None = None,
                 two_per_distance: bool = True) -> list[Obligation]:
    """I3.count, I3.bound and I3.bound-outside: the combination step of I3, for all y.

    I3.bound is an *entailment* (as T2.rate, :mod:`theorems.t2_rate`): its facts hold for
    every value of the symbols ``S = bound:I3.sigmoid-within-half``,
    ``D = bound:I3.tail-distance`` and ``G = bound:I3.tail-gap`` (nonnegative), and its fact
    labelled ``conclusion`` equates the stated bound with ``E = Delta S + sum_{k=1}^{K} 2 D G``
    at the bounds those nodes export (1/2, ``(k+1) Delta`` and ``e^{-kappa k^2}``; the
    premises' k is the summation index, so each is taken at every k), which ``attncert
    theorems replay`` recomputes (:func:`theorems.replay.check_entailments`).

    Within the entailment every premise is a parametrisation covering exactly the values it
    allows: a bracket weight ``W_B = 1/(1 + s_B)`` in (0, 1]; the two-anchor error
    ``o_2 - y = Delta (s - theta)`` (I3.renormalise) with ``s - theta = S - alpha``,
    ``alpha >= 0`` (I3.sigmoid-within-half; the lower side is the same with ``theta - s``);
    the weight of the anchor k steps beyond the bracket on each side ``G/(1 + s_k)`` (Lemma S
    bounds it by ``e^{-gap}``, I3.tail-gap bounds that by G); its offset
    ``L_i - y = D - delta_k`` with ``delta_k >= 0`` (I3.tail-distance; the lower side is the
    same with ``y - L_i``; absent anchors have offset 0).  The sum over anchors outside the
    bracket is the sum over k of one right and one left anchor (I3.count).  The certificate
    is a sum of nonnegative terms, so the claim holds for every K; the closed form dominates
    the series (I3.tail-series).

    Parameters
    ----------
    premises : dict, optional
        The premise nodes by id (default: built by :func:`obligations`).
    two_per_distance : bool
        False drops the factor 2 of the entailment (for tests).
    """
    from theorems.t2_rate import bound_symbol, exported_bound

    if premises is None:
        premises = {o.id: o for o in obligations()}
    Kt = sp.Symbol("K", integer=True, positive=True)
    kk = k_s  # the premises' k: their exported bounds are taken at every summation index
    jj = sp.Symbol("j", integer=True, nonnegative=True)
    ii = sp.Symbol("i", integer=True)
    S, D, G = i3_premise_bounds()
    sB, alpha = sp.symbols("s_B alpha", nonnegative=True)
    sp_, sm_ = sp.IndexedBase("s_r", nonnegative=True), sp.IndexedBase("s_l", nonnegative=True)
    dp_, dm_ = sp.IndexedBase("d_r", nonnegative=True), sp.IndexedBase("d_l", nonnegative=True)
    WB = 1 / (1 + sB)
    wr, wl = G / (1 + sp_[kk]), G / (1 + sm_[kk])
    xr, xl = D - dp_[kk], D - dm_[kk]
    # One side suffices: with x = sign (o - y) for sign = +1 or -1, the premises give
    # sign (s - theta) <= S and sign (L_i - y) <= D alike.
    o2 = Delta * (S - alpha)
    tail = sp.Sum(wr * xr + wl * xl, (kk, 1, Kt))
    cert_bracket = Delta * alpha / (1 + sB) + Delta * S * sB / (1 + sB)
    tail_cert = G * (D * (sp_[kk] / (1 + sp_[kk]) + sm_[kk] / (1 + sm_[kk]))
                     + dp_[kk] / (1 + sp_[kk]) + dm_[kk] / (1 + sm_[kk]))
    E = i3_entailment_bound(two_per_distance)
    exports = {i: exported_bound(premises[i]) for i in I3_PREMISES}
    sub = {bound_symbol("I3.sigmoid-within-half"): exports["I3.sigmoid-within-half"]}
    links = tuple((i, exports[i]) for i in ("I3.tail-distance", "I3.tail-gap"))
    facts = [
        at_least(E, WB * o2 + tail, cert_bracket + sp.Sum(tail_cert, (kk, 1, Kt)),
                 label="entailment: +-(o - y) = W_B (o_2 - y) + sum over the anchors k = 1..K "
                       "steps beyond the bracket, two per k"),
        equal(i3_bound_expr(Kt), resolve_bounds(E.xreplace(sub), dict(links)),
              label="conclusion")]
    # Outside: y = a - s Delta; o - a = sum_i w_i i Delta with w_i <= e^{-kappa i^2} (the
    # gap to anchor 0) and o - a >= 0 (I2.range); above b symmetric.
    so = sp.IndexedBase("s_o", nonnegative=True)
    outside = sp.Sum(kk * Delta * sp.exp(-kappa * kk**2) / (1 + so[kk]), (kk, 1, Kt))
    return [
        Obligation("I3.count", "the anchors outside the bracket {j, j+1} are indexed "
                   "bijectively by (side, k), k >= 1: i = j + 1 + k (right) and i = j - k "
                   "(left); so there are at most two anchors k steps beyond the bracket",
                   Identity((equal((jj + 1 + kk) - (jj + 1), kk, label="right: k(i(k)) = k"),
                             equal(jj + 1 + (ii - jj - 1), ii, label="right: i(k(i)) = i"),
                             equal(jj - (jj - kk), kk, label="left: k(i(k)) = k"),
                             equal(jj - (jj - ii), ii, label="left: i(k(i)) = i")))),
        Obligation("I3.bound", "for every real y, p >= 2, kappa > 0 and every number K of "
                   "anchor levels beyond the bracket: |o(y) - y| <= Delta/2 + 2 Delta "
                   "sum_{k=1}^{K} (k+1) e^{-kappa k^2} <= Delta c(kappa) for y in [a, b] "
                   "(triangle inequality over the decomposition, two anchors per k)",
                   Identity(tuple(facts), premise_bounds=links)),
        Obligation("I3.bound-outside", "for y <= a (y >= b symmetric): 0 <= o - a <= Delta "
                   "sum_{k=1}^{K} k e^{-kappa k^2}",
                   Identity((at_least(sp.Sum(kk * Delta * sp.exp(-kappa * kk**2), (kk, 1, Kt)),
                                      outside,
                                      sp.Sum(kk * Delta * sp.exp(-kappa * kk**2) * so[kk]
                                             / (1 + so[kk]), (kk, 1, Kt)),
                                      termwise=True, label="o - a <= Delta sum k e^{-kappa k^2}"),
                             ))),
    ]


def entry() -> TheoremEntry:
    """Registry entry of Lemma I."""
    o = sp.Function("o")
    return TheoremEntry(
        id=ID, title="Lemma I: attention as interpolation",
        paper={"v1": "unknown", "v2": "unknown"},
        paper_claim="one softmax head over p anchors approximates a truncated linear function "
                    "with error O(1/p) (the paper's key mechanism; its exact statement and "
                    "constants: unknown)",
        hypotheses=(sp.Lt(a_s, b_s, evaluate=False), sp.Ge(p_s, 2, evaluate=False),
                    sp.Eq(Delta, (b_s - a_s) / (p_s - 1), evaluate=False),
                    sp.Eq(beta, kappa / Delta**2, evaluate=False),
                    sp.Gt(kappa, 0, evaluate=False)),
        conclusion=sp.Le(sp.Abs(o(y) - range_expr(y, a_s, b_s)), i3_series(kappa, Delta)),
        statement="|o(y) - Range_[a,b](y)| <= Delta (1/2 + 2 sum_{k>=1} (k+1) e^{-kappa k^2}) "
                  "for every real y (I3), with I1, I2, I4, I5 as in docs/mathematics.md, section 3",
        obligations=obligations, construction=None,
        a_priori_bound=a_priori_bound_I3(kappa, Delta))
