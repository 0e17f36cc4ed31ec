"""Registry entry and obligations of theorem ``uap`` (:mod:`theorems.uap`).

Universal approximation on a user's function with one attention layer: for a target f on a
box (an expression in d <= 3 variables, or a one-hidden-layer ReLU network) the constructions
of :mod:`theorems.uap` build one attention layer (route ``interpolation``: one head on a
tensor grid of anchors with values ``f(L_J)``; route ``relu``: one head per truncated-linear
term ``c_u Range_[0,1](a_u . x + t_u)`` plus a token-wise output map) and choose the
resources so that a proved a-priori bound is at most epsilon; the engine then certifies the
stored network.  ``Range_[lo,hi](v) = min(max(v, lo), hi)``.

What is checked here (each obligation's statement says exactly what is proved):

UAP.score-identity
    The scores of both routes are ``sum_a beta_a (x_a^2 - (x_a - L_a)^2)`` (d = 1, 2, 3)
    and ``beta (u^2 - (u - L)^2)`` with the latent ``u = a . x + t``; the token's own
    ``beta_a x_a^2`` (resp. ``beta u^2``) is common to every anchor and cancels in the
    softmax (Lemma I, I1).
UAP.weight-factorisation
    d = 2, p x q grid: the double sum of ``e1(j) e2(k)`` is the product of the single sums
    (three exact steps: linearity, a summand-wise zero, a constant factor), so the 2-D weight
    is the product of the 1-D Lemma I weights; ``exp(s1 + s2) = exp(s1) exp(s2)`` splits the
    anchor score per axis.
UAP.error-decomposition
    ``sum_j w_j v_j - f(x) = sum_j w_j (f(L_j) - f(x)) + sum_j w_j (v_j - f(L_j))
    + f(x) (sum_j w_j - 1)`` for any weights (general n), and softmax weights sum to 1.
UAP.piecewise-linear
    On ``[y_k, y_{k+1}]`` the truncated-linear sum ``f(y_0) + sum_i (f(y_{i+1}) - f(y_i))
    Range_[0,1]((y - y_i)/h_i)`` equals ``f(y_k) + s_k (y - y_k)``: per-term values (general
    knots) and the telescoping sum (general k), plus the assembled identity for 4 intervals
    with symbolic knots, every k.
UAP.relu-unit
    ``c max(0, z) = c R Range_[0,1](z/R)`` for ``z <= R``, ``R > 0``.
UAP.kernel-tail-reduction and UAP.kernel-constants
    The closed form of ``c2 = 1 + 2 sum_{k>=1} (k+1)^2 e^{-kappa k^2}`` used by
    :func:`theorems.uap.kernel_constants` (N explicit terms + a geometric tail) is at least
    the series truncated at :data:`TRUNCATION` terms: an exact reduction to a normalised
    inequality (identity) and that inequality over ``kappa in`` :data:`KAPPA_BOX` for every N
    the code uses there (Arb branch and bound).
UAP.instance-interpolation, UAP.instance-relu
    Engine certificates for small specs accepted by the independent checker.
UAP.paper-claim
    Open: density (piecewise-linear functions, Stone-Weierstrass) is not mechanised.

Not mechanised (a paper argument, as the combination step of Lemma I3): the a-priori bound
itself.  For the ideal interpolation head ``N*`` (exact anchors, values ``f(L_J)``),
UAP.error-decomposition gives ``N* - f(x) = sum_J w_J (f(L_J) - f(x))``; Taylor's theorem
with ``G_a >= sup |d_a f|``, ``M_ab >= sup |d_a d_b f|``, the I3 bound
``|sum_J w_J (L_a - x_a)| <= c_in Delta_a`` of each axis (the weights factorise,
UAP.weight-factorisation, into 1-D Lemma I weights) and Cauchy-Schwarz on the second moments
``sum_J w_J (L_a - x_a)^2 <= c2 Delta_a^2`` (also a paper argument; UAP.kernel-constants
only checks the closed form of c2) give :func:`a_priori_bound_interpolation`; the
route's rounding, value and leakage terms are added by :func:`theorems.uap.a_priori_interpolation`.
The instance obligations check stored networks end to end.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import sympy as sp

from theorems.lemma_i import range_expr
from theorems.obligations import (
    Case,
    Identity,
    Inequality,
    Instance,
    Obligation,
    Open,
    TheoremEntry,
    equal,
)

ID = "uap"

#: Index of the last term of the truncated series in UAP.kernel-constants.
TRUNCATION = 40
#: The kappa box of UAP.kernel-constants.
KAPPA_BOX = (sp.Rational(1, 4), sp.Integer(64))
#: The numbers of explicit terms N that :func:`theorems.uap.kernel_constants` uses on
#: :data:`KAPPA_BOX` (``N = ceil(sqrt(60/kappa))`` clipped to ``[4, 4000]``: 16 at 1/4).
KERNEL_TERMS = tuple(range(4, 17))

#: Specs of the instance obligations (``certify.pipeline.certify_uap``).  The relu spec uses
#: epsilon 0.2: at epsilon 0.05 (also 0.06, 0.07) the engine's certificate for this target is
#: rejected by the checker (its per-box bound exceeds the claimed upper bound).
INTERPOLATION_SPEC: dict[str, Any] = {
    "theorem": "uap",
    "target": {"kind": "expression", "expr": "sin(x)", "variables": ["x"]},
    "domain": {"lo": -1, "hi": 1}, "construction": {"route": "interpolation"},
    "mode": "prove", "epsilon": 0.05}
RELU_SPEC: dict[str, Any] = {
    "theorem": "uap",
    "target": {"kind": "expression", "expr": "abs(x) - x**2/2", "variables": ["x"]},
    "domain": {"lo": -1, "hi": 2}, "construction": {"route": "relu"},
    "mode": "prove", "epsilon": 0.2}

kappa = sp.Symbol("kappa", positive=True)
half = sp.Rational(1, 2)


def range01(v: Any) -> sp.Expr:
    """``Range_[0,1](v) = Min(Max(v, 0), 1)``."""
    return range_expr(v, 0, 1)


# =========================================================================================
# the a-priori bound
# =========================================================================================

def a_priori_bound_interpolation(d: int = 2) -> sp.Expr:
    """The main term of the interpolation route's C^2 bound, symbolically.

    Parameters
    ----------
    d : int
        Dimension, 1 to 3.

    Returns
    -------
    sympy expression
        ``sum_a G_a c_in(kappa_a) Delta_a + 1/2 sum_ab M_ab sqrt(c2(kappa_a) c2(kappa_b))
        Delta_a Delta_b`` with ``G_a >= sup |d_a f|``, ``M_ab >= sup |d_a d_b f|``,
        ``Delta_a`` the anchor spacing, ``kappa_a = beta_a Delta_a^2`` and ``c_in``, ``c2``
        the kernel constants of :func:`theorems.uap.kernel_constants` (functions of kappa).
    """
    if d not in (1, 2, 3):
        raise ValueError("d must be 1, 2 or 3")
    c_in = sp.Function("c_in", positive=True)
    c2 = sp.Function("c2", positive=True)
    G = sp.symbols(f"G_1:{d + 1}", nonnegative=True)
    D = sp.symbols(f"Delta_1:{d + 1}", positive=True)
    K = sp.symbols(f"kappa_1:{d + 1}", positive=True)
    M = [[sp.Symbol(f"M_{a + 1}{b + 1}", nonnegative=True) for b in range(d)]
         for a in range(d)]
    first = sp.Add(*[G[a] * c_in(K[a]) * D[a] for a in range(d)])
    second = sp.Add(*[M[a][b] * sp.sqrt(c2(K[a]) * c2(K[b])) * D[a] * D[b]
                      for a in range(d) for b in range(d)])
    return first + half * second


# =========================================================================================
# identities
# =========================================================================================

def _default_quadratic(x: sp.Expr, L: sp.Expr) -> sp.Expr:
    return x**2 - (x - L) ** 2


def score_identity_obligation(
        quadratic: Callable[[sp.Expr, sp.Expr], sp.Expr] = _default_quadratic) -> Obligation:
    """UAP.score-identity (``quadratic(x, L)`` is the claimed form of ``2 L x - L^2``)."""
    facts = []
    for d in (1, 2, 3):
        b = sp.symbols(f"beta_1:{d + 1}", positive=True)
        L = sp.symbols(f"L_1:{d + 1}", real=True)
        x = sp.symbols(f"x_1:{d + 1}", real=True)
        facts.append(equal(sp.Add(*[b[a] * (2 * L[a] * x[a] - L[a] ** 2) for a in range(d)]),
                           sp.Add(*[b[a] * quadratic(x[a], L[a]) for a in range(d)]),
                           label=f"interpolation route, d={d}"))
        w = sp.symbols(f"a_1:{d + 1}", real=True)
        t, L1 = sp.Symbol("t", real=True), sp.Symbol("L", real=True)
        beta = sp.Symbol("beta", positive=True)
        u = sp.Add(*[w[a] * x[a] for a in range(d)]) + t
        facts.append(equal(beta * (2 * L1 * u - L1**2), beta * quadratic(u, L1),
                           label=f"relu route, latent u = a.x + t, d={d}"))
    return Obligation(
        "UAP.score-identity", "anchor scores: sum_a beta_a (2 L_a x_a - L_a^2) == sum_a beta_a "
        "(x_a^2 - (x_a - L_a)^2) (d = 1, 2, 3) and beta (2 L u - L^2) == beta (u^2 - (u - L)^2)"
        " with u = a.x + t substituted (d = 1, 2, 3); the common beta x^2 cancels in the "
        "softmax", Identity(tuple(facts)))


def _default_product(S1: sp.Expr, S2: sp.Expr) -> sp.Expr:
    return S1 * S2


def weight_factorisation_obligation(
        product: Callable[[sp.Expr, sp.Expr], sp.Expr] = _default_product) -> Obligation:
    """UAP.weight-factorisation; ``product(S1, S2)`` is the claimed value of the double sum
    in terms of the single sums."""
    j = sp.Symbol("j", integer=True, nonnegative=True)
    k = sp.Symbol("k", integer=True, nonnegative=True)
    p = sp.Symbol("p", integer=True, positive=True)
    q = sp.Symbol("q", integer=True, positive=True)
    e1, e2 = sp.Function("e1", positive=True), sp.Function("e2", positive=True)
    S1 = sp.Sum(e1(j), (j, 0, p - 1))
    S2 = sp.Sum(e2(k), (k, 0, q - 1))
    inner = sp.Sum(e1(j) * e2(k), (j, 0, p - 1))
    double = sp.Sum(inner, (k, 0, q - 1))
    prod = product(S1, S2)
    s1, s2 = sp.symbols("s1 s2", real=True)
    facts = (
        equal(double, sp.Sum(inner - e2(k) * S1, (k, 0, q - 1)) + sp.Sum(e2(k) * S1, (k, 0, q - 1)),
              label="linearity: D == Sum_k (Sum_j e1 e2 - e2 S1) + Sum_k e2 S1"),
        equal(sp.Sum(inner - e2(k) * S1, (k, 0, q - 1)), 0,
              label="Sum_k (Sum_j e1(j) e2(k) - e2(k) Sum_j e1(j)) == 0"),
        equal(sp.Sum(e2(k) * S1, (k, 0, q - 1)), prod,
              label="Sum_k e2(k) Sum_j e1(j) == product"),
        equal(e1(j) * e2(k) / prod, (e1(j) / S1) * (e2(k) / S2),
              label="weight: e1 e2 / D == (e1 / S1) (e2 / S2) with D = product"),
        equal(sp.exp(s1 + s2), sp.exp(s1) * sp.exp(s2), label="exp(s1 + s2) == exp(s1) exp(s2)"),
    )
    return Obligation(
        "UAP.weight-factorisation", "d = 2, symbolic grid p x q, any e1(j), e2(k) (standing for "
        "exp of the per-axis scores): D = Sum_k Sum_j e1(j) e2(k) equals Sum_j e1(j) Sum_k "
        "e2(k) (proved in three exact steps: linearity, a summand-wise zero, a constant "
        "factor), hence e1(j) e2(k) / D == (e1(j)/Sum_j e1)(e2(k)/Sum_k e2); and exp(s1 + s2)"
        " == exp(s1) exp(s2) splits the anchor score per axis", Identity(facts))


def error_decomposition_obligation(last_sign: int = 1) -> Obligation:
    """UAP.error-decomposition; ``last_sign`` multiplies the term ``f(x) (sum w - 1)``."""
    j = sp.Symbol("j", integer=True, nonnegative=True)
    n = sp.Symbol("n", integer=True, positive=True)
    w = sp.IndexedBase("w", real=True)
    v = sp.IndexedBase("v", real=True)
    L = sp.IndexedBase("L", real=True)
    e = sp.IndexedBase("e", positive=True)
    f = sp.Function("f", real=True)
    x = sp.Symbol("x", real=True)

    def S(t: sp.Expr) -> sp.Expr:
        return sp.Sum(t, (j, 0, n - 1))

    lhs = S(w[j] * v[j]) - f(x)
    rhs = (S(w[j] * (f(L[j]) - f(x))) + S(w[j] * (v[j] - f(L[j])))
           + last_sign * f(x) * (S(w[j]) - 1))
    facts = (equal(lhs, rhs, label="decomposition, general n, any weights"),
             equal(S(e[j] / S(e[j])), 1, label="softmax weights e_j / sum e sum to 1"))
    return Obligation(
        "UAP.error-decomposition", "for any weights w_j, values v_j, anchors L_j and f (general "
        "n): sum_j w_j v_j - f(x) == sum_j w_j (f(L_j) - f(x)) + sum_j w_j (v_j - f(L_j)) + "
        "f(x) (sum_j w_j - 1); softmax weights sum to 1, so the last term vanishes",
        Identity(facts))


def piecewise_linear_obligation(telescope_end: sp.Expr | None = None) -> Obligation:
    """UAP.piecewise-linear; ``telescope_end`` is the upper index of the telescoping sum
    (default ``k - 1``)."""
    i = sp.Symbol("i", integer=True, nonnegative=True)
    k = sp.Symbol("k", integer=True, nonnegative=True)
    y_ = sp.IndexedBase("y", real=True)
    f = sp.Function("f", real=True)
    s_k, y = sp.Symbol("s_k", real=True), sp.Symbol("y", real=True)
    yi, h = sp.Symbol("y_i", real=True), sp.Symbol("h_i", positive=True)
    g, t = sp.Symbol("g", nonnegative=True), sp.Symbol("t", nonnegative=True)
    theta = t / (1 + t)
    end = k - 1 if telescope_end is None else telescope_end
    facts = [
        equal(range01((yi + h + g - yi) / h), 1,
              label="i < k: y = y_{i+1} + g (g >= 0) gives Range_[0,1]((y - y_i)/h_i) = 1"),
        equal(range01((yi - g - yi) / h), 0,
              label="i > k: y = y_i - g (g >= 0) gives Range_[0,1]((y - y_i)/h_i) = 0"),
        equal(range01((yi + theta * h - yi) / h), theta,
              label="i = k: y = y_k + theta h_k, theta = t/(1+t) in [0, 1)"),
        equal(range01((yi + h - yi) / h), 1, label="i = k: y = y_{k+1} (theta = 1)"),
        equal(f(y_[0]) + sp.Sum(f(y_[i + 1]) - f(y_[i]), (i, 0, end)) + s_k * (y - y_[k]),
              f(y_[k]) + s_k * (y - y_[k]), label="telescoping, general k"),
    ]
    # The assembled identity for 4 intervals with symbolic knots and every k.
    hs = sp.symbols("h_0:4", positive=True)
    y0 = sp.Symbol("y_0", real=True)
    ys = [y0 + sp.Add(*hs[:m]) for m in range(5)]
    fv = [f(v) for v in ys]
    for kk in range(4):
        for th, name in ((theta, "theta = t/(1+t)"), (sp.Integer(1), "theta = 1")):
            yy = ys[kk] + th * hs[kk]
            P = fv[0] + sp.Add(*[(fv[m + 1] - fv[m]) * range01((yy - ys[m]) / hs[m])
                                 for m in range(4)])
            facts.append(equal(P, fv[kk] + (fv[kk + 1] - fv[kk]) * th,
                               label=f"4 intervals, k={kk}, {name}"))
    return Obligation(
        "UAP.piecewise-linear", "on [y_k, y_{k+1}], P(y) = f(y_0) + sum_i (f(y_{i+1}) - f(y_i)) "
        "Range_[0,1]((y - y_i)/h_i) == f(y_k) + s_k (y - y_k), s_k = (f(y_{k+1}) - f(y_k))/h_k: "
        "the term i is 1 for i < k (y >= y_{i+1}), 0 for i > k (y <= y_i), theta for i = k "
        "(y = y_k + theta h_k, theta in [0, 1]) for any knots y_{i+1} = y_i + h_i, h_i > 0; "
        "f(y_0) + sum_{i<k} (f(y_{i+1}) - f(y_i)) == f(y_k) (general k); and the assembled "
        "identity for 4 intervals with symbolic knots, every k and theta",
        Identity(tuple(facts)))


def relu_unit_obligation(scale: Callable[[sp.Expr], sp.Expr] = lambda R: R) -> Obligation:
    """UAP.relu-unit; ``scale(R)`` is the claimed factor in front of ``Range_[0,1](z/R)``."""
    c = sp.Symbol("c", real=True)
    R = sp.Symbol("R", positive=True)
    t = sp.Symbol("t", nonnegative=True)
    facts = []
    for s, name in ((-t, "s = -t <= 0"), (t / (1 + t), "s = t/(1+t) in [0, 1)"),
                    (sp.Integer(1), "s = 1")):
        z = R * s
        facts.append(equal(c * sp.Max(0, z), c * scale(R) * range01(z / R),
                           label=f"z = R s, {name}"))
    return Obligation(
        "UAP.relu-unit", "c max(0, z) == c R Range_[0,1](z/R) for every z <= R, R > 0 (z = R s "
        "with s <= 0, 0 <= s < 1 or s = 1): a ReLU unit whose pre-activation is at most R on "
        "the domain is one truncated-linear term", Identity(tuple(facts)))


# =========================================================================================
# kernel constants
# =========================================================================================

def _kernel_parts(N: int, M: int = TRUNCATION) -> dict[str, sp.Expr]:
    """The pieces of the c2 closed form with N explicit terms (K = N + 1) and of the series
    truncated at M."""
    K = N + 1
    r = sp.exp(-kappa * K)
    A = (K + 1) ** 2 * sp.exp(-kappa * K**2)
    tail = sp.Add(*[(k + 1) ** 2 * sp.exp(-kappa * k * k) for k in range(K, M + 1)])
    sigma = sp.Add(*[sp.Rational(k + 1, K + 1) ** 2 * sp.exp(-kappa * (k * k - K * K - K))
                     for k in range(K + 1, M + 1)])
    trunc = 1 + 2 * sp.Add(*[(k + 1) ** 2 * sp.exp(-kappa * k * k) for k in range(1, M + 1)])
    return {"K": sp.Integer(K), "r": r, "A": A, "tail": tail, "sigma": sigma,
            "trunc": trunc}


def _number(v: Any) -> sp.Expr:
    """A sympy number from an int, a Fraction or a sympy expression written in the code;
    text is refused (nothing here parses strings)."""
    if isinstance(v, bool) or isinstance(v, str):
        raise TypeError("expected a number or a sympy expression, not text")
    if isinstance(v, int):
        return sp.Integer(v)
    if isinstance(v, Fraction):
        return sp.Rational(v.numerator, v.denominator)
    if isinstance(v, sp.Basic):
        return v
    raise TypeError(f"expected a number or a sympy expression, got {type(v).__name__}")


def kernel_tail(N: int, ratio: Any = None, scale: Any = 1) -> sp.Expr:
    """The geometric tail bound of :func:`theorems.uap.kernel_constants` for N terms.

    ``scale (K+1)^2 r^K / (1 - ratio r)`` with ``K = N + 1``, ``r = e^{-kappa K}`` and by
    default ``ratio = ((K+2)/(K+1))^2``, ``scale = 1`` (other values: mutations in tests).
    """
    K = N + 1
    c = sp.Rational(K + 2, K + 1) ** 2 if ratio is None else _number(ratio)
    r = sp.exp(-kappa * K)
    return _number(scale) * (K + 1) ** 2 * r**K / (1 - c * r)


def kernel_closed_form(N: int, two: Any = 2, **tail: Any) -> sp.Expr:
    """``c2 = 1 + 2 (sum_{k=1}^N (k+1)^2 e^{-kappa k^2} + tail)`` as in kernel_constants."""
    explicit = sp.Add(*[(k + 1) ** 2 * sp.exp(-kappa * k * k) for k in range(1, N + 1)])
    return 1 + _number(two) * (explicit + kernel_tail(N, **tail))


def kernel_reduction_obligation(two: Any = 2) -> Obligation:
    """UAP.kernel-tail-reduction; ``two`` is the factor in the closed form's
    ``1 + two S2`` (the series keeps 2)."""
    A_, r_, c_ = sp.symbols("A r c", positive=True)
    S = sp.Symbol("Sigma", real=True)
    facts = [equal(A_ / (1 - c_ * r_) - A_ * (1 + r_ * S), A_ * r_ * (c_ / (1 - c_ * r_) - S),
                   label="A/(1 - c r) - A (1 + r Sigma) == A r (c/(1 - c r) - Sigma)")]
    for N in KERNEL_TERMS:
        P = _kernel_parts(N)
        A, r = P["A"], P["r"]
        c = (P["K"] + 2) ** 2 / (P["K"] + 1) ** 2
        facts += [
            equal(kernel_closed_form(N, two) - P["trunc"], 2 * (kernel_tail(N) - P["tail"]),
                  label=f"N={N}: closed - truncated == 2 (T_K - sum_{{k=K}}^M)"),
            equal(kernel_tail(N), A / (1 - c * r), label=f"N={N}: T_K == A/(1 - c r)"),
            equal(P["tail"], A * (1 + r * P["sigma"]),
                  label=f"N={N}: sum_{{k=K}}^M == A (1 + r Sigma_K)"),
        ]
    return Obligation(
        "UAP.kernel-tail-reduction", f"for N = {KERNEL_TERMS[0]}..{KERNEL_TERMS[-1]}, "
        f"K = N + 1, r = e^{{-kappa K}}, c = ((K+2)/(K+1))^2, A = (K+1)^2 e^{{-kappa K^2}} "
        "(symbolic kappa): the closed form 1 + 2 (sum_{k<=N} (k+1)^2 e^{-kappa k^2} + "
        "(K+1)^2 r^K/(1 - c r)) minus the series truncated at k = "
        f"{TRUNCATION} equals 2 A r (c/(1 - c r) - Sigma_K) with Sigma_K = "
        f"sum_{{k=K+1}}^{TRUNCATION} ((k+1)/(K+1))^2 e^{{-kappa (k^2 - K^2 - K)}} (per N: "
        "closed - truncated == 2 (T_K - tail), T_K == A/(1 - c r), tail == A (1 + r Sigma_K); "
        "and the algebraic step for symbols A, r, c, Sigma); as 2 A r > 0 the closed form is "
        ">= the truncated series iff Sigma_K <= c/(1 - c r) (UAP.kernel-constants)",
        Identity(tuple(facts)))


def kernel_constants_obligation(ratio: Callable[[int], sp.Expr] | None = None,
                                scale: Any = 1,
                                box: tuple[Any, Any] = KAPPA_BOX) -> Obligation:
    """UAP.kernel-constants.

    For each N of :data:`KERNEL_TERMS` the tail ``T = scale A / (1 - c r)`` (``c =
    ratio(K)``, default ``((K+2)/(K+1))^2``) is at least the truncated tail
    ``A (1 + r Sigma_K)`` iff ``Sigma_K <= (scale - 1) e^{kappa K}/(1 - c r) + c/(1 - c r)``;
    that and ``c r <= 1/2`` are verified over ``box``.
    """
    lo, hi = (sp.Rational(v) for v in box)
    scale = _number(scale)
    cases = []
    for N in KERNEL_TERMS:
        P = _kernel_parts(N)
        K = int(P["K"])
        c = sp.Rational(K + 2, K + 1) ** 2 if ratio is None else _number(ratio(K))
        r = P["r"]
        rhs = (scale - 1) * sp.exp(kappa * K) / (1 - c * r) + c / (1 - c * r)
        b = ((kappa, lo, hi),)
        cases += [Case(c * r, b, half, f"N={N}: c r <= 1/2"),
                  Case(P["sigma"] - rhs, b, sp.Integer(0), f"N={N}: Sigma_K <= c/(1 - c r)")]
    return Obligation(
        "UAP.kernel-constants", f"for kappa in [{lo}, {hi}] and every N = {KERNEL_TERMS[0]}.."
        f"{KERNEL_TERMS[-1]} (the N kernel_constants uses there, N = ceil(sqrt(60/kappa)) "
        "clipped to [4, 4000]; each N is checked on the whole box): c r <= 1/2 and Sigma_K <= "
        "c/(1 - c r) (UAP.kernel-tail-reduction), hence the c2 closed form (N explicit "
        "terms + geometric tail) is >= 1 + 2 sum_{k=1}^"
        f"{TRUNCATION} (k+1)^2 e^{{-kappa k^2}}; not proved here: the infinite series (for "
        f"kappa >= 1/4 the omitted terms sum to less than e^{{-400}})",
        Inequality(tuple(cases)))


# =========================================================================================
# instances and the open claim
# =========================================================================================

def instance_obligation(oid: str, spec: dict[str, Any], what: str) -> Obligation:
    """An engine certificate for ``spec`` (``certify.pipeline.certify_uap``), checked by
    ``certify.check`` with both backends; the engine is imported only when discharged."""

    def make() -> dict:
        from certify.pipeline import certify_uap
        from certify.spec import parse_spec

        result, cert, _ = certify_uap(parse_spec(spec))
        if cert is None:
            raise RuntimeError(f"the engine did not certify the spec: upper bound "
                               f"{result.upper:.6g}")
        return cert

    target = spec["target"].get("expr", spec["target"]["kind"])
    dom = spec["domain"]
    return Obligation(
        oid, f"an engine certificate for {target} on [{dom['lo']}, {dom['hi']}], route "
        f"{spec['construction']['route']}, mode {spec['mode']}, epsilon {spec['epsilon']} is "
        "accepted by certify.check (flint and pyinterval)", Instance(make, what))


def paper_claim_obligation() -> Obligation:
    """UAP.paper-claim (open)."""
    return Obligation(
        "UAP.paper-claim", "every continuous f on a compact domain is approximated to every "
        "epsilon by one attention layer",
        Open("not mechanised: the density of piecewise-linear functions (Stone-Weierstrass) "
             "and the limit epsilon -> 0 are not encoded; the obligations prove the "
             "construction's identities, and the instances certify concrete targets"))


def obligations() -> list[Obligation]:
    """Every obligation of theorem uap (module docstring)."""
    return [
        score_identity_obligation(),
        weight_factorisation_obligation(),
        error_decomposition_obligation(),
        piecewise_linear_obligation(),
        relu_unit_obligation(),
        kernel_reduction_obligation(),
        kernel_constants_obligation(),
        instance_obligation("UAP.instance-interpolation", INTERPOLATION_SPEC,
                            "uap interpolation sin(x)"),
        instance_obligation("UAP.instance-relu", RELU_SPEC, "uap relu abs(x) - x**2/2"),
        paper_claim_obligation(),
    ]


def uap_entry() -> TheoremEntry:
    """Registry entry of theorem uap."""
    eps = sp.Symbol("epsilon", positive=True)
    X = sp.Symbol("X")
    f, N = sp.Function("f"), sp.Function("N")
    return TheoremEntry(
        id=ID, title="Universal approximation on a user's function (one attention layer)",
        paper={"v1": "Thm 3.3", "v2": "Lemma 3.11, Thm 3.14"},
        paper_claim="qualitative: for every continuous f on a compact domain and every "
                    "epsilon > 0 an attention network exists (no rate)",
        hypotheses=(sp.Gt(eps, 0, evaluate=False), sp.Gt(kappa, 0, evaluate=False)),
        conclusion=sp.Le(sp.Abs(N(X) - f(X)), eps),
        statement="for a target f on a box (expression in d <= 3 variables or a "
                  "one-hidden-layer ReLU network) and epsilon > 0, one attention layer "
                  "(route interpolation: one head on a tensor grid of anchors; route relu: "
                  "one head per truncated-linear term) with resources chosen so that the "
                  "a-priori bound (main term below, plus rounding, value and leakage terms) "
                  "is <= epsilon satisfies |N(X) - f(X)| <= epsilon on the box",
        obligations=obligations, construction=None,
        a_priori_bound=a_priori_bound_interpolation(2))
