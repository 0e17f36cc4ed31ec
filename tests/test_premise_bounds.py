"""Applied premise bounds (theorems/obligations.py, resolve_bounds; docs/mathematics.md 9).

An entailment may write ``bound:<id>(p, v)``: the bound node ``<id>`` exports, with its
parameter p set to v.  Covers: the resolution is the substitution, and it refuses
everything that would change the meaning of the premise's bound (a parameter that is not
free in it, a value captured by a summation variable, a bound that itself names premises,
malformed arguments, an unknown premise, a value outside the parameter's assumptions); an
identity whose premise bound is missing fails.  A sum whose range leaves its index's
assumptions proves nothing (sympy would simplify with them), and sums with equal limits
cancel by linearity.
"""

from __future__ import annotations

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from theorems.obligations import (
    Identity,
    Obligation,
    applied_bounds,
    at_least,
    is_zero,
    premise_bound,
    prove_fact,
    resolve_bounds,
)
from theorems.srepr_parse import parse_srepr

u, v = sp.symbols("u v", nonnegative=True)
m, M = sp.symbols("m M", integer=True, positive=True)
EXPORT = sp.Sum(m * sp.exp(-2 * u * m), (m, 1, M))


@settings(max_examples=30, deadline=None)
@given(st.fractions(min_value=0, max_value=5))
def test_resolution_is_the_substitution(q):
    val = sp.Rational(q.numerator, q.denominator)
    e = 3 * premise_bound("P", (u, val)) + 1
    got = resolve_bounds(e, {"P": EXPORT})
    assert sp.simplify(got - (3 * EXPORT.subs(u, val) + 1)) == 0
    assert not applied_bounds(got)


def test_application_survives_the_srepr_round_trip():
    e = premise_bound("T2.rate-head", (u, sp.IndexedBase("u")[sp.Symbol("h")]))
    assert parse_srepr(sp.srepr(e)) == e and applied_bounds(parse_srepr(sp.srepr(e)))


@pytest.mark.parametrize("app, why", [
    (sp.Function("bound:P")(m, 1), "not a parameter"),         # a summation variable
    (sp.Function("bound:P")(v, 1), "not a parameter"),         # not in the bound
    (sp.Function("bound:P")(u, m + 1), "captured"),            # value meets the sum index
    (sp.Function("bound:P")(u), "each with a value"),                      # no value
    (sp.Function("bound:P")(u, 1, u, 2), "each with a value"),             # parameter twice
    (sp.Function("bound:P")(sp.Integer(2), 1), "each with a value"),       # not a symbol
    (sp.Function("bound:Q")(u, 1), "no exported bound"),       # unknown premise
])
def test_resolution_refuses(app, why):
    with pytest.raises(ValueError, match=why):
        resolve_bounds(app + 1, {"P": EXPORT})


def test_a_bound_that_names_premises_is_not_applied():
    nested = EXPORT + sp.Symbol("bound:R", nonnegative=True)
    with pytest.raises(ValueError, match="other premises"):
        resolve_bounds(premise_bound("P", (u, 1)), {"P": nested})


def test_identity_with_an_unresolved_application_fails():
    b = premise_bound("P", (u, v))
    fact = at_least(b, b / 2, b / 2)
    assert Obligation("x", "s", Identity((fact,))).discharge().status == "failed"
    ok = Obligation("x", "s", Identity((fact,), premise_bounds=(("P", EXPORT),)))
    assert ok.discharge().status == "proved-symbolic"
    # The resolved fact is what is proved: a bound stated too small fails.
    small = at_least(b, 2 * EXPORT.subs(u, v), -EXPORT.subs(u, v))
    bad = Obligation("x", "s", Identity((small,), premise_bounds=(("P", EXPORT),)))
    assert bad.discharge().status == "failed"


def test_a_parameter_that_is_also_a_summation_index_is_refused():
    """``m + Sum(m k, (m, 1, M))``: m is free and bound; setting it would rename the index."""
    k = sp.Symbol("k", nonnegative=True)
    tricky = m + sp.Sum(m * k, (m, 1, M))
    with pytest.raises(ValueError, match="not a parameter"):
        resolve_bounds(premise_bound("P", (m, k)), {"P": tricky})


@pytest.mark.parametrize("param, value", [(u, sp.oo), (u, -v), (u, sp.Symbol("x", real=True)),
                                          (M, sp.Integer(0)), (M, sp.Rational(1, 2)),
                                          (M, sp.Symbol("x", positive=True))])
def test_values_outside_the_premise_hypotheses_are_refused(param, value):
    """The premise is proved for nonnegative u and positive integer M only."""
    with pytest.raises(ValueError, match="assumptions"):
        resolve_bounds(premise_bound("P", (param, value)), {"P": EXPORT})


def test_values_inside_the_hypotheses_are_accepted():
    h = sp.Symbol("h", integer=True)
    for param, value in ((u, sp.IndexedBase("u", nonnegative=True)[h]), (u, v + 1),
                         (M, M + 3), (M, sp.Integer(7))):
        assert not applied_bounds(resolve_bounds(premise_bound("P", (param, value)),
                                                 {"P": EXPORT}))


# ---------------------------------------------------- sums and their indices' assumptions

@pytest.mark.parametrize("fact", [
    # sqrt(k^2) = k holds for k >= 0 only; the range reaches k = -1.
    lambda k: at_least(sp.Integer(0), sp.Sum(sp.sqrt(k**2) - k, (k, -1, 1)), sp.Integer(0)),
    # termwise: k - 1 >= 0 for a positive integer k, but the range starts at 0 and the sum
    # is -1 (a false claim that the summand rule alone would prove).
    lambda k: at_least(sp.Sum(k - 1, (k, 0, 1)), sp.Integer(0),
                       sp.Sum(k - 1, (k, 0, 1)), termwise=True),
    # a reversed range (Karr's convention) sums the values in between, outside k >= 1.
    lambda k: at_least(sp.Sum(k - 1, (k, 3, -2)), sp.Integer(0),
                       sp.Sum(k - 1, (k, 3, -2)), termwise=True),
])
def test_a_sum_beyond_its_index_assumptions_proves_nothing(fact):
    k = sp.Symbol("k", integer=True, positive=True)
    ok, why = prove_fact(fact(k))
    assert not ok and "beyond its index's assumptions" in why
    assert not is_zero(sp.Sum(sp.sqrt(k**2) - k, (k, -1, 1)))


def test_sums_within_their_assumptions_still_prove():
    k = sp.Symbol("k", integer=True, positive=True)
    K = sp.Symbol("K", integer=True, nonnegative=True)
    f = sp.IndexedBase("f")
    assert prove_fact(at_least(sp.Sum(k, (k, 1, K)), 0, sp.Sum(k, (k, 1, K)),
                               termwise=True))[0]
    # linearity of sums with equal limits (an empty range, K = 0, included)
    assert is_zero(sp.Sum(f[k] * k, (k, 1, K)) + sp.Sum(f[k] * (1 - k), (k, 1, K))
                   - sp.Sum(f[k], (k, 1, K)))
    assert not is_zero(sp.Sum(f[k] * k, (k, 1, K)) - sp.Sum(f[k], (k, 1, K)))
