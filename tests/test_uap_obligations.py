"""Obligations of theorem uap (:mod:`theorems.uap_obligations`).

Covers: every identity and inequality obligation is proved or interval-verified; a wrong
variant of each (built by the same builder, so discharged by the same discharger) fails;
the closed form checked by UAP.kernel-constants is the one :func:`theorems.uap.kernel_constants`
evaluates; ``attncert theorems check uap`` exits 0 and prints every obligation (this also
discharges the two instance obligations, i.e. runs the engine and the independent checker).
"""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
import sympy as sp
from flint import arb, ctx

from certify import cli
from theorems import registry
from theorems import uap_obligations as uo
from theorems.obligations import SUCCESS_STATUS, Identity, Obligation, compile_arb, equal
from theorems.uap import kernel_constants

OBS = uo.obligations()
PROVABLE = [o for o in OBS if o.kind not in ("open", "instance")]
IDS = [o.id for o in OBS]


def test_obligation_ids_and_kinds():
    kinds = {o.id: o.kind for o in OBS}
    assert kinds == {
        "UAP.score-identity": "identity",
        "UAP.weight-factorisation": "identity",
        "UAP.error-decomposition": "identity",
        "UAP.piecewise-linear": "identity",
        "UAP.relu-unit": "identity",
        "UAP.kernel-tail-reduction": "identity",
        "UAP.kernel-constants": "inequality",
        "UAP.instance-interpolation": "instance",
        "UAP.instance-relu": "instance",
        "UAP.paper-claim": "open",
    }
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("ob", PROVABLE, ids=[o.id for o in PROVABLE])
def test_obligation_is_proved(ob):
    r = ob.discharge()
    assert r.status == SUCCESS_STATUS[ob.kind], f"{ob.id}: {r.status}: {r.detail}"
    assert r.ok


def test_paper_claim_is_open_and_says_why():
    ob = next(o for o in OBS if o.id == "UAP.paper-claim")
    r = ob.discharge()
    assert r.status == "open"
    assert "not mechanised" in r.detail and "Stone-Weierstrass" in r.detail


# ------------------------------------------------------------------------------- mutations

k_sym = sp.Symbol("k", integer=True, nonnegative=True)

MUTATIONS = {
    "score: sign of (x - L)^2 swapped":
        lambda: uo.score_identity_obligation(lambda x, L: x**2 + (x - L) ** 2),
    "score: factor 2 dropped":
        lambda: uo.score_identity_obligation(lambda x, L: (x**2 - (x - L) ** 2) / 2),
    "factorisation: sum instead of product":
        lambda: uo.weight_factorisation_obligation(lambda s1, s2: s1 + s2),
    "factorisation: wrong factor":
        lambda: uo.weight_factorisation_obligation(lambda s1, s2: s1 * s1),
    "decomposition: sign of the normalisation term swapped":
        lambda: uo.error_decomposition_obligation(-1),
    "decomposition: normalisation term dropped":
        lambda: uo.error_decomposition_obligation(0),
    "piecewise: telescoping one term too far":
        lambda: uo.piecewise_linear_obligation(k_sym),
    "relu: R halved":
        lambda: uo.relu_unit_obligation(lambda R: R / 2),
    "relu: factor R missing":
        lambda: uo.relu_unit_obligation(lambda R: sp.Integer(1)),
    "kernel reduction: closed form 1 + S2 instead of 1 + 2 S2":
        lambda: uo.kernel_reduction_obligation(sp.Integer(1)),
    "kernel reduction: closed form with 1/2 S2":
        lambda: uo.kernel_reduction_obligation(sp.Rational(1, 2)),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutated_identity_fails(name):
    ob = MUTATIONS[name]()
    assert ob.kind == "identity"
    r = ob.discharge()
    assert r.status == "failed", f"{name}: {r.detail}"
    assert "does not reduce" in r.detail


def test_mutation_piecewise_term_value_fails():
    # The same discharger on a wrong per-term claim: a term beyond the bracket is not 1.
    ob = uo.piecewise_linear_obligation()
    i_gt_k = next(f for f in ob.payload.facts if f.label.startswith("i > k"))
    bad = Obligation(ob.id, ob.statement, Identity((equal(i_gt_k.lhs, 1, "i > k claimed 1"),)))
    assert bad.discharge().status == "failed"


@pytest.mark.parametrize("kw,what", [
    ({"ratio": lambda K: sp.Rational(1, 4)}, "tail ratio 1/4 instead of ((K+2)/(K+1))^2"),
    ({"scale": sp.Rational(1, 2)}, "half of the tail bound"),
])
def test_mutated_kernel_tail_is_violated(kw, what):
    r = uo.kernel_constants_obligation(**kw).discharge()
    assert r.status == "failed", what
    assert r.detail.startswith("violated"), r.detail


def test_kernel_ratio_condition_is_checked():
    # A ratio for which c r > 1/2 somewhere on the box fails (the tail would not converge).
    r = uo.kernel_constants_obligation(ratio=lambda K: sp.Integer(100)).discharge()
    assert r.status == "failed" and "c r <= 1/2" in r.detail


# ------------------------------------------------------- the closed form is the code's one

@pytest.mark.parametrize("kv", [Fraction(1, 4), Fraction(1, 2), Fraction(3), Fraction(10),
                                Fraction(64)])
def test_kernel_closed_form_is_what_kernel_constants_evaluates(kv):
    import math
    N = int(min(4000, max(4, math.ceil(math.sqrt(60 / float(kv))))))
    assert N in uo.KERNEL_TERMS
    with ctx.workprec(128):
        closed = compile_arb(uo.kernel_closed_form(N).subs(uo.kappa, sp.Rational(kv)), [])([])
        trunc = compile_arb(uo._kernel_parts(N)["trunc"].subs(uo.kappa, sp.Rational(kv)),
                            [])([])
        c2 = kernel_constants(kv)["c2"]
        assert closed <= arb(c2)  # the float kernel_constants returns bounds the closed form
        assert arb(c2) - closed < 1e-12 * closed  # ... and is that closed form
        # The difference is ~e^{-60} relative, below 128 bits: no contradiction is all a
        # direct evaluation can show (UAP.kernel-constants proves it after normalising).
        assert not trunc > closed


def test_a_priori_bound_expression():
    b2 = uo.a_priori_bound_interpolation(2)
    names = {s.name for s in b2.free_symbols}
    assert {"G_1", "G_2", "Delta_1", "Delta_2", "M_11", "M_12", "M_21", "M_22"} <= names
    # d = 1: G c_in Delta + M c2 Delta^2 / 2 (sqrt(c2 c2) = c2 for the positive c2).
    b1 = uo.a_priori_bound_interpolation(1)
    G, D, M, K = (sp.Symbol(n, **a) for n, a in (("G_1", {"nonnegative": True}),
                                                  ("Delta_1", {"positive": True}),
                                                  ("M_11", {"nonnegative": True}),
                                                  ("kappa_1", {"positive": True})))
    c_in, c2 = sp.Function("c_in", positive=True), sp.Function("c2", positive=True)
    assert sp.simplify(b1 - (G * c_in(K) * D + M * c2(K) * D**2 / 2)) == 0
    with pytest.raises(ValueError):
        uo.a_priori_bound_interpolation(4)


# ------------------------------------------------------------------------- registry / CLI

def test_registry_entry():
    e = registry.get("uap")
    assert e.id == "uap"
    assert e.paper == {"v1": "Thm 3.3", "v2": "Lemma 3.11, Thm 3.14"}
    assert "qualitative" in e.paper_claim
    assert e.a_priori_bound is not None
    assert [o.id for o in e.obligations()] == IDS
    ids = registry.ids()
    assert ids.index("multi-head") < ids.index("uap") < ids.index("universal")


def test_cli_theorems_check_uap(capsys):
    start = time.perf_counter()
    code = cli.main(["theorems", "check", "uap"])
    seconds = time.perf_counter() - start
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FAILED" not in out.replace("0 FAILED", "")
    for oid in IDS:
        assert oid in out
    assert "verified by interval arithmetic" in out and "proved symbolically" in out
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("summary: 6 proved symbolically, 3 verified by interval "
                              "arithmetic, 1 open, 0 FAILED"), summary
    assert seconds < 60
