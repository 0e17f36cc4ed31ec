"""Rigorous bounds on the error of one attention layer followed by a softmax (checker).

Setting (:mod:`certify.exact_softmax`, verified exactly first): ``N(x) = c + sum_r w_r
softmax(l(x))_r`` with one-layer attention logits ``l_r``.  For an input box X,
:meth:`SoftmaxChecker.box_bound` returns a float ``>= sup_{x in X} |N(x) - f(x)|``:

1. each logit is enclosed over X by :class:`certify.check.box_bound.OutputChecker`;
2. ``p_r = 1 / (1 + sum_{s != r} exp(l_s - l_r))`` is increasing in ``l_r`` and decreasing
   in the other logits, so it lies between ``1 / (1 + sum exp(ub l_s - lb l_r))`` and ``1 /
   (1 + sum exp(lb l_s - ub l_r))``;
3. centred form: ``d_v N = sum_r w_r p_r (d_v l_r - sum_s p_s d_v l_s)`` with ``d_v l_r``
   enclosed by item 6 of :mod:`certify.check.box_bound` (covariances over weight boxes).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from certify.check.backends import float_down, float_up
from certify.check.box_bound import OutputChecker, _mul, covariance
from certify.exact_scores import Grid
from certify.exact_softmax import SoftmaxOutput
from certify.expression import Expr


class SoftmaxChecker:
    """Per-box bounds for one output entry of attention + softmax in one backend."""

    def __init__(self, bk: Any, ops: Any, out: SoftmaxOutput, grids: list[Grid | None],
                 target: Expr, gradient: list[Expr] | None) -> None:
        self.bk, self.ops = bk, ops
        self.logits = [OutputChecker(bk, ops, lg, grids, target, None) for lg in out.logits]
        self.weights = [(bk.rational(w), w != 0) for w in out.weights]
        self.const = bk.rational(out.const)
        self.target, self.gradient = target, gradient

    def _probabilities(self, ls: list[Any]) -> list[Any]:
        bk = self.bk
        out = []
        for r, lr in enumerate(ls):
            s_hi, s_lo = bk.num(0), bk.num(0)
            for s, l_s in enumerate(ls):
                if s != r:
                    s_hi = s_hi + bk.exp(bk.num(bk.ub(l_s)) - bk.num(bk.lb(lr)))
                    s_lo = s_lo + bk.exp(bk.num(bk.lb(l_s)) - bk.num(bk.ub(lr)))
            lo = bk.lb(1 / (1 + s_hi))
            hi = bk.ub(1 / (1 + s_lo))
            out.append(bk.interval(max(lo, 0.0), min(hi, 1.0)))
        return out

    def output_set(self, X: list[tuple[float, float]], refine: bool = False) -> Any | None:
        """A set containing ``N(x)`` for every x in the box (None if not bounded)."""
        ls = []
        for lg in self.logits:
            s = lg.output_set(X, refine)
            if s is None or not (math.isfinite(self.bk.lb(s)) and math.isfinite(self.bk.ub(s))):
                return None
            ls.append(s)
        total = self.const
        for (w, nz), p in zip(self.weights, self._probabilities(ls)):
            if nz:
                total = total + _mul(self.bk, w, p)
        return total

    def error_at(self, x: list[float]) -> Any | None:
        X = [(v, v) for v in x]
        o = self.output_set(X)
        f = self.logits[0]._f(self.target, X)
        return None if o is None or f is None else o - f

    def _logit_gradient(self, lg: OutputChecker, X, v: int) -> Any | None:
        bk = self.bk
        dv = bk.num(0)
        for ch in lg.heads:
            it = ch.items(X)
            if it is None:
                return None
            cov = covariance(bk, it, [b[v] for b in it[3]])
            if cov is None:
                return None
            dv = dv + cov
        return dv

    def box_bound(self, X: list[tuple[float, float]], upper: float) -> float:
        """A float ``>= sup_{x in X} |N(x) - f(x)|`` (module docstring); ``inf`` if not
        bounded.  Zeroth order (then with neighbouring references), then centred."""
        bk = self.bk
        F = self.logits[0]._f(self.target, X)
        best = math.inf
        e_lo, e_hi = -math.inf, math.inf
        if F is None:
            return best
        ls = None
        for refine in (False, True):
            cur = []
            for lg in self.logits:
                s = lg.output_set(X, refine)
                if s is None:
                    cur = None
                    break
                cur.append(s)
            if cur is None:
                continue
            ls = cur
            total = self.const
            for (w, nz), p in zip(self.weights, self._probabilities(ls)):
                if nz:
                    total = total + _mul(bk, w, p)
            e0 = total - F
            e_lo, e_hi = max(e_lo, bk.lb(e0)), min(e_hi, bk.ub(e0))
            best = max(-e_lo, e_hi)
            if best <= upper:
                return best
        if self.gradient is None or ls is None:
            return best
        c = [float((Fraction(lo) + Fraction(hi)) / 2) for lo, hi in X]
        c = [min(max(ci, lo), hi) for ci, (lo, hi) in zip(c, X)]
        ec = self.error_at(c)
        if ec is None:
            return best
        P = self._probabilities(ls)
        mv = ec
        for v in range(len(X)):
            dF = self.logits[0]._f(self.gradient[v], X)
            if dF is None:
                return best
            dl = [self._logit_gradient(lg, X, v) for lg in self.logits]
            if any(d is None for d in dl):
                return best
            mean = bk.num(0)
            for p, d in zip(P, dl):
                mean = mean + _mul(bk, p, d)
            dN = bk.num(0)
            for (w, nz), p, d in zip(self.weights, P, dl):
                if nz:
                    dN = dN + _mul(bk, w, _mul(bk, p, d - mean))
            step = bk.interval(float_down(Fraction(X[v][0]) - Fraction(c[v])),
                               float_up(Fraction(X[v][1]) - Fraction(c[v])))
            mv = mv + _mul(bk, dN - dF, step)
        lo, hi = max(bk.lb(mv), e_lo), min(bk.ub(mv), e_hi)
        if math.isfinite(lo) and math.isfinite(hi):
            best = min(best, max(-lo, hi, 0.0))
        return best
