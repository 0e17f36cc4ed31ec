"""Rigorous enclosures of one attention layer followed by a softmax, over input boxes
(engine).

Setting (:mod:`certify.exact_softmax`): ``N(x) = c + sum_r w_r p_r(x)`` with ``p =
softmax(l(x))`` and logits ``l_r`` that are one-layer attention outputs.  Per box:

1. every logit is enclosed with its partial derivatives (:mod:`certify.box_enclosure`);
2. ``p_r = 1 / (1 + sum_{s != r} exp(l_s - l_r))`` increases in ``l_r`` and decreases in
   every other logit, so ``p_r`` lies between ``1 / (1 + sum exp(hi l_s - lo l_r))`` and
   ``1 / (1 + sum exp(lo l_s - hi l_r))``;
3. ``d_v p_r = p_r (d_v l_r - sum_s p_s d_v l_s)`` (the softmax Jacobian), enclosed by
   interval arithmetic, gives the centred form of :func:`certify.box_enclosure.error_bounds`.

Outward rounded throughout; the checker (:mod:`certify.check.softmax_bound`) repeats it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from certify import intervals as iv
from certify.box_enclosure import (
    Pair,
    PreparedHead,
    PreparedOutput,
    _enclose,
    _network_at,
    prepare_output,
)
from certify.exact_scores import Grid
from certify.exact_softmax import SoftmaxOutput


@dataclass
class PreparedSoftmax:
    token: int
    row: int
    logits: list[PreparedOutput]
    weights: list[tuple[float, float]]
    out_const: tuple[float, float]

    @property
    def const(self) -> tuple[float, float]:
        return self.out_const

    @property
    def heads(self) -> list[PreparedHead]:
        return [h for lg in self.logits for h in lg.heads]

    def network_at(self, lo: np.ndarray, hi: np.ndarray, grad: bool):
        return softmax_at(self, lo, hi, grad)


def prepare_softmax(out: SoftmaxOutput, grids: list[Grid | None]) -> PreparedSoftmax:
    """Float enclosures of the exact data; ``grids`` per head (the same for every logit)."""
    logits = [prepare_output(lg, grids) for lg in out.logits]
    return PreparedSoftmax(out.token, out.row, logits, [_enclose(w) for w in out.weights],
                           _enclose(out.const))


def _probabilities(ls: list[Pair]) -> list[Pair]:
    out = []
    for r, (lr_lo, lr_hi) in enumerate(ls):
        s_hi = np.zeros_like(lr_lo)
        s_lo = np.zeros_like(lr_lo)
        for s, (ls_lo, ls_hi) in enumerate(ls):
            if s == r:
                continue
            with np.errstate(over="ignore", invalid="ignore"):
                s_hi = iv.up(s_hi + iv.exp_up(iv.up(ls_hi - lr_lo)))
                s_lo = iv.down(s_lo + iv.exp_down(iv.down(ls_lo - lr_hi)))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            p_lo = iv.down(1.0 / iv.up(1.0 + s_hi))
            p_hi = iv.up(1.0 / iv.down(1.0 + np.maximum(s_lo, 0.0)))
        p_lo = np.clip(np.where(np.isnan(p_lo), 0.0, p_lo), 0.0, 1.0)
        p_hi = np.clip(np.where(np.isnan(p_hi), 1.0, p_hi), 0.0, 1.0)
        out.append((p_lo, p_hi))
    return out


def softmax_at(ps: PreparedSoftmax, lo: np.ndarray, hi: np.ndarray, grad: bool):
    """Enclosures of ``N`` and (if ``grad``) of ``d N / d x_v`` over each box."""
    N, D = lo.shape
    vals, ders = [], []
    for lg in ps.logits:
        o, de = _network_at(lg, lo, hi, grad)
        vals.append(o)
        ders.append(de)
    P = _probabilities(vals)
    o = (np.full(N, ps.out_const[0]), np.full(N, ps.out_const[1]))
    for (wl, wh), p in zip(ps.weights, P):
        if wl == 0.0 and wh == 0.0:
            continue
        o = iv.add(*o, *iv.mul(np.full(N, wl), np.full(N, wh), *p))
    de = [(np.zeros(N), np.zeros(N)) for _ in range(D)]
    if grad:
        for v in range(D):
            mean = (np.zeros(N), np.zeros(N))
            for p, d in zip(P, ders):
                mean = iv.add(*mean, *iv.mul(*p, *d[v]))
            for (wl, wh), p, d in zip(ps.weights, P, ders):
                if wl == 0.0 and wh == 0.0:
                    continue
                dp = iv.mul(*p, *iv.sub(*d[v], *mean))
                de[v] = iv.add(*de[v], *iv.mul(np.full(N, wl), np.full(N, wh), *dp))
    return o, de
