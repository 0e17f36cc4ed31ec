"""The measure floor of input-box certificates (theorems uap, uap-softmax, seq2seq).

A network that represents its target exactly, or nearly (a constant target), has an error of
0 or of rounding size, with no positive lower bound, so no ratio ``U/L``.  Mode measure then
claims ``sup error <= U`` below the floor ``2^-40 S``, ``S`` the largest ``|f_k|`` at the
domain's centre and corners (docs/certificates.md, section 4.6); the checker recomputes a
lower bound of S in each backend, and still bounds every box by ``claim.upper``.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from certify.cli import main
from certify.targets import parse_target

F1 = Fraction(1, 2 ** 40)  # the floor of a target with S = 1
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

#: The reproduction: a constant target, whose a-priori bound is about 3e-27.
CONSTANT = {"theorem": "uap", "target": {"kind": "expression", "expr": "1", "variables": ["x"]},
            "domain": {"lo": 0, "hi": 1}, "mode": "measure", "tol": 0.1, "epsilon": 0.1}


def _spec(expr, lo, hi, variables=("x",), theorem="uap"):
    return {"theorem": theorem,
            "target": {"kind": "expression", "expr": expr, "variables": list(variables)},
            "domain": {"lo": lo, "hi": hi}, "mode": "measure", "tol": 0.1, "epsilon": 0.1}


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _certify(tmp_path, spec, capsys, name="c.json"):
    path = tmp_path / f"spec_{name}"
    path.write_text(json.dumps(spec))
    cert = str(tmp_path / name)
    code, out, err = _run(["certify", str(path), "--out", cert, "--jobs", "1"], capsys)
    return code, out, err, cert


def _check(cert, capsys, backend="both"):
    return _run(["check", cert, "--backend", backend], capsys)


def _tampered(tmp_path, cert, change, name="t.json"):
    obj = json.loads(open(cert).read())
    change(obj)
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return str(path)


# -- the reproduction and the CLI ---------------------------------------------------------

def test_constant_target_is_certified_below_the_floor_and_checks(tmp_path, capsys):
    code, out, err, cert = _certify(tmp_path, CONSTANT, capsys)
    assert code == 0, out + err
    assert "sup error <=" in out and "measure floor 2^-40 S" in out
    claim = json.loads(open(cert).read())["claim"]
    assert claim["mode"] == "measure"
    # Half the engine's floor: S = 1 is enclosed exactly, so U = 2^-41.
    assert claim["upper"] == 2.0 ** -41 and 0 <= claim["lower"] <= claim["upper"]
    code, out, err = _check(cert, capsys)
    assert code == 0, out + err
    assert "verified (both)" in out and "measure floor" in out


def test_json_report_carries_the_floor(tmp_path, capsys):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(CONSTANT))
    code, out, err = _run(["certify", str(path), "--json"], capsys)
    rep = json.loads(out)
    assert code == 0 and rep["exit_code"] == 0 and rep["holds"] is True
    assert rep["floor"] == 2.0 ** -40 and rep["upper"] == 2.0 ** -41
    assert rep["ratio"] is None


def test_two_dimensional_constant(tmp_path, capsys):
    code, out, err, cert = _certify(tmp_path, _spec("2", [0, 0], [1, 1], ("x", "y")), capsys)
    assert code == 0 and "measure floor" in out, out + err
    assert json.loads(open(cert).read())["claim"]["upper"] <= 2 * F1
    code, out, err = _check(cert, capsys)
    assert code == 0, out + err


def test_zero_target_has_no_floor_and_says_so_in_one_line(tmp_path, capsys):
    code, out, err, cert = _certify(tmp_path, _spec("0", 0, 1), capsys)
    assert code == 1, out + err
    assert "Traceback" not in out + err and err == ""
    first = out.splitlines()[0]
    assert first.startswith("NOT CERTIFIED: the error is at most")
    assert "no measure floor" in first and "use mode prove with an epsilon" in first
    path = tmp_path / "z.json"
    path.write_text(json.dumps(_spec("0", 0, 1)))
    code, out, err = _run(["certify", str(path), "--json"], capsys)
    rep = json.loads(out)
    assert code == 1 and rep["error"] == "not-certified" and "floor" not in rep


# -- tampering ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def constant_cert(tmp_path_factory):
    import contextlib
    import io

    tmp = tmp_path_factory.mktemp("floor")
    path = tmp / "spec.json"
    path.write_text(json.dumps(CONSTANT))
    cert = str(tmp / "c.json")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["certify", str(path), "--out", cert, "--jobs", "1"]) == 0
    return cert


def test_upper_raised_above_the_floor_is_rejected(tmp_path, capsys, constant_cert):
    # lower = 0: above the floor no ratio rule can accept the claim either.
    for upper in (2.0 ** -39, 1e-6, math.nextafter(2.0 ** -40, 1.0)):
        bad = _tampered(tmp_path, constant_cert, lambda o, u=upper: o["claim"].update(upper=u))
        for backend in ("flint", "pyinterval"):
            code, out, err = _check(bad, capsys, backend)
            assert code == 1 and "REJECTED" in out and "measure floor" in out, out + err


def test_upper_at_the_floor_itself_is_accepted(tmp_path, capsys, constant_cert):
    # S = 1 exactly in both backends, so 2^-40 is the floor, and the boxes are far below it.
    ok = _tampered(tmp_path, constant_cert, lambda o: o["claim"].update(upper=2.0 ** -40))
    code, out, err = _check(ok, capsys)
    assert code == 0, out + err


def test_upper_below_the_true_error_is_rejected_by_the_boxes(tmp_path, capsys, constant_cert):
    # The same network against f = 1.001: the error is 0.001, far above claim.upper, and S
    # grows, so the floor rule passes; the box checks must reject.
    target = parse_target({"kind": "expression", "expr": "1.001", "variables": ["x"]}).normal
    bad = _tampered(tmp_path, constant_cert, lambda o: o.update(target=target))
    for backend in ("flint", "pyinterval"):
        code, out, err = _check(bad, capsys, backend)
        assert code == 1 and "REJECTED" in out and "checker bound" in out, out + err
    # claim.upper = 0 meets the ratio rule (0 <= 1.1 * 0); the boxes' rounding does not.
    zero = _tampered(tmp_path, constant_cert, lambda o: o["claim"].update(upper=0.0))
    code, out, err = _check(zero, capsys)
    assert code == 1 and "checker bound" in out, out + err


# -- composed theorems ------------------------------------------------------------------

def test_seq2seq_constant_outputs(tmp_path, capsys):
    spec = {"theorem": "seq2seq",
            "target": {"kind": "expression", "tokens": 2, "dim": 1, "outputs": [["1"], ["2"]]},
            "domain": {"lo": 0, "hi": 1}, "mode": "measure", "tol": 0.1, "epsilon": 0.1}
    code, out, err, cert = _certify(tmp_path, spec, capsys)
    assert code == 0 and "sup error <=" in out and "measure floor" in out, out + err
    # S = 2: the largest output over every output entry.
    assert json.loads(open(cert).read())["claim"]["upper"] == 2.0 ** -40
    code, out, err = _check(cert, capsys)
    assert code == 0, out + err
    bad = _tampered(tmp_path, cert, lambda o: o["claim"].update(upper=2.0 ** -38))
    code, out, err = _check(bad, capsys)
    assert code == 1 and "measure floor" in out, out + err


def test_uap_softmax_constant(tmp_path, capsys):
    # Before the floor, this run split boxes until its budget ran out.
    spec = _spec("1", 0, 1, theorem="uap-softmax")
    code, out, err, cert = _certify(tmp_path, spec, capsys)
    assert code == 0 and "measure floor" in out, out + err
    code, out, err = _check(cert, capsys)
    assert code == 0, out + err


# -- the definition of S: engine and checker ----------------------------------------------

def _exact_scale(expr_text, variables, lo, hi):
    """S at 50 digits (mpmath), from the same reference points."""
    from certify.check.box_verify import reference_points
    from certify.expression import MpOps, evaluate

    ops = MpOps(50)
    expr = parse_target({"kind": "expression", "expr": expr_text,
                         "variables": list(variables)}).expr
    return max(abs(evaluate(expr, [ops.const(q) for q in p], ops))
               for p in reference_points(lo, hi))


@pytest.mark.parametrize("expr, variables, lo, hi", [
    ("exp(x) * sin(y) + 0.1", ("x", "y"), [-1.0, 0.3], [2.0, 1.7]),
    ("x - 3", ("x",), [1.0], [math.nextafter(1.0, 2.0)]),  # the centre is not a float
    ("x * (1 - x)", ("x",), [0.0], [1.0]),  # 0 at the corners, 1/4 at the centre
    ("x + y * z", ("x", "y", "z"), [-2.0, -1.0, 0.5], [1.0, 3.0, 0.75]),
])
def test_engine_and_checker_bound_the_same_scale(expr, variables, lo, hi):
    from certify.box_engine import scale_lower as engine_scale
    from certify.check.box_verify import scale_lower as checker_scale
    from certify.targets import NumpyTarget

    target = parse_target({"kind": "expression", "expr": expr, "variables": list(variables)})
    S = _exact_scale(expr, variables, lo, hi)
    s_e = engine_scale(NumpyTarget(target), np.array(lo), np.array(hi))
    assert 0 < s_e <= S
    for backend in ("flint", "pyinterval"):
        s_c = checker_scale(backend, [target.expr], lo, hi)
        assert 0 < s_c <= S
        # The engine claims at most half its own floor: every backend must agree.
        assert s_e / 2 <= s_c


def test_reference_points():
    from certify.box_engine import reference_boxes
    from certify.check.box_verify import reference_points

    pts = reference_points([0.0, -1.0], [1.0, 3.0])
    assert pts[0] == [Fraction(1, 2), Fraction(1)] and len(pts) == 5
    assert len(reference_points([0.0] * 10, [1.0] * 10)) == 1 + 2 ** 10
    assert len(reference_points([0.0] * 11, [1.0] * 11)) == 1  # the centre alone
    # The engine's boxes contain the checker's exact points, in the same order.
    lo, hi = [1.0, -3.0, 0.0], [math.nextafter(1.0, 2.0), 5.0, 1e-300]
    blo, bhi = reference_boxes(np.array(lo), np.array(hi))
    exact = reference_points(lo, hi)
    assert blo.shape == (len(exact), 3)
    for p, a, b in zip(exact, blo, bhi):
        assert all(Fraction(float(x)) <= q <= Fraction(float(y)) for q, x, y in zip(p, a, b))


# -- a normal measure run is unchanged ----------------------------------------------------

def test_normal_measure_run_does_not_use_the_floor(monkeypatch):
    from certify import box_engine
    from certify.network import canonical_json
    from certify.pipeline import certify
    from certify.spec import parse_spec

    spec_obj = json.loads((EXAMPLES / "uap_sin.json").read_text())
    spec_obj.update(mode="measure", tol=0.1)
    spec = parse_spec(spec_obj)
    result, cert = certify(spec)
    assert result.holds and result.floor is None
    assert result.upper <= 1.1 * result.lower
    # The same run with no floor at all gives the same certificate, byte for byte.
    monkeypatch.setattr(box_engine, "FLOOR_FRACTION", Fraction(0))
    result0, cert0 = certify(spec)
    assert canonical_json(cert0) == canonical_json(cert)
