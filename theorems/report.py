"""Functions behind ``attncert theorems list|check`` and ``attncert bound``.

The command line (``certify/cli.py``) prints what these return; they never print.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
from flint import arb, ctx

from certify.errors import InputError
from theorems import registry
from theorems.lemma_i import a_priori_bound_I3_arb
from theorems.obligations import (
    STATUS_TEXT,
    Identity,
    Obligation,
    Result,
    TheoremEntry,
    arb_rational,
    equal,
)
from theorems.proof_dag import _SCOPE_STANDING, FORMAT, node_json, standings, worst

_ORDER = ("proved-symbolic", "verified-interval", "open", "failed")


def _paper(e: TheoremEntry) -> str:
    return f"v1 {e.paper.get('v1', 'unknown')} / v2 {e.paper.get('v2', 'unknown')}"


def list_theorems() -> list[dict[str, Any]]:
    """One row per registered result.

    Returns
    -------
    list of dict
        JSON-serialisable rows with keys ``id``, ``title``, ``paper`` (one line, e.g.
        ``"v1 Thm 3.1 / v2 Thm 3.4"``), ``paper_numbering`` (dict v1/v2), ``paper_claim``,
        ``statement``, ``hypotheses`` and ``conclusion`` (sympy text), ``a_priori_bound``
        (sympy text or ``None``) and ``has_construction``.  Nothing is discharged.
    """
    rows = []
    for e in registry.entries():
        rows.append({"id": e.id, "title": e.title, "paper": _paper(e),
                     "paper_numbering": dict(e.paper), "paper_claim": e.paper_claim,
                     "statement": e.statement,
                     "hypotheses": [str(h) for h in e.hypotheses],
                     "conclusion": str(e.conclusion),
                     "a_priori_bound": None if e.a_priori_bound is None
                     else str(e.a_priori_bound),
                     "has_construction": e.construction is not None})
    return rows


def _dependency_index(chosen: list[TheoremEntry]) -> Callable[[str], tuple[str, Any] | None]:
    """Find an obligation by id among the registry's entries (built lazily, cached)."""
    cache: dict[str, list] = {}

    def find(oid: str) -> tuple[str, Any] | None:
        for e in registry.entries():
            if e.id not in cache:
                cache[e.id] = _safe_obligations(e)
            for ob in cache[e.id]:
                if ob.id == oid:
                    return e.id, ob
        return None

    return find


def _safe_obligations(e: TheoremEntry) -> list[Obligation]:
    """``e.obligations()``; an exception becomes one failed obligation naming it."""
    try:
        return list(e.obligations())
    except Exception as exc:  # a crashing construction is a failed proof, not a crash
        return [Obligation(f"{e.id}.obligations", "the obligations can be built",
                           Identity((equal(0, 1, label=f"building the obligations raised "
                                                   f"{type(exc).__name__}: {exc}"),)))]


def check_theorems(theorem_id: str | None = None, progress=None
                   ) -> tuple[str, dict[str, Any], int]:
    """Discharge every obligation of one result (or of all) and render the proof DAG.

    Parameters
    ----------
    theorem_id : str or None
        A registered id, or ``None`` for the whole registry.
    progress : callable, optional
        Called as ``progress(text)`` before each obligation is discharged.

    Returns
    -------
    (str, dict, int)
        ``tree_text``: per result its statement, the paper's claim, our a-priori bound, its
        standing (:mod:`theorems.proof_dag`: proved, proved on a parameter box, verified on
        instances, open, failed) and one line per obligation with kind, status, wall time
        and standing, the obligations it uses, and the reason unless proved; obligations of
        other results that are used are discharged too and listed under "used from other
        results".  ``json_obj``: the same as data, with every payload (sympy expressions
        as ``srepr``, interval covers) so that :mod:`theorems.replay` can re-check it
        (``format``, ``theorems``, ``dependencies``, ``summary``, ``seconds``,
        ``exit_code``).  ``exit_code``: 1 if any discharged obligation failed, else 0.

    Raises
    ------
    certify.errors.InputError
        For an unknown id.
    """
    chosen = registry.entries() if theorem_id is None else [registry.get(theorem_id)]
    start = time.perf_counter()
    per: list[tuple[TheoremEntry, list[Obligation]]] = [(e, _safe_obligations(e))
                                                        for e in chosen]
    owner: dict[str, str] = {}
    obs: dict[str, Obligation] = {}
    for e, lst in per:
        for ob in lst:
            obs.setdefault(ob.id, ob)
            owner.setdefault(ob.id, e.id)
    find = _dependency_index(chosen)
    extra: list[str] = []
    todo = [u for ob in list(obs.values()) for u in ob.uses]
    while todo:
        u = todo.pop()
        if u in obs:
            continue
        hit = find(u)
        if hit is None:
            continue
        owner[u], obs[u] = hit
        extra.append(u)
        todo.extend(hit[1].uses)
    results: dict[str, Result] = {}
    for oid, ob in obs.items():
        if progress is not None:
            progress(f"{owner[oid]}: {oid}")
        results[oid] = ob.discharge()
    stand = standings({oid: (results[oid].status, ob.scope, ob.uses)
                       for oid, ob in obs.items()})
    counts = dict.fromkeys(_ORDER, 0)
    for r in results.values():
        counts[r.status] += 1
    lines: list[str] = []
    out: list[dict[str, Any]] = []

    def render(ob: Obligation, last: bool) -> None:
        r = results[ob.id]
        st, why = stand[ob.id]
        lines.append(f"    {'`--' if last else '|--'} {ob.id:<26} {ob.kind:<12} "
                     f"{STATUS_TEXT[r.status]:<32} {r.seconds:7.2f} s  [{st}]")
        pad = "        " if last else "    |   "
        lines.append(f"{pad}{ob.statement}")
        if ob.uses:
            lines.append(f"{pad}uses: {', '.join(ob.uses)}")
        if not r.ok:
            lines.append(f"{pad}-> {r.detail}")
        elif st != _SCOPE_STANDING[ob.scope] and why and why != ob.id:
            lines.append(f"{pad}-> {st} because of {why}")

    for e, lst in per:
        ids = [ob.id for ob in lst]
        theorem_standing = worst(stand[i][0] for i in ids)
        lines.append(f"{e.id}  {e.title}  [{_paper(e)}]")
        lines.append(f"    statement: {e.statement}")
        lines.append(f"    paper's claim: {e.paper_claim}")
        if e.a_priori_bound is not None:
            lines.append(f"    a-priori bound: {e.a_priori_bound}")
        lines.append(f"    standing: {theorem_standing}")
        for i, ob in enumerate(lst):
            render(ob, i == len(lst) - 1)
        out.append({"id": e.id, "title": e.title, "paper": dict(e.paper),
                    "paper_claim": e.paper_claim, "statement": e.statement,
                    "a_priori_bound": None if e.a_priori_bound is None
                    else str(e.a_priori_bound),
                    "status": theorem_standing,
                    "obligations": [node_json(ob, results[ob.id], stand[ob.id])
                                    for ob in lst]})
        lines.append("")
    deps = []
    if extra:
        lines.append("used from other results")
        for i, oid in enumerate(extra):
            render(obs[oid], i == len(extra) - 1)
            deps.append({"theorem": owner[oid],
                         **node_json(obs[oid], results[oid], stand[oid])})
        lines.append("")
    seconds = time.perf_counter() - start
    code = 1 if counts["failed"] else 0
    summary = ", ".join(f"{counts[s]} {STATUS_TEXT[s]}" for s in _ORDER)
    lines.append(f"summary: {summary} ({seconds:.1f} s)")
    obj = {"format": FORMAT, "theorems": out, "dependencies": deps, "summary": counts,
           "seconds": round(seconds, 3), "exit_code": code}
    return "\n".join(lines), obj, code


def _float_up(x: arb) -> float:
    """The smallest binary64 number >= every point of the ball ``x``."""
    u = x.upper()
    f = float(u)
    if not arb(f) >= u:
        f = math.nextafter(f, math.inf)
    return f


def _finite(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise InputError(f"{name} must be a finite number")
    return float(v)


def bound_single_head(a: float, b: float, p: int, kappa: float) -> dict[str, Any]:
    """Our a-priori bound for one token of T1 on ``[a - (b-a)/2, b + (b-a)/2]``.

    ``steps`` (:data:`BOUND_STEPS`) names, for each term, the obligations it rests on and
    their standing (all three terms: proved for all parameters, :mod:`theorems.proof_dag`).

    Setting: one token (n = 1, d = 1, ``y = x``), ``h = (b - a)/2`` computed in binary64, the
    domain ``[lo, hi]`` with ``lo = fl(a - h)`` and ``hi = fl(b + h)``, and the network of
    :func:`theorems.single_head.construct` for this ``kappa`` (its structure, i.e. scores,
    values and the token score ``-fl(beta^ G^)``, is the one the T1 construction obligations
    prove).  The returned ``bound`` bounds ``sup_{y in [lo, hi]} |N(y) - Range_[a,b](y)|`` for
    the stored binary64 network evaluated in exact real arithmetic.  It is the sum of

    * ``i3_bound``: ``Delta c(kappa)`` (Lemma I3 for exact anchors ``L_j = a + j Delta`` and
      exact ``beta = kappa/Delta^2``), evaluated in Arb;
    * ``rounding_bound``: the effect of the stored binary64 numbers.  With
      ``eps = max_j sup_y |s^_j(y) - s_j(y)|`` (stored minus exact anchor scores; linear in y,
      so bounded at the domain's ends, in exact rational arithmetic) it is
      ``max_j |L^_j - L_j| + (e^{2 eps} - 1) Delta (c(kappa) + 1/2)``: the anchors-only
      outputs differ by ``sum_j w^_j (L^_j - L_j) + sum_j (w^_j - w_j) (L_j - Range(y))``,
      each weight moves by a factor in ``[e^{-2 eps}, e^{2 eps}]``, and
      ``sum_j w_j |L_j - Range(y)| <= Delta (1 + 2 sum_k (k+1) e^{-kappa k^2})`` by the facts
      behind I3 (outside ``[a, b]`` it is ``<= Delta sum_k k e^{-kappa k^2}``);
    * ``leakage_bound``: ``n exp(-fl(beta^ G^) - beta m + eps) max_j |L^_j|`` (Lemma S) with
      ``m = min(-Delta^2/4, 2 a lo - a^2, 2 b hi - b^2) <= max_j (2 L_j y - L_j^2)``.

    Cost: O(p) exact rational operations (about 0.5 s for p = 10^4).

    Parameters
    ----------
    a, b : float
        The target interval, ``a < b``.
    p : int
        Number of anchors, ``p >= 2``.
    kappa : float
        ``kappa > 0``; ``beta = kappa / Delta^2``.

    Returns
    -------
    dict
        ``theorem``, ``a``, ``b``, ``p``, ``kappa``, ``domain`` ``[lo, hi]``, ``tokens`` (1),
        ``delta``, ``beta`` and ``G`` (the stored values), ``i3_bound``, ``rounding_bound``,
        ``leakage_bound``, ``bound`` and ``bound_over_delta`` (each the smallest binary64
        number above the Arb enclosure, so rigorous upper bounds) and ``method``.

    Raises
    ------
    certify.errors.InputError
        For ``a >= b``, ``p < 2``, ``kappa <= 0``, a non-finite number or an overflowing domain.
    """
    from theorems.single_head import construct

    a, b, kappa = _finite(a, "a"), _finite(b, "b"), _finite(kappa, "kappa")
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 2:
        raise InputError("p must be an integer >= 2")
    if not a < b:
        raise InputError("the bound needs a < b")
    if kappa <= 0:
        raise InputError("kappa must be > 0")
    p = int(p)
    h = (b - a) / 2
    lo, hi = a - h, b + h
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError("the domain [a - (b-a)/2, b + (b-a)/2] overflows")
    built = construct(a, b, np.array([[1.0]]), np.array([0.0]), np.array([[lo]]),
                      np.array([[hi]]), p, kappa=kappa)
    A, B, K = Fraction(a), Fraction(b), Fraction(kappa)
    D = (B - A) / (p - 1)
    beta = K / (D * D)
    bh = Fraction(built.beta)
    ylo, yhi = Fraction(lo), Fraction(hi)
    eps = Fraction(0)
    dev = Fraction(0)
    for j, Lh in enumerate(np.asarray(built.anchors, float)):
        L = A + j * D
        Lf = Fraction(float(Lh))
        Qf = Fraction(float(Lh) * float(Lh))
        slope = 2 * bh * Lf - 2 * beta * L
        off = bh * Qf - beta * L * L
        eps = max(eps, abs(slope * ylo - off), abs(slope * yhi - off))
        dev = max(dev, abs(Lf - L))
    m = min(-D * D / 4, 2 * A * ylo - A * A, 2 * B * yhi - B * B)
    maxL = max(abs(Fraction(float(v))) for v in built.anchors)
    tt = Fraction(float(built.beta) * float(built.G))
    with ctx.workprec(128):
        i3 = a_priori_bound_I3_arb(K, D)
        e = arb_rational(eps)
        rounding = arb_rational(dev) + ((2 * e).exp() - 1) * (i3 + arb_rational(D / 2))
        leak = (-arb_rational(tt) - arb_rational(beta * m) + e).exp() * arb_rational(maxL)
        total = i3 + rounding + leak
        delta_arb = arb_rational(D)
        res = {
            "theorem": "single-head", "a": a, "b": b, "p": p, "kappa": kappa,
            "domain": [lo, hi], "tokens": 1, "delta": float(D), "beta": built.beta,
            "G": built.G,
            "i3_bound": _float_up(i3), "rounding_bound": _float_up(rounding),
            "leakage_bound": _float_up(leak), "bound": _float_up(total),
            "bound_over_delta": _float_up(total / delta_arb),
            "method": "Lemma I3 closed form + rounding + leakage, Arb 128-bit, rounded up",
            "steps": BOUND_STEPS,
            "proof_note": "; ".join(f"{k.replace('_bound', '')}: {v['standing']}"
                                    for k, v in BOUND_STEPS.items()),
        }
    return res


def bound_multi_head(a: float, b: float, n: int, heads: int, kappa: float) -> dict[str, Any]:
    """Our proved O(Delta/H) bound for T2 with one token of dimension 1 per position.

    Setting: ``n`` tokens, the target ``Range_[a,b](x_k)`` at every token, the domain
    ``[lo, hi] = [fl(a - h), fl(b + h)]`` with ``h = (b - a)/2`` for every token, and the
    network of :func:`theorems.multi_head.construct` (H heads, ``beta = kappa H/Delta^2``,
    ``Delta = (b - a)/(n - 1)``).  The returned ``bound`` bounds
    ``sup_X max_k |N(X)_k - Range_[a,b](x_k)|`` for the stored binary64 network evaluated in
    exact real arithmetic: it is :func:`theorems.multi_head.rate_bound`, the sum of

    * ``template_bound``: ``|omega| Delta (1/2 + C(kappa_eff))`` (T2.rate, for all n, H and
      kappa; ``kappa_eff = beta^ Delta^2/H`` from the stored beta);
    * ``rounding_bound``: the stored-number terms (T2.rate-rounding with T1.rounding per
      head and the coefficient error ``|H omega - 1| max(|a|, |b|)``).

    Parameters
    ----------
    a, b : float
        The target interval, ``a < b``.
    n : int
        Tokens, ``n >= 2`` (also the number of value anchors).
    heads : int
        ``H >= 1``.
    kappa : float
        ``kappa > 0``.

    Returns
    -------
    dict
        ``theorem``, ``a``, ``b``, ``n``, ``heads``, ``kappa``, ``domain``, ``delta``,
        ``template_bound``, ``rounding_bound``, ``bound`` (each the smallest binary64 number
        above an Arb enclosure), ``constant`` (``1/2 + C(kappa_eff)``, rounded up),
        ``bound_times_nH`` (``bound (n - 1) H/(b - a)``, float), ``steps``
        (:data:`RATE_STEPS`), ``proof_note`` and ``method``.

    Raises
    ------
    certify.errors.InputError
        For ``a >= b``, ``n < 2``, ``heads < 1``, ``kappa <= 0``, a non-finite number or an
        overflowing domain.
    """
    from theorems.multi_head import construct, rate_bound

    a, b, kappa = _finite(a, "a"), _finite(b, "b"), _finite(kappa, "kappa")
    for name, v, least in (("n", n, 2), ("heads", heads, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < least:
            raise InputError(f"{name} must be an integer >= {least}")
    if not a < b:
        raise InputError("the bound needs a < b")
    if kappa <= 0:
        raise InputError("kappa must be > 0")
    n, heads = int(n), int(heads)
    h = (b - a) / 2
    lo, hi = a - h, b + h
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError("the domain [a - (b-a)/2, b + (b-a)/2] overflows")
    built = construct(a, b, np.array([1.0]), 0.0, n, heads, kappa=kappa)
    rb = rate_bound(built, np.full((1, n), lo), np.full((1, n), hi))
    return {"theorem": "multi-head", "a": a, "b": b, "n": n, "heads": heads, "kappa": kappa,
            "domain": [lo, hi], "delta": (b - a) / (n - 1), **rb,
            "method": "T2.rate (Delta/H (1/2 + C(kappa))) + stored-number terms, Arb, "
                      "rounded up",
            "steps": RATE_STEPS,
            "proof_note": "; ".join(f"{k.replace('_bound', '')}: {v['standing']}"
                                    for k, v in RATE_STEPS.items())}


#: What each term of :func:`bound_multi_head` rests on (standings as in :data:`BOUND_STEPS`).
RATE_STEPS: dict[str, dict[str, Any]] = {
    "template_bound": {"standing": "proved",
                       "obligations": ["T2.rate", "T2.rate-staircase", "T2.rate-head",
                                       "T2.rate-spacing", "T2.rate-series"],
                       "note": "|omega| Delta (1/2 + C(kappa_eff)), C = Psi_N/(1 - e^{-kappa})"},
    "rounding_bound": {"standing": "proved",
                       "obligations": ["T2.rate-rounding", "T1.rounding"],
                       "note": "per head the rounding of T1.rounding, plus |H omega - g| "
                               "max(|a|, |b|)"},
}


#: What each term of :func:`bound_single_head` rests on.  "proved" means every step is an
#: obligation proved for all parameters (:mod:`theorems.proof_dag`); the rest is labelled.
BOUND_STEPS: dict[str, dict[str, Any]] = {
    "i3_bound": {"standing": "proved",
                 "obligations": ["I3.bound", "I3.bound-outside", "I3.tail-series"],
                 "note": "Delta c(kappa) for exact anchors and beta = kappa/Delta^2"},
    "leakage_bound": {"standing": "proved",
                      "obligations": ["T1.leakage-margin", "T1.leakage-split", "S.pointwise",
                                      "S.sum"],
                      "note": "n e^{-(fl(beta G) + beta m - eps)} max_j |L^_j|: the margin m, "
                              "the gap, Lemma S and the split"},
    "rounding_bound": {"standing": "proved",
                       "obligations": ["T1.rounding-weights", "T1.rounding-spread",
                                       "T1.rounding"],
                       "note": "eps_L + (e^{2 eps} - 1) Delta (c(kappa) + 1/2); eps is "
                               "computed exactly at the domain's ends (the score error is "
                               "affine in y)"},
}
