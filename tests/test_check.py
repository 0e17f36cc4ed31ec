"""Tests of the independent certificate checker (certify.check).

Engine certificates must be accepted by both backends; every kind of tampering must be
rejected with a reason (or, where the tampered certificate still states a true and
verifiable claim, accepted exactly then); malformed certificates raise InputError; the
checker must not import the engine.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import random
import subprocess
import sys
from fractions import Fraction
from functools import cache

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certify.check import check_certificate, check_file
from certify.check.backends import FlintBackend, PyIntervalBackend, float_down, float_up
from certify.check.bound import PreparedHead, box_bound, box_endpoints
from certify.check.model import Rejected, latent_range, reduce_network
from certify.check.schema import parse_certificate
from certify.check.verify import parse_tree, run_check, verify_structure
from certify.errors import InputError
from certify.network import AttentionNet, canonical_json
from certify.pipeline import certify
from certify.spec import parse_spec
from theorems.conformance import conformance
from theorems.constructions import module_for

FAST = dict(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
            deadline=None, derandomize=True)


def _spec(p=16, kappa=3.0, a=-1.0, b=1.0, w=((1.0, 0.5),), t=(0.1,), lo=-1.5, hi=1.5,
          mode="measure", **extra):
    spec = {"theorem": "single-head",
            "target": {"kind": "truncated-linear", "a": a, "b": b,
                       "w": [list(r) for r in w], "t": list(t)},
            "domain": {"lo": lo, "hi": hi}, "construction": {"p": p, "kappa": kappa},
            "mode": mode, "tol": extra.pop("tol", 0.01)}
    spec.update(extra)
    return spec


@cache
def _cert_text(**kw) -> str:
    result, cert = certify(parse_spec(_spec(**kw)))
    assert cert is not None, result.message
    return json.dumps(cert)


def make_cert(**kw) -> dict:
    """A fresh (mutable) engine certificate; y runs past both a and b unless told."""
    return json.loads(_cert_text(**kw))


def rehash(cert: dict) -> dict:
    cert["network_sha256"] = hashlib.sha256(canonical_json(cert["network"]).encode()).hexdigest()
    return cert


def flint(cert: dict) -> tuple[bool, str]:
    return check_certificate(cert, backend="flint")


# -- acceptance --------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [
    dict(p=16, kappa=3.0),
    dict(p=24, kappa=0.5, mode="prove", epsilon=0.1),
    dict(p=16, kappa=30.0, w=((1.0, 0.5), (0.25, -1.0)), t=(0.1, -0.2)),
])
def test_engine_certificates_accepted_by_both_backends(kw):
    ok, reason, stats = run_check(make_cert(**kw), backend="both")
    assert ok, reason
    assert set(stats["backends"]) == {"flint", "pyinterval"}
    for s in stats["backends"].values():
        assert s["largest_bound"] <= json.loads(_cert_text(**kw))["claim"]["upper"]
        assert s["boxes"] == stats["boxes"] > 0


@pytest.mark.parametrize("p", [16, 33, 64])
@pytest.mark.parametrize("kappa", [0.5, 3.0, 30.0])
def test_engine_certificates_accepted_flint(p, kappa):
    ok, reason = flint(make_cert(p=p, kappa=kappa))
    assert ok, reason


@pytest.mark.parametrize("kw", [
    dict(p=20, kappa=2.0, a=0.5, b=2.0, lo=-2.0, hi=2.0),      # y mostly below a
    dict(p=17, kappa=3.0, lo=-0.5, hi=0.5, mode="prove", epsilon=0.05),  # y inside [a, b]
    dict(p=16, kappa=3.0, a=-3.0, b=-1.0, w=((2.0, 0.0),), t=(0.25,), lo=-4.0, hi=3.0),
])
def test_other_domains_and_modes(kw):
    ok, reason = check_certificate(make_cert(**kw), backend="both")
    assert ok, reason


def test_parallel_jobs_and_naive_path_agree():
    cert = make_cert(p=16, kappa=3.0)
    assert check_certificate(cert, backend="flint", jobs=2)[0]
    ok, reason, stats = run_check(cert, backend="flint", far_aggregation=False)
    assert ok, reason
    bad = copy.deepcopy(cert)
    # Below the witness's error: false, however finely the checker splits the boxes.
    up = bad["claim"]["upper"] = bad["claim"]["lower"] * (1 - 1e-6)
    bad["claim"]["lower"] = bad["witness"]["error_lower"] = up * 0.999  # within tol
    ok2, reason2 = check_certificate(bad, backend="flint", jobs=2)
    assert not ok2 and "box" in reason2


def test_progress_is_reported():
    seen = []
    ok, _ = check_certificate(make_cert(), backend="flint",
                              progress=lambda done, total: seen.append((done, total)))
    assert ok and seen and seen[-1][0] == seen[-1][1]


def test_check_file_roundtrip(tmp_path):
    path = tmp_path / "cert.json"
    path.write_text(_cert_text(p=16, kappa=3.0))
    ok, reason, stats = check_file(str(path), backend="flint")
    assert ok, reason
    assert stats["backends"]["flint"]["seconds_per_box"] > 0


# -- tampering ---------------------------------------------------------------------------

def _rejected(cert, *words, backend="flint"):
    ok, reason = check_certificate(cert, backend=backend)
    assert not ok
    for w in words:
        assert w in reason, reason
    return reason


def _largest_full_bound(cert: dict, backend) -> float:
    """The largest box bound with every enclosure computed (``upper = 0`` never stops early).

    A box's bound for any ``claim.upper`` is at least its full bound, so a claim below this
    number must be rejected.
    """
    problem = verify_structure(parse_certificate(cert))
    bk = backend()
    largest = 0.0
    with bk.context():
        for out, (y_lo, y_hi), leaves in zip(problem.outputs, problem.ranges, problem.leaves):
            heads = [PreparedHead(bk, hd.A, hd.B, hd.V, Fraction(n, d), a, b, y_lo, y_hi, True)
                     for hd, (n, d, a, b) in zip(out.heads, problem.terms)]
            for depth, i in leaves:
                y0, y1 = box_endpoints(bk, y_lo, y_hi, depth, i)
                largest = max(largest, bk.ub(box_bound(bk, heads, y0, y1, 0.0)))
    return largest


@pytest.mark.parametrize("backend", ["flint", "pyinterval"])
def test_lowered_upper_rejected_with_box_and_numbers(backend):
    cert = make_cert()
    arithmetic = {"flint": FlintBackend, "pyinterval": PyIntervalBackend}[backend]
    full = _largest_full_bound(cert, arithmetic)
    assert full <= cert["claim"]["upper"]
    # Below the witness's error, so false: the checker's own splits cannot rescue it.
    up = cert["claim"]["upper"] = min(cert["claim"]["lower"] * (1 - 1e-6), full * (1 - 1e-12))
    cert["claim"]["lower"] = cert["witness"]["error_lower"] = up * 0.999  # within tol
    reason = _rejected(cert, backend=backend)
    assert backend in reason and "output token 0 row 0, box" in reason
    assert "checker bound" in reason and "> claim.upper" in reason


def test_checker_splits_a_leaf_it_cannot_bound_whole():
    """A claim below a leaf's whole-box bound but above the true sup is still verified:
    the checker bisects that leaf itself (every part of a partition is then bounded)."""
    cert = make_cert()
    full = _largest_full_bound(cert, FlintBackend)
    lower = cert["claim"]["lower"]
    assert lower < full
    cert["claim"]["upper"] = lower + (full - lower) / 8
    ok, reason = check_certificate(cert, backend="flint")
    assert ok, reason


def test_upper_at_lower_rejected():
    cert = make_cert()
    cert["claim"]["upper"] = cert["claim"]["lower"]
    _rejected(cert, "box")


def test_raised_lower_rejected():
    cert = make_cert()
    _, _, stats = run_check(cert, backend="flint")
    true_low = stats["backends"]["flint"]["witness_error_lower"]
    cert["claim"]["lower"] = cert["witness"]["error_lower"] = true_low * (1 + 1e-9)
    _rejected(cert, "witness")


def test_claim_consistency_rejected():
    cert = make_cert()
    cert["claim"]["lower"] = cert["claim"]["upper"] * 1.5
    _rejected(cert, "claim.lower")
    cert = make_cert()
    cert["claim"]["upper"] *= 1.5  # still a true bound, but not within tol of lower
    _rejected(cert, "tol")
    cert = make_cert(p=17, kappa=3.0, lo=-0.5, hi=0.5, mode="prove", epsilon=0.05)
    cert["claim"]["epsilon"] = cert["claim"]["upper"] * 0.5
    _rejected(cert, "epsilon")


@pytest.mark.parametrize("path", [
    ("layers", 1, "heads", 0, "W_K", 0, 2),
    ("layers", 1, "heads", 0, "W_K", 1, 1),
    ("layers", 1, "heads", 0, "W_O", 0, 0),
    ("layers", 0, "bias", 7, 2),   # an anchor's L_j^2 entry
    ("layers", 0, "weights", 0, 4),
])
def test_network_weight_change_rejected(path):
    cert = make_cert()
    obj = cert["network"]
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = obj[path[-1]] * (1 + 2.0 ** -30) + 2.0 ** -40
    _rejected(copy.deepcopy(cert), "network_sha256")
    # With the hash recomputed the error claim speaks about the changed network (it may
    # even hold for it); the separate conformance statement must fail.
    ok, why = conformance(rehash(cert))
    assert not ok and "construction builds" in why, why


@pytest.mark.parametrize("field,value", [
    ("a", -1.0 + 2.0 ** -20), ("b", 1.5), ("w", [[1.0, 0.5 + 2.0 ** -40]]), ("t", [0.1000001])])
def test_target_change_rejected(field, value):
    cert = make_cert()
    cert["target"][field] = value
    _rejected(cert)


def test_target_mismatch_in_reduction():
    cert = make_cert(w=((1.0, 0.5), (0.25, -1.0)), t=(0.1, -0.2))
    net = AttentionNet.from_json_obj(cert["network"])
    w = np.array(cert["target"]["w"])
    t = np.array(cert["target"]["t"])
    assert len(reduce_network(net, w, t)) == 2
    for w2, t2 in ((w * [[1, 1], [1, 2]], t), (w, t + [0, 2.0 ** -50]), (w[::-1].copy(), t)):
        with pytest.raises(Rejected, match="target does not match the network"):
            reduce_network(net, w2, t2)


def test_reduction_structure_violations():
    cert = make_cert()
    obj = copy.deepcopy(cert["network"])
    obj["layers"][1]["heads"][0]["W_K"][0][0] = 1.0  # a key reads the varying row u
    with pytest.raises(Rejected, match="key or value depends on the input"):
        reduce_network(AttentionNet.from_json_obj(obj), np.array(cert["target"]["w"]),
                       np.array(cert["target"]["t"]))
    obj = copy.deepcopy(cert["network"])
    obj["layers"][0]["weights"].append([4, 0, 0, 0, 1.0])  # column 0 varies in rows 0, 4
    with pytest.raises(Rejected, match="more than one scalar"):
        reduce_network(AttentionNet.from_json_obj(obj), np.array(cert["target"]["w"]),
                       np.array(cert["target"]["t"]))
    obj = copy.deepcopy(cert["network"])
    obj["layers"][0]["bias"].append(obj["layers"][0]["bias"][0])
    with pytest.raises(Rejected, match="repeated"):
        reduce_network(AttentionNet.from_json_obj(obj), np.array(cert["target"]["w"]),
                       np.array(cert["target"]["t"]))


def test_dropped_or_truncated_box_rejected():
    cert = make_cert()
    entry = cert["cover"][0]
    k = entry["tree"].rindex("0")
    entry["tree"] = entry["tree"][:k] + entry["tree"][k + 1:]
    entry["bounds"].pop()
    _rejected(copy.deepcopy(cert), "tree")
    cert = make_cert()
    cert["cover"][0]["tree"] = cert["cover"][0]["tree"][:-1]
    _rejected(cert, "truncated")
    cert = make_cert()
    cert["cover"][0]["bounds"].pop()
    _rejected(cert, "bounds")
    cert = make_cert()
    cert["cover"][0]["tree"] += "0"
    _rejected(cert, "after its last leaf")
    cert = make_cert()
    cert["cover"].append(copy.deepcopy(cert["cover"][0]))
    _rejected(cert, "two entries")


@pytest.mark.parametrize("end", ["y_lo", "y_hi"])
def test_cover_range_not_covering_rejected(end):
    cert = make_cert()
    e = cert["cover"][0]
    shift = (e["y_hi"] - e["y_lo"]) / 64
    e[end] += shift if end == "y_lo" else -shift
    _rejected(cert, "does not contain")


def test_witness_outside_domain_rejected():
    cert = make_cert()
    cert["witness"]["x"][0][0] = 1.5 + 2.0 ** -20
    _rejected(cert, "outside the domain")
    cert = make_cert()
    cert["witness"]["token"] = 5
    _rejected(cert, "witness names no output")


def test_witness_moved_to_small_error_rejected():
    cert = make_cert()
    cert["witness"]["x"] = [[0.0, 0.0]]  # y = 0.1, far from the worst case
    _rejected(cert, "witness")


# -- malformed input -------------------------------------------------------------------

@pytest.mark.parametrize("mutate", [
    lambda c: c.pop("cover"),
    lambda c: c.pop("network_sha256"),
    lambda c: c["claim"].pop("upper"),
    lambda c: c.__setitem__("schema", "other/1"),
    lambda c: c["claim"].__setitem__("upper", "0.1"),
    lambda c: c["claim"].__setitem__("upper", True),
    lambda c: c["claim"].__setitem__("upper", math.nan),
    lambda c: c["claim"].__setitem__("lower", math.inf),
    lambda c: c["network"]["layers"][1]["heads"][0]["W_Q"][0].__setitem__(0, math.nan),
    lambda c: c["cover"][0].__setitem__("tree", "1020"),
    lambda c: c["cover"][0].__setitem__("tree", ""),
    lambda c: c["cover"][0].__setitem__("bounds", "x"),
    lambda c: c["cover"][0].__setitem__("token", -1),
    lambda c: c["witness"].__setitem__("x", [[0.0]]),
    lambda c: c["domain"].__setitem__("lo", [[2.0, 2.0]]),
    lambda c: c["terms"].__setitem__(0, [1, 0, -1.0, 1.0]),
    lambda c: c.__setitem__("theorem", "no-such-theorem"),
    lambda c: c["construction"].__setitem__("p", 1),
    lambda c: c["network"].__setitem__("format", "other"),
    lambda c: c.__setitem__("network", []),
    lambda c: c["network"]["layers"][1]["heads"][0]["W_Q"][0].__setitem__(0, 10 ** 400),
    lambda c: c["claim"].__setitem__("tol", -(10 ** 400)),
], ids=lambda f: "m")
def test_malformed_raises_input_error(mutate):
    cert = make_cert()
    mutate(cert)
    with pytest.raises(InputError):
        check_certificate(cert, backend="flint")


def test_not_an_object_and_bad_arguments():
    with pytest.raises(InputError):
        check_certificate([], backend="flint")
    with pytest.raises(InputError):
        check_certificate(make_cert(), backend="mpfr")
    with pytest.raises(InputError):
        check_certificate(make_cert(), backend="flint", jobs=0)


def test_check_file_bad_input(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        check_file(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="malformed JSON"):
        check_file(str(bad))
    nan = tmp_path / "nan.json"
    nan.write_text(_cert_text().replace('"upper": ', '"upper": NaN, "x": ', 1))
    with pytest.raises(InputError, match="non-finite"):
        check_file(str(nan))
    big = tmp_path / "big.json"
    big.write_text(_cert_text().replace('"upper": ', '"upper": 1e999, "x": ', 1))
    with pytest.raises(InputError, match="non-finite"):
        check_file(str(big))


# -- independence ------------------------------------------------------------------------

def test_checker_does_not_import_the_engine(tmp_path):
    """Importing the checker and checking a certificate load no engine module."""
    path = tmp_path / "cert.json"
    path.write_text(_cert_text())
    code = ("import sys, certify.check\n"
            f"ok, reason, _ = certify.check.check_file({str(path)!r}, backend='both')\n"
            "assert ok, reason\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('certify'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert "certify.check.verify" in out and "certify.network" in out
    for name in ("engine", "enclosure", "intervals", "reduction", "pipeline", "certificate"):
        assert f"certify.{name}" not in out


# -- the arithmetic and the bound itself -------------------------------------------------

@given(st.fractions(min_value=-1e300, max_value=1e300))
@settings(max_examples=200, **FAST)
def test_float_down_up_are_tight(q):
    lo, hi = float_down(q), float_up(q)
    assert Fraction(lo) <= q <= Fraction(hi)
    assert math.nextafter(lo, math.inf) >= hi or Fraction(lo) == q


def test_tree_parser():
    assert parse_tree("0") == [(0, 0)]
    assert parse_tree("10100") == [(1, 0), (2, 2), (2, 3)]
    for bad in ("1", "10", "00", "101"):
        with pytest.raises(Rejected):
            parse_tree(bad)


def _mp(q: Fraction) -> mpmath.mpf:
    return mpmath.mpf(q.numerator) / q.denominator


def _exact_error(hd_list, terms, y: Fraction) -> mpmath.mpf:
    """|e(y)| at 60 digits over all columns (an independent reference)."""
    with mpmath.workdps(60):
        total = mpmath.mpf(0)
        yy = _mp(y)
        for hd, (num, den, a, b) in zip(hd_list, terms):
            s = [_mp(A) + _mp(B) * yy for A, B in zip(hd.A, hd.B)]
            smax = max(s)
            E = [mpmath.exp(x - smax) for x in s]
            o = sum(e * _mp(v) for e, v in zip(E, hd.V)) / sum(E)
            total += o - mpmath.mpf(num) / den * min(max(yy, a), b)
        return abs(total)


@pytest.mark.parametrize("backend", [FlintBackend, PyIntervalBackend])
def test_box_bounds_dominate_sampled_errors(backend):
    """Soundness: the checker's bound on a box is >= |e| at sampled points of the box."""
    cert = make_cert(p=16, kappa=3.0)
    problem = verify_structure(parse_certificate(cert))
    out, (y_lo, y_hi), leaves = problem.outputs[0], problem.ranges[0], problem.leaves[0]
    bk = backend()
    rng = random.Random(1)
    with bk.context():
        heads = [PreparedHead(bk, hd.A, hd.B, hd.V, Fraction(n, d), a, b, y_lo, y_hi, True)
                 for hd, (n, d, a, b) in zip(out.heads, problem.terms)]
        for k in rng.sample(range(len(leaves)), 40):
            depth, i = leaves[k]
            y0, y1 = box_endpoints(bk, y_lo, y_hi, depth, i)
            bound = bk.ub(box_bound(bk, heads, y0, y1, 0.0))  # upper 0: full enclosure
            t0, t1 = Fraction(i, 2 ** depth), Fraction(i + 1, 2 ** depth)
            for _ in range(3):
                t = t0 + (t1 - t0) * Fraction(rng.randrange(1025), 1024)
                y = Fraction(y_lo) + (Fraction(y_hi) - Fraction(y_lo)) * t
                assert _exact_error(out.heads, problem.terms, y) <= bound


def test_backends_agree_on_witness():
    _, _, stats = run_check(make_cert(), backend="both")
    a = stats["backends"]["flint"]["witness_error_lower"]
    b = stats["backends"]["pyinterval"]["witness_error_lower"]
    assert abs(a - b) <= 1e-14 * abs(a)


def test_latent_range_exact():
    coef = np.array([[1.0, 0.0], [-2.0, 0.0]])
    lo, hi = np.full((2, 2), -1.0), np.full((2, 2), 0.5)
    assert latent_range(coef, 0.25, lo, hi) == (Fraction(-1) - 1 + Fraction(1, 4),
                                                Fraction(1, 2) + 2 + Fraction(1, 4))


# -- property tests: single-number tampering -------------------------------------------

@given(st.data())
@settings(max_examples=25, **FAST)
def test_any_single_tree_flip_rejected(data):
    cert = make_cert()
    tree = cert["cover"][0]["tree"]
    k = data.draw(st.integers(0, len(tree) - 1))
    cert["cover"][0]["tree"] = tree[:k] + ("1" if tree[k] == "0" else "0") + tree[k + 1:]
    # A complete pre-order tree has exactly one more '0' than '1'; a flip breaks that.
    assert not flint(cert)[0]


def _numbers(obj, path=()):
    if isinstance(obj, bool):
        return
    if isinstance(obj, (int, float)):
        yield path
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _numbers(v, path + (i,))


@given(st.data())
@settings(max_examples=30, **FAST)
def test_any_single_network_number_change_rejected(data):
    cert = make_cert()
    paths = list(_numbers(cert["network"]))
    path = data.draw(st.sampled_from(paths))
    delta = data.draw(st.sampled_from([2.0 ** -45, -(2.0 ** -30), 1e-6, 1.0, -3.0]))
    obj = cert["network"]
    for key in path[:-1]:
        obj = obj[key]
    old_text = canonical_json(cert["network"])
    obj[path[-1]] = obj[path[-1]] + delta
    changed = canonical_json(cert["network"]) != old_text
    try:
        ok, _ = flint(rehash(cert))
    except InputError:
        ok = False  # e.g. an index moved out of range or became fractional
    # Accepted as a whole (error claim and conformance) iff the network did not change.
    assert (ok and conformance(rehash(cert))[0]) == (not changed)


@given(st.data())
@settings(max_examples=25, **FAST)
def test_domain_change_accepted_iff_claim_still_valid(data):
    cert = make_cert()
    side = data.draw(st.sampled_from(["lo", "hi"]))
    j = data.draw(st.integers(0, 1))
    delta = data.draw(st.sampled_from([-0.5, -0.05, -1e-9, 1e-9, 0.05, 0.5]))
    cert["domain"][side][0][j] += delta
    lo = np.array(cert["domain"]["lo"], float).T
    hi = np.array(cert["domain"]["hi"], float).T
    if np.any(lo > hi):
        with pytest.raises(InputError):
            flint(cert)
        return
    ok, reason = flint(cert)
    # The claim stays true and checkable iff the construction still builds the stored
    # network, the cover still contains the exact latent range, and the witness is inside.
    mod = module_for("single-head")
    same_net = mod.build_from_spec(cert["target"], lo, hi, cert["construction"]).net.to_json() \
        == canonical_json(cert["network"])
    # y = w . x + t over the box, in exact rationals (independent of the checker's code)
    terms = [(Fraction(wi) * Fraction(float(lo[i, 0])), Fraction(wi) * Fraction(float(hi[i, 0])))
             for i, wi in enumerate(cert["target"]["w"][0])]
    ymin = sum(min(tm) for tm in terms) + Fraction(cert["target"]["t"][0])
    ymax = sum(max(tm) for tm in terms) + Fraction(cert["target"]["t"][0])
    e = cert["cover"][0]
    covered = Fraction(e["y_lo"]) <= ymin and ymax <= Fraction(e["y_hi"])
    x = np.array(cert["witness"]["x"], float).T
    inside = bool(np.all(lo <= x) and np.all(x <= hi))
    assert ok == (same_net and covered and inside), reason


@given(st.floats(min_value=-0.5, max_value=0.5))
@settings(max_examples=25, **FAST)
def test_upper_change_accepted_only_when_true_and_within_tol(rel):
    cert = make_cert()
    upper0, lower = cert["claim"]["upper"], cert["claim"]["lower"]
    upper = upper0 * (1 + rel)
    cert["claim"]["upper"] = upper
    ok, reason = flint(cert)
    within_tol = Fraction(upper) <= (1 + Fraction(cert["claim"]["tol"])) * Fraction(lower)
    if upper >= upper0:  # every box still verifies; only the tolerance can fail
        assert ok == within_tol, reason
    if upper < lower:  # below the witness error: no true claim
        assert not ok
    if ok:
        assert lower <= upper and within_tol


@given(st.sampled_from(["a", "b", "w", "t"]), st.sampled_from([2.0 ** -44, -1e-7, 0.01, -0.3]))
@settings(max_examples=20, **FAST)
def test_any_single_target_change_rejected(field, delta):
    cert = make_cert()
    target = cert["target"]
    if field in ("a", "b"):
        target[field] += delta
    elif field == "w":
        target["w"][0][1] += delta
    else:
        target["t"][0] += delta
    try:
        ok, _ = flint(cert)
    except InputError:  # e.g. a >= b
        ok = False
    # The stored network carries a, b (anchors), w and t (affine map): a changed target is
    # a different construction, so the certificate no longer speaks about it.
    assert not ok


def _mp_error_at(cert: dict, x: list[list[float]]) -> mpmath.mpf:
    problem = verify_structure(parse_certificate(cert))
    out = problem.outputs[problem.witness]
    y = sum((Fraction(c) * Fraction(v) for c, v in zip(out.coef.ravel(),
                                                        np.array(x, float).T.ravel())),
            Fraction(out.const))
    return _exact_error(out.heads, problem.terms, y)


@given(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5))
@settings(max_examples=20, **FAST)
def test_moved_witness_accepted_only_if_error_still_large(x0, x1):
    cert = make_cert()
    cert["witness"]["x"] = [[x0, x1]]
    ok, reason = flint(cert)
    err = _mp_error_at(cert, cert["witness"]["x"])
    lower = cert["claim"]["lower"]
    if ok:
        assert err >= lower
    if err > lower * (1 + 1e-9):
        assert ok, reason


def test_flint_precision_restored():
    from flint import ctx
    saved = ctx.prec
    ctx.prec = 53
    try:
        assert flint(make_cert())[0]
        assert ctx.prec == 53
    finally:
        ctx.prec = saved


def _sampled_soundness(net: AttentionNet, w: np.ndarray, t: np.ndarray, terms, y_lo, y_hi,
                       depth: int, backend=FlintBackend, seed: int = 0) -> None:
    """For random dyadic boxes, the checker's full bound is >= |e| at sampled points."""
    bk = backend()
    rng = random.Random(seed)
    with bk.context():
        for out in reduce_network(net, w, t):
            heads = [PreparedHead(bk, hd.A, hd.B, hd.V, Fraction(n, d), a, b, y_lo, y_hi, True)
                     for hd, (n, d, a, b) in zip(out.heads, terms)]
            for i in sorted(rng.sample(range(2 ** depth), 12)):
                y0, y1 = box_endpoints(bk, y_lo, y_hi, depth, i)
                bound = bk.ub(box_bound(bk, heads, y0, y1, 0.0))
                for _ in range(3):
                    tt = Fraction(i, 2 ** depth) + Fraction(rng.randrange(257), 256 * 2 ** depth)
                    y = Fraction(y_lo) + (Fraction(y_hi) - Fraction(y_lo)) * tt
                    assert _exact_error(out.heads, terms, y) <= bound


def test_two_heads_bound_is_sound():
    """Two heads (different temperatures, W_O = 1/2 each) against (1/2) Range + (1/2) Range."""
    obj = make_cert(p=16, kappa=3.0)["network"]
    head = obj["layers"][1]["heads"][0]
    h2 = copy.deepcopy(head)
    h2["W_K"] = [[x * 0.5 for x in row] for row in h2["W_K"]]
    head["W_O"] = h2["W_O"] = [[0.5]]
    obj["layers"][1]["heads"].append(h2)
    net = AttentionNet.from_json_obj(obj)
    terms = [(1, 2, -1.0, 1.0), (1, 2, -1.0, 1.0)]
    _sampled_soundness(net, np.array([[1.0, 0.5]]), np.array([0.1]), terms, -2.3, 2.3, 9)


@pytest.mark.parametrize("backend", [FlintBackend, PyIntervalBackend])
def test_token_affine_network_bound_is_sound(backend):
    """T2-like layout: token k = (y_k, 1, L_k, L_k^2), anchors in the positional bias."""
    from certify.network import Attention, Head, SelectColumns, TokenAffine
    n, beta = 6, 40.0
    L = np.linspace(-1.0, 1.0, n)
    weight = np.array([[1.5], [0.0], [0.0], [0.0]])
    bias = np.stack([np.full(n, 0.25), np.ones(n), L, L * L])
    head = Head(np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]),
                np.array([[0, 0, 2 * beta, 0], [0, 0, 0, -beta]]),
                np.array([[0, 0, 1.0, 0]]), np.ones((1, 1)))
    net = AttentionNet((1, n), (TokenAffine(weight, bias), Attention((head,)),
                                SelectColumns(tuple(range(n)))))
    w, t = np.full((n, 1), 1.5), np.full(n, 0.25)
    problems = reduce_network(net, w, t)
    assert len(problems) == n and problems[2].coef[0, 2] == 1.5
    _sampled_soundness(net, w, t, [(1, 1, -1.0, 1.0)], -1.5, 2.0, 7, backend)


@pytest.mark.parametrize("kappa", [0.5, 3.0, 30.0])
def test_far_tail_bound_is_sound(kappa):
    """p = 64: boxes have far columns on both sides of the window (Lemma S is used)."""
    mod = module_for("single-head")
    lo, hi = np.full((1, 1), -1.2), np.full((1, 1), 1.2)
    target = {"kind": "truncated-linear", "a": -1.0, "b": 1.0, "w": [[1.0]], "t": [0.0]}
    net = mod.build_from_spec(target, lo, hi, {"p": 64, "kappa": kappa}).net
    bk = FlintBackend()
    with bk.context():
        out = reduce_network(net, np.array([[1.0]]), np.array([0.0]))[0]
        ph = PreparedHead(bk, out.heads[0].A, out.heads[0].B, out.heads[0].V, Fraction(1),
                          -1.0, 1.0, -1.2, 1.2, True)
        assert ph.W < ph.nG - 20
    _sampled_soundness(net, np.array([[1.0]]), np.array([0.0]), [(1, 1, -1.0, 1.0)],
                       -1.2, 1.2, 11, seed=int(kappa))


@pytest.mark.parametrize("kappa", [0.5, 3.0])
def test_weights_tail_and_lp_components_are_sound(kappa):
    """Each step of the box bound holds at sampled points, including e^-60-sized terms."""
    from certify.check.bound import _far_total, lp_lower, lp_upper, weights
    mod = module_for("single-head")
    lo, hi = np.full((1, 2), -1.2), np.full((1, 2), 1.2)
    target = {"kind": "truncated-linear", "a": -1.0, "b": 1.0, "w": [[1.0], [0.5]],
              "t": [0.0, 0.1]}
    net = mod.build_from_spec(target, lo, hi, {"p": 48, "kappa": kappa}).net
    out = reduce_network(net, np.array([[1.0], [0.5]]), np.array([0.0, 0.1]))[0]
    hd = out.heads[0]
    bk = FlintBackend()
    rng = random.Random(7)
    with bk.context(), mpmath.workdps(50):
        ph = PreparedHead(bk, hd.A, hd.B, hd.V, Fraction(1), -1.0, 1.0, -1.2, 1.2, True)
        grid_index = {(A, B): j for j, (A, B) in enumerate(zip(hd.A, hd.B))}
        const = [j for j in range(len(hd.B)) if hd.B[j] == 0]
        assert const and ph.W < ph.nG
        for i in rng.sample(range(2 ** 10), 25):
            y0, y1 = box_endpoints(bk, -1.2, 1.2, 10, i)
            rf = ph.ref(ph.nearest(bk.mid((y0 + y1) / 2)))
            p0, p1 = ph.point(rf, y0, None), ph.point(rf, y1, None)
            wlo, whi, lof, hif = weights(bk, ph, rf, p0, p1)
            has_far, T = _far_total(rf, p1.right, p0.left)
            win = [grid_index[(ph.A[k], ph.B[k])] for k in rf.win]
            far = [grid_index[(ph.A[k], ph.B[k])] for k in range(ph.nG) if k not in rf.win]
            assert has_far == bool(far)
            groups = [[j] for j in win] + [const] + ([far] if far else [])
            r = grid_index[(ph.A[rf.r], ph.B[rf.r])]
            lps = {key: (bk.lb(lp_lower(bk, wlo, whi, lof, hif, rf, key)),
                         bk.ub(lp_upper(bk, wlo, whi, lof, hif, rf, key)))
                   for key in ("V", "B", "BV")}
            for _ in range(3):
                t = Fraction(i, 2 ** 10) + Fraction(rng.randrange(65), 64 * 2 ** 10)
                y = _mp(Fraction(-1.2) + (Fraction(1.2) - Fraction(-1.2)) * t)
                s = [_mp(A) + _mp(B) * y for A, B in zip(hd.A, hd.B)]
                E = [mpmath.exp(x - s[r]) for x in s]
                total = sum(E)
                assert sum(E[j] for j in far) <= (bk.ub(T) if far else 0)
                for g, lo_, hi_ in zip(groups, wlo, whi):
                    wg = sum(E[j] for j in g) / total
                    assert bk.lb(lo_) <= wg <= bk.ub(hi_)
                b0, v0 = _mp(Fraction(float(ph.B[rf.r]))), _mp(Fraction(float(ph.V[rf.r])))
                vals = {"V": [_mp(v) - v0 for v in hd.V], "B": [_mp(b) - b0 for b in hd.B]}
                vals["BV"] = [u * v for u, v in zip(vals["B"], vals["V"])]
                for key, (l, u) in lps.items():
                    avg = sum(e * g for e, g in zip(E, vals[key])) / total
                    assert l <= avg <= u
