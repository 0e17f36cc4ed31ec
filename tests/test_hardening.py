"""Regression tests for hardening: checker cancellation and precision, overflow at extreme
scales, the measure floor, budgets (--max-boxes, --timeout), strict JSON and magnitudes.

Each defect is reproduced through the command line (``certify.cli.main``): certify, then
check with both backends where it applies; one-line errors are read from stderr.
"""

from __future__ import annotations

import copy
import json
import math
import time
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certify.cli import main
from certify.errors import InputError


def _spec(a=-1.0, b=1.0, w=None, t=None, lo=-1.0, hi=1.0, p=16, kappa=3.0, mode="measure",
          tol=0.01, kind="truncated-linear", **extra):
    target = {"kind": kind, "w": [[1.0]] if w is None else w, "t": [0.0] if t is None else t}
    if kind in ("truncated-linear", "clip"):
        target.update(a=a, b=b)
    obj = {"theorem": "single-head", "target": target, "domain": {"lo": lo, "hi": hi},
           "construction": {"p": p, "kappa": kappa}, "mode": mode, "tol": tol}
    obj.update(extra)
    return obj


def _write(tmp_path, obj, name="spec.json"):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


def _run(argv, capfd):
    code = main(argv)
    out, err = capfd.readouterr()
    return code, out, err


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("attncert: error:"), err
    assert "Traceback" not in err
    return lines[0]


def _certify(tmp_path, spec, capfd, name="c.json", extra=()):
    cert = str(tmp_path / name)
    code, out, err = _run(["certify", _write(tmp_path, spec), "--out", cert, "--force",
                           "--jobs", "1", *extra], capfd)
    return code, out, err, cert


def _check(cert, capfd, backend="both"):
    return _run(["check", cert, "--backend", backend], capfd)


def _tampered(tmp_path, cert, mutate, name="t.json"):
    obj = json.loads(open(cert).read())
    mutate(obj)
    return _write(tmp_path, obj, name)


# -- defect 1: the checker rejected true certificates (cancellation, NaN, precision) ---------

D1 = _spec(p=16, kappa=1e6)  # beta ~ 5.6e7: a softmax that jumps within 1e-7 in y


def test_d1_high_kappa_certificate_is_accepted_by_both_backends(tmp_path, capfd):
    code, out, err, cert = _certify(tmp_path, D1, capfd)
    assert code == 0, out + err
    claim = json.loads(open(cert).read())["claim"]
    # The true sup (delta / 2 minus a sliver) lies in [L, U].
    assert claim["lower"] <= 0.0666656 <= claim["upper"] <= 0.0672
    code, out, err = _check(cert, capfd)
    assert code == 0, out + err
    assert "verified (both)" in out


def test_d1_box_straddling_the_jump_is_bounded_tightly():
    # Box 2 of the d1 cover, where a difference of two rounded sums lost every digit.
    from certify.check.backends import make_backend
    from certify.check.bound import PreparedHead, box_bound
    from certify.check.model import reduce_network
    from certify.pipeline import build
    from certify.spec import latent_affine, parse_spec

    spec = parse_spec(D1)
    net = build(spec).net
    w, t = latent_affine(spec.theorem, spec.target)
    (out,) = reduce_network(net, w, t)
    hd = out.heads[0]
    for name in ("flint", "pyinterval"):
        bk = make_backend(name)
        with bk.context():
            ph = PreparedHead(bk, hd.A, hd.B, hd.V, Fraction(1), -1.0, 1.0, -1.0, 1.0, True)
            y0, y1 = bk.num(-0.93359375000000044), bk.num(-0.93310546875000044)
            bound = bk.ub(box_bound(bk, [ph], y0, y1, 0.0672))
        assert bound <= 0.0672, (name, bound)


def test_sums_of_others_are_sums_not_differences():
    from certify.check.backends import make_backend
    from certify.check.bound import _sums_of_others

    bk = make_backend("flint")
    with bk.context():
        P = [bk.num(1.0), bk.exp(bk.num(-200.0)), bk.exp(bk.num(-300.0))]
        rest, total = _sums_of_others(bk, P)
        # The rest of the dominant term is ~e^-200, known to full relative precision.
        assert bk.lb(rest[0]) > 0
        assert bk.ub(rest[0]) / bk.lb(rest[0]) < 1 + 1e-15
        # Whereas total - 1 is indeterminate in sign: the difference the checker avoids.
        assert bk.lb(total - P[0]) < 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fractions(min_value=0, max_value=10 ** 6, max_denominator=10 ** 6),
                min_size=1, max_size=8),
       st.sampled_from(["flint", "pyinterval"]))
def test_sums_of_others_contain_the_exact_sums(values, backend):
    from certify.check.backends import make_backend
    from certify.check.bound import _sums_of_others

    bk = make_backend(backend)
    with bk.context():
        rest, total = _sums_of_others(bk, [bk.rational(v) for v in values])
        for i, r in enumerate(rest):
            exact = sum(values) - values[i]
            assert bk.lb(r) <= float(exact) <= bk.ub(r)
        assert bk.lb(total) <= float(sum(values)) <= bk.ub(total)


def test_indeterminate_weight_bounds_are_replaced_by_trivial_ones():
    from certify.check.backends import make_backend
    from certify.check.bound import _clamp_hi, _clamp_lo, _intersect

    for name in ("flint", "pyinterval"):
        bk = make_backend(name)
        with bk.context():
            nan = bk.num(1) / bk.interval(-1.0, 1.0)  # an enclosure of 1/0: indeterminate
            assert bk.ub(_clamp_hi(bk, nan)) == 1.0 and bk.lb(_clamp_lo(bk, nan)) == 0.0
            assert bk.ub(_clamp_hi(bk, bk.num(3.0))) == 1.0
            assert bk.lb(_clamp_lo(bk, bk.num(-3.0))) == 0.0
            lo, hi = _intersect(bk, (nan, bk.num(2.0)), (bk.num(-1.0), nan))
            assert bk.lb(lo) == -1.0 and bk.ub(hi) == 2.0


def test_arb_precision_is_raised_for_claims_below_80_bit_resolution(tmp_path, capfd):
    # The latent stays in the clamped region: the error is ~exp(-4.5e7).  At 80 bits Arb's
    # bound is ~3e-24 (rounding); a claim of 1e-25 needs the finer precisions.
    code, out, err, cert = _certify(tmp_path, _spec(t=[-1e6]), capfd)
    assert code == 0, out + err
    tight = _tampered(tmp_path, cert, lambda o: o["claim"].update(upper=1e-25))
    code, out, err = _check(tight, capfd)
    assert code == 0, out + err


# -- defect 2: extreme scales overflowed in the engine and the checker ----------------------

D2 = _spec(a=-1e-150, b=1e-150, lo=-1e-150, hi=1e-150, p=16, kappa=3.0)


def test_d2_tiny_scale_certifies_and_checks_without_warnings(tmp_path, capfd):
    code, out, err, cert = _certify(tmp_path, D2, capfd)
    assert code == 0 and "Warning" not in err, out + err
    scaled = json.loads(open(cert).read())["claim"]
    code, out, err = _check(cert, capfd)
    assert code == 0, out + err
    # The error scales with the problem: the unscaled claim, times 1e-150.
    code, out, err, cert1 = _certify(tmp_path, _spec(p=16, kappa=3.0), capfd, "u.json")
    assert code == 0
    unscaled = json.loads(open(cert1).read())["claim"]
    assert scaled["upper"] == pytest.approx(unscaled["upper"] * 1e-150, rel=1e-6)
    assert scaled["lower"] == pytest.approx(unscaled["lower"] * 1e-150, rel=1e-6)


def test_curvature_fit_does_not_overflow():
    from certify.check.bound import _curvature as check_curvature
    from certify.enclosure import _curvature as engine_curvature

    beta = 1.6875e302
    L = np.linspace(-1e-150, 1e-150, 16)
    B, A = 2 * beta * L, -beta * L * L
    for fit in (lambda: check_curvature(list(A), list(B)), lambda: engine_curvature(A, B)):
        bh = fit()
        assert math.isfinite(bh) and bh == pytest.approx(beta, rel=1e-9)
    # Ordinary magnitudes keep the plain fit exactly.
    L = np.linspace(-1.0, 1.0, 16)
    B, A = 2 * 3.0 * L, -3.0 * L * L
    assert check_curvature(list(A), list(B)) == pytest.approx(3.0, rel=1e-12)


# -- defect 3: measure mode never ended; the measure floor ----------------------------------

def test_d3a_clamped_latent_ends_at_the_floor_and_checks(tmp_path, capfd):
    from certify.check.schema import measure_floor

    code, out, err, cert = _certify(tmp_path, _spec(t=[-1e6]), capfd)
    assert code == 0, out + err
    assert "sup error <=" in out and "measure floor" in out
    obj = json.loads(open(cert).read())
    F = measure_floor(obj["target"])
    assert F == Fraction(1, 2 ** 40)  # S = max(|a|, |b|) = 1
    assert 0 <= obj["claim"]["lower"] <= obj["claim"]["upper"] <= F
    code, out, err = _check(cert, capfd)
    assert code == 0, out + err
    # The claim is still sup <= upper: an upper below the true error (> 0) is rejected.
    zero = _tampered(tmp_path, cert, lambda o: o["claim"].update(upper=0.0))
    code, out, err = _check(zero, capfd)
    assert code == 1 and "REJECTED" in out
    # Above the floor, the ratio rule applies again.
    above = _tampered(tmp_path, cert, lambda o: o["claim"].update(upper=float(F) * 2))
    code, out, err = _check(above, capfd)
    assert code == 1 and "measure floor" in out


def test_w0_constant_latent_is_measured_and_tampering_below_the_error_is_rejected(
        tmp_path, capfd):
    code, out, err, cert = _certify(tmp_path, _spec(w=[[0.0]], t=[0.5]), capfd)
    assert code == 0, out + err
    claim = json.loads(open(cert).read())["claim"]
    assert claim["lower"] > 0.01
    assert _check(cert, capfd)[0] == 0

    def below(o):
        o["claim"].update(upper=0.0104, lower=0.0103)
        o["witness"]["error_lower"] = 0.0103
    code, out, err = _check(_tampered(tmp_path, cert, below), capfd)
    assert code == 1 and "REJECTED" in out


def test_multi_head_floor(tmp_path, capfd):
    spec = {"theorem": "multi-head", "tokens": 4,
            "target": {"kind": "truncated-linear", "a": -1.0, "b": 1.0, "w": [1.0, 0.5],
                       "t": -1e6},
            "domain": {"lo": -1.0, "hi": 1.0}, "construction": {"heads": 2, "kappa": 3.0},
            "mode": "measure", "tol": 0.01}
    code, out, err, cert = _certify(tmp_path, spec, capfd)
    assert code == 0 and "measure floor" in out, out + err
    assert _check(cert, capfd)[0] == 0


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["truncated-linear", "relu", "leaky-relu", "hard-tanh"]),
       st.floats(-10, 10), st.floats(0.01, 10), st.sampled_from([0.1, -0.5, 2.0]))
def test_engine_and_checker_floors_agree(kind, a, width, alpha):
    from certify.check.schema import measure_floor as checker_floor
    from certify.engine import _grouped_terms
    from certify.engine import measure_floor as engine_floor
    from certify.spec import parse_spec, truncated_linear_terms
    from theorems.constructions import module_for

    target = {"kind": kind, "w": [1.0], "t": 0.0}
    if kind == "truncated-linear":
        target.update(a=a, b=a + width)
    if kind == "leaky-relu":
        target["alpha"] = alpha
    spec = parse_spec({"theorem": "multi-head", "tokens": 3, "target": target,
                       "domain": {"lo": -1.0, "hi": 1.0},
                       "construction": {"heads": 3, "kappa": 3.0}})
    per_head = module_for("multi-head").target_terms(spec.target, 3 * len(
        truncated_linear_terms(spec.target)))
    assert engine_floor(_grouped_terms(per_head)) == checker_floor(spec.target) > 0


# -- budgets: --max-boxes and --timeout --------------------------------------------------

def test_tiny_max_boxes_ends_with_exit_1_and_the_message(tmp_path, capfd):
    code, out, err, cert = _certify(tmp_path, D1, capfd, extra=("--max-boxes", "100"))
    assert code == 1
    assert "not certified within the budget (100 boxes)" in out
    assert "best so far: sup error in [" in out


def test_max_boxes_is_never_exceeded(tmp_path, capfd):
    for spec, n in ((_spec(p=64, tol=1e-4), 500),
                    ({"theorem": "uap", "target": {"kind": "expression", "expr": "sin(x)",
                                                   "variables": ["x"]},
                      "domain": {"lo": -3.0, "hi": 3.0},
                      "construction": {"route": "interpolation", "p": 64},
                      "mode": "measure", "tol": 1e-6}, 40)):
        code, out, err = _run(["certify", _write(tmp_path, spec), "--json", "--jobs", "1",
                               "--max-boxes", str(n)], capfd)
        info = json.loads(out)
        assert code == 1 and not info["holds"]
        assert 0 < info["evaluated"] <= n
        assert "not certified within the budget" in info["message"]


def test_timeout_ends_a_long_run_within_seconds(tmp_path, capfd):
    # kappa = 1e200: scores ~ 1e201 that the float64 engine cannot resolve, so without a
    # budget this measure run splits every box to the depth limit (2^50 boxes).
    spec = _spec(kappa=1e200)
    t0 = time.monotonic()
    code, out, err = _run(["certify", _write(tmp_path, spec), "--timeout", "0.5"], capfd)
    assert time.monotonic() - t0 < 10
    assert code == 1 and "not certified within the budget (timeout 0.5 s)" in out, out + err
    assert "Warning" not in err


def test_sweep_honours_the_budget(tmp_path, capfd):
    code, out, err = _run(["sweep", _write(tmp_path, _spec()), "--vary", "p=8,16",
                           "--max-boxes", "50", "--json"], capfd)
    rows = json.loads(out)["rows"]
    assert code == 1 and len(rows) == 2
    assert all("not certified within the budget (50 boxes)" in r["message"] for r in rows)


@pytest.mark.parametrize("flag,value", [("--max-boxes", "0"), ("--max-boxes", "x"),
                                        ("--timeout", "0"), ("--timeout", "nan"),
                                        ("--timeout", "-1")])
def test_bad_budget_options_exit_2(flag, value, tmp_path, capfd):
    code, out, err = _run(["certify", _write(tmp_path, _spec()), flag, value], capfd)
    assert code == 2
    _one_line_error(err)


def test_library_limits_context():
    from certify.engine import current_limits, run_limits

    with run_limits(max_boxes=7, timeout=None):
        assert current_limits().boxes(99) == 7
        assert current_limits(max_boxes=3).boxes(99) == 3
    assert current_limits().boxes(99) == 99 and not current_limits().expired()


# -- defect 4: strict JSON --------------------------------------------------------------

def test_duplicate_keys_are_refused_in_specs_networks_and_certificates(tmp_path, capfd):
    from certify.spec import load_json_file

    text = json.dumps(_spec()).replace('"mode": "measure"', '"mode": "measure", "mode": "prove"')
    code, out, err = _run(["certify", _write(tmp_path, text)], capfd)
    assert code == 2 and "duplicate key 'mode'" in _one_line_error(err)

    code, out, err, cert = _certify(tmp_path, _spec(p=4), capfd)
    assert code == 0
    text = open(cert).read().replace('"schema":', '"theorem":"single-head","schema":', 1)
    code, out, err = _check(_write(tmp_path, text, "dup.json"), capfd)
    assert code == 2 and "duplicate key 'theorem'" in _one_line_error(err)
    # nested: inside the network
    text = open(cert).read().replace('"format":', '"input_shape":[1,1],"format":', 1)
    code, out, err = _check(_write(tmp_path, text, "dup2.json"), capfd)
    assert code == 2 and "duplicate key 'input_shape'" in _one_line_error(err)

    net = '{"format": "attncert-network/1", "input_shape": [1, 1], "layers": [], "layers": []}'
    with pytest.raises(InputError, match="duplicate key 'layers'"):
        load_json_file(_write(tmp_path, net, "net.json"))


@pytest.mark.parametrize("where,mutate,field", [
    ("w bool", lambda o: o["target"].update(w=[[True]]), "target.w[0][0]"),
    ("w string", lambda o: o["target"].update(w=[["0.5"]]), "target.w[0][0]"),
    ("t bool", lambda o: o["target"].update(t=[True]), "target.t[0]"),
    ("domain list", lambda o: o.update(domain={"lo": [[True]], "hi": 1.0}), "domain.lo[0][0]"),
    ("domain scalar", lambda o: o.update(domain={"lo": "-1", "hi": 1.0}), "domain.lo"),
    ("kappa", lambda o: o["construction"].update(kappa="3"), "construction.kappa"),
    ("p", lambda o: o["construction"].update(p=True), "construction.p"),
    ("a", lambda o: o["target"].update(a=False), "target.a"),
    ("tol", lambda o: o.update(tol="0.5"), "tol"),
    ("domain key", lambda o: o["domain"].update(mid=0.0), "domain.mid"),
])
def test_non_numbers_where_numbers_belong_are_refused(where, mutate, field, tmp_path, capfd):
    spec = _spec()
    mutate(spec)
    code, out, err = _run(["certify", _write(tmp_path, spec)], capfd)
    assert code == 2, where
    assert field in _one_line_error(err)


@pytest.mark.parametrize("where,mutate,field", [
    ("w [[true, 0.5]]", lambda o: o["target"].update(w=[[True, 0.5]]), "target.w[0][0]"),
    ("w bool", lambda o: o["target"].update(w=[[True]]), "target.w[0][0]"),
    ("upper string", lambda o: o["claim"].update(upper="0.5"), "claim.upper"),
    ("tol bool", lambda o: o["claim"].update(tol=True), "claim.tol"),
    ("bound bool", lambda o: o["cover"][0]["bounds"].__setitem__(0, True), "bounds[0]"),
    ("y_lo string", lambda o: o["cover"][0].update(y_lo="-1"), "y_lo"),
    ("witness x", lambda o: o["witness"].update(x=[[True]]), "witness.x[0][0]"),
    ("network weight", lambda o: o["network"]["layers"][1]["heads"][0]["W_O"][0]
     .__setitem__(0, True), "network.layers[1].heads[0].W_O[0][0]"),
    ("network bias", lambda o: o["network"]["layers"][0]["bias"][0].__setitem__(2, "0"),
     "network.layers[0].bias[0][2]"),
    ("parameter", lambda o: o["parameters"].update(beta=True), "parameters.beta"),
    ("unknown top-level", lambda o: o.update(note=1), "'note'"),
    ("unknown claim key", lambda o: o["claim"].update(ratio=1.0), "claim.ratio"),
    ("unknown cover key", lambda o: o["cover"][0].update(extra=1), "cover[0].extra"),
    ("unknown witness key", lambda o: o["witness"].update(y=0), "witness.y"),
    ("unknown tool key", lambda o: o["tool"].update(date="x"), "tool.date"),
    ("unknown method key", lambda o: o["method"].update(x="y"), "method.x"),
    ("unknown parameter", lambda o: o["parameters"].update(gamma=1.0), "parameters.gamma"),
    ("unknown layer key", lambda o: o["network"]["layers"][2].update(x=1),
     "network.layers[2].x"),
    ("unknown head key", lambda o: o["network"]["layers"][1]["heads"][0].update(W_X=[[1]]),
     "heads[0].W_X"),
    ("unknown domain key", lambda o: o["domain"].update(mid=[[0.0]]), "domain.mid"),
])
def test_malformed_certificates_are_refused_naming_the_field(where, mutate, field, tmp_path,
                                                             capfd):
    code, out, err, cert = _certify(tmp_path, _spec(p=4), capfd)
    assert code == 0
    code, out, err = _check(_tampered(tmp_path, cert, mutate), capfd)
    assert code == 2, (where, out, err)
    assert field in _one_line_error(err), where


# -- defect 5: magnitudes: exit 2 naming the field, never exit 3 -------------------------

MAGNITUDES = {
    "d5a w = 1e308": (_spec(w=[[1e308]]), "target.w"),
    "a, b = -+1e308": (_spec(a=-1e308, b=1e308), "target.a"),
    "d5b b - a = 5e-324": (_spec(a=0.0, b=5e-324), "target.a, target.b"),
    "relu w = 1e300": (_spec(kind="relu", w=[[1e300]]), "target.w"),
    "t = 1e200": (_spec(t=[1e200]), "target.t"),
    "kappa = 1e300": (_spec(kappa=1e300), "construction.kappa"),
    "beta = 1e308": ({**_spec(), "construction": {"p": 16, "beta": 1e308}},
                     "construction.beta"),
    "beta subnormal": (_spec(a=-1e150, b=1e150, p=2, kappa=1e-10), "construction.kappa"),
    "multi-head b - a tiny": ({"theorem": "multi-head", "tokens": 4,
                               "target": {"kind": "truncated-linear", "a": 0.0, "b": 1e-320,
                                          "w": [1.0], "t": 0.0},
                               "domain": {"lo": -1.0, "hi": 1.0},
                               "construction": {"heads": 2, "kappa": 3.0}},
                              "target.a, target.b"),
    "multi-head w = 1e300": ({"theorem": "multi-head", "tokens": 4,
                              "target": {"kind": "relu", "w": [1e300], "t": 0.0},
                              "domain": {"lo": -1.0, "hi": 1.0},
                              "construction": {"heads": 2, "kappa": 3.0}}, "target.w"),
}


@pytest.mark.parametrize("name", sorted(MAGNITUDES))
@pytest.mark.parametrize("command", ["certify", "build"])
def test_extreme_magnitudes_exit_2_naming_the_field(name, command, tmp_path, capfd):
    spec, field = MAGNITUDES[name]
    code, out, err = _run([command, _write(tmp_path, spec), "--out",
                           str(tmp_path / "o.json")], capfd)
    assert code == 2, (name, out, err)
    assert field in _one_line_error(err), name


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(-320, 308), st.integers(-320, 308), st.integers(-320, 300),
       st.integers(2, 64), st.sampled_from(["truncated-linear", "relu", "clip"]))
def test_any_magnitude_is_refused_or_built_finite(e_ab, e_w, e_kappa, p, kind):
    """Property: a spec is refused (InputError) or its network builds with finite weights and
    the engine prepares it; never OverflowError or ZeroDivisionError (exit 3)."""
    import warnings

    from certify.engine import prepare_outputs
    from certify.pipeline import build
    from certify.spec import parse_spec
    from theorems.constructions import module_for

    s = 10.0 ** e_ab
    obj = _spec(a=-s, b=s, w=[[10.0 ** e_w]], kappa=10.0 ** e_kappa, p=p, kind=kind)
    try:
        spec = parse_spec(copy.deepcopy(obj))
    except InputError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        built = build(spec)
        net = built.net.to_json_obj()
        assert all(math.isfinite(v) for v in _leaves(net))
        mod = module_for(spec.theorem)
        w, t = mod.token_affine_targets(spec.target)
        with np.errstate(all="ignore"):
            outs = prepare_outputs(built.net, mod.target_terms(spec.target, 1), w, t,
                                   spec.lo, spec.hi)
        assert all(math.isfinite(o.Ylo) and math.isfinite(o.Yhi) for o in outs)


def _leaves(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _leaves(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _leaves(v)
    elif isinstance(obj, float):
        yield obj


def test_deeply_nested_json_is_one_line_exit_2(tmp_path, capfd):
    from certify.cli import main

    path = tmp_path / "deep.json"
    path.write_text("[" * 100000 + "]" * 100000)
    for cmd in (["certify", str(path)], ["check", str(path)]):
        assert main(cmd) == 2
        err = capfd.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "nested too deeply" in err[0], err


def test_counterexample_before_any_leaf_is_exit_1(tmp_path, capsys):
    """Mode prove may find a counterexample before any box of an output became a leaf."""
    from certify.cli import main

    spec = {"theorem": "multi-head", "tokens": 4,
            "target": {"kind": "truncated-linear", "a": -1.0, "b": 1.0, "w": [1.0], "t": 0.0},
            "domain": {"lo": -1.25, "hi": 1.25}, "construction": {"heads": 5, "kappa": 3.0},
            "mode": "prove", "epsilon": 0.01}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(spec))
    assert main(["certify", str(path)]) == 1
    assert "counterexample" in capsys.readouterr().out


def test_network_too_large_for_the_dense_reduction_is_exit_2(tmp_path, capfd):
    """n = 8000 tokens: the first layer would hold 4.5e8 entries in dense form (3.6 GB);
    refused in one line before anything is allocated, by the engine and by the checker."""
    spec = {"theorem": "multi-head", "tokens": 8000,
            "target": {"kind": "truncated-linear", "a": -1.0, "b": 1.0, "w": [1.0], "t": 0.0},
            "domain": {"lo": -1.0, "hi": 1.0}, "construction": {"heads": 2, "kappa": 3.0},
            "mode": "measure", "tol": 0.01}
    code, _, err, _ = _certify(tmp_path, spec, capfd)
    assert code == 2
    assert "network too large to certify" in _one_line_error(err)
    from certify.check.model import _dense_size
    with pytest.raises(InputError, match="too large to check"):
        _dense_size(7, 8000, 1, 8000)
    _dense_size(7, 4000, 1, 4000)  # 1.1e8 entries: within the limit
