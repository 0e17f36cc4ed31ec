"""Rigorous enclosures of a two-layer attention network over input boxes (engine).

Setting (:mod:`certify.exact_two_layer`): an output entry is ``N(x) = c + sum_r omega_r
phi_r(x) + sum_g head_g(phi(x))`` with layer-1 features ``phi_r`` (one-layer heads with
scores affine in x, gather heads with constant scores, mix heads with scores and values
affine in x, an affine part) and layer-2 heads whose scores are affine in the features.
For a batch of input boxes ``X``:

1. Each feature is enclosed over X with its partial derivatives, by the one-layer method
   (:mod:`certify.box_enclosure`: near anchors, far tail, weight boxes, LP) for its anchor
   heads; a gather head's weights ``softmax(A)`` are constants, enclosed once in Arb, so it
   adds ``c0 + sum_v c_v x_v`` with interval coefficients.  A mix head (scores ``s_j = A_j
   + B_j . x``, values ``v_j = V0_j + V1_j . x``, m key columns) is enclosed directly
   (:func:`mix_at`):

   a. ``w_j = 1 / sum_l exp(d_{l,j})`` with ``d_{l,j} = (A_l - A_j) + (B_l - B_j) . x``,
      each difference enclosed over X from its exact coefficients (``d_{j,j} = 0``), so
      ``w_j in [1 / sum_l exp(hi d_{l,j}), 1 / sum_l exp(lo d_{l,j})]``, clipped to [0, 1];
   b. the output ``o = sum_j w_j v_j`` is bounded by LP duality over these weight boxes
      with ``sum w = 1`` (:func:`certify.enclosure.lp_range`), with ``v_j`` enclosed over X,
      and intersected with ``[min_j lo v_j, max_j hi v_j]`` (a convex combination);
   c. ``d o / d x_v = sum_j w_j V1_{j,v} + sum_j w_j (v_j - o) (B_{j,v} - b_v)`` for any
      constant ``b_v`` (``d_v w_j = w_j (B_{j,v} - sum_l w_l B_{l,v})``, and ``sum_j w_j
      (v_j - o) = 0``); both sums are bounded by the LP with ``v_j - o`` enclosed as ``v_j(X)
      - o(X)``, the first also intersected with ``[min_j V1_{j,v}, max_j V1_{j,v}]``, the
      second intersected over two choices of ``b_v``: the middle of the ``B_{j,v}``, and
      ``B_{R,v}`` of the column R with the largest weight bound (its term then vanishes).
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

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from flint import arb, ctx, fmpq

from certify import intervals as iv
from certify.box_enclosure import (
    HeadBoxes,
    Pair,
    PreparedHead,
    PreparedOutput,
    _enclose,
    _enclose_all,
    _network_at,
    _sum_heads,
    group_output,
    head_boxes,
    head_covariance,
    prepare_output,
)
from certify.enclosure import lp_range
from certify.exact_scores import Grid, OutputScores
from certify.exact_two_layer import ComposedOutput, GatherHead, MixHead


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
class PreparedMix:
    """Float enclosures of a mix head's exact data (m key columns, D variables)."""

    head: int
    dA: Pair  # (m, m): A_l - A_j at [l, j]
    dB: Pair  # (m, m, D): B_l - B_j at [l, j]
    V0: Pair  # (m,)
    V1: Pair  # (m, D)
    V1_range: Pair  # (D,): floats <= min_j V1_{j,v} and >= max_j V1_{j,v}
    Bs: Pair  # (m, D): B_{j,v} - b_v with b_v the float nearest the middle of B_{:,v}


def _mid_float(qs: list[Fraction]) -> Fraction:
    """A float (as an exact rational) near the middle of the rationals ``qs``."""
    return Fraction(float((min(qs) + max(qs)) / 2))


def prepare_mix(g: MixHead, D: int) -> PreparedMix:
    """Enclosures of the exact differences and values of a mix head (module doc, item 1)."""
    m = len(g.A)
    dA = _enclose_all([g.A[l] - g.A[j] for l in range(m) for j in range(m)])
    dB = _enclose_all([g.B[l][v] - g.B[j][v] for l in range(m) for j in range(m)
                       for v in range(D)])
    V1 = _enclose_all([g.V1[j][v] for j in range(m) for v in range(D)])
    lo_v = [iv.frac_down(min(g.V1[j][v] for j in range(m))) for v in range(D)]
    hi_v = [iv.frac_up(max(g.V1[j][v] for j in range(m))) for v in range(D)]
    b = [_mid_float([g.B[j][v] for j in range(m)]) for v in range(D)]
    Bs = _enclose_all([g.B[j][v] - b[v] for j in range(m) for v in range(D)])
    shape = lambda p, *sh: (p[0].reshape(sh), p[1].reshape(sh))  # noqa: E731
    return PreparedMix(g.head, shape(dA, m, m), shape(dB, m, m, D), _enclose_all(g.V0),
                       shape(V1, m, D), (np.array(lo_v), np.array(hi_v)), shape(Bs, m, D))


def _affine_over(c: Pair, coef: Pair, lo: np.ndarray, hi: np.ndarray) -> Pair:
    """Enclosure of ``c + sum_v coef[..., v] x_v`` over each box; ``c``, ``coef[..., v]``
    broadcast against a trailing box axis inserted after the batch axis."""
    N, D = lo.shape
    extra = c[0].ndim
    idx = (slice(None),) + (None,) * extra
    out = (np.broadcast_to(c[0], (N,) + c[0].shape).copy(),
           np.broadcast_to(c[1], (N,) + c[1].shape).copy())
    for v in range(D):
        clo, chi = coef[0][..., v], coef[1][..., v]
        if not (np.any(clo != 0) or np.any(chi != 0)):
            continue
        out = iv.add(*out, *iv.mul(clo[None], chi[None], lo[idx + (v,)], hi[idx + (v,)]))
    return out


def mix_at(pm: PreparedMix, lo: np.ndarray, hi: np.ndarray, grad: bool):
    """Enclosures of a mix head's output and (if ``grad``) of its partial derivatives.

    Returns ``(o, de)``: ``o`` contains ``sum_j softmax_j(A + B . x) (V0_j + V1_j . x)`` for
    every x in box i, and ``de[v]`` its derivative in ``x_v`` (module doc, item 1); both
    ``(-inf, inf)`` where nothing finite is proved.
    """
    N, D = lo.shape
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        dlo, dhi = _affine_over(pm.dA, pm.dB, lo, hi)  # (N, l, j)
        Slo = iv.sum_down(iv.exp_down(dlo), axis=1)  # the l = j term is [1-, 1+]
        Shi = iv.sum_up(iv.exp_up(dhi), axis=1)
        wlo = np.clip(iv.down(1.0 / Shi), 0.0, 1.0)
        whi = np.clip(iv.up(1.0 / Slo), 0.0, 1.0)
        # Where an exponential is NaN (a non-finite box), the weights are unknown.
        wlo = np.where(np.isnan(wlo), 0.0, wlo)
        whi = np.where(np.isnan(whi), 1.0, whi)
        vlo, vhi = _affine_over(pm.V0, (pm.V1[0], pm.V1[1]), lo, hi)  # (N, j)
        olo, ohi = lp_range(wlo, whi, vlo, vhi)
        olo = np.maximum(olo, vlo.min(axis=1))
        ohi = np.minimum(ohi, vhi.max(axis=1))
        de = []
        if grad:
            m = wlo.shape[1]
            u = iv.sub(vlo, vhi, olo[:, None], ohi[:, None])
            # B_R of the column with the largest weight bound: its term vanishes exactly.
            R = np.argmax(whi, axis=1)
            for v in range(D):
                g1 = lp_range(wlo, whi, np.broadcast_to(pm.V1[0][:, v], (N, m)),
                              np.broadcast_to(pm.V1[1][:, v], (N, m)))
                g1 = (np.maximum(g1[0], pm.V1_range[0][v]), np.minimum(g1[1], pm.V1_range[1][v]))
                g2 = lp_range(wlo, whi, *iv.mul(*u, pm.Bs[0][None, :, v], pm.Bs[1][None, :, v]))
                BR = (pm.dB[0][:, R, v].T, pm.dB[1][:, R, v].T)  # [i, j]: B_j - B_{R_i}
                g3 = lp_range(wlo, whi, *iv.mul(*u, *BR))
                g2 = (np.maximum(g2[0], g3[0]), np.minimum(g2[1], g3[1]))
                de.append(iv.add(*g1, *g2))
    bad = lambda p: np.isnan(p[0]) | np.isnan(p[1]) | (p[0] > p[1])  # noqa: E731
    o = (olo, ohi)
    out_o = (np.where(bad(o), -np.inf, olo), np.where(bad(o), np.inf, ohi))
    out_de = [(np.where(bad(p), -np.inf, p[0]), np.where(bad(p), np.inf, p[1])) for p in de]
    return out_o, out_de


@dataclass
class PreparedFeature:
    anchor: PreparedOutput  # anchor heads; const = a + gather constants (enclosed)
    lin: list[tuple[float, float]]  # coefficient enclosure of x_v
    mix: list[PreparedMix] = field(default_factory=list)


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
        feats.append(PreparedFeature(prep, [_arb_pair(v) for v in lin],
                                     [prepare_mix(g, D) for g in f.mix]))
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
        for pm in f.mix:
            om, dm = mix_at(pm, lo, hi, grad)
            o = iv.add(*o, *om)
            if grad:
                de = [iv.add(*a, *b) for a, b in zip(de, dm)]
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
