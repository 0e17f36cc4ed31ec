"""The input-box soundness campaign (benchmarks/box_campaign.py) in small.

* A fixed set of cheap specs over ``uap`` (both routes, 1-D and 2-D, expression and
  ReLU-network targets, tiny and far-offset domains), ``uap-softmax``, ``uap-two-layer``
  and ``seq2seq``, in both modes, is certified, checked and compared with the mpmath
  evaluation: no rejection, no probe above ``claim.upper``, no witness below
  ``claim.lower``, no internal error; most specs certify, so the comparisons did run.
* The mpmath network evaluator agrees with the float64 evaluator on every network shape,
  and with :class:`certify.reference.MpReference` where that applies.
* A real certificate whose ``claim.upper`` is lowered below a probe's error, or whose
  ``claim.lower`` is raised above the witness error, is flagged by the comparison (and
  rejected by the checker), so the comparison is not vacuous.
"""

from __future__ import annotations

import copy
import functools
import pathlib
import sys

import mpmath
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))

import box_campaign as B  # noqa: E402

from certify import api  # noqa: E402

#: Fewer probes than the benchmark's default, so that a case stays within seconds.
COUNTS = {"near": 4, "boundary": 6, "random": 8}
BUDGET = B.Budget(timeout=20.0, check_timeout=60.0, counts=COUNTS, pyinterval=False)

_RELU1 = {"kind": "relu-network", "layers": [
    {"W": [[1.0], [-1.5], [0.5]], "b": [0.25, 0.1, -0.2]},
    {"W": [[1.0, -0.5, 2.0]], "b": [0.1]}]}

#: Cheap specs, each certifying in a few seconds (epsilon set by hand above the error).
FAST = [
    {"theorem": "uap", "target": {"kind": "expression", "expr": "sin(3*x) + x**2",
                                  "variables": ["x"]},
     "domain": {"lo": -1, "hi": 1}, "construction": {"route": "interpolation", "p": 40},
     "mode": "measure", "tol": 0.2},
    {"theorem": "uap", "target": {"kind": "expression",
                                  "expr": "tanh(2*((x - 1000.5)/0.0005))", "variables": ["x"]},
     "domain": {"lo": 1000.4995, "hi": 1000.5005},
     "construction": {"route": "interpolation", "p": 30}, "mode": "prove", "epsilon": 0.3},
    {"theorem": "uap", "target": {"kind": "expression", "expr": "abs(x/3e-6) - exp(x/3e-6)",
                                  "variables": ["x"]},
     "domain": {"lo": -3e-6, "hi": 3e-6},
     "construction": {"route": "relu", "p": 16, "knots": 8}, "mode": "measure", "tol": 0.3},
    {"theorem": "uap", "target": {"kind": "expression", "expr": "cos(x)*exp(y/2)",
                                  "variables": ["x", "y"]},
     "domain": {"lo": [-1, -1], "hi": [1, 1]},
     "construction": {"route": "interpolation", "p": [8, 6]}, "mode": "prove",
     "epsilon": 0.4},
    {"theorem": "uap", "target": {"kind": "expression",
                                  "expr": "max((x - 2e5)/50, 0.25) + sin(y)",
                                  "variables": ["x", "y"]},
     "domain": {"lo": [199950, -1], "hi": [200050, 1]},
     "construction": {"route": "interpolation", "p": [6, 6]}, "mode": "measure", "tol": 0.5},
    {"theorem": "uap", "target": _RELU1, "domain": {"lo": -2, "hi": 2},
     "construction": {"route": "relu", "p": 24}, "mode": "measure", "tol": 0.3},
    {"theorem": "uap", "target": _RELU1, "domain": {"lo": -2, "hi": 2},
     "construction": {"route": "interpolation", "p": 30}, "mode": "prove", "epsilon": 0.5},
    {"theorem": "uap-softmax", "target": {"kind": "expression", "expr": "sin(3*x)",
                                          "variables": ["x"]},
     "domain": {"lo": [-1], "hi": [1]}, "construction": {"route": "relu"},
     "mode": "prove", "epsilon": 0.1},
    {"theorem": "uap-softmax", "target": {"kind": "expression", "expr": "x**2 - 0.5",
                                          "variables": ["x"]},
     "domain": {"lo": [-1], "hi": [1]}, "construction": {"route": "interpolation", "p": 20},
     "mode": "measure", "tol": 0.3},
    {"theorem": "uap-two-layer", "target": {"kind": "expression", "expr": "x*y",
                                            "variables": ["x", "y"]},
     "domain": {"lo": [0, 0], "hi": [1, 1]},
     "construction": {"p": 9, "knot_error": 0.05}, "mode": "measure", "tol": 0.5},
    {"theorem": "seq2seq", "target": {"kind": "expression", "tokens": 2, "dim": 1,
                                      "outputs": [["x0_0 + x1_0"], ["x0_0 * x1_0"]]},
     "domain": {"lo": 0, "hi": 1}, "mode": "prove", "epsilon": 0.1},
    {"theorem": "seq2seq", "target": {"kind": "expression", "tokens": 3, "dim": 1,
                                      "outputs": [["x0_0"], ["max(x0_0, x1_0)"],
                                                  ["sin(x2_0 - 0.5*x1_0)"]]},
     "domain": {"lo": [[-1], [0], [0.5]], "hi": [[0], [1], [1.5]]},
     "construction": {"design_epsilon": 0.2}, "mode": "measure", "tol": 0.5},
]


def _defects(cases) -> list[str]:
    return [B._detail(c, 0) for c in cases if B.failures(c)]


#: Two chunks (spread over xdist workers): the uap specs, then the other theorems.
CHUNKS = [range(0, 6), range(6, len(FAST))]


@pytest.mark.parametrize("chunk", range(len(CHUNKS)))
def test_fast_campaign_has_no_defect(chunk):
    cases = [B.run_spec(copy.deepcopy(FAST[i]), BUDGET, i, 0) for i in CHUNKS[chunk]]
    assert not _defects(cases), "\n".join(_defects(cases))
    total = B.summarize(cases)["total"]
    for name in B.MUST_BE_ZERO:
        assert total[name] == 0
    assert total["error"] == 0 and total["mismatch"] == 0 and total["check_timeouts"] == 0
    # every spec here is chosen to certify, so every comparison below did run
    assert all(c["outcome"] == "certified" for c in cases), \
        [(c["index"], c["outcome"], c["message"]) for c in cases]
    if chunk == 1:
        assert {c["theorem"] for c in cases} == set(B.THEOREMS)
    # compared with mpmath at many points, at >= 60 digits; sampled errors stay below U
    assert all(c["points"] >= 15 and c["prec"] >= B.MIN_PREC for c in cases)
    assert all(0 < c["max_over_upper"] <= 1 for c in cases)


def test_random_draws_cover_the_space():
    """The seeded draw is deterministic and reaches every theorem, mode, route and kind."""
    draws = [B.draw_spec(3, i) for i in range(80)]
    assert draws[:5] == [B.draw_spec(3, i) for i in range(5)]
    seen = {(s["theorem"], s["mode"]) for s, _ in draws}
    assert seen == {(t, m) for t in B.THEOREMS for m in ("measure", "prove")}
    routes = {s["construction"].get("route") for s, _ in draws if s["theorem"] == "uap"}
    assert routes == {"interpolation", "relu"}
    assert any(s["target"]["kind"] == "relu-network" for s, _ in draws)
    assert any(f is not None for _, f in draws) and any("epsilon" in s for s, _ in draws)
    widths = [hi - lo for s, _ in draws if s["theorem"] != "seq2seq"
              for lo, hi in zip(*B.flat_domain(s))]
    assert min(widths) < 1e-3 and max(widths) > 10


def _networks() -> list[tuple[str, dict, list[float], list[float]]]:
    """Built networks of every shape (no certification), with their spec and domain."""
    out = []
    for i in (0, 2, 5, 7, 9, 11):
        spec = FAST[i]
        net = api.build(copy.deepcopy(spec)).net.to_json_obj()
        lo, hi = B.flat_domain(spec)
        out.append((spec["theorem"], net, lo, hi))
    return out


def test_mp_network_agrees_with_float_and_reference():
    from certify.network import AttentionNet
    from certify.reference import MpReference

    rng = np.random.default_rng(0)
    kinds = set()
    for theorem, net_obj, lo, hi in _networks():
        mp_net = B.MpNetwork(net_obj)
        kinds.add(tuple(L["kind"] for L in mp_net.layers))
        net = AttentionNet.from_json_obj(net_obj)
        for _ in range(3):
            x = [float(a + rng.uniform() * (b - a)) for a, b in zip(lo, hi)]
            X = np.array(x).reshape(mp_net.n, mp_net.d).T
            got = mp_net.output(X, 200)
            ref = api.evaluate(net, X)
            for o in range(mp_net.rows):
                for c in range(mp_net.cols):
                    assert abs(float(got[o][c]) - ref[o, c]) <= 1e-9 * (1 + abs(ref[o, c])), \
                        (theorem, o, c)
            if [L["kind"] for L in mp_net.layers] == ["sequence-affine", "attention",
                                                       "select-columns"]:
                want = MpReference(net, dps=80).output(X)
                with mpmath.workdps(80):
                    assert abs(got[0][0] - want[0][0]) < mpmath.mpf(10) ** -50
    assert len(kinds) >= 4  # one-layer, ReLU route, softmax, two-layer/seq2seq shapes


@functools.lru_cache(maxsize=1)
def _certificate() -> dict:
    spec = {"theorem": "uap", "target": {"kind": "expression", "expr": "sin(2*x)",
                                         "variables": ["x"]},
            "domain": {"lo": -1, "hi": 1}, "construction": {"route": "interpolation", "p": 12},
            "mode": "measure", "tol": 0.2}
    result, cert = api.certify(spec, jobs=1)
    assert result.holds and cert is not None
    return cert


def test_true_certificate_is_not_flagged():
    cert = _certificate()
    audit = B.audit_certificate(cert, np.random.default_rng(1), COUNTS)
    assert not audit.unsound_upper and not audit.lower_above and not audit.mismatch
    assert audit.points >= 15 and 0 < audit.max_error <= cert["claim"]["upper"]
    assert audit.witness_error >= cert["claim"]["lower"]


def test_lowered_upper_is_flagged_as_unsound():
    cert = _certificate()
    base = B.audit_certificate(cert, np.random.default_rng(1), COUNTS)
    bad = copy.deepcopy(cert)
    # below the largest probe error but above the witness's lower bound: only U is false
    bad["claim"]["upper"] = float(base.max_error * (1 - 1e-9))
    bad["claim"]["lower"] = min(cert["claim"]["lower"], bad["claim"]["upper"] / 2)
    bad["witness"]["error_lower"] = bad["claim"]["lower"]
    audit = B.audit_certificate(bad, np.random.default_rng(1), COUNTS)
    assert audit.unsound_upper, "a claim.upper below a probe error was not flagged"
    assert not audit.lower_above
    ok, _ = api.check(bad, backend="flint", conformance=False)
    assert not ok


def test_raised_lower_is_flagged():
    cert = _certificate()
    base = B.audit_certificate(cert, np.random.default_rng(1), COUNTS)
    bad = copy.deepcopy(cert)
    bad["claim"]["lower"] = float(base.witness_error * (1 + 1e-9))
    audit = B.audit_certificate(bad, np.random.default_rng(1), COUNTS)
    assert audit.lower_above, "a claim.lower above the witness error was not flagged"
    assert not audit.unsound_upper
    # the same through witness.error_lower alone
    bad2 = copy.deepcopy(cert)
    bad2["witness"]["error_lower"] = float(base.witness_error * (1 + 1e-9))
    assert B.audit_certificate(bad2, np.random.default_rng(1), COUNTS).lower_above
    ok, _ = api.check(bad, backend="flint", conformance=False)
    assert not ok


def test_summary_counts_findings():
    """A case with findings is counted in the must-be-zero totals and reported."""
    case = B._empty_case(0, copy.deepcopy(FAST[0]))
    case["outcome"] = "certified"
    case["unsound_upper"].append({"x": [0.0], "error": "1", "upper": 0.5})
    case["lower_above"].append("witness error below claim.lower")
    total = B.summarize([case])["total"]
    assert total["unsound_upper"] == 1 and total["lower_above"] == 1
    assert B.failures(case) == ["unsound_upper", "lower_above"]
    assert "unsound U 1" in B.summary_line(B.summarize([case]), 0.0)


@pytest.mark.parametrize("index", [0])
def test_campaign_case_runs_end_to_end(index):
    """One seeded random case runs through draw, epsilon choice, certify, check, audit."""
    case = B.run_case(5, index, BUDGET)
    assert case["outcome"] in B.OUTCOMES and not B.failures(case), B._detail(case, 5)
