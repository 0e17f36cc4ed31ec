"""Rigorous bounds on the error of a one-layer attention network over an input box (checker).

Setting (:mod:`certify.exact_scores`, verified exactly before this module runs).  The
output is ``N(x) = sum_h sum_j w^h_j(x) V^h_j + c`` with ``w^h = softmax(s^h)`` and affine
scores ``s^h_j(x) = A_j + B_j . x``; ``A_j, B_j, V_j, c`` are exact rationals.  A head may
carry a verified anchor grid (the identity ``s_J(x) = sum_a beta_a (u_a^2 - (u_a -
m_{J,a})^2) + rho_J`` in its latent ``u = P x + t``); every other key column is explicit.
The target ``f`` is an expression, enclosed by the backend's expression operations
(:mod:`certify.check.expr_backends`).  For a box ``X``, :func:`box_bound` returns a float
``>= sup_{x in X} |N(x) - f(x)|`` (``inf`` if nothing finite is proved).

Every bound below is a formula in exact data, evaluated with inclusion-isotone backend
arithmetic (:mod:`certify.check.backends`); the reference column, window, LP multipliers
and shifts are heuristic choices (floats) on which no bound depends.

1. Shift: ``w_j = E_j / sum_k E_k`` with ``E_j = exp(s_j - s_R)`` for a reference column R.
2. Near grid columns: ``s_J - s_R = sum_a beta_a (m_{J,a} - m_{R,a}) (2 u_a - m_{J,a} -
   m_{R,a}) + rho_J - rho_R`` (difference of squares), each axis term linear in ``u_a``,
   so its range over the box is attained at the ends of ``u_a``'s range.  Extra columns:
   ``(A_j - A_R) + (B_j - B_R) . x``, linear in x, range attained at the box's corners
   coordinate by coordinate.
3. Far grid columns (outside the window on some axis): with ``k_a(j) = exp(beta_a ((u_a -
   m_{R,a})^2 - (u_a - m_{a,j})^2))``, ``E_J <= exp(rho_max - rho_R) prod_a k_a(J_a)``, and
   the far sum is at most ``exp(rho_max - rho_R) sum_{S nonempty} prod_{a in S} T_a
   prod_{a not in S} N_a`` (the expansion of ``prod (N_a + T_a) - prod N_a``), ``N_a`` the
   window sum and ``T_a`` the out-of-window sum of ``k_a``.  Beyond a window end at distance
   ``Dd > 0`` from the latent's range, the i-th further point (i >= 0) is at distance
   ``>= Dd + i dmin_a``, hence ``k_a <= exp(beta_a (Q - Dd^2)) q^i`` with ``Q`` the largest
   ``(u_a - m_{R,a})^2`` and ``q = exp(-2 beta_a Dd dmin_a)``; summing gives the geometric
   bound ``exp(beta_a (Q - Dd^2)) min(count, 1 / (1 - q))``.
4. Weight boxes: ``E_lo_j / (E_lo_j + O_hi_j) <= w_j <= E_hi_j / (E_hi_j + O_lo_j)`` where
   ``O_hi_j = S_hi - E_hi_j`` is the sum of the other columns' upper bounds (plus the far
   bound) and ``O_lo_j = max(0, S_lo - E_lo_j)``; the far columns form one item with weight
   in ``[0, T / (T + S_lo)]`` whose value lies in the range of all the head's values.
5. LP duality: for every real lambda, ``sum w_i g_i = lambda + sum w_i (g_i - lambda) <=
   lambda + sum_i (hi_i if hi(g_i - lambda) >= 0 else lo_i) hi(g_i - lambda)``.
6. Error: zeroth order ``sum_h LP_h(V) + c - F(X)``; centred form ``e(x0) + sum_v de_v (X_v -
   x0_v)`` with ``de_v = sum_h Cov_{w^h}(B_v, V) - d_v F(X)`` enclosing the partial
   derivative over X, ``Cov_w(B, V) = sum w (B - b0)(V - v0) - (sum w (B - b0))(sum w (V -
   v0))``, each sum bounded by item 5.  The mean-value inclusion also holds for Lipschitz
   targets whose derivative enclosures use the ``sign``/``heaviside`` hulls (the error is
   absolutely continuous along segments, with derivative a.e. in the enclosure).
7. Monotone heads (:func:`certify.exact_scores.monotone_form`, exact): a head whose scores
   are ``A'_j + b_j u`` in one latent ``u = P . x + t`` and whose values are ``lam b_j +
   mu`` has ``o'(u) = lam Var_w(b)`` of one sign, so its output over the box lies between
   its enclosures at the two float ends of u's (outward) range.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from certify.check.backends import float_down, float_up
from certify.exact_scores import Grid, HeadScores, OutputScores, monotone_form
from certify.expression import EnclosureFailure, Expr, evaluate

#: Far anchors are aggregated beyond the window where their kernel is below exp(-TAIL);
#: the checker's window is one point wider per side than the engine's.
TAIL = 36.0
EXTRA_WINDOW = 1


@dataclass
class _GridData:
    axes: list[list[float]]
    axes_b: list[list[Any]]  # backend numbers of the axes' points
    beta: list[Any]
    P: list[list[Any]]  # (k, D) backend numbers
    Pf: list[list[Fraction]]
    t: list[Any]
    shape: tuple[int, ...]
    stride: list[int]
    columns: list[int]
    rho: list[Fraction]
    rho_max: Fraction
    dmin: list[Any]
    K: list[int]
    W: list[int]
    dmin_f: list[float]  # least spacing per axis, rounded down (window choice only)


class CheckedHead:
    """One head of one output entry, with its exact data converted once per backend."""

    def __init__(self, bk: Any, hs: HeadScores, grid: Grid | None,
                 monotone: bool = True) -> None:
        self.bk = bk
        self.hs = hs
        # A head monotone in its latent (exact test): bounded over a box by its values at
        # the two ends of the latent's range (item 7).
        self.mono: CheckedHead | None = None
        self.mono_P: list[Any] = []
        self.mono_t: Any = None
        form = monotone_form(hs, grid) if monotone else None
        if form is not None:
            self.mono = CheckedHead(bk, form.head, form.grid, False)
            self.mono_P = [(bk.num(p), p) for p in form.P]
            self.mono_t = bk.num(form.t)
        m = len(hs.A)
        self.D = len(hs.B[0])
        self.Vb = [bk.rational(v) for v in hs.V]
        self.Vmin, self.Vmax = min(hs.V), max(hs.V)
        self.grid: _GridData | None = None
        self.extra = list(range(m))
        if grid is not None:
            h = grid.hint
            k = len(h.axes)
            dmin = [float_down(d) for d in grid.dmin]
            K = [_half_window(float_down(Fraction(h.beta[a]) * Fraction(dmin[a]) ** 2),
                              grid.shape[a]) for a in range(k)]
            W = [min(2 * K[a] + 1, grid.shape[a]) for a in range(k)]
            stride = [1] * k
            for a in range(k - 2, -1, -1):
                stride[a] = stride[a + 1] * grid.shape[a + 1]
            self.grid = _GridData(
                [list(ax) for ax in h.axes], [[bk.num(v) for v in ax] for ax in h.axes],
                [bk.num(b) for b in h.beta], [[bk.num(v) for v in r] for r in h.P],
                [[Fraction(v) for v in r] for r in h.P], [bk.num(v) for v in h.t],
                grid.shape, stride, grid.columns, grid.rho, max(grid.rho),
                [bk.num(d) for d in dmin], K, W, dmin)
            self.extra = grid.extra
        self._rho_b: dict[int, Any] = {}

    def monotone_set(self, X: list[tuple[float, float]]) -> Any | None:
        """For a monotone head (item 7): a set containing its output over the box, the hull
        of its enclosures at the float ends of the latent's range; None otherwise."""
        if self.mono is None:
            return None
        bk = self.bk
        lo = hi = self.mono_t
        for (p, pf), (a, b) in zip(self.mono_P, X):
            if pf != 0:
                e0, e1 = p * a, p * b
                if pf < 0:
                    e0, e1 = e1, e0
                lo, hi = lo + e0, hi + e1
        ends = []
        for u in (bk.lb(lo), bk.ub(hi)):
            if not math.isfinite(u):
                return None
            it = self.mono.items([(u, u)])
            s = None if it is None else _lp_set(bk, it[0], it[1], it[2])
            if s is None:
                return None
            ends.append(s)
        return bk.interval(min(bk.lb(ends[0]), bk.lb(ends[1])),
                           max(bk.ub(ends[0]), bk.ub(ends[1])))

    # -- items of the LP for one box -------------------------------------------------------

    def items(self, X: list[tuple[float, float]], shift: tuple[int, ...] | None = None,
              wide: bool = False):
        """Weight bounds and item data for the box ``X`` (float ends per variable).

        Returns ``(wlo, whi, V, dB, v0)``: exact lower/upper weight bounds per item, item
        values and ``B - B_R`` (backend sets), and the value shift ``v0``; None if the far
        tail cannot be bounded on this box.
        """
        bk = self.bk
        hs = self.hs
        D = self.D
        E_lo, E_hi, V, dB = [], [], [], []
        far = None
        g = self.grid
        if g is not None:
            k = len(g.axes)
            r_idx, wins, qs, dbs, Ns, Ts, Us = [], [], [], [], [], [], []
            for a in range(k):
                U = self._latent(a, X)
                Us.append(U)
                mid = (bk.mid(U[0]) + bk.mid(U[1])) / 2
                ax = g.axes[a]
                n_a = len(ax)
                r = min(bisect.bisect_left(ax, mid), n_a - 1)
                if r > 0 and abs(ax[r - 1] - mid) < abs(ax[r] - mid):
                    r -= 1
                if shift is not None:  # another reference column (any one is valid)
                    r = min(max(r + shift[a], 0), n_a - 1)
                W_a = _window(g.W[a], g.K[a], n_a, k, bk.ub(U[1]) - bk.lb(U[0]),
                              float(g.dmin_f[a]), wide)
                s = min(max(r - (W_a - 1) // 2, 0), n_a - W_a)
                win = range(s, s + W_a)
                mr = g.axes_b[a][r]
                q_a, db_a, N_a = [], [], bk.num(0)
                two_beta = 2 * g.beta[a]
                for j in win:
                    dm = g.axes_b[a][j] - mr
                    lo_e = g.beta[a] * dm * (2 * U[0] - g.axes_b[a][j] - mr)
                    hi_e = g.beta[a] * dm * (2 * U[1] - g.axes_b[a][j] - mr)
                    if ax[j] < ax[r]:
                        lo_e, hi_e = hi_e, lo_e
                    q_a.append((lo_e, hi_e))
                    N_a = N_a + _hi(bk, bk.exp(hi_e))
                    db_a.append([two_beta * dm * g.P[a][v] for v in range(D)])
                r_idx.append(r)
                wins.append(win)
                qs.append(q_a)
                dbs.append(db_a)
                Ns.append(N_a)
                Ts.append(self._tail(a, U, r, win))
            f_ref = sum(r * st for r, st in zip(r_idx, g.stride))
            ref_col = g.columns[f_ref]
            rho_r = g.rho[f_ref]
            for combo in itertools.product(*[range(len(w)) for w in wins]):
                f = sum(wins[a][i] * g.stride[a] for a, i in enumerate(combo))
                lo_e = self._rho(f, rho_r)
                hi_e = lo_e
                for a, i in enumerate(combo):
                    lo_e = lo_e + qs[a][i][0]
                    hi_e = hi_e + qs[a][i][1]
                E_lo.append(_lo(bk, bk.exp(lo_e)))
                E_hi.append(_hi(bk, bk.exp(hi_e)))
                V.append(self.Vb[g.columns[f]])
                dB.append([sum((dbs[a][i][v] for a, i in enumerate(combo)), bk.num(0))
                           for v in range(D)])
            if any(len(g.axes[a]) > len(wins[a]) for a in range(k)):
                if any(T is None for T in Ts):
                    return None
                far = bk.num(0)
                for mask in itertools.product((0, 1), repeat=k):
                    if any(mask):
                        term = bk.num(1)
                        for a in range(k):
                            term = term * (Ts[a] if mask[a] else Ns[a])
                        far = far + term
                far = _hi(bk, far * bk.exp(bk.rational(g.rho_max - rho_r)))
                if not math.isfinite(bk.ub(far)):
                    return None
        else:
            # Reference: the column with the largest score at the box centre (heuristic).
            c = [(lo + hi) / 2 for lo, hi in X]
            ref_col = max(range(len(hs.A)), key=lambda j: float(hs.A[j]) + sum(
                float(hs.B[j][v]) * c[v] for v in range(D)))
        AR, BR = hs.A[ref_col], hs.B[ref_col]
        for j in self.extra:
            dA = hs.A[j] - AR
            lo_e = hi_e = bk.rational(dA)
            dBj = []
            for v in range(D):
                b = hs.B[j][v] - BR[v]
                dBj.append(bk.rational(b))
                if b != 0:
                    e0, e1 = bk.rational(b) * X[v][0], bk.rational(b) * X[v][1]
                    if b < 0:
                        e0, e1 = e1, e0
                    lo_e, hi_e = lo_e + e0, hi_e + e1
            E_lo.append(_lo(bk, bk.exp(lo_e)))
            E_hi.append(_hi(bk, bk.exp(hi_e)))
            V.append(self.Vb[j])
            dB.append(dBj)
        S_lo = sum(E_lo[1:], E_lo[0])
        S_hi = sum(E_hi[1:], E_hi[0])
        if far is not None:
            S_hi = S_hi + far
        zero, one = bk.num(0), bk.num(1)
        wlo, whi = [], []
        for el, eh in zip(E_lo, E_hi):
            o_hi = _hi(bk, S_hi - eh)
            o_lo = _lo(bk, S_lo - el)
            if not bk.lb(o_lo) >= 0:
                o_lo = zero
            lo = _lo(bk, el / (el + o_hi)) if bk.lb(el) > 0 else zero
            hi = _hi(bk, eh / (eh + o_lo)) if bk.lb(eh + o_lo) > 0 else one
            wlo.append(lo if bk.lb(lo) >= 0 else zero)
            whi.append(hi if bk.ub(hi) <= 1 else one)
        if far is not None:
            wf = _hi(bk, far / (far + S_lo)) if bk.lb(S_lo) > 0 else one
            wlo.append(zero)
            whi.append(wf if bk.ub(wf) <= 1 else one)
            V.append(bk.interval(float_down(self.Vmin), float_up(self.Vmax)))
            dB.append(self._far_dB(r_idx))
        v0 = bk.mid(self.Vb[ref_col])
        return wlo, whi, V, dB, v0

    def _latent(self, a: int, X: list[tuple[float, float]]) -> tuple[Any, Any]:
        """Backend numbers containing the least and the largest ``u_a`` over the box."""
        g = self.grid
        lo = hi = g.t[a]
        for v in range(self.D):
            p = g.Pf[a][v]
            if p != 0:
                e0, e1 = g.P[a][v] * X[v][0], g.P[a][v] * X[v][1]
                if p < 0:
                    e0, e1 = e1, e0
                lo, hi = lo + e0, hi + e1
        return lo, hi

    def _rho(self, f: int, rho_r: Fraction) -> Any:
        key = f
        if key not in self._rho_b or self._rho_b[key][0] != rho_r:
            self._rho_b[key] = (rho_r, self.bk.rational(self.grid.rho[f] - rho_r))
        return self._rho_b[key][1]

    def _tail(self, a: int, U: tuple[Any, Any], r: int, win: range) -> Any | None:
        """Upper bound of ``sum_{j outside win} k_a(j)`` (item 3); None if not bounded."""
        bk, g = self.bk, self.grid
        ax, axb = g.axes[a], g.axes_b[a]
        mr = axb[r]
        Q = bk.max((U[0] - mr) * (U[0] - mr), (U[1] - mr) * (U[1] - mr))
        total = bk.num(0)
        for right in (True, False):
            if right:
                j0, count = win.stop, len(ax) - win.stop
                if j0 >= len(ax):
                    continue
                Dd = axb[j0] - U[1]
            else:
                j0, count = win.start - 1, win.start
                if j0 < 0:
                    continue
                Dd = U[0] - axb[j0]
            if not bk.lb(Dd) > 0:
                return None
            e1 = bk.exp(g.beta[a] * (Q - Dd * Dd))
            q = bk.exp(-2 * g.beta[a] * Dd * g.dmin[a])
            t = e1 * count
            if bk.ub(q) < 1:
                t = bk.min(t, e1 / (1 - q))
            total = total + t
        return _hi(bk, total)

    def _far_dB(self, r_idx: list[int]) -> list[Any]:
        """Sets containing ``B_J - B_R`` for every grid column J."""
        bk, g = self.bk, self.grid
        out = []
        for v in range(self.D):
            acc = bk.num(0)
            for a in range(len(g.axes)):
                mr = g.axes[a][r_idx[a]]
                span = bk.interval(float_down(Fraction(g.axes[a][0]) - Fraction(mr)),
                                   float_up(Fraction(g.axes[a][-1]) - Fraction(mr)))
                acc = acc + 2 * g.beta[a] * span * g.P[a][v]
            out.append(acc)
        return out


def _half_window(kappa: float, n: int) -> int:
    """Anchors on each side of the reference in the default window: enough that the rest
    have kernel below exp(-TAIL) (the whole axis when kappa rounds to 0).  A heuristic:
    the far-tail bound holds for every window."""
    if not kappa > 0:
        return n + 1 + EXTRA_WINDOW
    return min(math.ceil(math.sqrt(TAIL / kappa)), n) + 1 + EXTRA_WINDOW


def _window(W: int, K: int, n: int, k: int, width: float, dmin: float,
            wide: bool = False) -> int:
    """Anchors per axis in the window of one box: at least ``W``, wider (up to a cap) where
    the latent's range spans more anchors than ``W`` leaves room for; ``wide``: the cap.
    A heuristic choice: the far-tail bound (item 3) holds for every window."""
    cap = (8 if k == 1 else 2) * W
    if wide:
        return min(n, cap)
    if not (math.isfinite(width) and dmin > 0):
        return W
    need = math.ceil(width / dmin) + 2 * K + 1
    return min(n, need) if W < need <= cap else W


def _mul(bk: Any, x: Any, y: Any) -> Any:
    """A set containing ``{u v : u in x, v in y}``, tight for wide sets.

    The product of two real intervals lies between the least and the largest product of
    their end points.  Arb's ball product (midpoint times midpoint plus a radius bound)
    contains that interval but can be much wider when both balls are wide, so for Arb the
    ends are multiplied instead; pyinterval's product is already the interval product.
    """
    if bk.name != "flint":
        return x * y
    ends = [a * b for a in (x.lower(), x.upper()) for b in (y.lower(), y.upper())]
    out = ends[0]
    for e in ends[1:]:
        out = out.union(e)
    return out


def _lo(bk: Any, x: Any) -> Any:
    """An exact backend number ``<= inf x`` (arithmetic on it stays rigorous)."""
    return bk.num(bk.lo(x))


def _hi(bk: Any, x: Any) -> Any:
    """An exact backend number ``>= sup x``."""
    return bk.num(bk.hi(x))


# -- LP and the error --------------------------------------------------------------------

def _lp_upper(bk: Any, wlo: list[Any], whi: list[Any], g: list[Any]) -> Any:
    """Upper bound of ``sum w_i g_i`` over the weight boxes with ``sum w = 1`` (item 5)."""
    lof = [bk.lb(x) for x in wlo]
    hif = [bk.ub(x) for x in whi]
    gh = [bk.ub(x) for x in g]
    order = sorted(range(len(g)), key=lambda i: -gh[i])
    need, acc, lam = 1.0 - sum(lof), 0.0, gh[order[-1]]
    for i in order:
        acc += hif[i] - lof[i]
        if acc >= need:
            lam = gh[i]
            break
    if not math.isfinite(lam):
        lam = 0.0
    tot = bk.num(lam)
    for lo, hi, gi in zip(wlo, whi, g):
        s = _hi(bk, gi - lam)
        tot = tot + (hi if bk.lb(s) >= 0 else lo) * s
    return tot


def _lp_set(bk: Any, wlo: list[Any], whi: list[Any], g: list[Any]) -> Any:
    """A set containing every ``sum w_i g_i`` over the weight boxes with ``sum w = 1``."""
    up = _lp_upper(bk, wlo, whi, g)
    down = -_lp_upper(bk, wlo, whi, [-x for x in g])
    lo, hi = bk.lb(down), bk.ub(up)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        return None
    return bk.interval(lo, hi)


def covariance(bk: Any, it: tuple, slope: list[Any]) -> Any | None:
    """A set containing ``Cov_w(slope, V) = sum w (slope)(V - v0) - (sum w slope)(sum w (V -
    v0))`` over the weight boxes of the items ``it`` (item 6); None if not bounded."""
    wlo, whi, V, _, v0 = it
    g3 = [x - v0 for x in V]
    g1 = [_mul(bk, p, q) for p, q in zip(slope, g3)]
    S = [_lp_set(bk, wlo, whi, g) for g in (g1, slope, g3)]
    if any(x is None for x in S):
        return None
    return S[0] - _mul(bk, S[1], S[2])


class OutputChecker:
    """Per-box bounds for one output entry in one backend."""

    def __init__(self, bk: Any, ops: Any, out: OutputScores, grids: list[Grid | None],
                 target: Expr, gradient: list[Expr] | None) -> None:
        self.bk, self.ops = bk, ops
        self.heads = [CheckedHead(bk, h, g) for h, g in zip(out.heads, grids)]
        self.const = bk.rational(out.const)
        self.target, self.gradient = target, gradient

    def _f(self, expr: Expr, X: list[tuple[float, float]]) -> Any | None:
        try:
            val = evaluate(expr, [self.ops.point(lo, hi) for lo, hi in X], self.ops)
        except EnclosureFailure:
            return None
        return val if math.isfinite(self.bk.lb(val)) and math.isfinite(self.bk.ub(val)) else None

    def output_set(self, X: list[tuple[float, float]], refine: bool = False) -> Any | None:
        """A set containing ``N(x)`` for every x in the box (None if not bounded).

        With ``refine``, each head also tries the reference columns next to the nearest
        one (axis by axis) and intersects the enclosures: on a box that is wide against
        the anchor spacing the per-weight bounds depend on the reference, and every choice
        gives a valid enclosure.
        """
        total = self.const
        for ch in self.heads:
            ms = ch.monotone_set(X)
            if ms is not None:
                total = total + ms
                continue
            best = None
            shifts: list[tuple[int, ...] | None] = [None]
            if refine and ch.grid is not None:
                k = len(ch.grid.axes)
                shifts += [tuple(sg if b == a else 0 for b in range(k))
                           for a in range(k) for sg in (-1, 1)]
            lo, hi = -math.inf, math.inf
            for sh, wide in [(sh, False) for sh in shifts] + ([(None, True)] if refine else []):
                it = ch.items(X, sh, wide)
                s = None if it is None else _lp_set(self.bk, it[0], it[1], it[2])
                if s is not None:
                    lo, hi = max(lo, self.bk.lb(s)), min(hi, self.bk.ub(s))
                    best = True
            if best is None or not lo <= hi:
                return None
            total = total + self.bk.interval(lo, hi)
        return total

    def error_at(self, x: list[float]) -> Any | None:
        """A set containing ``N(x) - f(x)`` at the float point x."""
        X = [(v, v) for v in x]
        o = self.output_set(X)
        f = self._f(self.target, X)
        return None if o is None or f is None else o - f

    def box_bound(self, X: list[tuple[float, float]], upper: float) -> float:
        """A float ``>= sup_{x in X} |N(x) - f(x)|`` (item 6); ``inf`` if not bounded.

        The zeroth-order enclosure is tried first; the centred form (only for a target with
        a derivative enclosure) if that does not meet ``upper``.
        """
        bk = self.bk
        F = self._f(self.target, X)
        o = self.output_set(X)
        best = math.inf
        e_lo, e_hi = -math.inf, math.inf  # the zeroth-order enclosure of e over X
        if F is not None and o is not None:
            e0 = o - F
            e_lo, e_hi = bk.lb(e0), bk.ub(e0)
            best = max(-e_lo, e_hi)
            if best > upper:
                o = self.output_set(X, refine=True)
                if o is not None:
                    e0 = o - F
                    e_lo, e_hi = max(e_lo, bk.lb(e0)), min(e_hi, bk.ub(e0))
                    best = max(-e_lo, e_hi)
            if best <= upper or self.gradient is None:
                return best
        if self.gradient is None:
            return best
        c = [float((Fraction(lo) + Fraction(hi)) / 2) for lo, hi in X]
        c = [min(max(ci, lo), hi) for ci, (lo, hi) in zip(c, X)]
        ec = self.error_at(c)
        if ec is None:
            return best
        mv = ec
        for v in range(len(X)):
            dF = self._f(self.gradient[v], X)
            if dF is None:
                return best
            dv = -dF
            for ch in self.heads:
                it = ch.items(X)
                if it is None:
                    return best
                cov = covariance(bk, it, [b[v] for b in it[3]])
                if cov is None:
                    return best
                dv = dv + cov
            step = bk.interval(float_down(Fraction(X[v][0]) - Fraction(c[v])),
                               float_up(Fraction(X[v][1]) - Fraction(c[v])))
            mv = mv + _mul(bk, dv, step)
        # Both enclosures contain e(X): so does their intersection.
        lo, hi = max(bk.lb(mv), e_lo), min(bk.ub(mv), e_hi)
        if math.isfinite(lo) and math.isfinite(hi):
            best = min(best, max(-lo, hi, 0.0))
        return best
