"""Rigorous bounds on the error of one output entry over a box of its latent scalar.

Setting (:mod:`certify.check.model`).  An output entry is ``o(y) = sum_h o_h(y)`` with
``o_h(y) = sum_j w^h_j(y) V^h_j``, ``w^h(y) = softmax(A^h + B^h y)``; the target is
``f(y) = sum_h g_h R_h(y)`` with ``R_h = Range_[a_h, b_h]`` and the rational ``g_h``.  The
error is ``e(y) = sum_h e_h(y)``, ``e_h(y) = o_h(y) - g_h R_h(y)``.  All of ``A_j, B_j, V_j``
are exact rationals.  For a box ``Y = [y0, y1]`` :func:`box_bound` returns a backend number
whose supremum bounds ``sup_{y in Y} |e(y)|``.

Proof discipline.  Every *choice* below (curvature ``bh``, centres ``m_j``, reference
column ``r``, window, shifts ``b0, v0``, LP multipliers ``lambda``) is an exact float picked
by a heuristic; no bound depends on how it was picked.  Every *bound* is an exact real
formula in the exact data and those choices, proved valid in the docstring that uses it,
and evaluated with inclusion-isotone backend arithmetic (:mod:`certify.check.backends`),
so the backend result contains the formula's value.  Exact rational precomputation
(``Fraction``) is used where cancellation would otherwise cost precision.

Method (the engine's, re-derived; docs/mathematics.md, section 2 and the README's rigour model):

1. Shift.  Softmax is shift invariant: ``w_j = E_j / sum_k E_k`` with ``E_j = exp(s_j - s_r)``
   for any reference column r.  Columns with ``B_j = 0`` exactly (constant scores) form
   one *constant group* C; the others (the *grid*) are sorted by centre ``m_j``.
2. Window and Lemma S (:func:`tail`).  Grid columns outside a window of ``W`` columns
   around r contribute at most a geometric tail bound ``T``, so the cost per box does
   not grow with the number of columns.
3. Per-weight bounds (:func:`weights`) from the bounds on each ``E_j`` over the box.
4. LP duality (:func:`lp_upper`, :func:`lp_lower`) bounds ``sum_j w_j g_j`` over all weight
   vectors in their boxes with ``sum w = 1``.
5. Derivative forms (:func:`box_bound`): with ``e' = sum_h Cov_{w^h}(B, V) - g_h R_h'``
   enclosed over the box, the bicentred form (:func:`bicentred`, from ``e`` at both ends)
   and the centred form ``e(Y) in e(c) + e'(Y) (Y - c)``, intersected with the
   zeroth-order enclosure ``sum_h LP_h(V) - g_h R_h(Y)``.

The checker's choices need not be the engine's; they are at least as tight where it
matters: exact box ends and midpoint instead of outward-rounded floats, a window at least
as wide, a far-tail bound that keeps the correlation between ``(y - m_r)^2`` and
``(y - m_j)^2``, exact rationals for score differences, and Arb at 80 bits, raised to
160, 320 and 640 bits for a box that misses the claim at 80 (:func:`box_bound`).
"""

from __future__ import annotations

import bisect
import contextlib
import math
import sys
from collections.abc import Hashable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from certify.check.backends import float_down, float_up

#: Window size is chosen so that the far tail is below ``exp(-TAIL)`` for narrow boxes.
TAIL = 60.0
#: Box endpoints ``t = i / 2^depth`` are formed as floats while this is exact.
_EXACT_DEPTH = 960

Pair = tuple[Any, Any]  # (lo, hi): the set lies in [inf lo, sup hi]


# -- pair (interval) helpers -------------------------------------------------------------

def pmul(bk: Any, x: Pair, y: Pair) -> Pair:
    """Enclosure of ``{u v : u in x, v in y}`` for pairs ``x``, ``y``.

    The product of two real intervals lies between the least and the largest of the four
    products of their ends; ``min``/``max`` are inclusion isotone, so the result is a pair.
    """
    p = (x[0] * y[0], x[0] * y[1], x[1] * y[0], x[1] * y[1])
    mn, mx = bk.min(p[0], p[1]), bk.max(p[0], p[1])
    return bk.min(mn, bk.min(p[2], p[3])), bk.max(mx, bk.max(p[2], p[3]))


def scale(g: Fraction, gb: Any, x: Pair) -> Pair:
    """``{g u : u in x}`` for an exact ``g`` enclosed by ``gb``; the sign of g is exact."""
    return (gb * x[0], gb * x[1]) if g >= 0 else (gb * x[1], gb * x[0])


# -- heuristic choices ----------------------------------------------------------------------

def _approx(q: Fraction) -> float:
    """A finite float near ``q`` (clipped to the binary64 range), for heuristic choices.

    Used for shifts, centres and lambda, whose values no bound depends on (each is taken as
    the exact rational it is); ``float(q)`` would raise beyond the binary64 range.
    """
    try:
        return float(q)
    except OverflowError:
        return math.copysign(sys.float_info.max, q)


def _curvature(A: list[float], B: list[float]) -> float:
    """Heuristic curvature ``bh``: least-squares fit of ``A_j ~ -B_j^2 / (4 bh)``; 0 if none.

    ``bh = sum B^4 / (-4 sum A B^2)``, evaluated with ``B`` scaled by its largest magnitude
    ``s`` (``B^4`` overflows binary64 for ``|B| > 1e77``): ``bh = s^2 sum u^4 / (-4 sum A
    u^2)`` with ``u = B / s``.  Anything not finite and positive gives 0 (no aggregation,
    always sound).
    """
    if len(B) < 2:
        return 0.0
    A, B = [float(x) for x in A], [float(x) for x in B]  # Python floats: ** raises, not warns
    try:  # the plain fit where it does not overflow
        den = sum(x ** 4 for x in B)
        if 0 < den < math.inf:
            inv4 = -sum(a * x * x for a, x in zip(A, B)) / den
            bh = 1.0 / (4.0 * inv4) if 0 < inv4 < math.inf else 0.0
            return bh if bh < math.inf else 0.0
    except OverflowError:
        pass
    s = max(abs(x) for x in B)
    if not 0 < s < math.inf:
        return 0.0
    u = [x / s for x in B]
    den = sum(x * x * x * x for x in u)
    num = -sum(a * x * x for a, x in zip(A, u))
    if not (0 < num < math.inf and 0 < den < math.inf):
        return 0.0
    bh = s * (s * den) / (4.0 * num)
    return bh if 0 < bh < math.inf else 0.0


# -- per head: everything that does not depend on the box --------------------------------

@dataclass
class Ref:
    """Data of one reference column r (cached; a box only selects its r)."""

    r: int
    m_r: float
    v0: float
    win: range
    dA: list[Any]  # dA'_j = A_j - A_r + (B_j - B_r) m_r, so s_j - s_r = dA'_j + dB_j (y - m_r)
    dB: list[Any]
    dB_sign: list[int]
    g: dict[str, list[tuple[Any, Any]]]  # LP values per item: 'V' (V - v0), 'B' (B - b0), 'BV'
    gf: dict[str, list[tuple[float, float]]]  # float mids of the above, for lambda
    order: dict[str, tuple[list[int], list[int]]]  # items by g_hi descending, g_lo ascending
    cA: Any  # const group: E_C(y) = Csum exp(cA - B_r (y - m_r)), cA = Aref - A_r - B_r m_r
    B_r: Any
    B_r_sign: int
    CgV: Any  # sum_{j in C} exp(A_j - Aref) (V_j - v0)
    # Far columns beyond the window's right (left) end: (count, m_J, bh (m_J - m_r),
    # m_J + m_r, max rho_hi over them, rho_lo[r]) with J the first (last) far column.
    right: tuple | None
    left: tuple | None


class PreparedHead:
    """One head of one output entry, prepared for boxes inside ``[y_lo, y_hi]``.

    Grid columns are sorted by the float centre ``m_j = B_j / (2 bh)``; with the exact
    residual ``rho_j(y) = A_j + bh m_j^2 + (B_j - 2 bh m_j) y`` every score reads
    ``s_j(y) = bh (y^2 - (y - m_j)^2) + rho_j(y)`` (an identity, whatever ``bh`` and ``m_j``).
    ``rho_lo[j] <= rho_j(y) <= rho_hi[j]`` for all y in ``[y_lo, y_hi]`` (a linear function
    attains its extremes at the ends); ``pre[J] = max_{j<J} rho_hi[j]``,
    ``suf[J] = max_{j>=J} rho_hi[j]``; ``dmin <= m_{j+1} - m_j`` for all j (exact lower
    bounds).  ``W`` columns around r are treated explicitly; ``W = n_grid`` disables the
    far-tail aggregation.
    """

    def __init__(self, bk: Any, A: list[Fraction], B: list[Fraction], V: list[Fraction],
                 g: Fraction, a: float, b: float, y_lo: float, y_hi: float,
                 aggregate: bool) -> None:
        self.bk, self.g, self.a, self.b = bk, g, a, b
        self.y_lo, self.y_hi = y_lo, y_hi
        self._args = (A, B, V, g, a, b, y_lo, y_hi, aggregate)
        self._finer: dict[int, PreparedHead] = {}
        self.gb, self.an, self.bn = bk.rational(g), bk.num(a), bk.num(b)
        grid = [j for j in range(len(B)) if B[j] != 0]
        const = [j for j in range(len(B)) if B[j] == 0]
        bf = [_approx(B[j]) for j in grid]
        bh = _curvature([_approx(A[j]) for j in grid], bf)
        cen = [x / (2.0 * bh) for x in bf] if bh > 0 else bf
        if not all(math.isfinite(x) for x in cen):
            cen, bh = bf, 0.0
        order = sorted(range(len(grid)), key=lambda k: cen[k])
        if bh == 0:
            # Without a curvature the centres only order the columns (by B) and shift the
            # scores, s_j - s_r = dA'_j + dB_j (y - m_r) for any m_r.  A shift inside
            # [y_lo, y_hi] keeps dB_j (y - m_r) no larger than the scores' own variation;
            # B itself (the scale of 1/y) would cancel away every digit at small scales.
            mid = 0.5 * y_lo + 0.5 * y_hi
            cen = [mid if math.isfinite(mid) else 0.0] * len(grid)
        self.A = [A[grid[k]] for k in order]
        self.B = [B[grid[k]] for k in order]
        self.V = [V[grid[k]] for k in order]
        self.m = [cen[k] for k in order]
        nG = self.nG = len(grid)
        self.bh = bh
        Fm = [Fraction(x) for x in self.m]
        self.dmin = min((float_down(Fm[j + 1] - Fm[j]) for j in range(nG - 1)), default=0.0)
        self.rho_lo = [0.0] * nG
        self.pre = [-math.inf] * (nG + 1)
        self.suf = [-math.inf] * (nG + 1)
        W = nG
        if aggregate and bh > 0 and self.dmin > 0:
            Fbh, ylo, yhi = Fraction(bh), Fraction(y_lo), Fraction(y_hi)
            rho_hi = []
            for j in range(nG):
                r0 = self.A[j] + Fbh * Fm[j] * Fm[j]
                sl = self.B[j] - 2 * Fbh * Fm[j]
                e0, e1 = r0 + sl * ylo, r0 + sl * yhi
                self.rho_lo[j] = float_down(min(e0, e1))
                rho_hi.append(float_up(max(e0, e1)))
            for j in range(nG):
                self.pre[j + 1] = max(self.pre[j], rho_hi[j])
            for j in range(nG - 1, -1, -1):
                self.suf[j] = max(self.suf[j + 1], rho_hi[j])
            spread = max(rho_hi) - min(self.rho_lo)
            curv = bh * self.dmin * self.dmin  # may underflow to 0 or overflow to inf
            if spread <= TAIL and 0 < curv < math.inf:
                k = math.sqrt((TAIL + spread) / curv + 2.25)
                if k < nG:
                    W = min(2 * (math.ceil(k) + 1) + 1, nG)
        self.K, self.W = (W - 1) // 2, W
        self.two_bh_dmin = bk.num(2.0) * bk.num(bh) * bk.num(self.dmin)
        # Constant group: sum_{j in C} exp(A_j - Aref) (times V_j), exact inputs.
        self.has_const = bool(const)
        Aref = max((_approx(A[j]) for j in const), default=0.0)
        self.Aref = Fraction(Aref)
        self.Csum = self.CsumV = bk.num(0)
        for j in const:
            ej = bk.exp(bk.rational(A[j] - self.Aref))
            self.Csum = self.Csum + ej
            self.CsumV = self.CsumV + ej * bk.rational(V[j])
        allV = self.V + [V[j] for j in const]
        self.cV = (min((V[j] for j in const), default=Fraction(0)),
                   max((V[j] for j in const), default=Fraction(0)))
        self.gridV = (min(self.V, default=Fraction(0)), max(self.V, default=Fraction(0)))
        self.gridB = (min(self.B, default=Fraction(0)), max(self.B, default=Fraction(0)))
        self.Vspan = bk.num(float_up(max(allV) - min(allV)))
        self._cache: Ref | None = None
        self._points: dict[tuple[int, Hashable], Point] = {}

    def at_precision(self, bits: int) -> PreparedHead:
        """The same head prepared at ``bits`` of working precision (call inside
        :func:`_working_precision`; cached)."""
        if bits not in self._finer:
            self._finer[bits] = PreparedHead(self.bk, *self._args)
        return self._finer[bits]

    def nearest(self, y: float) -> int:
        """Index of the grid centre nearest to ``y`` (ties to the right); a heuristic choice."""
        r = min(bisect.bisect_left(self.m, y), self.nG - 1)
        if r > 0 and abs(self.m[r - 1] - y) < abs(self.m[r] - y):
            r -= 1
        return r

    def ref(self, r: int) -> Ref:
        """The reference data of column r (computed once for consecutive boxes)."""
        if self._cache is None or self._cache.r != r:
            self._cache = self._make_ref(r)
        return self._cache

    def point(self, rf: Ref, y: Any, key: Hashable | None) -> Point:
        """:func:`at_point` data; cached under ``key``, the exact identity of the point y."""
        if key is None:
            return at_point(self.bk, self, rf, y)
        pt = self._points.get((rf.r, key))
        if pt is None:
            if len(self._points) >= 8:
                self._points.clear()
            pt = self._points[(rf.r, key)] = at_point(self.bk, self, rf, y)
        return pt

    def _make_ref(self, r: int) -> Ref:
        """Exact per-reference data; only rationals enclosed once, no bound is formed here.

        Window: ``W`` consecutive sorted grid columns containing r.  Shifts ``b0 = B_r``,
        ``v0 = V_r`` rounded to floats.  LP items and their value ranges, for the keys
        'V' (``V - v0``), 'B' (``B - b0``), 'BV' (``(B - b0)(V - v0)``): each window column
        (a point), the constant group (``B = 0``, V in its range), the far columns (B and V in
        the grid's ranges; the product's range is the hull of the four end products).
        """
        bk, nG, W = self.bk, self.nG, self.W
        s = min(max(r - self.K, 0), nG - W)
        win = range(s, s + W)
        Ar, Br, mr = self.A[r], self.B[r], self.m[r]
        Fmr = Fraction(mr)
        b0, v0 = _approx(Br), _approx(self.V[r])
        Fb0, Fv0 = Fraction(b0), Fraction(v0)
        dA, dB, sign = [], [], []
        gV, gB, gBV = [], [], []
        for j in win:
            db = self.B[j] - Br
            dA.append(bk.rational(self.A[j] - Ar + db * Fmr))
            dB.append(bk.rational(db))
            sign.append((db > 0) - (db < 0))
            xv, xb = self.V[j] - Fv0, self.B[j] - Fb0
            gV.append((xv, xv))
            gB.append((xb, xb))
            gBV.append((xb * xv, xb * xv))
        # Pseudo-items: the constant group (B = 0, V in cV), then the far columns.
        groups = []
        if self.has_const:
            groups.append(((-Fb0, -Fb0), (self.cV[0] - Fv0, self.cV[1] - Fv0)))
        right = left = None
        Fbh = Fraction(self.bh)
        if s + W < nG:
            FmJ = Fraction(self.m[s + W])
            right = (nG - s - W, self.m[s + W], bk.rational(Fbh * (FmJ - Fmr)),
                     bk.rational(FmJ + Fmr), bk.num(self.suf[s + W]), bk.num(self.rho_lo[r]))
        if s > 0:
            FmL = Fraction(self.m[s - 1])
            left = (s, self.m[s - 1], bk.rational(Fbh * (FmL - Fmr)),
                    bk.rational(FmL + Fmr), bk.num(self.pre[s]), bk.num(self.rho_lo[r]))
        if right or left:
            groups.append(((self.gridB[0] - Fb0, self.gridB[1] - Fb0),
                           (self.gridV[0] - Fv0, self.gridV[1] - Fv0)))
        for xb, xv in groups:
            prods = [p * q for p in xb for q in xv]
            gV.append(xv)
            gB.append(xb)
            gBV.append((min(prods), max(prods)))
        g, gf, order = {}, {}, {}
        for key, vals in (("V", gV), ("B", gB), ("BV", gBV)):
            g[key] = [(x, x) if lo == hi else (x, bk.rational(hi))
                      for lo, hi in vals for x in (bk.rational(lo),)]
            gf[key] = [(_approx(lo), _approx(hi)) for lo, hi in vals]
            idx = range(len(vals))
            order[key] = (sorted(idx, key=lambda i: -gf[key][i][1]),
                          sorted(idx, key=lambda i: gf[key][i][0]))
        cA = bk.rational(self.Aref - Ar - Br * Fmr)
        CgV = self.CsumV - bk.num(v0) * self.Csum
        return Ref(r, mr, v0, win, dA, dB, sign, g, gf, order, cA, bk.rational(Br),
                   (Br > 0) - (Br < 0), CgV, right, left)


# -- the far tail: Lemma S -----------------------------------------------------------------

def _side_tail(bk: Any, ph: PreparedHead, side: tuple, y: Any, right: bool) -> Any | None:
    """Upper bound (backend number) of ``sum_{far j on one side} exp(s_j(y) - s_r(y))``.

    Right side, ``y`` the box's upper end ``y1``, far columns ``j >= J`` (sorted centres,
    ``m_j >= m_J > m_r``).  For ``t`` in the box (``t <= y1``):
    ``s_j(t) - s_r(t) = bh [(t - m_r)^2 - (t - m_j)^2] + rho_j(t) - rho_r(t)``, and
    ``(t - m_r)^2 - (t - m_j)^2 = (m_j - m_r)(2t - m_j - m_r)`` is nondecreasing in t, so
    with ``D = m_J - y1 >= 0`` and ``m_j - y1 >= D + i dmin`` (i = j - J):
    ``(y1 - m_j)^2 >= D^2 + 2 D dmin i``, hence
    ``s_j - s_r <= bh (m_J - m_r)(2 y1 - m_J - m_r) + suf[J] - rho_lo[r] - 2 bh D dmin i``.
    Summing the geometric series over ``i = 0 .. count-1`` gives
    ``exp(F) min(count, 1 / (1 - q))``, ``q = exp(-2 bh Dl dmin)`` for any ``0 <= Dl <= D``.
    The left side is the mirror image (``y = y0``, ``D = y0 - m_{s-1}``).  Returns None if
    ``D >= 0`` cannot be certified.
    """
    count, mJ, k, sJ, rho_far, rho_r = side
    D = bk.lo(bk.num(mJ) - y) if right else bk.lo(y - bk.num(mJ))
    if not D >= 0:
        return None
    F = k * (2 * y - sJ) + (rho_far - rho_r)
    one_minus_q = 1 - bk.exp(-(ph.two_bh_dmin * D))
    geo = bk.num(count)
    if bk.lo(one_minus_q) > 0:
        geo = bk.min(geo, 1 / one_minus_q)
    return bk.exp(F) * geo


@dataclass
class Point:
    """What a point y contributes, for reference r (shared by the boxes that end at y).

    ``E[i] = exp(s_j(y) - s_r(y))`` for the window's columns; ``Cf = exp(cA - B_r (y - m_r))``
    so the constant group's ``sum_{j in C} exp(s_j(y) - s_r(y)) = Csum Cf``; ``right`` and
    ``left`` bound the far columns beyond each end of the window (:func:`_side_tail`) for a
    box whose upper (``right``) or lower (``left``) end is y, including the box ``[y, y]``;
    a side without far columns gives 0, an uncertified side None.  ``err`` caches
    :func:`point_error`.
    """

    y: Any
    E: list[Any]
    Cf: Any
    right: Any | None
    left: Any | None
    err: Pair | None = None
    err_done: bool = False


def at_point(bk: Any, ph: PreparedHead, rf: Ref, y: Any) -> Point:
    """The :class:`Point` data at every point of the (tiny) backend number ``y``."""
    x = y - rf.m_r
    exp = bk.exp
    E = [exp(da + db * x) for da, db in zip(rf.dA, rf.dB)]
    zero = bk.num(0)
    Cf = exp(rf.cA - rf.B_r * x) if ph.has_const else zero
    right = zero if rf.right is None else _side_tail(bk, ph, rf.right, y, True)
    left = zero if rf.left is None else _side_tail(bk, ph, rf.left, y, False)
    return Point(y, E, Cf, right, left)


def _far_total(rf: Ref, right: Any | None, left: Any | None) -> tuple[bool, Any | None]:
    """``(has_far, T)`` from the two sides' bounds; T is None if a side is uncertified."""
    has_far = rf.right is not None or rf.left is not None
    if right is None or left is None:
        return has_far, None
    return has_far, right + left


# -- weights and the linear programme -----------------------------------------------------

def weights(bk: Any, ph: PreparedHead, rf: Ref, p0: Point, p1: Point
            ) -> tuple[list[Any], list[Any], list[float], list[float]]:
    """Bounds ``lo_i <= W_i(y) <= hi_i`` for all y in the box ``[p0.y, p1.y]``, per LP item.

    Items: the window columns, then the constant group, then the far columns; ``W_i`` is
    the item's total softmax weight, so the ``W_i`` are >= 0 and sum to 1.  With ``E_j(y) =
    exp(s_j(y) - s_r(y))``, ``s_j - s_r = dA'_j + dB_j (y - m_r)`` is monotone in y (the sign
    of ``dB_j`` is exact), so ``Plo_i <= E_i <= Phi_i`` with its values at the ends; the
    constant group's sum ``Csum exp(cA - B_r (y - m_r))`` is monotone too (r is a grid
    column, so ``B_r != 0``).  The far sum F obeys ``0 <= F <= T`` with ``T`` the right side's
    bound at the upper end plus the left side's at the lower end (:func:`_side_tail`).
    Since ``x / (x + S)`` increases in x and decreases in S:
    ``W_i >= Plo_i / (Plo_i + sum_{k != i} Phi_k + T)`` and
    ``W_i <= Phi_i / (Phi_i + sum_{k != i} Plo_k)``; far: ``0 <= W_F <= T / (T + sum Plo)``.
    Without a tail bound the lower bounds are 0 and the far weight's upper bound is 1.

    The sums over ``k != i`` are formed as sums of the other (non-negative) terms, from
    prefix and suffix sums, never as a total minus one term: when one term dominates, the
    difference of two rounded sums loses every digit of the small rest (and an
    indeterminate denominator would follow).  Every bound is then intersected with
    ``[0, 1]``, which holds for every weight; an indeterminate bound (division by an
    enclosure of 0, overflow) is replaced by that trivial one rather than passed on.
    Returns backend ``lo``, ``hi`` and their float mids (for choosing lambda only).
    """
    Plo, Phi = [], []
    for e0, e1, sg in zip(p0.E, p1.E, rf.dB_sign):
        if sg >= 0:
            Plo.append(e0)
            Phi.append(e1)
        else:
            Plo.append(e1)
            Phi.append(e0)
    if ph.has_const:
        c_lo, c_hi = (p1.Cf, p0.Cf) if rf.B_r_sign > 0 else (p0.Cf, p1.Cf)
        Plo.append(c_lo * ph.Csum)
        Phi.append(c_hi * ph.Csum)
    rest_lo, Slo = _sums_of_others(bk, Plo)
    rest_hi, _ = _sums_of_others(bk, Phi)
    has_far, T = _far_total(rf, p1.right, p0.left)
    zero, one = bk.num(0), bk.num(1)
    if has_far and T is not None:
        rest_hi = [x + T for x in rest_hi]
    lo = [zero if T is None else _clamp_lo(bk, p / (p + q)) for p, q in zip(Plo, rest_hi)]
    hi = [_clamp_hi(bk, q / (q + p)) for p, q in zip(rest_lo, Phi)]
    if has_far:
        lo.append(zero)
        hi.append(one if T is None else _clamp_hi(bk, T / (T + Slo)))
    mid = bk.mid
    return lo, hi, [mid(x) for x in lo], [mid(x) for x in hi]


def _sums_of_others(bk: Any, P: list[Any]) -> tuple[list[Any], Any]:
    """``[sum_{k != i} P_k for each i]`` and ``sum_k P_k``, each a plain sum of the terms.

    Prefix and suffix sums: O(n), and no term is ever subtracted, so with non-negative
    terms every result carries the relative accuracy of a sum of positive numbers.
    """
    n = len(P)
    pre = [bk.num(0)]
    for x in P:
        pre.append(pre[-1] + x)
    out: list[Any] = [None] * n
    suf = bk.num(0)
    for i in range(n - 1, -1, -1):
        out[i] = pre[i] + suf
        suf = suf + P[i]
    return out, pre[n]


def _finite(bk: Any, x: Any) -> bool:
    """True if ``x`` is a bounded enclosure (not NaN, not an infinite radius or end)."""
    return bk.finite(x)


def _clamp_lo(bk: Any, x: Any) -> Any:
    """An enclosure of ``max(w, 0)`` for the exact lower bound ``w`` of a weight enclosed by
    ``x``; 0 (a lower bound of every weight) where ``x`` is indeterminate."""
    return bk.max(x, bk.num(0)) if _finite(bk, x) else bk.num(0)


def _clamp_hi(bk: Any, x: Any) -> Any:
    """An enclosure of ``min(w, 1)`` for the exact upper bound ``w`` of a weight enclosed by
    ``x``; 1 (an upper bound of every weight) where ``x`` is indeterminate."""
    return bk.min(x, bk.num(1)) if _finite(bk, x) else bk.num(1)


def _fill(lof: list[float], hif: list[float], gvals: list[float], order: list[int]) -> float:
    """Heuristic lambda: the value at which a greedy fill in ``order`` uses up the mass."""
    need = 1.0 - sum(lof)
    acc = 0.0
    for i in order:
        acc += hif[i] - lof[i]
        if acc >= need:
            return gvals[i]
    return gvals[order[-1]]


def lp_upper(bk: Any, lo: list[Any], hi: list[Any], lof: list[float], hif: list[float],
             rf: Ref, key: str) -> Any:
    """Upper bound of ``sum_i W_i g_i`` over ``lo_i <= W_i <= hi_i``, ``sum W = 1``.

    For every real lambda, ``sum W_i g_i = lambda + sum W_i (g_i - lambda)``.  With
    ``s_i = hi(g_hi_i - lambda) >= g_i - lambda`` and ``W_i >= 0``: ``W_i (g_i - lambda) <=
    W_i s_i <= hi_i s_i`` if ``s_i >= 0`` and ``<= lo_i s_i`` if ``s_i < 0``.  Any lambda is
    valid; the greedy fill picks the one that makes the bound the LP optimum.
    """
    g = rf.g[key]
    lam = _fill(lof, hif, [x[1] for x in rf.gf[key]], rf.order[key][0])
    tot = bk.num(lam)
    for i in range(len(lo)):
        s = bk.hi(g[i][1] - lam)
        tot = tot + (hi[i] if s >= 0 else lo[i]) * s
    return tot


def lp_lower(bk: Any, lo: list[Any], hi: list[Any], lof: list[float], hif: list[float],
             rf: Ref, key: str) -> Any:
    """Lower bound of ``sum_i W_i g_i``: the mirror image of :func:`lp_upper`."""
    g = rf.g[key]
    lam = _fill(lof, hif, [x[0] for x in rf.gf[key]], rf.order[key][1])
    tot = bk.num(lam)
    for i in range(len(lo)):
        s = bk.lo(g[i][0] - lam)
        tot = tot + (hi[i] if s <= 0 else lo[i]) * s
    return tot


# -- one box -------------------------------------------------------------------------------

def point_error(bk: Any, ph: PreparedHead, rf: Ref, pt: Point) -> Pair | None:
    """Enclosure of ``e_h(y)`` at every point y of the (tiny) backend number ``pt.y``.

    ``e_h = sum_j w_j (V_j - f)`` with ``f = g R(y)`` (weights sum to 1), written as
    ``N/D - (f - v0)`` with ``N = sum E_j (V_j - v0)``, ``D = sum E_j`` over window and
    constant group.  The far columns add ``F <= T`` to D and ``F vbar`` to N with
    ``vbar - v0`` in the far value range, so ``e_h = N/D - (f - v0) + theta (vbar - v0 -
    N/D)`` with ``0 <= theta = F/(D + F) <= T/D`` and ``|vbar - v0 - N/D| <= Vspan`` (both
    are differences of convex combinations of values).  Returns None without a tail bound.
    The result is cached in ``pt``.
    """
    if pt.err_done:
        return pt.err
    N = D = bk.num(0)
    for E, g in zip(pt.E, rf.g["V"]):
        N = N + E * g[0]
        D = D + E
    if ph.has_const:
        N = N + pt.Cf * rf.CgV
        D = D + pt.Cf * ph.Csum
    f = ph.gb * bk.min(bk.max(pt.y, ph.an), ph.bn)
    e = N / D - (f - rf.v0)
    has_far, T = _far_total(rf, pt.right, pt.left)
    if not has_far:
        pt.err = (e, e)
    elif T is not None:
        t = T * ph.Vspan / D
        pt.err = (e - t, e + t)
    pt.err_done = True
    return pt.err


def box_endpoints(bk: Any, y_lo: float, y_hi: float, depth: int, index: int) -> tuple[Any, Any]:
    """Backend numbers containing the exact ends ``y_lo + (y_hi - y_lo) i / 2^depth``, i+1."""
    base, width = bk.num(y_lo), bk.num(y_hi) - bk.num(y_lo)
    out = []
    for i in (index, index + 1):
        if i < 2 ** 53 and depth <= _EXACT_DEPTH:
            out.append(base + width * math.ldexp(i, -depth))  # i 2^-depth is an exact float
        else:
            out.append(base + width * bk.rational(Fraction(i, 2 ** depth)))
    return out[0], out[1]


def _intersect(bk: Any, x: Pair, y: Pair) -> Pair:
    """The intersection of two enclosures of the same set.

    An end that is indeterminate (NaN, infinite) says nothing, so the other enclosure's
    end is kept: ``max``/``min`` of a NaN ball would be NaN and throw away a finite end.
    """
    lo = x[0] if not _finite(bk, y[0]) else y[0] if not _finite(bk, x[0]) else bk.max(x[0], y[0])
    hi = x[1] if not _finite(bk, y[1]) else y[1] if not _finite(bk, x[1]) else bk.min(x[1], y[1])
    return lo, hi


def _magnitude(bk: Any, x: Pair) -> Any:
    """``sup |e|`` over ``e in [inf lo, sup hi]`` is at most ``sup max(-lo, hi)``."""
    return bk.max(-x[0], x[1])


def bicentred(bk: Any, el: Pair, er: Pair, de: Pair, w: Any) -> Pair:
    """Enclosure of e on ``[y0, y1]`` from ``e(y0) in el``, ``e(y1) in er``, ``e' in de``.

    If ``e' >= 0`` a.e. (certainly ``de.lo >= 0``), e is nondecreasing: ``e(Y)`` lies in
    ``[el.lo, er.hi]``; mirror for ``e' <= 0``.  Otherwise, with ``a = max(-de.lo, 0)``,
    ``b = max(de.hi, 0)`` and ``w = y1 - y0``: ``e(y) <= el.hi + b (y - y0)`` and
    ``e(y) <= er.hi + a (y1 - y)``; the minimum of an increasing and a decreasing line is at
    most its value where they cross, ``(el.hi a + er.hi b + a b w) / (a + b)``; the lower end
    is the mirror image ``(el.lo b + er.lo a - a b w) / (a + b)``.  (The engine's form.)
    """
    zero = bk.num(0)
    if bk.le(zero, de[0]):
        return el[0], er[1]
    if bk.le(de[1], zero):
        return er[0], el[1]
    a, b = bk.max(-de[0], zero), bk.max(de[1], zero)
    abw = a * b * w
    den = a + b
    return (el[0] * b + er[0] * a - abw) / den, (el[1] * a + er[1] * b + abw) / den


def point_total(bk: Any, heads: list[PreparedHead], refs: list[Ref], pts: list[Point]
                ) -> Pair | None:
    """Enclosure of ``e(y) = sum_h e_h(y)`` (:func:`point_error`), None without a tail bound."""
    total = None
    for ph, rf, pt in zip(heads, refs, pts):
        pe = point_error(bk, ph, rf, pt)
        if pe is None:
            return None
        total = pe if total is None else (total[0] + pe[0], total[1] + pe[1])
    return total


#: Arb precisions (bits) tried in turn for a box whose bound misses the claim at the
#: backend's own precision.  Arb's error is relative to the numbers it adds, so a claim
#: far below the values (|e| ~ 1e-22 against values ~ 1 at 80 bits) needs more bits.
FINER_PRECISIONS = (160, 320, 640)


@contextlib.contextmanager
def _working_precision(bk: Any, bits: int):
    """Run at ``bits`` of precision in a backend that has one (Arb); restore it after."""
    ctx = bk._ctx
    saved = ctx.prec
    ctx.prec = bits
    try:
        yield
    finally:
        ctx.prec = saved


def box_bound(bk: Any, heads: list[PreparedHead], y0: Any, y1: Any, upper: float,
              keys: tuple[Hashable, Hashable] | None = None) -> Any:
    """A backend number whose supremum bounds ``sup_{y in [y0, y1]} |e(y)|``.

    :func:`_box_bound` at the backend's precision; if that bound is not certainly
    ``<= upper`` (with ``upper > 0``) and the backend has an adjustable precision (Arb),
    the box is bounded again at each of :data:`FINER_PRECISIONS` in turn, with the heads
    prepared afresh at that precision and, where ``keys`` give the exact ends as fractions
    ``t`` of ``[y_lo, y_hi]``, the ends enclosed afresh.  Every attempt is a rigorous bound
    on its own; the first that meets ``upper`` (else the last) is returned.
    """
    bound = _box_bound(bk, heads, y0, y1, upper, keys)
    ctx = getattr(bk, "_ctx", None)
    if upper <= 0 or ctx is None or bk.le(bound, bk.num(upper)):
        return bound
    for bits in FINER_PRECISIONS:
        if bits <= ctx.prec:
            continue
        with _working_precision(bk, bits):
            fine = [ph.at_precision(bits) for ph in heads]
            z0, z1 = y0, y1
            if keys is not None and all(isinstance(k, Fraction) for k in keys):
                lo_, hi_ = Fraction(heads[0].y_lo), Fraction(heads[0].y_hi)
                fresh = [bk.rational(lo_ + (hi_ - lo_) * k) for k in keys]
                # A defence against keys of another meaning: the fresh ends must lie in
                # the given enclosures of the same ends.
                if all(bk.le(bk.lo(y), z) and bk.le(z, bk.hi(y)) for y, z in zip((y0, y1), fresh)):
                    z0, z1 = fresh
            bound = _box_bound(bk, fine, z0, z1, upper, keys)
            if bk.le(bound, bk.num(upper)):
                break
    return bound


def _box_bound(bk: Any, heads: list[PreparedHead], y0: Any, y1: Any, upper: float,
               keys: tuple[Hashable, Hashable] | None = None) -> Any:
    """A backend number whose supremum bounds ``sup_{y in [y0, y1]} |e(y)|``.

    The enclosure of e on the box is the intersection of three enclosures, each valid on
    its own; the function stops as soon as the bound is certainly ``<= upper``:

    1. Zeroth order: ``e_h(y) = sum_j w_j (V_j - v0) - (g R(y) - v0)`` with the sum in
       ``[lp_lower, lp_upper]`` of the 'V' values and ``R`` nondecreasing, so ``R(Y) =
       [R(y0), R(y1)]``.
    2. Bicentred form (:func:`bicentred`) from ``e(y0)``, ``e(y1)`` (:func:`point_error`)
       and ``e'(Y)``.  e is Lipschitz on the box; for a.e. t, ``e'(t) = sum_h
       Cov_{w(t)}(B, V) - g_h R_h'(t)`` (the derivative of ``softmax(A + B t)_j`` is
       ``w_j (B_j - sum_k w_k B_k)``), and for any ``b0, v0``: ``Cov_w(B, V) = S1 - S2 S3``
       with ``S1 = sum w (B - b0)(V - v0)``, ``S2 = sum w (B - b0)``, ``S3 = sum w (V -
       v0)``, each enclosed by the LP over the weight boxes; ``R_h'`` is 1 a.e. on a box
       inside ``[a, b]``, 0 a.e. on a box outside it, in ``[0, 1]`` otherwise.
    3. Centred mean-value form: ``e(y) = e(c) + int_c^y e'`` with c the exact midpoint, so
       ``e(Y) in e(c) + e'(Y) (Y - c)``.

    ``keys``, if given, identify the exact ends; the data at an end is then shared with the
    neighbouring box.  :func:`box_bound` requires Fraction keys to be the exact ``t`` with
    end ``y_lo + (y_hi - y_lo) t`` (the heads' ``y_lo``, ``y_hi``), as the checker passes.
    """
    refs, parts, p0s, p1s = [], [], [], []
    mid = bk.mid((y0 + y1) / 2)
    k0, k1 = keys if keys is not None else (None, None)
    e0: Pair | None = None
    for ph in heads:
        rf = ph.ref(ph.nearest(mid))
        p0, p1 = ph.point(rf, y0, k0), ph.point(rf, y1, k1)
        refs.append(rf)
        p0s.append(p0)
        p1s.append(p1)
        lo, hi, lof, hif = weights(bk, ph, rf, p0, p1)
        S3 = (lp_lower(bk, lo, hi, lof, hif, rf, "V"), lp_upper(bk, lo, hi, lof, hif, rf, "V"))
        R = (bk.min(bk.max(y0, ph.an), ph.bn), bk.min(bk.max(y1, ph.an), ph.bn))
        f = scale(ph.g, ph.gb, R)
        z = (S3[0] - (f[1] - rf.v0), S3[1] - (f[0] - rf.v0))
        e0 = z if e0 is None else (e0[0] + z[0], e0[1] + z[1])
        parts.append((ph, rf, lo, hi, lof, hif, S3))
    assert e0 is not None
    bound = _magnitude(bk, e0)
    upper_n = bk.num(upper)
    if bk.le(bound, upper_n):
        return bound

    zero, one = bk.num(0), bk.num(1)
    de = (zero, zero)
    for ph, rf, lo, hi, lof, hif, S3 in parts:
        S1 = (lp_lower(bk, lo, hi, lof, hif, rf, "BV"), lp_upper(bk, lo, hi, lof, hif, rf, "BV"))
        S2 = (lp_lower(bk, lo, hi, lof, hif, rf, "B"), lp_upper(bk, lo, hi, lof, hif, rf, "B"))
        p23 = pmul(bk, S2, S3)
        if bk.le(ph.an, y0) and bk.le(y1, ph.bn):
            dR = (one, one)
        elif bk.le(y1, ph.an) or bk.le(ph.bn, y0):
            dR = (zero, zero)
        else:
            dR = (zero, one)
        gdR = scale(ph.g, ph.gb, dR)
        de = (de[0] + (S1[0] - p23[1] - gdR[1]), de[1] + (S1[1] - p23[0] - gdR[0]))

    enc = e0
    el, er = point_total(bk, heads, refs, p0s), point_total(bk, heads, refs, p1s)
    if el is not None and er is not None:
        enc = _intersect(bk, enc, bicentred(bk, el, er, de, y1 - y0))
        bound = _magnitude(bk, enc)
        if bk.le(bound, upper_n):
            return bound
    c = (y0 + y1) / 2
    ec = point_total(bk, heads, refs, [at_point(bk, ph, rf, c) for ph, rf in zip(heads, refs)])
    if ec is not None:
        mv = pmul(bk, de, (y0 - c, y1 - c))
        enc = _intersect(bk, enc, (ec[0] + mv[0], ec[1] + mv[1]))
        bound = _magnitude(bk, enc)
    return bound


# -- one point, every column -----------------------------------------------------------

def witness_error(bk: Any, A: list[Fraction], B: list[Fraction], V: list[Fraction],
                  g: Fraction, a: float, b: float, y: Fraction) -> Any:
    """Enclosure of ``e_h(y)`` at the exact point y, summing every column explicitly.

    ``e_h(y) = sum_j E_j (V_j - f) / sum_j E_j`` with ``E_j = exp(s_j(y) - s_max)``; the
    exponents are exact rationals (``s_max`` is the largest score, so every ``E_j <= 1``)
    and terms are added from the smallest exponent up, which keeps rounding small.
    """
    s = [A[j] + B[j] * y for j in range(len(A))]
    smax = max(s)
    f = g * min(max(y, Fraction(a)), Fraction(b))
    fb = bk.rational(f)
    N = D = bk.num(0)
    for j in sorted(range(len(s)), key=lambda j: s[j]):
        E = bk.exp(bk.rational(s[j] - smax))
        N = N + E * (bk.rational(V[j]) - fb)
        D = D + E
    return N / D
