"""I3.bound as an entailment (theorems/lemma_i.py, docs/mathematics.md, section 3).

Covers: the premises I3.sigmoid-within-half, I3.tail-distance and I3.tail-gap export the
bounds 1/2 (|s - theta|), (k+1) Delta and e^{-kappa k^2}; I3.bound is proved from symbols
bound:<premise> and its conclusion is its entailment at those bounds; dropping the factor 2
(two anchors per distance) makes it fail; the Lemma I export replays with I3.bound counted
as an entailment, and a tampered premise bound or a dropped premise is rejected;
I3.decomposition holds for every p and bracket and fails when the bracket is mis-split.
"""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import sympy as sp

from theorems import lemma_i, replay, report, t2_rate
from theorems.obligations import Identity, Obligation, applied_bounds
from theorems.srepr_parse import parse_srepr


@pytest.fixture(scope="module")
def obligations():
    return {o.id: o for o in lemma_i.obligations()}


def test_premises_export_their_bounds(obligations):
    k, kappa, delta = lemma_i.k_s, lemma_i.kappa, lemma_i.Delta
    got = {i: t2_rate.exported_bound(obligations[i]) for i in lemma_i.I3_PREMISES}
    assert got == {"I3.sigmoid-within-half": sp.Rational(1, 2),
                   "I3.tail-distance": (k + 1) * delta,
                   "I3.tail-gap": sp.exp(-kappa * k**2)}
    for i in ("I3.tail-distance", "I3.tail-gap"):
        assert obligations[i].discharge().status == "proved-symbolic"


def test_bound_is_an_entailment_of_its_premises(obligations):
    ob = obligations["I3.bound"]
    names = {s.name for f in ob.payload.facts for s in (f.lhs - f.rhs).free_symbols}
    names |= {a.func.__name__ for f in ob.payload.facts
              for a in applied_bounds(f.lhs - f.rhs)}
    # S as a symbol; D and G applied at the summation index k
    assert {replay.BOUND_PREFIX + i for i in lemma_i.I3_PREMISES} <= names
    assert {a.args for f in ob.payload.facts for a in applied_bounds(f.lhs - f.rhs)} == \
        {(lemma_i.k_s, lemma_i.k_s)}
    assert set(lemma_i.I3_PREMISES) <= set(ob.uses)
    concl = next(f for f in ob.payload.facts if f.label == "conclusion")
    assert concl.lhs == lemma_i.i3_bound_expr(sp.Symbol("K", integer=True, positive=True))
    assert ob.discharge().status == "proved-symbolic"


def test_dropping_two_anchors_per_distance_fails(obligations):
    bad = {o.id: o for o in lemma_i._i3_assembly(obligations, two_per_distance=False)}
    assert bad["I3.bound"].discharge().status == "failed"


# ------------------------------------------------------------------------------- replay

@pytest.fixture(scope="module")
def export():
    _, obj, code = report.check_theorems("lemma-i")
    assert code == 0
    return json.loads(json.dumps(obj))


def _node(obj, oid):
    for n in obj["theorems"][0]["obligations"] + obj["dependencies"]:
        if n["id"] == oid:
            return n
    raise KeyError(oid)


def test_export_replays_with_the_entailment_matched(export):
    ok, why, info = replay.replay(copy.deepcopy(export))
    assert ok, why
    assert info["entailments"] == 1 and "1 entailment(s)" in why
    assert _node(export, "I3.bound")["standing"] == "proved"


def test_a_tightened_premise_bound_is_rejected(export):
    """Delta/2 -> Delta/4 in the export: the interval cover no longer fits the bound."""
    obj = copy.deepcopy(export)
    for c in _node(obj, "I3.sigmoid-within-half")["payload"]["cases"]:
        c["bound"] = sp.srepr(sp.Rational(1, 4))
    ok, why, _ = replay.replay(obj)
    assert not ok and "I3.sigmoid-within-half" in why


@pytest.mark.parametrize("oid", ["I3.sigmoid-within-half", "I3.tail-distance"])
def test_a_loosened_premise_bound_is_rejected(export, oid):
    """A weaker exported bound still replays as a premise, but is not what I3.bound combines."""
    obj = copy.deepcopy(export)
    node = _node(obj, oid)
    if node["kind"] == "inequality":
        for c in node["payload"]["cases"]:
            c["bound"] = sp.srepr(sp.Integer(1))
    else:
        for f in node["payload"]["facts"]:
            if f["label"].startswith("conclusion"):
                f["lhs"] = sp.srepr(parse_srepr(f["lhs"]) + lemma_i.Delta)
                f["certificate"] = sp.srepr(parse_srepr(f["certificate"]) + lemma_i.Delta)
    ok, why, _ = replay.replay(obj)
    assert not ok and "I3.bound" in why and "premises' bounds" in why


@pytest.mark.parametrize("oid", lemma_i.I3_PREMISES)
def test_a_dropped_premise_is_rejected(export, oid):
    obj = copy.deepcopy(export)
    node = _node(obj, "I3.bound")
    node["uses"] = [u for u in node["uses"] if u != oid]
    ok, why, _ = replay.replay(obj)
    assert not ok and oid in why and "not among its uses" in why


def test_decomposition_is_general_in_p_and_the_bracket(obligations):
    """The bracket split is proved for symbolic p and bracket {c, c+1}, and fails when the
    bracket value o_2 loses a term or W_B is taken as a weight of one anchor."""
    ob = obligations["I3.decomposition"]
    assert ob.discharge().status == "proved-symbolic"
    split = next(f for f in ob.payload.facts if f.label.startswith("general p, bracket"))
    names = {s.name for s in split.lhs.free_symbols | split.rhs.free_symbols
             if isinstance(s, sp.Symbol)}
    assert {"c", "p"} <= names
    E, Lg, c = lemma_i.E, sp.IndexedBase("L", real=True), sp.Symbol("c", integer=True,
                                                                     nonnegative=True)
    for wrong, right in ((Lg[c + 1] * E[c + 1], 0), (E[c] + E[c + 1], E[c])):
        bad = dataclasses.replace(split, rhs=split.rhs.xreplace({wrong: right})) \
            if wrong.func is sp.Mul else dataclasses.replace(split, rhs=split.rhs.subs(
                wrong, right))
        assert bad.rhs != split.rhs
        assert Obligation("x", "s", Identity((bad,))).discharge().status == "failed"
