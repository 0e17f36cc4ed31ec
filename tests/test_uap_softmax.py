"""Theorem ``uap-softmax``: one attention layer followed by a softmax.

* The exact decomposition reproduces the layers (mpmath evaluation of the float network);
* certified ``U`` >= the 30-digit error at random points, and the a-priori bound too; both
  backends accept the certificate; conformance holds;
* tampering is rejected; a false claim fails; bad specs exit 2; obligations can fail.
"""

from __future__ import annotations

import copy
import json
from fractions import Fraction

import mpmath
import numpy as np
import pytest

from certify.check.verify import check_certificate
from certify.cli import main
from certify.exact_softmax import analyse_softmax
from certify.expression import MpOps, evaluate
from certify.pipeline import certify_softmax
from certify.spec import parse_spec
from theorems import uap_softmax_obligations as ob
from theorems.uap_softmax import conformance

SPEC = {"theorem": "uap-softmax",
        "target": {"kind": "expression", "expr": "sin(3*x)", "variables": ["x"]},
        "domain": {"lo": [-1], "hi": [1]}, "construction": {"route": "relu"},
        "mode": "prove", "epsilon": 0.1}
SPEC2 = {"theorem": "uap-softmax",
         "target": {"kind": "expression", "expr": "x*y", "variables": ["x", "y"]},
         "domain": {"lo": [0, 0], "hi": [1, 1]}, "mode": "prove", "epsilon": 0.1}


def mp_value(out, x):
    """N(x) from the exact decomposition, 30 digits."""
    with mpmath.workdps(30):
        def q(v):
            return mpmath.mpf(Fraction(v).numerator) / Fraction(v).denominator

        logits = []
        for lg in out.logits:
            val = q(lg.const)
            for hs in lg.heads:
                s = [q(a) + sum(q(b) * mpmath.mpf(xv) for b, xv in zip(bj, x))
                     for a, bj in zip(hs.A, hs.B)]
                top = max(s)
                e = [mpmath.exp(v - top) for v in s]
                val += sum(ej * q(vj) for ej, vj in zip(e, hs.V)) / sum(e)
            logits.append(val)
        top = max(logits)
        e = [mpmath.exp(v - top) for v in logits]
        return q(out.const) + sum(q(w) * ej for w, ej in zip(out.weights, e)) / sum(e)


@pytest.mark.parametrize("spec", [SPEC, SPEC2])
def test_certificate_sound_checked_and_conformant(spec):
    s = parse_spec(spec)
    result, cert, built = certify_softmax(s)
    assert result.holds and cert is not None
    (out,) = analyse_softmax(built.net)
    rng = np.random.default_rng(5)
    lo, hi = s.lo[:, 0], s.hi[:, 0]
    ops = MpOps(30)
    worst = 0
    for x in rng.uniform(lo, hi, size=(60, len(lo))):
        n = mp_value(out, list(x))
        assert abs(n - built.net.evaluate_float(x.reshape(1, -1, 1))[0, 0, 0]) < 1e-9
        f = evaluate(s.parsed_target.expr, [ops.ctx.mpf(v) for v in x], ops)
        worst = max(worst, abs(n - f))
    assert worst <= result.upper and worst <= built.bound["bound"]
    # pyinterval needs minutes for the 2-D cover; the 1-D one is checked by both backends
    ok, why = check_certificate(cert, backend="both" if len(lo) == 1 else "flint")
    assert ok, why
    assert conformance(cert)[0]
    bad = copy.deepcopy(cert)
    bad["claim"]["upper"] = bad["claim"]["lower"]
    assert not check_certificate(bad, backend="flint")[0]
    bad = copy.deepcopy(cert)
    bad["network"]["layers"][5]["bias"] = [[bad["network"]["layers"][5]["bias"][0][0] + 0.01]]
    assert not check_certificate(bad, backend="flint")[0]


def test_false_claim_and_bad_specs(tmp_path, capfd):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(dict(SPEC, epsilon=1e-5, construction={"route": "relu",
                                                                       "knots": 4, "p": 9})))
    assert main(["certify", str(path)]) == 1
    capfd.readouterr()
    for bad in (dict(SPEC, construction={"route": "relu", "lipschitz": 2}),
                dict(SPEC, target={"kind": "relu-network", "layers": [
                    {"W": [[1.0]], "b": [0.0]}, {"W": [[1.0]], "b": [0.0]}]}),
                dict(SPEC, target={"kind": "expression", "expr": "log(x)",
                                   "variables": ["x"]})):
        path.write_text(json.dumps(bad))
        assert main(["certify", str(path)]) == 2
        err = capfd.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "Traceback" not in err[0]


def test_obligations_hold_and_mutations_fail():
    for o in (ob.softmax_two_obligation(), ob.logit_identity_obligation(),
              ob.sigma_lipschitz_obligation()):
        assert o.discharge().status == "proved-symbolic", o.id
    assert ob.logit_identity_obligation(2).discharge().status == "failed"
    assert ob.sigma_lipschitz_obligation(Fraction(1, 2)).discharge().status == "failed"


def test_softmax_without_logit_rows_is_a_structure_error():
    from certify.exact_scores import StructureError
    from certify.network import AttentionNet, TokenAffine
    from certify.pipeline import build_softmax

    built = build_softmax(parse_spec(SPEC))
    layers = list(built.net.layers)
    layers[3] = TokenAffine(np.zeros((0, 1)), np.zeros((0, 1)))
    layers[5] = TokenAffine(np.zeros((1, 0)), np.zeros((1, 1)))
    with pytest.raises(StructureError):
        analyse_softmax(AttentionNet(built.net.input_shape, tuple(layers)))
