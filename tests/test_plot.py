"""``attncert plot``: figures for certificates of every kind, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from certify.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Small specs that certify in well under a second each.
SPECS = {
    "uap1d": {"theorem": "uap",
              "target": {"kind": "expression", "expr": "sin(2*x)", "variables": ["x"]},
              "domain": {"lo": -1, "hi": 1},
              "construction": {"route": "interpolation", "p": 33},
              "mode": "prove", "epsilon": 0.05},
    "uap2d": {"theorem": "uap",
              "target": {"kind": "expression", "expr": "x*y", "variables": ["x", "y"]},
              "domain": {"lo": [0, 0], "hi": [1, 1]},
              "construction": {"route": "interpolation", "p": 9},
              "mode": "prove", "epsilon": 0.1},
    "seq2seq": {"theorem": "seq2seq",
                "target": {"kind": "expression", "tokens": 2, "dim": 1,
                           "outputs": [["x0_0"], ["max(x0_0, x1_0)"]]},
                "domain": {"lo": 0, "hi": 1}, "mode": "prove", "epsilon": 0.1},
    "single-head": {"theorem": "single-head",
                    "target": {"kind": "truncated-linear", "a": -1.0, "b": 1.0,
                               "w": [[1.0, 0.5], [0.25, -1.0]], "t": [0.0, 0.1]},
                    "domain": {"lo": -1.0, "hi": 1.0},
                    "construction": {"p": 8, "kappa": 3.0}, "mode": "measure", "tol": 0.05},
}


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict[str, Path]:
    """One certificate per spec, written by ``attncert certify``."""
    d = tmp_path_factory.mktemp("plot_certs")
    out = {}
    for name, spec in SPECS.items():
        spec_path = d / f"{name}.json"
        spec_path.write_text(json.dumps(spec))
        cert = d / f"{name}.cert.json"
        assert main(["certify", str(spec_path), "--out", str(cert), "--jobs", "1"]) == 0
        out[name] = cert
    return out


def _assert_png(path: Path) -> np.ndarray:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 600
    return img


@pytest.mark.parametrize("name", list(SPECS))
def test_plot_writes_png(certs, tmp_path, capsys, name):
    fig = tmp_path / f"{name}.png"
    capsys.readouterr()
    assert main(["plot", str(certs[name]), "--out", str(fig), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # no warning: the samples agree with the claim
    img = _assert_png(fig)
    assert img[..., :3].std() > 0.05  # not a blank canvas
    info = json.loads(captured.out)
    cert = json.loads(certs[name].read_text())
    assert info["plotted"] and info["path"] == str(fig)
    assert info["upper"] == cert["claim"]["upper"] and info["lower"] == cert["claim"]["lower"]
    assert info["verified"] is False
    assert (info["output"]["token"], info["output"]["row"]) == (cert["witness"]["token"],
                                                                cert["witness"]["row"])
    # The sampled maximum is a lower bound of the sup: never above the certified U (up
    # to float64 rounding in the samples).
    assert 0 < info["sampled_max"] <= info["upper"] * (1 + 1e-9)
    kind = "curve" if name in ("uap1d", "single-head") else "map"
    assert info["kind"] == kind


def test_plot_check_verifies_first(certs, tmp_path, capsys):
    fig = tmp_path / "checked.png"
    assert main(["plot", str(certs["uap1d"]), "--out", str(fig), "--check"]) == 0
    out = capsys.readouterr().out
    assert "(verified)" in out
    _assert_png(fig)


def test_plot_force_overwrites(certs, tmp_path, capsys):
    fig = tmp_path / "f.png"
    fig.write_bytes(b"mine")
    assert main(["plot", str(certs["seq2seq"]), "--out", str(fig)]) == 2
    assert fig.read_bytes() == b"mine"  # never overwritten without --force
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err
    assert main(["plot", str(certs["seq2seq"]), "--out", str(fig), "--force"]) == 0
    _assert_png(fig)


def test_plot_axes_option(certs, tmp_path, capsys):
    fig = tmp_path / "axes.png"
    assert main(["plot", str(certs["uap2d"]), "--out", str(fig), "--axes", "1,0",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["axes"] == ["y", "x"]


def _one_line_error(capsys, argv, code=2) -> str:
    capsys.readouterr()
    assert main(argv) == code
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("attncert: error: ")
    assert "Traceback" not in captured.err
    return lines[0]


def test_plot_bad_inputs(certs, tmp_path, capsys):
    good = str(certs["uap1d"])
    fig = str(tmp_path / "x.png")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPECS["uap1d"]))
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": ')
    dup = tmp_path / "dup.json"
    dup.write_text('{"schema": "attncert-certificate/1", "schema": "x"}')
    nan = tmp_path / "nan.json"
    nan.write_text('{"schema": "attncert-certificate/1", "x": NaN}')
    unknown = tmp_path / "unknown.json"
    obj = json.loads(certs["uap1d"].read_text())
    obj["theorem"] = "no-such-theorem"
    unknown.write_text(json.dumps(obj))
    missing = tmp_path / "missing.json"
    obj = json.loads(certs["uap1d"].read_text())
    del obj["witness"]
    missing.write_text(json.dumps(obj))
    target = tmp_path / "target.json"
    obj = json.loads(certs["uap1d"].read_text())
    obj["target"]["expr"] = "__import__('os')"
    target.write_text(json.dumps(obj))

    cases = [
        (["plot", str(tmp_path / "none.json"), "--out", fig], "no such file"),
        (["plot", str(broken), "--out", fig], "malformed JSON"),
        (["plot", str(dup), "--out", fig], "duplicate key"),
        (["plot", str(nan), "--out", fig], "non-finite"),
        (["plot", str(spec), "--out", fig], "not an attncert certificate"),
        (["plot", str(unknown), "--out", fig], "unknown theorem"),
        (["plot", str(missing), "--out", fig], "missing field 'witness'"),
        (["plot", str(target), "--out", fig], "certificate:"),
        (["plot", good, "--out", str(tmp_path / "no" / "dir" / "x.png")], "no such directory"),
        (["plot", good, "--out", str(tmp_path)], "directory"),
        (["plot", good, "--out", str(tmp_path / "x.txt")], ".png"),
        (["plot", good, "--out", "-"], "--out"),
        (["plot", good], "--out"),
        (["plot", good, "--out", fig, "--axes", "a,b"], "--axes"),
    ]
    for argv, words in cases:
        line = _one_line_error(capsys, argv)
        assert words in line, (argv, line)
    assert not (tmp_path / "x.png").exists()


def test_plot_rejects_tampered_network(certs, tmp_path, capsys):
    obj = json.loads(certs["uap1d"].read_text())
    obj["network"]["layers"][1]["heads"][0]["W_O"][0][0] = 2.0
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(obj))
    fig = tmp_path / "t.png"
    assert main(["plot", str(bad), "--out", str(fig)]) == 1
    assert "network_sha256" in capsys.readouterr().out
    assert not fig.exists()


def test_plot_false_claim(certs, tmp_path, capsys):
    """A claim the samples contradict: --check refuses (exit 1); without it the figure is
    drawn with a warning, and U is labelled as the certificate's claim."""
    obj = json.loads(certs["uap1d"].read_text())
    obj["claim"]["upper"] = obj["claim"]["lower"] / 10
    bad = tmp_path / "false.json"
    bad.write_text(json.dumps(obj))
    fig = tmp_path / "false.png"
    assert main(["plot", str(bad), "--out", str(fig), "--check"]) == 1
    assert "REJECTED" in capsys.readouterr().out and not fig.exists()
    assert main(["plot", str(bad), "--out", str(fig)]) == 0
    captured = capsys.readouterr()
    assert "warning: the sampled error" in captured.err
    assert "not verified here" in captured.out
    _assert_png(fig)


def test_plot_latent_cover_over_latent_range():
    """Latent-scalar covers: the curve runs over the whole latent range of the witness
    token, and the attention panel shows every token's query."""
    from certify import api

    result, cert = api.certify(SPECS["single-head"])
    assert cert is not None
    shown = api.plot(cert)
    assert shown.kind == "curve" and shown.attention == "witness"
    assert shown.axes[0].startswith(f"latent y_{cert['witness']['token']}")
    assert shown.sampled_max <= result.upper * (1 + 1e-9)
    # float64 at the witness agrees with the certified lower bound there (to rounding)
    assert abs(shown.witness_error) >= result.lower * (1 - 1e-6)
