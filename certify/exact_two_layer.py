"""Exact structure of a two-layer attention network with skip connections (trusted core).

Shared by the engine and the checker, like :mod:`certify.exact_scores`: every stored weight
is an exact rational and everything here is computed with ``fractions.Fraction``.

Network shape (:func:`analyse_two_layer`).  Layers: an affine first layer ``Z0 = c + M X``
(sequence-wise or token-wise), attention ``Z1 = Z0 + Attn1(Z0)`` and ``Z2 = Z1 + Attn2(Z1)``
(both with the skip connection), a column selection, and a token-wise affine output map
``Y = W Z2[:, col] + b``.  The input has ``D = d n <= 3`` variables ``x`` (entry ``X[i, k]``
is variable ``k d + i``).  Conditions, all checked exactly on the structural zeros:

* Layer 1, per head h and query column ``col``: with the query ``q(x) = q0 + sum_v x_v Q_v``
  (``q0 = W_Q c_col``, ``Q_v = W_Q M[:, col, v]``) and key ``K_j(x) = K0_j + sum_v x_v
  dK_{j,v}`` (``K0_j = W_K c_j``, ``dK_{j,v} = W_K M[:, j, v]``): ``W_Q`` is zero on every
  row of ``Z0[:, col]`` that depends on x (a *varying* row), or ``W_K`` is zero on every
  row that varies in some column; otherwise the head's scores may be quadratic in x and
  the network is refused.  Then all ``Q_v`` or all ``dK_{j,v}`` are exactly zero, so the
  score of key column j is exactly affine,

      ``s_j(x) = A_j + B_j . x``,  ``A_j = q0 . K0_j``,  ``B_j[v] = Q_v . K0_j + q0 . dK_{j,v}``.

  The head's values in a row r are affine, ``V0_j + V1_j . x`` (exact).  Per feature row
  the head is kept as: a *gather* head if its scores are constant at ``col`` (all ``B_j =
  0``; :class:`GatherHead`); an *anchor* head if its scores vary and its values in row r
  are constant (all ``V1_j = 0``; :class:`~certify.exact_scores.HeadScores`); a *mix* head
  if both vary (:class:`MixHead`, e.g. a soft maximum ``sum_j softmax_j(beta x_j +
  mask_j) x_j`` over the tokens a positional mask allows).
* Layer 2 keys and values read no row that layer 1 writes (a row where some ``W_O`` of
  layer 1 is non-zero) and no varying row, so they are constants.
* At the query column, a row of ``Z1`` that layer 1 does not write and that does not vary
  is a constant; every other row r read by a layer-2 query or by the output map is a
  *feature* ``phi_r(x) = c[r, col] + M[r, col] . x + sum_h sum_j w^h_j(x) V^h_j(x)[r]``.

Then, for output entry (token, row ``o``), with features ``phi = (phi_r)_r``,

    ``N(x) = const + sum_r omega_r phi_r(x) + sum_g sum_j softmax_j(A^g_j + B^g_j . phi(x)) V^g_j``

with ``phi_r(x) = a_r + b_r . x + sum (anchor heads) + sum (gather heads) + sum (mix
heads)``, each head term ``sum_j softmax_j(A_j + B_j . x) (V0_j + V1_j . x)`` in row r, and
where ``omega_r = W[o, r]``, ``V^g_j = (W W_O^g W_V^g c_j)[o]`` and ``B^g_j[r] = K^g_j .
W_Q^g[:, r]`` are exact rationals (the layer-2 scores are affine in the features).  This is
the composition a certificate encloses over input boxes: layer 1 per feature over the box,
then layer 2 over the box of feature values (:mod:`certify.composed_enclosure`,
:mod:`certify.check.composed_bound`).  Layer-2 heads and layer-1 contributions whose values
are all exactly zero add exactly zero and are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from certify.exact_scores import (
    MAX_VARIABLES,
    HeadScores,
    StructureError,
    _first_layer,
    _matvec,
    _q,
)
from certify.network import Attention, AttentionNet, SelectColumns, TokenAffine


@dataclass(frozen=True)
class GatherHead:
    """A layer-1 head with constant scores ``A_j`` and values ``V0_j + V1_j . x``."""

    head: int
    A: list[Fraction]
    V0: list[Fraction]
    V1: list[tuple[Fraction, ...]]


@dataclass(frozen=True)
class MixHead:
    """A layer-1 head whose scores and values both depend on x, seen from one feature.

    At the query column, key column j has score ``A_j + B_j . x`` and value ``V0_j + V1_j .
    x`` in the feature's row; the head adds ``sum_j softmax_j(A + B . x) (V0_j + V1_j . x)``.
    """

    head: int
    A: list[Fraction]
    B: list[tuple[Fraction, ...]]
    V0: list[Fraction]
    V1: list[tuple[Fraction, ...]]


@dataclass(frozen=True)
class Feature:
    """``phi(x) = a + b . x + sum (anchor heads) + sum (gather heads) + sum (mix heads)`` at
    the query column.

    ``anchor[i]`` is layer-1 head ``anchor_ids[i]`` with its values in this feature's row.
    """

    row: int
    a: Fraction
    b: tuple[Fraction, ...]
    anchor: list[HeadScores]
    anchor_ids: list[int]
    gather: list[GatherHead]
    mix: list[MixHead] = field(default_factory=list)


@dataclass(frozen=True)
class ComposedOutput:
    """Output entry ``N = const + sum_r omega_r phi_r + sum_g head_g(phi)`` (module docstring).

    ``heads[i]`` is layer-2 head ``head_ids[i]``: scores ``A_j + B_j . phi`` (``B_j`` has one
    entry per feature), constant values.
    """

    token: int
    row: int
    features: list[Feature]
    omega: list[Fraction]
    heads: list[HeadScores]
    head_ids: list[int]
    const: Fraction


def _dot(u: list[Fraction], v: list[Fraction]) -> Fraction:
    return sum((a * b for a, b in zip(u, v) if a and b), Fraction(0))


def _check_shapes(heads, dz: int) -> None:
    for h in heads:
        q, v = h.W_Q.shape[0], h.W_V.shape[0]
        if h.W_Q.shape != (q, dz) or h.W_K.shape != (q, dz) or h.W_V.shape != (v, dz) \
                or h.W_O.shape != (dz, v):
            raise StructureError("attention matrix shapes are inconsistent (a layer with the "
                                 "skip connection maps rows to rows)")


def _reads(W: np.ndarray, rows: np.ndarray) -> bool:
    return bool(np.any((W != 0)[:, rows]))


def analyse_two_layer(net: AttentionNet) -> list[ComposedOutput]:
    """Exact decomposition of every output entry (tokens outer, rows inner).

    Raises
    ------
    StructureError
        The layers are not (affine, attention with skip, attention with skip,
        select-columns, token-affine), shapes do not fit, more than :data:`MAX_VARIABLES`
        input variables, or a condition of the module docstring fails (named).
    """
    layers = net.layers
    if not (len(layers) == 5 and isinstance(layers[1], Attention) and layers[1].residual
            and isinstance(layers[2], Attention) and layers[2].residual
            and isinstance(layers[3], SelectColumns) and isinstance(layers[4], TokenAffine)):
        raise StructureError("expected layers affine, attention (skip), attention (skip), "
                             "select-columns, token-affine")
    d, n = net.input_shape
    D = d * n
    if D > MAX_VARIABLES:
        raise StructureError(f"{D} input variables; the input-box cover supports at most "
                             f"{MAX_VARIABLES}")
    M, c = _first_layer(net)
    dz, m = c.shape
    l1, l2 = layers[1].heads, layers[2].heads
    _check_shapes(l1, dz)
    _check_shapes(l2, dz)
    cols = layers[3].columns
    if any(not 0 <= col < m for col in cols):
        raise StructureError("a selected column does not exist")
    out_map = layers[4]
    if out_map.weight.shape[1] != dz or out_map.bias.shape != (out_map.weight.shape[0],
                                                                len(cols)):
        raise StructureError("output map shapes do not fit")
    varying_any = np.any(M != 0, axis=(1, 2, 3))  # (dz,)
    written = np.zeros(dz, dtype=bool)
    for h in l1:
        written |= np.any(h.W_O != 0, axis=1)
    for h in l2:
        if _reads(h.W_K, varying_any | written) or _reads(h.W_V, varying_any | written):
            raise StructureError("a layer-2 key or value depends on the input or on layer 1")

    cq = [[_q(c[a, j]) for a in range(dz)] for j in range(m)]
    # dZ0[j][v]: column j's derivative in variable v (exact), only where it is non-zero.
    dZ0 = [[[_q(M[a, j, i, k]) for a in range(dz)] for k in range(n) for i in range(d)]
           for j in range(m)]
    vary_col = np.any(M != 0, axis=(2, 3))  # (dz, m)
    K1 = [[_matvec(h.W_K, cq[j]) for j in range(m)] for h in l1]
    # Keys reading varying rows: their per-variable parts dK1[h][j][v] (exact); None if the
    # head's keys read no varying row (then every dK is exactly zero).
    key_varies = [_reads(h.W_K, varying_any) for h in l1]
    dK1 = [[[_matvec(h.W_K, dv) for dv in dZ0[j]] for j in range(m)] if kv else None
           for h, kv in zip(l1, key_varies)]
    # Layer-1 values as vectors in Z's rows: constant part and per-variable part.
    V1c, V1x = [], []
    for h in l1:
        cj = [_matvec(h.W_O, _matvec(h.W_V, cq[j])) for j in range(m)]
        xj = None
        if _reads(h.W_V, varying_any):
            xj = [[_matvec(h.W_O, _matvec(h.W_V, dv)) for dv in dZ0[j]] for j in range(m)]
        V1c.append(cj)
        V1x.append(xj)
    K2 = [[_matvec(h.W_K, cq[j]) for j in range(m)] for h in l2]
    V2 = [[_matvec(h.W_O, _matvec(h.W_V, cq[j])) for j in range(m)] for h in l2]

    result = []
    for k, col in enumerate(cols):
        const_row = ~written & ~vary_col[:, col]
        read = np.zeros(dz, dtype=bool)
        for h in l2:
            read |= np.any(h.W_Q != 0, axis=0)
        read |= np.any(out_map.weight != 0, axis=0)
        feat_rows = [r for r in range(dz) if read[r] and not const_row[r]]
        # Layer-1 scores at this query column.
        z0 = cq[col]
        dcol = dZ0[col]
        scores1 = []
        for hi, h in enumerate(l1):
            # Structural test: a query reading a varying row times a key reading one is a
            # product of two non-constant affine forms.
            if key_varies[hi] and _reads(h.W_Q, vary_col[:, col]):
                raise StructureError(f"layer-1 head {hi}: its scores are quadratic in the "
                                     f"input")
            q0 = _matvec(h.W_Q, z0)
            Q1 = [_matvec(h.W_Q, dv) for dv in dcol]
            A = [_dot(q0, Kj) for Kj in K1[hi]]
            # Only one of the two terms can be non-zero: either every Q_v or every dK is
            # exactly zero (the test above), so the scores are exactly affine in x.
            if dK1[hi] is None:
                B = [tuple(_dot(Qv, Kj) for Qv in Q1) for Kj in K1[hi]]
            else:
                B = [tuple(_dot(q0, dKv) for dKv in dKj) for dKj in dK1[hi]]
            scores1.append((A, B, all(not any(b) for b in B)))
        features = []
        for r in feat_rows:
            anchor, ids, gathers, mixes = [], [], [], []
            for hi in range(len(l1)):
                A, B, gather = scores1[hi]
                Vc = [V1c[hi][j][r] for j in range(m)]
                Vx = ([tuple(V1x[hi][j][v][r] for v in range(D)) for j in range(m)]
                      if V1x[hi] is not None else [tuple([Fraction(0)] * D)] * m)
                values_vary = any(any(t) for t in Vx)
                if not any(Vc) and not values_vary:
                    continue
                if gather:
                    gathers.append(GatherHead(hi, A, Vc, Vx))
                elif values_vary:
                    mixes.append(MixHead(hi, A, B, Vc, Vx))
                else:
                    anchor.append(HeadScores(A, B, Vc))
                    ids.append(hi)
            b = tuple(dcol[v][r] for v in range(D))
            features.append(Feature(r, cq[col][r], b, anchor, ids, gathers, mixes))
        # Layer-2 scores at this column, affine in the features.
        per_head = []
        for g, h in enumerate(l2):
            WQ = [[_q(v) for v in row] for row in h.W_Q]
            A, B = [], []
            for Kj in K2[g]:
                coef = [sum((Kj[i] * WQ[i][r] for i in range(len(Kj)) if Kj[i] and WQ[i][r]),
                            Fraction(0)) for r in range(dz)]
                A.append(sum((coef[r] * cq[col][r] for r in range(dz)
                              if const_row[r] and coef[r]), Fraction(0)))
                B.append(tuple(coef[r] for r in feat_rows))
                if any(coef[r] for r in range(dz) if not const_row[r] and r not in feat_rows):
                    raise StructureError("a layer-2 score reads a row outside the features")
            per_head.append((A, B))
        for o in range(out_map.weight.shape[0]):
            Wo = [_q(w) for w in out_map.weight[o]]
            const = _q(out_map.bias[o, k]) + sum(
                (Wo[r] * cq[col][r] for r in range(dz) if const_row[r] and Wo[r]), Fraction(0))
            omega = [Wo[r] for r in feat_rows]
            heads, head_ids = [], []
            for g, (A, B) in enumerate(per_head):
                V = [_dot(Wo, V2[g][j]) for j in range(m)]
                if any(V):
                    heads.append(HeadScores(A, B, V))
                    head_ids.append(g)
            result.append(ComposedOutput(k, o, features, omega, heads, head_ids, const))
    return result
