"""The reduction, re-derived from the stored matrices in exact rational arithmetic.

Network shape: an affine first layer (sequence-wise ``Z[i,j] = sum_{a,b} M[i,j,a,b] X[a,b]
+ c[i,j]`` or token-wise), one attention layer, a column selection.  Every stored weight is
a binary64 number, i.e. an exact rational; this module works with those rationals
(``fractions.Fraction``), so every equality and every zero test below is exact.

Reduction (proved in :func:`reduce_network`).  Suppose

(R1) entry ``(i, j)`` of ``Z`` *varies* (depends on ``X``) iff ``M[i, j] != 0``;
(R2) no head's ``W_K`` or ``W_V`` has a non-zero entry in a column ``i`` of ``Z`` for which
     some ``Z[i, j]`` varies;
(R3) for each selected column ``col``, at most one entry ``Z[u, col]`` varies.

Then for every key column ``j``, ``W_K Z[:, j] = W_K c[:, j]`` and ``W_V Z[:, j] = W_V c[:, j]``
do not depend on ``X``, and the query of column ``col`` is ``W_Q (z0 + y e_u)`` with
``z0 = c[:, col]`` except ``z0[u] = 0`` and the latent scalar
``y = sum_{a,b} M[u, col, a, b] X[a, b] + c[u, col]``.  So head h's score of key j is
``A_j + B_j y`` with ``A_j = (W_Q z0) . (W_K c_j)``, ``B_j = (W_Q e_u) . (W_K c_j)``, its value
is ``V_j = W_O W_V c_j``, and output entry (token k, row o) equals
``sum_h sum_j softmax_j(A^h + B^h y) V^h_{j, o}``: a function of ``y`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from certify.errors import InputError
from certify.network import Attention, AttentionNet, SelectColumns, SequenceAffine, TokenAffine


class Rejected(Exception):
    """The certificate is well formed but a statement in it is false (exit code 1)."""


@dataclass(frozen=True)
class HeadData:
    """One head seen from one output entry: exact scores ``A_j + B_j y`` and values ``V_j``."""

    A: list[Fraction]
    B: list[Fraction]
    V: list[Fraction]


@dataclass(frozen=True)
class OutputProblem:
    """Output entry (token, row): its latent ``y = sum(coef * X) + const`` and its heads."""

    token: int
    row: int
    coef: np.ndarray  # (d, n) floats
    const: float
    heads: list[HeadData]


def _first_layer(net: AttentionNet) -> tuple[np.ndarray, np.ndarray]:
    """Dense ``M`` (dz, m, d, n) and ``c`` (dz, m); each entry is one stored float."""
    d, n = net.input_shape
    layer = net.layers[0]
    if isinstance(layer, TokenAffine):
        dz = layer.weight.shape[0]
        if layer.weight.shape != (dz, d) or layer.bias.shape != (dz, n):
            raise Rejected("network: token-affine shapes do not fit the input")
        _dense_size(dz, n, d, n)
        M = np.zeros((dz, n, d, n))
        for j in range(n):
            M[:, j, :, j] = layer.weight
        return M, layer.bias.copy()
    if not isinstance(layer, SequenceAffine):
        raise Rejected("network: the first layer must be affine")
    dz, m = layer.out_shape
    _dense_size(dz, m, d, n)
    M, c = np.zeros((dz, m, d, n)), np.zeros((dz, m))
    seen: set[tuple[int, ...]] = set()
    for rows, limits, target in ((layer.weights, (dz, m, d, n), M), (layer.bias, (dz, m), c)):
        for row in rows:
            idx = tuple(int(v) for v in row[:-1])
            if any(float(v) != i or not 0 <= i < lim for v, i, lim in zip(row[:-1], idx, limits)):
                raise Rejected("network: an affine entry has an invalid index")
            key = (len(idx),) + idx
            if key in seen:  # a repeated entry would be summed, and float sums round
                raise Rejected("network: repeated affine entry")
            seen.add(key)
            target[idx] = row[-1]
    return M, c


#: The largest first layer, in entries ``dz m d n``, that the checker stores densely.
MAX_DENSE_ENTRIES = 2 ** 28


def _dense_size(dz: int, m: int, d: int, n: int) -> None:
    """Refuse (InputError, exit 2) a first layer whose dense form is over the limit."""
    if dz * m * d * n > MAX_DENSE_ENTRIES:
        raise InputError(f"certificate: network too large to check: its first layer has "
                         f"{dz * m * d * n:,} entries in dense form, over "
                         f"{MAX_DENSE_ENTRIES:,}")


def _exact(x: float) -> Fraction:
    return Fraction(float(x))


def _dot(row: np.ndarray, col: np.ndarray) -> Fraction:
    """Exact ``sum_i row[i] col[i]`` of two float vectors."""
    return sum((_exact(a) * _exact(b) for a, b in zip(row, col) if a != 0 and b != 0),
               Fraction(0))


def reduce_network(net: AttentionNet, w: np.ndarray, t: np.ndarray) -> list[OutputProblem]:
    """Check (R1)-(R3) and that output token k's latent is the target's ``w_k . x_k + t_k``.

    Returns one :class:`OutputProblem` per (output token, output row), tokens outer.
    Raises :class:`Rejected` naming the first violated condition.  (R1) holds by the
    definition of ``M``; (R2), (R3) and the latent equality are exact float comparisons.
    """
    if len(net.layers) != 3 or not isinstance(net.layers[1], Attention) or net.layers[1].residual \
            or not isinstance(net.layers[2], SelectColumns):
        raise Rejected("network: expected layers affine, attention, select-columns")
    d, n = net.input_shape
    M, c = _first_layer(net)
    dz, m = c.shape
    heads = net.layers[1].heads
    cols = net.layers[2].columns
    d_out = heads[0].W_O.shape[0]
    for h in heads:
        q, v = h.W_Q.shape[0], h.W_V.shape[0]
        if h.W_Q.shape != (q, dz) or h.W_K.shape != (q, dz) or h.W_V.shape != (v, dz) \
                or h.W_O.shape != (d_out, v):
            raise Rejected("network: attention matrix shapes are inconsistent")
    if len(cols) != len(t) or any(not 0 <= col < m for col in cols):
        raise Rejected("network: selected columns do not match the target's tokens")
    if w.shape != (n, d):
        raise Rejected("network: input shape does not match the target")
    varying = np.any(M != 0, axis=(2, 3))
    varying_rows = np.any(varying, axis=1)
    for h in heads:
        if np.any((h.W_K != 0)[:, varying_rows]) or np.any((h.W_V != 0)[:, varying_rows]):
            raise Rejected("reduction fails: a key or value depends on the input")

    # Keys and values are constant: exact K_j = W_K c_j and V_j = (W_O W_V) c_j.
    keys, values = [], []
    for h in heads:
        keys.append([[_dot(h.W_K[i], c[:, j]) for j in range(m)] for i in range(h.W_K.shape[0])])
        wov = [[sum((_exact(h.W_O[o, k]) * _exact(h.W_V[k, a]) for k in range(h.W_V.shape[0])
                     if h.W_O[o, k] != 0 and h.W_V[k, a] != 0), Fraction(0))
                for a in range(dz)] for o in range(d_out)]
        values.append([[sum((wov[o][a] * _exact(c[a, j]) for a in range(dz)
                             if wov[o][a] != 0 and c[a, j] != 0), Fraction(0))
                        for j in range(m)] for o in range(d_out)])

    problems = []
    for k, col in enumerate(cols):
        rows = np.flatnonzero(varying[:, col])
        if len(rows) > 1:
            raise Rejected(f"reduction fails: output token {k} depends on more than one scalar")
        u = int(rows[0]) if len(rows) else 0
        expected = np.zeros((d, n))
        expected[:, k] = w[k]
        if not (np.array_equal(M[u, col], expected) and c[u, col] == t[k]):
            raise Rejected(f"target does not match the network (output token {k})")
        z0 = c[:, col].copy()
        z0[u] = 0.0
        head_ab = []
        for h, K in zip(heads, keys):
            q0 = [_dot(h.W_Q[i], z0) for i in range(h.W_Q.shape[0])]
            q1 = [_exact(h.W_Q[i, u]) for i in range(h.W_Q.shape[0])]
            A = [sum((q0[i] * K[i][j] for i in range(len(q0)) if q0[i] and K[i][j]), Fraction(0))
                 for j in range(m)]
            B = [sum((q1[i] * K[i][j] for i in range(len(q1)) if q1[i] and K[i][j]), Fraction(0))
                 for j in range(m)]
            head_ab.append((A, B))
        for o in range(d_out):
            problems.append(OutputProblem(
                k, o, M[u, col].copy(), float(c[u, col]),
                [HeadData(A, B, vals[o]) for (A, B), vals in zip(head_ab, values)]))
    return problems


def latent_range(coef: np.ndarray, const: float, lo: np.ndarray, hi: np.ndarray
                 ) -> tuple[Fraction, Fraction]:
    """Exact ``min`` and ``max`` of ``sum(coef * X) + const`` over the box ``lo <= X <= hi``."""
    ymin = ymax = Fraction(const)
    for cf, l, h in zip(coef.ravel(), lo.ravel(), hi.ravel()):
        if cf != 0:
            a, b = _exact(cf) * _exact(l), _exact(cf) * _exact(h)
            ymin += min(a, b)
            ymax += max(a, b)
    return ymin, ymax


def latent_at(coef: np.ndarray, const: float, x: np.ndarray) -> Fraction:
    """Exact ``sum(coef * x) + const``."""
    return _dot(coef.ravel(), x.ravel()) + Fraction(const)
