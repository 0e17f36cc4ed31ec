"""The checker's rigorous operations for user expressions (:mod:`certify.expression`).

Two *ops* objects for :func:`certify.expression.evaluate`, matching the two scalar
backends of :mod:`certify.check.backends`:

* :class:`ArbOps` -- python-flint Arb balls, at the precision the caller has set
  (``flint.ctx.prec``, e.g. inside :meth:`~certify.check.backends.FlintBackend.context`);
* :class:`PyIntervalOps` -- pyinterval intervals (outward-rounded arithmetic, crlibm
  ``exp log atan sin cos tan``, ``tanh`` from crlibm ``sinh``/``cosh``).

Guarantee of both: every operation returns a set that contains the exact result of the
operation at every point of its argument sets, or raises
:class:`~certify.expression.EnclosureFailure` -- never a silently partial, empty or
non-finite result.  An operation fails where it is undefined (or unbounded) somewhere
on its argument: ``log`` of a set reaching 0, ``sqrt`` of a set reaching below 0, a
divisor set containing 0, ``tan`` over a pole, a non-integer power of a set reaching
below 0 (or reaching 0 for a negative exponent), and any non-finite result.  ``sign``
and ``heaviside`` return the hull of their values over the argument (``heaviside`` takes
every value in ``[0, 1]`` at 0; ``sign(0) = 0``).

Every value is a single closed interval (pyinterval) or a finite ball (Arb).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from certify.check.backends import float_down, float_up
from certify.expression import EnclosureFailure


class ArbOps:
    """Arb ball operations (python-flint); the caller sets ``flint.ctx.prec``.

    Inputs must be finite balls.  Where Arb's own function would give a loose ball that
    reaches below 0 on a non-negative set (``abs``, even powers and ``sqrt`` of a ball
    containing 0), the result is rebuilt as ``[0, u]`` from an upper bound ``u`` so that
    later ``sqrt``/``log``/powers do not fail spuriously.
    """

    def __init__(self) -> None:
        from flint import arb, fmpq

        self._arb, self._fmpq = arb, fmpq

    def _ok(self, r: Any, reason: str = "result is not finite") -> Any:
        if not r.is_finite():
            raise EnclosureFailure(reason)
        return r

    def _zero_to(self, u: Any) -> Any:
        """A ball containing ``[0, sup u]`` with lower end exactly 0 (``u >= 0``)."""
        return self._ok(self._arb.union(self._arb(0), u).nonnegative_part())

    def _monotone(self, a: Any, f: Any) -> Any:
        """``f`` over the ball for a function ``f`` monotone on it: the hull of ``f`` at
        the two (exact) end points.  Arb's own ``f(a)`` bounds the derivative over the
        whole ball, which is loose on wide balls."""
        if a.is_exact():
            return self._ok(f(a))
        return self._ok(self._arb.union(f(a.lower()), f(a.upper())))

    def point(self, lo: float, hi: float | None = None) -> Any:
        """A ball containing the float interval ``[lo, hi]`` (the point ``lo`` if no hi).

        The ball reaches below 0 only if ``lo < 0`` and above 0 only if ``hi > 0`` (a
        union of two points may overshoot by a rounding of the radius; the overshoot
        across 0 is cut off, which keeps e.g. ``sqrt`` defined on ``[0, hi]``).
        """
        if hi is None or hi == lo:
            return self._arb(lo)
        if lo >= 0:
            return self._arb.union(self._arb(lo), self._arb(hi)).nonnegative_part()
        if hi <= 0:
            return -self._arb.union(self._arb(-hi), self._arb(-lo)).nonnegative_part()
        return self._arb.union(self._arb(lo), self._arb(hi))

    def const(self, q: Fraction) -> Any:
        return self._arb(self._fmpq(q.numerator, q.denominator))

    def pi(self) -> Any:
        return self._arb.pi()

    def e(self) -> Any:
        return self._arb(1).exp()

    def add(self, a, b):
        return self._ok(a + b)

    def sub(self, a, b):
        return self._ok(a - b)

    def _ends(self, a, b, op):
        """Hull of ``op`` at the four pairs of (exact) end points: the range of a product or
        quotient over two intervals.  Arb's own ball product of two wide balls is wider."""
        ends = [op(x, y) for x in (a.lower(), a.upper()) for y in (b.lower(), b.upper())]
        out = ends[0]
        for e in ends[1:]:
            out = out.union(e)
        return self._ok(out)

    def mul(self, a, b):
        if a.is_exact() or b.is_exact():
            return self._ok(a * b)
        return self._ends(a, b, lambda x, y: x * y)

    def div(self, a, b):
        if not (b > 0 or b < 0):
            raise EnclosureFailure("divisor may be 0")
        if b.is_exact():
            return self._ok(a / b)
        return self._ends(a, b, lambda x, y: x / y)

    def neg(self, a):
        return -a

    def pow_int(self, a, n: int):
        if n == 0:
            return self._arb(1)
        if n < 0:
            if not (a > 0 or a < 0):
                raise EnclosureFailure("base of a negative power may be 0")
            return self._ok(1 / self.pow_int(a, -n))
        # x**n is monotone on each side of 0, so powers of the (exact) end points give
        # the range; Arb's own power of a wide ball is loose, and NaN on a ball around 0.
        lo, hi = a.lower(), a.upper()
        if n % 2 == 0 and not (a > 0 or a < 0):
            return self._zero_to(self._arb.max(abs(lo), abs(hi)) ** n)
        return self._ok(self._arb.union(lo ** n, hi ** n))

    def pow_frac(self, a, q: Fraction):
        """``a**q`` for a non-integer rational ``q``, as ``exp(q log a)``; defined for
        ``a >= 0`` if ``q > 0`` (with ``0**q = 0``) and for ``a > 0`` if ``q < 0``."""
        qa = self.const(q)
        if a > 0:
            return self._monotone(a, lambda t: (qa * t.log()).exp())
        if q > 0 and a >= 0:
            u = a.upper()
            if u == 0:
                return self._arb(0)
            return self._zero_to(self._ok((qa * u.log()).exp()))
        raise EnclosureFailure("base may be < 0" if q > 0 else "base may be <= 0")

    def exp(self, a):
        return self._monotone(a, lambda t: t.exp())

    def log(self, a):
        if not a > 0:
            raise EnclosureFailure("argument may be <= 0")
        return self._monotone(a, lambda t: t.log())

    def sqrt(self, a):
        if a > 0:
            return self._monotone(a, lambda t: t.sqrt())
        if a >= 0:
            return self._zero_to(self._ok(a.upper().sqrt()))
        raise EnclosureFailure("argument may be < 0")

    def _periodic(self, a: Any, f: Any, peak: Fraction) -> Any:
        """``f`` (sin or cos) over the ball: the hull of the values at the two exact end
        points, widened to 1 (-1) wherever the ball may contain a maximum ``(peak + 2 k) pi``
        (a minimum ``(peak + 1 + 2 k) pi``).  Arb's own ``f(a)`` bounds the derivative over
        the whole ball, which is loose on wide balls."""
        arb = self._arb
        if a.is_exact() or not a.is_finite():
            return self._ok(f(a))
        lo, hi = a.lower(), a.upper()
        two_pi = 2 * arb.pi()
        if hi - lo >= two_pi:
            return arb.union(arb(-1), arb(1))
        out = arb.union(f(lo), f(hi))
        for frac, value in ((peak, 1), (peak + 1, -1)):
            c = arb.pi() * self.const(frac)
            k0 = math.floor((float(lo.mid()) - float(frac) * math.pi) / (2 * math.pi))
            for k in range(k0 - 1, k0 + 3):
                t = c + two_pi * k
                if not (t < lo) and not (t > hi):  # the ball may contain this extremum
                    out = arb.union(out, arb(value))
        return self._ok(out)

    def sin(self, a):
        return self._periodic(a, lambda t: t.sin(), Fraction(1, 2))

    def cos(self, a):
        return self._periodic(a, lambda t: t.cos(), Fraction(0))

    def tan(self, a):
        # Arb never returns a finite ball that misses values, so a ball over a pole of
        # tan comes back non-finite.
        self._ok(a.tan(), "argument may contain a pole of tan")
        # No pole in the ball, so tan is increasing on it.
        return self._monotone(a, lambda t: t.tan())

    def atan(self, a):
        return self._monotone(a, lambda t: t.atan())

    def tanh(self, a):
        return self._monotone(a, lambda t: t.tanh())

    def abs(self, a):
        if a >= 0:
            return a
        if a <= 0:
            return -a
        return self._zero_to(a.abs_upper())

    def sign(self, a):
        arb = self._arb
        if a > 0:
            return arb(1)
        if a < 0:
            return arb(-1)
        if a.is_zero():
            return arb(0)
        if a >= 0:
            return self._zero_to(arb(1))
        if a <= 0:
            return -self._zero_to(arb(1))
        return arb.union(arb(-1), arb(1))

    def heaviside(self, a):
        if a > 0:
            return self._arb(1)
        if a < 0:
            return self._arb(0)
        return self._zero_to(self._arb(1))

    def min(self, a, b):
        return self._arb.min(a, b)

    def max(self, a, b):
        return self._arb.max(a, b)


class PyIntervalOps:
    """pyinterval operations: outward-rounded arithmetic and crlibm functions.

    Values are single-component ``interval`` objects with finite end points; every result
    is checked (:meth:`_ok`) to be non-empty and finite, and is replaced by its hull if
    pyinterval returns several components.  Domains are checked *before* calling
    pyinterval because ``imath.log`` and ``imath.sqrt`` silently intersect their argument
    with their domain, and ``1/x`` and ``imath.tan`` return two unbounded components over
    0 and over a pole.  ``sqrt`` is computed here from the correctly rounded
    ``math.sqrt`` with exact rational checks (pyinterval's Newton iteration can give an
    empty result).
    """

    def __init__(self) -> None:
        from interval import imath, interval

        self._iv, self._imath = interval, imath

    def _make(self, lo: float, hi: float) -> Any:
        return self._iv.new((self._iv.Component(lo, hi),))

    def _ok(self, r: Any, reason: str = "result is not finite") -> Any:
        if len(r) == 0:
            raise EnclosureFailure("empty result")
        lo, hi = r[0][0], r[-1][1]
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise EnclosureFailure(reason)
        return r if len(r) == 1 else self._make(lo, hi)

    @staticmethod
    def lo(a: Any) -> float:
        return a[0][0]

    @staticmethod
    def hi(a: Any) -> float:
        return a[-1][1]

    def point(self, lo: float, hi: float | None = None) -> Any:
        """The float interval ``[lo, hi]`` (the point ``lo`` if no hi)."""
        return self._make(lo, lo if hi is None else hi)

    def const(self, q: Fraction) -> Any:
        return self._ok(self._make(float_down(q), float_up(q)), "constant out of range")

    def pi(self) -> Any:
        return self._imath.pi

    def e(self) -> Any:
        return self._imath.e

    def add(self, a, b):
        return self._ok(a + b)

    def sub(self, a, b):
        return self._ok(a - b)

    def mul(self, a, b):
        return self._ok(a * b)

    def div(self, a, b):
        if not (self.lo(b) > 0 or self.hi(b) < 0):
            raise EnclosureFailure("divisor may be 0")
        return self._ok(a / b)

    def neg(self, a):
        return -a

    def pow_int(self, a, n: int):
        if n == 0:
            return self._make(1.0, 1.0)
        if n < 0:
            if not (self.lo(a) > 0 or self.hi(a) < 0):
                raise EnclosureFailure("base of a negative power may be 0")
            return self.div(self._make(1.0, 1.0), self.pow_int(a, -n))
        return self._ok(a ** n)

    def pow_frac(self, a, q: Fraction):
        """``a**q`` for a non-integer rational ``q``, as ``exp(q log a)``; defined for
        ``a >= 0`` if ``q > 0`` (with ``0**q = 0``) and for ``a > 0`` if ``q < 0``."""
        lo, hi = self.lo(a), self.hi(a)
        qa = self.const(q)
        if lo > 0:
            return self._ok(self._imath.exp(qa * self._imath.log(a)))
        if q > 0 and lo == 0:
            if hi == 0:
                return self._make(0.0, 0.0)
            top = self._ok(self._imath.exp(qa * self._imath.log(self._make(hi, hi))))
            return self._make(0.0, self.hi(top))
        raise EnclosureFailure("base may be < 0" if q > 0 else "base may be <= 0")

    def exp(self, a):
        return self._ok(self._imath.exp(a))

    def log(self, a):
        if not self.lo(a) > 0:
            raise EnclosureFailure("argument may be <= 0")
        return self._ok(self._imath.log(a))

    def sqrt(self, a):
        lo, hi = self.lo(a), self.hi(a)
        if not lo >= 0:
            raise EnclosureFailure("argument may be < 0")
        return self._make(_sqrt_down(lo), _sqrt_up(hi))

    def sin(self, a):
        return self._ok(self._imath.sin(a))

    def cos(self, a):
        return self._ok(self._imath.cos(a))

    def tan(self, a):
        r = self._imath.tan(a)
        if len(r) != 1:
            raise EnclosureFailure("argument may contain a pole of tan")
        return self._ok(r, "argument may contain a pole of tan")

    def atan(self, a):
        return self._ok(self._imath.atan(a))

    def tanh(self, a):
        return self._ok(self._imath.tanh(a))

    def abs(self, a):
        lo, hi = self.lo(a), self.hi(a)
        if lo >= 0:
            return a
        if hi <= 0:
            return -a
        return self._make(0.0, max(-lo, hi))

    def sign(self, a):
        lo, hi = self.lo(a), self.hi(a)
        return self._make(1.0 if lo > 0 else 0.0 if lo == 0 else -1.0,
                          -1.0 if hi < 0 else 0.0 if hi == 0 else 1.0)

    def heaviside(self, a):
        lo, hi = self.lo(a), self.hi(a)
        return self._make(1.0 if lo > 0 else 0.0, 0.0 if hi < 0 else 1.0)

    def min(self, a, b):
        return self._make(min(self.lo(a), self.lo(b)), min(self.hi(a), self.hi(b)))

    def max(self, a, b):
        return self._make(max(self.lo(a), self.lo(b)), max(self.hi(a), self.hi(b)))


def _sqrt_down(x: float) -> float:
    """The largest float ``s >= 0`` with ``s**2 <= x`` (exact check), for ``x >= 0``."""
    s = math.sqrt(x)  # correctly rounded (IEEE 754), so at most one step is needed
    while s > 0 and Fraction(s) ** 2 > Fraction(x):
        s = math.nextafter(s, -math.inf)
    return s


def _sqrt_up(x: float) -> float:
    """The smallest float ``s`` with ``s**2 >= x`` (exact check), for finite ``x >= 0``."""
    s = math.sqrt(x)
    while Fraction(s) ** 2 < Fraction(x):
        s = math.nextafter(s, math.inf)
    return s
