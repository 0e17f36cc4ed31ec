"""Proving ``sup |N - f| <= epsilon`` through the ridge decomposition (engine).

For a ReLU-network target and a network whose heads each read one latent proportional to a
unit's pre-activation, :func:`certify.ridge.ridge_decomposition` bounds the error by a sum
of one-variable errors.  Each ridge h is proved against its share ``epsilon_h`` of the
budget (proportional to the spread of the head's values) with the input-box engine in one
dimension, over the exact range of its latent; the claim is ``sum_h U_h + |c_N - b|``.
Only mode ``prove`` uses this path (a sum of suprema is not a tight measure).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from certify.box_enclosure import prepare_output
from certify.box_engine import BoxCover, certify_boxes, encode_tree, witness_lower
from certify.exact_scores import OutputScores, grid_structure
from certify.ridge import Ridge
from certify.targets import NumpyTarget


def _down(q: Fraction) -> float:
    f = float(q)
    return f if Fraction(f) <= q else math.nextafter(f, -math.inf)


def _up(q: Fraction) -> float:
    return -_down(-q)


@dataclass
class RidgeResult:
    holds: bool
    lower: float
    upper: float
    ridges: list[tuple[Ridge, BoxCover, float, float, float]]  # ridge, cover, latent lo/hi, U_h
    constant: float  # >= |c_N - b|
    witness_x: np.ndarray
    evaluated: int
    seconds: float
    message: str
    counterexample: dict | None = None

    @property
    def covers(self) -> list[BoxCover]:
        return [c for _, c, _, _, _ in self.ridges]


def certify_ridges(ridges: list[Ridge], const_diff: Fraction, full_output, full_target,
                   lo: np.ndarray, hi: np.ndarray, epsilon: float, progress=None,
                   jobs: int | None = 1, scheduler: str | None = None) -> RidgeResult:
    """Prove each ridge against its share of ``epsilon``; see the module docstring."""
    start = time.perf_counter()
    constant = _up(abs(const_diff))
    spread = [float(max(r.scores.V) - min(r.scores.V)) for r in ridges]
    total = sum(spread) or 1.0
    budget = (epsilon - constant) * (1 - 2.0 ** -20)
    done, evaluated, ok, message = [], 0, budget > 0, ""
    upper_q = Fraction(constant)
    best = (0.0, None, None)
    if not ok:
        message = "the output constant alone exceeds epsilon"
    for r, s in zip(ridges, spread):
        if not ok:
            break
        eps_h = budget * max(s, 1e-300) / total
        out1 = OutputScores(0, 0, [r.scores], Fraction(0))
        po = prepare_output(out1, [grid_structure(r.scores, r.hint)])
        target = NumpyTarget.of(r.target(), 1)
        lo_f, hi_f = _down(r.lo), _up(r.hi)
        res = certify_boxes([po], target, np.array([lo_f]), np.array([hi_f]), "prove", 0.01,
                            eps_h, progress, jobs, scheduler)
        evaluated += res.evaluated
        if not res.holds:
            ok, message = False, f"ridge of head {r.head}: {res.message}"
            break
        upper_q += Fraction(res.upper)
        done.append((r, res.covers[0], lo_f, hi_f, res.upper))
        if res.lower > best[0]:
            best = (res.lower, r, float(res.witness_x[0]))
    upper = _up(upper_q)
    # Witness: an input whose latent is the worst ridge's witness; its full error is a
    # rigorous lower bound (any point would do; this one tends to be large).
    x = (lo + hi) / 2
    if best[1] is not None:
        x = _point_with_latent(best[1], best[2], lo, hi)
    lower = witness_lower(full_output, full_target, x) * (1 - 2.0 ** -24)
    holds = ok and Fraction(upper) <= Fraction(epsilon) and lower <= upper
    if ok and not holds:
        message = "bound above epsilon"
    return RidgeResult(holds, lower, upper, done, constant, x, evaluated,
                       time.perf_counter() - start, message or "holds")


def _point_with_latent(r: Ridge, target_l: float, lo: np.ndarray, hi: np.ndarray
                       ) -> np.ndarray:
    """A point of the box whose latent is (close to) ``target_l`` (a heuristic choice)."""
    P = np.array([float(v) for v in r.P])
    xmin, xmax = np.where(P >= 0, lo, hi), np.where(P >= 0, hi, lo)
    lmin, lmax = float(P @ xmin + float(r.t)), float(P @ xmax + float(r.t))
    lam = 0.0 if lmax == lmin else min(1.0, max(0.0, (target_l - lmin) / (lmax - lmin)))
    return np.clip(xmin + lam * (xmax - xmin), lo, hi)


def ridge_cover_json(result: RidgeResult) -> dict:
    """The cover entry of a ridge certificate."""
    ridges = []
    for r, cover, lo_f, hi_f, upper in result.ridges:
        tree, bounds = encode_tree(cover)
        ridges.append({"head": r.head, "unit": r.unit, "latent": [lo_f, hi_f],
                       "upper": upper, "tree": tree, "bounds": [float(b) for b in bounds]})
    return {"token": 0, "row": 0, "ridges": ridges, "constant": result.constant}
