"""The O(Delta/H) bound of Theorem T2 for all parameters (docs/mathematics.md, section 5).

Setting: the T2 template of :mod:`theorems.symbolic` for one term ``g Range_[a,b]``: n >= 2
value anchors ``V_k = a + k Delta``, ``Delta = (b - a)/(n - 1)``, H >= 1 heads with key
anchors ``K_k^h = V_k + phi_h Delta``, ``phi_h = (2h + 1 - H)/(2H)``, inverse temperature
``beta = kappa H/Delta^2`` (kappa > 0) and output weight ``g/H``, evaluated in exact
arithmetic.  Write ``y = a + x Delta`` (x: the latent in units of Delta).

Theorem (T2.rate).  For every real y,

    |N(y) - g Range_[a,b](y)| <= |g| (Delta/H) (1/2 + C(kappa)),
    C(kappa) = Psi(kappa)/(1 - e^{-kappa}),  Psi(kappa) = sum_{m>=1} m e^{-kappa m (m-1)},

with the closed form ``Psi_N(kappa) = sum_{m=1}^{N} m e^{-kappa m (m-1)} + U_{N+1}(e^{-kappa
N})`` (any N >= 1; :func:`psi_closed`) in place of the series.  At kappa = 3,
``1/2 + C = 1.5576...``.

Proof, as the obligations check it.  Head h is the Lemma I head on the grid V at
``z = y - phi_h Delta`` (T2.sym-score) with ``beta Delta^2 = kappa H`` (T2.sym-kappa).  Its
hardmax value switches from ``V_j`` to ``V_{j+1}`` at the midpoint of the keys ``K_j^h``,
``K_{j+1}^h``, which is at ``x = j + (2h+1)/(2H)`` (the *jumps* of head h).  Let ``c_h(x)``
be the number of jumps of head h below x and split the head's output as
``o_h = V_{c_h} + Delta r_h``.

* T2.rate-staircase: the jumps of all heads are, each once, the grid points
  ``(2i+1)/(2H)``, ``i = 0..(n-1)H - 1`` (step 1/H), so ``sum_h c_h(x)`` is the number of
  grid points below x, and ``|(1/H) sum_h c_h - clamp(x, 0, n-1)| <= 1/(2H)`` for every
  real x: inside ``[0, n-1]`` by counting, outside because every head is then at ``V_0 = a``
  or ``V_{n-1} = b`` (the smallest jump is 1/(2H) > 0, the largest ``n - 1 - 1/(2H)``).  This
  is Hermite's identity ``sum_h floor(x + h/H) = floor(H x)`` with the clamping built in.
* T2.rate-head: let u be the distance of ``t = x - phi_h`` to the nearest jump of head h.
  If that jump is above t (``t = c + 1/2 - u``), anchor ``c + m`` scores
  ``kappa H (m (m-1) + 2 m u)`` below anchor c, and anchor ``c - m``, which exists only when
  the jump ``c - 1/2`` exists and is not nearer (so ``u <= 1/2``), at least as much; the case
  of a nearer jump below is the mirror image.  By Lemma S relative to anchor c every weight
  ``w_{c +- m} <= e^{-kappa H m (m-1)} e^{-2 kappa H u}``, and
  ``r_h = sum_m m w_{c+m} - sum_m m w_{c-m}`` is a difference of two such nonnegative sums,
  so ``|r_h| <= e^{-2 kappa H u} Psi_M(kappa H)`` with M >= n - 1 the largest offset.
* T2.rate-spacing: the nearest jumps of the H heads are distinct points of the grid of step
  1/H, so the k-th smallest of the distances ``u_h`` is at least ``k/(2H)`` (a closed interval
  of radius r holds at most ``2 r H + 1`` grid points): two heads per distance step 1/H.
  Hence ``sum_h e^{-2 kappa H u_h} <= sum_{k<H} e^{-kappa k} <= 1/(1 - e^{-kappa})``.
* T2.rate-series: ``Psi_M(kappa H) <= Psi_M(kappa) <= Psi_N(kappa)`` for every M (H >= 1;
  the tail ``m > N`` is a geometric-type series bounded by ``U_{N+1}``, I3.tail-series).
* T2.rate: ``N - g Range = g Delta ((1/H) sum_h c_h - clamp(x)) + (g/H) Delta sum_h r_h``
  (T2.sym-average), and the triangle inequality gives the theorem.

T2.rate is an *entailment*: its facts are proved for every value of the symbols
``bound:<id>`` (:func:`bound_symbol`) of T2.rate-staircase, -spacing and -series, with
T2.rate-head's bound *applied* at each head (``bound:T2.rate-head(u, u_h)``,
:func:`theorems.obligations.premise_bound`, resolved before the facts are proved), and its
conclusion fact is the entailment's bound with each ``bound:<id>`` replaced by the bound that
node exports (the left side of its facts labelled ``conclusion``).  ``attncert theorems
replay`` recomputes that substitution from the exported premise nodes
(:func:`theorems.replay.check_entailments`), so the bound T2.rate states is its combination
rule at the bounds its premises export; how the premises' quantities enter the facts is the
argument above (docs/mathematics.md, section 9).

T2.rate-rounding extends the bound to stored binary64 networks (the rounding lemma T1.rounding
per head and the coefficient error), :func:`theorems.multi_head.rate_bound` evaluates it per
network, and T2.rate-bound (:mod:`theorems.multi_head_obligations`) checks it on an instance.
"""

from __future__ import annotations

from typing import Any

import sympy as sp
from flint import arb, ctx

from theorems import symbolic
from theorems.lemma_i import _rational, default_terms
from theorems.obligations import (
    Identity,
    Inequality,
    Obligation,
    at_least,
    compile_arb,
    equal,
    premise_bound,
)
from theorems.replay import BOUND_PREFIX

half = sp.Rational(1, 2)
kappa = symbolic.kappa
H = symbolic.H
Delta = sp.Symbol("Delta", positive=True)
g_abs = sp.Symbol("g", nonnegative=True)  # |g|; g < 0 swaps the two sides
rho = sp.Symbol("rho", positive=True)  # e^{kappa} - 1, so that e^{-kappa} = 1/(1 + rho)
N_terms = sp.Symbol("N", integer=True, positive=True)
M_off = sp.Symbol("M", integer=True, positive=True)
q_s = sp.Symbol("q", integer=True, nonnegative=True)  # n = q + 2 >= 2
m_s = sp.Symbol("m", integer=True, positive=True)
k_s = sp.Symbol("k", integer=True, nonnegative=True)
c_s = sp.Symbol("c", integer=True, nonnegative=True)
u_s = sp.Symbol("u", nonnegative=True)
v_s = sp.Symbol("v", nonnegative=True)
z_s = sp.Symbol("z", nonnegative=True)

#: The per-head inverse temperature in units of Delta: beta Delta^2 = kappa H (T2.sym-kappa).
LAM = kappa * H


def bound_symbol(node_id: str) -> sp.Symbol:
    """The symbol standing for the bound node ``node_id`` exports (nonnegative)."""
    return sp.Symbol(BOUND_PREFIX + node_id, nonnegative=True)


def staircase_bound(heads: Any) -> sp.Expr:
    """The staircase error in units of Delta: ``1/(2H)`` (half a step of the joint grid)."""
    return sp.Rational(1, 2) / heads


def spacing_lower(k: Any, heads: Any) -> sp.Expr:
    """Lower bound of the k-th smallest head distance (0-based): ``k/(2H)``.

    At most two nearest jumps lie within each distance step ``1/H`` of x (one on each side).
    """
    return k / (2 * heads)


def u_closed(kap: Any, K: Any) -> sp.Expr:
    """``U_K(r) = r^K (K - (K-1) r)/(1 - r)^2`` at ``r = e^{-kap (K-1)}``: bounds
    ``sum_{m>=K} m e^{-kap m (m-1)}`` for ``K >= 2`` (I3.tail-series, T2.rate-series)."""
    r = sp.exp(-kap * (K - 1))
    return r**K * (K - (K - 1) * r) / (1 - r) ** 2


def psi_closed(kap: Any = kappa, terms: Any = N_terms) -> sp.Expr:
    """``Psi_N(kap) = sum_{m=1}^{N} m e^{-kap m (m-1)} + U_{N+1}(e^{-kap N})``.

    Parameters
    ----------
    kap : sympy expression or number
        Positive.
    terms : int or sympy integer symbol
        ``N >= 1``; an int gives an explicit finite sum, a symbol a ``Sum``.

    Returns
    -------
    sympy expression
        An upper bound of ``Psi(kap) = sum_{m>=1} m e^{-kap m (m-1)}`` (T2.rate-series).
    """
    kap = _rational(kap)
    if isinstance(terms, int):
        if terms < 1:
            raise ValueError("terms must be >= 1")
        head = sp.Add(*[m * sp.exp(-kap * m * (m - 1)) for m in range(1, terms + 1)])
    else:
        head = sp.Sum(m_s * sp.exp(-kap * m_s * (m_s - 1)), (m_s, 1, terms))
    return head + u_closed(kap, terms + 1)


def rate_constant(kap: Any = kappa, terms: Any = None) -> sp.Expr:
    """``1/2 + C(kap)`` with ``C = Psi_N(kap)/(1 - e^{-kap})``: the T2 bound is this times
    ``|g| Delta/H``.

    Parameters
    ----------
    kap : number or sympy expression
        Positive; floats are taken as their exact binary64 value.
    terms : int, optional
        N (default :func:`theorems.lemma_i.default_terms`: 4 for a symbol).

    Returns
    -------
    sympy expression
    """
    kv = _rational(kap)
    n_terms = default_terms(kv) if terms is None else int(terms)
    return half + psi_closed(kv, n_terms) / (1 - sp.exp(-kv))


def rate_constant_arb(kap: Any, terms: int | None = None, prec: int = 128) -> arb:
    """Arb enclosure of :func:`rate_constant` at a positive number ``kap``."""
    kv = _rational(kap)
    if not (kv.is_number and kv > 0):
        raise ValueError("kappa must be a positive number")
    with ctx.workprec(prec):
        return compile_arb(rate_constant(kv, terms), [])([])


def _template() -> tuple[dict[str, Any], dict[sp.Symbol, sp.Expr], Any]:
    """The T2 template, the substitution ``b = a + w``, ``n = q + 2`` and its score function."""
    t = symbolic.t2_template()
    pos = {symbolic.b: symbolic.a + symbolic.width, symbolic.n: q_s + 2}
    zq = sp.Matrix([symbolic.y, 1, 0, 0, 0])

    def score(key: Any, at: sp.Expr) -> sp.Expr:
        """Head h's score of key ``key`` at query latent ``at`` (the template's matrices)."""
        return symbolic._score(t, zq, t["z"].subs(symbolic.k, key)).subs(symbolic.y, at)

    return t, pos, score


# --------------------------------------------------------------------------- staircase

def staircase_obligation() -> Obligation:
    """T2.rate-staircase: the hardmax average is within Delta/(2H) of Range, everywhere.

    Returns
    -------
    Obligation
        Identity, general.  Facts (``y = a + x Delta``, n = q + 2): head h's scores of keys
        j and j+1 differ by ``2 kappa H v`` at ``v Delta`` below their midpoint (the hardmax
        value switches from ``V_j`` to ``V_{j+1}`` there); that midpoint is at
        ``x = (2 (j H + h) + 1)/(2H)``; the index ``j H + h`` runs through
        ``0..(n-1)H - 1`` in steps of 1 as (j, h) runs lexicographically (each grid point
        once); the grid ends 1/(2H) inside ``[0, n-1]``; the heads' hard values average to
        ``a + Delta (sum_h c_h)/H``; and with i grid points below
        ``x = (2i+1)/(2H) - theta/H`` (``theta`` in [0, 1)), ``|i/H - x| <= 1/(2H)``
        (the conclusion, both sides).
    """
    t, pos, score = _template()
    K, V, dl = t["K"], t["V"], t["Delta"]
    jj, hh, ii = symbolic.j, symbolic.h, symbolic.i
    mid = (K.subs(symbolic.k, jj) + K.subs(symbolic.k, jj + 1)) / 2
    vr = sp.Symbol("v", real=True)  # either side of the midpoint
    at = mid - vr * dl
    index = lambda j_, h_: j_ * H + h_  # noqa: E731
    point = lambda i_: (2 * i_ + 1) / (2 * H)  # noqa: E731
    cc = sp.IndexedBase("c", integer=True, nonnegative=True)
    tau = sp.Symbol("tau", nonnegative=True)
    th = tau / (1 + tau)  # theta in [0, 1)
    x = point(ii) - th / H
    B = staircase_bound(H)
    facts = (
        equal((score(jj, at) - score(jj + 1, at)).subs(pos), 2 * kappa * H * vr,
              label="key j beats key j+1 by 2 kappa H v at v Delta below their midpoint"),
        equal(((mid - symbolic.a) / dl).subs(pos), point(index(jj, hh)),
              label="the jump of head h between values j and j+1 is grid point j H + h"),
        equal(index(jj, hh + 1) - index(jj, hh), 1, label="next head: next grid point"),
        equal(index(jj + 1, 0) - index(jj, H - 1), 1, label="head H-1 to head 0: next point"),
        equal(index(0, 0), 0, label="first jump is grid point 0"),
        equal(index(q_s, H - 1), (q_s + 1) * H - 1, label="last jump (j = n-2, h = H-1)"),
        equal(point(ii + 1) - point(ii), 1 / H, label="grid step 1/H"),
        equal(point(0), 1 / (2 * H), label="smallest jump 1/(2H) > 0"),
        equal((q_s + 1) - point((q_s + 1) * H - 1), 1 / (2 * H),
              label="largest jump 1/(2H) below n - 1"),
        equal(V.subs(symbolic.k, 0), symbolic.a, label="V_0 = a"),
        equal(V.subs(symbolic.k, symbolic.n - 1), symbolic.b, label="V_{n-1} = b"),
        equal((sp.Sum(V.subs(symbolic.k, cc[hh]), (hh, 0, H - 1)) / H).subs(pos),
              (symbolic.a + dl * sp.Sum(cc[hh], (hh, 0, H - 1)) / H).subs(pos),
              label="hard average = a + Delta (sum_h c_h)/H"),
        at_least(B, ii / H - x, (1 - th) / H, label="conclusion: upper"),
        at_least(B, x - ii / H, th / H, label="conclusion: lower"),
    )
    return Obligation(
        "T2.rate-staircase", "for all n >= 2, H >= 1, kappa > 0 and every real y: the heads' "
        "hardmax values average to within Delta/(2H) of Range_[a,b](y) (the jumps of all "
        "heads are, each once, the grid (2i+1)/(2H), i < (n-1)H, in units of Delta; inside "
        "[a, b] by counting, outside every head sits at V_0 = a or V_{n-1} = b): Hermite's "
        "identity with the clamping", Identity(facts),
        uses=("T2.sym-score", "T2.sym-phases", "T2.sym-interleave", "T2.sym-average"))


# -------------------------------------------------------------------------------- head

def psi_sum(lam: Any, M: Any = M_off) -> sp.Expr:
    """``Psi_M(lam) = sum_{m=1}^{M} m e^{-lam m (m-1)}`` as a ``Sum``: the quantity
    T2.rate-series bounds (at ``lam = kappa H``)."""
    return sp.Sum(m_s * sp.exp(-lam * m_s * (m_s - 1)), (m_s, 1, M))


def head_bound(u: Any = u_s, M: Any = M_off) -> sp.Expr:
    """``e^{-2 kappa H u} Psi_M(kappa H)`` as ``Sum(m e^{-kappa H m(m-1)} e^{-2 kappa H u})``."""
    return sp.Sum(m_s * sp.exp(-LAM * m_s * (m_s - 1)) * sp.exp(-2 * LAM * u), (m_s, 1, M))


def head_obligation() -> Obligation:
    """T2.rate-head: one head's soft part ``|o_h - V_{c_h}| <= Delta e^{-2 kappa H u} Psi_M``.

    Returns
    -------
    Obligation
        Identity, general (u: distance, in units of Delta, from ``y - phi_h Delta`` to head
        h's nearest jump; c: the anchor below that jump, or above it in the mirror case).
        Facts: ``V_k - V_c = (k - c) Delta`` and the indexing ``k = c +- m``; the score gaps
        of anchors ``c +- m`` to anchor c in both cases (nearest jump above, below), exact on
        the near side and at least ``kappa H (m (m-1) + 2 m u)`` on the far side, where
        ``u = 1/2 - v <= 1/2`` (a far-side anchor exists only if the far jump exists and is
        not nearer); ``e^{-kappa H (m (m-1) + 2 m u)} <= e^{-kappa H m (m-1)} e^{-2 kappa H u}``
        (m >= 1); and the conclusion: with those weight bounds (slack ``g_r``, ``g_l >= 0``;
        weights ``w >= 0``), ``+- (sum_m m w_{c+m} - sum_m m w_{c-m}) <= sum_m m
        e^{-kappa H m (m-1)} e^{-2 kappa H u}`` termwise, for every number M of offsets.
    """
    t, pos, score = _template()
    V, phi, dl = t["V"], t["phi"], t["Delta"]
    a = symbolic.a
    m1 = sp.Symbol("m1", integer=True, nonnegative=True)
    kk = sp.Symbol("k", integer=True)
    cm = sp.Symbol("c", integer=True)
    gap = LAM * (m_s * (m_s - 1) + 2 * m_s * u_s)
    gap_far = LAM * (m_s * (m_s - 1) + 2 * m_s * (half - v_s))
    above = a + (c_s + half - u_s + phi) * dl      # nearest jump c + 1/2 above, at distance u
    above_far = a + (c_s + v_s + phi) * dl         # the same with u = 1/2 - v
    below = a + (c_s - half + u_s + phi) * dl      # nearest jump c - 1/2 below
    below_far = a + (c_s - v_s + phi) * dl
    gr, gl = sp.IndexedBase("g_r", nonnegative=True), sp.IndexedBase("g_l", nonnegative=True)
    wr, wl = sp.IndexedBase("w_r", nonnegative=True), sp.IndexedBase("w_l", nonnegative=True)
    e = sp.exp(-LAM * m_s * (m_s - 1)) * sp.exp(-2 * LAM * u_s)
    bound = head_bound()
    facts = (
        equal((V.subs(symbolic.k, kk) - V.subs(symbolic.k, cm)).subs(pos),
              ((kk - cm) * dl).subs(pos), label="V_k - V_c = (k - c) Delta"),
        equal((cm + m_s) - cm, m_s, label="right: k = c + m"),
        equal(cm - (cm - m_s), m_s, label="left: k = c - m"),
        equal((score(c_s, above) - score(c_s + m_s, above)).subs(pos), gap,
              label="jump above: gap of anchor c + m"),
        at_least((score(c_s, above_far) - score(c_s - m_s, above_far)).subs(pos), gap_far,
                 4 * LAM * m_s * v_s, label="jump above: gap of anchor c - m (u <= 1/2)"),
        equal((score(c_s, below) - score(c_s - m_s, below)).subs(pos), gap,
              label="jump below: gap of anchor c - m"),
        at_least((score(c_s, below_far) - score(c_s + m_s, below_far)).subs(pos), gap_far,
                 4 * LAM * m_s * v_s, label="jump below: gap of anchor c + m (u <= 1/2)"),
        at_least(sp.exp(-LAM * (1 + m1) * m1 - 2 * LAM * u_s),
                 sp.exp(-LAM * ((1 + m1) * m1 + 2 * (1 + m1) * u_s)),
                 sp.exp(-LAM * (1 + m1) * m1 - 2 * LAM * u_s) * (1 - sp.exp(-z_s)),
                 via=z_s, at=2 * LAM * m1 * u_s,
                 label="e^{-kappa H (m(m-1) + 2 m u)} <= e^{-kappa H m(m-1)} e^{-2 kappa H u}"),
        at_least(bound, sp.Sum(m_s * (e - gr[m_s]) - m_s * wl[m_s], (m_s, 1, M_off)),
                 sp.Sum(m_s * (gr[m_s] + wl[m_s]), (m_s, 1, M_off)), termwise=True,
                 label="conclusion: upper"),
        at_least(bound, sp.Sum(m_s * (e - gl[m_s]) - m_s * wr[m_s], (m_s, 1, M_off)),
                 sp.Sum(m_s * (gl[m_s] + wr[m_s]), (m_s, 1, M_off)), termwise=True,
                 label="conclusion: lower"),
    )
    return Obligation(
        "T2.rate-head", "for every head h, real y, n >= 2, H >= 1, kappa > 0: |o_h(y) - "
        "V_{c_h}| <= Delta e^{-2 kappa H u} sum_{m=1}^{M} m e^{-kappa H m(m-1)}, u the "
        "distance (units of Delta) from y - phi_h Delta to head h's nearest jump, c_h the "
        "number of its jumps below y (score gaps from the template, Lemma S relative to "
        "anchor c_h)", Identity(facts),
        uses=("T2.sym-score", "T2.sym-kappa", "S.pointwise", "S.gap", "I3.decomposition"))


# ----------------------------------------------------------------------------- spacing

def spacing_obligation() -> Obligation:
    """T2.rate-spacing: ``sum_h e^{-2 kappa H u_h} <= 1/(1 - e^{-kappa})``.

    Returns
    -------
    Obligation
        Identity, general.  Facts: the k+1 nearest jumps (distinct grid points of step 1/H,
        T2.rate-staircase) span at least ``k/H`` and lie within ``[x - u_(k), x + u_(k)]``,
        so ``u_(k) >= k/(2H)``; then ``e^{-2 kappa H u_(k)} <= e^{-kappa k} = r^k`` with
        ``r = e^{-kappa} = 1/(1 + rho)``, ``rho = e^{kappa} - 1 > 0``
        (``1 - e^{-kappa} >= kappa e^{-kappa}``); termwise over the sorted heads; and the
        conclusion ``sum_{k<H} r^k <= (1 + rho)/rho = 1/(1 - e^{-kappa})``.
    """
    e1 = sp.Symbol("e1", integer=True, nonnegative=True)
    d1, d2 = sp.symbols("d1 d2", nonnegative=True)
    sig = sp.IndexedBase("sigma", nonnegative=True)
    r = 1 / (1 + rho)
    xs = sp.Symbol("x", nonnegative=True)
    radius = ((k_s + e1) / H + d1 + d2) / 2
    facts = (
        at_least(radius, spacing_lower(k_s, H), e1 / (2 * H) + (d1 + d2) / 2,
                 label="k+1 distinct grid points within distance r of x: r >= k/(2H)"),
        at_least(sp.exp(-kappa * k_s), sp.exp(-2 * LAM * (spacing_lower(k_s, H) + v_s)),
                 sp.exp(-kappa * k_s) * (1 - sp.exp(-z_s)), via=z_s, at=2 * LAM * v_s,
                 label="u_(k) = k/(2H) + v: e^{-2 kappa H u_(k)} <= e^{-kappa k}"),
        equal(sp.exp(-kappa * k_s), (1 / (1 + (sp.exp(kappa) - 1))) ** k_s,
              label="e^{-kappa k} = r^k, r = 1/(1 + rho), rho = e^kappa - 1"),
        at_least(1 - sp.exp(-kappa), kappa * sp.exp(-kappa),
                 1 - sp.exp(-xs) - xs * sp.exp(-xs), via=xs, at=kappa,
                 label="1 - e^{-kappa} >= kappa e^{-kappa} > 0, so rho > 0"),
        equal(((1 + rho) / rho).subs(rho, sp.exp(kappa) - 1), 1 / (1 - sp.exp(-kappa)),
              label="(1 + rho)/rho = 1/(1 - e^{-kappa})"),
        at_least(sp.Sum(r**k_s, (k_s, 0, H - 1)), sp.Sum(r**k_s / (1 + sig[k_s]), (k_s, 0, H - 1)),
                 sp.Sum(r**k_s * sig[k_s] / (1 + sig[k_s]), (k_s, 0, H - 1)), termwise=True,
                 label="sorted heads: sum_h e^{-2 kappa H u_h} <= sum_{k<H} r^k"),
        at_least((1 + rho) / rho, sp.Sum(r**k_s, (k_s, 0, H - 1)), r**H * (1 + rho) / rho,
                 label="conclusion: sum_{k<H} r^k <= (1 + rho)/rho"),
    )
    return Obligation(
        "T2.rate-spacing", "for all H >= 1, kappa > 0 and every real y: the nearest jumps of "
        "the H heads are distinct points of the grid of step Delta/H, so the k-th smallest "
        "distance is >= k Delta/(2H) (two heads per distance step) and sum_h "
        "e^{-2 kappa H u_h} <= sum_{k<H} e^{-kappa k} <= 1/(1 - e^{-kappa})", Identity(facts),
        uses=("T2.rate-staircase", "T2.sym-kappa"))


# ------------------------------------------------------------------------------ series

def series_obligation() -> Obligation:
    """T2.rate-series: ``Psi_M(kappa H) <= Psi_N(kappa)`` for every M, N >= 1 and H >= 1.

    Returns
    -------
    Obligation
        Identity, general.  Facts: ``e^{-kappa H m (m-1)} <= e^{-kappa m (m-1)}`` (H = 1 + eta);
        for ``m = N + 1 + l``, ``e^{-kappa m (m-1)} <= (e^{-kappa N})^m``; ``U_K(r) >= 0`` for
        ``0 < r = 1/(1 + tau) < 1`` (``tau = e^{kappa N} - 1 > 0``; so
        ``sum_{m=K}^{M} m r^m = U_K(r) - U_{M+1}(r) <= U_K(r)`` by the telescoping of
        I3.tail-series); and the conclusion: the first N terms and the tail, each with its
        slack, add up to ``Psi_N(kappa)``.
    """
    eta = sp.Symbol("eta", integer=True, nonnegative=True)
    m1 = sp.Symbol("m1", integer=True, nonnegative=True)
    ll = sp.Symbol("l", integer=True, nonnegative=True)
    tau = sp.Symbol("tau", positive=True)
    K = sp.Symbol("K", integer=True, positive=True)
    sl = sp.IndexedBase("s", nonnegative=True)
    bt = sp.Symbol("b", nonnegative=True)
    mm = 1 + m1
    mt = N_terms + 1 + ll
    r = 1 / (1 + tau)
    U = r**K * (K - (K - 1) * r) / (1 - r) ** 2
    xs = sp.Symbol("x", nonnegative=True)
    facts = (
        at_least(sp.exp(-kappa * mm * (mm - 1)), sp.exp(-LAM.subs(H, 1 + eta) * mm * (mm - 1)),
                 sp.exp(-kappa * mm * (mm - 1)) * (1 - sp.exp(-z_s)), via=z_s,
                 at=kappa * eta * mm * m1, label="H >= 1: e^{-kappa H m(m-1)} <= "
                                                 "e^{-kappa m(m-1)}"),
        at_least(sp.exp(-kappa * N_terms * mt), sp.exp(-kappa * mt * (mt - 1)),
                 sp.exp(-kappa * N_terms * mt) * (1 - sp.exp(-z_s)), via=z_s,
                 at=kappa * mt * ll, label="tail m >= N+1: e^{-kappa m(m-1)} <= (e^{-kappa N})^m"),
        at_least(U, 0, (K * tau + 1) / (tau**2 * (1 + tau) ** (K - 1)),
                 label="U_K(r) >= 0 for 0 < r < 1"),
        at_least(1 - sp.exp(-kappa * N_terms), kappa * N_terms * sp.exp(-kappa * N_terms),
                 1 - sp.exp(-xs) - xs * sp.exp(-xs), via=xs, at=kappa * N_terms,
                 label="1 - e^{-kappa N} >= kappa N e^{-kappa N} > 0: tau = e^{kappa N} - 1 > 0"),
        equal(u_closed(kappa, N_terms + 1), U.subs(K, N_terms + 1).subs(
            tau, sp.exp(kappa * N_terms) - 1), label="U_{N+1} at r = e^{-kappa N}"),
        at_least(psi_closed(kappa, N_terms),
                 sp.Sum(m_s * sp.exp(-kappa * m_s * (m_s - 1)) - sl[m_s], (m_s, 1, N_terms))
                 + u_closed(kappa, N_terms + 1) - bt,
                 sp.Sum(sl[m_s], (m_s, 1, N_terms)) + bt,
                 label="conclusion: Psi_M(kappa H) <= Psi_N(kappa)"),
    )
    return Obligation(
        "T2.rate-series", "for every M >= 1 offsets, N >= 1 explicit terms, H >= 1 and kappa "
        "> 0: sum_{m=1}^{M} m e^{-kappa H m(m-1)} <= Psi_N(kappa) = sum_{m=1}^{N} m "
        "e^{-kappa m(m-1)} + U_{N+1}(e^{-kappa N})", Identity(facts),
        uses=("I3.tail-series",))


# ------------------------------------------------------------------------ combination

PREMISES: tuple[str, ...] = ("T2.rate-staircase", "T2.rate-spacing", "T2.rate-series")


def exported_bound(ob: Obligation) -> sp.Expr:
    """The bound a node exports: the common left side of an identity node's ``conclusion``
    facts, or the common bound of an inequality node's cases labelled ``conclusion...``.

    Raises
    ------
    ValueError
        If the node has no such fact or case, they disagree, or it is of another kind.
    """
    if isinstance(ob.payload, Inequality):
        sides = {c.bound for c in ob.payload.cases if c.label.startswith("conclusion")}
        if len(sides) != 1:
            raise ValueError(f"{ob.id} must have conclusion cases with one common bound")
        return sides.pop()
    if not isinstance(ob.payload, Identity):
        raise ValueError(f"{ob.id} is not an identity node")
    lhs = {f.lhs for f in ob.payload.facts if f.label.startswith("conclusion")}
    if len(lhs) != 1:
        raise ValueError(f"{ob.id} must have conclusion facts with one common left side")
    return lhs.pop()


def rate_bound_expr(kap: Any = kappa, terms: Any = N_terms) -> sp.Expr:
    """``|g| (Delta/H) (1/2 + Psi_N(kappa) (1 + rho)/rho)``, ``rho = e^kappa - 1``: T2.rate."""
    return g_abs * Delta / H * (half + psi_closed(kap, terms) * (1 + rho) / rho)


def rate_obligation(premises: dict[str, Obligation] | None = None) -> Obligation:
    """T2.rate: ``|N(y) - g Range(y)| <= |g| (Delta/H) (1/2 + C(kappa))`` (an entailment).

    Parameters
    ----------
    premises : dict, optional
        The premise nodes by id (default: built here): T2.rate-staircase, T2.rate-head,
        T2.rate-spacing, T2.rate-series; their exported bounds are substituted into the
        entailment's bound to form the conclusion, and T2.rate-head's bound is applied per
        head.

    Returns
    -------
    Obligation
        Identity, general.  Facts: the decomposition ``N - g Range = g Delta ((1/H) sum_h c_h
        - X) + (g/H) Delta sum_h r_h`` on the template (``W_O = g/H``, ``o_h = V_{c_h} + Delta
        r_h``, ``Range = a + Delta X``); over the heads, ``|r_h| <= B_h`` with ``B_h =
        bound:T2.rate-head(u, u_h)``, T2.rate-head's exported bound at ``u = u_h`` (resolved
        from the premise, not restated), sums to ``|sum_h r_h| <= sum_h Psi_M(kappa H)
        e^{-2 kappa H u_h}`` (termwise: the resolved ``B_h`` must equal that summand);
        ``= Psi_M(kappa H) sum_h e^{-2 kappa H u_h}``; with ``Psi_M(kappa H) <= Q`` and
        ``sum_h e^{-2 kappa H u_h} <= P`` that is at most ``Q P``; the entailment (for every
        value of the premise bounds ``S = bound:T2.rate-staircase``, ``P = bound:T2.rate-spacing``,
        ``Q = bound:T2.rate-series``): ``|s| <= S`` and ``|sum_h r_h| <= Q P`` give
        ``|g Delta s + (g/H) Delta sum_h r_h| <= g Delta (S + P Q/H)``; and the conclusion
        ``|g| (Delta/H) (1/2 + Psi_N (1 + rho)/rho) = g Delta (S + P Q/H)`` at the exported
        bounds.
    """
    if premises is None:
        premises = {ob.id: ob for ob in (staircase_obligation(), head_obligation(),
                                         spacing_obligation(), series_obligation())}
    t, pos, _ = _template()
    V, WO, dl = t["V"], t["W_O"][0, 0], t["Delta"]
    hh = symbolic.h
    cc = sp.IndexedBase("c", integer=True)
    rr = sp.IndexedBase("r", real=True)
    X = sp.Symbol("X", real=True)
    g = symbolic.num / symbolic.den
    out = sp.Sum(WO * (V.subs(symbolic.k, cc[hh]) + dl * rr[hh]), (hh, 0, H - 1))
    decomposition = equal(
        (out - g * (symbolic.a + dl * X)).subs(pos),
        (g * dl * (sp.Sum(cc[hh], (hh, 0, H - 1)) / H - X)
         + g / H * dl * sp.Sum(rr[hh], (hh, 0, H - 1))).subs(pos),
        label="N - g Range = g Delta (hard average - X) + (g/H) Delta sum_h r_h")
    # The per-head bound is T2.rate-head's exported bound at u = u_h (resolved before the
    # facts are proved); it factors into the quantities T2.rate-series and T2.rate-spacing
    # bound: Psi_M(kappa H) and sum_h e^{-2 kappa H u_h}.
    uh = sp.IndexedBase("u", nonnegative=True)
    lh = sp.IndexedBase("l", nonnegative=True)
    B_h = premise_bound("T2.rate-head", (u_s, uh[hh]))
    Psi = psi_sum(LAM)
    X_h = sp.exp(-2 * LAM * uh[hh])
    sum_X = sp.Sum(X_h, (hh, 0, H - 1))
    r_h = B_h * (1 - 2 * lh[hh] / (1 + lh[hh]))       # |r_h| <= B_h
    dP, dQ = sp.symbols("d_P d_Q", nonnegative=True)
    heads = (
        at_least(sp.Sum(Psi * X_h, (hh, 0, H - 1)), sp.Sum(r_h, (hh, 0, H - 1)),
                 sp.Sum(B_h * 2 * lh[hh] / (1 + lh[hh]), (hh, 0, H - 1)), termwise=True,
                 label="heads: sum_h r_h <= sum_h Psi_M(kappa H) e^{-2 kappa H u_h}, "
                       "|r_h| <= T2.rate-head's bound at u = u_h"),
        at_least(sp.Sum(Psi * X_h, (hh, 0, H - 1)), sp.Sum(-r_h, (hh, 0, H - 1)),
                 sp.Sum(B_h * 2 / (1 + lh[hh]), (hh, 0, H - 1)), termwise=True,
                 label="heads: -sum_h r_h <= sum_h Psi_M(kappa H) e^{-2 kappa H u_h}"),
        equal(sp.Sum(Psi * X_h, (hh, 0, H - 1)), Psi * sum_X,
              label="sum_h Psi_M(kappa H) e^{-2 kappa H u_h} = Psi_M(kappa H) sum_h "
                    "e^{-2 kappa H u_h}"),
        at_least((Psi + dQ) * (sum_X + dP), Psi * sum_X, dQ * sum_X + Psi * dP + dQ * dP,
                 label="Psi_M(kappa H) <= Q (T2.rate-series) and sum_h e^{-2 kappa H u_h} "
                       "<= P (T2.rate-spacing) give Psi_M sum_h e^{-2 kappa H u_h} <= Q P"))
    S, P, Q = (bound_symbol(i) for i in PREMISES)
    l0, l1, sg = sp.symbols("l0 l1 sigma", nonnegative=True)
    s = S * (1 - 2 * l0 / (1 + l0))                       # |s| <= S
    Sr = Q * P * (1 - 2 * l1 / (1 + l1)) / (1 + sg)       # |sum_h r_h| <= Psi sum x <= Q P
    err = g_abs * Delta * s + g_abs / H * Delta * Sr
    E = g_abs * Delta * (S + P * Q / H)
    entail = (
        at_least(E, err, g_abs * Delta * S * 2 * l0 / (1 + l0)
                 + g_abs * Delta / H * P * Q * (sg + 2 * l1 / (1 + l1)) / (1 + sg),
                 label="entailment: upper"),
        at_least(E, -err, g_abs * Delta * S * 2 / (1 + l0)
                 + g_abs * Delta / H * P * Q * (sg + 2 / (1 + l1)) / (1 + sg),
                 label="entailment: lower"))
    sub = {bound_symbol(i): exported_bound(premises[i]) for i in PREMISES}
    conclusion = equal(rate_bound_expr(), E.subs(sub), label="conclusion")
    links = (("T2.rate-head", exported_bound(premises["T2.rate-head"])),)
    return Obligation(
        "T2.rate", "for all n >= 2, H >= 1, kappa > 0, g and every real y, the T2 template "
        "(exact arithmetic) satisfies |N(y) - g Range_[a,b](y)| <= |g| (Delta/H) (1/2 + "
        "Psi_N(kappa)/(1 - e^{-kappa})), Delta = (b - a)/(n - 1), Psi_N(kappa) = "
        "sum_{m=1}^{N} m e^{-kappa m(m-1)} + U_{N+1}(e^{-kappa N}) (any N >= 1): the paper's "
        "O(1/(n H)) with an explicit constant (1.5576 at kappa = 3); the bound is the "
        "entailment's at the premises' exported bounds",
        Identity((decomposition,) + heads + entail + (conclusion,), premise_bounds=links),
        uses=PREMISES + ("T2.rate-head", "T2.sym-average", "T2.sym-score", "T2.sym-kappa"))


def rounding_obligation() -> Obligation:
    """T2.rate-rounding: the stored network is within the rounding terms of the template.

    Returns
    -------
    Obligation
        Identity, general: ``N^ - g R = sum_h omega (o^_h - o_h) + omega (sum_h o_h - H R)
        + (H omega - g) R`` (omega the stored W_O, o_h the ideal heads with the stored beta),
        and the three parts are bounded by ``omega sum_h rho_h`` (T1.rounding),
        ``omega Delta (1/2 + C(kappa_eff))`` (T2.rate with g = 1 times H, kappa_eff =
        beta^ Delta^2/H) and ``|H omega - g| max(|a|, |b|)`` (shown for omega >= 0; omega < 0
        swaps the sides).
    """
    hh = sp.Symbol("h", integer=True)
    om, Bt, Cc, Mm = sp.symbols("omega B C M", nonnegative=True)
    g, R = sp.symbols("g R", real=True)
    oh, o = sp.IndexedBase("oh", real=True), sp.IndexedBase("o", real=True)
    rh = sp.IndexedBase("rho", nonnegative=True)
    lh = sp.IndexedBase("l", nonnegative=True)
    mu, nu, nu2 = sp.symbols("mu nu nu2", nonnegative=True)
    dev = rh[hh] * (1 - 2 * lh[hh] / (1 + lh[hh]))  # o^_h - o_h, |.| <= rho_h
    mid = Bt * (1 - 2 * mu / (1 + mu))               # sum_h o_h - H R, |.| <= B
    cR = Cc * (1 - 2 * nu / (1 + nu)) * Mm * (1 - 2 * nu2 / (1 + nu2))
    facts = (
        equal(sp.Sum(om * (oh[hh] - o[hh]), (hh, 1, H)) + om * (sp.Sum(o[hh], (hh, 1, H)) - H * R)
              + (H * om - g) * R, sp.Sum(om * oh[hh], (hh, 1, H)) - g * R,
              label="N^ - g R = rounding + template error + coefficient error"),
        at_least(sp.Sum(om * rh[hh], (hh, 1, H)), sp.Sum(om * dev, (hh, 1, H)),
                 sp.Sum(om * rh[hh] * 2 * lh[hh] / (1 + lh[hh]), (hh, 1, H)), termwise=True,
                 label="rounding, upper"),
        at_least(sp.Sum(om * rh[hh], (hh, 1, H)), sp.Sum(-om * dev, (hh, 1, H)),
                 sp.Sum(om * rh[hh] * 2 / (1 + lh[hh]), (hh, 1, H)), termwise=True,
                 label="rounding, lower"),
        at_least(om * Bt, om * mid, om * Bt * 2 * mu / (1 + mu), label="template, upper"),
        at_least(om * Bt, -om * mid, om * Bt * 2 / (1 + mu), label="template, lower"),
        at_least(Cc * Mm, cR, 2 * Cc * Mm * (nu + nu2) / ((1 + nu) * (1 + nu2)),
                 label="coefficient, upper"),
        at_least(Cc * Mm, -cR, 2 * Cc * Mm * (1 + nu * nu2) / ((1 + nu) * (1 + nu2)),
                 label="coefficient, lower"),
    )
    return Obligation(
        "T2.rate-rounding", "for a stored network with output weight omega, |N^ - g Range| <= "
        "|omega| sum_h rho_h + |omega| Delta (1/2 + C(kappa_eff)) + |H omega - g| max(|a|, "
        "|b|), rho_h the rounding of head h (T1.rounding), kappa_eff = beta^ Delta^2/H: the "
        "bound of multi_head.rate_bound", Identity(facts),
        uses=("T2.rate", "T1.rounding"))


def rate_obligations() -> list[Obligation]:
    """The general obligations of the O(Delta/H) bound, premises first.

    Returns
    -------
    list of Obligation
        T2.rate-staircase, T2.rate-head, T2.rate-spacing, T2.rate-series, T2.rate,
        T2.rate-rounding (all identities, scope general).
    """
    prem = [staircase_obligation(), head_obligation(), spacing_obligation(),
            series_obligation()]
    by_id = {ob.id: ob for ob in prem}
    return prem + [rate_obligation(by_id), rounding_obligation()]
