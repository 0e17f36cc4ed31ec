"""False facts that the exact prover must not prove (theorems/obligations.py, prove_fact).

Each fact below is false, with the counterexample in its comment; each once passed a rule
of the prover and is now refused: a sum with a fractional number of terms, the
monotonicity rule reading its variable's extra assumptions (a pole between two integers),
and sympy's one-sided limits at a jump.  Every expression goes through the whitelist
parser first, as a replayed export does.
"""

from __future__ import annotations

import mpmath
import pytest
import sympy as sp

from theorems.obligations import at_least, equal, prove_fact
from theorems.srepr_parse import parse_srepr

R = sp.Rational


def _rt(e):
    return parse_srepr(sp.srepr(e))


def _fractional_sum():
    # n = 1/2: the left side is -1/8 < 0; the "sum" has half a term.
    k = sp.Symbol("k", integer=True, positive=True)
    n = sp.Symbol("n", positive=True)
    assert (n * (n - 1) / 2).subs(n, R(1, 2)) < 0
    return at_least(_rt(n * (n - 1) / 2), 0, _rt(sp.Sum(k - 1, (k, 1, n))), termwise=True)


def _pole_between_integers():
    # -7.25 >= 0: the certificate has a pole at v = 1/2, between the integers 0 and 1.
    v = sp.Symbol("v", integer=True, nonnegative=True)
    assert mpmath.exp(-2) - mpmath.exp(2) < 0
    return at_least(_rt(sp.exp(-2) - sp.exp(2)), 0,
                    _rt(sp.exp(1 / (R(1, 2) - v)) - sp.exp(2)), via=_rt(v), at=1)


def _limit_heaviside():
    # a = 1: Heaviside(x) -> 1 as x -> 0+, not 1/2 (sympy answers 1/2 for every a).
    x, a = sp.Symbol("x"), sp.Symbol("a", real=True)
    return at_least(R(1, 2), _rt(sp.Limit(sp.Heaviside(a * x), x, 0)), 0)


def _limit_sign():
    # a = 0: sign(x) -> 1 as x -> 0+, while sign(0) = 0.
    x, a = sp.Symbol("x"), sp.Symbol("a", real=True)
    return equal(_rt(sp.Limit(sp.sign(x), x, a)), sp.sign(a))


def _limit_shifted_heaviside():
    # a = 0: Heaviside(x) -> 1 as x -> 0+, while Heaviside(0) = 1/2.
    x, a = sp.Symbol("x"), sp.Symbol("a", real=True)
    return equal(_rt(sp.Limit(sp.Heaviside(x - a), x, 0)), sp.Heaviside(-a))


@pytest.mark.parametrize("make", [_fractional_sum, _pole_between_integers, _limit_heaviside,
                                  _limit_sign, _limit_shifted_heaviside],
                         ids=lambda f: f.__name__.strip("_"))
def test_false_fact_is_not_proved(make):
    ok, why = prove_fact(make())
    assert not ok and why


def test_the_rules_still_prove_true_facts():
    k = sp.Symbol("k", integer=True, positive=True)
    K = sp.Symbol("K", integer=True, nonnegative=True)
    z, x = sp.Symbol("z", nonnegative=True), sp.Symbol("x", positive=True)
    assert prove_fact(at_least(sp.Sum(k, (k, 1, K)), 0, sp.Sum(k, (k, 1, K)),
                               termwise=True))[0]
    # 1 - e^{-x} >= x e^{-x}, by monotonicity in z from 0 (smooth, no pole on [0, oo))
    assert prove_fact(at_least(1 - sp.exp(-x), x * sp.exp(-x), 1 - sp.exp(-z) - z * sp.exp(-z),
                               via=z, at=x))[0]
    assert prove_fact(equal(sp.Limit(1 / (1 + sp.exp(-x)), x, sp.oo), 1))[0]
