"""Theorem T2 (multi-head, token-wise affine map), the ReLU family and ``attncert sweep``.

* The rate table: certified sup errors (measure, tol 1%) for n in {4, 16, 64} and H in
  {1, 2, 4, 8, 16}; each is below our proved (H-independent) a-priori bound, and the
  certified numbers show the O(1/(n H)) rate: ``U (n - 1) H / (b - a)`` is the same
  constant (0.0795 within 1%) in every cell.
* Soundness: certified U >= 30-digit mpmath errors at sampled points; the witness error
  >= L.
* Named targets (relu, hard-tanh, hard-sigmoid, clip, leaky-relu) over domains that reach
  the flat parts, checked against the named function itself, not against Range.
* PyTorch's own multi-head attention gives our float64 outputs to 1e-9 relative.
* Sweep certificates pass the independent checker with both backends.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from conftest import ErrorReference

from certify import engine
from certify.check.schema import parse_certificate
from certify.cli import main
from certify.errors import InputError
from certify.network import AttentionNet, canonical_json
from certify.pipeline import build, certify
from certify.reference import MpReference
from certify.spec import latent_bounds, parse_spec, truncated_linear_terms
from certify.sweep import parse_vary, run_sweep
from theorems import multi_head
from theorems.constructions import module_for


def t2_spec(n=16, H=4, kappa=3.0, kind="truncated-linear", a=-1.0, b=1.0, w=(1.0,), t=0.0,
            lo=-1.5, hi=1.5, tol=0.01, beta=None, **fields):
    target = {"kind": kind, "w": list(w), "t": t, **fields}
    if kind in ("truncated-linear", "clip"):
        target.update(a=a, b=b)
    construction = {"heads": H, "beta": beta} if beta is not None else {"heads": H,
                                                                        "kappa": kappa}
    return {"theorem": "multi-head", "tokens": n, "target": target,
            "domain": {"lo": lo, "hi": hi}, "construction": construction, "mode": "measure",
            "tol": tol}


def _certify(obj):
    spec = parse_spec(obj)
    result, cert = certify(spec, None, 1)
    assert result.holds and cert is not None, result.message
    return spec, result, cert


# -- construction --------------------------------------------------------------------------

@pytest.mark.parametrize("H", [1, 2, 3, 4, 7, 16])
def test_phases_are_the_centred_fractions_h_over_H(H):
    ph = multi_head.phases(H)
    assert len(ph) == H and all(abs(p) < Fraction(1, 2) for p in ph)
    assert sorted(ph) == ph and all(ph[i] == -ph[H - 1 - i] for i in range(H))
    assert all(ph[h + 1] - ph[h] == Fraction(1, H) for h in range(H - 1))


def test_network_is_a_real_multi_head_layer():
    n, H, a, b = 8, 4, -1.0, 2.0
    built = multi_head.construct(a, b, np.array([0.5, -2.0]), 0.25, n, H, kappa=3.0)
    aff, att, sel = built.net.layers
    assert type(aff).__name__ == "TokenAffine" and len(att.heads) == H
    assert sel.columns == tuple(range(n))
    delta = (Fraction(b) - Fraction(a)) / (n - 1)
    G = H
    V = aff.bias[2 + 2 * G]
    assert V[0] == a and V[-1] == b  # both end points in every head's values
    assert np.array_equal(aff.weight[0], [0.5, -2.0]) and np.all(aff.weight[1:] == 0)
    assert np.all(aff.bias[0] == 0.25) and np.all(aff.bias[1] == 1.0)
    beta = built.betas[0]
    assert beta == 3.0 * H / float(delta) ** 2
    for h, (head, phi) in enumerate(zip(att.heads, multi_head.phases(H))):
        K = aff.bias[2 + 2 * h]
        assert K.tolist() == [float(Fraction(a) + (k + phi) * delta) for k in range(n)]
        assert np.array_equal(aff.bias[3 + 2 * h], [float(Fraction(float(k)) ** 2) for k in K])
        # per-head projections: query (y, 1), key beta (2K, -K^2), value V, W_O = 1/H
        Z = aff.bias.copy()
        assert np.array_equal(head.W_Q @ Z, np.vstack([aff.bias[0], np.ones(n)]))
        assert np.array_equal(head.W_K @ Z, np.vstack([2 * beta * K, -beta * aff.bias[3 + 2 * h]]))
        assert np.array_equal(head.W_V @ Z, V[None, :])
        assert head.W_O.tolist() == [[0.25]]
    # distinct heads really differ (keys), and the network survives a JSON round trip
    assert not np.array_equal(aff.bias[2], aff.bias[4])
    assert AttentionNet.from_json_obj(json.loads(built.net.to_json())).to_json() == \
        built.net.to_json()


def test_hardmax_limit_is_the_fine_staircase():
    """Huge beta: the average of H phase-shifted staircases is the step-Delta/H staircase."""
    n, H = 5, 4
    built = multi_head.construct(-1.0, 1.0, np.array([1.0]), 0.0, n, H, beta=1e7)
    ys = np.linspace(-1.6, 1.6, 4001)
    ys = ys[np.abs(((ys + 1) * (n - 1) * H / 2) % 1 - 0.5) > 1e-2]  # away from the jumps
    out = built.net.evaluate_float(np.tile(ys[:, None, None], (1, 1, n)))[:, 0, 0]
    step = 2 / ((n - 1) * H)
    fine = np.clip(-1 + step * np.round((ys + 1) / step), -1, 1)
    assert np.max(np.abs(out - fine)) < 1e-9
    assert np.max(np.abs(out - np.clip(ys, -1, 1))) <= step / 2 + 1e-9


# -- spec parsing --------------------------------------------------------------------------

BAD_T2 = {
    "missing tokens": (lambda o: o.pop("tokens"), "tokens"),
    "tokens < 2": (lambda o: o.update(tokens=1), "tokens must be >= 2"),
    "tokens not integer": (lambda o: o.update(tokens=4.0), "tokens must be an integer"),
    "tokens disagree": (lambda o: o["target"].update(tokens=5), "differ"),
    "heads 0": (lambda o: o["construction"].update(heads=0), "heads must be >= 1"),
    "heads not integer": (lambda o: o["construction"].update(heads=2.5), "integer"),
    "heads bool": (lambda o: o["construction"].update(heads=True), "integer"),
    "missing heads": (lambda o: o["construction"].pop("heads"), "construction.heads"),
    "kappa and beta": (lambda o: o["construction"].update(beta=2.0), "exactly one"),
    "beta <= 0": (lambda o: o.update(construction={"heads": 2, "beta": 0.0}), "> 0"),
    "w per token": (lambda o: o["target"].update(w=[[1.0], [2.0]]), "one non-empty vector"),
    "t a list": (lambda o: o["target"].update(t=[0.0, 1.0]), "target.t"),
    "NaN in w": (lambda o: o["target"].update(w=[float("nan")]), "NaN"),
    "a >= b": (lambda o: o["target"].update(a=1.0, b=1.0), "a < b"),
    "domain shape": (lambda o: o["domain"].update(lo=[[0.0]] * 3), "domain.lo"),
    "empty domain": (lambda o: o["domain"].update(lo=2.0), "empty"),
    "unknown kind": (lambda o: o["target"].update(kind="gelu"), "unknown target kind"),
    "too large": (lambda o: o["construction"].update(heads=1024) or o.update(tokens=4096),
                  "too large"),
}


@pytest.mark.parametrize("name", sorted(BAD_T2))
def test_bad_multi_head_specs_raise_one_clear_line(name, tmp_path, capsys):
    mutate, words = BAD_T2[name]
    obj = t2_spec(n=4, H=2)
    mutate(obj)
    with pytest.raises(InputError, match=words):
        parse_spec(obj)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(obj))
    code = main(["certify", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("kind,extra", [
    ("truncated-linear", {}), ("clip", {}), ("hard-tanh", {}), ("hard-sigmoid", {}),
    ("relu", {}), ("leaky-relu", {"alpha": 0.01}), ("relu", {"R": 4.0}),
])
@pytest.mark.parametrize("theorem", ["multi-head", "single-head"])
def test_normal_form_parses_to_itself(kind, extra, theorem):
    if theorem == "multi-head":
        obj = t2_spec(n=4, H=2, kind=kind, w=[[0.5, -1.0]], t=0.25, **extra)
    else:
        obj = {"theorem": "single-head", "target": {"kind": kind, "w": [[0.5, -1.0]] * 3,
                                                    "t": [0.25, 0.0, -0.5], **extra},
               "domain": {"lo": -1.5, "hi": 1.5}, "construction": {"p": 8, "kappa": 3.0}}
        if kind in ("truncated-linear", "clip"):
            obj["target"].update(a=-1.0, b=1.0)
    if theorem == "single-head" and kind == "leaky-relu":
        with pytest.raises(InputError, match="use theorem multi-head"):
            parse_spec(obj)
        return
    spec = parse_spec(obj)
    again = parse_spec({**obj, "target": json.loads(json.dumps(spec.target)),
                        "construction": json.loads(json.dumps(spec.construction))})
    assert again.target == spec.target and again.construction == spec.construction
    if theorem == "multi-head":
        assert spec.target["tokens"] == 4 and spec.target["w"] == [0.5, -1.0]


def test_relu_range_end_is_rigorous_and_checked():
    # y = 0.1 x1 + 0.2 x2 on [-1, 1]^2: the exact max is fl(0.1) + fl(0.2), not 0.3.
    obj = t2_spec(n=3, H=1, kind="relu", w=[0.1, 0.2], t=0.0, lo=-1.0, hi=1.0)
    spec = parse_spec(obj)
    exact = Fraction(0.1) + Fraction(0.2)
    R = spec.target["R"]
    assert Fraction(R) >= exact and Fraction(np.nextafter(R, -np.inf)) < exact
    assert spec.target["a"] == 0.0 and spec.target["b"] == R
    with pytest.raises(InputError, match="does not cover the largest y"):
        parse_spec(t2_spec(n=3, H=1, kind="relu", w=[0.1, 0.2], lo=-1.0, hi=1.0, R=0.3))
    obj["target"]["a"] = -1.0
    with pytest.raises(InputError, match="must be 0.0"):
        parse_spec(obj)
    # ReLU vanishing on the whole domain: R = 1 by convention
    assert parse_spec(t2_spec(n=3, H=1, kind="relu", lo=-2.0, hi=-1.0)).target["R"] == 1.0
    with pytest.raises(InputError, match="alpha must be != 0"):
        parse_spec(t2_spec(n=3, H=1, kind="leaky-relu", alpha=0.0))


def test_leaky_terms_use_the_exact_binary64_alpha():
    spec = parse_spec(t2_spec(n=4, H=3, kind="leaky-relu", alpha=0.01, lo=-2.0, hi=1.0))
    terms = truncated_linear_terms(spec.target)
    assert terms[0] == (1, 1, 0.0, 1.0) and terms[1][2:] == (-2.0, 0.0)
    assert Fraction(terms[1][0], terms[1][1]) == Fraction(0.01) != Fraction(1, 100)
    per_head = multi_head.target_terms(spec.target, 6)
    assert per_head[:3] == [(1, 3, 0.0, 1.0)] * 3
    assert all(Fraction(x[0], x[1]) == Fraction(0.01) / 3 for x in per_head[3:])


# -- the rate table ------------------------------------------------------------------------

RATE_C = 0.0795  # certified U (n - 1) H / (b - a) at kappa = 3, within 1% in every cell


@pytest.mark.parametrize("n", [4, 16, 64])
@pytest.mark.parametrize("H", [1, 2, 4, 8, 16])
def test_certified_rate_table(n, H):
    spec, result, cert = _certify(t2_spec(n=n, H=H, kappa=3.0, lo=-1.5, hi=1.5, tol=0.01))
    L, U = result.lower, result.upper
    assert U <= 1.01 * L
    # Our proved bound (H-independent, O(Delta)) holds for the stored network:
    proved = multi_head.a_priori_bound(build(spec), spec.lo, spec.hi)
    assert U <= proved["bound"]
    assert proved["bound_times_nH"] >= H / 2  # Delta (c + mean |phi|) >= Delta/2: no 1/H
    # The rate, from certified numbers only: U (n - 1) H / (b - a) is one constant.
    scaled_U, scaled_L = U * (n - 1) * H / 2, L * (n - 1) * H / 2
    assert scaled_U <= RATE_C * 1.01 and scaled_L >= RATE_C * 0.985
    assert U * n * H <= 0.22  # bounded across the table (0.161 .. 0.212)
    # The cover spans the whole latent range of every token, flat parts included.
    for e in parse_certificate(cert).cover:  # entries written ``same_as`` expanded
        assert e.y_lo <= -1.5 and e.y_hi >= 1.5


def test_fixed_beta_loses_the_rate():
    """beta independent of H (kappa 3 at H = 1): the error stops decreasing with H."""
    uppers = []
    for H in (1, 4):
        delta = 2 / 15
        _, result, _ = _certify(t2_spec(n=16, H=H, beta=3.0 / delta**2, tol=0.05))
        uppers.append(result.upper)
    assert uppers[1] > 0.25 * uppers[0]


def test_identical_tokens_share_one_search_and_give_the_same_certificate(monkeypatch):
    spec = parse_spec(t2_spec(n=6, H=3, w=[1.0, 0.5], lo=-1.0, hi=1.0))
    _, fast = certify(spec, None, 1)
    counter = iter(range(10**6))
    monkeypatch.setattr(engine, "_signature", lambda out: str(next(counter)).encode())
    _, slow = certify(spec, None, 1)
    assert canonical_json(fast) == canonical_json(slow)
    # One cover is stored; the other five tokens point at it.
    assert len(fast["cover"]) == 6 and "tree" in fast["cover"][0]
    assert [e.get("same_as") for e in fast["cover"]] == [None, 0, 0, 0, 0, 0]
    assert len({e.tree for e in parse_certificate(fast).cover}) == 1


# -- soundness against 30-digit mpmath -----------------------------------------------------

@pytest.mark.parametrize("n,H,kappa", [(3, 3, 3.0), (4, 2, 1.0), (5, 4, 30.0)])
def test_certified_upper_dominates_mpmath_errors(n, H, kappa):
    obj = t2_spec(n=n, H=H, kappa=kappa, a=-0.5, b=1.0, w=[0.75, -0.5], t=0.125,
                  lo=[[-1.0, -1.0]] * n, hi=[[1.0, 1.5]] * n)
    spec, result, cert = _certify(obj)
    built = build(spec)
    w, t = multi_head.token_affine_targets(spec.target)
    ref = ErrorReference(built.net, -0.5, 1.0, w, t)
    rng = np.random.default_rng(n * 10 + H)
    worst = mpmath.mpf(0)
    for _ in range(60):
        X = rng.uniform(spec.lo, spec.hi)
        worst = max(worst, max(abs(e) for e in ref.errors(X)))
    # and at points whose latent sits exactly on the value grid's ends and near anchors
    for y in (-0.5, 1.0, 0.0, -1.375, 1.75):
        X = np.tile(np.array([[y / 0.75 - 0.125 / 0.75], [0.0]]), (1, n))
        if np.all((spec.lo <= X) & (X <= spec.hi)):
            worst = max(worst, max(abs(e) for e in ref.errors(X)))
    assert worst <= mpmath.mpf(result.upper)
    witness = np.array(cert["witness"]["x"]).T
    e_w = abs(ref.errors(witness)[cert["witness"]["token"]])
    assert mpmath.mpf(result.lower) <= e_w
    assert worst >= mpmath.mpf(result.lower) * 0.5  # sampling sees the same scale


# -- named targets -------------------------------------------------------------------------

def _named_mp(kind, y, target):
    """The named function itself, in mpmath (not via Range)."""
    zero, one = mpmath.mpf(0), mpmath.mpf(1)
    if kind == "relu":
        return max(y, zero)
    if kind == "leaky-relu":
        return max(y, zero) + mpmath.mpf(target["alpha"]) * min(y, zero)
    if kind == "hard-tanh":
        return min(max(y, -one), one)
    if kind == "hard-sigmoid":
        return min(max(y, zero), one)
    return min(max(y, mpmath.mpf(target["a"])), mpmath.mpf(target["b"]))


NAMED = [
    ("multi-head", "relu", {}, -2.0, 1.5),
    ("multi-head", "leaky-relu", {"alpha": 0.1}, -1.5, 1.0),
    ("multi-head", "leaky-relu", {"alpha": -1.0}, -1.0, 1.0),  # |y|
    ("multi-head", "hard-tanh", {}, -2.0, 2.0),
    ("multi-head", "hard-sigmoid", {}, -0.5, 1.5),
    ("multi-head", "clip", {"a": -0.25, "b": 0.5}, -1.0, 1.0),
    ("single-head", "relu", {}, -2.0, 1.5),
    ("single-head", "hard-tanh", {}, -2.0, 2.0),
]


@pytest.mark.parametrize("theorem,kind,extra,lo,hi", NAMED)
def test_named_targets_are_certified_over_the_whole_domain(theorem, kind, extra, lo, hi):
    if theorem == "multi-head":
        obj = t2_spec(n=6, H=2, kind=kind, lo=lo, hi=hi, **extra)
        n = 6
    else:
        obj = {"theorem": "single-head", "target": {"kind": kind, "w": [[1.0], [1.0]],
                                                    "t": [0.0, 0.0], **extra},
               "domain": {"lo": lo, "hi": hi}, "construction": {"p": 8, "kappa": 3.0},
               "tol": 0.01}
        n = 2
    spec, result, cert = _certify(obj)
    assert result.upper <= 1.01 * result.lower
    # the cover spans the exact latent range of the whole domain, flat parts included
    ymin, ymax = latent_bounds(*module_for(theorem).token_affine_targets(spec.target),
                               spec.lo, spec.hi)
    for e in parse_certificate(cert).cover:
        assert Fraction(e.y_lo) <= ymin and ymax <= Fraction(e.y_hi)
    terms = truncated_linear_terms(spec.target)
    assert ymin < min(a for _, _, a, _ in terms) or kind == "leaky-relu"
    # 30-digit errors against the named function, on both flat parts and the kink(s)
    ref = MpReference(build(spec).net, 30, cutoff=200)
    ys = np.concatenate([np.linspace(lo, hi, 41), [0.0, -1.0, 1.0, lo, hi]])
    ys = ys[(ys >= lo) & (ys <= hi)]
    worst = mpmath.mpf(0)
    with mpmath.workdps(30):
        for i in range(0, len(ys), n):
            chunk = ys[i:i + n]
            chunk = np.concatenate([chunk, np.full(n - len(chunk), lo)])
            out = ref.output(chunk[None, :])[0]
            for k in range(n):
                worst = max(worst, abs(out[k] - _named_mp(kind, mpmath.mpf(chunk[k]),
                                                          spec.target)))
    assert worst <= mpmath.mpf(result.upper)


def test_leaky_relu_sums_two_head_groups():
    spec, result, cert = _certify(t2_spec(n=8, H=2, kind="leaky-relu", alpha=0.25,
                                          lo=-1.0, hi=1.0))
    net = build(spec).net
    heads = net.layers[1].heads
    assert len(heads) == 4 and cert["parameters"]["total_heads"] == 4
    assert [h.W_O[0, 0] for h in heads] == [0.5, 0.5, 0.125, 0.125]
    assert cert["terms"] == [[1, 2, 0.0, 1.0]] * 2 + [[1, 8, -1.0, 0.0]] * 2
    ys = np.linspace(-1, 1, 17)
    out = net.evaluate_float(np.tile(ys[:, None, None], (1, 1, 8)))[:, 0, 0]
    assert np.max(np.abs(out - np.where(ys > 0, ys, 0.25 * ys))) <= result.upper


# -- PyTorch cross-check -------------------------------------------------------------------

def _torch_forward(torch, net, X):
    """``net`` through ``torch.nn.functional.multi_head_attention_forward`` (float64)."""
    aff, att, sel = net.layers
    G = len(att.heads)
    dz = aff.weight.shape[0]
    hd = 4  # head_dim >= 2 (queries and keys have 2 rows), a power of 4 so that
    while G * hd < dz:  # torch's 1/sqrt(head_dim) is an exact power of two
        hd *= 4
    E = G * hd
    Xt = torch.tensor(X, dtype=torch.float64)
    Z = torch.einsum("oi,Nin->Non", torch.tensor(aff.weight), Xt) + torch.tensor(aff.bias)
    Z = torch.nn.functional.pad(Z, (0, 0, 0, E - dz))  # (N, E, n), zero rows
    W_in = torch.zeros(3 * E, E, dtype=torch.float64)
    W_out = torch.zeros(E, E, dtype=torch.float64)
    scale = math.sqrt(hd)  # exact: hd is a power of 4
    for g, h in enumerate(att.heads):
        q, k, v = h.W_Q.shape[0], h.W_K.shape[0], h.W_V.shape[0]
        W_in[g * hd:g * hd + q, :dz] = torch.tensor(h.W_Q) * scale
        W_in[E + g * hd:E + g * hd + k, :dz] = torch.tensor(h.W_K)
        W_in[2 * E + g * hd:2 * E + g * hd + v, :dz] = torch.tensor(h.W_V)
        W_out[:h.W_O.shape[0], g * hd:g * hd + h.W_O.shape[1]] = torch.tensor(h.W_O)
    seq = Z.permute(2, 0, 1)  # (n, N, E)
    out, _ = torch.nn.functional.multi_head_attention_forward(
        seq, seq, seq, E, G, W_in, torch.zeros(3 * E, dtype=torch.float64), None, None,
        False, 0.0, W_out, torch.zeros(E, dtype=torch.float64), training=False,
        need_weights=False)
    d_out = att.heads[0].W_O.shape[0]
    return out.permute(1, 2, 0)[:, :d_out, list(sel.columns)].numpy()


@pytest.mark.parametrize("n,H,kind,extra", [(8, 4, "truncated-linear", {}),
                                            (5, 3, "leaky-relu", {"alpha": 0.3}),
                                            (16, 1, "hard-tanh", {})])
def test_pytorch_multi_head_attention_gives_the_same_outputs(n, H, kind, extra):
    torch = pytest.importorskip("torch")
    spec = parse_spec(t2_spec(n=n, H=H, kind=kind, w=[0.7, -0.3], t=0.1, lo=-2.0, hi=2.0,
                              **extra))
    net = build(spec).net
    X = np.random.default_rng(n + H).uniform(-2.0, 2.0, (64, 2, n))
    ours = net.evaluate_float(X)
    theirs = _torch_forward(torch, net, X)
    assert ours.shape == theirs.shape == (64, 1, n)
    scale = np.max(np.abs(ours))
    np.testing.assert_allclose(theirs, ours, rtol=1e-9, atol=1e-12 * scale)
    assert np.max(np.abs(ours)) > 0.1  # not a vacuous comparison


# -- sweep and the checker -----------------------------------------------------------------

def test_every_sweep_certificate_passes_the_checker(tmp_path):
    from certify.check import check_file  # a missing checker fails this test, never skips

    obj = t2_spec(n=4, H=1, tol=0.02)
    rows = run_sweep(obj, parse_vary(["heads=1,2", "tokens=2,4"]), str(tmp_path), stem="t2")
    leaky = run_sweep(t2_spec(n=3, H=1, kind="leaky-relu", alpha=0.5, lo=-1.0, hi=1.0),
                      parse_vary(["heads=2"]), str(tmp_path), stem="leaky")
    assert len(rows) == 4 and all(r["holds"] for r in rows + leaky)
    for row in rows + leaky:
        ok, reason, _ = check_file(row["certificate"], backend="both")
        assert ok, reason
    # the checker is not vacuous here: a wrong claim is rejected
    cert = json.loads(open(rows[-1]["certificate"]).read())
    cert["claim"]["upper"] = cert["claim"]["lower"] = cert["claim"]["lower"] * 0.5
    cert["witness"]["error_lower"] = cert["claim"]["lower"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(cert))
    ok, reason, _ = check_file(str(bad), backend="both")
    assert not ok and "claim.upper" in reason


def test_sweep_command_table_json_and_no_overwrite(tmp_path, capsys):
    spec = tmp_path / "t2.json"
    spec.write_text(json.dumps(t2_spec(n=4, H=1, tol=0.02)))
    out_dir = tmp_path / "certs"
    argv = ["sweep", str(spec), "--vary", "heads=1,2", "--vary", "tokens=3,4",
            "--out-dir", str(out_dir)]
    assert main(argv) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].split()[:3] == ["heads", "tokens", "L"] and len(text) == 5
    files = sorted(p.name for p in out_dir.iterdir())
    assert files == ["t2-heads1-tokens3.json", "t2-heads1-tokens4.json",
                     "t2-heads2-tokens3.json", "t2-heads2-tokens4.json"]
    before = (out_dir / files[0]).read_text()
    assert main(argv + ["--json"]) == 2  # refuses to overwrite, before running anything
    out, err = capsys.readouterr()
    doc = json.loads(out)  # with --json the error is also a JSON object (docs/cli.md)
    assert doc["error"] == "input" and doc["exit_code"] == 2
    assert "exists; pass --force" in err and err.count("\n") == 1
    (out_dir / files[0]).write_text("old")
    assert main(argv + ["--json", "--force"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["config"] for r in rows] == [{"heads": 1, "tokens": 3}, {"heads": 1, "tokens": 4},
                                           {"heads": 2, "tokens": 3}, {"heads": 2, "tokens": 4}]
    assert all(r["holds"] and r["upper"] <= 1.02 * r["lower"] for r in rows)
    assert all(r["UnH"] == r["upper"] * r["n"] * r["H"] for r in rows)
    assert (out_dir / files[0]).read_text() == before  # deterministic certificates


@pytest.mark.parametrize("vary,words", [
    (["heads"], "expected KEY=V1,V2"), (["depth=1,2"], "unknown key"),
    (["heads=1,x"], "not an integer"), (["heads=1", "heads=2"], "given twice"),
    (["kappa=nan"], "not finite"), (["heads="], "no values"), (["heads=0"], "heads"),
])
def test_sweep_bad_vary_is_one_line(vary, words, tmp_path, capsys):
    spec = tmp_path / "t2.json"
    spec.write_text(json.dumps(t2_spec(n=4, H=1)))
    argv = ["sweep", str(spec)]
    for v in vary:
        argv += ["--vary", v]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert words in err and err.count("\n") == 1


def test_sweep_refuses_tokens_with_a_per_token_domain():
    obj = t2_spec(n=2, H=1, lo=[[-1.0], [-1.0]], hi=[[1.0], [1.0]])
    with pytest.raises(InputError, match="per token"):
        run_sweep(obj, parse_vary(["tokens=2,3"]))
