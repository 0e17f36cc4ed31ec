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


# ---------------------------------------------------------------------------------------
# Elementary functions for the expression evaluator (:mod:`certify.expression`).
#
# The same conventions as above: outward-rounded results computed in round-to-nearest.
# numpy's ``log``, ``sin``, ``cos``, ``tan``, ``arctan`` and ``tanh`` are not correctly
# rounded; their results are widened by :data:`FUNC_ULPS` steps, a margin above the
# largest error that ``tests/test_expression.py`` measures against mpmath (as for
# :data:`EXP_ULPS`).  ``np.sqrt`` and ``/`` are correctly rounded (IEEE 754), so one step
# suffices.  The trigonometric functions are trusted only for ``|x| <= TRIG_MAX_ARG``
# (the measured range); beyond it ``sin`` and ``cos`` return ``[-1, 1]`` and ``tan`` the
# infinite interval.
# ---------------------------------------------------------------------------------------

FUNC_ULPS = 4
TRIG_MAX_ARG = 2.0 ** 20
# Margin, in units of pi/2, by which an interval is widened before looking for extrema
# and poles.  ``x * (2/pi)`` computed in floats is off by at most |x| * 2.3e-16 <= 2.5e-10
# for |x| <= TRIG_MAX_ARG, and the few float additions that follow by less than that, so
# 1e-6 covers every rounding error with a wide margin ("may contain" counts as "contains").
_TRIG_MARGIN = 1e-6
_TWO_OVER_PI = 2.0 / np.pi


def frac_down(q) -> float:
    """The largest float ``<= q`` for a ``fractions.Fraction`` ``q`` (``-inf`` below range)."""
    from fractions import Fraction

    try:
        f = float(q)  # int / int true division is correctly rounded
    except OverflowError:
        return -np.inf if q < 0 else float(np.nextafter(np.inf, 0.0))
    if Fraction(f) > q:
        f = float(np.nextafter(f, -np.inf))
    return f


def frac_up(q) -> float:
    """The smallest float ``>= q`` for a ``fractions.Fraction`` ``q`` (``inf`` above range)."""
    return -frac_down(-q)


def func_down(y: np.ndarray) -> np.ndarray:
    """A lower bound of ``f(x)`` from numpy's value ``y = f(x)`` (``FUNC_ULPS`` steps)."""
    return down(y, FUNC_ULPS)


def func_up(y: np.ndarray) -> np.ndarray:
    """An upper bound of ``f(x)`` from numpy's value ``y = f(x)`` (``FUNC_ULPS`` steps)."""
    return up(y, FUNC_ULPS)


def div(alo, ahi, blo, bhi):
    """Quotient of intervals; valid only where ``blo > 0`` or ``bhi < 0`` (caller checks).

    Where the divisor interval contains 0 the returned values are meaningless (but not
    NaN unless an input is); the caller must discard them.
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        q = np.stack(np.broadcast_arrays(alo / blo, alo / bhi, ahi / blo, ahi / bhi))
    return down(q.min(axis=0)), up(q.max(axis=0))


def log_down(x: np.ndarray) -> np.ndarray:
    """A lower bound of ``log(x)`` for ``x > 0`` (``-inf`` at 0, NaN below)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return func_down(np.log(x))


def log_up(x: np.ndarray) -> np.ndarray:
    """An upper bound of ``log(x)`` for ``x > 0`` (``-inf`` at 0, NaN below)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return func_up(np.log(x))


def sqrt_down(x: np.ndarray) -> np.ndarray:
    """A lower bound (>= 0) of ``sqrt(x)`` for ``x >= 0`` (NaN below)."""
    with np.errstate(invalid="ignore"):
        return np.maximum(down(np.sqrt(x)), 0.0)


def sqrt_up(x: np.ndarray) -> np.ndarray:
    """An upper bound of ``sqrt(x)`` for ``x >= 0`` (NaN below)."""
    with np.errstate(invalid="ignore"):
        return up(np.sqrt(x))


def pow_nonneg_down(x: np.ndarray, n: int) -> np.ndarray:
    """A lower bound (>= 0) of ``x**n`` for ``x >= 0`` and an integer ``n >= 0``.

    Binary exponentiation with every product rounded down: each partial product is a
    lower bound of a non-negative exact value, and products of non-negative lower
    bounds are lower bounds.
    """
    x = np.asarray(x, dtype=float)
    if n == 0:
        return np.ones_like(x)
    acc = x.copy()
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for bit in bin(n)[3:]:
            acc = np.maximum(down(acc * acc), 0.0)
            if bit == "1":
                acc = np.maximum(down(acc * x), 0.0)
    return acc


def pow_nonneg_up(x: np.ndarray, n: int) -> np.ndarray:
    """An upper bound of ``x**n`` for ``x >= 0`` and an integer ``n >= 0`` (``inf`` on
    overflow)."""
    x = np.asarray(x, dtype=float)
    if n == 0:
        return np.ones_like(x)
    acc = x.copy()
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for bit in bin(n)[3:]:
            acc = up(acc * acc)
            if bit == "1":
                acc = up(acc * x)
    return acc


def pow_int(alo, ahi, n: int):
    """Exact-range enclosure of ``{x**n : x in [alo, ahi]}`` for an integer ``n >= 0``.

    Odd powers are increasing; even powers are taken on ``|x|`` and have lower end 0 on
    intervals containing 0.  ``0**0`` is 1.
    """
    alo, ahi = np.asarray(alo, dtype=float), np.asarray(ahi, dtype=float)
    if n == 0:
        one = np.ones(np.broadcast_shapes(alo.shape, ahi.shape))
        return one, one.copy()
    if n % 2:
        lo = np.where(alo >= 0, pow_nonneg_down(np.abs(alo), n), -pow_nonneg_up(np.abs(alo), n))
        hi = np.where(ahi >= 0, pow_nonneg_up(np.abs(ahi), n), -pow_nonneg_down(np.abs(ahi), n))
        return lo, hi
    small = np.where(ahi <= 0, -ahi, np.where(alo >= 0, alo, 0.0))
    large = np.maximum(np.abs(alo), np.abs(ahi))
    return pow_nonneg_down(small, n), pow_nonneg_up(large, n)


def _maybe_hits(ulo, uhi, r: float, period: float):
    """True where ``[ulo, uhi]`` (widened by the margin) may contain ``r + period * k``."""
    k = np.floor((uhi + _TRIG_MARGIN - r) / period)
    return r + period * k >= ulo - _TRIG_MARGIN


def _sin_cos(lo, hi, max_at: float, min_at: float, f):
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        ulo, uhi = lo * _TWO_OVER_PI, hi * _TWO_OVER_PI
        flo, fhi = f(lo), f(hi)
        vlo = np.maximum(np.minimum(func_down(flo), func_down(fhi)), -1.0)
        vhi = np.minimum(np.maximum(func_up(flo), func_up(fhi)), 1.0)
        vlo = np.where(_maybe_hits(ulo, uhi, min_at, 4.0), -1.0, vlo)
        vhi = np.where(_maybe_hits(ulo, uhi, max_at, 4.0), 1.0, vhi)
    trusted = (np.abs(lo) <= TRIG_MAX_ARG) & (np.abs(hi) <= TRIG_MAX_ARG)
    return np.where(trusted, vlo, -1.0), np.where(trusted, vhi, 1.0)


def sin(lo, hi):
    """Enclosure of ``{sin x : x in [lo, hi]}`` for finite ``lo <= hi``.

    The end values are widened by :data:`FUNC_ULPS`; the maxima ``pi/2 + 2 k pi`` and
    minima ``-pi/2 + 2 k pi`` are detected conservatively (an interval that may contain
    one gets the end value 1, resp. -1).  ``[-1, 1]`` beyond :data:`TRIG_MAX_ARG`.
    """
    return _sin_cos(lo, hi, 1.0, 3.0, np.sin)


def cos(lo, hi):
    """Enclosure of ``{cos x : x in [lo, hi]}``; as :func:`sin` (maxima at ``2 k pi``)."""
    return _sin_cos(lo, hi, 0.0, 2.0, np.cos)


def tan(lo, hi):
    """Enclosure of ``{tan x : x in [lo, hi]}``: ``(-inf, inf)`` where the interval may
    contain a pole ``pi/2 + k pi`` or goes beyond :data:`TRIG_MAX_ARG`; elsewhere tan is
    increasing and the end values are widened by :data:`FUNC_ULPS`."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        pole = _maybe_hits(lo * _TWO_OVER_PI, hi * _TWO_OVER_PI, 1.0, 2.0)
        vlo, vhi = func_down(np.tan(lo)), func_up(np.tan(hi))
    bad = pole | ~((np.abs(lo) <= TRIG_MAX_ARG) & (np.abs(hi) <= TRIG_MAX_ARG))
    return np.where(bad, -np.inf, vlo), np.where(bad, np.inf, vhi)


def atan(lo, hi):
    """Enclosure of ``{atan x : x in [lo, hi]}`` (increasing; widened by FUNC_ULPS)."""
    return func_down(np.arctan(lo)), func_up(np.arctan(hi))


def tanh(lo, hi):
    """Enclosure of ``{tanh x : x in [lo, hi]}`` (increasing; widened, clipped to [-1, 1])."""
    return (np.maximum(func_down(np.tanh(lo)), -1.0),
            np.minimum(func_up(np.tanh(hi)), 1.0))


def _sum_error(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """``(s, err)``: the float sum along ``axis`` and a bound of its rounding error.

    Whatever order numpy adds in, ``|fl(sum x) - sum x| <= gamma_{n-1} sum |x_i|`` with
    ``gamma_k = k u / (1 - k u)``, ``u = 2^-53`` (floating-point addition is exact when its
    result is subnormal, so underflow adds nothing); the computed ``A = fl(sum |x_i|)`` is
    at least ``(1 - gamma_{n-1}) sum |x_i|``.  Hence the error is at most ``2 gamma_{n-1} A
    <= (2n + 4) u A`` for ``n u < 1/4``, and ``(2n + 4) u`` is an exact float.
    """
    n = x.shape[axis]
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.sum(x, axis=axis)
        A = np.sum(np.abs(x), axis=axis)
        err = up(A * ((2 * n + 4) * 2.0 ** -53))
    return s, err


def sum_up_fast(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """An upper bound of the exact sum along ``axis`` (one vectorised sum plus an error bound;
    :func:`_sum_error`); ``inf`` where the sum is not finite."""
    s, err = _sum_error(x, axis)
    with np.errstate(invalid="ignore", over="ignore"):
        r = up(s + err)
    return np.where(np.isfinite(r), r, np.inf)


def sum_down_fast(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """A lower bound of the exact sum along ``axis`` (mirror of :func:`sum_up_fast`)."""
    s, err = _sum_error(x, axis)
    with np.errstate(invalid="ignore", over="ignore"):
        r = down(s - err)
    return np.where(np.isfinite(r), r, -np.inf)
