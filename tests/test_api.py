"""``certify.api``: the same networks, certificates and verdicts as the command line."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from certify import api
from certify.cli import main
from certify.errors import InputError
from certify.network import AttentionNet

UAP_1D = {"theorem": "uap",
          "target": {"kind": "expression", "expr": "sin(2*x)", "variables": ["x"]},
          "domain": {"lo": -1, "hi": 1},
          "construction": {"route": "interpolation", "p": 33},
          "mode": "prove", "epsilon": 0.05}
SEQ = {"theorem": "seq2seq",
       "target": {"kind": "expression", "tokens": 2, "dim": 1,
                  "outputs": [["x0_0"], ["max(x0_0, x1_0)"]]},
       "domain": {"lo": 0, "hi": 1}, "mode": "prove", "epsilon": 0.1}
T1 = {"theorem": "single-head",
      "target": {"kind": "truncated-linear", "a": -1.0, "b": 1.0, "w": [[1.0], [0.5]],
                 "t": [0.0, 0.25]},
      "domain": {"lo": -1.5, "hi": 1.5}, "construction": {"p": 8, "kappa": 3.0},
      "mode": "measure", "tol": 0.05}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """For each spec: the API's (result, certificate) and the CLI's certificate file and
    JSON report."""
    d = tmp_path_factory.mktemp("api")
    out = {}
    for name, spec in (("uap", UAP_1D), ("seq", SEQ), ("t1", T1)):
        spec_path = d / f"{name}.json"
        spec_path.write_text(json.dumps(spec))
        cert_path = d / f"{name}.cert.json"
        report = d / f"{name}.report.json"
        import contextlib
        import io

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = main(["certify", str(spec_path), "--out", str(cert_path), "--json",
                         "--jobs", "1"])
        assert code == 0
        report.write_text(buf.getvalue())
        result, cert = api.certify(spec)
        out[name] = {"spec": spec, "spec_path": spec_path, "cert_path": cert_path,
                     "report": json.loads(buf.getvalue()), "result": result, "cert": cert}
    return out


@pytest.mark.parametrize("name", ["uap", "seq", "t1"])
def test_certify_matches_cli(runs, name):
    r = runs[name]
    assert r["result"].holds and r["cert"] is not None
    # Byte-identical certificate, and the same numbers as the CLI's report.
    assert api.dumps(r["cert"]) == r["cert_path"].read_text()
    assert api.load_certificate(r["cert_path"]) == r["cert"]
    assert r["report"]["lower"] == r["result"].lower
    assert r["report"]["upper"] == r["result"].upper


@pytest.mark.parametrize("name", ["uap", "seq", "t1"])
def test_spec_as_path_and_dict_agree(runs, name):
    r = runs[name]
    _, from_path = api.certify(r["spec_path"])
    _, from_str = api.certify(str(r["spec_path"]))
    assert from_path == r["cert"] == from_str


def test_build_matches_cli(runs, tmp_path, capsys):
    r = runs["uap"]
    net_path = tmp_path / "net.json"
    assert main(["build", str(r["spec_path"]), "--out", str(net_path)]) == 0
    built = api.build(r["spec"])
    assert built.net.to_json() + "\n" == net_path.read_text()
    assert built.net.to_json_obj() == r["cert"]["network"]


@pytest.mark.parametrize("name", ["uap", "seq", "t1"])
def test_check_matches_cli(runs, name, capsys):
    r = runs[name]
    ok, message = api.check(r["cert"])
    assert ok, message
    assert message.startswith("verified (flint)") and "conformance: verified" in message
    ok_path, _ = api.check(r["cert_path"], backend="flint", conformance=False)
    assert ok_path
    capsys.readouterr()
    assert main(["check", str(r["cert_path"]), "--backend", "flint"]) == 0


def _tampered(cert):
    """Certificates with one false statement each (well formed: the checker rejects)."""
    out = {}
    c = copy.deepcopy(cert)
    c["claim"]["upper"] = c["claim"]["lower"] / 2
    out["upper below lower"] = c
    c = copy.deepcopy(cert)
    c["claim"]["lower"] = c["claim"]["upper"]
    if c["claim"]["mode"] == "prove":
        out["lower not certified by the witness"] = c
    c = copy.deepcopy(cert)
    layer = next(layer for layer in c["network"]["layers"] if layer["kind"] == "attention")
    W_O = layer["heads"][0]["W_O"]
    i, j = max(((i, j) for i, row in enumerate(W_O) for j in range(len(row))),
               key=lambda ij: abs(W_O[ij[0]][ij[1]]))
    W_O[i][j] *= 1.5  # a non-zero entry, so the network really changes
    out["network changed"] = c
    c = copy.deepcopy(cert)
    c["cover"][0]["bounds"] = c["cover"][0]["bounds"][:-1]
    out["a leaf bound dropped"] = c
    return out


@pytest.mark.parametrize("name", ["uap", "seq", "t1"])
def test_tampered_certificates_are_rejected(runs, name):
    for what, bad in _tampered(runs[name]["cert"]).items():
        ok, message = api.check(bad)
        assert not ok, what
        assert message.startswith("rejected"), (what, message)


def test_network_changed_with_matching_hash_is_rejected(runs):
    """A consistent forgery (new weights, new hash): the error claim or conformance fails."""
    import hashlib

    from certify.network import canonical_json

    bad = copy.deepcopy(runs["uap"]["cert"])
    values = next(layer for layer in bad["network"]["layers"] if layer["kind"] == "attention")
    values["heads"][0]["W_O"][0][0] = 1.25
    bad["network_sha256"] = hashlib.sha256(canonical_json(bad["network"]).encode()).hexdigest()
    ok, message = api.check(bad)
    assert not ok and "rejected" in message.lower()


def test_malformed_certificate_raises(runs):
    bad = copy.deepcopy(runs["uap"]["cert"])
    del bad["cover"]
    with pytest.raises(InputError):
        api.check(bad)


@pytest.mark.parametrize("name", ["uap", "seq", "t1"])
def test_evaluate_matches_evaluate_float(runs, name):
    cert = runs[name]["cert"]
    net = AttentionNet.from_json_obj(cert["network"])
    d, n = net.input_shape
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(17, d, n))
    expected = net.evaluate_float(X)
    for source in (cert, net, cert["network"], runs[name]["cert_path"], api.build(
            runs[name]["spec"])):
        got = api.evaluate(source, X)
        np.testing.assert_array_equal(got, expected)
    single = api.evaluate(cert, X[3])
    np.testing.assert_array_equal(single, net.evaluate_float(X[3:4])[0])


@pytest.mark.parametrize("name", ["uap", "seq", "t1"])
def test_sample_error_at_witness(runs, name):
    """float64 at the witness reproduces the certified lower bound (to rounding), and no
    sampled error exceeds the certified upper bound."""
    cert = runs[name]["cert"]
    x = np.array(cert["witness"]["x"], dtype=float).reshape(1, -1)
    e = api.sample_error(cert, x)
    assert abs(e[0]) >= cert["claim"]["lower"] * (1 - 1e-6)
    lo = np.array(cert["domain"]["lo"], dtype=float).reshape(-1)
    hi = np.array(cert["domain"]["hi"], dtype=float).reshape(-1)
    P = np.random.default_rng(2).uniform(lo, hi, size=(400, len(lo)))
    assert np.abs(api.sample_error(cert, P)).max() <= cert["claim"]["upper"] * (1 + 1e-9)


def test_evaluate_bad_input(runs):
    cert = runs["uap"]["cert"]
    with pytest.raises(InputError, match="shape"):
        api.evaluate(cert, np.zeros((3, 2, 1)))
    with pytest.raises(InputError, match="NaN"):
        api.evaluate(cert, np.full((1, 1), np.nan))
    with pytest.raises(InputError):
        api.evaluate({"no": "network"}, np.zeros((1, 1)))
    with pytest.raises(InputError):
        api.evaluate(42, np.zeros((1, 1)))


def test_load_certificate_is_strict(tmp_path):
    dup = tmp_path / "dup.json"
    dup.write_text('{"schema": "attncert-certificate/1", "schema": "x"}')
    nan = tmp_path / "nan.json"
    nan.write_text('{"schema": "attncert-certificate/1", "x": NaN}')
    big = tmp_path / "big.json"
    big.write_text('{"schema": "attncert-certificate/1", "x": 1e999}')
    other = tmp_path / "other.json"
    other.write_text('{"theorem": "uap"}')
    for path, words in ((dup, "duplicate key"), (nan, "non-finite"), (big, "overflows"),
                        (other, "not an attncert certificate"),
                        (tmp_path / "none.json", "no such file")):
        with pytest.raises(InputError, match=words):
            api.load_certificate(path)


def test_load_spec_copies_and_validates():
    spec = copy.deepcopy(UAP_1D)
    parsed = api.load_spec(spec)
    spec["construction"]["p"] = 5  # a later change does not reach the parsed spec
    assert parsed.construction["p"] == 33
    assert api.load_spec(parsed) is parsed
    with pytest.raises(InputError, match="theorem"):
        api.load_spec({"theorem": "nope"})
    with pytest.raises(InputError):
        api.load_spec(3.5)
    with pytest.raises(InputError, match="jobs"):
        api.certify(UAP_1D, jobs=0)


def test_plot_api(runs, tmp_path):
    cert = runs["uap"]["cert"]
    shown = api.plot(cert)
    assert shown.path is None and shown.figure is not None
    assert shown._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    path = tmp_path / "fig.png"
    written = api.plot(cert, path, verify=True)
    assert written.verified and Path(written.path) == path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InputError, match="exists"):
        api.plot(cert, path)
    api.plot(cert, path, overwrite=True)
    bad = copy.deepcopy(cert)
    bad["claim"]["upper"] = bad["claim"]["lower"] / 2
    with pytest.raises(api.Rejected):
        api.plot(bad, verify=True)


def test_verdict_reuse_needs_identical_content(runs):
    """plot(verify=True) reuses a verdict of check() only for byte-identical content."""
    cert = copy.deepcopy(runs["t1"]["cert"])
    ok, _ = api.check(cert, conformance=False)
    assert ok
    cert["claim"]["upper"] = cert["claim"]["lower"] / 2  # changed after the check
    with pytest.raises(api.Rejected):
        api.plot(cert, verify=True)
