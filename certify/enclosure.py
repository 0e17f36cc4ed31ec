"""Rigorous enclosures of the error of one output entry over a batch of y-boxes (engine).

For a token problem (:mod:`certify.reduction`) with heads h, key columns j, scores
``s_j(y) = A_j + B_j y`` and values ``V_j``, and a target ``f(y) = sum_h g_h Range_h(y)``,
the error is ``e(y) = sum_h (sum_j w_j^h(y) V_j^h - g_h Range_h(y))``.  For a batch of
boxes Y this module returns, per box, an upper bound of ``sup_{y in Y} |e(y)|`` and a lower
bound of ``|e(c)|`` at the box's float midpoint c.  Method (README, "Rigour model"):

1. Scores relative to a reference column r near the box (softmax is shift invariant):
   ``d_j(Y) = (A_j - A_r) + (B_j - B_r) Y``, exact ranges of linear functions.
2. Window and far columns.  Grid columns are sorted by centre ``m_j ~ B_j / (2 bh)``; with
   ``rho_j(y) = s_j(y) - bh (y^2 - (y - m_j)^2)`` (a tiny residual, bounded once over the
   token's y-range) a column at distance ``D + i*dmin`` beyond the window satisfies
   ``s_j - s_r <= c0 - bh (D + i dmin)^2`` (Lemma S), so the whole far tail is bounded by
   ``exp(c0 - bh D^2) min(count, 1 / (1 - exp(-2 bh D dmin)))``: O(1) per box.
   Columns with ``B_j = 0`` (constant scores) merge into one pseudo-column.
3. Per-weight bounds ``w_i in [e^{lo_i} / (e^{lo_i} + sum_{j != i} e^{hi_j}), ...]``.
4. ``max sum_i w_i g_i`` over weights in their boxes summing to 1 is bounded through LP
   duality: for every lambda, ``<= lambda + sum_i max(lo_i (g_i - lambda), hi_i (g_i -
   lambda))``; lambda is taken from a float sort-and-fill, so the bound is the exact LP
   optimum up to rounding, and it is rigorous whatever lambda is.
5. Mean-value forms: centred ``e(Y) in e(c) + e'(Y) (Y - c)`` and bicentred (from both
   end points, exact hull when ``e'`` has one sign on Y; see :func:`bicentered`) with
   ``e' = sum_h Cov_{w^h}(B, V) - g_h Range_h'`` and ``Cov_w(B, V) = sum w (B-b0)(V-v0) -
   (sum w (B-b0)) (sum w (V-v0))``, each sum bounded as in 4; it is intersected with the
   zeroth-order enclosure ``sum_h LP_h(V) - g_h Range_h(Y)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from certify import intervals as iv
from certify.reduction import HeadProblem

#: Far columns are aggregated once their scores sit this far below the reference.
TAIL_EXPONENT = 50.0


@dataclass
class Term:
    """Target term ``g Range_[a,b](y)`` with ``g`` enclosed in ``[g_lo, g_hi]``."""

    g_lo: float
    g_hi: float
    a: float
    b: float


@dataclass
class PreparedHead:
    m: np.ndarray
    A: tuple[np.ndarray, np.ndarray]
    B: tuple[np.ndarray, np.ndarray]
    V: tuple[np.ndarray, np.ndarray]
    bh: float  # curvature used by the far-tail bound (0: no aggregation)
    dmin: float
    rho_lo: np.ndarray
    rho_hi_prefix: np.ndarray  # max rho_hi over columns [0, J)
    rho_hi_suffix: np.ndarray  # max rho_hi over columns [J, nG)
    W: int  # window size
    K: int
    const: tuple | None  # (amax, mass_lo, mass_hi, V_lo, V_hi): mass * exp(amax)
    Bmin: float
    Bmax: float
    Vmin: float
    Vmax: float
    term: Term


def _curvature(A: np.ndarray, B: np.ndarray) -> float:
    """Heuristic curvature ``bh``: least-squares fit of ``A_j ~ -B_j^2 / (4 bh)``; 0 if none.

    ``bh = s^2 sum u^4 / (-4 sum A u^2)`` with ``u = B / s`` and ``s = max |B|``: the same
    fit as ``sum B^4 / (-4 sum A B^2)`` without overflowing for ``|B| > 1e77``.  Only the
    far-tail aggregation uses it, and any value is sound (0 switches it off).
    """
    with np.errstate(all="ignore"):
        denom = float(np.sum(B ** 4))
        if 0 < denom < np.inf:  # the plain fit where it does not overflow
            inv4 = -float(np.sum(A * B ** 2)) / denom
            bh = 1.0 / (4.0 * inv4) if 0 < inv4 < np.inf else 0.0
            return bh if bh < np.inf else 0.0
        s = float(np.max(np.abs(B))) if len(B) else 0.0
        if not 0 < s < np.inf:
            return 0.0
        u = B / s
        den = float(np.sum(u ** 4))
        num = -float(np.sum(A * u ** 2))
        if not (0 < num < np.inf and 0 < den < np.inf):
            return 0.0
        bh = s * (s * den) / (4.0 * num)
    return bh if 0 < bh < np.inf else 0.0


def prepare_head(hp: HeadProblem, term: Term, Ylo: float, Yhi: float) -> PreparedHead:
    """Sort grid columns by centre and precompute what the far-tail bound needs."""
    Alo, Ahi, Blo, Bhi, Vlo, Vhi = hp.A_lo, hp.A_hi, hp.B_lo, hp.B_hi, hp.V_lo, hp.V_hi
    nG = len(Alo)
    with np.errstate(over="ignore", invalid="ignore"):
        Bmid, Amid = (Blo + Bhi) / 2, (Alo + Ahi) / 2
        # Beyond half the float range the sum overflows; the halves do not.
        Bmid = np.where(np.isfinite(Bmid), Bmid, Blo / 2 + Bhi / 2)
        Amid = np.where(np.isfinite(Amid), Amid, Alo / 2 + Ahi / 2)
    bh = _curvature(Amid, Bmid) if nG >= 2 else 0.0
    m = Bmid / (2 * bh) if bh > 0 else Bmid.copy()
    if not np.all(np.isfinite(m)):
        m, bh = Bmid.copy(), 0.0
    order = np.argsort(m, kind="stable")
    m = m[order]
    Alo, Ahi, Blo, Bhi, Vlo, Vhi = (x[order] for x in (Alo, Ahi, Blo, Bhi, Vlo, Vhi))
    dmin, rho_lo, pre, suf = 0.0, np.zeros(nG), np.zeros(nG + 1), np.zeros(nG + 1)
    K = nG
    if bh > 0 and nG >= 2:
        gaps = iv.down(np.diff(m))
        dmin = float(gaps.min())
        if dmin > 0:
            # rho_j(y) = A_j + bh m_j^2 + (B_j - 2 bh m_j) y, over y in [Ylo, Yhi]
            bm2 = iv.mul(np.full(nG, bh), np.full(nG, bh), *iv.sqr(m, m))
            c0 = iv.add(Alo, Ahi, *bm2)
            two_bm = iv.mul(np.full(nG, 2 * bh), np.full(nG, 2 * bh), m, m)
            slope = iv.sub(Blo, Bhi, *two_bm)
            rho = iv.add(*c0, *iv.mul(*slope, np.full(nG, Ylo), np.full(nG, Yhi)))
            rho_lo = rho[0]
            pre = np.concatenate([[-np.inf], np.maximum.accumulate(rho[1])])
            suf = np.concatenate([np.maximum.accumulate(rho[1][::-1])[::-1], [-np.inf]])
            spread = float(rho[1].max() - rho[0].min())
            curv = bh * dmin * dmin  # may underflow to 0 or overflow to inf
            if np.isfinite(spread) and spread < 5.0 and 0 < curv < np.inf:
                k = math.sqrt((TAIL_EXPONENT + spread) / curv + 2.25)
                if k < nG:
                    K = math.ceil(k) + 1
    if K >= nG or dmin <= 0:
        K, bh = nG, 0.0
    W = min(2 * K + 1, nG)
    const = None
    if len(hp.const_A_lo):
        # The constant-score columns merge exactly: their total mass is
        # exp(amax) * sum_c exp(A_c - amax), a constant enclosed once here.
        amax = float(hp.const_A_hi.max())
        m_lo = float(iv.sum_down(iv.exp_down(iv.down(hp.const_A_lo - amax)), axis=0))
        m_hi = float(iv.sum_up(iv.exp_up(iv.up(hp.const_A_hi - amax)), axis=0))
        const = (amax, m_lo, m_hi, float(hp.const_V_lo.min()), float(hp.const_V_hi.max()))
    return PreparedHead(m, (Alo, Ahi), (Blo, Bhi), (Vlo, Vhi), bh, dmin, rho_lo, pre, suf,
                        W, K, const, float(Blo.min()) if nG else 0.0,
                        float(Bhi.max()) if nG else 0.0, float(Vlo.min()) if nG else 0.0,
                        float(Vhi.max()) if nG else 0.0, term)


# -- linear programme over the weight boxes ---------------------------------------------

def lp_max(wlo: np.ndarray, whi: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Upper bound of ``max sum_i w_i g_i`` over ``w_i in [wlo_i, whi_i]``, ``sum w = 1``.

    Rows are boxes, columns are weights.  The dual bound holds for any lambda; lambda is
    the value at which a greedy fill (largest g first) uses up the free mass.
    """
    order = np.argsort(-g, axis=1, kind="stable")
    gs = np.take_along_axis(g, order, 1)
    free = np.take_along_axis(whi - wlo, order, 1)
    need = 1.0 - wlo.sum(axis=1, keepdims=True)
    k = np.minimum(np.sum(np.cumsum(free, axis=1) < need, axis=1), g.shape[1] - 1)
    lam = np.take_along_axis(gs, k[:, None], 1)
    t = iv.up(g - lam)
    with np.errstate(invalid="ignore"):
        term = np.where(t >= 0, iv.up(whi * t), iv.up(wlo * t))
    term = np.where(np.isnan(term), 0.0, term)
    return iv.up(lam[:, 0] + iv.sum_up_fast(term, axis=1))


def lp_range(wlo, whi, glo, ghi):
    return -lp_max(wlo, whi, -glo), lp_max(wlo, whi, ghi)


# -- one head over a batch of boxes ------------------------------------------------------

def _weights(ph: PreparedHead, ylo: np.ndarray, yhi: np.ndarray):
    """Weight boxes and column data for boxes ``[ylo, yhi]`` (arrays of length N)."""
    N = len(ylo)
    m = ph.m
    nG = len(m)
    mid = (ylo + yhi) / 2
    r = np.clip(np.searchsorted(m, mid), 0, nG - 1)
    left = np.clip(r - 1, 0, nG - 1)
    r = np.where(np.abs(m[left] - mid) < np.abs(m[r] - mid), left, r)
    s = np.clip(r - ph.K, 0, nG - ph.W)
    idx = s[:, None] + np.arange(ph.W)[None, :]
    Alo, Ahi = ph.A[0][idx], ph.A[1][idx]
    Blo, Bhi = ph.B[0][idx], ph.B[1][idx]
    Ar = (ph.A[0][r][:, None], ph.A[1][r][:, None])
    Br = (ph.B[0][r][:, None], ph.B[1][r][:, None])
    Y = (ylo[:, None], yhi[:, None])
    dlo, dhi = iv.add(*iv.sub(Alo, Ahi, *Ar), *iv.mul(*iv.sub(Blo, Bhi, *Br), *Y))
    Elo, Ehi = iv.exp_down(dlo), iv.exp_up(dhi)
    parts_lo, parts_hi = [Elo], [Ehi]
    if ph.const is not None:
        amax, m_lo, m_hi = ph.const[:3]
        sr = iv.add(*Ar, *iv.mul(*Br, *Y))
        dc = iv.sub(np.full((N, 1), amax), np.full((N, 1), amax), *sr)
        parts_lo.append(iv.down(m_lo * iv.exp_down(dc[0])))
        parts_hi.append(iv.up(m_hi * iv.exp_up(dc[1])))
    T = _far_tail(ph, ylo, yhi, r, s)
    has_far = T is not None
    if has_far:
        parts_hi.append(T[:, None])
    Plo, Phi = np.concatenate(parts_lo, 1), np.concatenate(parts_hi, 1)
    Slo, Shi = iv.sum_down(Plo, axis=1)[:, None], iv.sum_up(Phi, axis=1)[:, None]
    nlo = Plo.shape[1]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        others_hi = iv.up(Shi - Phi[:, :nlo])
        others_lo = np.maximum(iv.down(Slo - Plo), 0.0)
        wlo = iv.down(Plo / iv.up(Plo + others_hi))
        whi = iv.up(Phi[:, :nlo] / iv.down(Phi[:, :nlo] + others_lo))
    wlo = np.clip(np.where(np.isnan(wlo), 0.0, wlo), 0.0, 1.0)
    whi = np.clip(np.where(np.isnan(whi), 1.0, whi), 0.0, 1.0)
    Vlo, Vhi = ph.V[0][idx], ph.V[1][idx]
    gB_lo, gB_hi, gV_lo, gV_hi = [Blo], [Bhi], [Vlo], [Vhi]
    if ph.const is not None:
        gB_lo.append(np.zeros((N, 1)))
        gB_hi.append(np.zeros((N, 1)))
        gV_lo.append(np.full((N, 1), ph.const[3]))
        gV_hi.append(np.full((N, 1), ph.const[4]))
    if has_far:
        with np.errstate(invalid="ignore", divide="ignore"):
            wf = iv.up(T / iv.down(T + Slo[:, 0]))
        wf = np.clip(np.where(np.isnan(wf), 1.0, wf), 0.0, 1.0)
        wlo = np.concatenate([wlo, np.zeros((N, 1))], 1)
        whi = np.concatenate([whi, wf[:, None]], 1)
        gB_lo.append(np.full((N, 1), ph.Bmin))
        gB_hi.append(np.full((N, 1), ph.Bmax))
        gV_lo.append(np.full((N, 1), ph.Vmin))
        gV_hi.append(np.full((N, 1), ph.Vmax))
    cat = lambda xs: np.concatenate(xs, 1)  # noqa: E731
    return wlo, whi, (cat(gB_lo), cat(gB_hi)), (cat(gV_lo), cat(gV_hi)), r


def _far_tail(ph: PreparedHead, ylo, yhi, r, s):
    """Upper bound of the summed ``exp(s_j - s_r)`` over columns outside the window."""
    nG = len(ph.m)
    if ph.W >= nG:
        return None
    N = len(ylo)
    bh = np.full(N, ph.bh)
    dmin = np.full(N, ph.dmin)
    mr = ph.m[r]
    dist2 = iv.sqr(*iv.sub(ylo, yhi, mr, mr))[1]
    base = iv.up(iv.mul(bh, bh, dist2, dist2)[1])
    total = np.zeros(N)
    for side in ("right", "left"):
        if side == "right":
            J = s + ph.W
            ok = J < nG
            Jc = np.minimum(J, nG - 1)
            D = iv.down(ph.m[Jc] - yhi)
            rho_far = ph.rho_hi_suffix[np.minimum(J, nG)]
            count = nG - J
        else:
            ok = s > 0
            Jc = np.maximum(s - 1, 0)
            D = iv.down(ylo - ph.m[Jc])
            rho_far = ph.rho_hi_prefix[s]
            count = s
        c0 = iv.up(base + iv.up(rho_far - ph.rho_lo[r]))
        D = np.maximum(D, 0.0)
        bD2 = iv.mul(bh, bh, *iv.sqr(D, D))[0]
        e1 = iv.exp_up(iv.up(c0 - bD2))
        q = iv.exp_up(-iv.mul(2 * bh, 2 * bh, *iv.mul(D, D, dmin, dmin))[0])
        with np.errstate(divide="ignore"):
            geo = np.where(q < 1, iv.up(1.0 / iv.down(1.0 - q)), np.inf)
        t = iv.up(e1 * np.minimum(count.astype(float), geo))
        t = np.where(D > 0, t, np.inf)
        total = np.where(ok, iv.up(total + t), total)
    return total


def head_enclosures(ph: PreparedHead, ylo, yhi, points):
    """Per box: output enclosure over Y, output enclosures at ``points`` (k, N), Cov_w(B, V)."""
    wlo, whi, Bg, Vg, r = _weights(ph, ylo, yhi)
    O = lp_range(wlo, whi, *Vg)
    k, N = points.shape
    flat = points.ravel()
    pwlo, pwhi, _, pV, _ = _weights(ph, flat, flat)
    plo, phi = lp_range(pwlo, pwhi, *pV)
    b0 = (ph.B[0][r] + ph.B[1][r])[:, None] / 2
    v0 = (ph.V[0][r] + ph.V[1][r])[:, None] / 2
    g2 = iv.sub(*Bg, b0, b0)
    g3 = iv.sub(*Vg, v0, v0)
    g1 = iv.mul(*g2, *g3)
    S1, S2, S3 = (lp_range(wlo, whi, *g) for g in (g1, g2, g3))
    cov = iv.sub(*S1, *iv.mul(*S2, *S3))
    return O, (plo.reshape(k, N), phi.reshape(k, N)), cov


def _range(y, a, b):
    return np.minimum(np.maximum(y, a), b)


def _div_pos(nlo, nhi, dlo, dhi):
    """Enclosure of n / d for intervals n and d with d > 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.stack([nlo / dlo, nlo / dhi, nhi / dlo, nhi / dhi])
    return iv.down(q.min(axis=0)), iv.up(q.max(axis=0))


def bicentered(El, Er, D, w):
    """Enclosure of e over [y0, y0 + w] from e(y0) in El, e(y0 + w) in Er, e' in D.

    Monotone boxes (D >= 0 or D <= 0) give the hull of the end values.  Otherwise e lies
    below both lines ``El.hi + D.hi (y - y0)`` and ``Er.hi + |D.lo| (y0 + w - y)``, whose
    minimum peaks where they cross, at ``(El.hi |D.lo| + Er.hi D.hi + D.hi |D.lo| w) /
    (D.hi + |D.lo|)``; the mirror argument gives the lower end.  Both formulas bound the
    extremum over the whole real line, hence over the box.
    """
    (l_lo, l_hi), (r_lo, r_hi), (d_lo, d_hi) = El, Er, D
    w_lo, w_hi = w
    N = len(l_lo)
    inc, dec = d_lo >= 0, d_hi <= 0
    a = np.maximum(-d_lo, 0.0)  # |D.lo| where D.lo < 0
    b = np.maximum(d_hi, 0.0)
    den = iv.add(a, a, b, b)
    ab_w = iv.mul(*iv.mul(a, a, b, b), w_lo, w_hi)
    num_hi = iv.add(*iv.add(*iv.mul(l_hi, l_hi, a, a), *iv.mul(r_hi, r_hi, b, b)), *ab_w)
    num_lo = iv.sub(*iv.add(*iv.mul(l_lo, l_lo, b, b), *iv.mul(r_lo, r_lo, a, a)), *ab_w)
    hi = _div_pos(*num_hi, *den)[1]
    lo = _div_pos(*num_lo, *den)[0]
    hi = np.where(inc, r_hi, np.where(dec, l_hi, hi))
    lo = np.where(inc, l_lo, np.where(dec, r_lo, lo))
    bad = ~np.isfinite(hi) | ~np.isfinite(lo)
    return np.where(bad, -np.inf, lo) + np.zeros(N), np.where(bad, np.inf, hi) + np.zeros(N)


def error_bounds(heads: list[PreparedHead], ylo: np.ndarray, yhi: np.ndarray,
                 with_enclosure: bool = False):
    """Per box: (upper bound of sup |e| over [ylo, yhi], lower bound of |e(c)|, c).

    With ``with_enclosure``, also the enclosure ``(lo, hi)`` of ``e`` over the whole box.
    """
    c = (ylo + yhi) / 2
    c = np.clip(c, ylo, yhi)
    N = len(ylo)
    pts = np.stack([c, ylo, yhi])
    z = np.zeros(N)
    zp = np.zeros((3, N))
    e0, ep, de = (z, z), (zp, zp), (z, z)
    for ph in heads:
        O, Op, cov = head_enclosures(ph, ylo, yhi, pts)
        t = ph.term
        g = (np.full(N, t.g_lo), np.full(N, t.g_hi))
        fY = iv.mul(*g, _range(ylo, t.a, t.b), _range(yhi, t.a, t.b))
        rp = _range(pts, t.a, t.b)
        fp = iv.mul(np.full((3, N), t.g_lo), np.full((3, N), t.g_hi), rp, rp)
        inside = (ylo > t.a) & (yhi < t.b)
        touches = (yhi >= t.a) & (ylo <= t.b) & ~inside
        dlo = np.where(inside, 1.0, 0.0)
        dhi = np.where(inside | touches, 1.0, 0.0)
        df = iv.mul(*g, dlo, dhi)
        e0 = iv.add(*e0, *iv.sub(*O, *fY))
        ep = iv.add(*ep, *iv.sub(*Op, *fp))
        de = iv.add(*de, *iv.sub(*cov, *df))
    ec = (ep[0][0], ep[1][0])
    dy = (iv.down(ylo - c), iv.up(yhi - c))
    mv = iv.add(*ec, *iv.mul(*de, *dy))
    w = (iv.down(yhi - ylo), iv.up(yhi - ylo))
    bc = bicentered((ep[0][1], ep[1][1]), (ep[0][2], ep[1][2]), de, w)
    lo = np.maximum(np.maximum(e0[0], mv[0]), bc[0])
    hi = np.minimum(np.minimum(e0[1], mv[1]), bc[1])
    upper = np.maximum(np.maximum(-lo, hi), 0.0)
    upper = np.where(np.isnan(upper), np.inf, upper)
    lower = np.maximum(np.maximum(ec[0], -ec[1]), 0.0)
    if with_enclosure:
        return upper, lower, c, (lo, hi)
    return upper, lower, c
