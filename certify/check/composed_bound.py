"""Rigorous bounds on the error of a two-layer attention network over an input box (checker).

Setting (:mod:`certify.exact_two_layer`, verified exactly before this module runs): output
``N(x) = c + sum_r omega_r phi_r(x) + sum_g head_g(phi(x))``, each feature ``phi_r = a_r +
b_r . x + sum (anchor heads with scores affine in x) + sum (gather heads with constant
scores and values affine in x)``, each layer-2 head with scores affine in the features.
For an input box X, :meth:`ComposedChecker.box_bound` returns a float ``>= sup_{x in X}
|N(x) - f(x)|``:

1. Every feature is enclosed over X (anchor heads: items 1-5 of
   :mod:`certify.check.box_bound`; a gather head's weights ``softmax(A)`` are constants,
   computed in the backend, so it contributes ``sum_j w_j (V0_j + V1_j . x)`` evaluated on
   the box).  Their ranges form a box ``Phi`` (outward float ends).
2. Every layer-2 head is enclosed over ``Phi`` by the same items: the enclosure holds for
   every feature vector in ``Phi``, in particular for ``phi(x)``, x in X.
3. Centred form: ``d_v N = sum_r omega_r d_v phi_r + sum_g Cov_{w^g}(sum_r (B_r - B_{R,r})
   d_v phi_r, V)`` (chain rule; the scores of head g move with x at rate ``B . d_v phi``),
   with every ``d_v phi_r`` enclosed over X by item 6 of :mod:`certify.check.box_bound`.
   Then ``e(X) <= e(c) + sum_v (d_v N - d_v f)(X) (X_v - c_v)``, intersected with the
   zeroth-order enclosure ``N(X) - f(X)``.

No float operation is trusted: backend arithmetic is inclusion-isotone and every float
taken from it is an outward end (``lb``/``ub``).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from certify.check.backends import float_down, float_up
from certify.check.box_bound import CheckedHead, _lp_set, _mul, covariance
from certify.exact_scores import Grid
from certify.exact_two_layer import ComposedOutput, GatherHead
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
            self.features.append((bk.rational(f.a), [bk.rational(b) for b in f.b],
                                  [b != 0 for b in f.b], heads, gathers))
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
        for a, b, nz, heads, gathers in self.features:
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
        for _a, b, _nz, heads, gathers in self.features:
            row = []
            items = [ch.items(X) for ch in heads]
            if any(it is None for it in items):
                return None
            for v in range(D):
                s = b[v]
                for g in gathers:
                    s = s + g.cv[v]
                for it in items:
                    c = covariance(bk, it, [d[v] for d in it[3]])
                    if c is None:
                        return None
                    s = s + c
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
