"""Reduce a network and a target to one scalar problem per output entry (engine side).

For the networks of this project (a first affine layer, one attention layer, a column
selection) each output token k depends on the input X only through one scalar
``y_k = m_k . vec(X) + c_k``: column k of Z varies only in one row u, and no head's key or
value reads a row that varies.  :func:`reduce_network` verifies exactly these structural
zeros on the stored matrices (an exact test, no tolerance) and refuses any other network.
It then encloses, for every head h and key column j, the score ``s_j(y) = A_j + B_j y`` and
the value ``V_j``; all enclosures are outward rounded (:mod:`certify.intervals`).

The obligation ``reduction`` in :mod:`theorems` proves the same fact symbolically; the
checker re-derives it independently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from certify import intervals as iv
from certify.errors import InputError
from certify.network import Attention, AttentionNet, SelectColumns, SequenceAffine, TokenAffine


@dataclass
class HeadProblem:
    """Scores ``A + B y`` and values ``V`` of one head for one query token, as intervals.

    Columns with ``B == 0`` exactly form the constant group ``C`` (merged into one
    pseudo-column); the others form the grid group ``G``, sorted by centre ``m``.
    """

    A_lo: np.ndarray
    A_hi: np.ndarray
    B_lo: np.ndarray
    B_hi: np.ndarray
    V_lo: np.ndarray
    V_hi: np.ndarray
    const_A_lo: np.ndarray
    const_A_hi: np.ndarray
    const_V_lo: np.ndarray
    const_V_hi: np.ndarray


@dataclass
class TokenProblem:
    """Everything the output entry (token k, row o) depends on."""

    token: int
    row: int
    y_coef: np.ndarray  # (d, n): y = sum(y_coef * X) + y_const
    y_const: float
    heads: list[HeadProblem]


#: The largest first layer, in entries ``dz m d n``, that the reduction stores densely
#: (2 GiB of binary64); a larger network is refused before anything is allocated.
MAX_DENSE_ENTRIES = 2 ** 28


def check_dense_size(dz: int, m: int, d: int, n: int) -> None:
    """Raise InputError if the dense first layer ``(dz, m, d, n)`` is over the limit."""
    size = dz * m * d * n
    if size > MAX_DENSE_ENTRIES:
        raise InputError(f"network too large to certify: its first layer has dz m d n = "
                         f"{size:,} entries in dense form, over {MAX_DENSE_ENTRIES:,} "
                         "(use fewer tokens or heads)")


def first_layer_dense(net: AttentionNet) -> tuple[np.ndarray, np.ndarray]:
    """Dense ``M`` (dz, m, d, n) and ``c`` (dz, m) of the first (affine) layer.

    Raises InputError, before allocating, if ``M`` would exceed :data:`MAX_DENSE_ENTRIES`.
    """
    layer = net.layers[0]
    d, n = net.input_shape
    if isinstance(layer, SequenceAffine):
        dz, m = layer.out_shape
        check_dense_size(dz, m, d, n)
        return layer.dense((d, n))
    if isinstance(layer, TokenAffine):
        dz = layer.weight.shape[0]
        check_dense_size(dz, n, d, n)
        M = np.zeros((dz, n, d, n))
        for j in range(n):
            M[:, j, :, j] = layer.weight
        return M, layer.bias.copy()
    raise InputError("unsupported network: the first layer must be affine")


def reduce_network(net: AttentionNet) -> list[TokenProblem]:
    """One :class:`TokenProblem` per output entry; raises InputError for other shapes."""
    if len(net.layers) != 3 or not isinstance(net.layers[1], Attention) or net.layers[1].residual \
            or not isinstance(net.layers[2], SelectColumns):
        raise InputError("unsupported network: expected affine, attention, select-columns")
    M, c = first_layer_dense(net)
    att: Attention = net.layers[1]
    cols = net.layers[2].columns
    dz, m = c.shape
    varying = np.any(M != 0, axis=(2, 3))  # (dz, m): which entries of Z depend on X
    reads = np.zeros(dz, bool)
    for h in att.heads:
        reads |= np.any(h.W_K != 0, axis=0) | np.any(h.W_V != 0, axis=0)
    if np.any(varying & reads[:, None]):
        raise InputError("unsupported network: a key or value depends on the input")
    d_out = att.heads[0].W_O.shape[0]
    problems = []
    # Keys and values do not depend on the output column: enclosed once per head.
    shared = [_keys_values(h, c) for h in att.heads]
    for k, col in enumerate(cols):
        rows = np.flatnonzero(varying[:, col])
        if len(rows) > 1:
            raise InputError("unsupported network: a query depends on more than one scalar")
        u = int(rows[0]) if len(rows) else 0
        z0 = c[:, col].copy()
        y_const = float(z0[u])
        z0[u] = 0.0
        heads = [_head_problem(h, kv, u, z0) for h, kv in zip(att.heads, shared)]
        for o in range(d_out):
            problems.append(TokenProblem(k, o, M[u, col].copy(), y_const,
                                         [_select_row(hp, o) for hp in heads]))
    return problems


def _keys_values(h, c):
    """Enclosures of the keys ``W_K c`` and values ``W_O W_V c`` of every column.

    Keys and values of every column are constant (checked by the caller), so the exact
    products are enclosed once and shared by every output entry.
    """
    K = iv.dot_float_interval(h.W_K, c, c)
    WOV = iv.dot_float_interval(h.W_O, h.W_V, h.W_V)
    return K, _dot_interval_interval(WOV, c)


def _head_problem(h, kv, u, z0):
    K, V = kv
    # The query is W_Q z0 + y W_Q e_u: W_Q z0 is enclosed, W_Q e_u is a column of floats.
    q0_lo, q0_hi = iv.dot_float_interval(h.W_Q, z0[:, None], z0[:, None])
    q1 = h.W_Q[:, u:u + 1]
    A = _dot_cols(q0_lo, q0_hi, *K)
    B = _dot_cols(q1, q1, *K)
    return (A, B, V)


def _dot_interval_interval(W, x):
    """Enclosure of ``W @ x`` for an interval matrix ``W`` and a float matrix ``x``."""
    Wlo, Whi = W
    r, k = Wlo.shape
    acc = (np.zeros((r, x.shape[1])), np.zeros((r, x.shape[1])))
    for i in range(k):
        p = iv.mul(Wlo[:, i:i + 1], Whi[:, i:i + 1], x[i:i + 1], x[i:i + 1])
        acc = iv.add(*acc, *p)
    return acc


def _dot_cols(qlo, qhi, Klo, Khi):
    """Enclosure of ``q . K[:, j]`` for every column j; q is (r, 1)."""
    acc = (np.zeros(Klo.shape[1]), np.zeros(Klo.shape[1]))
    for i in range(Klo.shape[0]):
        p = iv.mul(qlo[i], qhi[i], Klo[i], Khi[i])
        acc = iv.add(*acc, *p)
    return acc


def _select_row(hp, o) -> HeadProblem:
    (Alo, Ahi), (Blo, Bhi), (Vlo, Vhi) = hp
    Vlo, Vhi = Vlo[o], Vhi[o]
    const = (Blo == 0) & (Bhi == 0)
    g = ~const
    return HeadProblem(Alo[g], Ahi[g], Blo[g], Bhi[g], Vlo[g], Vhi[g],
                       Alo[const], Ahi[const], Vlo[const], Vhi[const])
