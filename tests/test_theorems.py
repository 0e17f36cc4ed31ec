"""The theorem registry, its proof obligations and their dischargers (issue 3).

Covers: every obligation of Lemma S, Lemma I and T1 is proved or interval-verified (the
T1 certificate obligation, which needs the independent checker, is tested in
``test_obligation_instance.py``); universal approximation is open (T2's obligations are
tested in ``test_multi_head_obligations.py``, only its rate claim is open); defective T1
networks make the matching obligation fail; no sampling-based discharger exists; the I3
a-priori bound dominates a dense 30-digit sampling of the single-head error.
"""

from __future__ import annotations

import dataclasses
import sys
import types

import mpmath
import numpy as np
import pytest
import sympy as sp
from flint import ctx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certify.errors import InputError
from certify.network import Attention, AttentionNet, SelectColumns, SequenceAffine
from certify.reference import MpReference
from theorems import lemma_i, lemma_s, obligations, registry, report
from theorems import single_head_obligations as t1
from theorems.obligations import (
    DISCHARGERS,
    KIND_OF,
    KINDS,
    Case,
    Claim,
    Construction,
    Identity,
    Inequality,
    Instance,
    Obligation,
    Open,
    Reduction,
    at_least,
    equal,
)

OK = ("proved-symbolic", "verified-interval")


def _ids(obs):
    return [o.id for o in obs]


# ---------------------------------------------------------------------------- proved facts

LEMMA_S = lemma_s.obligations()
LEMMA_I = lemma_i.obligations()
T1_OBS = t1.t1_obligations(with_certificate=False)
#: The only obligations of Lemma S, Lemma I and T1 that are allowed to be open.
ALLOWED_OPEN = {"I5.general"}


@pytest.mark.parametrize("ob", LEMMA_S + LEMMA_I + T1_OBS, ids=_ids(LEMMA_S + LEMMA_I + T1_OBS))
def test_obligation_is_proved(ob):
    r = ob.discharge()
    if ob.id in ALLOWED_OPEN:
        assert r.status == "open" and ob.kind == "open"
    else:
        assert r.status in OK, f"{ob.id}: {r.status}: {r.detail}"
        assert r.status == obligations.SUCCESS_STATUS[ob.kind]


def test_t1_has_every_obligation_kind_it_needs():
    kinds = {o.id: o.kind for o in t1.t1_obligations()}
    assert kinds["T1.scores-anchor"] == kinds["T1.cancellation"] == "construction"
    assert kinds["T1.reduction"] == "reduction"
    assert kinds["T1.leakage"] == kinds["T1.bound"] == "inequality"
    assert kinds["T1.certificate"] == "instance"


@pytest.mark.parametrize("tid", ["universal"])
def test_later_theorems_are_open(tid):
    entry = registry.get(tid)
    obs = entry.obligations()
    assert obs
    for ob in obs:
        assert ob.kind == "open"
        assert ob.discharge().status == "open"


# ------------------------------------------------------------------------------- mutations

def _head(built):
    return built.net.layers[1].heads[0]


def _with_head(built, **arrays):
    """A copy of ``built`` whose head has the given arrays replaced."""
    head = dataclasses.replace(_head(built), **arrays)
    layers = (built.net.layers[0], Attention((head,)), built.net.layers[2])
    return dataclasses.replace(built, net=AttentionNet(built.net.input_shape, layers))


def _with_bias(built, changes):
    """A copy of ``built`` whose affine bias entries ``(row, col) -> value`` are replaced."""
    aff = built.net.layers[0]
    bias = aff.bias.copy()
    for (i, j), v in changes.items():
        rows = np.flatnonzero((bias[:, 0] == i) & (bias[:, 1] == j))
        assert len(rows) == 1
        bias[rows[0], 2] = v
    new = SequenceAffine(aff.out_shape, aff.weights.copy(), bias)
    layers = (new,) + built.net.layers[1:]
    return dataclasses.replace(built, net=AttentionNet(built.net.input_shape, layers))


def _status(obs, oid):
    return next(o for o in obs if o.id == oid).discharge()


INST = t1.REGISTRY_INSTANCE


def test_mutation_sign_flip_in_WK_fails_scores():
    built = INST.build()
    WK = _head(built).W_K.copy()
    WK[0, 2] = -WK[0, 2]  # key row 2*beta*l -> -2*beta*l
    bad = _with_head(built, W_K=WK)
    obs = t1.t1_obligations(INST, bad, with_certificate=False)
    r = _status(obs, "T1.scores-anchor")
    assert r.status == "failed" and "token 0 -> anchor" in r.detail
    assert _status(obs, "T1.cancellation").status == "failed"
    assert _status(obs, "T1.scores-token").status == "proved-symbolic"


def test_mutation_anchor_bias_entry_fails_scores_and_values():
    built = INST.build()
    n = INST.n
    bad = _with_bias(built, {(2, n + 2): float(built.anchors[2]) + 0.1})  # l of anchor 2
    obs = t1.t1_obligations(INST, bad, with_certificate=False)
    for oid in ("T1.scores-anchor", "T1.values", "T1.anchor-placement"):
        assert _status(obs, oid).status == "failed", oid
    assert _status(obs, "T1.reduction").status == "proved-symbolic"


def test_mutation_consistently_moved_anchor_fails_placement_only():
    built = INST.build()
    n = INST.n
    anchors = built.anchors.copy()
    anchors[2] += 0.1
    L = float(anchors[2])
    bad = _with_bias(built, {(2, n + 2): L, (3, n + 2): L * L})
    bad = dataclasses.replace(bad, anchors=anchors)
    obs = t1.t1_obligations(INST, bad, with_certificate=False)
    r = _status(obs, "T1.anchor-placement")
    assert r.status == "failed" and "anchor 2" in r.detail
    for oid in ("T1.scores-anchor", "T1.values", "T1.cancellation", "T1.reduction"):
        assert _status(obs, oid).status == "proved-symbolic", oid


def test_mutation_G_too_small_fails_leakage():
    built = INST.build()
    # beta (G + m) = 30 instead of >= 60: consistent network, so only the leakage fails.
    G = float(built.G - 30.0 / built.beta)
    WK = _head(built).W_K.copy()
    WK[1, 1] = -built.beta * G
    bad = dataclasses.replace(_with_head(built, W_K=WK), G=G)
    obs = t1.t1_obligations(INST, bad, with_certificate=False)
    r = _status(obs, "T1.leakage")
    assert r.status == "failed" and r.detail.startswith("violated")
    assert _status(obs, "T1.scores-token").status == "proved-symbolic"


def test_mutation_beta_y2_not_cancelling_fails_cancellation():
    built = INST.build()
    WK = _head(built).W_K.copy()
    WK[1, 3] = -built.beta * 1.001  # the L^2 term carries a different beta
    bad = _with_head(built, W_K=WK)
    obs = t1.t1_obligations(INST, bad, with_certificate=False)
    r = _status(obs, "T1.cancellation")
    assert r.status == "failed" and "exceeds the tolerance" in r.detail
    assert _status(obs, "T1.scores-anchor").status == "failed"


def test_mutation_key_reads_input_fails_reduction():
    built = INST.build()
    WK = _head(built).W_K.copy()
    WK[0, 0] = 1e-3  # keys of token columns now depend on their y
    bad = _with_head(built, W_K=WK)
    r = t1.reduction_obligation(INST, bad).discharge()
    assert r.status == "failed" and "other than through y_" in r.detail


def test_mutation_swapped_output_columns_fails_reduction():
    built = INST.build()
    layers = built.net.layers[:2] + (SelectColumns((1, 0)),)
    bad = dataclasses.replace(built, net=AttentionNet(built.net.input_shape, layers))
    assert t1.reduction_obligation(INST, bad).discharge().status == "failed"
    assert t1.reduction_obligation(INST, built).discharge().status == "proved-symbolic"


def test_mutation_rounding_tolerance_is_not_vacuous():
    # A stored square off by u relative (what rounding may do) is within the cancellation
    # tolerance; 2 u or 2^-40 relative is not.  Anchor 0 is -1: L^2 = 1, the float below 1
    # is 1 - u, above is 1 + 2u.
    built = INST.build()
    n = INST.n
    Q = float(built.anchors[0]) ** 2
    assert Q == 1.0
    ok = _with_bias(built, {(3, n): np.nextafter(Q, 0.0)})
    assert _status(t1.construction_obligations(INST, ok), "T1.cancellation").status \
        == "proved-symbolic"
    for wrong in (np.nextafter(Q, 2.0), Q * (1 + 2.0**-40)):
        bad = _with_bias(built, {(3, n): wrong})
        assert _status(t1.construction_obligations(INST, bad), "T1.cancellation").status \
            == "failed"


# --------------------------------------------------------------- rigorous dischargers only

def test_every_registered_obligation_uses_a_rigorous_discharger():
    rigorous = {"identity", "inequality", "construction", "reduction", "instance", "open"}
    assert set(KINDS) == rigorous == set(DISCHARGERS) == set(KIND_OF.values())
    expected = {"identity": obligations.discharge_identity,
                "inequality": obligations.discharge_inequality,
                "construction": obligations.discharge_construction,
                "reduction": obligations.discharge_reduction,
                "instance": obligations.discharge_instance,
                "open": obligations.discharge_open}
    assert DISCHARGERS == expected
    count = 0
    for entry in registry.entries():
        for ob in entry.obligations():
            assert type(ob) is Obligation
            assert type(ob.payload) in KIND_OF and ob.kind in rigorous
            assert type(ob).discharge is Obligation.discharge
            count += 1
    assert count >= 30
    # No function or class in the obligations module samples points.
    names = {n.lower() for n in dir(obligations)}
    assert not any(w in n for n in names for w in ("sample", "random", "spot"))


def test_obligation_refuses_other_payloads():
    class Sampled:
        pass

    with pytest.raises(TypeError):
        Obligation("x", "sampled", Sampled())

    class SubIdentity(Identity):
        pass

    with pytest.raises(TypeError):
        Obligation("x", "subclass", SubIdentity(()))


# ------------------------------------------------------------------ dischargers can fail

x = sp.Symbol("x", real=True)
z = sp.Symbol("z", nonnegative=True)


def _run(payload):
    return Obligation("t", "test", payload).discharge()


def test_identity_rejects_false_or_unproved_facts():
    assert _run(Identity((equal(x**2 - 1, (x - 1) * (x + 1)),))).status == "proved-symbolic"
    assert _run(Identity((equal(x**2, x),))).status == "failed"
    # x^2 - 1 >= 0 is false; the certificate x^2 - 1 is not provably nonnegative.
    assert _run(Identity((at_least(x**2, 1, x**2 - 1),))).status == "failed"
    # Wrong certificate (not equal to lhs - rhs).
    assert _run(Identity((at_least(x**2 + 1, 1, x**2 + 1),))).status == "failed"
    # Monotonicity in the wrong direction: exp(-z) >= 1 is false for z > 0.
    assert _run(Identity((at_least(sp.exp(-z), 1, sp.exp(-z) - 1, via=z, at=z),))).status \
        == "failed"
    assert _run(Identity((at_least(1, sp.exp(-z), 1 - sp.exp(-z), via=z, at=z),))).status \
        == "proved-symbolic"


def test_identity_refuses_certificates_with_poles():
    # 1/(x-1)^2 >= 0 where defined, but it has a pole: not accepted.
    c = 1 / (x - 1) ** 2
    assert _run(Identity((at_least(c, 0, c),))).status == "failed"


def test_inequality_verifies_disproves_and_gives_up():
    y = sp.Symbol("y", real=True)
    box = ((y, 0, 1),)
    assert _run(Inequality((Case(y * (1 - y), box, sp.Rational(2501, 10000)),))).status \
        == "verified-interval"
    # Tight at a corner: decided by the monotonicity test.
    assert _run(Inequality((Case(y**3 + y, box, sp.Integer(2)),))).status \
        == "verified-interval"
    # Tight at an interior maximum: interval branch and bound cannot decide it.
    r = _run(Inequality((Case(y * (1 - y), box, sp.Rational(1, 4)),), budget=500))
    assert r.status == "failed" and r.detail.startswith("undecided")
    r = _run(Inequality((Case(y * (1 - y), box, sp.Rational(24, 100)),)))
    assert r.status == "failed" and r.detail.startswith("violated")
    # Equality on the whole box, hidden from the interval enclosure: undecided -> failed.
    hidden_zero = sp.Max(sp.sin(y) ** 2 + sp.cos(y) ** 2 - 1, 0)
    assert isinstance(hidden_zero, sp.Max)
    r = _run(Inequality((Case(hidden_zero, box, sp.Integer(0)),), budget=200))
    assert r.status == "failed" and r.detail.startswith("undecided")


def test_construction_and_reduction_detect_wrong_claims():
    built = INST.build()
    n = INST.n
    good = Claim("value", (0, 0, n), sp.Rational(float(built.anchors[0])))
    wrong = Claim("value", (0, 0, n), sp.Rational(float(built.anchors[1])))
    assert _run(Construction(built.net, (good,))).status == "proved-symbolic"
    assert _run(Construction(built.net, (wrong,))).status == "failed"
    ys = tuple(t1.y_expr(INST, k) for k in range(n))
    assert _run(Reduction(built.net, ys)).status == "proved-symbolic"
    assert _run(Reduction(built.net, ys[::-1])).status == "failed"


def test_instance_without_checker_fails_with_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "certify.check.verify", None)
    r = _run(Instance(lambda: {}, "none"))
    assert r.status == "failed" and "checker unavailable" in r.detail


def test_instance_reports_the_checker_verdict(monkeypatch):
    fake = types.ModuleType("certify.check.verify")
    fake.check_certificate = lambda cert, backend="both": (cert.get("ok") is True, "fake")
    monkeypatch.setitem(sys.modules, "certify.check.verify", fake)
    assert _run(Instance(lambda: {"ok": True}, "good")).status == "verified-interval"
    assert _run(Instance(lambda: {"ok": False}, "bad")).status == "failed"

    def broken():
        raise RuntimeError("engine refused")

    r = _run(Instance(broken, "broken"))
    assert r.status == "failed" and "engine refused" in r.detail


def test_open_is_never_proved():
    assert _run(Open("later")).status == "open"


# ----------------------------------------------------------------- a-priori bound of I3

def _lower_mp(x):
    """A 60-digit mpmath value within 1e-45 relative of the lower end of the ball ``x``."""
    with ctx.workprec(200):
        return mpmath.mpf(x.lower().str(60, radius=False))


def _upper_mp(x):
    with ctx.workprec(200):
        return mpmath.mpf(x.upper().str(60, radius=False))


def _ideal_error(a, b, p, kappa, y):
    """30-digit ``o(y) - Range_[a,b](y)`` of the ideal head (exact anchors and beta)."""
    a, b = mpmath.mpf(a), mpmath.mpf(b)
    d = (b - a) / (p - 1)
    beta = mpmath.mpf(kappa) / d**2
    L = [a + j * d for j in range(p)]
    s = [-beta * (y - v) ** 2 for v in L]
    m = max(s)
    # Anchors more than 400 below the best score carry weight < e^-390 relative: dropped.
    keep = [j for j in range(p) if s[j] > m - 400]
    e = [mpmath.exp(s[j] - m) for j in keep]
    o = mpmath.fsum(w * L[j] for w, j in zip(e, keep, strict=True)) / mpmath.fsum(e)
    return o - min(max(y, a), b), d


def _sample_points(a, b, p):
    d = mpmath.mpf(b - a) / (p - 1)
    w = mpmath.mpf(b - a) / 2
    pts = [a - w + (b - a + 2 * w) * mpmath.mpf(i) / 1200 for i in range(1201)]
    for j in sorted({0, p // 2 - 1 if p > 2 else 0, p - 2}):
        pts += [a + (j + mpmath.mpf(t) / 160) * d for t in range(161)]
    return pts


@pytest.mark.parametrize("p", [2, 5, 64])
def test_I3_bound_dominates_dense_sampling(p):
    a, b = -1, 1
    with mpmath.workdps(30):
        pts = _sample_points(a, b, p)
        for kappa in (0.1, 1, 3, 10, 100):
            inside, outside = mpmath.mpf(0), mpmath.mpf(0)
            for y in pts:
                err, d = _ideal_error(a, b, p, kappa, y)
                if a <= y <= b:
                    inside = max(inside, abs(err))
                else:
                    outside = max(outside, abs(err))
            bound = lemma_i.a_priori_bound_I3_arb(kappa, sp.Rational(b - a, p - 1))
            out_b = obligations.compile_arb(
                lemma_i.a_priori_bound_I3_outside(kappa, sp.Rational(b - a, p - 1)), [])([])
            assert _lower_mp(bound) >= max(inside, outside) * (1 + mpmath.mpf(10) ** -25), \
                (p, kappa)
            assert _lower_mp(out_b) >= outside * (1 + mpmath.mpf(10) ** -25), (p, kappa)
            # The sampling is dense enough to see the error: hardmax regime near Delta/2.
            if kappa == 100:
                assert inside / d > 0.4


def test_I3_closed_form_dominates_the_series():
    with mpmath.workdps(40):
        for kappa in (0.05, 0.3, 1, 5):
            series = mpmath.nsum(lambda k, c=kappa: (k + 1) * mpmath.exp(-c * k * k),
                                 [1, mpmath.inf])
            exact = mpmath.mpf(1) / 2 + 2 * series
            for terms in (0, 1, 3, None):
                ub = lemma_i.a_priori_bound_I3_arb(kappa, 1, terms)
                assert _lower_mp(ub) >= exact * (1 - mpmath.mpf(10) ** -30), (kappa, terms)
            # With the default number of terms the closed form is essentially exact.
            ub = lemma_i.a_priori_bound_I3_arb(kappa, 1)
            assert _upper_mp(ub) <= exact * (1 + mpmath.mpf(10) ** -20)
            # Fewer terms: still an upper bound, and visibly looser for small kappa.
            if kappa <= 0.3:
                assert _lower_mp(lemma_i.a_priori_bound_I3_arb(kappa, 1, 0)) > exact * 1.01


def test_I3_bound_symbolic_and_limit():
    expr = lemma_i.a_priori_bound_I3()
    assert expr.free_symbols == {lemma_i.kappa}
    assert sp.limit(expr, lemma_i.kappa, sp.oo) == sp.Rational(1, 2)
    with pytest.raises(ValueError):
        lemma_i.a_priori_bound_I3_arb(0)


# ---------------------------------------------------------------------- report functions

def test_list_theorems_rows():
    rows = report.list_theorems()
    assert [r["id"] for r in rows] == ["lemma-s", "lemma-i", "single-head", "multi-head",
                                       "uap", "uap-two-layer", "uap-softmax", "seq2seq",
                                       "universal"]
    by = {r["id"]: r for r in rows}
    assert by["single-head"]["paper_numbering"] == {"v1": "Thm 3.1", "v2": "Thm 3.4"}
    assert by["lemma-s"]["paper_numbering"] == {"v1": "Lemma C.1", "v2": "Lemma F.1"}
    assert by["lemma-i"]["paper_numbering"] == {"v1": "unknown", "v2": "unknown"}
    assert by["single-head"]["has_construction"] is True
    assert "exp(-beta*(G + m))" in by["single-head"]["a_priori_bound"]
    assert "H*(n - 1)" in by["multi-head"]["a_priori_bound"]  # the O(Delta/H) bound


def test_check_theorems_tree_and_exit_codes():
    tree, obj, code = report.check_theorems("lemma-s")
    assert code == 0 and obj["exit_code"] == 0
    assert tree.count("proved symbolically") == len(LEMMA_S) + 1  # + the summary line
    assert obj["theorems"][0]["status"] == "proved"
    tree, obj, code = report.check_theorems("universal")
    assert code == 0 and obj["summary"]["open"] == 4 and "open" in tree
    tree, obj, code = report.check_theorems("multi-head")
    assert code == 0 and obj["summary"]["open"] == 0 and "T2.rate" in tree
    with pytest.raises(InputError):
        report.check_theorems("no-such-theorem")


def test_check_theorems_exit_code_1_on_failure(monkeypatch):
    real = registry.get("lemma-s")
    bad = dataclasses.replace(real, obligations=lambda: [
        Obligation("bad", "x^2 == x", Identity((equal(x**2, x),)))])
    monkeypatch.setattr(registry, "get", lambda tid: bad)
    tree, obj, code = report.check_theorems("lemma-s")
    assert code == 1 and obj["summary"]["failed"] == 1 and "FAILED" in tree


def test_bound_single_head_rejects_bad_input():
    for args in ((1.0, 1.0, 5, 1.0), (0.0, 1.0, 1, 1.0), (0.0, 1.0, 5, 0.0),
                 (0.0, float("nan"), 5, 1.0), (0.0, 1.0, 5, -2.0)):
        with pytest.raises(InputError):
            report.bound_single_head(*args)


@pytest.mark.parametrize("a,b,p,kappa", [(-1.0, 1.0, 5, 1.0), (0.5, 2.0, 16, 3.0),
                                         (-1.0, 1.0, 64, 30.0)])
def test_bound_single_head_dominates_the_stored_network(a, b, p, kappa):
    res = report.bound_single_head(a, b, p, kappa)
    assert res["bound"] >= res["i3_bound"] > 0
    assert res["bound"] == pytest.approx(res["i3_bound"], rel=1e-6)
    lo, hi = res["domain"]
    from theorems.single_head import construct
    built = construct(a, b, np.array([[1.0]]), np.array([0.0]), np.array([[lo]]),
                      np.array([[hi]]), p, kappa=kappa)
    assert built.beta == res["beta"] and built.G == res["G"]
    ref = MpReference(built.net, 30, cutoff=200)
    worst = mpmath.mpf(0)
    with mpmath.workdps(30):
        for yv in np.linspace(lo, hi, 801):
            o = ref.output(np.array([[yv]]))[0][0]
            worst = max(worst, abs(o - min(max(mpmath.mpf(yv), mpmath.mpf(a)),
                                           mpmath.mpf(b))))
    assert worst <= res["bound"]
    assert worst >= 0.05 * res["delta"]  # the sampling sees a real error


def test_monotonicity_rule_refuses_nonsmooth_certificates():
    # The fundamental theorem of calculus needs a smooth certificate: a jump is refused
    # before any derivative is taken, even where the claim happens to be true.
    c = 1 - 2 * sp.Heaviside(z - 1)
    assert _run(Identity((at_least(-1, -1, c + 1, via=z, at=2),))).status == "failed"
    smooth = 1 - sp.exp(-z)
    assert _run(Identity((at_least(smooth.subs(z, 2), 0, smooth, via=z, at=2),))).status \
        == "proved-symbolic"


# ------------------------------------------------------ property: random T1 instances

_coef = st.sampled_from([0.0, 1.0, -0.5, 0.25, 2.0, -1.5, 0.1])


@st.composite
def _instances(draw):
    d, n = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    a = draw(st.sampled_from([-2.0, -1.0, 0.0, 0.5]))
    b = a + draw(st.sampled_from([0.5, 1.0, 3.0]))
    w = np.array([[draw(_coef) for _ in range(d)] for _ in range(n)])
    t = np.array([draw(st.sampled_from([0.0, 0.3, -1.0])) for _ in range(n)])
    lo = np.full((d, n), draw(st.sampled_from([-1.0, -0.5, 0.0])))
    hi = lo + draw(st.sampled_from([0.5, 1.0, 2.0]))
    return t1.T1Instance(a, b, w, t, lo, hi, draw(st.integers(2, 6)),
                         draw(st.sampled_from([0.3, 1.0, 3.0])))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_instances())
def test_t1_obligations_hold_on_random_instances(inst):
    for ob in t1.t1_obligations(inst, with_certificate=False):
        r = ob.discharge()
        assert r.status in OK, (ob.id, r.detail, inst)
