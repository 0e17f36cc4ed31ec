"""Rigorous scalar arithmetic for the checker: the backend interface and two implementations.

A *backend number* ``X`` stands for a non-empty closed set of reals (an Arb ball, or a
pyinterval interval) that contains the exact real it encloses.  Every operation is
*inclusion isotone*: ``X op Y`` contains ``x op y`` for every ``x in X`` and ``y in Y``, and
``exp``, ``min``, ``max`` likewise.  Consequently, if a real number is defined by a formula
in exact reals and the formula is evaluated with backend numbers that contain those
reals, the result contains the value of the formula.  This is the only property of the
arithmetic the checker relies on (see :mod:`certify.check.bound`).

Operations used by the checker (``bk`` is a backend):

* ``+ - * /`` between backend numbers and with Python ``int``/``float`` (converted exactly);
* ``bk.num(x)`` (exact float or int), ``bk.rational(q)`` (encloses a ``Fraction``);
* ``bk.exp``, ``bk.min``, ``bk.max``, ``bk.interval(lo, hi)`` (contains ``[lo, hi]``);
* ``bk.lo(X)`` / ``bk.hi(X)``: an *exact* number (a zero-radius ball or a float) that is
  ``<= inf X`` / ``>= sup X``; it takes part in arithmetic, and ``bk.lo(X) >= 0`` is decided
  exactly;
* ``bk.lb(X)`` / ``bk.ub(X)``: a Python float ``<= inf X`` / ``>= sup X``;
* ``bk.finite(X)``: True only if ``X`` is a bounded set of reals (no NaN, no infinite end
  or radius); False is always allowed (callers then fall back to a trivial bound);
* ``bk.le(X, Y)``: True only if ``x <= y`` for every ``x in X``, ``y in Y`` (a comparison
  that is not certain is False);
* ``bk.mid(X)``: some float near ``X``; used only for heuristic choices, never for a bound;
* ``bk.context()``: a context manager inside which all computations must run.

Two implementations: :class:`FlintBackend` (python-flint's Arb balls at
:data:`FLINT_PREC` bits) and :class:`PyIntervalBackend` (pyinterval's intervals, whose
arithmetic is rounded outward by switching the FPU rounding mode, with ``imath.exp`` from
crlibm, correctly rounded).  The module also holds the exact conversions
:func:`float_down` / :func:`float_up` from rationals to floats.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

#: Working precision of the Arb backend, in bits.
FLINT_PREC = 80


def float_down(q: Fraction) -> float:
    """The largest float ``<= q`` (``-inf`` below the float range)."""
    try:
        f = float(q)  # int / int true division: correctly rounded
    except OverflowError:
        return -math.inf if q < 0 else math.nextafter(math.inf, 0.0)
    if Fraction(f) > q:
        f = math.nextafter(f, -math.inf)
    return f


def float_up(q: Fraction) -> float:
    """The smallest float ``>= q`` (``inf`` above the float range)."""
    return -float_down(-q)


class FlintBackend:
    """Arb ball arithmetic (python-flint) at :data:`FLINT_PREC` bits."""

    name = "flint"

    def __init__(self) -> None:
        from flint import arb, ctx, fmpq

        self._arb, self._ctx, self._fmpq = arb, ctx, fmpq

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        """Set the working precision; restore the caller's precision afterwards."""
        saved = self._ctx.prec
        self._ctx.prec = FLINT_PREC
        try:
            yield
        finally:
            self._ctx.prec = saved

    def num(self, x: float | int) -> Any:
        return self._arb(x)  # exact for floats and integers

    def rational(self, q: Fraction) -> Any:
        return self._arb(self._fmpq(q.numerator, q.denominator))

    def exp(self, x: Any) -> Any:
        return x.exp()

    def interval(self, lo: float, hi: float) -> Any:
        """A ball containing the closed interval ``[lo, hi]`` of two floats."""
        return self._arb(lo) if lo == hi else self._arb(lo).union(self._arb(hi))

    def min(self, x: Any, y: Any) -> Any:
        return self._arb.min(x, y)

    def max(self, x: Any, y: Any) -> Any:
        return self._arb.max(x, y)

    def lo(self, x: Any) -> Any:
        return x.lower()

    def hi(self, x: Any) -> Any:
        return x.upper()

    def finite(self, x: Any) -> bool:
        return bool(x.is_finite())  # finite midpoint and radius: a bounded ball

    def lb(self, x: Any) -> float:
        return -self.ub(-x)

    def ub(self, x: Any) -> float:
        if not x.is_finite():
            return math.inf
        u = x.upper()
        f = float(u)
        if math.isinf(f):
            return f if f > 0 else -math.nextafter(math.inf, 0.0)
        if self._arb(f) < u:
            f = math.nextafter(f, math.inf)
        return f

    def le(self, x: Any, y: Any) -> bool:
        return bool(x <= y)

    def mid(self, x: Any) -> float:
        return float(x.mid())


class PyIntervalBackend:
    """pyinterval intervals: outward-rounded arithmetic, crlibm ``exp``."""

    name = "pyinterval"

    def __init__(self) -> None:
        from interval import imath, interval

        self._iv, self._exp = interval, imath.exp
        self._new, self._comp = interval.new, interval.Component

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        """pyinterval keeps no global state between operations."""
        yield

    def _make(self, lo: float, hi: float) -> Any:
        return self._new((self._comp(lo, hi),))

    def num(self, x: float | int) -> Any:
        return self._iv.cast(x)  # exact for floats; integers beyond 2^53 are enclosed

    def rational(self, q: Fraction) -> Any:
        return self._make(float_down(q), float_up(q))

    def exp(self, x: Any) -> Any:
        return self._exp(x)

    def interval(self, lo: float, hi: float) -> Any:
        """The closed interval ``[lo, hi]`` of two floats."""
        return self._make(lo, hi)

    def min(self, x: Any, y: Any) -> Any:
        return self._make(min(x[0][0], y[0][0]), min(x[-1][1], y[-1][1]))

    def max(self, x: Any, y: Any) -> Any:
        return self._make(max(x[0][0], y[0][0]), max(x[-1][1], y[-1][1]))

    def lo(self, x: Any) -> float:
        return x[0][0] if len(x) else math.nan

    def hi(self, x: Any) -> float:
        return x[-1][1] if len(x) else math.nan

    def finite(self, x: Any) -> bool:
        return math.isfinite(self.lb(x)) and math.isfinite(self.ub(x))

    def lb(self, x: Any) -> float:
        v = self.lo(x)
        return -math.inf if math.isnan(v) else v

    def ub(self, x: Any) -> float:
        v = self.hi(x)
        return math.inf if math.isnan(v) else v

    def le(self, x: Any, y: Any) -> bool:
        return bool(self.hi(x) <= self.lo(y))

    def mid(self, x: Any) -> float:
        lo, hi = self.lo(x), self.hi(x)
        if math.isinf(lo) or math.isinf(hi):
            return hi if math.isinf(lo) else lo
        return 0.5 * (lo + hi)


BACKENDS = {"flint": FlintBackend, "pyinterval": PyIntervalBackend}


def make_backend(name: str) -> FlintBackend | PyIntervalBackend:
    """A fresh backend by name (``"flint"`` or ``"pyinterval"``)."""
    return BACKENDS[name]()
