"""Universal approximation on a user's function with one attention layer (docs/mathematics.md,
section 6).

Two constructions, each a sequence-wise affine map appending anchor tokens, one attention
layer and (ReLU route) a token-wise output map; both are certified by the input-box engine:

``route = "interpolation"`` (section 6.1)
    One head; anchors on a tensor grid ``L_J`` of the domain box, ``p_a`` per axis, with
    values ``v_J = f(L_J)`` (rounded to binary64).  Query ``(x, 1)``, key ``(2 beta_a L_a)_a,
    -sum_a beta_a L_a^2``: the score is ``sum_a beta_a (x_a^2 - (x_a - L_a)^2)`` and the
    weights factorise over the axes, each factor the 1-D Lemma I softmax.
``route = "relu"`` (section 6.2)
    One head per truncated-linear term ``c_u Range_[0,1](s_u(x))`` with the latent
    ``s_u = a_u . x + t_u``; all heads share p anchor tokens ``L_j = j/(p-1)`` on [0, 1]
    (values ``L_j``, ``W_O = c_u``) and the output map adds the constant.  In 1-D an
    expression is replaced by its piecewise-linear interpolant on knots ``y_i`` (given, or
    placed by bisection until each interval's proved interpolation error fits the budget),
    ``P(y) = f(y_0) + sum_i (f(y_{i+1}) - f(y_i)) Range_[0,1]((y - y_i)/h_i)``; a
    one-hidden-layer ReLU network ``sum_u c_u relu(w_u . x + b_u) + c_0`` gives
    ``c_u relu(z) = c_u R_u Range_[0,1](z / R_u)`` with ``R_u`` the unit's largest
    pre-activation on the domain (units with ``R_u <= 0`` vanish on the domain).

A-priori bounds (:func:`a_priori_interpolation`, :func:`a_priori_relu`) are proved from
Lemma I (the I3 constants, Lemma S for the token's own column) plus an exact rounding
analysis of the stored network against the ideal one; unspecified resources are chosen so
that the bound is at most epsilon.  They are upper bounds only; the certificate is what
measures the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from flint import arb, ctx, fmpq

from certify.errors import InputError
from certify.exact_scores import GridHint, HeadScores, analyse
from certify.expression import EnclosureFailure, Expr, enclose_numpy, evaluate, hessian
from certify.network import (
    Attention,
    AttentionNet,
    Head,
    SelectColumns,
    SequenceAffine,
    TokenAffine,
)
from certify.targets import Target

ID = "uap"
ROUTES = ("interpolation", "relu")
DEFAULT_KAPPA = 3.0
#: Leakage exponent: the token's own column scores at least this far below the anchors.
LEAK = 60.0
#: Most anchors a construction may use (memory of the network and of its certificate).
MAX_ANCHORS = 1 << 18
MAX_KNOTS = 4096
ARB_PREC = 80


# -- rigorous constants -------------------------------------------------------------------

def _arb_q(q: Fraction) -> arb:
    return arb(fmpq(q.numerator, q.denominator))


def _up(x: arb) -> float:
    """A float >= every point of the ball (inf if it is not finite)."""
    if not x.is_finite():
        return math.inf
    u = x.upper()
    f = float(u)
    if arb(f) < u:
        f = math.nextafter(f, math.inf)
    return f


def kernel_constants(kappa: Fraction) -> dict[str, float]:
    """Upper bounds (floats) of the Lemma I kernel constants at ``kappa > 0``.

    ``c_in = 1/2 + 2 S1`` (I3 inside the grid), ``c_out = sum_{k>=1} k e^{-kappa k^2}`` (I3
    outside), ``c1 = 1 + 2 S1 >= E|L - x| / Delta``, ``c2 = 1 + 2 S2 >= E (L - x)^2 / Delta^2``
    with ``S1 = sum_{k>=1} (k+1) e^{-kappa k^2}``, ``S2 = sum_{k>=1} (k+1)^2 e^{-kappa k^2}``.
    Each series: N explicit terms plus a geometric tail (``e^{-kappa k^2} <= r^k`` with
    ``r = e^{-kappa K}`` for ``k >= K``, and the term ratio of ``(k+1)^j r^k`` is at most
    ``((K+2)/(K+1))^j r`` beyond K).
    """
    from theorems.lemma_i import a_priori_bound_I3_arb, a_priori_bound_I3_outside
    from theorems.obligations import compile_arb

    with ctx.workprec(128):
        c_in = a_priori_bound_I3_arb(kappa, 1)
        c_out = compile_arb(a_priori_bound_I3_outside(kappa, 1), [])([])
        kq = _arb_q(kappa)
        N = int(min(4000, max(4, math.ceil(math.sqrt(60 / float(kappa))))))
        S2 = arb(0)
        for k in range(1, N + 1):
            S2 += (k + 1) ** 2 * (-kq * k * k).exp()
        K = N + 1
        r = (-kq * K).exp()
        q = arb(K + 2) ** 2 / arb(K + 1) ** 2 * r
        if not q < 1:
            raise ValueError("kernel tail does not converge")
        S2 += (K + 1) ** 2 * r ** K / (1 - q)
        return {"c_in": _up(c_in), "c_out": _up(c_out), "c1": _up(c_in + arb(1) / 2),
                "c2": _up(1 + 2 * S2)}


def derivative_bounds(target: Target, lo: np.ndarray, hi: np.ndarray, pieces: int = 4096
                      ) -> tuple[list[float], list[list[float]]]:
    """Rigorous ``G_a >= sup |d_a f|`` and ``M_ab >= sup |d_a d_b f|`` over the domain.

    Enclosed with outward-rounded interval arithmetic on a grid of sub-boxes (about
    ``pieces`` of them); ``inf`` where an enclosure fails or the derivative does not exist.
    """
    d = target.d
    k = max(2, int(round(pieces ** (1 / d))))
    edges = [np.linspace(lo[a], hi[a], k + 1) for a in range(d)]
    idx = np.array(list(np.ndindex(*([k] * d))))
    blo = [edges[a][idx[:, a]] for a in range(d)]
    bhi = [edges[a][idx[:, a] + 1] for a in range(d)]

    def sup_abs(e: Expr) -> float:
        lo_, hi_ = enclose_numpy(e, blo, bhi)
        m = float(np.max(np.maximum(np.abs(lo_), np.abs(hi_))))
        return m if math.isfinite(m) else math.inf

    try:
        G = [sup_abs(g) for g in target.gradient()]
    except InputError:
        G = [math.inf] * d
    try:
        H = hessian(target.expr, d)
        M = [[sup_abs(H[a][b]) for b in range(d)] for a in range(d)]
    except InputError:
        M = [[math.inf] * d for _ in range(d)]
    return G, M


def _f_arb(expr: Expr, point: list[Fraction]) -> arb:
    from certify.check.expr_backends import ArbOps

    try:
        return evaluate(expr, [_arb_q(q) for q in point], ArbOps())
    except EnclosureFailure as exc:
        raise InputError(f"target cannot be evaluated at an anchor: {exc}") from None


def _float_mid(x: arb) -> float:
    if not x.is_finite():
        raise InputError("target value at an anchor is not finite")
    v = float(x.mid())
    if not math.isfinite(v) or abs(v) > 1e300:
        raise InputError("target value at an anchor exceeds the binary64 range")
    return v


def score_perturbation(hs: HeadScores, ideal_A: list[Fraction],
                       ideal_B: list[tuple[Fraction, ...]], columns: list[int],
                       lo: np.ndarray, hi: np.ndarray) -> tuple[Fraction, Fraction]:
    """``(M, M_abs)`` for the stored scores against ideal ones on the listed columns.

    With ``delta_j(x) = s_j(x) - s*_j(x)`` (affine), ``M = max_j max_x |delta_j(x) -
    delta_0(x)|`` and ``M_abs = max_j max_x |delta_j(x)|`` over the domain box, exactly.
    The stored softmax weights over these columns are then within a factor ``e^{+-2M}`` of
    the ideal ones (both normalise the same exponentials up to ``e^{delta_j}``).
    """
    lo_q = [Fraction(float(v)) for v in lo]
    hi_q = [Fraction(float(v)) for v in hi]

    def max_abs(c: Fraction, coef: list[Fraction]) -> Fraction:
        a = b = c
        for k, cf in enumerate(coef):
            e0, e1 = cf * lo_q[k], cf * hi_q[k]
            a += min(e0, e1)
            b += max(e0, e1)
        return max(abs(a), abs(b))

    d0c = hs.A[columns[0]] - ideal_A[0]
    d0B = [hs.B[columns[0]][k] - ideal_B[0][k] for k in range(len(lo))]
    M = M_abs = Fraction(0)
    for i, j in enumerate(columns):
        dc = hs.A[j] - ideal_A[i]
        dB = [hs.B[j][k] - ideal_B[i][k] for k in range(len(lo))]
        M_abs = max(M_abs, max_abs(dc, dB))
        M = max(M, max_abs(dc - d0c, [a - b for a, b in zip(dB, d0B)]))
    return M, M_abs


def _expm1_up(x: Fraction) -> float:
    with ctx.workprec(128):
        return _up(_arb_q(x).exp() - 1)


# -- the built network --------------------------------------------------------------------

@dataclass
class Built:
    """A constructed network, its grid hints, its resources and its a-priori bound."""

    net: AttentionNet
    hints: list[GridHint | None]
    construction: dict[str, Any]  # normal form: every resource explicit
    resources: dict[str, Any]
    bound: dict[str, float] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        return dict(self.resources)


def _parameter_count(net: AttentionNet) -> int:
    n = 0
    for layer in net.layers:
        if isinstance(layer, SequenceAffine):
            n += len(layer.weights) + len(layer.bias)
        elif isinstance(layer, TokenAffine):
            n += int(np.count_nonzero(layer.weight) + np.count_nonzero(layer.bias))
        elif isinstance(layer, Attention):
            for h in layer.heads:
                n += sum(int(np.count_nonzero(getattr(h, k))) for k in ("W_Q", "W_K", "W_V",
                                                                        "W_O"))
    return n


def _resources(net: AttentionNet, anchors: int, heads: int, kappa: float) -> dict[str, Any]:
    dz = net.layers[0].out_shape[0]
    return {"tokens": 1 + anchors, "anchors": anchors, "heads": heads, "width": dz,
            "parameters": _parameter_count(net), "kappa": kappa}


# -- route 1: interpolation ---------------------------------------------------------------

def build_interpolation(target: Target, lo: np.ndarray, hi: np.ndarray, p: list[int],
                        kappa: float) -> Built:
    """The one-head interpolation network (module docstring) with ``p[a]`` anchors per axis.

    Deterministic: identical input gives a bit-identical network.
    """
    d = target.d
    anchors = [np.linspace(lo[a], hi[a], p[a]) for a in range(d)]
    if any(np.any(np.diff(ax) <= 0) for ax in anchors):
        raise InputError("domain too narrow for this many anchors (they would coincide)")
    deltas = [(Fraction(float(hi[a])) - Fraction(float(lo[a]))) / (p[a] - 1) for a in range(d)]
    beta = [float(Fraction(kappa) / (dl * dl)) for dl in deltas]
    if not all(math.isfinite(b) and b > 0 for b in beta):
        raise InputError("inverse temperature beta = kappa / Delta^2 overflows; reduce p "
                         "or kappa")
    shape = tuple(p)
    total = int(np.prod(shape))
    # Values at the ideal anchors lo + j Delta (exact rationals), enclosed with Arb.
    lo_q = [Fraction(float(v)) for v in lo]
    ideal = [[lo_q[a] + j * deltas[a] for j in range(p[a])] for a in range(d)]
    values, value_err = [], 0.0
    with ctx.workprec(ARB_PREC):
        for J in np.ndindex(*shape):
            fx = _f_arb(target.expr, [ideal[a][J[a]] for a in range(d)])
            v = _float_mid(fx)
            values.append(v)
            value_err = max(value_err, _up(abs(fx - arb(v))))
    gaps = [float(np.max(np.diff(ax))) for ax in anchors]
    G = float(LEAK + 1 + 1.01 * sum(b * (g / 2) ** 2 for b, g in zip(beta, gaps)))
    rows_x, row_r = list(range(d)), d
    rows_l = [d + 1 + a for a in range(d)]
    row_k0, row_v = 2 * d + 1, 2 * d + 2
    dz = 2 * d + 3
    weights = [(a, 0, a, 0, 1.0) for a in range(d)]
    bias = [(row_r, 0, 1.0)]
    for f, J in enumerate(np.ndindex(*shape)):
        col = 1 + f
        L = [float(anchors[a][J[a]]) for a in range(d)]
        for a in range(d):
            if L[a] != 0:
                bias.append((rows_l[a], col, L[a]))
        k0 = float(sum(b * x * x for b, x in zip(beta, L)))
        if k0 != 0:
            bias.append((row_k0, col, k0))
        if values[f] != 0:
            bias.append((row_v, col, values[f]))
    affine = SequenceAffine((dz, 1 + total), np.array(weights, float).reshape(-1, 5),
                            np.array(bias, float).reshape(-1, 3))
    W_Q = np.zeros((d + 1, dz))
    W_K = np.zeros((d + 1, dz))
    for a in range(d):
        W_Q[a, rows_x[a]] = 1.0
        W_K[a, rows_l[a]] = 2 * beta[a]
    W_Q[d, row_r] = 1.0
    W_K[d, row_k0] = -1.0
    W_K[d, row_r] = -G
    W_V = np.zeros((1, dz))
    W_V[0, row_v] = 1.0
    net = AttentionNet((d, 1), (affine, Attention((Head(W_Q, W_K, W_V, np.ones((1, 1))),)),
                                SelectColumns((0,))))
    strides = [int(np.prod(shape[a + 1:])) for a in range(d)]
    hint = GridHint(tuple(tuple(1.0 if i == a else 0.0 for i in range(d)) for a in range(d)),
                    (0.0,) * d, tuple(beta), tuple(tuple(float(v) for v in ax) for ax in anchors),
                    1, tuple(strides))
    construction = {"route": "interpolation", "p": list(p), "kappa": float(kappa)}
    built = Built(net, [hint], construction, _resources(net, total, 1, float(kappa)))
    built.resources.update(beta=beta, G=G)
    built.bound = a_priori_interpolation(target, lo, hi, built, deltas, ideal, values,
                                         value_err)
    return built


def _interp_main(G: list[float], M: list[list[float]], lip: float | None,
                 consts: list[dict[str, float]], deltas: list[float]) -> float:
    """The main term of the interpolation bound (C^2 and Lipschitz forms, the smaller)."""
    d = len(deltas)
    c2 = sum(G[a] * consts[a]["c_in"] * deltas[a] for a in range(d)) + 0.5 * sum(
        M[a][b] * math.sqrt(consts[a]["c2"] * consts[b]["c2"]) * deltas[a] * deltas[b]
        for a in range(d) for b in range(d))
    lam = [lip if lip is not None else G[a] for a in range(d)]
    lp = sum(lam[a] * consts[a]["c1"] * deltas[a] for a in range(d))
    out = min(c2, lp)
    return out * (1 + 1e-12) if math.isfinite(out) else math.inf


def a_priori_interpolation(target: Target, lo, hi, built: Built, deltas, ideal, values,
                           value_err: float, lip: float | None = None,
                           derivs: tuple | None = None) -> dict[str, float]:
    """Proved bound of ``sup |N - f|`` for the interpolation network (section 6.1).

    ``N - f = (N - N*) + (N* - f)`` with ``N*`` the ideal head (exact anchors ``lo + j
    Delta``, exact beta = the stored one, values ``f(L_J)``, no token column):
    ``|N* - f| <= sum_a G_a c_in Delta_a + 1/2 sum_ab M_ab sqrt(c2_a c2_b) Delta_a Delta_b``
    (Taylor with the I3 bound of ``|E_w L_a - x_a|`` and Cauchy-Schwarz on the second
    moments) or ``sum_a Lambda_a c1 Delta_a`` (Lipschitz); ``|N - N*|`` is at most the
    score perturbation ``(e^{2M} - 1) (max v - min v)/2``, the value error
    ``max |v_J - f(L_J)|`` and the leakage ``e^{-G + sum kappa_a/4 + M_abs} max |v|``.
    """
    d = target.d
    beta = built.resources["beta"]
    kappas = [Fraction(beta[a]) * deltas[a] ** 2 for a in range(d)]
    consts = [kernel_constants(k) for k in kappas]
    G, M = derivs if derivs is not None else derivative_bounds(target, lo, hi)
    main = _interp_main(G, M, lip, consts, [float(x) for x in deltas])
    out = analyse(built.net)[0]
    hs = out.heads[0]
    shape = tuple(len(ax) for ax in ideal)
    cols, iA, iB = [], [], []
    bq = [Fraction(b) for b in beta]
    for f, J in enumerate(np.ndindex(*shape)):
        L = [ideal[a][J[a]] for a in range(d)]
        cols.append(1 + f)
        iA.append(-sum((bq[a] * L[a] * L[a] for a in range(d)), Fraction(0)))
        iB.append(tuple(2 * bq[a] * L[a] for a in range(d)))
    Mp, M_abs = score_perturbation(hs, iA, iB, cols, lo, hi)
    spread = max(values) - min(values)
    pert = _expm1_up(2 * Mp) * spread / 2 * (1 + 1e-12)
    vmax = max(abs(v) for v in values)
    Gq = Fraction(built.resources["G"])
    with ctx.workprec(128):
        leak_arb = (-_arb_q(Gq) + sum((_arb_q(k) / 4 for k in kappas), arb(0))
                    + _arb_q(M_abs)).exp() * vmax
        leak = _up(leak_arb)
    total = (main + pert + value_err + leak) * (1 + 1e-12)
    return {"bound": total, "main": main, "perturbation": pert, "values": value_err,
            "leakage": leak, "G_grad": G, "M_hessian": M}


# -- route 2: truncated-linear heads -------------------------------------------------------

def build_relu_heads(d: int, units: list[tuple[np.ndarray, float, float]], bias: float,
                     p: int, kappa: float) -> tuple[AttentionNet, list[GridHint], float, float]:
    """Heads ``c_u Range_[0,1](a_u . x + t_u)`` sharing p anchors on [0, 1], plus ``bias``.

    Returns ``(net, hints, beta, beta_G)``; ``beta_G`` is the token column's score gap.
    """
    L = np.linspace(0.0, 1.0, p)
    delta = Fraction(1, p - 1)
    beta = float(Fraction(kappa) / (delta * delta))
    if not math.isfinite(beta):
        raise InputError("beta overflows; reduce p or kappa")
    U = len(units)
    row_r, row_l, row_l2 = U, U + 1, U + 2
    dz = U + 3
    weights, b = [], [(row_r, 0, 1.0)]
    for u, (a, t, _) in enumerate(units):
        weights += [(u, 0, i, 0, float(a[i])) for i in range(d) if a[i] != 0]
        if t != 0:
            b.append((u, 0, float(t)))
    for j, x in enumerate(L):
        if x != 0:
            b += [(row_l, 1 + j, float(x)), (row_l2, 1 + j, float(x * x))]
    affine = SequenceAffine((dz, 1 + p), np.array(weights, float).reshape(-1, 5),
                            np.array(b, float).reshape(-1, 3))
    beta_G = float(LEAK + 1 + 0.26 * kappa)
    heads, hints = [], []
    for u, (a, t, c) in enumerate(units):
        W_Q = np.zeros((2, dz))
        W_Q[0, u] = 1.0
        W_Q[1, row_r] = 1.0
        W_K = np.zeros((2, dz))
        W_K[0, row_l] = 2 * beta
        W_K[1, row_l2] = -beta
        W_K[1, row_r] = -beta_G
        W_V = np.zeros((1, dz))
        W_V[0, row_l] = 1.0
        heads.append(Head(W_Q, W_K, W_V, np.array([[float(c)]])))
        hints.append(GridHint((tuple(float(v) for v in a),), (float(t),), (beta,),
                              (tuple(float(v) for v in L),), 1, (1,)))
    out_map = TokenAffine(np.ones((1, 1)), np.array([[float(bias)]]))
    net = AttentionNet((d, 1), (affine, Attention(tuple(heads)), SelectColumns((0,)), out_map))
    return net, hints, beta, beta_G


@dataclass
class ReluTerms:
    """Ideal terms ``c_u Range_[0,1](a_u . x + t_u)`` (exact) and the stored floats."""

    a: list[list[Fraction]]
    t: list[Fraction]
    c: list[arb]  # ideal coefficients, enclosed
    bias: arb
    units: list[tuple[np.ndarray, float, float]]  # stored (a_u, t_u, c_u)
    bias_f: float
    interp: float  # |f - sum of ideal terms| on the domain (0 for a ReLU network)
    inside_all: bool  # several terms may be inside [0, 1] at once
    unit_ids: list[int] | None = None  # ReLU network: the unit of each term


def knot_list(lo: float, hi: float, knots: int | list[float]) -> list[Fraction]:
    """Knot positions (exact rationals of binary64 numbers): ``knots`` equal intervals
    (positions rounded to binary64) or the given list, which must start at ``lo``, end at
    ``hi`` and increase strictly."""
    if isinstance(knots, int):
        a, b = Fraction(lo), Fraction(hi)
        ys = [float(a + (b - a) * i / knots) for i in range(knots + 1)]
        ys[0], ys[-1] = lo, hi
    else:
        ys = [float(v) for v in knots]
    if ys[0] != lo or ys[-1] != hi or any(y1 <= y0 for y0, y1 in zip(ys, ys[1:])):
        raise InputError("construction.knots must increase strictly from domain.lo to "
                         "domain.hi (or be a number of equal intervals)")
    return [Fraction(y) for y in ys]


def interpolant_error(target: Target, ys: list[Fraction], lip: float | None) -> float:
    """Proved bound of ``|f - P|`` for the piecewise-linear interpolant P on the knots.

    On ``[y_i, y_{i+1}]`` (width h) let ``[m1, m2]`` enclose f' (an interval enclosure;
    ``sign``/``heaviside`` hulls where f has kinks).  With s the chord slope, ``f(y) - P(y)
    = int_{y_i}^y (f' - s)``, which is at most ``theta h (m2 - s)`` and at most ``(1 - theta)
    h (s - m1)``; the smaller of the two is at most ``h (m2 - s)(s - m1) / (m2 - m1) <= h
    (m2 - m1) / 4``, and symmetrically from below.  Where f is C^2 on the interval,
    ``|f - P| <= h^2 max |f''| / 8`` (the classical bound, with an enclosure of f'').  With a
    Lipschitz constant instead,
    ``|f - P| <= 2 theta (1 - theta) Lambda h <= Lambda h / 2``.  The bound is the largest
    over the intervals (``inf`` if neither is available).
    """
    lo = np.array([float(y) for y in ys[:-1]])
    hi = np.array([float(y) for y in ys[1:]])
    h = np.array([float(ys[i + 1] - ys[i]) for i in range(len(ys) - 1)]) * (1 + 2 ** -50)
    best = np.full(len(lo), np.inf)
    try:
        g = target.gradient()[0]
        m1, m2 = enclose_numpy(g, [lo], [hi])
        with np.errstate(invalid="ignore", over="ignore"):
            osc = (m2 - m1) * (1 + 2 ** -50)
        best = np.where(np.isfinite(osc), h * osc / 4, np.inf)
    except InputError:
        pass
    try:
        f2 = hessian(target.expr, 1)[0][0]
        s1, s2 = enclose_numpy(f2, [lo], [hi])
        with np.errstate(invalid="ignore", over="ignore"):
            M = np.maximum(np.abs(s1), np.abs(s2)) * (1 + 2 ** -50)
            c2 = h * h * M / 8 * (1 + 2 ** -50)
        best = np.minimum(best, np.where(np.isfinite(c2), c2, np.inf))
    except InputError:
        pass
    if lip is not None:
        best = np.minimum(best, h * lip / 2)
    out = float(np.max(best)) * (1 + 2 ** -40)
    return out if math.isfinite(out) else math.inf


def adaptive_knots(target: Target, lo: float, hi: float, budget: float, lip: float | None
                   ) -> list[Fraction]:
    """Knots from bisecting ``[lo, hi]`` until each interval's bound (see
    :func:`interpolant_error`) is at most ``budget``; positions rounded to binary64."""
    a, b = Fraction(lo), Fraction(hi)
    todo, done = [(a, b)], []
    for _ in range(40):
        if not todo:
            break
        ys = [Fraction(float(x)) for pair in todo for x in pair]
        errs = [interpolant_error(target, [ys[2 * i], ys[2 * i + 1]], lip)
                for i in range(len(todo))] if len(todo) < 64 else _batch_errors(target, todo,
                                                                                lip)
        nxt = []
        for (x0, x1), e in zip(todo, errs):
            if e <= budget:
                done.append((x0, x1))
            else:
                m = (x0 + x1) / 2
                nxt += [(x0, m), (m, x1)]
        todo = nxt
        if len(done) + len(todo) > MAX_KNOTS:
            break
    if todo:
        raise InputError(f"the piecewise-linear interpolant needs more than {MAX_KNOTS:,} "
                         f"knots for this epsilon (or f' cannot be enclosed); give "
                         f"construction.knots and construction.p, or use route interpolation")
    ends = sorted({float(x) for pair in done for x in pair})
    ends[0], ends[-1] = lo, hi
    return knot_list(lo, hi, ends)


def _batch_errors(target: Target, intervals, lip) -> list[float]:
    out = []
    for x0, x1 in intervals:
        out.append(interpolant_error(target, [Fraction(float(x0)), Fraction(float(x1))], lip))
    return out


def knot_terms(target: Target, lo: np.ndarray, hi: np.ndarray, ys: list[Fraction],
               lip: float | None) -> ReluTerms:
    """The piecewise-linear interpolant on the knots ``ys`` as truncated terms:
    ``P(y) = f(y_0) + sum_i (f(y_{i+1}) - f(y_i)) Range_[0,1]((y - y_i) / h_i)``."""
    m = len(ys) - 1
    hs = [ys[i + 1] - ys[i] for i in range(m)]
    with ctx.workprec(ARB_PREC):
        fy = [_f_arb(target.expr, [y]) for y in ys]
        c = [fy[i + 1] - fy[i] for i in range(m)]
    units = []
    for i in range(m):
        a_u, t_u = 1 / hs[i], -ys[i] / hs[i]
        units.append((np.array([float(a_u)]), float(t_u), _float_mid(c[i])))
    interp = interpolant_error(target, ys, lip)
    return ReluTerms([[1 / h] for h in hs], [-ys[i] / hs[i] for i in range(m)], c, fy[0],
                     units, _float_mid(fy[0]), interp, False)


def network_terms(target: Target, lo: np.ndarray, hi: np.ndarray) -> ReluTerms:
    """A one-hidden-layer ReLU network as truncated terms (units dead on the domain dropped).

    Unit u's latent is ``s_u = 2^-k (w_u . x + b_u)`` with ``2^k >= R_u``, the unit's largest
    pre-activation on the domain: scaling by a power of two is exact, so the stored latent
    is exactly proportional to the pre-activation (the ridge decomposition of the error,
    :mod:`certify.ridge`, needs that), ``s_u <= 1`` on the domain, and
    ``c_u max(0, pre_u) = c_u 2^k Range_[0,1](s_u)`` with ``W_O = c_u 2^k`` exact.
    """
    if target.layers is None or len(target.layers) != 2:
        raise InputError("route relu takes a ReLU network with exactly one hidden layer "
                         "(use route interpolation for other targets)")
    (W1, b1), (W2, b2) = target.layers
    lo_q = [Fraction(float(v)) for v in lo]
    hi_q = [Fraction(float(v)) for v in hi]
    a_l, t_l, c_l, units, unit_ids = [], [], [], [], []
    for u in range(W1.shape[0]):
        w = [Fraction(float(v)) for v in W1[u]]
        R = Fraction(float(b1[u])) + sum((max(wi * lo_q[i], wi * hi_q[i]) for i, wi in
                                          enumerate(w)), Fraction(0))
        if R <= 0 or W2[0, u] == 0 or not any(w):
            continue  # relu(pre) = 0 on the whole domain, no weight, or a constant unit
        k = math.ceil(math.log2(R)) if R > 0 else 0
        while Fraction(2) ** k < R:
            k += 1
        scale = Fraction(2) ** -k
        a = [wi * scale for wi in w]
        t = Fraction(float(b1[u])) * scale
        cq = Fraction(float(W2[0, u])) / scale
        if any(float(x) != x for x in a + [t, cq]):
            raise InputError(f"target: unit {u}'s weights cannot be rescaled exactly "
                             f"(binary64 range)")
        a_l.append(a)
        t_l.append(t)
        c_l.append(_arb_q(cq))
        units.append((np.array([float(x) for x in a]), float(t), float(cq)))
        unit_ids.append(u)
    constant = [u for u in range(W1.shape[0]) if not W1[u].any() and W2[0, u] != 0
                and b1[u] > 0]
    if constant:
        raise InputError(f"target: unit {constant[0]} has no input weights but a positive "
                         f"bias; fold it into the output bias")
    if not units:
        raise InputError("every ReLU unit vanishes on the domain: the target is constant")
    b = Fraction(float(b2[0]))
    terms = ReluTerms(a_l, t_l, c_l, _arb_q(b), units, float(b), 0.0, True)
    terms.unit_ids = unit_ids
    return terms


def build_relu(target: Target, lo: np.ndarray, hi: np.ndarray, terms: ReluTerms, p: int,
               kappa: float, knots: int | list[float] | None) -> Built:
    net, hints, beta, beta_G = build_relu_heads(target.d, terms.units, terms.bias_f, p, kappa)
    construction: dict[str, Any] = {"route": "relu", "p": p, "kappa": float(kappa)}
    if knots is not None:
        construction["knots"] = knots
    built = Built(net, list(hints), construction,
                  _resources(net, p, len(terms.units), float(kappa)))
    built.resources.update(beta=beta, beta_G=beta_G)
    if terms.unit_ids is not None:
        built.resources["units"] = list(terms.unit_ids)
    built.bound = a_priori_relu(built, terms, lo, hi, p)
    return built


def a_priori_relu(built: Built, terms: ReluTerms, lo, hi, p: int) -> dict[str, float]:
    """Proved bound of ``sup |N - f|`` for the ReLU route (section 6.2).

    ``N - f = (P - f) + sum_u [W_u (o_u - o*_u) + W_u (o*_u - Range(s*_u)) + (W_u - c_u)
    Range(s*_u)] + (b - b*)`` with ``o*_u`` the ideal head (exact anchors ``j/(p-1)``, the
    stored beta, exact latent ``s*_u``, no token column).  ``|o*_u - Range| <= delta c_in``
    where ``s*_u`` is in [0, 1] and ``<= delta c_out`` elsewhere (I3); in 1-D at most one
    term is strictly inside at a time.  ``|o_u - o*_u| <= (e^{2M_u} - 1)/2 + max_j |L_j -
    L*_j| + leakage`` (score perturbation, values on [0, 1], Lemma S for the token column).
    """
    beta = Fraction(built.resources["beta"])
    delta = Fraction(1, p - 1)
    kappa = beta * delta * delta
    kc = kernel_constants(kappa)
    out = analyse(built.net)[0]
    L = [Fraction(float(x)) for x in np.linspace(0.0, 1.0, p)]
    Lstar = [Fraction(j, p - 1) for j in range(p)]
    val_err = max(abs(x - y) for x, y in zip(L, Lstar))
    W = [abs(u[2]) for u in terms.units]
    with ctx.workprec(128):
        pert = arb(0)
        for u, hs in enumerate(out.heads):
            cols = list(range(1, p + 1))
            iA = [2 * beta * Lj * terms.t[u] - beta * Lj * Lj for Lj in Lstar]
            iB = [tuple(2 * beta * Lj * a for a in terms.a[u]) for Lj in Lstar]
            Mp, M_abs = score_perturbation(hs, iA, iB, cols, lo, hi)
            leak = (-_arb_q(Fraction(built.resources["beta_G"])) + _arb_q(kappa) / 4
                    + _arb_q(M_abs)).exp()
            pert += W[u] * ((_arb_q(2 * Mp).exp() - 1) / 2 + _arb_q(val_err) + leak)
        d = float(delta)
        if terms.inside_all:
            heads = d * kc["c_in"] * sum(W)
        else:
            heads = d * (kc["c_in"] * max(W) + kc["c_out"] * sum(W))
        coef = arb(0)
        for u, unit in enumerate(terms.units):
            coef += abs(arb(unit[2]) - terms.c[u])
        bias = abs(arb(terms.bias_f) - terms.bias)
        total = _up(pert + coef + bias) + heads * (1 + 1e-12) + terms.interp
    return {"bound": total * (1 + 1e-12), "interpolant": terms.interp, "heads": heads,
            "perturbation": _up(pert), "coefficients": _up(coef), "bias": _up(bias)}


# -- resource choice ------------------------------------------------------------------------

def _p_for_spacing(lo, hi, h: float) -> list[int]:
    return [max(2, int(math.ceil((float(hi[a]) - float(lo[a])) / h - 1e-9)) + 1)
            for a in range(len(lo))]


def choose_interpolation(target: Target, lo, hi, epsilon: float, kappa: float,
                         lip: float | None) -> list[int]:
    """Anchors per axis so that the a-priori main term is below ``0.9 epsilon``."""
    G, M = derivative_bounds(target, lo, hi)
    consts = kernel_constants(Fraction(kappa))
    cs = [consts] * target.d

    def main(p: list[int]) -> float:
        deltas = [(float(hi[a]) - float(lo[a])) / (p[a] - 1) for a in range(target.d)]
        return _interp_main(G, M, lip, cs, deltas)

    if not math.isfinite(main([2] * target.d)) and not math.isfinite(main([1 << 16] * target.d)):
        raise InputError("cannot bound the target's derivatives on the domain; give "
                         "construction.p (or construction.lipschitz)")
    width = max(float(hi[a]) - float(lo[a]) for a in range(target.d))
    h_hi, h_lo = width, width * 1e-9
    if main(_p_for_spacing(lo, hi, h_hi)) <= 0.9 * epsilon:
        return _p_for_spacing(lo, hi, h_hi)
    for _ in range(60):
        h = math.sqrt(h_hi * h_lo)
        if main(_p_for_spacing(lo, hi, h)) <= 0.9 * epsilon:
            h_lo = h
        else:
            h_hi = h
    uniform = _p_for_spacing(lo, hi, h_lo)
    # One spacing for every axis suits domains of comparable widths and smoothness; on a
    # domain far narrower (or a target far steeper) along one axis it puts the anchors the
    # steep axis needs on every axis.  A per-axis refinement is used when it needs fewer
    # than half the anchors.
    per_axis = _refine_per_axis(main, target.d, 0.9 * epsilon, int(np.prod(uniform)))
    if per_axis is not None and 2 * np.prod(per_axis, dtype=float) < np.prod(uniform,
                                                                              dtype=float):
        return per_axis
    return uniform


def _refine_per_axis(main, d: int, goal: float, cap: int) -> list[int] | None:
    """Anchors per axis with ``main(p) <= goal``: refine, 10 % at a time, the axis whose
    refinement lowers ``main`` most, then lower each axis as far as the goal allows.  None
    if the product would pass ``cap`` first.  Only a choice of resources: the network's
    bound is proved for whatever p this returns."""
    p = [2] * d
    while main(p) > goal:
        steps = []
        for a in range(d):
            q = list(p)
            q[a] = max(q[a] + 1, int(math.ceil(q[a] * 1.1)))
            steps.append((main(q), a, q))
        _, _, p = min(steps)
        if np.prod(p, dtype=float) > cap:
            return None
    for a in range(d):
        lo_a, hi_a = 2, p[a]
        while lo_a < hi_a:
            mid = (lo_a + hi_a) // 2
            q = list(p)
            q[a] = mid
            if main(q) <= goal:
                hi_a = mid
            else:
                lo_a = mid + 1
        p[a] = hi_a
    return p


def _check_anchor_count(p: list[int]) -> None:
    total = int(np.prod(p))
    if total > MAX_ANCHORS:
        raise InputError(f"the construction needs {total:,} anchors (p = {p}), more than "
                         f"the limit {MAX_ANCHORS:,}; raise epsilon or give a smaller p")


def resolve(target: Target, lo: np.ndarray, hi: np.ndarray, construction: dict[str, Any],
            epsilon: float | None) -> Built:
    """Build the network, choosing every resource not given so that the proved a-priori
    bound is at most ``epsilon`` (raises InputError if that is impossible within limits)."""
    route = construction["route"]
    kappa = float(construction.get("kappa", DEFAULT_KAPPA))
    lip = construction.get("lipschitz")
    d = target.d
    if route == "interpolation":
        p = construction.get("p")
        if p is None:
            if epsilon is None:
                raise InputError("give construction.p or epsilon")
            p = choose_interpolation(target, lo, hi, epsilon, kappa, lip)
            for _ in range(8):
                _check_anchor_count(p)
                built = build_interpolation(target, lo, hi, p, kappa)
                _apply_lipschitz(built, target, lo, hi, lip)
                if built.bound["bound"] <= epsilon:
                    return built
                p = [int(math.ceil((x - 1) * 1.15)) + 1 for x in p]
            raise InputError("could not meet epsilon with the a-priori bound")
        p = [p] * d if isinstance(p, int) else list(p)
        _check_anchor_count(p)
        built = build_interpolation(target, lo, hi, p, kappa)
        _apply_lipschitz(built, target, lo, hi, lip)
        return built
    # route relu
    knots = construction.get("knots")
    p_given = construction.get("p")
    if target.layers is not None:
        if knots is not None:
            raise InputError("construction.knots applies to expressions, not to a ReLU "
                             "network target")
        terms = network_terms(target, lo, hi)
    elif d != 1:
        raise InputError("route relu takes a 1-D expression or a ReLU network; use route "
                         "interpolation for expressions in 2-D and 3-D")
    else:
        if knots is None:
            if epsilon is None:
                raise InputError("give construction.knots or epsilon")
            ys = adaptive_knots(target, float(lo[0]), float(hi[0]), 0.45 * epsilon, lip)
        else:
            ys = knot_list(float(lo[0]), float(hi[0]), knots)
        if len(ys) - 1 > MAX_KNOTS:
            raise InputError(f"more than {MAX_KNOTS:,} knot intervals")
        terms = knot_terms(target, lo, hi, ys, lip)
        knots = knots if knots is not None else [float(y) for y in ys]
    if p_given is None and epsilon is None:
        raise InputError("give construction.p or epsilon")
    for attempt in range(8):
        p = p_given if p_given is not None else _choose_p_relu(terms, epsilon * 0.8 ** attempt,
                                                                kappa)
        _check_anchor_count([p])
        built = build_relu(target, lo, hi, terms, p, kappa,
                           knots if target.layers is None else None)
        if epsilon is None or built.bound["bound"] <= epsilon or p_given is not None:
            return built
    raise InputError("could not meet epsilon with the a-priori bound")


def _apply_lipschitz(built: Built, target, lo, hi, lip) -> None:
    if lip is not None:
        # Recompute with the user's Lipschitz constant as a hypothesis.
        b = built.bound
        deltas = [(Fraction(float(hi[a])) - Fraction(float(lo[a]))) / (len(ax) - 1)
                  for a, ax in enumerate(built.hints[0].axes)]
        kappas = [Fraction(built.resources["beta"][a]) * deltas[a] ** 2
                  for a in range(target.d)]
        consts = [kernel_constants(k) for k in kappas]
        main = _interp_main(b["G_grad"], b["M_hessian"], lip, consts,
                            [float(x) for x in deltas])
        b["bound"] = b["bound"] - b["main"] + main
        b["main"] = main
        b["lipschitz_hypothesis"] = lip


def _choose_p_relu(terms: ReluTerms, epsilon: float, kappa: float) -> int:
    kc = kernel_constants(Fraction(kappa))
    W = [abs(u[2]) for u in terms.units]
    per = kc["c_in"] * sum(W) if terms.inside_all else kc["c_in"] * max(W) + kc["c_out"] * sum(W)
    budget = 0.9 * epsilon - terms.interp
    if budget <= 0:
        raise InputError("the interpolant alone uses up epsilon; give more knots")
    p = int(math.ceil(per / budget)) + 1
    return max(p, 2)


# -- the spec and conformance ---------------------------------------------------------------

CONSTRUCTION_KEYS = ("route", "p", "knots", "kappa", "lipschitz")


def normal_construction(built: Built, given: dict[str, Any]) -> dict[str, Any]:
    """Every resource explicit (so that a certificate can be rebuilt without epsilon)."""
    c = dict(built.construction)
    if "lipschitz" in given:
        c["lipschitz"] = given["lipschitz"]
    return c


def parameters_json(built: Built) -> dict[str, Any]:
    """The ``parameters`` a certificate records: resources and the a-priori bound."""
    out = dict(built.parameters())
    out["a_priori_bound"] = built.bound["bound"]
    return _jsonable(out)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and (obj != obj or obj in (math.inf, -math.inf)):
        return None
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def rebuild(theorem: str, cert_obj: dict[str, Any], resolve_fn):
    """The network a certificate's theorem builds for its target, domain and construction
    (``resolve_fn(target, lo, hi, construction, None)``); ``(built, None)`` or ``(None,
    reason)``."""
    from certify.spec import parse_spec

    try:
        spec = parse_spec({"theorem": theorem, "target": cert_obj["target"],
                           "domain": cert_obj["domain"],
                           "construction": cert_obj["construction"], "mode": "measure"})
        return resolve_fn(spec.parsed_target, spec.lo[:, 0], spec.hi[:, 0],
                          spec.construction, None), None
    except (InputError, KeyError, TypeError) as exc:
        return None, f"cannot rebuild the network: {exc}"


def same_as_built(cert_obj: dict[str, Any], net, structure: Any, parameters: Any) -> str | None:
    """The first of network, structure and parameters where the certificate differs from
    the construction's (a reason), or None."""
    if net.to_json_obj() != cert_obj.get("network"):
        return "stored network differs from the network the construction builds"
    if structure != cert_obj.get("structure"):
        return "grid hints differ from the construction's"
    if parameters != cert_obj.get("parameters"):
        return "parameters (resources, a-priori bound) differ from the construction's"
    return None


def conformance(cert_obj: dict[str, Any]) -> tuple[bool, str]:
    """Is the certificate's network the one this theorem builds for its target, domain and
    construction?  ``(True, summary)`` or ``(False, reason)``; a separate statement from the
    error claim, which the checker verifies without this code."""
    built, why = rebuild(ID, cert_obj, resolve)
    if built is None:
        return False, why
    hints = {"grids": [h.to_json_obj() if h is not None else None for h in built.hints]}
    why = same_as_built(cert_obj, built.net, hints, parameters_json(built))
    if why is not None:
        return False, why
    return True, (f"the network is theorem uap, route {built.construction['route']}, "
                  f"with {built.resources['anchors']} anchors and {built.resources['heads']} "
                  f"head(s)")


def entry():
    """Registry entry (statement, a-priori bounds, obligations): :mod:`theorems.uap_obligations`."""
    from theorems.uap_obligations import uap_entry
    return uap_entry()
