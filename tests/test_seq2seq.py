"""Theorem ``seq2seq``: targets, the token-wise construction, certificates, obligations.

* Targets: the sequence format parses to its normal form; bad targets exit 2 with one line.
* The construction uses token-wise maps only, and its a-priori bound is >= the 30-digit
  error of the network (evaluated layer by layer in mpmath, every token) at random inputs.
* Certificates: certified ``U`` >= the mpmath error at random inputs and the witness error
  >= ``L``; both checker backends accept; tampered certificates and a sequence-wise first
  layer are rejected; a false claim ends with a counterexample.
* Obligations: each holds, and a mutation of each fails.
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import cache

import mpmath
import numpy as np
import pytest

from certify.check.verify import check_certificate
from certify.cli import main
from certify.errors import InputError
from certify.expression import MpOps, evaluate
from certify.network import Attention, AttentionNet, SequenceAffine, TokenAffine, canonical_json
from certify.pipeline import certify_seq2seq
from certify.seq_targets import parse_seq_domain, parse_seq_target
from certify.spec import parse_spec
from theorems import seq2seq_obligations as ob
from theorems.seq2seq import conformance, resolve

DPS = 30


def seq_spec(outputs, tokens, dim=1, lo=0, hi=1, **extra):
    s = {"theorem": "seq2seq",
         "target": {"kind": "expression", "tokens": tokens, "dim": dim, "outputs": outputs},
         "domain": {"lo": lo, "hi": hi}, "mode": "prove", "epsilon": 0.1}
    s.update(extra)
    return s


SPECS = {
    "sum_product": seq_spec([["x0_0 + x1_0"], ["x0_0 * x1_0"]], 2),
    "running_max": seq_spec([["x0_0"], ["max(x0_0, x1_0)"], ["max(x0_0, x1_0, x2_0)"]], 3),
    "mixed": seq_spec([["sin(x0_0 - x1_0)", "min(x0_0, x1_0)"],
                       ["x1_0 - x0_0", "exp(x0_0) / 2"]], 2, lo=[[-1], [0]], hi=[[1], [1]],
                      epsilon=0.15),
}


@cache
def _certified(name):
    spec = parse_spec(SPECS[name])
    result, cert, built = certify_seq2seq(spec)
    return spec, result, None if cert is None else json.dumps(cert), built


def certified(name):
    spec, result, text, built = _certified(name)
    return spec, result, None if text is None else json.loads(text), built


# -- an mpmath evaluation of the layers, every token ------------------------------------------

def mp_network(net: AttentionNet, x: list[float]) -> list[list[mpmath.mpf]]:
    """``Y[k][o]``: output entry o of token k at the flat input x, 30 digits."""
    d, n = net.input_shape
    with mpmath.workdps(DPS):
        first = net.layers[0]
        assert isinstance(first, TokenAffine)
        dz = first.weight.shape[0]
        X = [[mpmath.mpf(x[k * d + i]) for k in range(n)] for i in range(d)]
        Z = [[mpmath.mpf(float(first.bias[a, k])) + sum(
            mpmath.mpf(float(first.weight[a, i])) * X[i][k] for i in range(d)
            if first.weight[a, i] != 0) for k in range(n)] for a in range(dz)]
        for layer in net.layers[1:3]:
            assert isinstance(layer, Attention) and layer.residual
            out = [[mpmath.mpf(0)] * n for _ in range(dz)]
            for h in layer.heads:
                def mat(W, Z=Z):
                    return [[sum(mpmath.mpf(float(W[r, a])) * Z[a][j] for a in range(dz)
                                 if W[r, a] != 0) for j in range(n)] for r in range(W.shape[0])]
                Q, K, V = mat(h.W_Q), mat(h.W_K), mat(h.W_V)
                for q in range(n):
                    s = [sum(K[r][j] * Q[r][q] for r in range(len(K))) for j in range(n)]
                    top = max(s)
                    e = [mpmath.exp(v - top) for v in s]
                    tot = sum(e)
                    for o in range(dz):
                        wo = [float(h.W_O[o, v]) for v in range(len(V))]
                        if any(wo):
                            out[o][q] += sum(e[j] * sum(mpmath.mpf(wo[v]) * V[v][j]
                                                        for v in range(len(V)) if wo[v])
                                             for j in range(n)) / tot
            Z = [[Z[a][j] + out[a][j] for j in range(n)] for a in range(dz)]
        cols = list(net.layers[3].columns)
        W, b = net.layers[4].weight, net.layers[4].bias
        return [[sum(mpmath.mpf(float(W[o, a])) * Z[a][col] for a in range(dz) if W[o, a])
                 + mpmath.mpf(float(b[o, kk])) for o in range(W.shape[0])]
                for kk, col in enumerate(cols)]


def mp_targets(spec, x) -> list[list[mpmath.mpf]]:
    ops = MpOps(DPS)
    xs = [ops.ctx.mpf(v) for v in x]
    return [[evaluate(e, xs, ops) for e in row] for row in spec.parsed_target.exprs]


def worst_error(net, spec, pts) -> mpmath.mpf:
    worst = mpmath.mpf(0)
    for x in pts:
        Y, F = mp_network(net, list(x)), mp_targets(spec, list(x))
        worst = max([worst] + [abs(y - f) for ry, rf in zip(Y, F) for y, f in zip(ry, rf)])
    return worst


# -- targets ------------------------------------------------------------------------------------

def test_target_normal_form_and_domain():
    t = SPECS["mixed"]["target"]
    st = parse_seq_target(t)
    assert parse_seq_target(st.normal).normal == st.normal == t
    assert st.tokens == 2 and st.dim == 1 and st.d_out == 2 and st.variables == 2
    lo, hi = parse_seq_domain({"lo": [[-1], [0]], "hi": 1}, st)
    assert lo == [-1.0, 0.0] and hi == [1.0, 1.0]


@pytest.mark.parametrize("target, domain, words", [
    ({"kind": "expression", "tokens": 1, "dim": 1, "outputs": [["x0_0"]]}, None, "2 tokens"),
    ({"kind": "expression", "tokens": 2, "dim": 2, "outputs": [["x0_0"], ["x1_1"]]}, None,
     "at most 3"),
    ({"kind": "expression", "tokens": 2, "dim": 1, "outputs": [["x0_0"], ["y"]]}, None, "y"),
    ({"kind": "expression", "tokens": 2, "dim": 1, "outputs": [["x0_0"], ["x0_0", "1"]]},
     None, "same number"),
    ({"kind": "expression", "tokens": True, "dim": 1, "outputs": [["x0_0"], ["1"]]}, None,
     "integer"),
    ({"kind": "expression", "tokens": 2, "dim": 1, "outputs": [["x0_0"], ["x1_0"]],
      "extra": 1}, None, "unknown field"),
    ({"kind": "expression", "tokens": 2, "dim": 1, "outputs": [["x0_0"], ["x1_0"]]},
     {"lo": [[0], [0, 1]], "hi": 1}, "per token"),
    ({"kind": "expression", "tokens": 2, "dim": 1, "outputs": [["x0_0"], ["x1_0"]]},
     {"lo": 1, "hi": 0}, "lo < hi"),
])
def test_bad_targets_are_refused(target, domain, words):
    with pytest.raises(InputError, match=words):
        st = parse_seq_target(target)
        parse_seq_domain(domain, st)


@pytest.mark.parametrize("outputs", [
    [["sin(x0_0 * x1_0)"], ["x0_0"]],          # a function of a product: three levels
    [["x0_0 / x1_0"], ["x0_0"]],               # a quotient of variables
    [["max(x0_0 * x1_0, x0_0)"], ["x0_0"]],   # max of a term that needs layer 2
])
def test_targets_needing_more_layers_exit_2(outputs, tmp_path, capfd):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(seq_spec(outputs, 2, lo=1, hi=2)))
    assert main(["certify", str(path)]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]


# -- the construction ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SPECS))
def test_construction_is_token_wise_and_within_its_bound(name):
    spec = parse_spec(SPECS[name])
    built = resolve(spec.parsed_target, list(spec.lo[:, 0]), list(spec.hi[:, 0]),
                    spec.construction, spec.epsilon)
    net = built.net
    assert isinstance(net.layers[0], TokenAffine) and isinstance(net.layers[4], TokenAffine)
    assert not np.any(net.layers[4].bias)  # per-token constants come from the positions
    rng = np.random.default_rng(5)
    pts = rng.uniform(spec.lo[:, 0], spec.hi[:, 0], size=(25, spec.lo.shape[0]))
    assert worst_error(net, spec, pts) <= built.bound["bound"] <= spec.epsilon


def test_resources_grow_with_tokens():
    heads = []
    for n in (2, 3):
        outs = [["x0_0 * x1_0"]] + [[f"x{k}_0"] for k in range(1, n)]
        st = parse_seq_target({"kind": "expression", "tokens": n, "dim": 1, "outputs": outs})
        built = resolve(st, [0.0] * n, [1.0] * n, {}, 0.1)
        heads.append(built.resources["heads_layer1"])
        assert built.resources["gather_heads"] == n
    assert heads[1] == heads[0] + 1


# -- certificates -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sum_product", "running_max", "mixed"])
def test_certificate_sound_and_checked(name):
    spec, result, cert, built = certified(name)
    assert result.holds and cert is not None
    rng = np.random.default_rng(11)
    pts = rng.uniform(spec.lo[:, 0], spec.hi[:, 0], size=(30, spec.lo.shape[0]))
    assert worst_error(built.net, spec, pts) <= result.upper <= spec.epsilon
    x = cert["witness"]["x"]
    Y, F = mp_network(built.net, x), mp_targets(spec, x)
    k, o = cert["witness"]["token"], cert["witness"]["row"]
    assert abs(Y[k][o] - F[k][o]) >= result.lower
    ok, why = check_certificate(cert, backend="both")
    assert ok, why
    ok, why = conformance(cert)
    assert ok, why


def _rehash(cert):
    cert["network_sha256"] = hashlib.sha256(canonical_json(cert["network"]).encode()).hexdigest()
    return cert


def test_tampered_certificates_are_rejected():
    _, _, cert, built = certified("sum_product")
    c1 = copy.deepcopy(cert)
    c1["claim"]["upper"] = cert["claim"]["lower"] / 2
    c1["claim"]["lower"] = c1["claim"]["upper"]
    assert not check_certificate(c1, backend="flint")[0]
    c2 = copy.deepcopy(cert)
    heads = c2["network"]["layers"][2]["heads"]
    heads[3]["W_O"] = [[v * 3 for v in row] for row in heads[3]["W_O"]]
    _rehash(c2)
    assert not check_certificate(c2, backend="flint")[0]
    assert not conformance(c2)[0]
    c3 = copy.deepcopy(cert)
    c3["target"]["outputs"][1] = ["x0_0 * x1_0 + 0.2"]
    assert not check_certificate(c3, backend="flint")[0]
    # The same network with a sequence-wise first layer is refused as a seq2seq network.
    first = built.net.layers[0]
    dz, n = first.bias.shape
    weights = [(a, k, i, k, first.weight[a, i]) for a in range(dz) for i in range(1)
               for k in range(n) if first.weight[a, i]]
    bias = [(a, k, first.bias[a, k]) for a in range(dz) for k in range(n) if first.bias[a, k]]
    seqwise = SequenceAffine((dz, n), np.array(weights, float), np.array(bias, float))
    net = AttentionNet(built.net.input_shape, (seqwise,) + built.net.layers[1:])
    c4 = copy.deepcopy(cert)
    c4["network"] = net.to_json_obj()
    _rehash(c4)
    ok, why = check_certificate(c4, backend="flint")
    assert not ok and "token-affine" in why


def test_grid_hint_on_a_soft_extremum_head_is_refused():
    _, _, cert, _ = certified("running_max")
    c = copy.deepcopy(cert)
    n_gather = 3  # layer-1 heads: one gather head per token, then the soft-extremum head
    c["structure"]["outputs"][2]["layer1"][n_gather] = {"axes": [[0.0, 1.0]]}
    ok, why = check_certificate(c, backend="flint")
    assert not ok and "grid hint" in why


def test_false_claim_fails_with_counterexample(tmp_path, capsys):
    spec = seq_spec([["x0_0 + x1_0"], ["x0_0 * x1_0"]], 2, epsilon=0.002,
                    construction={"design_epsilon": 0.1})
    path = tmp_path / "s.json"
    path.write_text(json.dumps(spec))
    assert main(["certify", str(path)]) == 1
    assert "counterexample" in capsys.readouterr().out


def test_cli_certify_and_check(tmp_path, capsys):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(SPECS["running_max"]))
    out = tmp_path / "c.json"
    assert main(["certify", str(path), "--out", str(out)]) == 0
    assert "certified (seq2seq, prove)" in capsys.readouterr().out
    assert main(["check", str(out), "--backend", "flint"]) == 0
    assert "conformance: verified" in capsys.readouterr().out


# -- obligations can fail -----------------------------------------------------------------------

def test_obligations_hold_and_mutations_fail():
    for o in (ob.telescoping_obligation(), ob.sigmoid_tail_obligation(),
              ob.step_kernel_obligation(), ob.soft_max_obligation(), ob.gather_obligation()):
        assert o.discharge().status == "proved-symbolic", o.id
    for o in (ob.telescoping_obligation(1), ob.sigmoid_tail_obligation(1),
              ob.step_kernel_obligation(-1), ob.soft_max_obligation(2),
              ob.gather_obligation(2)):
        assert o.discharge().status == "failed", o.id
