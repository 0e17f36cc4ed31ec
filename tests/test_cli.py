"""Command line: exit codes, one-line errors for bad input, no overwriting."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import t1_spec

from certify.cli import main


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _write(tmp_path, obj, name="spec.json"):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


def _bad(mutate):
    obj = t1_spec(p=8)
    mutate(obj)
    return obj


BAD_INPUTS = {
    "malformed JSON": '{"theorem": "single-head", ',
    "not an object": "[1, 2]",
    "missing target": _bad(lambda o: o.pop("target")),
    "missing construction.p": _bad(lambda o: o["construction"].pop("p")),
    "missing domain": _bad(lambda o: o.pop("domain")),
    "p < 2": _bad(lambda o: o["construction"].update(p=1)),
    "p not integer": _bad(lambda o: o["construction"].update(p=2.5)),
    "a >= b": _bad(lambda o: o["target"].update(a=1.0, b=1.0)),
    "beta <= 0": _bad(lambda o: o.update(construction={"p": 8, "beta": 0.0})),
    "kappa negative": _bad(lambda o: o["construction"].update(kappa=-1.0)),
    "both kappa and beta": _bad(lambda o: o["construction"].update(beta=3.0)),
    "NaN": '{"theorem": "single-head", "target": {"kind": "truncated-linear", "a": NaN, '
           '"b": 1, "w": [[1]], "t": [0]}, "domain": {"lo": -1, "hi": 1}, '
           '"construction": {"p": 8, "kappa": 3}}',
    "Infinity": json.dumps(t1_spec(p=8)).replace('"hi": 1.5', '"hi": Infinity'),
    "overflowing number": json.dumps(t1_spec(p=8)).replace('"hi": 1.5', '"hi": 1e999'),
    "lo > hi": _bad(lambda o: o.update(domain={"lo": 1.0, "hi": -1.0})),
    "wrong shape of w": _bad(lambda o: o["target"].update(w=[[1.0], [1.0, 2.0]])),
    "wrong shape of t": _bad(lambda o: o["target"].update(t=[0.0, 1.0])),
    "wrong shape of domain": _bad(lambda o: o.update(domain={"lo": [[0.0, 1.0]], "hi": 1.0})),
    "unknown theorem": _bad(lambda o: o.update(theorem="triple-head")),
    "unknown target kind": _bad(lambda o: o["target"].update(kind="sigmoid")),
    "string number": _bad(lambda o: o["target"].update(a="-1")),
    "epsilon missing in prove": _bad(lambda o: o.update(mode="prove")),
    "epsilon <= 0": _bad(lambda o: o.update(mode="prove", epsilon=0.0)),
    "unknown mode": _bad(lambda o: o.update(mode="guess")),
    "misspelt top-level key": _bad(lambda o: o.update(tols=0.5)),
    "misspelt construction key": _bad(lambda o: o["construction"].update(kapa=3.0)),
    "misspelt target key": _bad(lambda o: o["target"].update(bb=1.0)),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
@pytest.mark.parametrize("command", ["certify", "build"])
def test_bad_input_exits_2_with_one_line(name, command, tmp_path, capsys):
    path = _write(tmp_path, BAD_INPUTS[name])
    code, out, err = _run([command, path, "--out", str(tmp_path / "o.json")], capsys)
    assert code == 2, (name, out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("attncert: error:"), err
    assert "Traceback" not in err + out and "verified" not in (err + out).lower()
    assert not (tmp_path / "o.json").exists()


def test_missing_file_and_unknown_command(tmp_path, capsys):
    assert _run(["certify", str(tmp_path / "nope.json")], capsys)[0] == 2
    assert _run(["frobnicate"], capsys)[0] == 2
    assert _run(["check", str(tmp_path / "nope.json")], capsys)[0] == 2


def test_certify_writes_and_refuses_to_overwrite(tmp_path, capsys):
    spec = _write(tmp_path, t1_spec(p=8, kappa=3.0))
    out = tmp_path / "cert.json"
    code, text, _ = _run(["certify", spec, "--out", str(out), "--json"], capsys)
    assert code == 0
    info = json.loads(text)
    assert info["holds"] and info["lower"] <= info["upper"] and info["boxes"] > 0
    assert {"lower", "upper", "boxes", "seconds"} <= set(info)
    before = out.read_text()
    code, _, err = _run(["certify", spec, "--out", str(out)], capsys)
    assert code == 2 and "exists" in err and out.read_text() == before
    code, _, _ = _run(["certify", spec, "--out", str(out), "--force"], capsys)
    assert code == 0


def test_prove_below_sup_exits_1_and_prints_counterexample(tmp_path, capsys):
    spec = _write(tmp_path, t1_spec(p=8, kappa=3.0, mode="prove", epsilon=1e-6))
    code, text, _ = _run(["certify", spec, "--out", str(tmp_path / "c.json"), "--json"], capsys)
    assert code == 1
    info = json.loads(text)
    assert not info["holds"] and info["counterexample"]["error_lower"] > 1e-6
    assert not (tmp_path / "c.json").exists()


def test_build_writes_a_network(tmp_path, capsys):
    spec = _write(tmp_path, t1_spec(p=8, kappa=3.0))
    code, text, _ = _run(["build", spec, "--out", str(tmp_path / "net.json"), "--json"], capsys)
    assert code == 0
    from certify.network import AttentionNet
    net = AttentionNet.from_json_obj(json.loads((tmp_path / "net.json").read_text()))
    assert net.sha256() == json.loads(text)["sha256"]


def test_console_entry_point(tmp_path):
    spec = _write(tmp_path, t1_spec(p=4, kappa=3.0))
    proc = subprocess.run([sys.executable, "-m", "certify.cli", "certify", spec],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "certified" in proc.stdout


def test_bound_prints_proved_bound_beside_certified_sup(capsys):
    code, text, _ = _run(["bound", "single-head", "--a", "-1", "--b", "1", "--p", "16",
                          "--kappa", "3", "--json"], capsys)
    assert code == 0
    info = json.loads(text)
    assert info["certified_lower"] <= info["certified_upper"] <= info["bound"]


@pytest.mark.parametrize("argv", [["--a", "1", "--b", "1", "--p", "8", "--kappa", "3"],
                                  ["--a", "0", "--b", "1", "--p", "1", "--kappa", "3"],
                                  ["--a", "0", "--b", "1", "--p", "8", "--kappa", "0"],
                                  ["--a", "nan", "--b", "1", "--p", "8", "--kappa", "3"],
                                  ["--a", "0", "--b", "1", "--p", "x", "--kappa", "3"]])
def test_bound_bad_input(argv, capsys):
    code, out, err = _run(["bound", "single-head", *argv], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_check_verifies_and_rejects_tampering_via_the_command(tmp_path, capsys):
    spec = _write(tmp_path, t1_spec(p=8, kappa=3.0))
    cert_path = tmp_path / "cert.json"
    assert _run(["certify", spec, "--out", str(cert_path)], capsys)[0] == 0
    code, text, _ = _run(["check", str(cert_path), "--json"], capsys)
    info = json.loads(text)
    assert code == 0 and info["verified"] is True and info["reason"]
    cert = json.loads(cert_path.read_text())
    cert["claim"]["upper"] *= 0.9
    bad = _write(tmp_path, cert, "tampered.json")
    code, text, _ = _run(["check", bad, "--json"], capsys)
    info = json.loads(text)
    assert code == 1 and info["verified"] is False and "upper" in info["reason"]


def test_check_malformed_certificate_is_bad_input(tmp_path, capsys):
    for content in ("{not json", json.dumps({"schema": "attncert-certificate/1"}), "[]"):
        path = _write(tmp_path, content, "bad_cert.json")
        code, out, err = _run(["check", path], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1, (content, err)
        assert "verified" not in out.lower() and "Traceback" not in err


def test_bound_refuses_an_absurd_p_with_one_line(capsys):
    from certify.cli import main as cli_main

    code = cli_main(["bound", "single-head", "--a", "-1", "--b", "1", "--p", "1000000000",
                     "--kappa", "3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--p" in err[0]
