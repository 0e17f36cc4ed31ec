"""The proof DAG: obligations, the obligations they use, and what a theorem rests on.

Every :class:`~theorems.obligations.Obligation` names the obligations its argument uses
(``uses``) and states its scope (``general``, ``box`` or ``instance``).  The *standing* of
a node is computed over the node and everything below it:

``failed``
    some node below failed, or a used id is missing, or the uses form a cycle;
``open``
    otherwise, some node below is open;
``verified on instances``
    otherwise, some node below holds only on an instance;
``proved on a parameter box``
    otherwise, some node below holds only on a bounded parameter box;
``proved``
    every node below is proved for all parameters under its hypotheses.

A theorem's standing is the worst standing of its obligations.  This module also writes
the JSON export (every sympy expression as ``srepr``, every interval cover) that
:mod:`theorems.replay` re-checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sympy as sp

from theorems.obligations import (
    Construction,
    Identity,
    Inequality,
    Instance,
    Obligation,
    Open,
    Reduction,
    Result,
)

#: Standings, best first.
STANDINGS: tuple[str, ...] = ("proved", "proved on a parameter box", "verified on instances",
                              "open", "failed")
_SCOPE_STANDING = {"general": "proved", "box": "proved on a parameter box",
                   "instance": "verified on instances"}

#: Format tag of the export.
FORMAT = "attncert-proof-1"


def own_standing(kind_status: str, scope: str) -> str:
    """The standing of one node by itself: its status and scope."""
    if kind_status == "failed":
        return "failed"
    if kind_status == "open":
        return "open"
    return _SCOPE_STANDING[scope]


def standings(nodes: Mapping[str, tuple[str, str, tuple[str, ...]]]
              ) -> dict[str, tuple[str, str]]:
    """The standing of every node over its closure.

    Parameters
    ----------
    nodes : mapping id -> (status, scope, uses)

    Returns
    -------
    dict id -> (standing, reason)
        ``reason`` names the node below that determines a standing worse than ``proved``.
    """
    out: dict[str, tuple[str, str]] = {}
    state: dict[str, int] = {}

    def visit(nid: str, path: tuple[str, ...]) -> tuple[str, str]:
        if nid in out:
            return out[nid]
        if state.get(nid) == 1:
            return "failed", f"cyclic uses through {nid}"
        if nid not in nodes:
            return "failed", f"uses the missing obligation {nid}"
        state[nid] = 1
        status, scope, uses = nodes[nid]
        worst = own_standing(status, scope)
        why = "" if worst == "proved" else nid
        for u in uses:
            s, w = visit(u, path + (nid,))
            if STANDINGS.index(s) > STANDINGS.index(worst):
                worst, why = s, w
        state[nid] = 2
        out[nid] = (worst, why)
        return out[nid]

    for nid in nodes:
        visit(nid, ())
    return out


def worst(items: Iterable[str]) -> str:
    """The worst of some standings (``proved`` for none)."""
    return max(items, key=STANDINGS.index, default="proved")


# ------------------------------------------------------------------------------- export

def _s(e: Any) -> str | None:
    if isinstance(e, (str, bytes)):  # exported objects come from code, never from text
        raise TypeError("only sympy objects are exported")
    return None if e is None else sp.srepr(sp.sympify(e))


def payload_json(ob: Obligation) -> dict[str, Any]:
    """The replayable content of an obligation's payload.

    Identity: every fact with ``lhs``, ``rhs``, ``certificate``, ``via``, ``at`` as srepr;
    inequality: every case (expression, bound, box) and its interval cover (filled by the
    discharger); construction and reduction: the network (canonical JSON) and the claims or
    targets as srepr; instance: the description, the backend and the certificate the
    discharger checked (``None`` if none was built);
    open: the reason.
    """
    p = ob.payload
    if isinstance(p, Identity):
        return {"facts": [{"lhs": _s(f.lhs), "rhs": _s(f.rhs), "relation": f.relation,
                           "certificate": _s(f.certificate), "via": _s(f.via), "at": _s(f.at),
                           "label": f.label, "termwise": bool(f.termwise)} for f in p.facts]}
    if isinstance(p, Inequality):
        from theorems.obligations import _box_json, _fraction
        return {"budget": p.budget, "prec": p.prec,
                "cases": [{"expr": _s(c.expr), "bound": _s(c.bound), "label": c.label,
                           "symbols": [_s(v) for v, _, _ in c.box],
                           "box": _box_json([(_fraction(lo), _fraction(hi))
                                             for _, lo, hi in c.box])} for c in p.cases],
                "covers": list(p.covers)}
    if isinstance(p, Construction):
        return {"net": p.net.to_json_obj(),
                "claims": [{"quantity": c.quantity, "index": [int(v) for v in c.index],
                            "expected": _s(c.expected), "tolerance": _s(c.tolerance),
                            "label": c.label} for c in p.claims]}
    if isinstance(p, Reduction):
        return {"net": p.net.to_json_obj(), "targets": [_s(t) for t in p.targets]}
    if isinstance(p, Instance):
        return {"description": p.description, "backend": p.backend,
                "certificate": p.certificate[0] if p.certificate else None}
    if isinstance(p, Open):
        return {"reason": p.reason}
    raise TypeError(f"unknown payload {type(p).__name__}")


def node_json(ob: Obligation, r: Result, standing: tuple[str, str]) -> dict[str, Any]:
    """One exported node: id, kind, scope, uses, statement, status, standing, payload."""
    return {"id": ob.id, "kind": ob.kind, "scope": ob.scope, "uses": list(ob.uses),
            "statement": ob.statement, "status": r.status, "detail": r.detail,
            "seconds": round(r.seconds, 4), "standing": standing[0],
            "standing_reason": standing[1], "payload": payload_json(ob)}
