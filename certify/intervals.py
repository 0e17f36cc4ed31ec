"""Outward-rounded interval arithmetic on numpy float64 arrays (the engine's arithmetic).

An interval is a pair of arrays ``(lo, hi)``.  Every function here returns arrays that
enclose the exact real result of the operation applied to every pair of reals in its
argument intervals.  The arithmetic runs in round-to-nearest and widens afterwards:

* correctly rounded operations (``+ - * /``) are off by at most half an ulp, so one
  ``np.nextafter`` step outward encloses the exact value (this also holds for subnormal
  and zero results, where the step is the smallest subnormal);
* ``exp`` is not correctly rounded in numpy; its result is widened by :data:`EXP_ULPS`
  steps, a margin above the largest error that ``tests/test_intervals.py`` measures against
  a correctly rounded mpmath reference; arguments below :data:`EXP_UNDERFLOW` get the
  enclosure ``[0, EXP_TINY]`` because relative error bounds fail for subnormal results.

Functions never return NaN for finite input except where noted; callers clip what they
must.  Nothing here is used by the checker (:mod:`certify.check`), which relies on Arb and
crlibm instead.
"""

from __future__ import annotations

import numpy as np

EXP_ULPS = 4
EXP_UNDERFLOW = -700.0
EXP_TINY = 1e-304  # > exp(-700) = 9.86e-305

_NEG, _POS = -np.inf, np.inf


def down(x: np.ndarray, steps: int = 1) -> np.ndarray:
    """The float ``steps`` ulps below ``x`` (a lower bound for anything within that)."""
    for _ in range(steps):
        x = np.nextafter(x, _NEG)
    return x


def up(x: np.ndarray, steps: int = 1) -> np.ndarray:
    """The float ``steps`` ulps above ``x``."""
    for _ in range(steps):
        x = np.nextafter(x, _POS)
    return x


def _exact_sum(a, b, s):
    """True where the float sum ``s = fl(a + b)`` is exact (Knuth's TwoSum error is 0)."""
    with np.errstate(invalid="ignore", over="ignore"):
        bb = s - a
        err = (a - (s - bb)) + (b - bb)
    return (err == 0) & np.isfinite(s)


def _round_sum(a, b, direction):
    s = a + b
    return np.where(_exact_sum(a, b, s), s, direction(s))


def add(alo, ahi, blo, bhi):
    """Sum of intervals; exact float sums are not widened."""
    return _round_sum(alo, blo, down), _round_sum(ahi, bhi, up)


def sub(alo, ahi, blo, bhi):
    return _round_sum(alo, -bhi, down), _round_sum(ahi, -blo, up)


def mul(alo, ahi, blo, bhi):
    """Product of intervals: min and max of the four end products, each widened."""
    with np.errstate(invalid="ignore"):
        p = np.stack(np.broadcast_arrays(alo * blo, alo * bhi, ahi * blo, ahi * bhi))
    # 0 * inf gives NaN; the product of an exact zero with anything finite is zero.
    p = np.where(np.isnan(p), 0.0, p)
    # A product with an exact zero factor is exactly zero; keep it so.
    zero = ((alo == 0) & (ahi == 0)) | ((blo == 0) & (bhi == 0))
    return np.where(zero, 0.0, down(p.min(axis=0))), np.where(zero, 0.0, up(p.max(axis=0)))


def sqr(alo, ahi):
    """Exact-range square ``{x^2 : x in [alo, ahi]}`` (tighter than ``mul(a, a)``)."""
    l2, h2 = alo * alo, ahi * ahi
    hi = up(np.maximum(l2, h2))
    lo = np.where((alo <= 0) & (ahi >= 0), 0.0, down(np.minimum(l2, h2)))
    return lo, hi


def exp_down(x: np.ndarray) -> np.ndarray:
    """A lower bound of ``exp(x)``, >= 0."""
    with np.errstate(over="ignore", under="ignore"):
        r = down(np.exp(x), EXP_ULPS)
    return np.where(x < EXP_UNDERFLOW, 0.0, np.maximum(r, 0.0))


def exp_up(x: np.ndarray) -> np.ndarray:
    """An upper bound of ``exp(x)`` (``inf`` on overflow)."""
    with np.errstate(over="ignore", under="ignore"):
        r = up(np.exp(x), EXP_ULPS)
    return np.where(x < EXP_UNDERFLOW, EXP_TINY, r)


def sum_up(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """An upper bound of the exact sum along ``axis`` (sequential, each step rounded up)."""
    x = np.moveaxis(x, axis, 0)
    acc = x[0].copy()
    for row in x[1:]:
        acc = up(acc + row)
    return acc


def sum_down(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """A lower bound of the exact sum along ``axis``."""
    x = np.moveaxis(x, axis, 0)
    acc = x[0].copy()
    for row in x[1:]:
        acc = down(acc + row)
    return acc


def dot_float_interval(W: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Enclosure of ``W @ x`` for a float matrix ``W`` (r, k) and intervals ``x`` (k, m)."""
    r, k = W.shape
    m = lo.shape[1]
    acc_lo, acc_hi = np.zeros((r, m)), np.zeros((r, m))
    for i in range(k):
        col = W[:, i:i + 1]
        plo, phi = mul(col, col, lo[i:i + 1], hi[i:i + 1])
        acc_lo, acc_hi = add(acc_lo, acc_hi, plo, phi)
    return acc_lo, acc_hi
