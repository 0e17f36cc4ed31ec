"""AttentionNet: exact JSON round trip, the three evaluators agree, T1's mechanism."""

from __future__ import annotations

import json

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certify.network import AttentionNet, NetworkFormatError
from certify.reference import MpReference
from theorems import single_head


def _t1(p=16, kappa=3.0, n=2, d=2, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, d))
    t = rng.normal(size=n) * 0.1
    lo, hi = np.full((d, n), -1.0), np.full((d, n), 1.0)
    return single_head.construct(-1.0, 1.0, w, t, lo, hi, p, kappa=kappa), w, t


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 40), st.floats(0.01, 1e4), st.integers(0, 10_000))
def test_json_round_trip_is_bit_exact(p, kappa, seed):
    built, _, _ = _t1(p, kappa, seed=seed)
    text = built.net.to_json()
    again = AttentionNet.from_json_obj(json.loads(text))
    assert again.to_json() == text
    assert again.sha256() == built.net.sha256()
    h0, h1 = built.net.layers[1].heads[0], again.layers[1].heads[0]
    for name in ("W_Q", "W_K", "W_V", "W_O"):
        assert np.array_equal(getattr(h0, name), getattr(h1, name))
    assert np.array_equal(built.net.layers[0].bias, again.layers[0].bias)


def test_non_finite_weights_are_refused():
    built, _, _ = _t1()
    obj = built.net.to_json_obj()
    obj["layers"][1]["heads"][0]["W_K"][0][2] = float("nan")
    with pytest.raises(NetworkFormatError):
        AttentionNet.from_json_obj(obj)


def test_float_and_mpmath_evaluators_agree():
    built, _, _ = _t1(p=32, kappa=3.0, n=3, d=2, seed=4)
    rng = np.random.default_rng(5)
    X = rng.uniform(-1, 1, size=(20, 2, 3))
    f = built.net.evaluate_float(X)
    full = MpReference(built.net, dps=30)
    cut = MpReference(built.net, dps=30, cutoff=200)
    for i in range(len(X)):
        a, b = full.output(X[i]), cut.output(X[i])
        for k in range(3):
            assert abs(a[0][k] - b[0][k]) < mpmath.mpf(10) ** -28
            assert abs(float(a[0][k]) - f[i, 0, k]) < 1e-12


def test_t1_scores_are_the_interpolation_kernel():
    """Token->anchor scores beta(2 L_j y - L_j^2); token->token -beta G; values L_j, 0."""
    built, w, t = _t1(p=9, kappa=2.0, n=2, d=2, seed=1)
    X = np.array([[0.3, -0.2], [0.7, 0.1]])
    layer, att = built.net.layers[0], built.net.layers[1]
    Z = layer.apply(X[None])[0]
    h = att.heads[0]
    S = (h.W_K @ Z).T @ (h.W_Q @ Z)  # S[key, query]
    n = 2
    for k in range(n):
        y = w[k] @ X[:, k] + t[k]
        L = built.anchors
        expected = built.beta * (2 * L * y - L * L)
        assert np.allclose(S[n:, k], expected, rtol=1e-12, atol=1e-9 * built.beta)
        assert np.allclose(S[:n, k], -built.beta * built.G)
        # beta y^2 cancels: softmax over anchors equals the Gaussian kernel
        g = np.exp(-built.beta * (y - L) ** 2)
        sm = np.exp(S[n:, k] - S[n:, k].max())
        assert np.allclose(sm / sm.sum(), g / g.sum(), atol=1e-9)
    V = h.W_O @ h.W_V @ Z
    assert np.array_equal(V[0, n:], built.anchors) and np.all(V[0, :n] == 0)
