"""Rigorous enclosures of a two-layer attention network over input boxes (engine).

Setting (:mod:`certify.exact_two_layer`): an output entry is ``N(x) = c + sum_r omega_r
phi_r(x) + sum_g head_g(phi(x))`` with layer-1 features ``phi_r`` (one-layer heads with
scores affine in x, gather heads with constant scores, an affine part) and layer-2 heads
whose scores are affine in the features.  For a batch of input boxes ``X``:

1. Each feature is enclosed over X with its partial derivatives, by the one-layer method
   (:mod:`certify.box_enclosure`: near anchors, far tail, weight boxes, LP) for its anchor
   heads; a gather head's weights ``softmax(A)`` are constants, enclosed once in Arb, so it
   adds ``c0 + sum_v c_v x_v`` with interval coefficients.
2. The features' ranges form a box ``Phi`` in feature space; every layer-2 head is enclosed
   over ``Phi`` by the same one-layer method, which holds for every feature vector in
   ``Phi`` and so for every ``phi(x)``, x in X.
3. Derivatives by the chain rule: ``d head_g / d x_v = Cov_w(sum_r (B_r - B_{R,r}) d_v
   phi_r, V)``, i.e. the covariance of item 6 of :mod:`certify.box_enclosure` with each
   item's score slope ``(B - B_R) . J_v`` enclosed from the feature Jacobian ``J`` over X.
4. The error is bounded as in :func:`certify.box_enclosure.error_bounds` (zeroth order
   intersected with the centred form), with this network evaluation.

Everything is outward rounded; the checker (:mod:`certify.check.composed_bound`) repeats
the method independently.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from flint import arb, ctx, fmpq

from certify import intervals as iv
from certify.box_enclosure import (
    HeadBoxes,
    Pair,
    PreparedHead,
    PreparedOutput,
    _network_at,
    _sum_heads,
    group_output,
    head_boxes,
    head_covariance,
    prepare_output,
)
from certify.exact_scores import Grid, OutputScores
from certify.exact_two_layer import ComposedOutput, GatherHead


def _arb_pair(x: arb) -> tuple[float, float]:
    lo = float(x.lower())
    hi = float(x.upper())
    # arb's lower()/upper() are exact ball ends; float() rounds to nearest: widen one ulp.
    return float(np.nextafter(lo, -np.inf)), float(np.nextafter(hi, np.inf))


def _arb(q: Fraction) -> arb:
    """An Arb ball containing the rational q (exact when q is dyadic and short)."""
    return arb(fmpq(q.numerator, q.denominator))


def gather_coefficients(g: GatherHead, D: int) -> tuple[arb, list[arb]]:
    """Arb enclosures of ``sum_j w_j V0_j`` and ``sum_j w_j V1_{j,v}`` with ``w = softmax(A)``."""
    old = ctx.prec
    ctx.prec = 160
    try:
        top = max(g.A)
        E = [_arb(a - top).exp() for a in g.A]
        S = sum(E, arb(0))
        w = [e / S for e in E]
        q = _arb
        c0 = sum((wj * q(v) for wj, v in zip(w, g.V0) if v), arb(0))
        cv = [sum((wj * q(v[k]) for wj, v in zip(w, g.V1) if v[k]), arb(0)) for k in range(D)]
        return c0, cv
    finally:
        ctx.prec = old


@dataclass
class PreparedFeature:
    anchor: PreparedOutput  # anchor heads; const = a + gather constants (enclosed)
    lin: list[tuple[float, float]]  # coefficient enclosure of x_v


@dataclass
class PreparedComposed:
    token: int
    row: int
    D: int
    features: list[PreparedFeature]
    omega: list[tuple[float, float]]
    layer2: PreparedOutput  # heads over the feature variables; const = c

    @property
    def const(self) -> tuple[float, float]:
        return self.layer2.const

    @property
    def heads(self) -> list[PreparedHead]:
        return self.layer2.heads + [h for f in self.features for h in f.anchor.heads]

    def network_at(self, lo: np.ndarray, hi: np.ndarray, grad: bool):
        """Enclosures of ``N`` and (if ``grad``) of ``d N / d x_v`` over each box."""
        return composed_at(self, lo, hi, grad)


def _enc(q: Fraction) -> tuple[float, float]:
    from certify.box_enclosure import _enclose
    return _enclose(q)


def prepare_composed(out: ComposedOutput, grids1: list[list[Grid | None]],
                     grids2: list[Grid | None]) -> PreparedComposed:
    """Float enclosures of the exact data; ``grids1[r]`` per anchor head of feature r."""
    D = len(out.features[0].b) if out.features else 0
    feats = []
    for f, gs in zip(out.features, grids1):
        const = _arb(f.a)
        lin = [_arb(b) for b in f.b]
        for g in f.gather:
            c0, cv = gather_coefficients(g, D)
            const += c0
            lin = [a + b for a, b in zip(lin, cv)]
        prep = prepare_output(OutputScores(out.token, out.row, f.anchor, Fraction(0)), gs)
        prep.const = _arb_pair(const)
        feats.append(PreparedFeature(prep, [_arb_pair(v) for v in lin]))
    layer2 = prepare_output(OutputScores(out.token, out.row, out.heads, out.const), grids2)
    return PreparedComposed(out.token, out.row, D, feats, [_enc(w) for w in out.omega], layer2)


def _scale(pair: tuple[float, float], x: Pair) -> Pair:
    return iv.mul(np.full_like(x[0], pair[0]), np.full_like(x[0], pair[1]), *x)


def features_at(pc: PreparedComposed, lo: np.ndarray, hi: np.ndarray, grad: bool):
    """Per feature: enclosure over each box and (if ``grad``) of its partial derivatives."""
    vals, jacs = [], []
    for f in pc.features:
        o, de = _network_at(f.anchor, lo, hi, grad)
        for v, c in enumerate(f.lin):
            if c == (0.0, 0.0):
                continue
            o = iv.add(*o, *_scale(c, (lo[:, v], hi[:, v])))
            if grad:
                de[v] = iv.add(*de[v], np.full(len(lo), c[0]), np.full(len(lo), c[1]))
        vals.append(o)
        jacs.append(de)
    return vals, jacs


def _chain(hb: HeadBoxes, J: list[list[Pair]], H: int, D: int) -> HeadBoxes:
    """The head's items with score slopes in x: ``sum_r dB[..., r] J[r][v]`` (enclosed)."""
    Blo, Bhi = hb.dB
    R = Blo.shape[2]
    out_lo = np.zeros(Blo.shape[:2] + (D,))
    out_hi = np.zeros(Blo.shape[:2] + (D,))
    for v in range(D):
        acc = (np.zeros(Blo.shape[:2]), np.zeros(Blo.shape[:2]))
        for r in range(R):
            jl, jh = J[r][v]
            if H > 1:
                jl, jh = np.repeat(jl, H), np.repeat(jh, H)
            acc = iv.add(*acc, *iv.mul(Blo[:, :, r], Bhi[:, :, r], jl[:, None], jh[:, None]))
        out_lo[:, :, v], out_hi[:, :, v] = acc
    return HeadBoxes(hb.wlo, hb.whi, hb.V, (out_lo, out_hi), hb.V_ref)


def composed_at(pc: PreparedComposed, lo: np.ndarray, hi: np.ndarray, grad: bool):
    """Enclosure of the output over each box and of its partial derivatives (module doc)."""
    N, D = lo.shape
    vals, jacs = features_at(pc, lo, hi, grad)
    o = (np.full(N, pc.const[0]), np.full(N, pc.const[1]))
    de = [(np.zeros(N), np.zeros(N)) for _ in range(D)]
    for w, val, jac in zip(pc.omega, vals, jacs):
        if w == (0.0, 0.0):
            continue
        o = iv.add(*o, *_scale(w, val))
        if grad:
            for v in range(D):
                de[v] = iv.add(*de[v], *_scale(w, jac[v]))
    if not pc.layer2.heads:
        return o, de
    Plo = np.stack([v[0] for v in vals], 1) if vals else np.zeros((N, 0))
    Phi = np.stack([v[1] for v in vals], 1) if vals else np.zeros((N, 0))
    bad = ~(np.isfinite(Plo) & np.isfinite(Phi))
    Plo, Phi = np.where(bad, -1e300, Plo), np.where(bad, 1e300, Phi)
    anybad = np.any(bad, axis=1)
    for ph in pc.layer2.heads:
        H = ph.n_heads
        rlo, rhi = (Plo, Phi) if H == 1 else (np.repeat(Plo, H, 0), np.repeat(Phi, H, 0))
        hidx = np.tile(np.arange(H), N)
        oh, hb = group_output(ph, rlo, rhi, hidx)
        o = iv.add(*o, *_sum_heads(oh, N, H))
        if grad:
            if hb is None:
                hb = head_boxes(ph, rlo, rhi, hidx)
            hx = _chain(hb, jacs, H, D)
            for v in range(D):
                de[v] = iv.add(*de[v], *_sum_heads(head_covariance(hx, v), N, H))
    if np.any(anybad):
        o = (np.where(anybad, -np.inf, o[0]), np.where(anybad, np.inf, o[1]))
        de = [(np.where(anybad, -np.inf, a), np.where(anybad, np.inf, b)) for a, b in de]
    return o, de
