"""The O(Delta/H) bound of Theorem T2 (theorems/t2_rate.py, docs/mathematics.md, section 5).

Covers: every step is a general identity that sympy proves, and each one fails when a key
ingredient is removed (phases, the factor H in beta, the 1/2, two heads per distance step,
the geometric factor, a per-head bound e^{-4 kappa H u}); T2.rate's standing is "proved"
and T2 is no longer open; the export replays, and a T2.rate whose bound no longer matches
its premises, that drops a premise, that applies T2.rate-head's bound at another point or
argues without it, is rejected; the stored-network bound holds on instances (interval
branch and bound) and dominates certified sup errors; a network with all phases equal
violates it.
"""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
import sympy as sp

from certify.pipeline import build, certify
from certify.spec import parse_spec
from theorems import multi_head, obligations, replay, report, symbolic, t2_rate
from theorems import multi_head_obligations as t2
from theorems.obligations import Obligation
from theorems.srepr_parse import parse_srepr

RATE_IDS = ("T2.rate-staircase", "T2.rate-head", "T2.rate-spacing", "T2.rate-series",
            "T2.rate", "T2.rate-rounding")


def _by_id(obs):
    return {o.id: o for o in obs}


def _status(ob):
    return ob.discharge().status


# ------------------------------------------------------------------------ the proof itself

@pytest.mark.parametrize("ob", t2_rate.rate_obligations(), ids=lambda o: o.id)
def test_every_step_is_a_general_identity_proved_by_sympy(ob):
    assert ob.kind == "identity" and ob.scope == "general"
    r = ob.discharge()
    assert r.status == "proved-symbolic", r.detail


@pytest.mark.parametrize("ob", t2_rate.rate_obligations(), ids=lambda o: o.id)
def test_every_step_fails_when_a_fact_is_perturbed(ob):
    for n, f in enumerate(ob.payload.facts):
        bad = dataclasses.replace(f, lhs=f.lhs - 1) if f.relation == ">=" else \
            dataclasses.replace(f, rhs=f.rhs + 1)
        facts = ob.payload.facts[:n] + (bad,) + ob.payload.facts[n + 1:]
        payload = dataclasses.replace(ob.payload, facts=facts)  # keeps the premise bounds
        assert Obligation(ob.id, ob.statement, payload).discharge().status == "failed", \
            (ob.id, f.label)


def test_rate_constant_values():
    c3 = t2_rate.rate_constant_arb(3)
    assert 1.5576 < float(c3.lower()) and float(c3.upper()) < 1.5577
    # The closed form bounds the series for every N (the tail term dominates the tail).
    for kap in (0.5, 1, 3, 8):
        series = t2_rate.rate_constant_arb(kap, 60)
        for N in (1, 2, 4):
            assert t2_rate.rate_constant_arb(kap, N) >= series.lower()
    # 1/2 + C(kappa) -> 3/2 as kappa -> oo (C -> 1: one head at its jump contributes 1).
    assert abs(float(t2_rate.rate_constant_arb(40).mid()) - 1.5) < 1e-12


def test_registry_standing_is_no_longer_open():
    tree, obj, code = report.check_theorems("multi-head")
    assert code == 0, tree
    th = obj["theorems"][0]
    assert th["status"] == "verified on instances" and obj["summary"]["open"] == 0
    nodes = {n["id"]: n for n in th["obligations"] + obj["dependencies"]}
    for oid in RATE_IDS:
        assert nodes[oid]["standing"] == "proved", oid
    assert nodes["T2.rate-bound"]["standing"] == "verified on instances"
    # Nothing below T2.rate holds only on an instance or a box.
    stack, seen = list(nodes["T2.rate"]["uses"]), set()
    while stack:
        u = stack.pop()
        if u not in seen:
            seen.add(u)
            assert nodes[u]["scope"] == "general", u
            stack.extend(nodes[u]["uses"])
    assert {"T2.rate-staircase", "T2.rate-head", "T2.rate-spacing", "T2.rate-series",
            "S.pointwise", "I3.tail-series"} <= seen


def test_entry_states_the_explicit_bound():
    entry = multi_head.entry()
    kap = t2_rate.kappa
    free = entry.a_priori_bound.free_symbols
    assert kap in free
    value = entry.a_priori_bound.subs({kap: 3}).subs(
        {s: v for s in free for name, v in (("a", -1), ("b", 1), ("n", 3), ("H", 1))
         if s.name == name})
    assert abs(float(value) - 1.5576130008) < 1e-8
    assert "1/(n H)" in entry.statement and "proved" in entry.statement


# ---------------------------------------------------------------------------- mutations

def _template_with(**changes):
    real = symbolic.t2_template

    def mutated():
        t = dict(real())
        if "phi" in changes:
            t["phi"] = changes["phi"]
            t["K"] = symbolic.a + (symbolic.k + t["phi"]) * t["Delta"]
            t["z"] = sp.Matrix([symbolic.y, 1, t["K"], t["K"] ** 2, t["V"]])
        if "beta" in changes:
            bt = changes["beta"](t["Delta"])
            t["beta"] = bt
            t["W_K"] = sp.Matrix([[0, 0, 2 * bt, 0, 0], [0, 0, 0, -bt, 0]])
        return t
    return mutated


def test_zero_phases_break_the_staircase(monkeypatch):
    monkeypatch.setattr(symbolic, "t2_template", _template_with(phi=sp.Integer(0)))
    r = t2_rate.staircase_obligation().discharge()
    assert r.status == "failed" and "grid point j H + h" in r.detail
    # The per-head bound does not depend on the phases.
    assert _status(t2_rate.head_obligation()) == "proved-symbolic"


def test_beta_without_H_breaks_the_staircase_and_the_head(monkeypatch):
    monkeypatch.setattr(symbolic, "t2_template",
                        _template_with(beta=lambda d: symbolic.kappa / d**2))
    r = t2_rate.staircase_obligation().discharge()
    assert r.status == "failed" and "2 kappa H v" in r.detail
    r = t2_rate.head_obligation().discharge()
    assert r.status == "failed" and "gap of anchor" in r.detail


def test_dropping_the_half_breaks_the_staircase_and_the_combination(monkeypatch):
    monkeypatch.setattr(t2_rate, "staircase_bound", lambda H: sp.Integer(0))
    obs = _by_id(t2_rate.rate_obligations())
    r = obs["T2.rate-staircase"].discharge()
    assert r.status == "failed" and "conclusion" in r.detail
    r = obs["T2.rate"].discharge()  # the stated bound keeps 1/2; the premise no longer does
    assert r.status == "failed" and "conclusion" in r.detail


def test_stating_the_bound_without_the_half_breaks_the_combination(monkeypatch):
    real = t2_rate.rate_bound_expr
    monkeypatch.setattr(t2_rate, "rate_bound_expr", lambda *a: real(*a) - t2_rate.g_abs
                        * t2_rate.Delta / t2_rate.H / 2)
    r = t2_rate.rate_obligation().discharge()
    assert r.status == "failed" and "conclusion" in r.detail


def test_one_head_per_distance_step_breaks_the_spacing(monkeypatch):
    monkeypatch.setattr(t2_rate, "spacing_lower", lambda k, H: k / H)
    r = t2_rate.spacing_obligation().discharge()
    assert r.status == "failed" and "r >= k/(2H)" in r.detail


def test_dropping_the_geometric_factor_breaks_the_combination(monkeypatch):
    monkeypatch.setattr(t2_rate, "rate_bound_expr", lambda *a: t2_rate.g_abs * t2_rate.Delta
                        / t2_rate.H * (t2_rate.half + t2_rate.psi_closed()))
    r = t2_rate.rate_obligation().discharge()
    assert r.status == "failed" and "conclusion" in r.detail


#: n = 3, H = 8: the proved bound (0.195 Delta) is below what equal phases give (about
#: 0.45 Delta near a jump), so the interval check distinguishes the two networks.
WIDE = t2.T2Instance(a=-1.0, b=1.0, w=np.array([1.0]), t=0.0, lo=np.full((1, 3), -1.5),
                     hi=np.full((1, 3), 1.5), heads=8, kappa=3.0)


def test_zero_phases_in_the_network_violate_the_rate_bound(monkeypatch):
    good = WIDE.build()
    assert t2.rate_bound_obligation(WIDE, good).discharge().status == "verified-interval"
    bound = float(t2.stated_rate_bound(WIDE))
    assert bound < 0.2  # Delta = 1: (1/8) (1/2 + C(3)) plus rounding
    monkeypatch.setattr(multi_head, "phases", lambda H: [0] * H)
    bad = WIDE.build()
    monkeypatch.undo()
    r = t2.rate_bound_obligation(WIDE, bad).discharge()
    assert r.status == "failed" and r.detail.startswith("violated")
    assert t2.conformance_obligation(WIDE, bad).discharge().status == "failed"


def test_rate_bound_refuses_heads_with_different_weights():
    built = WIDE.build()
    att = built.net.layers[1]
    heads = list(att.heads)
    heads[3] = dataclasses.replace(heads[3], W_O=2 * heads[3].W_O)
    from certify.network import Attention, AttentionNet
    net = AttentionNet(built.net.input_shape, (built.net.layers[0], Attention(tuple(heads)),
                                               built.net.layers[2]))
    with pytest.raises(ValueError, match="one W_O"):
        multi_head.rate_bound(dataclasses.replace(built, net=net), WIDE.lo, WIDE.hi)


# ------------------------------------------------------------------------------- replay

@pytest.fixture(scope="module")
def export():
    _, obj, code = report.check_theorems("multi-head")
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
    assert info["theorems"] == {"multi-head": "verified on instances"}
    # T2.rate and, below it, I3.bound (docs/mathematics.md section 9)
    assert info["entailments"] == 2 and "entailment" in why


def test_a_rescaled_conclusion_is_rejected(export):
    """Both sides halved: the fact still holds, but it is not what the premises give."""
    obj = copy.deepcopy(export)
    fact = next(f for f in _node(obj, "T2.rate")["payload"]["facts"]
                if f["label"] == "conclusion")
    for side in ("lhs", "rhs"):
        fact[side] = sp.srepr(parse_srepr(fact[side]) / 2)
    ok, why, _ = replay.replay(obj)
    assert not ok and "T2.rate" in why and "premises' bounds" in why


def test_a_dropped_premise_is_rejected(export):
    obj = copy.deepcopy(export)
    node = _node(obj, "T2.rate")
    node["uses"] = [u for u in node["uses"] if u != "T2.rate-spacing"]
    ok, why, _ = replay.replay(obj)
    assert not ok and "T2.rate-spacing" in why


def test_a_tampered_premise_bound_is_rejected(export):
    obj = copy.deepcopy(export)
    for f in _node(obj, "T2.rate-staircase")["payload"]["facts"]:
        if f["label"].startswith("conclusion"):
            f["lhs"] = sp.srepr(parse_srepr(f["lhs"]) / 2)
    ok, why, _ = replay.replay(obj)
    assert not ok and "T2.rate-staircase" in why


def _rate_head_mutated(monkeypatch):
    """T2.rate-head stating e^{-4 kappa H u} for e^{-2 kappa H u} (false)."""
    orig = t2_rate.head_bound
    monkeypatch.setattr(t2_rate, "head_bound", lambda u=t2_rate.u_s, M=t2_rate.M_off:
                        orig(2 * u, M))
    return t2_rate.head_obligation()


def test_a_false_per_head_bound_fails_the_head_and_the_combination(monkeypatch):
    head = _rate_head_mutated(monkeypatch)
    assert _status(head) == "failed"
    prem = {ob.id: ob for ob in (t2_rate.staircase_obligation(), head,
                                 t2_rate.spacing_obligation(), t2_rate.series_obligation())}
    r = t2_rate.rate_obligation(prem).discharge()
    assert r.status == "failed" and "T2.rate-head's bound" in r.detail


def test_rate_applies_the_head_bound_it_uses():
    ob = t2_rate.rate_obligation()
    applied = set().union(*(obligations.applied_bounds(e) for f in ob.payload.facts
                            for e in (f.lhs, f.rhs, f.certificate) if e is not None))
    assert {a.func.__name__ for a in applied} == {"bound:T2.rate-head"}
    assert dict(ob.payload.premise_bounds)["T2.rate-head"] == t2_rate.head_bound()
    # Without the premise's bound the applied facts cannot be proved.
    bare = dataclasses.replace(ob.payload, premise_bounds=())
    assert Obligation(ob.id, ob.statement, bare).discharge().status == "failed"


def _rate_facts(obj):
    return _node(obj, "T2.rate")["payload"]["facts"]


def test_a_head_bound_applied_at_another_point_is_rejected(export):
    """u := 2 u_h turns the per-head bound into e^{-4 kappa H u_h}: T2.rate fails."""
    obj = copy.deepcopy(export)
    for f in _rate_facts(obj):
        for key in ("rhs", "certificate"):
            e = parse_srepr(f[key]) if f[key] else None
            if e is not None and obligations.applied_bounds(e):
                f[key] = sp.srepr(e.xreplace({a: a.func(a.args[0], 2 * a.args[1])
                                              for a in obligations.applied_bounds(e)}))
    ok, why, _ = replay.replay(obj)
    assert not ok and "T2.rate" in why and "failed" in why


def test_an_argument_without_the_head_bound_is_rejected(export):
    """The old gap: the per-head bound restated by hand instead of applied from the premise.

    Restated exactly as the premise's bound, every fact still holds; the argument no longer
    rests on T2.rate-head, which it lists, and that is refused.
    """
    obj = copy.deepcopy(export)
    for f in _rate_facts(obj):
        for key in ("lhs", "rhs", "certificate"):
            e = parse_srepr(f[key]) if f[key] else None
            if e is not None and obligations.applied_bounds(e):
                f[key] = sp.srepr(e.xreplace({a: t2_rate.head_bound().xreplace(
                    {t2_rate.u_s: a.args[1]}) for a in obligations.applied_bounds(e)}))
    ok, why, _ = replay.replay(obj)
    assert not ok and "['T2.rate-head'] but not the bound" in why


def test_a_head_bound_applied_without_the_use_is_rejected(export):
    obj = copy.deepcopy(export)
    node = _node(obj, "T2.rate")
    node["uses"] = [u for u in node["uses"] if u != "T2.rate-head"]
    ok, why, _ = replay.replay(obj)
    assert not ok and "T2.rate-head" in why and "not among its uses" in why


def _set_entailment(obj, E=None, conclusion=None, extra=None):
    node = _node(obj, "T2.rate")
    for f in node["payload"]["facts"]:
        if f["label"].startswith("entailment") and E is not None:
            f["lhs"] = sp.srepr(E)
        if f["label"] == "conclusion" and conclusion is not None:
            f["lhs"] = f["rhs"] = sp.srepr(conclusion)
    if extra:
        node["payload"]["facts"] = [f for f in node["payload"]["facts"]
                                    if not f["label"].startswith(("entailment", "conclusion"))
                                    ] + extra
    return obj


def test_a_capturing_entailment_bound_is_rejected(export):
    """E written with sums over H and rho equals g Delta (S + P Q/H) for every S, P, Q, but
    substituting the premises' bounds (which contain H and rho) would capture them."""
    S, P, Q = (t2_rate.bound_symbol(i) for i in t2_rate.PREMISES)
    H, rho, g, D = t2_rate.H, t2_rate.rho, t2_rate.g_abs, t2_rate.Delta
    E = g * D * (sp.Sum(S * (3 * H - 4), (H, 1, 2))
                 + sp.Sum(P * (7 * rho - 10), (rho, 1, 2)) * Q / H)
    assert sp.simplify(E.doit() - g * D * (S + P * Q / H)) == 0
    ok, why, _ = replay.replay(_set_entailment(copy.deepcopy(export), E, sp.Integer(0)))
    assert not ok and "capture" in why


def test_an_entailment_bound_without_the_premises_is_rejected(export):
    S, P, Q = (t2_rate.bound_symbol(i) for i in t2_rate.PREMISES)
    fact = {"lhs": sp.srepr(sp.Integer(0)), "rhs": sp.srepr(-(S + P + Q)), "relation": ">=",
            "certificate": sp.srepr(S + P + Q), "via": None, "at": None,
            "label": "entailment: upper", "termwise": False}
    concl = {"lhs": sp.srepr(sp.Integer(0)), "rhs": sp.srepr(sp.Integer(0)), "relation": "==",
             "certificate": None, "via": None, "at": None, "label": "conclusion",
             "termwise": False}
    ok, why, _ = replay.replay(_set_entailment(copy.deepcopy(export), extra=[fact, concl]))
    assert not ok and "do not enter the entailment bound" in why


def test_a_premise_bound_with_other_assumptions_is_rejected(export):
    """bound:T2.rate-staircase declared zero: facts about it would prove anything."""
    obj = copy.deepcopy(export)
    name = "bound:T2.rate-staircase"
    strong = {sp.Symbol(name, nonnegative=True): sp.Symbol(name, zero=True)}
    for f in _rate_facts(obj):
        for key in ("lhs", "rhs", "certificate"):
            if f[key]:
                f[key] = sp.srepr(parse_srepr(f[key]).xreplace(strong))
    ok, why, _ = replay.replay(obj)
    assert not ok and "declared nonnegative and nothing else" in why


def test_a_tampered_rate_bound_cover_is_rejected(export):
    obj = copy.deepcopy(export)
    case = _node(obj, "T2.rate-bound")["payload"]["cases"][0]
    case["bound"] = sp.srepr(sp.Rational(1, 10**4))
    assert not replay.replay(obj)[0]


# ------------------------------------------------------------- against certified errors

def _spec(n, H, kappa, tol=0.05):
    return {"theorem": "multi-head", "tokens": n,
            "target": {"kind": "truncated-linear", "a": -1.0, "b": 1.0, "w": [1.0], "t": 0.0},
            "domain": {"lo": -1.5, "hi": 1.5}, "construction": {"heads": H, "kappa": kappa},
            "mode": "measure", "tol": tol}


@pytest.mark.parametrize("n,H,kappa", [(4, 2, 3.0), (5, 3, 1.0), (3, 4, 0.5)])
def test_certified_sup_error_is_below_the_proved_bound(n, H, kappa):
    spec = parse_spec(_spec(n, H, kappa))
    result, cert = certify(spec, None, 1)
    assert result.holds and cert is not None, result.message
    built = build(spec)
    proved = multi_head.rate_bound(built, spec.lo, spec.hi)
    assert result.upper <= proved["bound"]
    if H >= 3 and kappa >= 1:  # Delta (1/2 + C)/H against Delta (c(kappa H) + mean|phi_h|)
        assert proved["bound"] < multi_head.a_priori_bound(built, spec.lo, spec.hi)["bound"]
    # In units of Delta/H: the certified constant against ours.
    scaled = result.upper * (n - 1) * H / 2
    assert scaled <= proved["bound_times_nH"]
    if kappa == 3.0:
        assert 0.07 < scaled < 0.081 and abs(proved["constant"] - 1.5576) < 1e-4
