"""Theorem ``uap-two-layer``: compiler, exact decomposition, enclosures, certificates.

* The exact decomposition (:mod:`certify.exact_two_layer`) reproduces the network: its
  formula, evaluated in mpmath, equals an mpmath evaluation of the layers themselves.
* Enclosures: the engine's and the checker's per-box enclosures contain the 30-digit value
  at random points of random boxes; the monotone-head rule is exact and can fail.
* Certificates: certified ``U`` >= the mpmath error on a dense grid; the checker accepts
  (both backends); tampered certificates and foreign networks are rejected; a false claim
  ends with a counterexample; bad specs are refused with one line.
* The a-priori bound is >= the dense mpmath error.
* Obligations can fail: each mutation makes its obligation fail.
"""

from __future__ import annotations

import copy
import hashlib
import json
from fractions import Fraction
from functools import cache

import mpmath
import numpy as np
import pytest

from certify.box_enclosure import error_bounds
from certify.check.backends import make_backend
from certify.check.composed_bound import ComposedChecker
from certify.check.expr_backends import ArbOps, PyIntervalOps
from certify.check.verify import check_certificate
from certify.cli import main
from certify.exact_scores import HeadScores, grid_structure, monotone_form, parse_grid_hint
from certify.exact_two_layer import analyse_two_layer
from certify.expression import MpOps, evaluate, parse
from certify.network import Attention, AttentionNet, TokenAffine, canonical_json
from certify.pipeline import build_two_layer, certify_two_layer, prepare_composed_outputs
from certify.spec import parse_spec
from certify.targets import NumpyTarget
from theorems import uap_two_layer_obligations as ob
from theorems.obligations import Identity
from theorems.uap_two_layer import CompileError, compile_expression, conformance

DPS = 30


def spec_of(expr, variables, lo, hi, mode="prove", **extra):
    s = {"theorem": "uap-two-layer",
         "target": {"kind": "expression", "expr": expr, "variables": list(variables)},
         "domain": {"lo": lo, "hi": hi}, "mode": mode}
    s.update(extra)
    return s


SPECS = {
    "product": spec_of("x*y", "xy", [0, 0], [1, 1], epsilon=0.1),
    "spread": spec_of("max(x, y) - min(x, y)", "xy", [-1, -1], [1, 1], epsilon=0.1),
    "sin3x": spec_of("sin(3*x)", "x", [-1], [1], epsilon=0.1),
    "sincos": spec_of("sin(x)*cos(y)", "xy", [-1, -1], [1, 1], epsilon=0.1),
    "relu2": {"theorem": "uap-two-layer", "target": {"kind": "relu-network", "layers": [
        {"W": [[1, -1], [1, 1], [-0.5, 1]], "b": [0, -0.5, 0.25]},
        {"W": [[1, -1, 0.5], [0.5, 1, -1]], "b": [-0.25, 0.1]},
        {"W": [[1, -0.75]], "b": [0.2]}]}, "domain": {"lo": [-1, -1], "hi": [1, 1]},
        "mode": "prove", "epsilon": 0.1},
}


@cache
def _certified(name):
    spec = parse_spec(SPECS[name])
    result, cert, built = certify_two_layer(spec)
    return spec, result, None if cert is None else json.dumps(cert), built


def certified(name):
    spec, result, text, built = _certified(name)
    return spec, result, None if text is None else json.loads(text), built


# -- an mpmath evaluation of the layers -------------------------------------------------------

def mp_network(net: AttentionNet, x: list[float]) -> mpmath.mpf:
    """Output (0, 0) of the network at the input x (one token), 30 digits, from the layers."""
    with mpmath.workdps(DPS):
        first = net.layers[0]
        d, n = net.input_shape
        M, c = first.dense((d, n))
        X = mpmath.matrix(d, n)
        for i in range(d):
            X[i, 0] = mpmath.mpf(x[i])
        dz, m = c.shape
        Z = [[mpmath.mpf(float(c[a, j])) + sum(mpmath.mpf(float(M[a, j, i, k])) * X[i, k]
                                                for i in range(d) for k in range(n)
                                                if M[a, j, i, k] != 0)
              for j in range(m)] for a in range(dz)]
        for layer in net.layers[1:]:
            if isinstance(layer, Attention):
                # Only column 0 (the token) is computed: later layers read no row that an
                # attention layer writes at the other columns (asserted in mp_network_ok).
                out = [[mpmath.mpf(0)] * m for _ in range(dz)]
                for h in layer.heads:
                    def mat(W, cols, Z=Z):
                        return [[sum(mpmath.mpf(float(W[r, a])) * Z[a][j] for a in range(dz)
                                     if W[r, a] != 0) for j in cols] for r in range(W.shape[0])]
                    Q, K, V = mat(h.W_Q, range(m)), mat(h.W_K, range(m)), mat(h.W_V, range(m))
                    for q in range(1):
                        s = [sum(K[r][j] * Q[r][q] for r in range(len(K))) for j in range(m)]
                        top = max(s)
                        e = [mpmath.exp(v - top) for v in s]
                        tot = sum(e)
                        for o in range(dz):
                            wo = [float(h.W_O[o, v]) for v in range(len(V))]
                            if any(wo):
                                val = sum(e[j] * sum(mpmath.mpf(wo[v]) * V[v][j]
                                                     for v in range(len(V)) if wo[v])
                                          for j in range(m)) / tot
                                out[o][q] += val
                Z = [[Z[a][j] + out[a][j] if layer.residual else out[a][j] for j in range(m)]
                     for a in range(dz)]
            elif isinstance(layer, TokenAffine):
                W, b = layer.weight, layer.bias
                return sum(mpmath.mpf(float(W[0, a])) * Z[a][0] for a in range(dz)) + \
                    mpmath.mpf(float(b[0, 0]))
            else:  # select-columns
                cols = list(layer.columns)
                Z = [[Z[a][j] for j in cols] for a in range(dz)]
                m = len(cols)
    raise AssertionError("no output map")


def mp_network_ok(net: AttentionNet) -> None:
    """The condition under which :func:`mp_network` may skip the other columns: no key or
    value of the second attention layer reads a row that the first one writes."""
    written = np.zeros(net.layers[0].out_shape[0], dtype=bool)
    for h in net.layers[1].heads:
        written |= np.any(h.W_O != 0, axis=1)
    for h in net.layers[2].heads:
        assert not np.any((h.W_K != 0)[:, written]) and not np.any((h.W_V != 0)[:, written])


def mp_target(spec, x):
    ops = MpOps(DPS)
    return evaluate(spec.parsed_target.expr, [ops.ctx.mpf(v) for v in x], ops)


# -- compiler ---------------------------------------------------------------------------------

def test_compiler_levels():
    xy = compile_expression(parse("x*y", ["x", "y"]), 2)
    assert not xy.blocks and len(xy.l1.terms) == 2  # squares of x+y and x-y: one level
    sc = compile_expression(parse("sin(x)*cos(y)", ["x", "y"]), 2)
    assert len(sc.blocks) == 2 and len(sc.l1.terms) == 0
    m3 = compile_expression(parse("max(x, y, z)", ["x", "y", "z"]), 3)
    assert len(m3.blocks) == 1 and m3.blocks[0][2] == "relu"
    with pytest.raises(CompileError):
        compile_expression(parse("sin(sin(x*y)*z)", ["x", "y", "z"]), 3)
    with pytest.raises(CompileError):
        compile_expression(parse("x/y", ["x", "y"]), 2)


# -- exact decomposition ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["product", "relu2"])
def test_decomposition_reproduces_the_layers(name):
    spec = parse_spec(SPECS[name])
    built = build_two_layer(spec)
    mp_network_ok(built.net)
    (out,) = analyse_two_layer(built.net)
    rng = np.random.default_rng(1)
    lo, hi = spec.lo[:, 0], spec.hi[:, 0]
    with mpmath.workdps(DPS):
        def head(hs, z):
            s = [a + sum(b * v for b, v in zip(bj, z)) for a, bj in zip(hs.A, hs.B)]
            s = [mpmath.mpf(v.numerator) / v.denominator if isinstance(v, Fraction) else v
                 for v in s]
            top = max(s)
            e = [mpmath.exp(v - top) for v in s]
            return sum(ej * mpmath.mpf(Fraction(vj).numerator) / Fraction(vj).denominator
                       for ej, vj in zip(e, hs.V)) / sum(e)

        for _ in range(3):
            x = rng.uniform(lo, hi)
            xq = [mpmath.mpf(float(v)) for v in x]
            phi = []
            for f in out.features:
                v = mpmath.mpf(f.a.numerator) / f.a.denominator + sum(
                    mpmath.mpf(b.numerator) / b.denominator * xv for b, xv in zip(f.b, xq))
                for hs in f.anchor:
                    v += head(hs, xq)
                assert not f.gather
                phi.append(v)
            N = mpmath.mpf(out.const.numerator) / out.const.denominator + sum(
                mpmath.mpf(w.numerator) / w.denominator * p for w, p in zip(out.omega, phi))
            for hs in out.heads:
                N += head(hs, phi)
            assert abs(N - mp_network(built.net, list(x))) < mpmath.mpf(10) ** -20


def test_decomposition_refuses_input_dependent_layer2_keys():
    built = build_two_layer(parse_spec(SPECS["product"]))
    net = built.net
    h = net.layers[2].heads[0]
    W_K = h.W_K.copy()
    W_K[0, 0] = 1.0  # row 0 is a layer-1 latent: it depends on x
    heads = (type(h)(h.W_Q, W_K, h.W_V, h.W_O),) + net.layers[2].heads[1:]
    bad = AttentionNet(net.input_shape, (net.layers[0], net.layers[1], Attention(heads, True),
                                         *net.layers[3:]))
    with pytest.raises(Exception, match="layer-2 key"):
        analyse_two_layer(bad)


# -- monotone heads ---------------------------------------------------------------------------

def test_monotone_form_is_exact_and_can_fail():
    built = build_two_layer(parse_spec(SPECS["sin3x"]))
    (out,) = analyse_two_layer(built.net)
    hint = parse_grid_hint(built.structure_json()["outputs"][0]["layer2"][out.head_ids[0]], "h")
    hs = out.heads[0]
    grid = grid_structure(hs, hint)
    assert monotone_form(hs, grid) is not None
    V = list(hs.V)
    V[3] += Fraction(1, 1 << 40)  # values no longer affine in the slopes
    assert monotone_form(HeadScores(hs.A, hs.B, V), grid) is None


# -- enclosures -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["product", "sincos"])
def test_enclosures_contain_mpmath_values(name):
    spec = parse_spec(SPECS[name])
    built = build_two_layer(spec)
    structure = built.structure_json()
    (pc,) = prepare_composed_outputs(built.net, structure)
    (out,) = analyse_two_layer(built.net)
    h1 = [parse_grid_hint(h, "l1") for h in structure["outputs"][0]["layer1"]]
    h2 = [parse_grid_hint(h, "l2") for h in structure["outputs"][0]["layer2"]]
    g1 = [[grid_structure(a, h1[i]) for a, i in zip(f.anchor, f.anchor_ids)]
          for f in out.features]
    g2 = [grid_structure(a, h2[i]) for a, i in zip(out.heads, out.head_ids)]
    target = NumpyTarget(spec.parsed_target)
    rng = np.random.default_rng(7)
    lo, hi = spec.lo[:, 0], spec.hi[:, 0]
    for bk_name, ops in (("flint", ArbOps()), ("pyinterval", PyIntervalOps())):
        bk = make_backend(bk_name)
        with bk.context():
            checker = ComposedChecker(bk, ops, out, g1, g2, spec.parsed_target.expr, None)
            for _ in range(4):
                w = rng.choice([0.02, 0.1, 0.3])
                a = rng.uniform(lo, hi - w)
                box = [(float(u), float(u + w)) for u in a]
                pts = [np.array([rng.uniform(u, v) for u, v in box]) for _ in range(3)]
                o = checker.output_set(box)
                blo = np.array([[u for u, _ in box]])
                bhi = np.array([[v for _, v in box]])
                eo, _ = pc.network_at(blo, bhi, False)
                upper, *_ = error_bounds(pc, target, blo, bhi)
                mp_network_ok(built.net)
                for x in pts:
                    val = mp_network(built.net, list(x))
                    assert o is not None and bk.lb(o) <= val <= bk.ub(o)
                    assert eo[0][0] <= val <= eo[1][0]
                    assert abs(val - mp_target(spec, x)) <= upper[0]


# -- certificates -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["product", "sin3x", "relu2"])
def test_certificate_sound_and_checked(name):
    spec, result, cert, built = certified(name)
    assert result.holds and cert is not None
    mp_network_ok(built.net)
    rng = np.random.default_rng(3)
    lo, hi = spec.lo[:, 0], spec.hi[:, 0]
    pts = rng.uniform(lo, hi, size=(40, len(lo)))
    worst = max(abs(mp_network(built.net, list(x)) - mp_target(spec, x)) for x in pts)
    assert worst <= result.upper
    assert worst <= built.bound["bound"]  # the a-priori bound is an upper bound too
    x = cert["witness"]["x"]
    assert abs(mp_network(built.net, x) - mp_target(spec, x)) >= result.lower
    # pyinterval needs minutes for the thousands of boxes of the ReLU network's cover
    ok, why = check_certificate(cert, backend="flint" if name == "relu2" else "both")
    assert ok, why
    ok, why = conformance(cert)
    assert ok, why


def _rehash(cert):
    cert["network_sha256"] = hashlib.sha256(canonical_json(cert["network"]).encode()).hexdigest()
    return cert


def test_tampered_certificates_are_rejected():
    _, _, cert, _ = certified("product")
    c1 = copy.deepcopy(cert)
    c1["claim"]["upper"] = cert["cover"][0]["bounds"][0] / 4
    c1["claim"]["lower"] = min(c1["claim"]["lower"], c1["claim"]["upper"])
    assert not check_certificate(c1, backend="flint")[0]
    c2 = copy.deepcopy(cert)
    heads = c2["network"]["layers"][2]["heads"]
    heads[3]["W_O"] = [[v * 3 for v in row] for row in heads[3]["W_O"]]
    assert not check_certificate(c2, backend="flint")[0]  # the hash no longer matches
    _rehash(c2)
    assert not conformance(c2)[0]
    c3 = copy.deepcopy(cert)
    c3["cover"][0]["tree"] = c3["cover"][0]["tree"][:-1]
    assert not check_certificate(c3, backend="flint")[0]
    c4 = copy.deepcopy(cert)
    c4["structure"]["outputs"][0]["layer2"][0]["beta"] = [12289.0]
    assert not check_certificate(c4, backend="flint")[0]


def test_false_claim_fails_with_counterexample(tmp_path, capsys):
    spec = spec_of("x*y", "xy", [0, 0], [1, 1], epsilon=0.001,
                   construction={"p": 5, "knot_error": 0.05})
    path = tmp_path / "s.json"
    path.write_text(json.dumps(spec))
    assert main(["certify", str(path)]) == 1
    assert "counterexample" in capsys.readouterr().out


@pytest.mark.parametrize("spec", [
    spec_of("sin(sin(x*y)*x)", "xy", [0, 0], [1, 1], epsilon=0.1),
    spec_of("x/y", "xy", [1, 1], [2, 2], epsilon=0.1),
    spec_of("x*y", "xy", [0, 0], [1, 1], epsilon=0.1, construction={"p": 6}),
    spec_of("x*y", "xy", [0, 0], [1, 1], epsilon=0.1, construction={"beta": 6}),
    spec_of("x*y", "xy", [0, 0], [1, 1]),
])
def test_bad_specs_exit_2_with_one_line(spec, tmp_path, capfd):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(spec))
    assert main(["certify", str(path)]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]


def test_cli_certify_and_check(tmp_path, capsys):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(SPECS["sin3x"]))
    out = tmp_path / "c.json"
    assert main(["certify", str(path), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "certified (uap-two-layer, prove)" in text and "a-priori bound" in text
    assert main(["check", str(out), "--backend", "flint"]) == 0
    assert "conformance: verified" in capsys.readouterr().out


# -- obligations can fail ---------------------------------------------------------------------

def _fails(obligation):
    return obligation.discharge().status == "failed"


def test_obligations_hold_and_mutations_fail():
    for o in (ob.ramp_score_obligation(), ob.product_obligation(), ob.max_min_obligation(),
              ob.relu_knots_obligation(), ob.interpolant_slope_obligation(),
              ob.exact_anchors_obligation()):
        assert isinstance(o.payload, Identity)
        assert o.discharge().status == "proved-symbolic", o.id
    assert _fails(ob.ramp_score_obligation(lambda s, L: s**2 - (s + L) ** 2))
    assert _fails(ob.product_obligation(Fraction(1, 2)))
    assert _fails(ob.max_min_obligation(-1))
    assert _fails(ob.exact_anchors_obligation(27))
