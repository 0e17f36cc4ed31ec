"""The checker's scalar backends (certify/check/backends.py): ``finite`` and the float ends.

``bk.finite(X)`` may say True only for a bounded enclosure; the weight clamps of the checker
fall back to the trivial bound otherwise.  Covers: NaN, infinite and unbounded enclosures
are not finite in either backend; ordinary enclosures are, and their float ends enclose the
mpmath value of the same operation.
"""

from __future__ import annotations

import math

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certify.check.backends import make_backend


@pytest.mark.parametrize("name", ["flint", "pyinterval"])
def test_unbounded_enclosures_are_not_finite(name):
    bk = make_backend(name)
    with bk.context():
        one, zero = bk.num(1), bk.num(0)
        for x in (bk.interval(-math.inf, 1.0), bk.interval(0.0, math.inf)):
            assert not bk.finite(x), x
        # e^(10^6) is a bounded Arb ball (beyond binary64, so its float ends are infinite)
        # and an overflowing pyinterval interval: finite may differ, never wrongly True.
        big = bk.exp(bk.num(1e6))
        assert bk.finite(big) == (name == "flint") and bk.ub(big) == math.inf
        if name == "flint":  # Arb: 1/0 is NaN; pyinterval raises or gives an unbounded set
            assert not bk.finite(one / zero)


@pytest.mark.parametrize("name", ["flint", "pyinterval"])
@settings(max_examples=60, deadline=None)
@given(a=st.floats(-700, 700), b=st.floats(1.0, 1e3))
def test_finite_enclosures_and_their_ends(name, a, b):
    bk = make_backend(name)
    with bk.context():
        x = bk.exp(bk.num(a) / bk.num(b))
        assert bk.finite(x)
        with mpmath.workprec(200):
            exact = mpmath.exp(mpmath.mpf(a) / mpmath.mpf(b))
        assert bk.lb(x) <= exact <= bk.ub(x)
