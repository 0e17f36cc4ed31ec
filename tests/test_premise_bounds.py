"""Applied premise bounds (theorems/obligations.py, resolve_bounds; docs/mathematics.md 9).

An entailment may write ``bound:<id>(p, v)``: the bound node ``<id>`` exports, with its
parameter p set to v.  Covers: the resolution is the substitution, and it refuses
everything that would change the meaning of the premise's bound (a parameter that is not
free in it, a value captured by a summation variable, a bound that itself names premises,
malformed arguments, an unknown premise); an identity whose premise bound is missing fails.
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
    premise_bound,
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
