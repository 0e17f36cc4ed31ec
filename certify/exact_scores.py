"""Exact scores, values and anchor-grid structure of a one-layer attention network.

Trusted core, shared by the engine and the checker.  Every stored weight is a binary64
number, i.e. an exact rational; everything here is computed with ``fractions.Fraction``, so
every equality and zero test is exact and nothing is rounded.

Network shape (:func:`analyse`).  Layers: an affine first layer (sequence-wise or
token-wise), one attention layer, a column selection, and optionally a token-wise affine
output map.  Write ``Z(X) = c + M X`` for the first layer.  If no head's ``W_K`` or ``W_V``
reads a row of ``Z`` that depends on ``X`` (checked exactly, on the structural zeros of
``M``), then every key ``K_j = W_K c_j`` and value ``W_O W_V c_j`` is a constant, and the
query of the selected column ``col`` is affine in the input, ``q(x) = q0 + Q1 x``.  Head
h's score of key column j is therefore the affine function

    ``s_j(x) = A_j + B_j . x``,   ``A_j = K_j . q0``,   ``B_j = Q1^T K_j``,

of the input vector ``x`` (the entries ``X[i, k]``, variable index ``k d + i``), and the
output entry is ``sum_h sum_j softmax_j(s^h(x)) V^h_j + const``, with the output map folded
into the values (the weights of a head sum to 1, so ``W y + b`` applied to a convex
combination is the convex combination of ``W V_j + b``; the bias is kept apart in
``const``).

Anchor grids (:func:`grid_structure`).  A *grid hint* claims that some key columns of a
head are the points of a tensor grid ``m_J = (M_1[J_1], ..., M_k[J_k])`` in a latent
``u = P x + t`` (``k`` rows), at column ``start + sum_a J_a stride_a``, with curvatures
``beta_a > 0``, in the sense that ``B_J = sum_a 2 beta_a m_{J,a} P_a`` exactly.  Then, with
the exact residual ``rho_J = A_J - sum_a beta_a (2 m_{J,a} t_a - m_{J,a}^2)``,

    ``s_J(x) = sum_a beta_a (u_a^2 - (u_a - m_{J,a})^2) + rho_J``

for every x (expand the square).  The common term ``sum_a beta_a u_a^2`` cancels in the
softmax, so the weights are a Gaussian kernel in u times ``exp(rho_J)``; this is what lets
far anchors be bounded in aggregate (Lemma S, per axis, factorised over the axes).
:func:`grid_structure` verifies the hint exactly and returns the residuals; a false hint
raises :class:`StructureError`.  Key columns outside the grid are *extra* columns, handled
one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from certify.network import Attention, AttentionNet, SelectColumns, SequenceAffine, TokenAffine

#: Largest number of input variables the input-box cover supports.
MAX_VARIABLES = 3


class StructureError(ValueError):
    """The network or a grid hint does not have the structure claimed for it."""


@dataclass(frozen=True)
class HeadScores:
    """One head seen from one output entry: ``s_j(x) = A[j] + B[j] . x`` and values ``V[j]``."""

    A: list[Fraction]
    B: list[tuple[Fraction, ...]]
    V: list[Fraction]


@dataclass(frozen=True)
class OutputScores:
    """Output entry (token, row): ``sum_h sum_j softmax_j(s^h(x)) V^h_j + const``."""

    token: int
    row: int
    heads: list[HeadScores]
    const: Fraction


def _q(x: float) -> Fraction:
    return Fraction(float(x))


def _first_layer(net: AttentionNet) -> tuple[np.ndarray, np.ndarray]:
    """Dense ``M`` (dz, m, d, n) and ``c`` (dz, m); a repeated sparse entry is refused."""
    d, n = net.input_shape
    layer = net.layers[0]
    if isinstance(layer, TokenAffine):
        dz = layer.weight.shape[0]
        if layer.weight.shape != (dz, d) or layer.bias.shape != (dz, n):
            raise StructureError("token-affine shapes do not fit the input")
        M = np.zeros((dz, n, d, n))
        for j in range(n):
            M[:, j, :, j] = layer.weight
        return M, layer.bias.copy()
    if not isinstance(layer, SequenceAffine):
        raise StructureError("the first layer must be affine")
    dz, m = layer.out_shape
    M, c = np.zeros((dz, m, d, n)), np.zeros((dz, m))
    seen: set[tuple[int, ...]] = set()
    for rows, limits, target in ((layer.weights, (dz, m, d, n), M), (layer.bias, (dz, m), c)):
        for row in rows:
            idx = tuple(int(v) for v in row[:-1])
            if any(float(v) != i or not 0 <= i < lim for v, i, lim in zip(row[:-1], idx, limits)):
                raise StructureError("an affine entry has an invalid index")
            key = (len(idx),) + idx
            if key in seen:  # a repeated entry would be summed, and float sums round
                raise StructureError("repeated affine entry")
            seen.add(key)
            target[idx] = row[-1]
    return M, c


def _matvec(W: np.ndarray, v: list[Fraction]) -> list[Fraction]:
    """Exact ``W @ v`` for a float matrix and a rational vector."""
    out = []
    for row in W:
        acc = Fraction(0)
        for w, x in zip(row, v):
            if w != 0 and x:
                acc += _q(w) * x
        out.append(acc)
    return out


def analyse(net: AttentionNet) -> list[OutputScores]:
    """Exact scores and values of every output entry, tokens outer, rows inner.

    Returns
    -------
    list of OutputScores
        ``B[j]`` has one entry per input variable ``X[i, k]`` (index ``k d + i``).

    Raises
    ------
    StructureError
        The layers are not (affine, attention, select-columns[, token-affine]), shapes do
        not fit, a key or value depends on the input, or there are more than
        :data:`MAX_VARIABLES` input variables.
    """
    layers = net.layers
    if not (3 <= len(layers) <= 4 and isinstance(layers[1], Attention)
            and not layers[1].residual and isinstance(layers[2], SelectColumns)
            and (len(layers) == 3 or isinstance(layers[3], TokenAffine))):
        raise StructureError("expected layers affine, attention, select-columns and an "
                             "optional token-affine output map")
    d, n = net.input_shape
    D = d * n
    if D > MAX_VARIABLES:
        raise StructureError(f"{D} input variables; the input-box cover supports at most "
                             f"{MAX_VARIABLES}")
    M, c = _first_layer(net)
    dz, m = c.shape
    heads = layers[1].heads
    cols = layers[2].columns
    d_out = heads[0].W_O.shape[0]
    for h in heads:
        q, v = h.W_Q.shape[0], h.W_V.shape[0]
        if h.W_Q.shape != (q, dz) or h.W_K.shape != (q, dz) or h.W_V.shape != (v, dz) \
                or h.W_O.shape != (d_out, v):
            raise StructureError("attention matrix shapes are inconsistent")
    if any(not 0 <= col < m for col in cols):
        raise StructureError("a selected column does not exist")
    if len(layers) == 4:
        out_map = layers[3]
        if out_map.weight.shape[1] != d_out or out_map.bias.shape != (out_map.weight.shape[0],
                                                                       len(cols)):
            raise StructureError("output map shapes do not fit the attention output")
    varying_rows = np.any(M != 0, axis=(1, 2, 3))
    for h in heads:
        if np.any((h.W_K != 0)[:, varying_rows]) or np.any((h.W_V != 0)[:, varying_rows]):
            raise StructureError("a key or value depends on the input")

    cq = [[_q(c[a, j]) for a in range(dz)] for j in range(m)]
    keys, values = [], []
    for h in heads:
        keys.append([_matvec(h.W_K, cq[j]) for j in range(m)])
        vals = [_matvec(h.W_V, cq[j]) for j in range(m)]
        values.append([_matvec(h.W_O, vj) for vj in vals])

    result = []
    for k, col in enumerate(cols):
        z0 = [_q(c[a, col]) for a in range(dz)]
        # Column v of Z's dependence on the input: dZ[:, col] / dx_v.
        dZ = [[_q(M[a, col, i, kk]) for a in range(dz)] for kk in range(n) for i in range(d)]
        per_head = []
        for h, K in zip(heads, keys):
            q0 = _matvec(h.W_Q, z0)
            Q1 = [_matvec(h.W_Q, col_v) for col_v in dZ]
            A = [sum((a * b for a, b in zip(q0, Kj) if a and b), Fraction(0)) for Kj in K]
            B = [tuple(sum((a * b for a, b in zip(Qv, Kj) if a and b), Fraction(0))
                       for Qv in Q1) for Kj in K]
            per_head.append((A, B))
        rows = range(d_out) if len(layers) == 3 else range(layers[3].weight.shape[0])
        for o in rows:
            if len(layers) == 3:
                vals = [[vj[o] for vj in V] for V in values]
                const = Fraction(0)
            else:
                Wt = layers[3].weight[o]
                vals = [[sum((_q(w) * vj[i] for i, w in enumerate(Wt) if w != 0 and vj[i]),
                             Fraction(0)) for vj in V] for V in values]
                const = _q(layers[3].bias[o, k])
            result.append(OutputScores(k, o, [HeadScores(A, B, Vh) for (A, B), Vh
                                              in zip(per_head, vals)], const))
    return result


# -- anchor grids ----------------------------------------------------------------------------

@dataclass(frozen=True)
class GridHint:
    """A claimed tensor grid of key columns (module docstring); all numbers are binary64."""

    P: tuple[tuple[float, ...], ...]  # (k, D)
    t: tuple[float, ...]  # (k,)
    beta: tuple[float, ...]  # (k,)
    axes: tuple[tuple[float, ...], ...]  # M_a, strictly increasing
    start: int
    strides: tuple[int, ...]

    def to_json_obj(self) -> dict[str, Any]:
        return {"P": [list(r) for r in self.P], "t": list(self.t), "beta": list(self.beta),
                "axes": [list(a) for a in self.axes], "start": self.start,
                "strides": list(self.strides)}


@dataclass(frozen=True)
class Grid:
    """A verified grid: exact data for the far-anchor bounds of one head.

    ``columns[f]`` is the key column of the grid point with flat (C-order) multi-index f;
    ``rho[f]`` its exact residual; ``extra`` the key columns outside the grid; ``dmin[a]``
    the least spacing of axis a (exact).
    """

    hint: GridHint
    shape: tuple[int, ...]
    columns: list[int]
    rho: list[Fraction]
    extra: list[int]
    dmin: list[Fraction]


def grid_structure(head: HeadScores, hint: GridHint) -> Grid:
    """Verify ``hint`` for ``head`` exactly (module docstring) and return the grid data.

    Raises
    ------
    StructureError
        Naming the first condition that fails: shapes, ``beta_a > 0``, strictly increasing
        axes, columns out of range or repeated, or ``B_J != sum_a 2 beta_a m_{J,a} P_a``.
    """
    m, D = len(head.A), len(head.B[0]) if head.B else 0
    k = len(hint.axes)
    if not (1 <= k <= MAX_VARIABLES and len(hint.P) == k and len(hint.t) == k
            and len(hint.beta) == k and len(hint.strides) == k
            and all(len(r) == D for r in hint.P)):
        raise StructureError("grid hint shapes do not fit the head")
    if any(not b > 0 for b in hint.beta):
        raise StructureError("grid hint: beta must be > 0")
    axes = [[_q(v) for v in ax] for ax in hint.axes]
    if any(len(ax) < 2 or any(ax[i + 1] <= ax[i] for i in range(len(ax) - 1)) for ax in axes):
        raise StructureError("grid hint: every axis needs >= 2 strictly increasing points")
    shape = tuple(len(ax) for ax in axes)
    beta = [_q(b) for b in hint.beta]
    P = [[_q(v) for v in r] for r in hint.P]
    t = [_q(v) for v in hint.t]
    # Per axis and point: its contribution to B and to rho (exact).
    dB = [[[2 * beta[a] * mv * P[a][v] for v in range(D)] for mv in axes[a]] for a in range(k)]
    dR = [[beta[a] * (2 * mv * t[a] - mv * mv) for mv in axes[a]] for a in range(k)]
    columns, rho, seen = [], [], set()
    for flat in range(int(np.prod(shape))):
        J, rem = [], flat
        for size in reversed(shape):
            J.append(rem % size)
            rem //= size
        J.reverse()
        col = hint.start + sum(j * s for j, s in zip(J, hint.strides))
        if not 0 <= col < m or col in seen:
            raise StructureError("grid hint: a column is out of range or repeated")
        seen.add(col)
        for v in range(D):
            if head.B[col][v] != sum((dB[a][J[a]][v] for a in range(k)), Fraction(0)):
                raise StructureError(f"grid hint: key column {col} is not the grid point "
                                     f"{tuple(J)}")
        columns.append(col)
        rho.append(head.A[col] - sum((dR[a][J[a]] for a in range(k)), Fraction(0)))
    extra = [j for j in range(m) if j not in seen]
    dmin = [min(ax[i + 1] - ax[i] for i in range(len(ax) - 1)) for ax in axes]
    return Grid(hint, shape, columns, rho, extra, dmin)


def parse_grid_hint(obj: Any, where: str) -> GridHint:
    """A :class:`GridHint` from its JSON object; raises StructureError naming the problem."""
    keys = {"P", "t", "beta", "axes", "start", "strides"}
    if not isinstance(obj, dict) or set(obj) != keys:
        raise StructureError(f"{where} must be an object with keys {sorted(keys)}")

    def nums(v: Any, name: str) -> tuple[float, ...]:
        if not isinstance(v, list) or any(isinstance(x, bool) or not isinstance(x, (int, float))
                                          for x in v):
            raise StructureError(f"{where}.{name} must be a list of numbers")
        return tuple(float(x) for x in v)

    def ints(v: Any, name: str) -> tuple[int, ...]:
        if not isinstance(v, list) or any(isinstance(x, bool) or not isinstance(x, int)
                                          for x in v):
            raise StructureError(f"{where}.{name} must be a list of integers")
        return tuple(v)

    if not isinstance(obj["P"], list) or not isinstance(obj["axes"], list):
        raise StructureError(f"{where}.P and {where}.axes must be lists")
    start = obj["start"]
    if isinstance(start, bool) or not isinstance(start, int):
        raise StructureError(f"{where}.start must be an integer")
    return GridHint(tuple(nums(r, "P") for r in obj["P"]), nums(obj["t"], "t"),
                    nums(obj["beta"], "beta"), tuple(nums(a, "axes") for a in obj["axes"]),
                    start, ints(obj["strides"], "strides"))


# -- monotone heads --------------------------------------------------------------------------

@dataclass(frozen=True)
class Monotone:
    """A head that is a monotone function of one latent (:func:`monotone_form`).

    ``head`` is the same head written in the latent ``u`` (one variable), ``grid`` its
    verified grid in u, and ``P``, ``t`` the latent ``u = P . x + t`` (exact floats).
    """

    head: HeadScores
    grid: Grid
    P: tuple[float, ...]
    t: float


def monotone_form(head: HeadScores, grid: Grid | None) -> Monotone | None:
    """The head as a monotone function of its latent, if that is exact; else None.

    Conditions, checked exactly: the grid has one axis, latent ``u = P . x + t``; every key
    column's score slope is a multiple of P, ``B_j = b_j P`` (grid columns: ``b_J = 2 beta
    m_J`` by the verified hint); and the values are affine in the slopes, ``V_j = lam b_j +
    mu``.  Then ``s_j = A'_j + b_j u`` with ``A'_j = A_j - b_j t``, the output is ``o(u) =
    sum_j softmax(s(u))_j V_j`` and ``o'(u) = Cov_w(b, V) = lam Var_w(b)`` has one sign: o
    is monotone in u, so over a box its range lies between its values at the two ends of
    u's range.
    """
    if grid is None or len(grid.hint.axes) != 1:
        return None
    P = [_q(v) for v in grid.hint.P[0]]
    piv = next((v for v, p in enumerate(P) if p != 0), None)
    if piv is None:
        return None
    b = []
    for Bj in head.B:
        bj = Bj[piv] / P[piv]
        if any(Bj[v] != bj * P[v] for v in range(len(P))):
            return None
        b.append(bj)
    j0 = 0
    j1 = next((j for j in range(len(b)) if b[j] != b[j0]), None)
    if j1 is None:
        return None
    lam = (head.V[j1] - head.V[j0]) / (b[j1] - b[j0])
    mu = head.V[j0] - lam * b[j0]
    if any(v != lam * bj + mu for v, bj in zip(head.V, b)):
        return None
    t = _q(grid.hint.t[0])
    h1 = HeadScores([a - bj * t for a, bj in zip(head.A, b)], [(bj,) for bj in b],
                    list(head.V))
    hint = grid.hint
    hint1 = GridHint(((1.0,),), (0.0,), hint.beta, hint.axes, hint.start, hint.strides)
    try:
        g1 = grid_structure(h1, hint1)
    except StructureError:
        return None
    return Monotone(h1, g1, tuple(float(v) for v in grid.hint.P[0]), float(grid.hint.t[0]))
