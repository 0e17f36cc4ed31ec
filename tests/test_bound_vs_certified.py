"""Our proved a-priori bound (I3 + rounding + leakage) is never below a certified sup error."""

from __future__ import annotations

import pytest

from certify.pipeline import certify
from certify.spec import parse_spec
from theorems.report import bound_single_head


@pytest.mark.parametrize("p", [2, 5, 64, 1000])
@pytest.mark.parametrize("kappa", [0.1, 1.0, 3.0, 10.0, 100.0])
def test_a_priori_bound_dominates_certified_sup(p, kappa):
    bound = bound_single_head(-1.0, 1.0, p, kappa)
    lo, hi = bound["domain"]
    spec = parse_spec({"theorem": "single-head",
                       "target": {"kind": "truncated-linear", "a": -1.0, "b": 1.0,
                                  "w": [[1.0]], "t": [0.0]},
                       "domain": {"lo": lo, "hi": hi},
                       "construction": {"p": p, "kappa": kappa}, "mode": "measure",
                       "tol": 0.002})
    result, cert = certify(spec)
    assert result.holds
    # the certified interval [L, U] encloses the true sup; the proved bound must cover it
    assert result.lower <= result.upper <= bound["bound"]
    assert cert["network_sha256"]  # the same network the bound speaks of
