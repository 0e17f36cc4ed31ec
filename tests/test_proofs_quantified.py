"""Symbolic constructions, conformance, derived bounds and the proof DAG.

Every listed construction or bound mutation must make at least one obligation fail; the
DAG must never call a theorem "proved" when an instance-only node lies below it.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from theorems import lemma_i, multi_head, proof_dag, report, single_head, symbolic
from theorems import multi_head_obligations as t2
from theorems import single_head_obligations as t1
from theorems.obligations import DISCHARGERS, Identity, Obligation

OK = ("proved-symbolic", "verified-interval")


def _by_id(obs):
    return {o.id: o for o in obs}


def _failed_ids(obs):
    return {o.id for o in obs if o.discharge().status == "failed"}


# ------------------------------------------------------------------ symbolic templates

@pytest.mark.parametrize("ob", symbolic.t1_symbolic_obligations()
                         + symbolic.t2_symbolic_obligations(), ids=lambda o: o.id)
def test_symbolic_construction_is_proved_in_general(ob):
    assert ob.scope == "general" and ob.kind == "identity"
    r = ob.discharge()
    assert r.status == "proved-symbolic", r.detail


def test_template_parameters_are_the_documented_ones():
    t = symbolic.t1_template()
    assert sp.simplify(t["beta"] - symbolic.kappa * (symbolic.p - 1) ** 2
                       / (symbolic.b - symbolic.a) ** 2) == 0
    u = symbolic.t2_template()
    assert sp.simplify(u["beta"] * u["Delta"] ** 2 - symbolic.kappa * symbolic.H) == 0
    assert u["phi"].subs({symbolic.h: 0, symbolic.H: 1}) == 0


# ------------------------------------------------------- construction mutations (T1, T2)

def _t1_mutant(monkeypatch, beta_of):
    real = single_head.construct

    def bad(a, b, w, t, lo, hi, p, kappa=None, beta=None):
        delta = (b - a) / (p - 1)
        return real(a, b, w, t, lo, hi, p, beta=beta_of(float(kappa), delta))

    monkeypatch.setattr(single_head, "construct", bad)
    monkeypatch.setattr(t1, "construct", bad)


@pytest.mark.parametrize("name,beta_of", [
    ("missing square", lambda k, d: k / d),
    ("beta times Delta^2", lambda k, d: k * d * d)])
def test_t1_wrong_beta_fails_conformance(monkeypatch, name, beta_of):
    _t1_mutant(monkeypatch, beta_of)
    obs = t1.t1_obligations(with_certificate=False)
    failed = _failed_ids(obs)
    assert "T1.conformance" in failed, name
    r = _by_id(obs)["T1.conformance"].discharge()
    assert "W_K" in r.detail


def test_t1_registry_network_conforms():
    r = _by_id(t1.t1_obligations(with_certificate=False))["T1.conformance"].discharge()
    assert r.status == "proved-symbolic", r.detail


def test_t2_zero_phases_fail_conformance(monkeypatch):
    monkeypatch.setattr(multi_head, "phases", lambda H: [0] * H)
    obs = t2.t2_obligations(with_certificate=False)
    r = _by_id(obs)["T2.conformance"].discharge()
    assert r.status == "failed" and "key anchor" in r.detail


def test_t2_beta_without_H_fails_conformance(monkeypatch):
    real = multi_head.construct

    def bad(a, b, w, t, n, heads, kappa=None, beta=None):
        return real(a, b, w, t, n, heads, kappa=kappa / heads)

    monkeypatch.setattr(multi_head, "construct", bad)
    monkeypatch.setattr(t2, "construct", bad)
    obs = t2.t2_obligations(with_certificate=False)
    r = _by_id(obs)["T2.conformance"].discharge()
    assert r.status == "failed" and "kappa H/Delta^2" in r.detail


def test_t2_registry_network_conforms():
    obs = _by_id(t2.t2_obligations(with_certificate=False))
    assert obs["T2.conformance"].discharge().status == "proved-symbolic"
    assert obs["T2.rate"].discharge().status == "proved-symbolic"  # theorems/t2_rate.py


def test_cli_conformance_rejects_a_mutated_construction(monkeypatch):
    """A certificate whose network is rebuilt by the same wrong code still fails."""
    from certify.engine import certify_spec
    from theorems.conformance import conformance

    spec = t1.CERTIFICATE_INSTANCE.spec()
    spec["tol"] = 0.5
    assert conformance(certify_spec(spec))[0]
    _t1_mutant(monkeypatch, lambda k, d: k / d)
    ok, why = conformance(certify_spec(spec))
    assert not ok and "symbolic construction" in why


def test_check_spec_network_multi_head_mutation(monkeypatch):
    from certify.spec import parse_spec

    spec = parse_spec(t2.REGISTRY_INSTANCE.spec())
    good = multi_head.build_from_spec(spec.target, spec.lo, spec.hi, spec.construction)
    assert symbolic.check_spec_network("multi-head", good.net, spec)[0]
    monkeypatch.setattr(multi_head, "phases", lambda H: [0] * H)
    bad = multi_head.build_from_spec(spec.target, spec.lo, spec.hi, spec.construction)
    assert not symbolic.check_spec_network("multi-head", bad.net, spec)[0]


# ----------------------------------------------------------------- bound mutations (I3, I5)

def test_i3_bound_without_the_half_fails(monkeypatch):
    real = lemma_i.a_priori_bound_I3

    def bad(kap=lemma_i.kappa, delta=1, terms=None):
        return real(kap, delta, terms) - sp.Rational(1, 2) * lemma_i._rational(delta)

    monkeypatch.setattr(lemma_i, "a_priori_bound_I3", bad)
    failed = _failed_ids(lemma_i.obligations())
    assert {"I3.instance", "I3.tail-series"} <= failed


def test_i3_instance_p2_case_can_fail():
    ob = _by_id(lemma_i.obligations())["I3.instance"]
    p2 = [c for c in ob.payload.cases if "p=2" in c.label]
    assert p2 and all(float(c.bound) < 2 for c in p2)  # below b - a: not vacuous


def test_i5_cos_values_fail(monkeypatch):
    monkeypatch.setattr(lemma_i, "I5_VALUES", sp.cos)
    r = _by_id(lemma_i.obligations())["I5.instance"].discharge()
    assert r.status == "failed" and "violated" in r.detail


def test_i5_bound_is_below_the_oscillation_of_sin():
    ob = _by_id(lemma_i.obligations())["I5.instance"]
    assert float(ob.payload.cases[0].bound) < 1  # sin oscillates by 1 on [0, 2]


def test_i3_assembly_and_i4_inequality_are_general_identities():
    obs = _by_id(lemma_i.obligations())
    for oid in ("I3.count", "I3.bound", "I3.bound-outside", "I4.lower-limit"):
        assert obs[oid].scope == "general"
        assert obs[oid].discharge().status == "proved-symbolic", oid
    labels = [f.label for f in obs["I4.lower-limit"].payload.facts]
    assert any("y - o >=" in lab for lab in labels)


def test_i3_assembly_fails_without_the_half():
    import dataclasses

    ob = _by_id(lemma_i.obligations())["I3.bound"]
    f = ob.payload.facts[0]  # bracket: Delta/2 >= W_B (o_2 - y)
    bad = dataclasses.replace(f, lhs=sp.Integer(0))
    assert Obligation("x", "x", Identity((bad,))).discharge().status == "failed"


# -------------------------------------------------------------- failures are reported

def test_raising_discharger_is_failed_with_the_exception(monkeypatch):
    def boom(payload):
        raise ZeroDivisionError("kaboom")

    monkeypatch.setitem(DISCHARGERS, "identity", boom)
    r = Obligation("x", "x", Identity(())).discharge()
    assert r.status == "failed" and "ZeroDivisionError" in r.detail


def test_crashing_construction_is_a_failed_obligation(monkeypatch):
    def crash(*a, **k):
        raise ValueError("malformed construction")

    monkeypatch.setattr(t1, "construct", crash)
    tree, obj, code = report.check_theorems("single-head")
    assert code == 1 and "malformed construction" in tree
    assert obj["theorems"][0]["status"] == "failed"


def test_malformed_network_fails_instead_of_crashing(monkeypatch, capsys):
    import dataclasses

    from certify.cli import main

    real = single_head.construct

    def malformed(*args, **kwargs):
        built = real(*args, **kwargs)
        return dataclasses.replace(built, net=dataclasses.replace(
            built.net, layers=built.net.layers[:2]))

    monkeypatch.setattr(t1, "construct", malformed)
    assert main(["theorems", "check", "single-head"]) == 1
    out = capsys.readouterr().out
    assert "T1.construct" in out and "FAILED" in out


# ------------------------------------------------------------------------- proof DAG

def test_standings_propagate():
    nodes = {"g": ("proved-symbolic", "general", ()),
             "i": ("verified-interval", "instance", ()),
             "b": ("verified-interval", "box", ("g",)),
             "top": ("proved-symbolic", "general", ("g", "b")),
             "top2": ("proved-symbolic", "general", ("top", "i")),
             "o": ("open", "general", ("g",)),
             "cyc1": ("proved-symbolic", "general", ("cyc2",)),
             "cyc2": ("proved-symbolic", "general", ("cyc1",)),
             "miss": ("proved-symbolic", "general", ("nowhere",))}
    st = proof_dag.standings(nodes)
    assert st["g"][0] == "proved"
    assert st["top"][0] == "proved on a parameter box"
    assert st["top2"] == ("verified on instances", "i")
    assert st["o"][0] == "open"
    assert st["cyc1"][0] == "failed" and st["miss"][0] == "failed"


def test_no_theorem_is_proved_on_an_instance_node():
    _, obj, code = report.check_theorems("single-head")
    assert code == 0
    assert obj["theorems"][0]["status"] == "verified on instances"
    nodes = {n["id"]: n for n in obj["theorems"][0]["obligations"] + obj["dependencies"]}
    assert nodes["T1.sym-score"]["standing"] == "proved"
    assert nodes["I3.bound"]["standing"] == "proved"
    assert nodes["T1.bound"]["standing"] == "verified on instances"
    for n in nodes.values():
        if n["standing"] == "proved":
            stack, seen = list(n["uses"]), set()
            while stack:
                u = stack.pop()
                if u in seen:
                    continue
                seen.add(u)
                assert nodes[u]["scope"] == "general", (n["id"], u)
                stack.extend(nodes[u]["uses"])


def test_lemma_s_is_proved_and_lemma_i_open_only_through_i5():
    _, obj, _ = report.check_theorems("lemma-s")
    assert obj["theorems"][0]["status"] == "proved"
    _, obj, code = report.check_theorems("lemma-i")
    assert code == 0 and obj["theorems"][0]["status"] == "open"
    rows = {n["id"]: n for n in obj["theorems"][0]["obligations"]}
    assert rows["I3.bound"]["standing"] == "proved"
    assert rows["I5.general"]["standing"] == "open"


def test_bound_single_head_labels_each_step():
    res = report.bound_single_head(-1.0, 1.0, 5, 3.0)
    steps = res["steps"]
    assert steps["i3_bound"]["standing"] == "proved"
    assert steps["leakage_bound"]["standing"] == "proved"
    assert steps["rounding_bound"]["standing"] == "proved"
    from theorems.proof_dag import standings
    _, obj, _ = report.check_theorems("single-head")
    nodes = {n["id"]: n for n in obj["theorems"][0]["obligations"] + obj["dependencies"]}
    st = standings({k: (n["status"], n["scope"], tuple(n["uses"])) for k, n in nodes.items()})
    for name, step in steps.items():
        for oid in step["obligations"]:
            assert st[oid][0] == "proved", (name, oid)
    assert np.isfinite(res["bound"])


# ------------------------------------------------- every new general obligation can fail

def _general_new():
    obs = (symbolic.t1_symbolic_obligations() + symbolic.t2_symbolic_obligations()
           + t1.rounding_obligations() + [t1.leakage_split_obligation(),
                                          t1.leakage_margin_obligation()]
           + t2.assembly_obligations())
    li = _by_id(lemma_i.obligations())
    return obs + [li[k] for k in ("I3.count", "I3.bound", "I3.bound-outside")]


@pytest.mark.parametrize("ob", _general_new(), ids=lambda o: o.id)
def test_general_obligation_fails_when_a_fact_is_perturbed(ob):
    import dataclasses

    assert ob.discharge().status == "proved-symbolic"
    f = ob.payload.facts[-1]
    bad = dataclasses.replace(f, lhs=f.lhs - 1) if f.relation == ">=" else \
        dataclasses.replace(f, rhs=f.rhs + 1)
    facts = ob.payload.facts[:-1] + (bad,)
    r = Obligation(ob.id, ob.statement, Identity(facts)).discharge()
    assert r.status == "failed", ob.id


def test_t2_assembly_is_used_by_the_bound():
    obs = _by_id(t2.t2_obligations(with_certificate=False))
    assert "T2.assembly" in obs["T2.bound"].uses
    assert "T2.range-lipschitz" in obs["T2.assembly"].uses
