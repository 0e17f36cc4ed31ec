"""The engine's interval primitives enclose exact (mpmath) results; numpy's exp error."""

from __future__ import annotations

import mpmath
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from certify import intervals as iv

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
mpmath.mp.prec = 300  # exact for sums and products of binary64 numbers


def _contains(lo, hi, exact) -> bool:
    return mpmath.mpf(float(lo)) <= exact <= mpmath.mpf(float(hi))


@settings(max_examples=300, deadline=None)
@given(finite, finite, finite, finite)
def test_add_sub_mul_enclose_exact(a, b, c, d):
    alo, ahi = min(a, b), max(a, b)
    blo, bhi = min(c, d), max(c, d)
    A = [np.array([alo]), np.array([ahi])]
    B = [np.array([blo]), np.array([bhi])]
    for op, f in ((iv.add, lambda x, y: x + y), (iv.sub, lambda x, y: x - y),
                  (iv.mul, lambda x, y: x * y)):
        lo, hi = op(*A, *B)
        for x in (alo, ahi, (alo + ahi) / 2):
            for y in (blo, bhi, (blo + bhi) / 2):
                exact = f(mpmath.mpf(x), mpmath.mpf(y))
                assert _contains(lo[0], hi[0], exact), (op.__name__, x, y)


def test_add_widens_inexact_sums():
    # 1 + 2^-60 is not a float: an enclosure without outward widening would miss it.
    lo, hi = iv.add(np.array([1.0]), np.array([1.0]), np.array([2.0 ** -60]),
                    np.array([2.0 ** -60]))
    assert lo[0] < 1.0 + 2.0 ** -60 or hi[0] > 1.0
    assert _contains(lo[0], hi[0], mpmath.mpf(1) + mpmath.mpf(2) ** -60)
    assert hi[0] > 1.0


def test_exp_error_is_within_the_documented_widening():
    """Measure numpy's exp against correctly rounded mpmath on 200k points."""
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-700, 700, 100_000), rng.uniform(-5, 5, 100_000)])
    y = np.exp(x)
    worst = 0.0
    for xi, yi in zip(x[::20], y[::20]):
        exact = mpmath.exp(mpmath.mpf(float(xi)))
        ulp = np.spacing(yi)
        worst = max(worst, float(abs(mpmath.mpf(float(yi)) - exact) / ulp))
    assert worst < iv.EXP_ULPS, worst
    lo, hi = iv.exp_down(x), iv.exp_up(x)
    for xi, l, h in zip(x[::97], lo[::97], hi[::97]):
        assert _contains(l, h, mpmath.exp(mpmath.mpf(float(xi))))


def test_exp_underflow_region_is_enclosed():
    x = np.array([-800.0, -745.0, -710.0, -700.5])
    lo, hi = iv.exp_down(x), iv.exp_up(x)
    for xi, l, h in zip(x, lo, hi):
        assert _contains(l, h, mpmath.exp(mpmath.mpf(float(xi))))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=2,
                max_size=30))
def test_directed_sums(xs):
    a = np.array(xs)
    exact = mpmath.fsum(mpmath.mpf(v) for v in xs)
    assert mpmath.mpf(float(iv.sum_down(a, 0))) <= exact <= mpmath.mpf(float(iv.sum_up(a, 0)))
