"""Rigorous bounds on the error of a two-layer attention network over an input box (checker).

Setting (:mod:`certify.exact_two_layer`, verified exactly before this module runs): output
``N(x) = c + sum_r omega_r phi_r(x) + sum_g head_g(phi(x))``, each feature ``phi_r = a_r +
b_r . x + sum (anchor heads with scores affine in x) + sum (gather heads with constant
scores and values affine in x) + sum (mix heads with scores and values affine in x)``,
each layer-2 head with scores affine in the features.  For an input box X,
:meth:`ComposedChecker.box_bound` returns a float ``>= sup_{x in X} |N(x) - f(x)|``:

1. Every feature is enclosed over X (anchor heads: items 1-5 of
   :mod:`certify.check.box_bound`; a gather head's weights ``softmax(A)`` are constants,
   computed in the backend, so it contributes ``sum_j w_j (V0_j + V1_j . x)`` evaluated on
   the box; a mix head by :class:`_Mix`, item 4).  Their ranges form a box ``Phi``
   (outward float ends).
2. Every layer-2 head is enclosed over ``Phi`` by the same items: the enclosure holds for
   every feature vector in ``Phi``, in particular for ``phi(x)``, x in X.
3. Centred form: ``d_v N = sum_r omega_r d_v phi_r + sum_g Cov_{w^g}(sum_r (B_r - B_{R,r})
   d_v phi_r, V)`` (chain rule; the scores of head g move with x at rate ``B . d_v phi``),
   with every ``d_v phi_r`` enclosed over X by item 6 of :mod:`certify.check.box_bound`
   (mix heads: item 4).  Then ``e(X) <= e(c) + sum_v (d_v N - d_v f)(X) (X_v - c_v)``,
   intersected with the zeroth-order enclosure ``N(X) - f(X)``.
4. Mix head, scores ``s_j = A_j + B_j . x`` and values ``v_j = V0_j + V1_j . x``:
   ``w_j = 1 / sum_l exp(s_l - s_j)``, and ``s_l - s_j = (A_l - A_j) + (B_l - B_j) . x`` is
   enclosed over X from its exact coefficients (``s_j - s_j = 0``), so, exp being
   increasing, every ``w_j(x)`` lies in ``[1 / hi S+_j, 1 / lo S-_j]`` (clipped to [0, 1])
   with ``S-_j``, ``S+_j`` the backend sums of exp at the lower, upper ends of the
   differences.  The output ``o = sum_j w_j v_j`` is bounded by item 5 of
   :mod:`certify.check.box_bound` (the weights sum to 1) and by ``[min_j lo v_j, max_j hi
   v_j]`` (a convex combination).  Its derivative is ``d_v o = sum_j w_j V1_{j,v} + sum_j
   w_j (v_j - o) (B_{j,v} - b_v)`` for any constant ``b_v``, because ``d_v w_j = w_j
   (B_{j,v} - sum_l w_l B_{l,v})`` and ``sum_j w_j (v_j - o) = 0``; both sums by item 5,
   with ``v_j - o`` enclosed by ``v_j(X) - o(X)``, the first also by ``[min_j V1_{j,v},
   max_j V1_{j,v}]``, the second intersected over two choices of ``b_v`` (the middle of
   the ``B_{j,v}``, and ``B_{R,v}`` of a column R with a large weight bound, whose term
   then vanishes).

No float operation is trusted: backend arithmetic is inclusion-isotone and every float
taken from it is an outward end (``lb``/``ub``).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from certify.check.backends import float_down, float_up
from certify.check.box_bound import CheckedHead, _hi, _lo, _lp_set, _mul, covariance
from certify.exact_scores import Grid
from certify.exact_two_layer import ComposedOutput, GatherHead, MixHead
from certify.expression import EnclosureFailure, Expr, evaluate


class _Gather:
    """A gather head in one backend: ``c0 + sum_v cv[v] x_v`` with constant weights."""

    def __init__(self, bk: Any, g: GatherHead, D: int) -> None:
        top = max(g.A)
        E = [bk.exp(bk.rational(a - top)) for a in g.A]
        S = E[0]
        for e in E[1:]:
            S = S + e
        w = [e / S for e in E]
        self.c0 = bk.num(0)
        self.cv = [bk.num(0) for _ in range(D)]
        for wj, v0, v1 in zip(w, g.V0, g.V1):
            if v0:
                self.c0 = self.c0 + wj * bk.rational(v0)
            for v in range(D):
                if v1[v]:
                    self.cv[v] = self.cv[v] + wj * bk.rational(v1[v])


class _Mix:
    """A mix head in one backend (item 4): exact data converted once."""

    def __init__(self, bk: Any, g: MixHead, D: int) -> None:
        self.bk = bk
        m = len(g.A)
        self.m, self.D = m, D
        # Exact score differences: d[l][j] = (dA, [dB_v]) with a flag per non-zero slope.
        self.d = [[(bk.rational(g.A[l] - g.A[j]),
                    [(bk.rational(g.B[l][v] - g.B[j][v]), g.B[l][v] != g.B[j][v])
                     for v in range(D)]) for j in range(m)] for l in range(m)]
        self.V0 = [bk.rational(v) for v in g.V0]
        self.V1 = [[(bk.rational(g.V1[j][v]), g.V1[j][v] != 0) for v in range(D)]
                   for j in range(m)]
        self.V1_lo = [float_down(min(g.V1[j][v] for j in range(m))) for v in range(D)]
        self.V1_hi = [float_up(max(g.V1[j][v] for j in range(m))) for v in range(D)]
        # Any constant b_v is valid in item 4; one near the middle keeps the factors small.
        b = [Fraction(float((min(g.B[j][v] for j in range(m)) +
                             max(g.B[j][v] for j in range(m))) / 2)) for v in range(D)]
        self.Bs = [[bk.rational(g.B[j][v] - b[v]) for v in range(D)] for j in range(m)]

    def _weights(self, xs: list[Any]) -> tuple[list[Any], list[Any]] | None:
        """Exact backend numbers ``wlo_j <= w_j(x) <= whi_j`` for every x in the box."""
        bk = self.bk
        wlo, whi = [], []
        for j in range(self.m):
            S_lo = S_hi = bk.num(1)  # the term l = j: exp(0), exactly
            for l in range(self.m):
                if l == j:
                    continue
                dA, dB = self.d[l][j]
                t = dA
                for v, (c, nz) in enumerate(dB):
                    if nz:
                        t = t + _mul(bk, c, xs[v])
                # exp is increasing: its values at exact end points bound it over t; an Arb
                # ball of exp(t) for a wide t is much wider than [exp(lo t), exp(hi t)].
                S_lo = S_lo + bk.exp(_lo(bk, t))
                S_hi = S_hi + bk.exp(_hi(bk, t))
            s_lo, s_hi = bk.lb(S_lo), bk.ub(S_hi)
            if not s_lo > 0:
                return None
            lo = 0.0 if s_hi == math.inf else max(bk.lb(bk.num(1) / bk.num(s_hi)), 0.0)
            hi = min(bk.ub(bk.num(1) / bk.num(s_lo)), 1.0)
            if math.isnan(lo) or math.isnan(hi) or lo > hi:
                return None
            wlo.append(bk.num(lo))
            whi.append(bk.num(hi))
        return wlo, whi

    def enclose(self, xs: list[Any], grad: bool) -> tuple[Any, list[Any]] | None:
        """Sets containing the head's output over the box ``xs`` (backend intervals, one per
        variable) and, if ``grad``, each partial derivative (item 4); None if not bounded."""
        bk = self.bk
        w = self._weights(xs)
        if w is None:
            return None
        wlo, whi = w
        vals = []
        for j in range(self.m):
            s = self.V0[j]
            for v, (c, nz) in enumerate(self.V1[j]):
                if nz:
                    s = s + _mul(bk, c, xs[v])
            vals.append(s)
        o = _lp_set(bk, wlo, whi, vals)
        if o is None:
            return None
        lo = max(bk.lb(o), min(bk.lb(s) for s in vals))
        hi = min(bk.ub(o), max(bk.ub(s) for s in vals))
        if not lo <= hi:
            return None
        O = bk.interval(lo, hi)
        if not grad:
            return O, []
        dev = [s - O for s in vals]
        # Second constant b_v: B_{R,v} of the column R with the largest weight bound, so
        # that the term of a dominant column vanishes exactly (a heuristic choice).
        R = max(range(self.m), key=lambda j: bk.ub(whi[j]))
        de = []
        for v in range(self.D):
            g1 = _lp_set(bk, wlo, whi, [self.V1[j][v][0] for j in range(self.m)])
            if g1 is None:
                return None
            lo1, hi1 = max(bk.lb(g1), self.V1_lo[v]), min(bk.ub(g1), self.V1_hi[v])
            lo2, hi2 = -math.inf, math.inf
            for Bs in ([self.Bs[j][v] for j in range(self.m)],
                       [self.d[j][R][1][v][0] for j in range(self.m)]):  # B_j - B_R
                g2 = _lp_set(bk, wlo, whi, [_mul(bk, dev[j], Bs[j]) for j in range(self.m)])
                if g2 is not None:
                    lo2, hi2 = max(lo2, bk.lb(g2)), min(hi2, bk.ub(g2))
            if not (lo1 <= hi1 and lo2 <= hi2 and math.isfinite(lo2) and math.isfinite(hi2)):
                return None
            de.append(bk.interval(lo1, hi1) + bk.interval(lo2, hi2))
        return O, de


def _head_set(bk: Any, ch: CheckedHead, X: list[tuple[float, float]], refine: bool
              ) -> Any | None:
    """A set containing the head's output over the box (intersection over references)."""
    ms = ch.monotone_set(X)
    if ms is not None:
        return ms
    shifts: list[tuple[int, ...] | None] = [None]
    if refine and ch.grid is not None:
        k = len(ch.grid.axes)
        shifts += [tuple(sg if b == a else 0 for b in range(k)) for a in range(k)
                   for sg in (-1, 1)]
    lo, hi, got = -math.inf, math.inf, False
    for sh, wide in [(sh, False) for sh in shifts] + ([(None, True)] if refine else []):
        it = ch.items(X, sh, wide)
        s = None if it is None else _lp_set(bk, it[0], it[1], it[2])
        if s is not None:
            lo, hi, got = max(lo, bk.lb(s)), min(hi, bk.ub(s)), True
    if not got or not lo <= hi:
        return None
    return bk.interval(lo, hi)


class ComposedChecker:
    """Per-box bounds for one output entry of a two-layer network in one backend."""

    def __init__(self, bk: Any, ops: Any, out: ComposedOutput,
                 grids1: list[list[Grid | None]], grids2: list[Grid | None],
                 target: Expr, gradient: list[Expr] | None) -> None:
        self.bk, self.ops = bk, ops
        self.D = len(out.features[0].b) if out.features else 0
        self.features = []
        for f, gs in zip(out.features, grids1):
            heads = [CheckedHead(bk, h, g) for h, g in zip(f.anchor, gs)]
            gathers = [_Gather(bk, g, self.D) for g in f.gather]
            mixes = [_Mix(bk, g, self.D) for g in f.mix]
            self.features.append((bk.rational(f.a), [bk.rational(b) for b in f.b],
                                  [b != 0 for b in f.b], heads, gathers, mixes))
        self.omega = [(bk.rational(w), w != 0) for w in out.omega]
        self.heads2 = [CheckedHead(bk, h, g) for h, g in zip(out.heads, grids2)]
        self.const = bk.rational(out.const)
        self.target, self.gradient = target, gradient

    def _f(self, expr: Expr, X: list[tuple[float, float]]) -> Any | None:
        try:
            val = evaluate(expr, [self.ops.point(lo, hi) for lo, hi in X], self.ops)
        except EnclosureFailure:
            return None
        return val if math.isfinite(self.bk.lb(val)) and math.isfinite(self.bk.ub(val)) else None

    def _box(self, X: list[tuple[float, float]]) -> list[Any]:
        return [self.bk.interval(lo, hi) for lo, hi in X]

    def feature_sets(self, X: list[tuple[float, float]], refine: bool = False
                     ) -> list[Any] | None:
        """Sets containing each feature's values over the box (None if not bounded)."""
        bk = self.bk
        xs = self._box(X)
        out = []
        for a, b, nz, heads, gathers, mixes in self.features:
            s = a
            for v in range(len(X)):
                if nz[v]:
                    s = s + _mul(bk, b[v], xs[v])
            for g in gathers:
                s = s + g.c0
                for v in range(len(X)):
                    s = s + _mul(bk, g.cv[v], xs[v])
            for ch in heads:
                h = _head_set(bk, ch, X, refine)
                if h is None:
                    return None
                s = s + h
            for mx in mixes:
                e = mx.enclose(xs, False)
                if e is None:
                    return None
                s = s + e[0]
            if not (math.isfinite(bk.lb(s)) and math.isfinite(bk.ub(s))):
                return None
            out.append(s)
        return out

    def output_set(self, X: list[tuple[float, float]], refine: bool = False) -> Any | None:
        """A set containing ``N(x)`` for every x in the box (None if not bounded)."""
        bk = self.bk
        phi = self.feature_sets(X, refine)
        if phi is None:
            return None
        total = self.const
        for (w, nz), s in zip(self.omega, phi):
            if nz:
                total = total + _mul(bk, w, s)
        Phi = [(bk.lb(s), bk.ub(s)) for s in phi]
        for ch in self.heads2:
            h = _head_set(bk, ch, Phi, refine)
            if h is None:
                return None
            total = total + h
        return total

    def error_at(self, x: list[float]) -> Any | None:
        """A set containing ``N(x) - f(x)`` at the float point x."""
        X = [(v, v) for v in x]
        o = self.output_set(X)
        f = self._f(self.target, X)
        return None if o is None or f is None else o - f

    def _gradients(self, X: list[tuple[float, float]]) -> list[Any] | None:
        """Sets containing ``d_v N`` over the box, v = 0..D-1 (item 3)."""
        bk = self.bk
        D = len(X)
        phi = self.feature_sets(X)
        if phi is None:
            return None
        J = []  # J[r][v]
        xs = self._box(X)
        for _a, b, _nz, heads, gathers, mixes in self.features:
            row = []
            items = [ch.items(X) for ch in heads]
            if any(it is None for it in items):
                return None
            mix_de = []
            for mx in mixes:
                e = mx.enclose(xs, True)
                if e is None:
                    return None
                mix_de.append(e[1])
            for v in range(D):
                s = b[v]
                for g in gathers:
                    s = s + g.cv[v]
                for it in items:
                    c = covariance(bk, it, [d[v] for d in it[3]])
                    if c is None:
                        return None
                    s = s + c
                for dm in mix_de:
                    s = s + dm[v]
                row.append(s)
            J.append(row)
        grad = []
        for v in range(D):
            s = bk.num(0)
            for (w, nz), Jr in zip(self.omega, J):
                if nz:
                    s = s + _mul(bk, w, Jr[v])
            grad.append(s)
        Phi = [(bk.lb(s), bk.ub(s)) for s in phi]
        for ch in self.heads2:
            it = ch.items(Phi)
            if it is None:
                return None
            for v in range(D):
                slope = []
                for dB in it[3]:
                    acc = bk.num(0)
                    for r, Jr in enumerate(J):
                        acc = acc + _mul(bk, dB[r], Jr[v])
                    slope.append(acc)
                c = covariance(bk, it, slope)
                if c is None:
                    return None
                grad[v] = grad[v] + c
        return grad

    def box_bound(self, X: list[tuple[float, float]], upper: float) -> float:
        """A float ``>= sup_{x in X} |N(x) - f(x)|`` (module docstring); ``inf`` if not
        bounded.  Zeroth order first, then with neighbouring references, then centred."""
        bk = self.bk
        F = self._f(self.target, X)
        best = math.inf
        e_lo, e_hi = -math.inf, math.inf
        if F is not None:
            for refine in (False, True):
                o = self.output_set(X, refine)
                if o is not None:
                    e0 = o - F
                    e_lo, e_hi = max(e_lo, bk.lb(e0)), min(e_hi, bk.ub(e0))
                    best = max(-e_lo, e_hi)
                if best <= upper:
                    return best
        if self.gradient is None:
            return best
        c = [float((Fraction(lo) + Fraction(hi)) / 2) for lo, hi in X]
        c = [min(max(ci, lo), hi) for ci, (lo, hi) in zip(c, X)]
        ec = self.error_at(c)
        if ec is None:
            return best
        grad = self._gradients(X)
        if grad is None:
            return best
        mv = ec
        for v in range(len(X)):
            dF = self._f(self.gradient[v], X)
            if dF is None:
                return best
            step = bk.interval(float_down(Fraction(X[v][0]) - Fraction(c[v])),
                               float_up(Fraction(X[v][1]) - Fraction(c[v])))
            mv = mv + _mul(bk, grad[v] - dF, step)
        lo, hi = max(bk.lb(mv), e_lo), min(bk.ub(mv), e_hi)
        if math.isfinite(lo) and math.isfinite(hi):
            best = min(best, max(-lo, hi, 0.0))
        return best
