"""Command line for theorem ``uap``: certify, check, build; exit codes and one-line errors."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from certify.cli import main
from certify.expression import MpOps, evaluate
from certify.network import AttentionNet, canonical_json
from certify.pipeline import build_uap
from certify.reference import MpReference
from certify.spec import parse_spec


def expr_spec(expr, lo, hi, construction, mode="prove", variables=("x",), **extra):
    spec = {"theorem": "uap",
            "target": {"kind": "expression", "expr": expr, "variables": list(variables)},
            "domain": {"lo": lo, "hi": hi}, "construction": construction, "mode": mode}
    spec.update(extra)
    return spec


#: Small and quick (12 boxes); its certificate passes both backends.
SMALL = expr_spec("exp(x)", 0, 1, {"p": 8}, epsilon=0.2)
#: A false claim: the error of sin(3x) with 8 anchors is far above 1e-4.
FALSE = expr_spec("sin(3*x)", -1, 1, {"p": 8}, epsilon=1e-4)


def _write(tmp_path, obj, name="spec.json"):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _error_at(spec_obj, x):
    """|N(x) - f(x)| in 30-digit mpmath for the network the spec builds."""
    spec = parse_spec(spec_obj)
    built = build_uap(spec)
    ops = MpOps(30)
    n = MpReference(built.net, 30).output(np.array(x, float)[:, None])[0][0]
    f = evaluate(spec.parsed_target.expr, ops.point(x), ops)
    return abs(n - f)


def test_certify_prints_resources_and_bound(tmp_path, capsys):
    spec = _write(tmp_path, SMALL)
    cert = str(tmp_path / "cert.json")
    code, out, err = _run(["certify", spec, "--out", cert, "--jobs", "1"], capsys)
    assert code == 0, err
    built = build_uap(parse_spec(SMALL))
    res = built.parameters()
    assert "certified" in out
    assert re.search(rf"{res['tokens']:,} tokens", out), out
    assert re.search(rf"{res['anchors']:,} anchors", out), out
    assert re.search(rf"{res['heads']} head", out), out
    assert re.search(rf"{res['parameters']:,} parameters", out), out
    m = re.search(r"a-priori bound ([0-9.eE+-]+)", out)
    assert m, out
    assert math.isclose(float(m.group(1)), built.bound["bound"], rel_tol=1e-5)
    assert os.path.exists(cert)
    obj = json.loads(open(cert).read())
    assert obj["theorem"] == "uap"
    assert obj["network_sha256"] == built.net.sha256()


def test_certify_json(tmp_path, capsys):
    spec = _write(tmp_path, SMALL)
    code, out, err = _run(["certify", spec, "--json", "--jobs", "1"], capsys)
    assert code == 0, err
    info = json.loads(out)
    built = build_uap(parse_spec(SMALL))
    res = built.parameters()
    assert info["holds"] is True
    for key in ("tokens", "anchors", "heads", "parameters"):
        assert info["resources"][key] == res[key]
    assert info["a_priori_bound"] == built.bound["bound"]
    assert info["upper"] <= SMALL["epsilon"]


def test_check_verifies_and_states_conformance(tmp_path, capsys):
    spec = _write(tmp_path, SMALL)
    cert = str(tmp_path / "cert.json")
    assert _run(["certify", spec, "--out", cert, "--jobs", "1"], capsys)[0] == 0
    code, out, err = _run(["check", cert, "--backend", "both"], capsys)
    assert code == 0, out + err
    assert "verified" in out
    assert "conformance: verified" in out
    code, out, err = _run(["check", cert, "--backend", "both", "--json"], capsys)
    assert code == 0, out + err
    info = json.loads(out)
    assert info["verified"] is True and info["conformance"]["verified"] is True


def test_check_rejects_tampered_claim(tmp_path, capsys):
    spec = _write(tmp_path, SMALL)
    cert = str(tmp_path / "cert.json")
    assert _run(["certify", spec, "--out", cert, "--jobs", "1"], capsys)[0] == 0
    obj = json.loads(open(cert).read())
    obj["claim"]["upper"] = obj["claim"]["lower"]  # far below the true maximum
    obj["claim"]["epsilon"] = obj["claim"]["lower"]
    bad = _write(tmp_path, obj, "bad.json")
    code, out, err = _run(["check", bad, "--backend", "both"], capsys)
    assert code == 1
    assert "REJECTED" in out
    assert "conformance: verified" not in out


def test_check_conformance_fails_for_a_foreign_network(tmp_path, capsys):
    """One anchor value moved by one ulp and the hash recomputed: whatever the error claim
    does, the network is not the construction's, so check exits 1."""
    spec = _write(tmp_path, SMALL)
    cert = str(tmp_path / "cert.json")
    assert _run(["certify", spec, "--out", cert, "--jobs", "1"], capsys)[0] == 0
    obj = json.loads(open(cert).read())
    bias = obj["network"]["layers"][0]["bias"]
    value_row = obj["network"]["layers"][0]["out_shape"][0] - 1
    k = next(k for k, (i, j, _) in enumerate(bias) if i == value_row and j == 4)
    bias[k][2] = math.nextafter(bias[k][2], math.inf)
    obj["network_sha256"] = hashlib.sha256(canonical_json(obj["network"]).encode()).hexdigest()
    AttentionNet.from_json_obj(obj["network"])
    bad = _write(tmp_path, obj, "foreign.json")
    code, out, err = _run(["check", bad, "--backend", "flint"], capsys)
    assert code == 1, out + err
    assert "conformance: verified" not in out


def test_false_claim_fails_with_counterexample(tmp_path, capsys):
    spec = _write(tmp_path, FALSE)
    cert = str(tmp_path / "cert.json")
    code, out, err = _run(["certify", spec, "--out", cert, "--jobs", "1"], capsys)
    assert code == 1, out + err
    assert "FAILS" in out
    m = re.search(r"input x = (\[[^\]]*\])", out)
    assert m, out
    x = json.loads(m.group(1))
    assert len(x) == 1 and -1 <= x[0] <= 1
    assert _error_at(FALSE, x) > FALSE["epsilon"]
    assert not os.path.exists(cert)  # no certificate for a false claim
    code, out, err = _run(["certify", spec, "--json", "--jobs", "1"], capsys)
    assert code == 1
    info = json.loads(out)
    assert info["holds"] is False
    ce = info["counterexample"]
    assert ce["error_lower"] > FALSE["epsilon"]
    assert _error_at(FALSE, ce["x"]) >= ce["error_lower"]


BAD_TARGETS = {
    "unknown kind": {"theorem": "uap", "target": {"kind": "fourier", "expr": "x",
                                                  "variables": ["x"]},
                     "domain": {"lo": 0, "hi": 1}, "construction": {"p": 8}},
    "unknown variable": expr_spec("x + t", 0, 1, {"p": 8}, epsilon=0.1),
    "log at 0": expr_spec("log(x)", -1, 1, {"p": 8}, epsilon=0.1),
    "division by 0": expr_spec("1/x", -1, 1, {"p": 8}, epsilon=0.1),
    "sqrt of negative": expr_spec("sqrt(x - 2)", 0, 1, {"p": 8}, epsilon=0.1),
    "code": expr_spec("__import__('os').system('echo hi')", 0, 1, {"p": 8}, epsilon=0.1),
    "attribute": expr_spec("x.__class__", 0, 1, {"p": 8}, epsilon=0.1),
    "lo >= hi": expr_spec("x", 1, 0, {"p": 8}, epsilon=0.1),
    "p = 1": expr_spec("x", 0, 1, {"p": 1}, epsilon=0.1),
    "kappa <= 0": expr_spec("x", 0, 1, {"p": 8, "kappa": 0}, epsilon=0.1),
    "relu route, 2-D": expr_spec("x*y", 0, 1, {"route": "relu", "p": 8}, epsilon=0.1,
                                 variables=("x", "y")),
    "dimension 4": expr_spec("x+y+z+w", 0, 1, {"p": 4}, epsilon=0.1,
                             variables=("x", "y", "z", "w")),
    "relu shapes": {"theorem": "uap", "target": {"kind": "relu-network", "layers": [
        {"W": [[1.0], [2.0]], "b": [0.0, 0.0]}, {"W": [[1.0, 1.0, 1.0]], "b": [0.0]}]},
        "domain": {"lo": 0, "hi": 1}, "construction": {"route": "relu", "p": 8},
        "mode": "prove", "epsilon": 0.1},
    "malformed JSON": '{"theorem": "uap", ',
    # beta = kappa / Delta^2 is beyond the float range: refused, not an internal error
    "domain too narrow": expr_spec("x", 0, 1e-160, {"p": 4}, epsilon=0.1),
    # values beyond the float range on the domain (e^1000): refused, not an internal error
    "values overflow": expr_spec("exp(1000*x)", 0, 1, {"p": 16}, epsilon=0.1),
}


@pytest.mark.parametrize("case", list(BAD_TARGETS))
def test_bad_target_exits_2_with_one_line(case, tmp_path, capfd):
    """capfd (file-descriptor level): output of code run from the text would show here."""
    spec = _write(tmp_path, BAD_TARGETS[case])
    cert = str(tmp_path / "cert.json")
    code, out, err = _run(["certify", spec, "--out", cert, "--jobs", "1"], capfd)
    assert code == 2, out + err
    assert out == ""
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0], err
    assert "Traceback" not in err
    assert not os.path.exists(cert)
    assert "hi" not in out  # the code in the text never ran


def test_build_writes_the_network(tmp_path, capsys):
    spec = _write(tmp_path, SMALL)
    net = str(tmp_path / "net.json")
    code, out, err = _run(["build", spec, "--out", net], capsys)
    assert code == 0, err
    built = build_uap(parse_spec(SMALL))
    text = open(net).read().strip()
    assert text == built.net.to_json()
    assert built.net.sha256()[:16] in out


def test_existing_output_not_overwritten_without_force(tmp_path, capsys):
    spec = _write(tmp_path, SMALL)
    cert = tmp_path / "cert.json"
    cert.write_text("keep me")
    code, out, err = _run(["certify", spec, "--out", str(cert), "--jobs", "1"], capsys)
    assert code == 2
    assert cert.read_text() == "keep me"
    assert len(err.strip("\n").split("\n")) == 1 and "--force" in err
    net = tmp_path / "net.json"
    net.write_text("keep me too")
    code, out, err = _run(["build", spec, "--out", str(net)], capsys)
    assert code == 2
    assert net.read_text() == "keep me too"
    code, out, err = _run(["certify", spec, "--out", str(cert), "--force", "--jobs", "1"],
                          capsys)
    assert code == 0, err
    assert json.loads(cert.read_text())["theorem"] == "uap"


def test_certificate_independent_of_jobs(tmp_path, capsys):
    """The certificate is byte-identical whether the boxes ran in 1 or 2 processes, and the
    checker's verdict does not depend on its worker count."""
    spec = _write(tmp_path, expr_spec("sin(3*x)", -1, 1, {"p": 16}, epsilon=0.15))
    one, two = str(tmp_path / "one.json"), str(tmp_path / "two.json")
    assert _run(["certify", spec, "--out", one, "--jobs", "1"], capsys)[0] == 0
    assert _run(["certify", spec, "--out", two, "--jobs", "2"], capsys)[0] == 0
    assert open(one).read() == open(two).read()
    code, out, err = _run(["check", two, "--backend", "flint", "--jobs", "2"], capsys)
    assert code == 0, out + err
    assert "conformance: verified" in out


def test_exact_target_in_measure_mode_terminates(tmp_path):
    """A constant target is reproduced exactly (sup error 0), so no finite tolerance can be
    met relative to L = 0: the command must still end promptly (certified or not), not
    refine for minutes.  Run in a subprocess so that a hang cannot block the suite."""
    spec = _write(tmp_path, expr_spec("1", 0, 1, {"p": 4}, mode="measure", tol=0.5))
    try:
        proc = subprocess.run([sys.executable, "-m", "certify.cli", "certify", spec,
                               "--jobs", "1"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("attncert certify did not end within 20 s for the target 1 on [0, 1]")
    assert proc.returncode in (0, 1), proc.stderr


@pytest.mark.parametrize("where", ["dir", "missing"])
def test_unwritable_output_refused_before_the_run(where, tmp_path, capsys, monkeypatch):
    import certify.pipeline as pipeline

    def never(*args, **kwargs):  # the run must not start
        raise AssertionError("certification started")

    monkeypatch.setattr(pipeline, "certify_uap", never)
    spec = _write(tmp_path, SMALL)
    out = str(tmp_path) if where == "dir" else str(tmp_path / "no" / "cert.json")
    code, _, err = _run(["certify", spec, "--out", out], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_absurd_job_count_refused(tmp_path, capsys):
    spec = _write(tmp_path, SMALL)
    code, _, err = _run(["certify", spec, "--jobs", "1000"], capsys)
    assert code == 2 and "64" in err and len(err.strip().splitlines()) == 1


def test_certify_reads_stdin_and_writes_stdout(tmp_path, capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(SMALL)))
    code = main(["certify", "-", "--out", "-", "--jobs", "1"])
    out, err = capsys.readouterr()
    assert code == 0
    cert = json.loads(out)  # standard output holds the certificate alone
    assert cert["theorem"] == "uap" and "certified" in err
