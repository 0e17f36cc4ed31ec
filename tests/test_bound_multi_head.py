"""``attncert bound multi-head``: the proved O(1/(nH)) bound beside the certified sup error.

Covers: the bound (T2.rate + stored-number terms) is never below the certified upper end
of the sup error of the same network, over n, H and kappa; each step it names rests on
obligations whose standing in the proof DAG is "proved"; the constant is 1/2 + C(kappa_eff);
the command prints both and refuses bad input with one line and exit 2.
"""

from __future__ import annotations

import json

import pytest

from certify.cli import main
from certify.pipeline import certify
from certify.spec import parse_spec
from theorems import report
from theorems.proof_dag import standings
from theorems.t2_rate import rate_constant_arb


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("n,H,kappa", [(2, 1, 3.0), (4, 3, 1.0), (6, 2, 0.25), (9, 5, 3.0),
                                       (3, 8, 20.0)])
def test_bound_dominates_the_certified_sup(n, H, kappa):
    res = report.bound_multi_head(-1.0, 2.0, n, H, kappa)
    lo, hi = res["domain"]
    spec = parse_spec({"theorem": "multi-head", "tokens": n,
                       "target": {"kind": "truncated-linear", "a": -1.0, "b": 2.0,
                                  "w": [1.0], "t": 0.0},
                       "domain": {"lo": lo, "hi": hi},
                       "construction": {"heads": H, "kappa": kappa},
                       "mode": "measure", "tol": 0.01})
    result, cert = certify(spec)
    assert result.holds and cert["construction"]["heads"] == H
    assert result.lower <= result.upper <= res["bound"]
    assert res["template_bound"] <= res["bound"] and res["rounding_bound"] < 1e-10
    # The constant is 1/2 + C at kappa_eff = beta^ Delta^2/H, close to kappa.
    c = rate_constant_arb(kappa)
    assert abs(res["constant"] - float(c.mid())) < 1e-9 * float(c.mid())


def test_steps_rest_on_proved_obligations():
    res = report.bound_multi_head(-1.0, 1.0, 4, 2, 3.0)
    _, obj, _ = report.check_theorems("multi-head")
    nodes = {n["id"]: n for n in obj["theorems"][0]["obligations"] + obj["dependencies"]}
    st = standings({k: (n["status"], n["scope"], tuple(n["uses"])) for k, n in nodes.items()})
    assert set(res["steps"]) == {"template_bound", "rounding_bound"}
    for name, step in res["steps"].items():
        assert step["standing"] == "proved"
        for oid in step["obligations"]:
            assert st[oid][0] == "proved", (name, oid)


def test_command_prints_bound_and_certified_sup(capsys):
    code, text, _ = _run(["bound", "multi-head", "--a", "-1", "--b", "1", "--n", "5",
                          "--heads", "3", "--kappa", "3", "--json"], capsys)
    info = json.loads(text)
    assert code == 0 and info["schema"] == "attncert-bound-report/1"
    assert info["certified_lower"] <= info["certified_upper"] <= info["bound"]
    assert info["bound_over_certified"] > 1 and info["heads"] == 3
    code, text, _ = _run(["bound", "multi-head", "--a", "-1", "--b", "1", "--n", "5",
                          "--heads", "3", "--kappa", "3"], capsys)
    assert code == 0 and "T2.rate" in text and "certified sup error" in text


@pytest.mark.parametrize("argv", [
    ["--a", "-1", "--b", "1", "--n", "5", "--kappa", "3"],                      # no --heads
    ["--a", "-1", "--b", "1", "--heads", "2", "--kappa", "3"],                  # no --n
    ["--a", "-1", "--b", "1", "--n", "5", "--heads", "2", "--p", "4", "--kappa", "3"],
    ["--a", "-1", "--b", "1", "--n", "1", "--heads", "2", "--kappa", "3"],
    ["--a", "-1", "--b", "1", "--n", "5", "--heads", "0", "--kappa", "3"],
    ["--a", "-1", "--b", "1", "--n", "100000", "--heads", "2", "--kappa", "3"],
    ["--a", "1", "--b", "1", "--n", "5", "--heads", "2", "--kappa", "3"],
    ["--a", "-1", "--b", "1", "--n", "5", "--heads", "2", "--kappa", "-1"],
    ["--a", "-1", "--b", "inf", "--n", "5", "--heads", "2", "--kappa", "3"]])
def test_bad_input_is_one_line(argv, capsys):
    code, out, err = _run(["bound", "multi-head", *argv], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "certified" not in out
