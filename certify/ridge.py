"""Ridge decomposition of the error for ReLU-network targets (trusted core, exact).

For a target ``f(x) = sum_u c_u max(0, w_u . x + b_u) + b`` (one hidden layer) and a
network whose heads each read one latent ``l_h(x) = P_h . x + t_h``, the error splits into
one-variable problems.  :func:`ridge_decomposition` verifies, in exact rational
arithmetic:

1. every key column j of head h has ``B_j = lambda_j P_h`` (so its score is
   ``A_j - lambda_j t_h + lambda_j l_h``: the head's output is a function ``N_h(l_h)``);
2. head h is assigned a unit ``u_h`` (each unit at most once) with ``P_h = sigma_h w_u`` and
   ``t_h = sigma_h b_u`` for one rational ``sigma_h > 0``, so ``c_u max(0, w_u . x + b_u) =
   (c_u / sigma_h) max(0, l_h)``;
3. every unit without a head vanishes on the domain (its largest pre-activation over the
   box is ``<= 0``, exactly) or has ``c_u = 0``.

Then, exactly, ``N(x) - f(x) = sum_h [N_h(l_h(x)) - (c_{u_h} / sigma_h) max(0, l_h(x))] +
(c_N - b)`` with ``c_N`` the network's output constant, hence

    ``sup_x |N(x) - f(x)| <= sum_h sup_{l in Lambda_h} |e_h(l)| + |c_N - b|``

with ``Lambda_h`` the exact range of ``l_h`` over the domain box.  Each ``e_h`` is a
one-variable problem with affine scores ``A'_j + B'_j l`` (:class:`Ridge.scores`), and a
grid hint of the head in x (one axis, latent ``P_h x + t_h``) becomes a grid hint in l
(``P = [1]``, ``t = 0``), verified again by :func:`certify.exact_scores.grid_structure`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from certify.exact_scores import GridHint, HeadScores, OutputScores, StructureError
from certify.expression import Expr, num, var


@dataclass(frozen=True)
class Ridge:
    """One head's one-variable error problem (module docstring)."""

    head: int
    unit: int
    scores: HeadScores  # scores A'_j + B'_j l and values, in the latent l
    hint: GridHint | None  # grid hint in l
    coefficient: Fraction  # c_u / sigma_h
    lo: Fraction  # exact range of l over the domain
    hi: Fraction
    P: tuple[Fraction, ...]  # l = P . x + t
    t: Fraction

    def target(self) -> Expr:
        """``(c_u / sigma_h) max(0, l)`` as an expression in variable 0."""
        return Expr("mul", (num(self.coefficient), Expr("max", (num(0), var(0, "l")))))


def _q(x: float) -> Fraction:
    return Fraction(float(x))


def ridge_decomposition(out: OutputScores, hints: list[GridHint | None],
                        layers: tuple[tuple[np.ndarray, np.ndarray], ...],
                        lo: list[float], hi: list[float], units: list[int]
                        ) -> tuple[list[Ridge], Fraction]:
    """Verify the decomposition (module docstring); return the ridges and ``c_N - b``.

    ``units[h]`` is the unit assigned to head h.  Raises :class:`StructureError` naming the
    first condition that fails.
    """
    if len(layers) != 2:
        raise StructureError("ridge decomposition needs a ReLU network with one hidden layer")
    (W1, b1), (W2, b2) = layers
    D = W1.shape[1]
    if len(units) != len(out.heads) or len(set(units)) != len(units):
        raise StructureError("one distinct unit per head is needed")
    lo_q, hi_q = [_q(v) for v in lo], [_q(v) for v in hi]
    ridges = []
    for h, (hs, hint, u) in enumerate(zip(out.heads, hints, units)):
        if not 0 <= u < W1.shape[0]:
            raise StructureError(f"head {h}: unit {u} does not exist")
        if hint is None or len(hint.axes) != 1:
            raise StructureError(f"head {h}: a one-axis grid hint is needed")
        P = [_q(v) for v in hint.P[0]]
        t = _q(hint.t[0])
        w = [_q(v) for v in W1[u]]
        bu = _q(b1[u])
        nz = [v for v in range(D) if w[v] != 0]
        if not nz:
            raise StructureError(f"head {h}: unit {u} has no input weights")
        sigma = P[nz[0]] / w[nz[0]]
        if not sigma > 0 or any(P[v] != sigma * w[v] for v in range(D)) or t != sigma * bu:
            raise StructureError(f"head {h}: its latent is not a positive multiple of unit "
                                 f"{u}'s pre-activation")
        pv = nz[0]
        A, B = [], []
        for j in range(len(hs.A)):
            lam = hs.B[j][pv] / P[pv]
            if any(hs.B[j][v] != lam * P[v] for v in range(D)):
                raise StructureError(f"head {h}: key column {j} does not read the latent only")
            A.append(hs.A[j] - lam * t)
            B.append((lam,))
        l_lo = t + sum((min(P[v] * lo_q[v], P[v] * hi_q[v]) for v in range(D)), Fraction(0))
        l_hi = t + sum((max(P[v] * lo_q[v], P[v] * hi_q[v]) for v in range(D)), Fraction(0))
        hint1 = GridHint(((1.0,),), (0.0,), hint.beta, hint.axes, hint.start, hint.strides)
        ridges.append(Ridge(h, u, HeadScores(A, B, list(hs.V)), hint1,
                            _q(W2[0, u]) / sigma, l_lo, l_hi, tuple(P), t))
    for u in range(W1.shape[0]):
        if u in units or W2[0, u] == 0:
            continue
        top = _q(b1[u]) + sum((max(_q(W1[u, v]) * lo_q[v], _q(W1[u, v]) * hi_q[v])
                               for v in range(D)), Fraction(0))
        if top > 0:
            raise StructureError(f"unit {u} is active on the domain but no head carries it")
    return ridges, out.const - _q(b2[0])
