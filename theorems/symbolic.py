"""The T1 and T2 constructions written once, in sympy, for general parameters.

The float constructions (:func:`theorems.single_head.construct`,
:func:`theorems.multi_head.construct_terms`) are *instances* of the templates below.  Two
kinds of obligations use the templates:

* symbolic obligations (:func:`t1_symbolic_obligations`, :func:`t2_symbolic_obligations`)
  prove, for all parameters under the stated hypotheses, that the template weights give
  the claimed scores, values and cancellations (identities in the symbols);
* conformance (:func:`conformance_facts`, :func:`check_conformance`) compares a stored
  binary64 network entry by entry with the template instantiated at the network's exact
  rational parameters, within the stated rounding tolerance :data:`REL_TOL`.  A float
  construction that computes ``beta = kappa/Delta`` or ``kappa Delta^2``, drops the phases
  or the factor H, differs from the template by far more than rounding and fails.

T1 template (p anchors, n tokens; rows ``(u, r, l, l2, s)`` of Z):
``Delta = (b - a)/(p - 1)``, ``beta = kappa/Delta^2``, ``L_j = a + j Delta``; token column
``(y, 1, 0, 0, 0)``, anchor column ``(0, 0, L_j, L_j^2, 1)``; ``W_Q = (e_u; e_r)``,
``W_K = (2 beta e_l; -beta G e_r - beta e_l2)``, ``W_V = e_l``, ``W_O = 1``.  G is a free
parameter, constrained only by the leakage hypothesis ``beta (G + m) >= 60``.

T2 template (n tokens, H heads per term, term ``g Range_[a,b]`` with ``g = num/den``):
``Delta = (b - a)/(n - 1)``, ``phi_h = (2h + 1 - H)/(2H)``, keys
``K_k^h = a + (k + phi_h) Delta``, values ``V_k = a + k Delta``, ``beta = kappa H/Delta^2``,
``W_O = g/H``; head h has query ``(y, 1)``, key ``(2 beta K^h, -beta (K^h)^2)``, value V.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from theorems.obligations import Identity, Obligation, at_least, equal

a, b = sp.symbols("a b", real=True)
y = sp.Symbol("y", real=True)
kappa = sp.Symbol("kappa", positive=True)
G = sp.Symbol("G", positive=True)
theta = sp.Symbol("theta", real=True)
# p - 1 = q + 1 and n - 1 = q + 1 with q >= 0 encode p >= 2, n >= 2.
p = sp.Symbol("p", integer=True, positive=True)
n = sp.Symbol("n", integer=True, positive=True)
H = sp.Symbol("H", integer=True, positive=True)
j, k, h, i = sp.symbols("j k h i", integer=True, nonnegative=True)
m_gap = sp.Symbol("m", integer=True, nonnegative=True)  # H - 1 - h
num = sp.Symbol("num", integer=True)
den = sp.Symbol("den", integer=True, positive=True)
width = sp.Symbol("w", positive=True)  # b - a > 0

#: Relative tolerance of conformance: a stored entry may differ from the exact template
#: value by at most ``REL_TOL * scale`` (scale: the entry's magnitude, or max(|a|, |b|)^deg
#: for positional entries).  binary64 rounding of this construction is a few units of
#: 2^-53; every listed construction mutation changes some entry by a factor >= 1 + 1/4
#: unless it coincides with the template (e.g. Delta = 1 for the missing square).
REL_TOL = Fraction(1, 2**40)


def t1_template() -> dict[str, Any]:
    """The T1 template: parameters and weights as sympy expressions.

    Returns
    -------
    dict
        ``Delta``, ``beta``, ``L`` (anchor j), ``z_token``, ``z_anchor`` (columns of Z, token
        latent ``y``), ``W_Q``, ``W_K``, ``W_V``, ``W_O`` (sympy matrices).
    """
    Delta = (b - a) / (p - 1)
    beta = kappa / Delta**2
    L = a + j * Delta
    z_token = sp.Matrix([y, 1, 0, 0, 0])
    z_anchor = sp.Matrix([0, 0, L, L**2, 1])
    W_Q = sp.Matrix([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0]])
    W_K = sp.Matrix([[0, 0, 2 * beta, 0, 0], [0, -beta * G, 0, -beta, 0]])
    W_V = sp.Matrix([[0, 0, 1, 0, 0]])
    W_O = sp.Matrix([[1]])
    return {"Delta": Delta, "beta": beta, "L": L, "z_token": z_token, "z_anchor": z_anchor,
            "W_Q": W_Q, "W_K": W_K, "W_V": W_V, "W_O": W_O}


def t2_template() -> dict[str, Any]:
    """The T2 template for one term and head h (rows ``(u, r, K, K2, V)`` of one head).

    Returns
    -------
    dict
        ``Delta``, ``beta``, ``phi``, ``K`` (key anchor of token k), ``V`` (value of token
        k), ``z`` (column of token k), ``W_Q``, ``W_K``, ``W_V``, ``W_O``.
    """
    Delta = (b - a) / (n - 1)
    beta = kappa * H / Delta**2
    phi = (2 * h + 1 - H) / (2 * H)
    K = a + (k + phi) * Delta
    V = a + k * Delta
    z = sp.Matrix([y, 1, K, K**2, V])
    W_Q = sp.Matrix([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0]])
    W_K = sp.Matrix([[0, 0, 2 * beta, 0, 0], [0, 0, 0, -beta, 0]])
    W_V = sp.Matrix([[0, 0, 0, 0, 1]])
    W_O = sp.Matrix([[num / (den * H)]])
    return {"Delta": Delta, "beta": beta, "phi": phi, "K": K, "V": V, "z": z, "W_Q": W_Q,
            "W_K": W_K, "W_V": W_V, "W_O": W_O}


def _score(t: dict[str, Any], zq: sp.Matrix, zk: sp.Matrix) -> sp.Expr:
    return ((t["W_K"] * zk).T * (t["W_Q"] * zq))[0, 0]


def t1_symbolic_obligations() -> list[Obligation]:
    """Identities of the T1 template for all a < b, p >= 2, kappa > 0, G > 0, y.

    Returns
    -------
    list of Obligation
        T1.sym-score (token -> anchor score is ``beta y^2 - beta (y - L_j)^2``), T1.sym-kappa
        (``beta Delta^2 = kappa``, and the score gap between anchors i + k and i at
        ``y = L_i + theta Delta`` is ``-kappa (k^2 - 2 k theta)``, the form Lemma I3 uses),
        T1.sym-token (token -> token score ``-beta G``, value 0), T1.sym-values (anchor j
        has value ``L_j``, ``L_0 = a``, ``L_{p-1} = b``), T1.sym-leakage (``G >= -m +
        60/beta`` implies ``beta (G + m) >= 60``).
    """
    t = t1_template()
    bt, L, Delta = t["beta"], t["L"], t["Delta"]
    zt, za = t["z_token"], t["z_anchor"]
    s_anchor = _score(t, zt, za)
    value = lambda z: (t["W_O"] * t["W_V"] * z)[0, 0]  # noqa: E731
    ii = sp.Symbol("i", integer=True, nonnegative=True)
    s_at = lambda jj: s_anchor.subs(j, jj)  # noqa: E731
    yy = a + ii * Delta + theta * Delta
    # Substituting b = a + w and p = q + 2 keeps the denominators visibly positive.
    q = sp.Symbol("q", integer=True, nonnegative=True)
    pos = {b: a + width, p: q + 2}
    gap = sp.simplify((s_at(ii + k) - s_at(ii)).subs(y, yy).subs(pos))
    slack = sp.Symbol("slack", nonnegative=True)
    mm = sp.Symbol("m", real=True)
    Gs = -mm + 60 / bt + slack  # any G of this form: G >= -m + 60/beta
    return [
        Obligation("T1.sym-score", "for all a < b, p >= 2, kappa > 0, j and y: the T1 template "
                   "(W_K = (2 beta e_l; -beta G e_r - beta e_l2), W_Q = (e_u; e_r), anchor "
                   "column (0, 0, L_j, L_j^2, 1), token column (y, 1, 0, 0, 0)) gives the "
                   "token -> anchor score beta y^2 - beta (y - L_j)^2 with beta = kappa/Delta^2",
                   Identity((equal(s_anchor, bt * y**2 - bt * (y - L) ** 2,
                                   label="score"),))),
        Obligation("T1.sym-kappa", "beta Delta^2 = kappa, and at y = L_i + theta Delta the score "
                   "of anchor i + k minus that of anchor i is -kappa (k^2 - 2 k theta): the "
                   "scores of Lemma I3 in units of Delta",
                   Identity((equal((bt * Delta**2).subs(pos), kappa, label="beta Delta^2"),
                             equal(gap, -kappa * (k**2 - 2 * k * theta), label="score gap"))),
                   uses=("T1.sym-score",)),
        Obligation("T1.sym-token", "token -> token score is -beta G (the same for every pair) and "
                   "a token's value is 0", Identity((
                       equal(_score(t, zt, zt.subs(y, sp.Symbol("y2", real=True))), -bt * G,
                             label="token score"),
                       equal(value(zt), 0, label="token value")))),
        Obligation("T1.sym-values", "anchor j has value L_j = a + j Delta; L_0 = a and "
                   "L_{p-1} = b", Identity((
                       equal(value(za), L, label="anchor value"),
                       equal(L.subs(j, 0), a, label="L_0"),
                       equal(L.subs(j, p - 1), b, label="L_{p-1}")))),
        Obligation("T1.sym-leakage", "if G >= -m + 60/beta then beta (G + m) >= 60 (for every "
                   "m, beta > 0)",
                   Identity((at_least((bt * (Gs + mm)).subs(pos), 60, (bt * slack).subs(pos),
                                      label="leakage exponent"),))),
    ]


def t2_symbolic_obligations() -> list[Obligation]:
    """Identities of the T2 template for all a < b, n >= 2, H >= 1, 0 <= h < H, kappa > 0.

    Returns
    -------
    list of Obligation
        T2.sym-score (head h is the Lemma I head at ``y - phi_h Delta``), T2.sym-kappa
        (``beta Delta^2 = kappa H``: the per-head kappa grows with H), T2.sym-phases (sum of
        phases 0, step 1/H, ``|phi_h| < 1/2``), T2.sym-interleave (hardmax jump points
        ``a + (i + (h + 1/2)/H) Delta`` form one grid of step ``Delta/H``), T2.sym-average
        (``sum_h W_O V_k = g V_k``).
    """
    t = t2_template()
    bt, Delta, phi, K, V = t["beta"], t["Delta"], t["phi"], t["K"], t["V"]
    z = t["z"]
    zq_y = sp.Matrix([y, 1, 0, 0, 0])
    s = _score(t, zq_y, z)
    q = sp.Symbol("q", integer=True, nonnegative=True)
    pos = {b: a + width, n: q + 2}
    phi_of = lambda hh: phi.subs(h, hh)  # noqa: E731
    jump = a + (i + sp.Rational(1, 2)) * Delta + phi * Delta  # midpoint of K_i^h, K_{i+1}^h
    mid = (K.subs(k, i) + K.subs(k, i + 1)) / 2
    value = (t["W_O"] * t["W_V"] * z)[0, 0]
    return [
        Obligation("T2.sym-score", "for all a < b, n >= 2, H >= 1, h, k, kappa > 0 and y: "
                   "head h's score of key k is beta y^2 - beta ((y - phi_h Delta) - V_k)^2 "
                   "with beta = kappa H/Delta^2: head h is the Lemma I head on the value grid "
                   "V at y - phi_h Delta", Identity((
                       equal(s, bt * y**2 - bt * ((y - phi * Delta) - V) ** 2,
                             label="score"),))),
        Obligation("T2.sym-kappa", "beta Delta^2 = kappa H, so the per-head kappa_1 = kappa H "
                   "and kappa = beta Delta (Delta/H): the temperature scales with H",
                   Identity((equal((bt * Delta**2).subs(pos), kappa * H),)),
                   uses=("T2.sym-score",)),
        Obligation("T2.sym-phases", "phi_h = (2h + 1 - H)/(2H): sum_h phi_h = 0, phi_{h+1} - "
                   "phi_h = 1/H, phi_{H-1-h} = -phi_h and -1/2 < phi_h < 1/2 for 0 <= h <= H-1",
                   Identity((
                       equal(sp.Sum(phi, (h, 0, H - 1)), 0, label="sum"),
                       equal(phi_of(h + 1) - phi, 1 / H, label="step"),
                       equal(phi_of(H - 1 - h), -phi, label="symmetry"),
                       at_least((phi + sp.Rational(1, 2)).subs(H, h + 1 + m_gap), 0,
                                ((2 * h + 1) / (2 * (h + 1 + m_gap))), label="phi > -1/2"),
                       at_least(sp.Rational(1, 2), phi.subs(H, h + 1 + m_gap),
                                (2 * m_gap + 1) / (2 * (h + 1 + m_gap)),
                                label="phi < 1/2")))),
        Obligation("T2.sym-interleave", "the hardmax jump of head h between keys i and i + 1 is "
                   "at a + (i + (h + 1/2)/H) Delta; consecutive heads' jumps are Delta/H apart "
                   "and head 0's next jump is Delta/H after head H-1's: one grid of step "
                   "Delta/H (the 1/H mechanism)", Identity((
                       equal(mid, jump, label="jump = midpoint of consecutive keys"),
                       equal(jump, a + (i + (h + sp.Rational(1, 2)) / H) * Delta,
                             label="jump position"),
                       equal(jump.subs(h, h + 1) - jump, Delta / H, label="head step"),
                       equal(jump.subs({i: i + 1, h: 0}) - jump.subs(h, H - 1), Delta / H,
                             label="wrap to the next key"))),
                   uses=("T2.sym-phases",)),
        Obligation("T2.sym-average", "W_O = g/H: the H heads' values sum to g V_k, and V_0 = a, "
                   "V_{n-1} = b", Identity((
                       equal(sp.Sum(value, (h, 0, H - 1)), num / den * V, label="average"),
                       equal(V.subs(k, 0), a), equal(V.subs(k, n - 1), b)))),
    ]


# ------------------------------------------------------------------ exact instantiation

def _compile_fraction(expr: sp.Expr, names: Sequence[sp.Symbol]
                      ) -> Callable[[dict[sp.Symbol, Fraction]], Fraction]:
    """Exact rational evaluator of a rational function of ``names`` (Fractions in, out)."""

    def build(e: sp.Expr) -> Callable[[dict], Fraction]:
        if e.is_Symbol:
            if e not in names:
                raise ValueError(f"free symbol {e} in a template")
            return lambda v: v[e]
        if e.is_Rational:
            c = Fraction(int(e.p), int(e.q))
            return lambda v: c
        if isinstance(e, (sp.Add, sp.Mul)):
            fs = [build(x) for x in e.args]
            if isinstance(e, sp.Add):
                return lambda v: sum((f(v) for f in fs), Fraction(0))

            def mul(v):
                r = Fraction(1)
                for f in fs:
                    r *= f(v)
                return r
            return mul
        if isinstance(e, sp.Pow) and e.exp.is_Integer:
            fb, ex = build(e.base), int(e.exp)
            return lambda v: fb(v) ** ex
        raise ValueError(f"unsupported node {e.func.__name__} in a template")

    if isinstance(expr, (str, bytes)):  # templates are sympy objects; text never reaches here
        raise TypeError("a template must be a sympy expression, not text")
    return build(sp.sympify(expr))


def _exact(x: Any) -> Fraction:
    f = float(x)
    if not np.isfinite(f):
        raise ValueError("non-finite number")
    return Fraction(f)


def t1_expected(a_v: float, b_v: float, p_v: int, n_v: int, kappa_v: float | None,
                beta_v: float | None = None) -> dict[str, Any]:
    """The T1 template instantiated exactly (binary64 inputs taken as exact rationals).

    Returns
    -------
    dict
        ``beta`` (Fraction), ``anchors`` (list of ``(L_j, L_j^2)``), ``W_Q``, ``W_V``, ``W_O``
        (exact matrices as nested lists of Fractions), ``W_K_fixed`` (the entries that do not
        involve G: ``{(row, col): value}``).
    """
    t = t1_template()
    env = {a: _exact(a_v), b: _exact(b_v), p: Fraction(int(p_v))}
    if beta_v is None:
        env[kappa] = _exact(kappa_v)
        bt = _compile_fraction(t["beta"], [a, b, p, kappa])(env)
    else:
        bt = _exact(beta_v)
    Lf = _compile_fraction(t["L"], [a, b, p, j])
    anchors = []
    for jj in range(int(p_v)):
        env[j] = Fraction(jj)
        L = Lf(env)
        anchors.append((L, L * L))
    beta_ = sp.Symbol("beta_", positive=True)
    # The template's beta is kappa/Delta^2; writing kappa = beta_ Delta^2 reads W_K in beta_.
    WK = t["W_K"].subs(kappa, beta_ * t["Delta"] ** 2).subs(G, 0).applyfunc(sp.simplify)
    fixed = {(r, c): _compile_fraction(WK[r, c], [beta_])({beta_: bt})
             for r in range(WK.rows) for c in range(WK.cols) if (r, c) != (1, 1)}
    return {"beta": bt, "anchors": anchors, "W_Q": _rows(t["W_Q"]), "W_V": _rows(t["W_V"]),
            "W_O": _rows(t["W_O"]), "W_K_fixed": fixed}


def _rows(M: sp.Matrix) -> list[list[Fraction]]:
    return [[Fraction(int(sp.Rational(M[r, c]).p), int(sp.Rational(M[r, c]).q))
             for c in range(M.cols)] for r in range(M.rows)]


def _close(stored: Any, exact_v: Fraction, scale: Fraction) -> bool:
    return abs(Fraction(float(stored)) - exact_v) <= REL_TOL * scale


def check_t1(net: Any, a_v: float, b_v: float, p_v: int, kappa_v: float | None,
             beta_v: float | None, w: np.ndarray, t_v: np.ndarray) -> tuple[bool, str]:
    """Compare a stored T1 network with the template instantiated at its parameters.

    Parameters
    ----------
    net : AttentionNet
        The stored network (any origin).
    a_v, b_v, p_v, kappa_v, beta_v
        The construction's parameters (exactly one of kappa and beta).
    w, t_v : arrays
        The token latents' weights ``(n, d)`` and offsets ``(n,)``.

    Returns
    -------
    (bool, str)
        ``(True, summary)`` if every entry of Z's anchor columns, W_Q, W_K (except the free
        ``-beta G``, which must be negative), W_V and W_O is within ``REL_TOL`` of the template
        and the token columns carry exactly ``(w_k . x_k + t_k, 1, 0, 0, 0)``; else
        ``(False, the first differing entry)``.
    """
    from certify.network import Attention, SelectColumns, SequenceAffine

    w, t_v = np.asarray(w, float), np.asarray(t_v, float)
    nn, d = w.shape
    ex = t1_expected(a_v, b_v, p_v, nn, kappa_v, beta_v)
    layers = net.layers
    if (len(layers) != 3 or not isinstance(layers[0], SequenceAffine)
            or not isinstance(layers[1], Attention) or not isinstance(layers[2], SelectColumns)
            or len(layers[1].heads) != 1 or tuple(net.input_shape) != (d, nn)
            or tuple(layers[0].out_shape) != (5, nn + int(p_v))
            or tuple(layers[2].columns) != tuple(range(nn))):
        return False, "network shape differs from the T1 template"
    aff = layers[0]
    bias = np.zeros((5, nn + int(p_v)))
    for r, c, v in np.asarray(aff.bias, float).reshape(-1, 3):
        bias[int(r), int(c)] += v
    weights: dict[tuple[int, int, int, int], float] = {}
    for r, c, ia, ib, v in np.asarray(aff.weights, float).reshape(-1, 5):
        key = (int(r), int(c), int(ia), int(ib))
        weights[key] = weights.get(key, 0.0) + float(v)
    want_w = {(0, kk, ia, kk): float(w[kk, ia]) for kk in range(nn) for ia in range(d)
              if w[kk, ia] != 0.0}
    if {kk: v for kk, v in weights.items() if v != 0.0} != want_w:
        return False, "the affine map's input weights differ from y_k = w_k . x_k + t_k"
    big = max(abs(Fraction(float(a_v))), abs(Fraction(float(b_v))), Fraction(1))
    for kk in range(nn):
        if list(bias[:, kk]) != [float(t_v[kk]), 1.0, 0.0, 0.0, 0.0]:
            return False, f"token column {kk} is not (y_k, 1, 0, 0, 0)"
    for jj, (L, L2) in enumerate(ex["anchors"]):
        col = bias[:, nn + jj]
        if col[0] != 0.0 or col[1] != 0.0 or col[4] != 1.0:
            return False, f"anchor column {jj} is not (0, 0, L_j, L_j^2, 1)"
        if not _close(col[2], L, big):
            return False, (f"anchor {jj}: stored L = {col[2]!r}, template a + j Delta = "
                           f"{float(L)!r}")
        if not _close(col[3], L2, big * big):
            return False, f"anchor {jj}: stored L^2 = {col[3]!r}, template {float(L2)!r}"
    head = layers[1].heads[0]
    for name in ("W_Q", "W_V", "W_O"):
        got = np.atleast_2d(np.asarray(getattr(head, name), float))
        want = ex[name]
        if got.shape != (len(want), len(want[0])) or any(
                Fraction(float(got[r, c])) != want[r][c]
                for r in range(len(want)) for c in range(len(want[0]))):
            return False, f"{name} differs from the template"
    WK = np.atleast_2d(np.asarray(head.W_K, float))
    if WK.shape != (2, 5):
        return False, "W_K has the wrong shape"
    for (r, c), v in ex["W_K_fixed"].items():
        if not _close(WK[r, c], v, abs(v)):
            what = {(0, 2): "2 beta", (1, 3): "-beta"}.get((r, c), "0")
            return False, (f"W_K[{r}, {c}] = {WK[r, c]!r}, template {what} = {float(v)!r} "
                           f"(beta = kappa/Delta^2 = {float(ex['beta'])!r})")
    if not WK[1, 1] < 0:
        return False, "W_K[1, 1] = -beta G must be negative (G > 0)"
    return True, (f"T1 network = template at a={a_v!r}, b={b_v!r}, p={p_v}, "
                  f"beta={float(ex['beta'])!r} within relative {float(REL_TOL):.3g}")


def t2_expected_term(a_v: float, b_v: float, n_v: int, H_v: int, num_v: int, den_v: int,
                     kappa_v: float | None, beta_v: float | None) -> dict[str, Any]:
    """The T2 template for one term instantiated exactly: ``beta``, per head the keys and
    squares, the values, ``W_O``."""
    t = t2_template()
    env = {a: _exact(a_v), b: _exact(b_v), n: Fraction(int(n_v)), H: Fraction(int(H_v)),
           num: Fraction(int(num_v)), den: Fraction(int(den_v))}
    if beta_v is None:
        env[kappa] = _exact(kappa_v)
        bt = _compile_fraction(t["beta"], [a, b, n, H, kappa])(env)
    else:
        bt = _exact(beta_v)
    Kf = _compile_fraction(t["K"], [a, b, n, H, h, k])
    Vf = _compile_fraction(t["V"], [a, b, n, k])
    keys = []
    for hh in range(int(H_v)):
        env[h] = Fraction(hh)
        row = []
        for kk in range(int(n_v)):
            env[k] = Fraction(kk)
            K = Kf(env)
            row.append((K, K * K))
        keys.append(row)
    values = []
    for kk in range(int(n_v)):
        env[k] = Fraction(kk)
        values.append(Vf(env))
    w_o = _compile_fraction(t["W_O"][0, 0], [num, den, H])(env)
    return {"beta": bt, "keys": keys, "values": values, "W_O": w_o}


def check_t2(net: Any, terms: Sequence[tuple[int, int, float, float]], n_v: int, H_v: int,
             kappa_v: float | None, beta_v: float | None) -> tuple[bool, str]:
    """Compare a stored T2 network with the template instantiated at its parameters.

    Parameters
    ----------
    net : AttentionNet
    terms : sequence of (num, den, a, b)
        The target's terms; heads ``i H .. i H + H - 1`` carry term i.
    n_v, H_v : int
        Tokens and heads per term.
    kappa_v, beta_v : float or None
        Exactly one.

    Returns
    -------
    (bool, str)
        ``(True, summary)`` if every head's key anchors, their squares, the value grid,
        ``2 beta``, ``-beta`` and ``W_O`` are within ``REL_TOL`` of the template (phases
        ``(2h + 1 - H)/(2H)``, ``beta = kappa H/Delta^2``); else ``(False, reason)``.
    """
    from certify.network import Attention, TokenAffine

    layers = net.layers
    T = len(terms)
    Gh = T * int(H_v)
    dz = 2 + 2 * Gh + T
    if (len(layers) != 3 or not isinstance(layers[0], TokenAffine)
            or not isinstance(layers[1], Attention) or len(layers[1].heads) != Gh):
        return False, "network shape differs from the T2 template"
    bias = np.asarray(layers[0].bias, float)
    if bias.shape != (dz, int(n_v)):
        return False, "positional bias has the wrong shape"
    for ti, (nu, de, a_v, b_v) in enumerate(terms):
        ex = t2_expected_term(a_v, b_v, n_v, H_v, nu, de, kappa_v, beta_v)
        big = max(abs(Fraction(float(a_v))), abs(Fraction(float(b_v))), Fraction(1))
        for kk, V in enumerate(ex["values"]):
            if not _close(bias[2 + 2 * Gh + ti, kk], V, big):
                return False, f"term {ti}: value of token {kk} differs from a + k Delta"
        for hh in range(int(H_v)):
            g = ti * int(H_v) + hh
            for kk, (K, K2) in enumerate(ex["keys"][hh]):
                if not _close(bias[2 + 2 * g, kk], K, big):
                    return False, (f"term {ti}, head {hh}: key anchor of token {kk} is "
                                   f"{bias[2 + 2 * g, kk]!r}, template a + (k + phi_h) Delta "
                                   f"= {float(K)!r} (phi_h = (2h + 1 - H)/(2H))")
                if not _close(bias[3 + 2 * g, kk], K2, big * big):
                    return False, f"term {ti}, head {hh}: squared key of token {kk} differs"
            head = layers[1].heads[g]
            WK = np.atleast_2d(np.asarray(head.W_K, float))
            bt = ex["beta"]
            if WK.shape != (2, dz):
                return False, f"head {g}: W_K has the wrong shape"
            for r in range(2):
                for c in range(dz):
                    v = (2 * bt if (r, c) == (0, 2 + 2 * g)
                         else -bt if (r, c) == (1, 3 + 2 * g) else Fraction(0))
                    if not _close(WK[r, c], v, abs(v)):
                        return False, (f"term {ti}, head {hh}: W_K[{r}, {c}] = {WK[r, c]!r}, "
                                       f"template {float(v)!r} (beta = kappa H/Delta^2 = "
                                       f"{float(bt)!r})")
            WQ = np.atleast_2d(np.asarray(head.W_Q, float))
            WV = np.atleast_2d(np.asarray(head.W_V, float))
            eye = np.eye(dz)
            if WQ.shape != (2, dz) or not np.array_equal(WQ, eye[[0, 1]]):
                return False, f"head {g}: W_Q is not (e_u; e_r)"
            if WV.shape != (1, dz) or not np.array_equal(WV, eye[[2 + 2 * Gh + ti]]):
                return False, f"head {g}: W_V does not read term {ti}'s value row"
            WO = np.atleast_2d(np.asarray(head.W_O, float))
            if WO.shape != (1, 1) or not _close(WO[0, 0], ex["W_O"], abs(ex["W_O"])):
                return False, f"head {g}: W_O differs from g/H"
    return True, (f"T2 network = template (phases (2h + 1 - H)/(2H), beta = kappa H/Delta^2) "
                  f"within relative {float(REL_TOL):.3g}")


def check_spec_network(theorem: str, net: Any, spec: Any) -> tuple[bool, str]:
    """Conformance of a stored network with the symbolic construction named by ``theorem``.

    Parameters
    ----------
    theorem : str
        ``"single-head"`` or ``"multi-head"`` (other theorems: ``(True, "not applicable")``).
    net : AttentionNet
    spec : certify.spec.Spec
        Its ``target`` and ``construction`` give the parameters.

    Returns
    -------
    (bool, str)
        As :func:`check_t1` / :func:`check_t2`; malformed input gives ``(False, reason)``.
    """
    try:
        tg, cons = spec.target, spec.construction
        if theorem == "single-head":
            return check_t1(net, tg["a"], tg["b"], int(cons["p"]), cons.get("kappa"),
                            cons.get("beta"), np.array(tg["w"], float),
                            np.array(tg["t"], float))
        if theorem == "multi-head":
            from certify.spec import truncated_linear_terms
            return check_t2(net, truncated_linear_terms(tg), int(tg["tokens"]),
                            int(cons["heads"]), cons.get("kappa"), cons.get("beta"))
    except (KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        return False, f"cannot instantiate the symbolic construction ({exc})"
    return True, "no symbolic template for this theorem"
