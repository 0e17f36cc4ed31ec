"""PyTorch export (:mod:`certify.export_torch`, :mod:`certify.export_cli`).

* The module from :func:`to_torch` matches :meth:`AttentionNet.evaluate_float` to 1e-9 in
  the sense of :func:`rel_diff` on the networks of every construction (single-head,
  multi-head, uap interpolation in 1-D and 2-D, uap relu for an expression and a ReLU
  network) on random inputs from the construction's domain, and on hand-made networks
  (residual two-layer attention with heads of different sizes, RowSoftmax,
  SequenceAffine mixing tokens, random layer stacks).
* The saved ``torch.export`` file loads back with plain PyTorch (also in a fresh
  interpreter that cannot import attncert) and gives the same numbers.
* The ``export`` subcommand: success line, and one-line errors with exit code 2.

torch is installed wherever these tests run: nothing here is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from certify import export_cli, export_torch
from certify.cli import _Parser
from certify.errors import InputError
from certify.export_torch import check_shapes, evaluate, max_relative_difference, to_torch
from certify.network import (
    Attention,
    AttentionNet,
    Head,
    NetworkFormatError,
    RowSoftmax,
    SelectColumns,
    SequenceAffine,
    TokenAffine,
)
from certify.targets import parse_domain, parse_target
from theorems import multi_head, single_head, uap

TOL = 1e-9


def rel_diff(ref: np.ndarray, other: np.ndarray) -> float:
    """``max_i |ref_i - other_i| / max(1, |ref_i|)``: relative above 1, absolute below."""
    assert ref.shape == other.shape
    if ref.size == 0:
        return 0.0
    return float(np.max(np.abs(ref - other) / np.maximum(1.0, np.abs(ref))))


def assert_matches(net: AttentionNet, X: np.ndarray, module=None) -> np.ndarray:
    """The torch output of ``net`` on ``X`` agrees with evaluate_float to TOL."""
    ref = net.evaluate_float(X)
    got = evaluate(to_torch(net) if module is None else module, X)
    assert got.dtype == np.float64 and got.shape == ref.shape
    assert np.all(np.isfinite(ref))
    assert rel_diff(ref, got) <= TOL, rel_diff(ref, got)
    return ref


# -- networks ---------------------------------------------------------------------------

def _uap(target, lo, hi, construction):
    t = parse_target(target)
    lo_a, hi_a = parse_domain({"lo": lo, "hi": hi}, t.d)
    return uap.resolve(t, lo_a, hi_a, construction, None).net, lo_a[:, None], hi_a[:, None]


def _single_head():
    w = np.array([[1.0, 0.5], [0.25, -1.0], [2.0, 0.0]])
    lo, hi = np.full((2, 3), -1.5), np.full((2, 3), 1.5)
    net = single_head.construct(-1.0, 1.0, w, np.array([0.0, 0.1, -0.3]), lo, hi, 32,
                                kappa=3.0).net
    return net, lo, hi


def _multi_head():
    terms = [(1, 1, 0.0, 1.0), (1, 4, -1.0, 0.0)]  # leaky ReLU with alpha 1/4 on [-1, 1]
    net = multi_head.construct_terms(terms, np.array([0.7, -0.3]), 0.1, 8, 3, kappa=3.0).net
    return net, np.full((2, 8), -2.0), np.full((2, 8), 2.0)


def _seq2seq(outputs, n, eps):
    from certify.seq_targets import parse_seq_target
    from theorems.seq2seq import resolve

    st = parse_seq_target({"kind": "expression", "tokens": n, "dim": 1, "outputs": outputs})
    net = resolve(st, [0.0] * n, [1.0] * n, {}, eps).net
    return net, np.zeros((1, n)), np.ones((1, n))


RELU_NET = {"kind": "relu-network", "layers": [
    {"W": [[1.0, -0.5], [0.25, 1.0], [-1.0, 0.75], [0.5, 0.5]], "b": [0.1, -0.2, 0.3, -0.4]},
    {"W": [[1.0, -0.5, 0.75, -1.25]], "b": [0.05]}]}

CONSTRUCTIONS = {
    "single-head": _single_head,
    "multi-head": _multi_head,
    "uap-interpolation-sin3x": lambda: _uap(
        {"kind": "expression", "expr": "sin(3*x)", "variables": ["x"]}, -1, 1,
        {"route": "interpolation", "p": 24, "kappa": 3.0}),
    "uap-interpolation-gauss2d": lambda: _uap(
        {"kind": "expression", "expr": "exp(-(x**2 + y**2))", "variables": ["x", "y"]},
        [-1, -1], [1, 1], {"route": "interpolation", "p": [7, 7]}),
    "uap-relu-sin": lambda: _uap(
        {"kind": "expression", "expr": "sin(x)", "variables": ["x"]}, -3.0, 3.0,
        {"route": "relu", "knots": 8, "p": 33}),
    "uap-relu-network": lambda: _uap(RELU_NET, -1, 1, {"route": "relu", "p": 33}),
    "seq2seq-sum-product": lambda: _seq2seq([["x0_0 + x1_0"], ["x0_0 * x1_0"]], 2, 0.1),
    "seq2seq-running-max": lambda: _seq2seq(
        [["x0_0"], ["max(x0_0, x1_0)"], ["max(x0_0, x1_0, x2_0)"]], 3, 0.1),
}


def _rand(shape, rng, scale=1.0):
    return rng.uniform(-scale, scale, shape)


def residual_net() -> AttentionNet:
    """TokenAffine -> residual attention (2 heads, different sizes) -> residual attention
    -> RowSoftmax -> SelectColumns (repeats, reordered)."""
    rng = np.random.default_rng(1)
    d, n, dz = 3, 5, 4
    h1 = Head(_rand((2, dz), rng), _rand((2, dz), rng), _rand((3, dz), rng),
              _rand((dz, 3), rng))
    h2 = Head(_rand((1, dz), rng), _rand((1, dz), rng), _rand((2, dz), rng),
              _rand((dz, 2), rng))
    h3 = Head(_rand((3, dz), rng, 2.0), _rand((3, dz), rng, 2.0), _rand((1, dz), rng),
              _rand((dz, 1), rng))
    return AttentionNet((d, n), (TokenAffine(_rand((dz, d), rng), _rand((dz, n), rng)),
                                 Attention((h1, h2), residual=True),
                                 Attention((h3,), residual=True), RowSoftmax(),
                                 SelectColumns((4, 0, 0, 2))))


def fused_residual_net() -> AttentionNet:
    """Two residual attention layers, the second followed by SelectColumns (only those
    query columns are computed) and a token-affine read-out."""
    rng = np.random.default_rng(2)
    d, n = 2, 6
    heads = [Head(_rand((q, d), rng, 3.0), _rand((q, d), rng, 3.0), _rand((v, d), rng),
                  _rand((d, v), rng)) for q, v in ((1, 2), (3, 1), (2, 2))]
    return AttentionNet((d, n), (Attention(tuple(heads[:2]), residual=True),
                                 Attention(tuple(heads[2:]), residual=True),
                                 SelectColumns((5, 1, 5)),
                                 TokenAffine(_rand((1, d), rng), _rand((1, 3), rng))))


def sequence_affine_net() -> AttentionNet:
    """SequenceAffine mixing tokens and appending columns ->
    RowSoftmax -> TokenAffine -> attention (no selection: every query column)."""
    rng = np.random.default_rng(3)
    d, n, dz, m = 2, 3, 4, 5
    weights = [(i, j, a, b, float(rng.uniform(-2, 2)))
               for i in range(dz) for j in range(m) for a in range(d) for b in range(n)
               if rng.uniform() < 0.4]
    bias = [(i, j, float(rng.uniform(-1, 1))) for i in range(dz) for j in range(m)
            if rng.uniform() < 0.5]
    seq = SequenceAffine((dz, m), np.array(weights, float), np.array(bias, float))
    head = Head(_rand((2, 3), rng, 4.0), _rand((2, 3), rng, 4.0), _rand((2, 3), rng),
                _rand((2, 2), rng))
    return AttentionNet((d, n), (seq, RowSoftmax(),
                                 TokenAffine(_rand((3, dz), rng), _rand((3, m), rng)),
                                 Attention((head,))))


def random_net(seed: int) -> AttentionNet:
    """A random stack of 2 to 6 layers of every kind, shapes chaining."""
    rng = np.random.default_rng(100 + seed)
    input_shape = (int(rng.integers(1, 4)), int(rng.integers(1, 5)))
    d, n = input_shape
    layers = []
    for _ in range(int(rng.integers(2, 7))):
        kind = rng.choice(["seq", "tok", "att", "att", "soft", "sel"])
        if kind == "seq":
            dz, m = int(rng.integers(1, 5)), int(rng.integers(1, 6))
            # distinct indices: the engine and the export refuse repeated entries
            wi = {(rng.integers(dz), rng.integers(m), rng.integers(d), rng.integers(n))
                  for _ in range(int(rng.integers(0, 12)))}
            bi = {(rng.integers(dz), rng.integers(m)) for _ in range(3)}
            w = [(*k, rng.uniform(-2, 2)) for k in sorted(wi)]
            b = [(*k, rng.uniform(-1, 1)) for k in sorted(bi)]
            layers.append(SequenceAffine((dz, m), np.array(w, float).reshape(-1, 5),
                                         np.array(b, float).reshape(-1, 3)))
            d, n = dz, m
        elif kind == "tok":
            o = int(rng.integers(1, 5))
            layers.append(TokenAffine(_rand((o, d), rng, 2.0), _rand((o, n), rng)))
            d = o
        elif kind == "att":
            residual = bool(rng.integers(2))
            o = d if residual else int(rng.integers(1, 4))
            heads = []
            for _ in range(int(rng.integers(1, 4))):
                q, v = int(rng.integers(1, 4)), int(rng.integers(1, 4))
                heads.append(Head(_rand((q, d), rng, 3.0), _rand((q, d), rng, 3.0),
                                  _rand((v, d), rng), _rand((o, v), rng)))
            layers.append(Attention(tuple(heads), residual))
            d = o
        elif kind == "soft":
            layers.append(RowSoftmax())
        else:
            cols = tuple(int(c) for c in rng.integers(0, n, int(rng.integers(1, 5))))
            layers.append(SelectColumns(cols))
            n = len(cols)
    return AttentionNet(input_shape, tuple(layers))


HAND_MADE = {"residual": residual_net, "fused-residual": fused_residual_net,
             "sequence-affine": sequence_affine_net}


# -- the module agrees with evaluate_float ------------------------------------------------

@pytest.mark.parametrize("name", list(CONSTRUCTIONS))
def test_constructions_match_evaluate_float(name):
    net, lo, hi = CONSTRUCTIONS[name]()
    X = np.random.default_rng(7).uniform(lo, hi, (64, *lo.shape))
    ref = assert_matches(net, X)
    assert np.ptp(ref) > 0.1  # the outputs vary: not a vacuous comparison


@pytest.mark.parametrize("name", list(HAND_MADE))
def test_hand_made_networks_match_evaluate_float(name):
    net = HAND_MADE[name]()
    X = np.random.default_rng(8).uniform(-1.0, 1.0, (64, *net.input_shape))
    ref = assert_matches(net, X)
    assert np.ptp(ref) > 0.01
    # through JSON and back: the same network, the same module numbers
    again = AttentionNet.from_json_obj(json.loads(net.to_json()))
    np.testing.assert_array_equal(evaluate(to_torch(again), X), evaluate(to_torch(net), X))


def test_hand_made_networks_use_the_layers_they_claim():
    kinds = [type(m).__name__ for m in to_torch(residual_net()).layers]
    assert kinds == ["TokenAffineModule", "AttentionModule", "AttentionModule",
                     "RowSoftmaxModule", "SelectColumnsModule"]
    mods = list(to_torch(fused_residual_net()).layers)
    assert [m.residual for m in mods[:2]] == [True, True]
    assert mods[1].select and mods[1].queries.tolist() == [5, 1, 5]  # selection absorbed
    assert len(mods) == 3
    att = to_torch(residual_net()).layers[1]
    assert [(h.W_Q.out_features, h.W_V.out_features) for h in att.heads] == [(2, 3), (1, 2)]
    assert all(p.dtype == torch.float64 for p in to_torch(residual_net()).parameters())


@pytest.mark.parametrize("seed", range(12))
def test_random_networks_match_evaluate_float(seed):
    net = random_net(seed)
    X = np.random.default_rng(seed).uniform(-1.0, 1.0, (16, *net.input_shape))
    assert_matches(net, X)


def test_parameters_hold_the_binary64_weights_exactly():
    net = residual_net()
    module = to_torch(net)
    tok, att = module.layers[0], module.layers[1]
    np.testing.assert_array_equal(tok.linear.weight.detach().numpy(), net.layers[0].weight)
    np.testing.assert_array_equal(tok.bias.numpy(), net.layers[0].bias)
    for h, hm in zip(net.layers[1].heads, att.heads):
        for k in ("W_Q", "W_K", "W_V", "W_O"):
            np.testing.assert_array_equal(getattr(hm, k).weight.detach().numpy(),
                                          getattr(h, k))
    seq = sequence_affine_net().layers[0]
    M, c = seq.dense((2, 3))
    lin = to_torch(sequence_affine_net()).layers[0].linear
    np.testing.assert_array_equal(lin.weight.detach().numpy(), M.reshape(4 * 5, 2 * 3))
    np.testing.assert_array_equal(lin.bias.detach().numpy(), c.reshape(-1))


def test_rel_diff_definition():
    a = np.array([10.0, 0.5, -200.0])
    assert rel_diff(a, a + [1e-3, 1e-3, 0.0]) == pytest.approx(1e-3)  # |a| < 1: absolute
    assert rel_diff(a, a + [0.0, 0.0, 2.0]) == pytest.approx(1e-2)  # |a| > 1: relative
    for b in (a + [1e-3, 1e-3, 0.0], a + [0.0, 0.0, 2.0]):
        assert max_relative_difference(a, b) == rel_diff(a, b)
    assert np.isnan(max_relative_difference(a, a * np.nan))


@pytest.mark.parametrize("bad,match", [
    (AttentionNet((2, 3), (TokenAffine(np.ones((2, 3)), np.ones((2, 3))),)), "weight"),
    (AttentionNet((2, 3), (TokenAffine(np.ones((2, 2)), np.ones((2, 4))),)), "bias"),
    (AttentionNet((2, 3), (SelectColumns((0, 3)),)), "index"),
    (AttentionNet((2, 3), (SelectColumns((-1,)),)), "index"),
    (AttentionNet((2, 3), (SequenceAffine((1, 1), np.array([[0, 0, 2, 0, 1.0]]),
                                          np.zeros((0, 3))),)), "index"),
    (AttentionNet((2, 3), (SequenceAffine((1, 1), np.array([[0, 0, 0.5, 0, 1.0]]),
                                          np.zeros((0, 3))),)), "integer"),
    (AttentionNet((2, 3), (Attention((Head(np.ones((1, 2)), np.ones((2, 2)), np.ones((1, 2)),
                                           np.ones((2, 1))),)),)), "same row count"),
    (AttentionNet((2, 3), (Attention((Head(np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)),
                                           np.ones((3, 1))),), residual=True),)), "residual"),
    (AttentionNet((2, 3), (Attention((Head(np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)),
                                           np.ones((1, 1))),
                                      Head(np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)),
                                           np.ones((2, 1))))),)), "output size"),
    (AttentionNet((1, 1), (SequenceAffine((1, 1), np.array([[0, 0, 0, 0, 1.0]] * 2),
                                          np.zeros((0, 3))),)), "repeated"),
    (AttentionNet((1, 1), (SequenceAffine((1, 1), np.zeros((0, 5)),
                                          np.array([[0, 0, 1.0], [0, 0, 2.0]])),)), "repeated"),
])
def test_inconsistent_shapes_are_refused(bad, match):
    with pytest.raises(NetworkFormatError, match=match):
        check_shapes(bad)
    with pytest.raises(NetworkFormatError):
        to_torch(bad)


def test_forward_checks_shape_and_dtype():
    module = to_torch(residual_net())
    with pytest.raises(ValueError, match="shape"):
        module(torch.zeros((2, 3, 4), dtype=torch.float64))
    with pytest.raises(TypeError, match="float64"):
        module(torch.zeros((2, 3, 5), dtype=torch.float32))


# -- save and load ----------------------------------------------------------------------------

def test_saved_program_loads_back_with_the_same_numbers(tmp_path):
    for i, net in enumerate((residual_net(), CONSTRUCTIONS["uap-relu-network"]()[0])):
        path = tmp_path / f"net{i}.pt"
        export_torch.export(net, path)
        with open(path, "rb") as fh:  # plain torch, as a user would load it
            extra = {export_torch.EXTRA_FILE: ""}
            loaded = torch.export.load(fh, extra_files=extra).module()
        record = json.loads(extra[export_torch.EXTRA_FILE])
        assert record["network_sha256"] == net.sha256()
        assert tuple(record["input_shape"]) == net.input_shape
        for N in (0, 1, 64):  # the batch size is dynamic
            X = np.random.default_rng(N).uniform(-1.0, 1.0, (N, *net.input_shape))
            ours = evaluate(to_torch(net), X)
            theirs = evaluate(loaded, X)
            np.testing.assert_array_equal(theirs, ours)
            if N:
                assert rel_diff(net.evaluate_float(X), theirs) <= TOL


FRESH = textwrap.dedent("""
    import importlib.abc, json, sys
    class Block(importlib.abc.MetaPathFinder):  # attncert must not be needed
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("certify", "theorems"):
                raise ImportError("blocked: " + name)
    sys.meta_path.insert(0, Block())
    import numpy as np, torch
    path, x_file, y_file = sys.argv[1:]
    with open(path, "rb") as f:
        model = torch.export.load(f).module()
    with torch.no_grad():
        y = model(torch.from_numpy(np.load(x_file)))
    np.save(y_file, y.numpy())
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("certify",
                                                                        "theorems"))))
""")


def test_saved_program_loads_in_a_fresh_interpreter_without_attncert(tmp_path):
    net = fused_residual_net()
    path = tmp_path / "fresh.pt"
    export_torch.export(net, path)
    X = np.random.default_rng(5).uniform(-1.0, 1.0, (32, *net.input_shape))
    np.save(tmp_path / "x.npy", X)
    proc = subprocess.run([sys.executable, "-c", FRESH, str(path), str(tmp_path / "x.npy"),
                           str(tmp_path / "y.npy")], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), evaluate(to_torch(net), X))


NO_TORCH = textwrap.dedent("""
    import importlib, pkgutil, sys
    sys.modules["torch"] = None  # any "import torch" now fails
    import certify, theorems
    skipped = {"certify.export_torch"}
    for pkg in (certify, theorems):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if info.name not in skipped:
                importlib.import_module(info.name)
    from certify import cli
    cli.make_parser()
    print("ok")
""")


def test_the_rest_of_the_package_does_not_need_torch():
    proc = subprocess.run([sys.executable, "-c", NO_TORCH], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


# -- the command line ----------------------------------------------------------------------

def small_net() -> AttentionNet:
    rng = np.random.default_rng(4)
    head = Head(_rand((2, 2), rng, 2.0), _rand((2, 2), rng, 2.0), _rand((1, 2), rng),
                _rand((2, 1), rng))
    return AttentionNet((2, 3), (Attention((head,), residual=True), RowSoftmax(),
                                 SelectColumns((0, 2))))


def _parser() -> argparse.ArgumentParser:
    """Built like :func:`certify.cli.make_parser` builds its subcommands."""
    p = _Parser(prog="attncert")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    export_cli.add_parser(sub)
    return p


def _cli(argv, capsys):
    args = _parser().parse_args(["export", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def _write(tmp_path, obj, name="net.json"):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


def _assert_error(code, out, err, *words):
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("attncert export: error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], lines[0]


def _success_difference(code, out, err, path) -> float:
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "float64" in lines[0]
    m = re.search(r"max relative difference vs evaluate_float on 64 random inputs uniform "
                  r"in \[-1, 1\]: (\S+)", lines[0])
    assert m, lines[0]
    return float(m.group(1))


def test_cli_exports_a_network_file(tmp_path, capsys):
    net = small_net()
    out = tmp_path / "net.pt"
    code, stdout, err = _cli([_write(tmp_path, net.to_json()), "--torch", str(out)], capsys)
    assert _success_difference(code, stdout, err, out) <= TOL
    X = np.random.default_rng(0).uniform(-1.0, 1.0, (8, 2, 3))
    assert rel_diff(net.evaluate_float(X), evaluate(export_torch.load(out), X)) <= TOL
    assert [p.name for p in tmp_path.iterdir()] != [] and not any(
        p.name.startswith(".attncert-export-") for p in tmp_path.iterdir())
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~mask


def test_cli_exports_a_certificates_network_and_overwrites_with_force(tmp_path, capsys):
    net, _, _ = CONSTRUCTIONS["uap-interpolation-sin3x"]()
    cert = {"format": "attncert-certificate/1", "network": net.to_json_obj(),
            "network_sha256": net.sha256()}
    out = tmp_path / "cert.pt"
    out.write_bytes(b"old")
    code, stdout, err = _cli([_write(tmp_path, cert), "--torch", str(out), "--force"], capsys)
    assert _success_difference(code, stdout, err, out) <= TOL
    X = np.random.default_rng(1).uniform(-1.0, 1.0, (8, 1, 1))
    np.testing.assert_array_equal(evaluate(export_torch.load(out), X),
                                  evaluate(to_torch(net), X))


BAD_FILES = {
    "malformed JSON": ('{"format": "attncert-network/1", ', "malformed JSON"),
    "duplicate key": ('{"format": "attncert-network/1", "input_shape": [1, 1], '
                      '"layers": [], "layers": []}', "duplicate key"),
    "not an object": ("[1, 2]", "JSON object"),
    "neither": ('{"theorem": "uap"}', "neither a network"),
    "wrong format": ('{"format": "attncert-network/2", "input_shape": [1, 1], "layers": []}',
                     "neither a network"),
    "network not an object": ('{"network": [1]}', "'network' must be a JSON object"),
    "unknown layer": ('{"format": "attncert-network/1", "input_shape": [2, 3], '
                      '"layers": [{"kind": "conv"}]}', "malformed network"),
    "missing key": ('{"format": "attncert-network/1", "layers": []}', "malformed network"),
    "ragged matrix": ('{"format": "attncert-network/1", "input_shape": [2, 1], "layers": '
                      '[{"kind": "token-affine", "weight": [[1, 2], [3]], "bias": [[0]]}]}',
                      "malformed network"),
    "shapes do not chain": ('{"format": "attncert-network/1", "input_shape": [2, 1], '
                            '"layers": [{"kind": "token-affine", "weight": [[1, 2, 3]], '
                            '"bias": [[0]]}]}', "malformed network"),
    "column out of range": ('{"network": {"format": "attncert-network/1", "input_shape": '
                            '[2, 3], "layers": [{"kind": "select-columns", "columns": [3]}]}}',
                            "malformed network"),
    "non-finite": ('{"format": "attncert-network/1", "input_shape": [1, 1], "layers": '
                   '[{"kind": "token-affine", "weight": [[NaN]], "bias": [[0]]}]}',
                   "non-finite"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_cli_refuses_bad_input_in_one_line(case, tmp_path, capsys):
    text, words = BAD_FILES[case]
    out = tmp_path / "out.pt"
    code, stdout, err = _cli([_write(tmp_path, text), "--torch", str(out)], capsys)
    _assert_error(code, stdout, err, words)
    assert not out.exists()


def test_cli_refuses_a_missing_file(tmp_path, capsys):
    code, out, err = _cli([str(tmp_path / "nope.json"), "--torch", str(tmp_path / "o.pt")],
                          capsys)
    _assert_error(code, out, err, "no such file")


def test_cli_refuses_when_torch_is_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" raises ImportError
    code, out, err = _cli([_write(tmp_path, small_net().to_json()), "--torch",
                           str(tmp_path / "o.pt")], capsys)
    _assert_error(code, out, err, "PyTorch is not installed")
    assert not (tmp_path / "o.pt").exists()


def test_cli_does_not_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "exists.pt"
    out.write_bytes(b"keep me")
    code, stdout, err = _cli([_write(tmp_path, small_net().to_json()), "--torch", str(out)],
                             capsys)
    _assert_error(code, stdout, err, "exists", "--force")
    assert out.read_bytes() == b"keep me"


def test_cli_refuses_bad_output_paths(tmp_path, capsys, monkeypatch):
    net_file = _write(tmp_path, small_net().to_json())
    code, out, err = _cli([net_file, "--torch", str(tmp_path / "missing" / "o.pt")], capsys)
    _assert_error(code, out, err, "no such directory")
    (tmp_path / "adir").mkdir()
    code, out, err = _cli([net_file, "--torch", str(tmp_path / "adir"), "--force"], capsys)
    _assert_error(code, out, err, "is a directory")
    # a read-only directory (os.access: the tests may run as root, who may write anyway)
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    code, out, err = _cli([net_file, "--torch", str(tmp_path / "o.pt")], capsys)
    _assert_error(code, out, err, "not writable")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "net.json"]


def test_cli_reports_a_failed_write_and_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    def fail(net, path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(export_torch, "export", fail)
    code, out, err = _cli([_write(tmp_path, small_net().to_json()), "--torch",
                           str(tmp_path / "o.pt")], capsys)
    _assert_error(code, out, err, "cannot write", "Permission denied")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json"]


def test_cli_parser_is_compatible_with_attncert_main():
    p = _parser()
    args = p.parse_args(["export", "n.json", "--torch", "o.pt"])
    assert (args.command, args.net, args.torch_out, args.force) == ("export", "n.json",
                                                                    "o.pt", False)
    assert args.func is export_cli.run
    with pytest.raises(InputError):  # certify.cli.main prints it in one line, exit 2
        p.parse_args(["export", "n.json"])  # --torch is required
