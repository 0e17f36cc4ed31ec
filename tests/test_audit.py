"""``attncert audit``: the quick audit end to end, evidence of every figure, verdict rules."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from certify import audit_fit as vf
from certify import audit_plan as ap
from certify import audit_report
from certify.audit import REQUIRED_SECTIONS, prepare_out_dir
from certify.audit_tasks import search_smallest, verify_counterexample
from certify.check.verify import check_certificate, load_certificate
from certify.cli import main
from certify.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Keys under which plain numbers are settings or logs, not results.
META_DICTS = {"inputs", "trace", "target", "setting", "training", "below"}
META_SCALARS = {"p", "hardmax_limit_c", "nh_cap", "cost_cap", "direction", "r2"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One quick audit, run as the command is run (a fresh process)."""
    out = tmp_path_factory.mktemp("audit") / "out"
    proc = subprocess.run([sys.executable, "-m", "certify.cli", "audit", "--quick", "--json",
                           "--out", str(out), "--jobs", "2"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    with open(out / "audit.json", encoding="utf-8") as fh:
        audit = json.load(fh)
    return {"dir": str(out), "proc": proc, "audit": audit}


def _figures(obj, path=""):
    """Every figure (a dict with ``kind`` and ``value``) under ``obj``, with its path."""
    if isinstance(obj, dict):
        if "kind" in obj and "value" in obj:
            yield path, obj
            return
        for k, v in obj.items():
            yield from _figures(v, f"{path}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _figures(v, f"{path}[{i}]")


def _bare_numbers(obj, path="", key=None):
    """Numbers in ``obj`` that are neither a figure, nor a setting or log (META_*)."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return
    if isinstance(obj, (int, float)):
        if key not in META_SCALARS:
            yield path
        return
    if isinstance(obj, dict):
        if "kind" in obj and "value" in obj:
            return
        for k, v in obj.items():
            if k in META_DICTS:
                continue
            yield from _bare_numbers(v, f"{path}/{k}", k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _bare_numbers(v, f"{path}[{i}]", key)


# -- the quick audit ---------------------------------------------------------------------------

def test_quick_audit_exits_0_with_json(quick):
    proc = quick["proc"]
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["mode"] == "quick"
    assert info["summary"]["rejected"] == 0
    assert info["summary"]["certificates"] == info["summary"]["verified"] > 0
    assert proc.stderr == ""  # progress lines only on a terminal
    assert quick["audit"]["seconds"] < 60


def test_audit_json_schema_and_claims(quick):
    audit = quick["audit"]
    assert audit["schema"] == "attncert-audit/1"
    ids = {c["id"]: c for c in audit["claims"]}
    assert {"T1-rate", "T1-temperature", "T1-how-large", "T2-rate", "T2-how-large", "UAP",
            "E-heads", "E-p", "E-span"} <= set(ids)
    for c in audit["claims"]:
        assert c["verdict"] in vf.VERDICTS
        assert c["paper"] and c["claim"] and c["ours"]
    assert ids["T1-rate"]["verdict"] == vf.CONFIRMED
    assert ids["T2-rate"]["verdict"] == vf.CONFIRMED
    assert ids["UAP"]["verdict"] == vf.CONFIRMED
    assert ids["T1-temperature"]["verdict"] == vf.REFINED
    for key in ("E-heads", "E-p", "E-span"):  # --quick skips training, and says so
        assert ids[key]["verdict"] == vf.NOT_RUN
    assert not audit["summary"]["task_errors"]


def test_every_number_is_a_figure_or_a_setting(quick):
    audit = quick["audit"]
    bare = list(_bare_numbers(audit["results"], "results"))
    bare += list(_bare_numbers(audit["claims"], "claims"))
    assert not bare, bare[:10]


def test_every_figure_traces_to_a_verified_certificate(quick):
    """Certified figures cite certificate files that exist and that the checker accepts;
    counterexample figures cite re-verified counterexamples; sampled ones say where."""
    out, audit = quick["dir"], quick["audit"]
    figs = list(_figures({"results": audit["results"], "claims": audit["claims"]}))
    assert len(figs) > 100
    cited = set()
    for path, f in figs:
        assert f["kind"] in audit_report.KINDS, path
        if f["kind"] in audit_report.CERTIFIED_KINDS:
            assert f["certificates"], path
            cited.update(f["certificates"])
        elif f["kind"] == "counterexample":
            ce = os.path.join(out, f["counterexample"])
            with open(ce, encoding="utf-8") as fh:
                obj = json.load(fh)
            assert obj["check"]["verified"], path
            again = verify_counterexample(obj["spec"], obj["counterexample"])
            assert again["verified"] and again["error_lower"] > obj["spec"]["epsilon"], path
        else:
            assert f["sampled_on"], path
        for c in f["certificates"]:
            assert os.path.isfile(os.path.join(out, c)), (path, c)
    assert cited
    assert cited <= set(audit["certificates"])
    for c in sorted(cited):
        obj = load_certificate(os.path.join(out, c))
        ok, reason = check_certificate(obj, backend="flint")
        assert ok, (c, reason)


def test_certified_figures_equal_the_certificates(quick):
    """A certified upper bound in audit.json is the claim.upper of the certificate it cites."""
    out, audit = quick["dir"], quick["audit"]
    for path, f in _figures(audit["results"]):
        if f["kind"] in ("certified-upper", "certified-lower"):
            (c,) = f["certificates"]
            claim = load_certificate(os.path.join(out, c))["claim"]
            key = "upper" if f["kind"] == "certified-upper" else "lower"
            assert f["value"] == claim[key], path


def test_report_sections_and_plots(quick):
    out = quick["dir"]
    with open(os.path.join(out, "audit.md"), encoding="utf-8") as fh:
        text = fh.read()
    positions = [text.index(s) for s in REQUIRED_SECTIONS]
    assert positions == sorted(positions)
    for verdict in (vf.CONFIRMED, vf.REFINED, vf.NOT_RUN):
        assert verdict in text
    assert "sampled" in text and "lower bound" in text
    assert "not run" in text
    for name in quick["audit"]["plots"]:
        with open(os.path.join(out, name), "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert len(quick["audit"]["plots"]) >= 5


def test_search_rows_have_a_certified_bracket(quick):
    rows = quick["audit"]["results"]["how_large_t1"]["rows"]
    assert rows
    for r in rows:
        assert r["status"] == "found"
        f = r["figures"]
        assert f["upper"]["value"] <= r["inputs"]["epsilon"]
        assert f["p_below"]["value"] == f["p"]["value"] - 1
        assert f["error_below"]["value"] > r["inputs"]["epsilon"]


# -- bad input ----------------------------------------------------------------------------------

def test_existing_nonempty_dir_without_force_exits_2(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("user data")
    code = main(["audit", "--quick", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and "--force" in err
    assert (tmp_path / "mine.txt").read_text() == "user data"
    assert sorted(os.listdir(tmp_path)) == ["mine.txt"]


def test_unwritable_or_file_dir_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    for target in (str(blocker), str(blocker / "sub")):
        code = main(["audit", "--quick", "--out", target])
        _, err = capsys.readouterr()
        assert code == 2, target
        assert err.startswith("attncert: error:") and err.count("\n") == 1


def test_prepare_out_dir(tmp_path):
    fresh = tmp_path / "a" / "b"
    assert prepare_out_dir(str(fresh), False) == str(fresh)
    assert sorted(os.listdir(fresh)) == ["certs", "counterexamples"]
    (fresh / "x").write_text("")
    with pytest.raises(InputError):
        prepare_out_dir(str(fresh), False)
    prepare_out_dir(str(fresh), True)  # --force: written into, user files kept
    assert (fresh / "x").exists()


# -- verdict rules ------------------------------------------------------------------------------

def test_fit_power_law_recovers_exponent_and_constant():
    ps = [4, 8, 16, 64, 256]
    deltas = [2 / (p - 1) for p in ps]
    fit = vf.fit_power_law(deltas, [0.079 * d for d in deltas])
    assert math.isclose(fit["exponent"], 1.0, abs_tol=1e-12)
    assert math.isclose(fit["coefficient"], 0.079, rel_tol=1e-12)
    assert vf.fit_power_law([1.0], [1.0]) is None
    assert vf.fit_power_law([1.0, 1.0], [1.0, 2.0]) is None
    assert vf.fit_power_law([1.0, 2.0], [0.0, 1.0]) is None


def test_slope_near_minus_one_confirms_O_1_over_p():
    ps = [4, 16, 64, 256, 1024]
    fit = vf.fit_power_law(ps, [0.16 / p * (1 + 0.01 * (-1) ** i) for i, p in enumerate(ps)])
    assert abs(fit["exponent"] + 1) < 0.05
    assert vf.rate_verdict(-fit["exponent"], 1.0) == vf.CONFIRMED
    assert vf.rate_verdict(0.95) == vf.CONFIRMED
    assert vf.rate_verdict(0.5) == vf.NOT_REPRODUCED  # slower than claimed
    assert vf.rate_verdict(2.0) == vf.REFINED  # faster than claimed
    assert vf.rate_verdict(None) == vf.INSUFFICIENT
    assert vf.rate_verdict(1.0, complete=False) == vf.NOT_REPRODUCED


def test_fit_two_factors():
    rows = [(n, h) for n in (4, 16, 64) for h in (1, 2, 4, 8)]
    d = [2 / (n - 1) for n, _ in rows]
    inv_h = [1 / h for _, h in rows]
    fit = vf.fit_two_factors(d, inv_h, [0.079 * a * b for a, b in zip(d, inv_h)])
    assert math.isclose(fit["exponent_1"], 1.0, abs_tol=1e-9)
    assert math.isclose(fit["exponent_2"], 1.0, abs_tol=1e-9)
    assert vf.fit_two_factors([1, 2], [1, 2], [1, 2]) is None
    assert vf.fit_two_factors([1, 1, 1], [1, 2, 3], [1, 2, 3]) is None


def test_limit_existence_and_trend_verdicts():
    assert vf.limit_verdict(0.14) == vf.REFINED
    assert vf.limit_verdict(1.03) == vf.CONFIRMED
    assert vf.limit_verdict(1.5) == vf.NOT_REPRODUCED
    assert vf.limit_verdict(0.14, complete=False) == vf.NOT_REPRODUCED
    assert vf.existence_verdict(4, 4) == vf.CONFIRMED
    assert vf.existence_verdict(3, 4) == vf.NOT_REPRODUCED
    assert vf.existence_verdict(0, 0) == vf.INSUFFICIENT
    assert vf.trend_verdict([1, 2, 4], [3.0, 2.0, 1.0], -1, True)[0] == vf.REFINED
    assert vf.trend_verdict([1, 2, 4], [1.0, 2.0, 3.0], -1, True)[0] == vf.NOT_REPRODUCED
    assert vf.trend_verdict([10, 30, 50], [1.0, 2.0, 3.0], 1, True)[0] == vf.REFINED
    assert vf.trend_verdict([1, 2], [1.0, 2.0], -1, False) == (vf.NOT_RUN, None)
    assert vf.trend_verdict([1], [1.0], -1, True)[0] == vf.INSUFFICIENT
    with pytest.raises(ValueError):
        vf.trend_verdict([1, 2], [1, 2], 0, True)


def test_bracket_verdict_one_constant_for_all_rows():
    # error = C (b - a)/(p - 1) with C = 0.0785: every row's bracket holds C.
    rows = [(eps * (p - 2) / 2, eps * (p - 1) / 2)
            for eps, p in ((1e-1, 3), (1e-2, 17), (1e-3, 158), (1e-4, 1571))]
    verdict, (lo, hi) = vf.bracket_verdict(rows)
    assert verdict == vf.CONFIRMED and lo <= 0.0785 <= hi
    assert vf.bracket_verdict(rows + [(0.02, math.inf)])[0] == vf.CONFIRMED
    # A constant that doubles between rows is not one constant.
    bad = [(0.07, 0.08), (0.15, 0.16)]
    assert vf.bracket_verdict(bad)[0] == vf.NOT_REPRODUCED
    assert vf.bracket_verdict(bad, order=1.5)[0] == vf.REFINED
    assert vf.bracket_verdict([(0.07, 0.08)])[0] == vf.INSUFFICIENT
    assert vf.bracket_verdict([(0.07, math.inf), (0.01, math.inf)])[0] == vf.INSUFFICIENT
    assert vf.bracket_verdict(rows, complete=False)[0] == vf.NOT_REPRODUCED


@pytest.mark.parametrize("threshold,guess", [(37, 10), (37, 200), (37, 37), (2, 50), (1, 1)])
def test_search_smallest_finds_the_boundary(threshold, guess):
    calls = []

    def run(v):
        calls.append(v)
        return ("holds" if v >= threshold else "fails"), v, 0.0

    found = search_smallest(run, guess, 1, 1000, 3)
    assert found["hold"] == threshold
    assert found["miss"] == (threshold - 1 if threshold > 1 else None)
    assert len(calls) == len(found["trace"]) < 30
    assert set(found["payloads"]) == {v for v in (found["hold"], found["miss"]) if v}


def test_search_smallest_reports_not_found_and_undecided():
    found = search_smallest(lambda v: ("fails", None, 0.0), 5, 1, 40, 2)
    assert found["hold"] is None and found["miss"] == 40
    out = {v: "holds" if v >= 10 else ("undecided" if v == 9 else "fails") for v in range(50)}
    found = search_smallest(lambda v: (out[v], None, 0.0), 20, 1, 49, 1)
    assert found["hold"] == 10 and found["miss"] == 9
    assert found["payloads"][9][0] == "undecided"


def test_h_cap_bounds_cost():
    plan = ap.make_plan(quick=False)
    for n in plan["t2_search_n"]:
        h = ap.h_cap(plan, n)
        assert n * h <= plan["t2_nh_cap"] and n * h * h <= plan["t2_cost_cap"]


def test_training_without_torch_is_not_run(monkeypatch):
    from certify import audit_train

    monkeypatch.setattr(audit_train, "torch_available", lambda: (False, "PyTorch is missing"))
    rec = audit_train.train_and_sample(1, 60, 50.0, 1)
    assert rec == {"status": "not run", "reason": "PyTorch is missing"}
    plan = ap.make_plan(quick=False)
    records = {ap.name_train(*t): {**rec, "name": ap.name_train(*t)} for t in plan["train"]}
    sec = audit_report.paper_experiment(plan, records, (False, "PyTorch is missing"))
    assert not sec["ran"] and "PyTorch" in sec["not_run_reason"]
    assert {c["verdict"] for c in sec["claims"].values()} == {vf.NOT_RUN}
    assert all(r["status"].startswith("not run") for r in sec["trained"])
