"""Shared helpers for the test suite: building T1 instances and mpmath error references."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from certify.reference import MpReference, range_mp
from certify.spec import parse_spec


def t1_spec(p=16, kappa=3.0, a=-1.0, b=1.0, lo=-1.5, hi=1.5, w=None, t=None,
            mode="measure", tol=0.01, epsilon=None, beta=None):
    w = [[1.0]] if w is None else w
    t = [0.0] * len(w) if t is None else t
    construction = {"p": p, "beta": beta} if beta is not None else {"p": p, "kappa": kappa}
    obj = {"theorem": "single-head",
           "target": {"kind": "truncated-linear", "a": a, "b": b, "w": w, "t": t},
           "domain": {"lo": lo, "hi": hi}, "construction": construction, "mode": mode,
           "tol": tol}
    if epsilon is not None:
        obj["epsilon"] = epsilon
    return obj


class ErrorReference:
    """30-digit mpmath error ``N(X)_k - Range_[a,b](w_k . x_k + t_k)`` of a T1 network."""

    def __init__(self, net, a, b, w, t, dps=30):
        self.ref = MpReference(net, dps, cutoff=200)
        self.a, self.b, self.dps = a, b, dps
        self.w, self.t = np.asarray(w, float), np.asarray(t, float)

    def errors(self, X: np.ndarray) -> list[mpmath.mpf]:
        out = self.ref.output(X)[0]
        with mpmath.workdps(self.dps):
            res = []
            for k, o in enumerate(out):
                y = mpmath.fsum(mpmath.mpf(float(wi)) * mpmath.mpf(float(xi))
                                for wi, xi in zip(self.w[k], X[:, k])) + mpmath.mpf(self.t[k])
                res.append(o - range_mp(y, self.a, self.b))
            return res


@pytest.fixture
def spec_factory():
    return lambda **kw: parse_spec(t1_spec(**kw))
