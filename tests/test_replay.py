"""``attncert theorems replay``: an exported proof re-checks, a tampered one does not."""

from __future__ import annotations

import copy
import json

import pytest
import sympy as sp

from certify.cli import main
from theorems import replay, report
from theorems.srepr_parse import parse_srepr


@pytest.fixture(scope="module")
def export():
    _, obj, code = report.check_theorems("single-head")
    assert code == 0
    return json.loads(json.dumps(obj))


def _node(obj, oid):
    for n in obj["theorems"][0]["obligations"] + obj["dependencies"]:
        if n["id"] == oid:
            return n
    raise KeyError(oid)


def _write(tmp_path, obj, name="proof.json"):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return str(path)


def test_replay_succeeds(export, tmp_path, capsys):
    ok, why, info = replay.replay(copy.deepcopy(export))
    assert ok, why
    assert info["theorems"] == {"single-head": "verified on instances"}
    assert main(["theorems", "replay", _write(tmp_path, export)]) == 0
    assert "replayed" in capsys.readouterr().out


def test_tampered_certificate_expression_fails(export, tmp_path):
    obj = copy.deepcopy(export)
    fact = _node(obj, "T1.leakage-split")["payload"]["facts"][0]
    fact["certificate"] = sp.srepr(parse_srepr(fact["certificate"]) * 2)
    ok, why, _ = replay.replay(obj)
    assert not ok and "T1.leakage-split" in why
    assert main(["theorems", "replay", _write(tmp_path, obj)]) == 1


def test_tampered_claim_expression_fails(export):
    obj = copy.deepcopy(export)
    fact = _node(obj, "T1.sym-score")["payload"]["facts"][0]
    fact["rhs"] = sp.srepr(parse_srepr(fact["rhs"]) + 1)
    assert not replay.replay(obj)[0]


def _first_leaf(node):
    while "leaf" not in node:
        node = node["child"] if "child" in node else node["children"][0]
    return node


def test_tampered_interval_cover_fails(export, tmp_path):
    obj = copy.deepcopy(export)
    pay = _node(obj, "T1.bound")["payload"]
    root = pay["covers"][0]
    assert "children" in root or "child" in root  # a real bisection tree
    leaf = _first_leaf(root)
    lo, hi = leaf["box"][0]
    leaf["box"][0] = [lo, lo]  # the cover no longer covers its box
    ok, why, _ = replay.replay(obj)
    assert not ok and "cover" in why
    assert main(["theorems", "replay", _write(tmp_path, obj)]) == 1
    # a bound lowered below the error is caught at the leaves
    obj = copy.deepcopy(export)
    case = _node(obj, "T1.bound")["payload"]["cases"][0]
    case["bound"] = sp.srepr(sp.Rational(1, 10**6))
    assert not replay.replay(obj)[0]
    # a dropped cover
    obj = copy.deepcopy(export)
    _node(obj, "T1.bound")["payload"]["covers"].pop()
    assert not replay.replay(obj)[0]


@pytest.mark.parametrize("change", ["node status", "standing", "theorem status", "scope",
                                    "uses"])
def test_changed_status_fails(export, tmp_path, change):
    obj = copy.deepcopy(export)
    if change == "node status":
        _node(obj, "T1.sym-score")["status"] = "failed"
    elif change == "standing":
        _node(obj, "T1.bound")["standing"] = "proved"
    elif change == "theorem status":
        obj["theorems"][0]["status"] = "proved"
    elif change == "scope":
        _node(obj, "T1.bound")["scope"] = "general"
        _node(obj, "T1.bound")["standing"] = "proved"
    else:
        _node(obj, "T1.sym-kappa")["uses"] = ["T1.no-such-node"]
    assert not replay.replay(obj)[0]
    assert main(["theorems", "replay", _write(tmp_path, obj)]) == 1


def test_strict_parsing(export, tmp_path):
    text = json.dumps(export)
    with pytest.raises(replay.Rejected, match="duplicate"):
        replay.load_export('{"format": 1, "format": 2}')
    obj = copy.deepcopy(export)
    obj["extra"] = 1
    assert "unknown key" in replay.replay(obj)[1]
    obj = copy.deepcopy(export)
    _node(obj, "T1.sym-score")["payload"]["facts"][0]["lhs"] = \
        "__import__('os').system('true')"
    ok, why, _ = replay.replay(obj)
    assert not ok
    path = tmp_path / "dup.json"
    path.write_text(text[:-1] + ', "seconds": 1}')
    assert main(["theorems", "replay", str(path)]) == 1


@pytest.mark.parametrize("text", [
    "Symbol('x').__class__", "eval('1')", "Add(Integer(1), Float('1.5', precision=53))",
    "Symbol('x', evaluate=True)", "Integer(1) + Integer(2)", "Subs(Symbol('x'))",
    "Lambda(Symbol('x'), Symbol('x'))", "Integer(1)) ", "Add(" * 300 + ")" * 300,
    "Pow(Integer(10), Integer(1000000000))", "Integer(" + "9" * 5000 + ")"])
def test_srepr_parser_refuses(text):
    with pytest.raises(ValueError):
        parse_srepr(text)


def test_srepr_parser_round_trips():
    x = sp.Symbol("x", positive=True)
    k = sp.Symbol("k", integer=True, positive=True)
    e = sp.IndexedBase("e", positive=True)
    g = sp.Function("g")
    for expr in (sp.exp(-x * k**2) / (1 + x), sp.Sum(e[k] * g(x), (k, 1, sp.oo)),
                 sp.Limit(1 / x, x, sp.oo), sp.Max(x, 1) - sp.Abs(x - sp.Rational(3, 7)),
                 sp.pi * sp.sin(x) + sp.log(x)):
        assert parse_srepr(sp.srepr(expr)) == expr


# ------------------------------------------------------------------- instance certificates

def _instance(obj):
    return next(n for n in obj["theorems"][0]["obligations"] + obj["dependencies"]
                if n["kind"] == "instance")


def test_instance_certificate_is_exported_and_rechecked(export):
    node = _instance(export)
    cert = node["payload"]["certificate"]
    assert cert["schema"] == "attncert-certificate/1" and node["status"] == "verified-interval"
    ok, why, info = replay.replay(copy.deepcopy(export))
    assert ok and info["instances"] >= 1 and "re-checked by certify.check" in why


def test_tampered_instance_certificate_fails(export):
    """The claimed sup error lowered below the certificate's own witness error: the
    checker rejects it, so the exported status no longer replays."""
    obj = copy.deepcopy(export)
    cert = _instance(obj)["payload"]["certificate"]
    cert["claim"]["upper"] = cert["witness"]["error_lower"] / 2
    ok, why, _ = replay.replay(obj)
    assert not ok and "rejected the exported certificate" in why


@pytest.mark.parametrize("change", ["no certificate", "backend", "extra key"])
def test_malformed_instance_payload_fails(export, change):
    obj = copy.deepcopy(export)
    payload = _instance(obj)["payload"]
    if change == "no certificate":
        payload["certificate"] = None
    elif change == "backend":
        payload["backend"] = "float64"
    else:
        payload["trusted"] = True
    assert not replay.replay(obj)[0]


def test_instance_certificate_of_another_theorem_or_backend_fails(export):
    obj = copy.deepcopy(export)
    _instance(obj)["payload"]["certificate"]["theorem"] = "multi-head"
    ok, why, _ = replay.replay(obj)
    assert not ok and "not one of theorem 'single-head'" in why
    obj = copy.deepcopy(export)
    _instance(obj)["payload"]["backend"] = "flint"
    ok, why, _ = replay.replay(obj)
    assert not ok and "both backends" in why


@pytest.mark.parametrize("where", ["node id", "case symbols", "box entry", "claims"])
def test_malformed_parts_are_rejected_not_raised(export, where):
    obj = copy.deepcopy(export)
    nodes = obj["theorems"][0]["obligations"] + obj["dependencies"]
    if where == "node id":
        nodes[0]["id"] = ["x"]
    else:
        kind = {"case symbols": "inequality", "box entry": "inequality",
                "claims": "construction"}[where]
        node = next(n for n in nodes if n["kind"] == kind)
        if where == "case symbols":
            node["payload"]["cases"][0]["symbols"] = 5
        elif where == "box entry":
            node["payload"]["cases"][0]["box"] = [5] * len(node["payload"]["cases"][0]["box"])
        else:
            node["payload"]["claims"] = 5
    ok, why, _ = replay.replay(obj)
    assert ok is False and why
