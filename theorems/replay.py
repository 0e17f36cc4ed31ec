"""Re-check an exported proof (``attncert theorems check --json``) without the construction code.

:func:`replay` reads the export strictly (duplicate keys and unknown keys are refused,
sympy text is parsed only by :func:`theorems.srepr_parse.parse_srepr`, never evaluated) and
re-checks every node from its exported payload alone:

* ``identity``: every fact is proved again by :func:`theorems.obligations.prove_fact`;
* ``inequality``: every case's interval cover is walked: the root is the case's box, every
  bisection splits its box at the midpoint, every monotonicity step is justified by an Arb
  enclosure of the partial derivative with a sign, and every leaf's Arb enclosure of the
  expression lies below the bound (python-flint, at the exported precision);
* ``construction`` and ``reduction``: the exported network (``certify.network`` data) and
  claims are discharged again;
* ``instance``: the exported engine certificate is checked again by the independent
  checker (``certify.check.verify.check_certificate``, the exported backend); the node
  stays an instance node (it can never make anything "proved");
* ``open``: stays open.

An identity node whose facts name ``bound:<id>`` symbols is an *entailment*: its conclusion
must be its entailment's bound with every ``bound:<id>`` replaced by the bound node ``<id>``
exports (:func:`check_entailments`), so a combination step states exactly what its premises
prove.  The standings (:mod:`theorems.proof_dag`) are then recomputed and must equal the
exported ones, node by node and theorem by theorem.  Any difference, a node that fails, or a scope
that its kind cannot have rejects the export.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction
from typing import Any

import sympy as sp
from flint import ctx

from theorems.obligations import (
    _NONSMOOTH,
    BOUND_PREFIX,
    Claim,
    Construction,
    Fact,
    Reduction,
    applied_bounds,
    arb_interval,
    bound_variables,
    compile_arb,
    discharge_construction,
    discharge_reduction,
    prove_fact,
    resolve_bounds,
    resolve_fact,
)
from theorems.proof_dag import FORMAT, standings, worst
from theorems.srepr_parse import parse_srepr


class Rejected(ValueError):
    """The export is malformed or does not replay; the message says where."""


_TOP = {"format", "theorems", "dependencies", "summary", "seconds", "exit_code"}
_THEOREM = {"id", "title", "paper", "paper_claim", "statement", "a_priori_bound", "status",
            "obligations"}
_NODE = {"id", "kind", "scope", "uses", "statement", "status", "detail", "seconds",
         "standing", "standing_reason", "payload"}
_PAYLOAD = {"identity": {"facts"}, "inequality": {"budget", "prec", "cases", "covers"},
            "construction": {"net", "claims"}, "reduction": {"net", "targets"},
            "instance": {"description", "backend", "certificate"}, "open": {"reason"}}
_FACT = {"lhs", "rhs", "relation", "certificate", "via", "at", "label", "termwise"}
_CASE = {"expr", "bound", "label", "symbols", "box"}
_CLAIM = {"quantity", "index", "expected", "tolerance", "label"}
_SCOPES_OF = {"identity": {"general"}, "inequality": {"general", "box", "instance"},
              "construction": {"instance"}, "reduction": {"instance"},
              "instance": {"instance"}, "open": {"general"}}
_SUCCESS = {"identity": "proved-symbolic", "inequality": "verified-interval",
            "construction": "proved-symbolic", "reduction": "proved-symbolic",
            "instance": "verified-interval", "open": "open"}
_FRACTION = re.compile(r"^-?[0-9]{1,4000}/[0-9]{1,4000}$")
MAX_COVER_NODES = 2_000_000


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise Rejected(f"duplicate key {k!r}")
        out[k] = v
    return out


def load_export(text: str) -> dict[str, Any]:
    """Parse the export's JSON text strictly (duplicate keys refused, no NaN/Infinity)."""

    def bad_constant(name: str) -> Any:
        raise Rejected(f"non-finite number {name} in the export")

    try:
        obj = json.loads(text, object_pairs_hook=_unique, parse_constant=bad_constant)
    except json.JSONDecodeError as exc:
        raise Rejected(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise Rejected("the export is not a JSON object")
    return obj


def _keys(obj: Any, allowed: set[str], where: str, required: set[str] | None = None) -> None:
    if not isinstance(obj, dict):
        raise Rejected(f"{where}: expected an object")
    extra = set(obj) - allowed
    if extra:
        raise Rejected(f"{where}: unknown key(s) {sorted(extra)}")
    missing = (allowed if required is None else required) - set(obj)
    if missing:
        raise Rejected(f"{where}: missing key(s) {sorted(missing)}")


def _expr(text: Any, where: str, optional: bool = False) -> sp.Basic | None:
    if text is None and optional:
        return None
    try:
        return parse_srepr(text)
    except (ValueError, TypeError, RecursionError) as exc:
        raise Rejected(f"{where}: {exc}") from None


def _frac(text: Any, where: str) -> Fraction:
    if not isinstance(text, str) or not _FRACTION.match(text):
        raise Rejected(f"{where}: bad fraction {text!r}")
    num, den = text.split("/")
    if int(den) == 0:
        raise Rejected(f"{where}: zero denominator")
    return Fraction(int(num), int(den))


# ---------------------------------------------------------------------------- replays

def _premise_exports(facts: list[Fact], uses: list[str], nodes: dict[str, dict],
                     where: str) -> dict[str, sp.Expr]:
    """The exported bounds of the premises the facts apply (``bound:<id>(...)``); each must
    be among ``uses`` and exported."""
    ids = {a.func.__name__[len(BOUND_PREFIX):] for f in facts
           for e in (f.lhs, f.rhs, f.certificate, f.at) if e is not None
           for a in applied_bounds(e)}
    bad = sorted(i for i in ids if i not in uses or i not in nodes)
    if bad:
        raise Rejected(f"{where}: applied premise bound(s) {bad} not among its uses")
    return {i: exported_bound(nodes[i], f"{where} premise {i}") for i in sorted(ids)}


def _replay_identity(payload: dict, where: str, uses: list[str] | None = None,
                     nodes: dict[str, dict] | None = None) -> tuple[str, str]:
    _keys(payload, _PAYLOAD["identity"], where)
    if not isinstance(payload["facts"], list):
        raise Rejected(f"{where}: facts must be a list")
    facts = []
    for n, f in enumerate(payload["facts"]):
        w = f"{where} fact {n}"
        _keys(f, _FACT, w)
        if f["relation"] not in ("==", ">=") or not isinstance(f["termwise"], bool) \
                or not isinstance(f["label"], str):
            raise Rejected(f"{w}: bad relation, label or termwise flag")
        via = _expr(f["via"], w, optional=True)
        if via is not None and not isinstance(via, sp.Symbol):
            raise Rejected(f"{w}: via must be a symbol")
        facts.append(Fact(_expr(f["lhs"], w), _expr(f["rhs"], w), f["relation"],
                          _expr(f["certificate"], w, optional=True), via,
                          _expr(f["at"], w, optional=True), f["label"], f["termwise"]))
    exports = _premise_exports(facts, uses or [], nodes or {}, where)
    for fact in facts:
        try:
            fact = resolve_fact(fact, exports)
        except ValueError as exc:
            return "failed", f"{exc} in: {fact.label}"
        ok, why = prove_fact(fact)
        if not ok:
            return "failed", why
    return "proved-symbolic", f"{len(payload['facts'])} fact(s) re-proved"


def _check_cover(root: Any, expr: sp.Expr, syms: list[sp.Symbol], bound: sp.Expr,
                 box: list[tuple[Fraction, Fraction]], prec: int, where: str) -> None:
    with ctx.workprec(prec):
        f = compile_arb(expr, syms)
        c = compile_arb(bound, [])([])
        grads = None if expr.has(*_NONSMOOTH) else \
            [compile_arb(sp.diff(expr, s), syms) for s in syms]
        stack = [(root, box)]
        count = 0
        while stack:
            node, want = stack.pop()
            count += 1
            if count > MAX_COVER_NODES:
                raise Rejected(f"{where}: cover too large")
            if not isinstance(node, dict) or "box" not in node:
                raise Rejected(f"{where}: malformed cover node")
            got = node["box"]
            if not isinstance(got, list) or len(got) != len(want) or any(
                    not isinstance(iv, list) or len(iv) != 2 for iv in got):
                raise Rejected(f"{where}: malformed box")
            if [(_frac(lo, where), _frac(hi, where)) for lo, hi in got] != want:
                raise Rejected(f"{where}: a cover box is not the box it must cover")
            env = [arb_interval(lo, hi) for lo, hi in want]
            keys = set(node) - {"box"}
            if keys == {"leaf"}:
                if node["leaf"] is not True or not f(env) <= c:
                    raise Rejected(f"{where}: a leaf's enclosure is not below the bound")
            elif keys == {"face", "child"}:
                if grads is None:
                    raise Rejected(f"{where}: monotonicity step on a non-smooth expression")
                face = [(_frac(lo, where), _frac(hi, where)) for lo, hi in node["face"]] \
                    if isinstance(node["face"], list) else None
                if face is None or len(face) != len(want) or face == want:
                    raise Rejected(f"{where}: malformed monotonicity step")
                for i, ((lo, hi), fi) in enumerate(zip(want, face, strict=True)):
                    if fi == (lo, hi):
                        continue
                    g = grads[i](env)
                    if not ((fi == (hi, hi) and g >= 0) or (fi == (lo, lo) and g <= 0)):
                        raise Rejected(f"{where}: monotonicity step not justified")
                stack.append((node["child"], face))
            elif keys == {"split", "children"}:
                i, ch = node["split"], node["children"]
                if type(i) is not int or not 0 <= i < len(want) or not isinstance(ch, list) \
                        or len(ch) != 2:
                    raise Rejected(f"{where}: malformed split")
                lo, hi = want[i]
                mid = (lo + hi) / 2
                left, right = list(want), list(want)
                left[i], right[i] = (lo, mid), (mid, hi)
                stack.append((ch[0], left))
                stack.append((ch[1], right))
            else:
                raise Rejected(f"{where}: unknown cover node keys {sorted(keys)}")


def _replay_inequality(payload: dict, where: str) -> tuple[str, str]:
    _keys(payload, _PAYLOAD["inequality"], where)
    prec = payload["prec"]
    if type(prec) is not int or not 53 <= prec <= 4096:
        raise Rejected(f"{where}: bad precision")
    cases, covers = payload["cases"], payload["covers"]
    if not isinstance(cases, list) or not isinstance(covers, list):
        raise Rejected(f"{where}: cases and covers must be lists")
    if len(covers) != len(cases):
        return "failed", "no interval cover for every case"
    for n, (case, cover) in enumerate(zip(cases, covers, strict=True)):
        w = f"{where} case {n}"
        _keys(case, _CASE, w)
        syms = [_expr(s, w) for s in case["symbols"]]
        if not all(isinstance(s, sp.Symbol) for s in syms) or len(set(syms)) != len(syms):
            raise Rejected(f"{w}: box variables must be distinct symbols")
        if not isinstance(case["box"], list) or len(case["box"]) != len(syms):
            raise Rejected(f"{w}: box does not match its variables")
        box = [(_frac(lo, w), _frac(hi, w)) for lo, hi in case["box"]]
        _check_cover(cover, _expr(case["expr"], w), syms, _expr(case["bound"], w), box,
                     prec, w)
    return "verified-interval", f"{len(cases)} interval cover(s) re-checked"


def _net(obj: Any, where: str) -> Any:
    from certify.network import AttentionNet
    try:
        return AttentionNet.from_json_obj(obj)
    except Exception as exc:  # the network format's own validation decides
        raise Rejected(f"{where}: bad network ({exc})") from None


def _replay_construction(payload: dict, where: str) -> tuple[str, str]:
    _keys(payload, _PAYLOAD["construction"], where)
    claims = []
    for n, c in enumerate(payload["claims"]):
        w = f"{where} claim {n}"
        _keys(c, _CLAIM, w)
        if not isinstance(c["index"], list) or not all(type(v) is int for v in c["index"]):
            raise Rejected(f"{w}: bad index")
        tol = _expr(c["tolerance"], w)
        if not tol.is_Rational or tol < 0:
            raise Rejected(f"{w}: tolerance must be a nonnegative rational")
        claims.append(Claim(str(c["quantity"]), tuple(c["index"]), _expr(c["expected"], w),
                            tol, str(c["label"])))
    return discharge_construction(Construction(_net(payload["net"], where), tuple(claims)))


def _replay_reduction(payload: dict, where: str) -> tuple[str, str]:
    _keys(payload, _PAYLOAD["reduction"], where)
    targets = tuple(_expr(t, where) for t in payload["targets"])
    return discharge_reduction(Reduction(_net(payload["net"], where), targets))


def _replay_instance(payload: dict, where: str, theorem: Any) -> tuple[str, str]:
    """Check the exported certificate again with the independent checker (both backends),
    after checking that it is a certificate of the theorem the node belongs to."""
    _keys(payload, _PAYLOAD["instance"], where)
    backend, cert = payload["backend"], payload["certificate"]
    if backend != "both":
        raise Rejected(f"{where}: an instance certificate is checked with both backends, "
                       f"not {backend!r}")
    if cert is None:
        return "failed", "no certificate was built"
    if not isinstance(cert, dict) or cert.get("theorem") != theorem:
        raise Rejected(f"{where}: the exported certificate is not one of theorem {theorem!r}")
    from certify.check.verify import check_certificate
    verified, reason = check_certificate(cert, backend=backend)
    if verified is True:
        return "verified-interval", f"checker ({backend}) accepted the exported certificate"
    return "failed", f"checker rejected the exported certificate: {reason}"


def _replay_node(node: dict, where: str, nodes: dict[str, dict], theorem: Any
                 ) -> tuple[str, str]:
    kind, payload = node["kind"], node["payload"]
    if kind == "identity":
        return _replay_identity(payload, where, node["uses"], nodes)
    if kind == "inequality":
        return _replay_inequality(payload, where)
    if kind == "construction":
        return _replay_construction(payload, where)
    if kind == "reduction":
        return _replay_reduction(payload, where)
    if kind == "instance":
        return _replay_instance(payload, where, theorem)
    if kind == "open":
        _keys(payload, _PAYLOAD["open"], where)
        return "open", payload["reason"]
    raise Rejected(f"{where}: unknown kind {kind!r}")


def _labelled(node: dict, prefix: str) -> list[dict]:
    return [f for f in node["payload"]["facts"] if f["label"].startswith(prefix)]


def exported_bound(node: dict, where: str) -> sp.Basic:
    """The bound a node exports: the common left side of an identity node's ``conclusion``
    facts, or the common bound of an inequality node's cases labelled ``conclusion...``."""
    try:
        return _exported_bound(node, where)
    except (KeyError, TypeError, AttributeError):
        raise Rejected(f"{where}: malformed premise node") from None


def exports_bound(node: dict) -> bool:
    """Whether a node has ``conclusion`` facts or cases, that is, exports a bound."""
    try:
        items = node["payload"]["cases" if node["kind"] == "inequality" else "facts"]
        return node["kind"] in ("identity", "inequality") and any(
            isinstance(x, dict) and isinstance(x.get("label"), str)
            and x["label"].startswith("conclusion") for x in items)
    except (KeyError, TypeError):
        return False


def _exported_bound(node: dict, where: str) -> sp.Basic:
    if node["kind"] == "inequality":
        cases = node["payload"]["cases"]
        if not isinstance(cases, list):
            raise Rejected(f"{where}: cases must be a list")
        sides = [_expr(c["bound"], where) for c in cases
                 if isinstance(c["label"], str) and c["label"].startswith("conclusion")]
    elif node["kind"] == "identity":
        sides = [_expr(f["lhs"], where) for f in _labelled(node, "conclusion")]
    else:
        raise Rejected(f"{where}: a premise must be an identity or inequality node")
    if not sides or any(x != sides[0] for x in sides):
        raise Rejected(f"{where}: no common conclusion bound")
    return sides[0]


def _check_bound_names(facts: list[dict], ent: sp.Basic, names: set[str],
                       where: str) -> None:
    """The rules on how an entailment names its premises' bounds (:func:`check_entailments`)."""
    plain, placed = set(), set()
    for f in facts:
        for key in ("lhs", "rhs", "certificate", "at"):
            e = _expr(f[key], where, optional=True)
            if e is None:
                continue
            for s in e.free_symbols:
                if isinstance(s, sp.Symbol) and s.name.startswith(BOUND_PREFIX):
                    if s != sp.Symbol(s.name, nonnegative=True):
                        raise Rejected(f"{where}: {s.name} must be declared nonnegative and "
                                       "nothing else (it stands for a premise's bound)")
                    plain.add(s)
            if f["relation"] == ">=" and key in ("rhs", "certificate"):
                placed |= applied_bounds(e)
    missing = sorted(s.name for s in plain if s not in ent.free_symbols)
    if missing:
        raise Rejected(f"{where}: premise bound(s) {missing} do not enter the entailment bound")
    for f in facts:
        for key in ("lhs", "rhs", "certificate", "at"):
            e = _expr(f[key], where, optional=True)
            loose = applied_bounds(e) - placed if e is not None else set()
            if loose:
                raise Rejected(f"{where}: an applied premise bound must bound something (the "
                               "right side or certificate of an inequality): "
                               f"{sorted(map(str, loose))}")


def check_entailments(nodes: dict[str, dict]) -> int:
    """Check every entailment node against the bounds its premises export.

    A node is an entailment when its facts mention a symbol ``bound:<id>`` or apply a
    premise bound ``bound:<id>(p1, v1, ...)``.  Then: every such id is among the node's uses
    and is an identity node with facts labelled ``conclusion...`` sharing one left side, or
    an inequality node with cases labelled ``conclusion...`` sharing one bound (the bound it
    exports; an inequality's holds where its cases' boxes and its scope say); conversely
    every node among its uses that exports a bound is named (an entailment cannot list a
    premise and argue from another bound in its place); the node's facts labelled
    ``entailment...`` share one left side E (its bound in terms of the premises' bounds);
    and its one fact labelled exactly ``conclusion`` is an equation ``B == R`` without
    ``bound:`` symbols or applications, with ``R - E[bound:<id> := exported bound of
    <id>]`` reduced to 0 by sympy.  The facts themselves are re-proved by the identity
    replay, with every applied premise bound replaced by the exported bound at the given
    parameters (:func:`theorems.obligations.resolve_bounds`).

    Parameters
    ----------
    nodes : dict
        Exported nodes by id (already key-checked).

    Returns
    -------
    int
        The number of entailment nodes checked.

    Raises
    ------
    Rejected
        With the first violated rule.
    """
    from theorems.obligations import is_zero

    count = 0
    for nid, node in nodes.items():
        if node["kind"] != "identity" or BOUND_PREFIX not in json.dumps(node["payload"]):
            continue
        where = f"node {nid}"
        facts = node["payload"]["facts"]
        if not isinstance(facts, list):
            raise Rejected(f"{where}: facts must be a list")
        names = set()
        for f in facts:
            for key in ("lhs", "rhs", "certificate", "at"):
                e = _expr(f[key], where, optional=True)
                if e is not None:
                    names |= {s.name[len(BOUND_PREFIX):] for s in e.free_symbols
                              if isinstance(s, sp.Symbol) and s.name.startswith(BOUND_PREFIX)}
                    names |= {a.func.__name__[len(BOUND_PREFIX):] for a in applied_bounds(e)}
        if not names:
            continue
        missing = sorted(u for u in names if u not in node["uses"] or u not in nodes)
        if missing:
            raise Rejected(f"{where}: entailment premise(s) {missing} not among its uses")
        unused = sorted(u for u in node["uses"] if u in nodes and u not in names
                        and exports_bound(nodes[u]))
        if unused:
            raise Rejected(f"{where}: the entailment uses premise(s) {unused} but not the "
                           "bound they export")
        ent = [_expr(f["lhs"], where) for f in _labelled(node, "entailment")]
        if not ent or any(x != ent[0] for x in ent):
            raise Rejected(f"{where}: no common entailment bound")
        _check_bound_names(facts, ent[0], names, where)
        concl = [f for f in facts if f["label"] == "conclusion"]
        if len(concl) != 1 or concl[0]["relation"] != "==":
            raise Rejected(f"{where}: an entailment needs one equation labelled conclusion")
        rhs = _expr(concl[0]["rhs"], where)
        lhs = _expr(concl[0]["lhs"], where)
        if any(s.name.startswith(BOUND_PREFIX) for s in (lhs.free_symbols | rhs.free_symbols)
               if isinstance(s, sp.Symbol)) or applied_bounds(lhs) or applied_bounds(rhs):
            raise Rejected(f"{where}: the conclusion still names a premise bound")
        sub = {s: exported_bound(nodes[s.name[len(BOUND_PREFIX):]], f"{where} premise {s.name}")
               for s in ent[0].free_symbols
               if isinstance(s, sp.Symbol) and s.name.startswith(BOUND_PREFIX)}
        for s, b in sub.items():
            if b.is_nonnegative is False or b.free_symbols & {s}:
                raise Rejected(f"{where}: the bound {s.name} stands for is negative or "
                               "names itself")
        inside = set(sub) | set().union(*(b.free_symbols for b in sub.values()))
        if bound_variables(ent[0]) & inside:
            raise Rejected(f"{where}: the entailment bound binds a symbol of a premise bound "
                           "(substitution would capture it)")
        applied = {a.func.__name__[len(BOUND_PREFIX):] for a in applied_bounds(ent[0])}
        try:
            value = resolve_bounds(ent[0].xreplace(sub), {
                i: exported_bound(nodes[i], f"{where} premise {i}") for i in applied})
        except ValueError as exc:
            raise Rejected(f"{where}: {exc}") from None
        if not is_zero(rhs - value):
            raise Rejected(f"{where}: the conclusion is not the entailment at the premises' "
                           "bounds")
        count += 1
    return count


def _plain_node(n: dict) -> None:
    """A node's id, kind, scope, status and standing must be strings."""
    for key in ("id", "kind", "scope", "status", "standing"):
        if not isinstance(n[key], str):
            raise Rejected(f"node {n.get('id')!r}: {key} must be a string")
    if "theorem" in n and not isinstance(n["theorem"], str):
        raise Rejected(f"node {n['id']}: theorem must be a string")


def replay(obj: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
    """Re-check an export.

    Parameters
    ----------
    obj : dict
        From :func:`load_export`.

    Returns
    -------
    (bool, str, dict)
        ``(True, summary, info)`` if every node replays with its exported status, every
        standing is reproduced and nothing failed; else ``(False, reason, info)``.
        ``info`` has per-theorem standings and counts of replayed nodes.
    """
    try:
        return _replay(obj)
    except Rejected as exc:
        return False, str(exc), {}
    except Exception as exc:  # a malformed export is rejected, whatever part of it fails
        return False, f"malformed export ({type(exc).__name__}: {exc})", {}


def _replay(obj: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
    _keys(obj, _TOP, "export")
    if obj["format"] != FORMAT:
        raise Rejected(f"unknown format {obj['format']!r}")
    if not isinstance(obj["theorems"], list) or not isinstance(obj["dependencies"], list):
        raise Rejected("theorems and dependencies must be lists")
    nodes: dict[str, dict] = {}
    theorem_of: dict[str, str] = {}
    for t in obj["theorems"]:
        _keys(t, _THEOREM, "theorem")
        if not isinstance(t["obligations"], list) or not isinstance(t["id"], str):
            raise Rejected("a theorem needs a string id and a list of obligations")
        for n in t["obligations"]:
            _keys(n, _NODE, f"node in {t['id']}")
            _plain_node(n)
            if n["id"] in nodes:
                raise Rejected(f"node {n['id']} appears twice")
            nodes[n["id"]], theorem_of[n["id"]] = n, t["id"]
    for n in obj["dependencies"]:
        _keys(n, _NODE | {"theorem"}, "dependency")
        _plain_node(n)
        if n["id"] in nodes:
            raise Rejected(f"node {n['id']} appears twice")
        nodes[n["id"]], theorem_of[n["id"]] = n, n["theorem"]
    replayed: dict[str, str] = {}
    counts = {"nodes": 0, "instances": 0}
    for nid, n in nodes.items():
        where = f"node {nid}"
        if not isinstance(nid, str) or n["kind"] not in _SCOPES_OF:
            raise Rejected(f"{where}: bad id or kind")
        if n["scope"] not in _SCOPES_OF[n["kind"]]:
            raise Rejected(f"{where}: a {n['kind']} node cannot have scope {n['scope']!r}")
        if not isinstance(n["uses"], list) or not all(isinstance(u, str) for u in n["uses"]):
            raise Rejected(f"{where}: uses must be a list of ids")
        status, detail = _replay_node(n, where, nodes, theorem_of[nid])
        if status not in (_SUCCESS[n["kind"]], "failed"):
            status = "failed"
        replayed[nid] = status
        counts["instances" if n["kind"] == "instance" else "nodes"] += 1
        if status != n["status"]:
            return False, (f"{where}: exported status {n['status']!r}, replayed "
                           f"{status!r} ({detail})"), counts
        if status == "failed":
            return False, f"{where} failed: {detail}", counts
    counts["entailments"] = check_entailments(nodes)
    stand = standings({nid: (replayed[nid], n["scope"], tuple(n["uses"]))
                       for nid, n in nodes.items()})
    for nid, n in nodes.items():
        if stand[nid][0] != n["standing"]:
            return False, (f"node {nid}: exported standing {n['standing']!r}, replayed "
                           f"{stand[nid][0]!r}"), counts
    info: dict[str, Any] = {"theorems": {}, **counts}
    for t in obj["theorems"]:
        st = worst(stand[n["id"]][0] for n in t["obligations"])
        if st != t["status"]:
            return False, (f"theorem {t['id']}: exported standing {t['status']!r}, replayed "
                           f"{st!r}"), counts
        info["theorems"][t["id"]] = st
    summary = ", ".join(f"{k}: {v}" for k, v in info["theorems"].items())
    return True, (f"{counts['nodes']} node(s) re-checked, {counts['instances']} instance "
                  f"certificate(s) re-checked by certify.check, {counts['entailments']} "
                  f"entailment(s) matched to their premises; {summary}"), info
