"""The soundness campaign (benchmarks/campaign.py) in small, and its independent evaluator.

* A fixed-seed sample of random T1/T2 specs and a few hand-picked extreme ones are
  certified, checked with both backends and conformance, and compared with the mpmath
  evaluation: no rejection of our own certificates, no upper bound below and no lower bound
  above an mpmath value, no internal error; and certificates are produced in each theorem
  and each mode, so the comparisons did run.
* The mpmath evaluator agrees with the float64 evaluator (``api.evaluate``,
  ``api.sample_error``) at random points.
* A certificate whose claim.upper is lowered below the witness error, or whose claim.lower
  is raised above it, is flagged by the campaign's comparison and rejected by the checker.
"""

from __future__ import annotations

import copy
import pathlib
import sys

import mpmath
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))

import campaign as C  # noqa: E402

from certify import api  # noqa: E402
from certify.check.verify import check_certificate  # noqa: E402

#: The sample: cases 0..31 of campaign seed 0, in four chunks (spread over xdist workers).
SEED, CHUNKS, CHUNK = 0, 4, 8
#: A smaller probe set than the benchmark's, so that a case stays around a second.
COUNTS = {"near": 12, "focus": 32, "full": 8, "random": 12, "corners": 4}
BUDGET = C.Budget(max_boxes=200_000, timeout=20.0, check_timeout=60.0, counts=COUNTS)

#: Hand-picked extremes, each certified: tiny and huge scales, kappa 1e-3 and 1e6, an
#: explicit beta, per-entry domains, every theorem in both modes.
HAND = [
    {"theorem": "single-head", "target": {"kind": "truncated-linear", "a": -1e-150,
                                          "b": 1e-150, "w": [[1.0]], "t": [0.0]},
     "domain": {"lo": -1e-150, "hi": 1e-150}, "construction": {"p": 8, "kappa": 3.0},
     "mode": "measure", "tol": 0.05},
    {"theorem": "single-head", "target": {"kind": "clip", "a": -1e100, "b": 3e99,
                                          "w": [[0.5, -1.0]], "t": [1e99]},
     "domain": {"lo": -1e100, "hi": 1e100}, "construction": {"p": 12, "kappa": 1e6},
     "mode": "prove", "epsilon": 1e99},
    {"theorem": "single-head", "target": {"kind": "hard-sigmoid", "w": [[1e-149], [-2e-149]],
                                          "t": [0.5, 0.25]},
     "domain": {"lo": -3e148, "hi": 5e148}, "construction": {"p": 9, "beta": 40.0},
     "mode": "prove", "epsilon": 0.1},
    {"theorem": "multi-head", "tokens": 5,
     "target": {"kind": "leaky-relu", "alpha": -0.3, "w": [1e-140, 2e-140], "t": 0.0},
     "domain": {"lo": -1.0, "hi": 1.0}, "construction": {"heads": 3, "kappa": 1e-3},
     "mode": "measure", "tol": 0.05},
    {"theorem": "multi-head", "tokens": 4,
     "target": {"kind": "relu", "w": [1e90], "t": -1e89, "R": 2e90},
     "domain": {"lo": [[-0.5], [0.0], [0.25], [-1.0]], "hi": [[1.0], [0.5], [0.75], [1.0]]},
     "construction": {"heads": 2, "kappa": 3.0}, "mode": "prove", "epsilon": 1e90},
    {"theorem": "multi-head",
     "target": {"kind": "hard-tanh", "tokens": 3, "w": [2.0, -1.0, 0.5], "t": 0.1},
     "domain": {"lo": -1.0, "hi": 1.0}, "construction": {"heads": 4, "beta": 1e4},
     "mode": "measure", "tol": 0.1},
]


def _defects(cases) -> list[str]:
    return [C._failure_line(c, SEED) for c in cases if C.failures(c)]


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_sample_has_no_defect(chunk):
    cases = C.run_campaign(0, SEED, 1, BUDGET, range(chunk * CHUNK, (chunk + 1) * CHUNK))
    assert not _defects(cases), "\n".join(_defects(cases))
    total = C.summarize(cases)["total"]
    for name in C.MUST_BE_ZERO:
        assert total.get(name, 0) == 0
    assert total.get("certified", 0) >= 2, C.format_table(C.summarize(cases))
    # a certified case was compared with mpmath at many points
    assert all(c["points"] >= 20 for c in cases if c["outcome"] == "certified")


def test_hand_picked_extremes_certify_in_every_theorem_and_mode():
    cases = [C.run_spec(copy.deepcopy(spec), BUDGET, i, SEED) for i, spec in enumerate(HAND)]
    assert not _defects(cases), "\n".join(_defects(cases))
    certified = {(c["theorem"], c["mode"]) for c in cases if c["outcome"] == "certified"}
    assert certified == {(t, m) for t in (C.T1, C.T2) for m in ("prove", "measure")}
    for c in cases:
        assert c["outcome"] == "certified", C._failure_line(c, SEED)
        assert not c["check_timeouts"] and c["imprecise"] == 0


def test_refused_and_counterexample_specs_are_counted_not_failed():
    refused = {"theorem": "single-head", "target": {"kind": "leaky-relu", "alpha": 0.1,
                                                   "w": [[1.0]], "t": [0.0]},
               "domain": {"lo": -1.0, "hi": 1.0}, "construction": {"p": 4, "kappa": 3.0}}
    case = C.run_spec(refused, BUDGET)
    assert case["outcome"] == "refused" and "multi-head" in case["message"]
    # epsilon far below the network's error: a counterexample, whose error_lower the
    # campaign confirms with mpmath
    tight = {"theorem": "single-head", "target": {"kind": "clip", "a": -1.0, "b": 1.0,
                                                 "w": [[1.0]], "t": [0.0]},
             "domain": {"lo": -1.5, "hi": 1.5}, "construction": {"p": 4, "kappa": 3.0},
             "mode": "prove", "epsilon": 1e-3}
    case = C.run_spec(tight, BUDGET)
    assert case["outcome"] == "not-certified" and "counterexample" in case["message"]
    assert not C.failures(case)


# -- the independent evaluator ---------------------------------------------------------------

EVAL_SPECS = [
    {"theorem": "single-head", "target": {"kind": "clip", "a": -1.0, "b": 2.0,
                                          "w": [[1.0, 0.5], [0.3, -2.0]], "t": [0.0, 0.1]},
     "domain": {"lo": -1.0, "hi": 1.0}, "construction": {"p": 17, "kappa": 3.0}},
    {"theorem": "single-head", "target": {"kind": "relu", "w": [[0.7, -1.3, 0.2]],
                                          "t": [0.05]},
     "domain": {"lo": [[-1.0, -0.5, 0.0]], "hi": [[1.0, 0.5, 2.0]]},
     "construction": {"p": 6, "beta": 2.5}},
    {"theorem": "multi-head", "tokens": 6,
     "target": {"kind": "leaky-relu", "alpha": 0.2, "w": [1.0, -0.5], "t": 0.25},
     "domain": {"lo": -1.0, "hi": 1.0}, "construction": {"heads": 3, "kappa": 30.0}},
    {"theorem": "multi-head", "tokens": 4,
     "target": {"kind": "hard-sigmoid", "w": [3.0], "t": 0.5},
     "domain": {"lo": -1.0, "hi": 1.0}, "construction": {"heads": 2, "kappa": 0.05}},
]


@pytest.mark.parametrize("spec", EVAL_SPECS, ids=lambda s: f"{s['theorem']}-"
                         f"{s['target']['kind']}")
def test_mpmath_evaluator_matches_float_evaluation(spec):
    result, cert = api.certify(dict(spec, mode="measure", tol=0.5))
    assert result.holds
    model = C.ErrorModel.from_certificate(cert)
    S = model.target.scale()
    lo, hi = (np.array(cert["domain"][k]) for k in ("lo", "hi"))  # [n][d]
    rng = np.random.default_rng(7)
    X = np.minimum(lo[None] + rng.uniform(0, 1, (40, *lo.shape)) * (hi - lo)[None], hi)
    out_float = api.evaluate(cert, np.transpose(X, (0, 2, 1)))  # (N, rows, n)
    err_float = api.sample_error(cert, X.reshape(len(X), -1))  # the witness's entry
    row, token = cert["witness"]["row"], cert["witness"]["token"]
    for p, x in enumerate(X):
        out = model.net.output(x.T.tolist(), 200)
        for o in range(len(out)):
            for k in range(model.n):
                ref = out_float[p, o, k]
                assert abs(float(out[o][k]) - ref) <= 1e-12 * max(abs(ref), S), (p, o, k)
        e = model.errors(x.tolist(), 200)[row][token]
        assert abs(float(e) - err_float[p]) <= 1e-12 * S, p


def test_mpmath_target_is_the_kind_definition():
    x = [[mpmath.mpf(0.75)]]
    for kind, extra, expect in [("relu", {"R": 1.0}, 1.5), ("leaky-relu", {"alpha": 0.5,
                                                                            "R": 2.0, "L": -1.0},
                                                          1.5),
                                ("clip", {"a": 0.0, "b": 1.0}, 1.0)]:
        tg = C.MpTarget(C.T1, {"kind": kind, "w": [[2.0]], "t": [0.0], **extra})
        assert tg.value(0, x[0]) == expect
    tg = C.MpTarget(C.T2, {"kind": "leaky-relu", "alpha": 0.5, "w": [-2.0], "t": 0.0,
                           "tokens": 2, "R": 1.0, "L": -2.0})
    assert tg.value(1, [0.75]) == -0.75  # alpha * y for y = -1.5


# -- the comparison catches false claims ------------------------------------------------------

@pytest.fixture(scope="module")
def prove_certificate():
    spec = {"theorem": "multi-head", "tokens": 4,
            "target": {"kind": "clip", "a": -1.0, "b": 1.0, "w": [1.0, 0.5], "t": 0.0},
            "domain": {"lo": -1.0, "hi": 1.0}, "construction": {"heads": 2, "kappa": 3.0},
            "mode": "prove", "epsilon": 0.2}
    result, cert = api.certify(spec)
    assert result.holds
    return cert


def test_lowered_upper_is_flagged_and_rejected(prove_certificate):
    cert = copy.deepcopy(prove_certificate)
    model = C.ErrorModel.from_certificate(cert)
    wit = cert["witness"]
    e_w = model.abs_errors(wit["x"], 200)[wit["row"]][wit["token"]]
    assert C.audit_certificate(cert, np.random.default_rng(0), COUNTS).unsound_upper == []
    low = float(e_w) * 0.9
    cert["claim"].update(upper=low, lower=min(cert["claim"]["lower"], low * 0.5))
    cert["witness"]["error_lower"] = min(cert["witness"]["error_lower"], low * 0.5)
    audit = C.audit_certificate(cert, np.random.default_rng(0), COUNTS)
    assert audit.unsound_upper and audit.lower_above == []
    assert float(audit.unsound_upper[0]["error"]) > low
    for backend in ("flint", "pyinterval"):
        ok, reason = check_certificate(cert, backend=backend)
        assert not ok and "claim.upper" in reason, reason


def test_raised_lower_is_flagged_and_rejected(prove_certificate):
    cert = copy.deepcopy(prove_certificate)
    model = C.ErrorModel.from_certificate(cert)
    wit = cert["witness"]
    e_w = float(model.abs_errors(wit["x"], 200)[wit["row"]][wit["token"]])
    cert["claim"]["lower"] = min(e_w * 1.01, cert["claim"]["upper"])
    assert e_w * 1.01 <= cert["claim"]["upper"]
    audit = C.audit_certificate(cert, np.random.default_rng(0), COUNTS)
    assert audit.lower_above and audit.unsound_upper == []
    for backend in ("flint", "pyinterval"):
        ok, reason = check_certificate(cert, backend=backend)
        assert not ok, reason
