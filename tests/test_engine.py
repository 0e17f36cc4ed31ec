"""Soundness of the engine against 30-digit mpmath, and the prove/measure modes."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from conftest import ErrorReference, t1_spec

from certify import intervals as iv
from certify.enclosure import error_bounds
from certify.engine import prepare_outputs
from certify.pipeline import build, certify
from certify.spec import parse_spec
from theorems import single_head


def _outputs(spec):
    built = build(spec)
    w, t = single_head.token_affine_targets(spec.target)
    terms = single_head.target_terms(spec.target, 1)
    return built, prepare_outputs(built.net, terms, w, t, spec.lo, spec.hi)


@pytest.mark.parametrize("p,kappa", [(2, 0.5), (3, 30.0), (16, 3.0), (64, 0.5), (64, 30.0),
                                     (256, 3.0)])
def test_box_enclosures_contain_mpmath_errors(p, kappa):
    spec = parse_spec(t1_spec(p=p, kappa=kappa, lo=-1.6, hi=1.6))
    built, outs = _outputs(spec)
    ref = ErrorReference(built.net, -1.0, 1.0, [[1.0]], [0.0])
    rng = np.random.default_rng(p)
    delta = built.delta
    for width in (0.0, delta / 64, delta / 4, min(2 * delta, 3.0)):
        ylo = rng.uniform(-1.6, 1.6 - width, 12)
        yhi = ylo + width
        upper, lower, c, (elo, ehi) = error_bounds(outs[0].heads, ylo, yhi, with_enclosure=True)
        for i in range(len(ylo)):
            for y in (ylo[i], yhi[i], rng.uniform(ylo[i], yhi[i]), c[i]):
                e = ref.errors(np.array([[y]]))[0]
                assert mpmath.mpf(float(elo[i])) <= e <= mpmath.mpf(float(ehi[i])), (y, width)
                assert abs(e) <= mpmath.mpf(float(upper[i]))
            e_c = ref.errors(np.array([[c[i]]]))[0]
            assert abs(e_c) >= mpmath.mpf(float(lower[i]))


def test_enclosure_check_catches_missing_widening(monkeypatch):
    """Without outward rounding the same containment test must fail somewhere."""
    spec = parse_spec(t1_spec(p=16, kappa=3.0))
    monkeypatch.setattr(iv, "up", lambda x, steps=1: x)
    monkeypatch.setattr(iv, "down", lambda x, steps=1: x)
    # The vectorised sums widen by an explicit error bound: remove that too.
    monkeypatch.setattr(iv, "_sum_error", lambda x, axis: (np.sum(x, axis=axis),
                                                            np.zeros(np.sum(x, axis=axis).shape)))
    built, outs = _outputs(spec)
    ref = ErrorReference(built.net, -1.0, 1.0, [[1.0]], [0.0])
    ys = np.random.default_rng(3).uniform(-0.99, 0.99, 40)
    _, _, _, (elo, ehi) = error_bounds(outs[0].heads, ys, ys, with_enclosure=True)
    misses = sum(not (mpmath.mpf(float(lo)) <= ref.errors(np.array([[y]]))[0]
                      <= mpmath.mpf(float(hi))) for y, lo, hi in zip(ys, elo, ehi))
    assert misses > 0


SOUNDNESS_GRID = [(p, k) for p in (2, 3, 16, 256) for k in (0.5, 3.0, 30.0)]


@pytest.mark.parametrize("p,kappa", SOUNDNESS_GRID)
def test_measure_brackets_dense_mpmath_sampling(p, kappa):
    """U >= the largest of 10^5 sampled 30-digit errors; L <= the error at the witness."""
    spec = parse_spec(t1_spec(p=p, kappa=kappa, a=-1.0, b=1.0, lo=-1.75, hi=1.5, tol=0.01))
    result, cert = certify(spec)
    assert result.holds and cert is not None
    assert result.upper <= 1.01 * result.lower
    built = build(spec)
    ref = ErrorReference(built.net, -1.0, 1.0, [[1.0]], [0.0])
    ys = np.random.default_rng(p * 100 + int(kappa)).uniform(-1.75, 1.5, 100_000)
    sampled = max(abs(ref.errors(np.array([[y]]))[0]) for y in ys)
    assert sampled <= mpmath.mpf(result.upper)
    witness = np.array(cert["witness"]["x"]).T
    e_w = abs(ref.errors(witness)[0])
    assert mpmath.mpf(result.lower) <= e_w
    assert max(sampled, e_w) >= mpmath.mpf(result.lower) * (1 - 0.02)


def test_prove_fails_with_a_true_counterexample():
    spec = parse_spec(t1_spec(p=16, kappa=3.0, w=[[1.0], [0.5]], t=[0.0, 0.1]))
    measured, _ = certify(spec)
    eps = 0.8 * measured.lower
    spec_p = parse_spec(t1_spec(p=16, kappa=3.0, w=[[1.0], [0.5]], t=[0.0, 0.1],
                                mode="prove", epsilon=eps))
    result, cert = certify(spec_p)
    assert not result.holds and cert is None
    ce = result.counterexample
    X = np.array(ce["x"]).T
    built = build(spec_p)
    errs = ErrorReference(built.net, -1.0, 1.0, [[1.0], [0.5]], [0.0, 0.1]).errors(X)
    assert abs(errs[ce["token"]]) > eps


def test_prove_succeeds_above_the_sup_error():
    spec = parse_spec(t1_spec(p=64, kappa=3.0))
    measured, _ = certify(spec)
    spec_p = parse_spec(t1_spec(p=64, kappa=3.0, mode="prove", epsilon=1.05 * measured.upper))
    result, cert = certify(spec_p)
    assert result.holds and cert["claim"]["upper"] <= 1.05 * measured.upper


def test_certificates_are_deterministic():
    spec = parse_spec(t1_spec(p=16, kappa=3.0, w=[[1.0, -0.5]], lo=-1.0, hi=1.0))
    _, c1 = certify(spec)
    _, c2 = certify(spec)
    from certify.network import canonical_json
    assert canonical_json(c1) == canonical_json(c2)


def test_large_beta_does_not_break_rigour():
    """Hardmax regime: kappa = 1e4; the certified sup error approaches Delta/2 (I4)."""
    spec = parse_spec(t1_spec(p=8, kappa=1e4, lo=-1.2, hi=1.2))
    result, _ = certify(spec)
    delta = 2 / 7
    assert result.holds
    assert 0.49 * delta <= result.lower <= 0.5 * delta
    assert result.upper <= 0.5 * delta * 1.01


def test_enclosure_check_catches_a_non_rigorous_softmax(monkeypatch):
    """Weights taken at the box midpoint (not enclosed over the box) must be caught."""
    from certify import enclosure

    real_weights = enclosure._weights

    def midpoint_weights(ph, ylo, yhi):
        mid = (ylo + yhi) / 2
        wlo, whi, B, V, r = real_weights(ph, mid, mid)
        w = (wlo + whi) / 2
        return w, w, B, V, r

    spec = parse_spec(t1_spec(p=16, kappa=3.0))
    built, outs = _outputs(spec)
    ref = ErrorReference(built.net, -1.0, 1.0, [[1.0]], [0.0])
    ylo = np.random.default_rng(7).uniform(-0.9, 0.8, 30)
    yhi = ylo + built.delta / 2
    monkeypatch.setattr(enclosure, "_weights", midpoint_weights)
    _, _, _, (elo, ehi) = error_bounds(outs[0].heads, ylo, yhi, with_enclosure=True)
    misses = 0
    for i in range(len(ylo)):
        for y in (ylo[i], yhi[i]):
            e = ref.errors(np.array([[y]]))[0]
            misses += not (mpmath.mpf(float(elo[i])) <= e <= mpmath.mpf(float(ehi[i])))
    assert misses > 0
