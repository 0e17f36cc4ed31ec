"""Fits and verdicts of ``attncert audit`` (docs/audit.md, "How a verdict is decided").

Everything here is plain arithmetic on numbers that the audit has already certified (or,
for the trained models, sampled); nothing in this module proves anything.  A fitted
exponent is a least-squares summary of certified points, not itself a certified quantity,
and the report says so.

Verdicts
--------
``confirmed with constant``
    the certified figures agree with the paper's claim (rate exponent within
    :data:`RATE_TOL` of the claimed one, or a qualitative claim certified at every
    requested accuracy), and the audit states the constant the paper leaves implicit.
``refined``
    the claim stands, and the certified figures say more than it does: a faster rate, a
    finite temperature that beats the limit the proof uses, or (for the paper's
    experiments, whose claims are about sampled test errors) a reproduced trend beside which
    the audit puts a certified error of an explicit network with the same resources.
``not reproduced``
    the certified (or, for experiments, sampled) figures contradict the claim, or a
    certification the claim needs did not succeed.
``not run``
    the evidence was not computed (for example training without PyTorch, or ``--quick``).
``insufficient data``
    fewer than two distinct points to fit (only in reduced runs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

CONFIRMED = "confirmed with constant"
REFINED = "refined"
NOT_REPRODUCED = "not reproduced"
NOT_RUN = "not run"
INSUFFICIENT = "insufficient data"
VERDICTS = (CONFIRMED, REFINED, NOT_REPRODUCED, NOT_RUN, INSUFFICIENT)

#: Largest distance between a fitted and the claimed rate exponent that still confirms it.
RATE_TOL = 0.1
#: Relative distance from a limit value within which the limit is "confirmed".
LIMIT_TOL = 0.1


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> dict[str, float] | None:
    """Least-squares fit of ``y = C x^s`` in log-log coordinates.

    Parameters
    ----------
    x, y : sequences of positive floats (same length)

    Returns
    -------
    dict or None
        ``exponent`` s, ``coefficient`` C, ``r2`` (coefficient of determination of the
        log-log fit; 1 for two points) and ``points``; None when fewer than two distinct x
        are given or a value is not positive and finite.  The fit summarises the points; it
        guarantees nothing about points not given.
    """
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    if xs.shape != ys.shape or xs.size < 2:
        return None
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys)) and np.all(xs > 0)
            and np.all(ys > 0)):
        return None
    lx, ly = np.log(xs), np.log(ys)
    if np.ptp(lx) == 0:
        return None
    s, c = np.polyfit(lx, ly, 1)
    resid = ly - (s * lx + c)
    ss = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 if ss == 0 else 1.0 - float(np.sum(resid ** 2)) / ss
    return {"exponent": float(s), "coefficient": float(math.exp(c)), "r2": r2,
            "points": int(xs.size)}


def fit_two_factors(x1: Sequence[float], x2: Sequence[float], y: Sequence[float]
                    ) -> dict[str, float] | None:
    """Least-squares fit of ``y = C x1^a x2^b`` in log coordinates.

    Returns
    -------
    dict or None
        ``exponent_1`` a, ``exponent_2`` b, ``coefficient`` C, ``r2`` and ``points``; None
        if the design is degenerate (fewer than three points, or x1 or x2 constant, or a
        value not positive and finite).
    """
    a1, a2, ys = (np.asarray(v, float) for v in (x1, x2, y))
    if not (a1.shape == a2.shape == ys.shape) or ys.size < 3:
        return None
    if not all(np.all(np.isfinite(v)) and np.all(v > 0) for v in (a1, a2, ys)):
        return None
    l1, l2, ly = np.log(a1), np.log(a2), np.log(ys)
    if np.ptp(l1) == 0 or np.ptp(l2) == 0:
        return None
    design = np.stack([l1, l2, np.ones_like(l1)], axis=1)
    coef, *_ = np.linalg.lstsq(design, ly, rcond=None)
    if np.linalg.matrix_rank(design) < 3:
        return None
    resid = ly - design @ coef
    ss = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 if ss == 0 else 1.0 - float(np.sum(resid ** 2)) / ss
    return {"exponent_1": float(coef[0]), "exponent_2": float(coef[1]),
            "coefficient": float(math.exp(coef[2])), "r2": r2, "points": int(ys.size)}


def rate_verdict(order: float | None, claimed: float = 1.0, tol: float = RATE_TOL,
                 complete: bool = True) -> str:
    """Verdict on a claimed convergence order.

    Parameters
    ----------
    order : float or None
        Fitted order: the error behaves like ``h^order`` in the resolution ``h`` (for
        ``O(1/p)``, h = 1/p and the claimed order is 1).  None: no fit was possible.
    claimed : float
        The paper's order.
    tol : float
        Largest ``|order - claimed|`` that confirms the claim.
    complete : bool
        False when a certification the fit needs did not succeed.

    Returns
    -------
    str
        :data:`CONFIRMED` within the tolerance, :data:`REFINED` for a faster rate (order
        above ``claimed + tol``), :data:`NOT_REPRODUCED` for a slower one or an incomplete
        set, :data:`INSUFFICIENT` without a fit.
    """
    if not complete:
        return NOT_REPRODUCED
    if order is None or not math.isfinite(order):
        return INSUFFICIENT
    if abs(order - claimed) <= tol:
        return CONFIRMED
    return REFINED if order > claimed else NOT_REPRODUCED


def limit_verdict(ratio: float | None, tol: float = LIMIT_TOL, complete: bool = True) -> str:
    """Verdict on a limit the proof uses, from ``ratio = best certified / limit value``.

    Returns :data:`CONFIRMED` if ``|ratio - 1| <= tol``, :data:`REFINED` if the certified
    value is smaller (a finite parameter does better than the limit), else
    :data:`NOT_REPRODUCED` (also for an incomplete set); :data:`INSUFFICIENT` without data.
    """
    if not complete:
        return NOT_REPRODUCED
    if ratio is None or not math.isfinite(ratio):
        return INSUFFICIENT
    if abs(ratio - 1.0) <= tol:
        return CONFIRMED
    return REFINED if ratio < 1.0 else NOT_REPRODUCED


def bracket_verdict(brackets: Sequence[tuple[float, float]], order: float | None = None,
                    claimed: float = 1.0, tol: float = RATE_TOL, complete: bool = True
                    ) -> tuple[str, tuple[float, float] | None]:
    """Verdict on ``resource = O(1/epsilon)`` from the constants each search row brackets.

    A search row that holds at resource r and fails at r - 1 brackets the constant C of
    the model ``error = C scale / r`` in ``(lo, hi]``; a row that failed at its largest
    resource gives only ``lo``, a row that holds at the smallest resource only ``hi``
    (``lo = 0``).  The claim with one constant means one C lies in every bracket.

    Parameters
    ----------
    brackets : sequence of (lo, hi)
        ``0 <= lo``, ``hi`` may be ``inf``.
    order : float, optional
        A fitted order of the resource in 1/epsilon, used only to tell a faster rate
        (:data:`REFINED`) from a slower one when the brackets disagree.
    tol : float
        Relative disagreement tolerated: the claim is confirmed if
        ``max lo <= (1 + tol) min hi``.

    Returns
    -------
    (str, (float, float) or None)
        The verdict and ``(max lo, min hi)``.  :data:`INSUFFICIENT` with fewer than two
        brackets or no finite upper end.
    """
    if not complete:
        return NOT_REPRODUCED, None
    bs = [(float(lo), float(hi)) for lo, hi in brackets]
    if len(bs) < 2 or not any(math.isfinite(hi) for _, hi in bs):
        return INSUFFICIENT, None
    lo, hi = max(b[0] for b in bs), min(b[1] for b in bs)
    if lo <= (1 + tol) * hi:
        return CONFIRMED, (lo, hi)
    if order is not None and order > claimed + tol:
        return REFINED, (lo, hi)
    return NOT_REPRODUCED, (lo, hi)


def existence_verdict(certified: int, total: int) -> str:
    """Verdict on a qualitative existence claim: :data:`CONFIRMED` if every requested case
    was certified (the certified resources are the constant), else :data:`NOT_REPRODUCED`;
    :data:`INSUFFICIENT` if nothing was requested."""
    if total <= 0:
        return INSUFFICIENT
    return CONFIRMED if certified == total else NOT_REPRODUCED


def trend_verdict(x: Sequence[float], y: Sequence[float], direction: int, ran: bool
                  ) -> tuple[str, float | None]:
    """Verdict on a claimed monotone trend of a *sampled* quantity (the paper's experiments).

    Parameters
    ----------
    x, y : sequences of positive floats
        The varied resource and the sampled error.
    direction : {-1, +1}
        -1: the claim is that y decreases as x grows; +1: that it increases.
    ran : bool
        False when the samples were not computed.

    Returns
    -------
    (str, float or None)
        The verdict and the fitted log-log slope.  :data:`NOT_RUN` if not ran,
        :data:`INSUFFICIENT` without a fit, :data:`REFINED` if the slope has the claimed
        sign (the trend is reproduced, and the audit adds certified figures beside it),
        :data:`NOT_REPRODUCED` otherwise.  A sampled trend is evidence, not proof.
    """
    if direction not in (-1, 1):
        raise ValueError("direction must be -1 or +1")
    if not ran:
        return NOT_RUN, None
    fit = fit_power_law(x, y)
    if fit is None:
        return INSUFFICIENT, None
    slope = fit["exponent"]
    return (REFINED if slope * direction > 0 else NOT_REPRODUCED), slope


def summary(values: Sequence[float]) -> dict[str, float] | None:
    """``min``, ``median``, ``max`` of positive finite values (None if there are none)."""
    v = [float(x) for x in values if x is not None and math.isfinite(x)]
    if not v:
        return None
    return {"min": min(v), "median": float(np.median(v)), "max": max(v)}
