"""Theorem T1: one softmax head with a sequence-wise affine map (docs/mathematics.md, section 4).

Paper: Thm 3.1 (v1), Thm 3.4 (v2).  Claim: for per-token targets
``Range_[a,b](w_k . x_k + t_k)`` on a compact domain there is a sequence-wise affine map
appending p anchor tokens, followed by one softmax head, with every output token within
O(1/p) of its target.

Construction (:func:`construct`).  The affine map sends ``X in R^{d x n}`` to
``Z in R^{5 x (n+p)}`` with rows ``(u, r, l, l2, s)``:

* token column k: ``(y_k, 1, 0, 0, 0)`` with ``y_k = w_k . x_k + t_k``;
* anchor column j: ``(0, 0, L_j, L_j^2, 1)``, ``L_j = a + j (b - a)/(p - 1)``.

``W_Q Z = (u, r)``, ``W_K Z = beta (2 l, -l2 - G r)``, ``W_V Z = l``, ``W_O = 1``; the output
keeps the n token columns.  Token-to-anchor scores are ``beta (2 L_j y - L_j^2)``, which
differ from ``-beta (y - L_j)^2`` by ``beta y^2``, the same for every key; token-to-token
scores are ``-beta G`` and carry value 0, so they only leak mass (counted in the bound).
The stored numbers are binary64: ``L_j`` and ``L_j^2`` are the rounded values, ``beta`` is
rounded once and ``2 beta`` is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from certify.network import Attention, AttentionNet, Head, SelectColumns, SequenceAffine

ID = "single-head"
#: Leakage exponent: G is chosen so that beta (G + m) >= LEAK_EXPONENT over the domain.
LEAK_EXPONENT = 60.0


@dataclass(frozen=True)
class Built:
    """A constructed network and the parameters that determine it."""

    net: AttentionNet
    beta: float
    G: float
    delta: float
    anchors: np.ndarray
    y_range: tuple[float, float]  # float64 estimate, used only to choose G

    def parameters(self) -> dict[str, float]:
        return {"beta": self.beta, "G": self.G, "delta": self.delta, "p": len(self.anchors)}


def y_range_estimate(w: np.ndarray, t: np.ndarray, lo: np.ndarray, hi: np.ndarray
                     ) -> tuple[float, float]:
    """Float64 estimate of the range of all ``y_k`` over the box (no guarantee)."""
    wl, wh = w * lo.T, w * hi.T
    ymin = (np.minimum(wl, wh).sum(axis=1) + t).min()
    ymax = (np.maximum(wl, wh).sum(axis=1) + t).max()
    return float(ymin), float(ymax)


def min_score_margin(a: float, b: float, delta: float, ylo: float, yhi: float) -> float:
    """``m = min_y max_j (2 L_j y - L_j^2)`` over ``[ylo, yhi]`` (a lower estimate).

    ``max_j (2 L_j y - L_j^2) = y^2 - dist(y, anchors)^2``; it is at least ``-delta^2/4`` on
    ``[a, b]`` and linear outside, so the minimum is at an end of the range.
    """
    m = -delta * delta / 4
    if ylo < a:
        m = min(m, 2 * a * ylo - a * a)
    if yhi > b:
        m = min(m, 2 * b * yhi - b * b)
    return m


def construct(a: float, b: float, w: np.ndarray, t: np.ndarray, lo: np.ndarray,
              hi: np.ndarray, p: int, kappa: float | None = None,
              beta: float | None = None) -> Built:
    """Build the T1 network for targets ``Range_[a,b](w_k . x_k + t_k)`` on ``[lo, hi]``.

    ``w`` has shape ``(n, d)``, ``t`` shape ``(n,)``, ``lo``/``hi`` shape ``(d, n)``.  Exactly
    one of ``kappa`` (then ``beta = kappa / Delta^2``) and ``beta`` is given.  The result is
    deterministic: identical input gives a bit-identical network.
    """
    w, t = np.asarray(w, float), np.asarray(t, float)
    n, d = w.shape
    anchors = np.linspace(a, b, p)
    delta = (b - a) / (p - 1)
    if beta is None:
        beta = float(kappa) / (delta * delta)
    beta = float(beta)
    ylo, yhi = y_range_estimate(w, t, lo, hi)
    m = min_score_margin(a, b, delta, ylo, yhi)
    # A 1% margin on -m absorbs rounding in the estimate of the y range.
    G = float(max(0.0, -m) * 1.01 + LEAK_EXPONENT / beta)

    weights = [(0, k, i, k, w[k, i]) for k in range(n) for i in range(d) if w[k, i] != 0.0]
    bias = [(0, k, t[k]) for k in range(n)] + [(1, k, 1.0) for k in range(n)]
    bias += [row for j, L in enumerate(anchors)
             for row in ((2, n + j, L), (3, n + j, L * L), (4, n + j, 1.0))]
    affine = SequenceAffine((5, n + p), np.array(weights, float).reshape(-1, 5),
                            np.array(bias, float).reshape(-1, 3))
    e = np.eye(5)
    W_Q = e[[0, 1]]
    W_K = np.array([[0, 0, 2 * beta, 0, 0], [0, -beta * G, 0, -beta, 0]], float)
    W_V = e[[2]]
    W_O = np.ones((1, 1))
    net = AttentionNet((d, n), (affine, Attention((Head(W_Q, W_K, W_V, W_O),)),
                                SelectColumns(tuple(range(n)))))
    return Built(net, beta, G, delta, anchors, (ylo, yhi))


# -- glue used by the engine and the checker ---------------------------------------------

def build_from_spec(target: dict, lo: np.ndarray, hi: np.ndarray, construction: dict) -> Built:
    """Build the network a normalised spec asks for (see :mod:`certify.spec`)."""
    return construct(target["a"], target["b"], np.array(target["w"], float),
                     np.array(target["t"], float), lo, hi, int(construction["p"]),
                     kappa=construction.get("kappa"), beta=construction.get("beta"))


def target_terms(target: dict, n_heads: int) -> list[tuple[int, int, float, float]]:
    """The target as ``sum_h (num_h/den_h) Range_[a_h, b_h](y)``, head h carrying term h."""
    return [(1, 1, target["a"], target["b"])]


def token_affine_targets(target: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(w, t)``: token k's target reads ``y_k = w[k] . x_k + t[k]``."""
    return np.array(target["w"], float), np.array(target["t"], float)


# -- registry entry (theorems/registry.py) ------------------------------------------------

import typing  # noqa: E402

if typing.TYPE_CHECKING:
    from theorems.obligations import TheoremEntry


def entry() -> TheoremEntry:
    """Registry entry of T1 (statement, a-priori bound, obligations).

    The obligations live in :mod:`theorems.single_head_obligations`; they are parameterised
    by the network they check (``t1_obligations(instance, built)``).  Imported lazily so
    that building networks does not load sympy.

    Returns
    -------
    TheoremEntry
    """
    from theorems.single_head_obligations import t1_entry
    return t1_entry()
