"""Functions behind ``attncert theorems list|check`` and ``attncert bound``.

The command line (``certify/cli.py``) prints what these return; they never print.
"""

from __future__ import annotations

import math
import time
from fractions import Fraction
from typing import Any

import numpy as np
from flint import arb, ctx

from certify.errors import InputError
from theorems import registry
from theorems.lemma_i import a_priori_bound_I3_arb
from theorems.obligations import STATUS_TEXT, TheoremEntry, arb_rational

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


def check_theorems(theorem_id: str | None = None, progress=None
                   ) -> tuple[str, dict[str, Any], int]:
    """Discharge every obligation of one result (or of all) and render the proof tree.

    Parameters
    ----------
    theorem_id : str or None
        A registered id, or ``None`` for the whole registry.
    progress : callable, optional
        Called as ``progress(text)`` before each obligation is discharged.

    Returns
    -------
    (str, dict, int)
        ``tree_text``: per result its statement, the paper's claim, our a-priori bound and
        one line per obligation with kind, status (proved symbolically, verified by interval
        arithmetic, open, FAILED) and wall time, plus the reason unless proved; a summary line.
        ``json_obj``: the same as data (``theorems``, ``summary`` counts per status,
        ``seconds``, ``exit_code``).  ``exit_code``: 1 if any obligation failed, else 0 (open
        obligations are reported as open, not as failures).

    Raises
    ------
    certify.errors.InputError
        For an unknown id.
    """
    chosen = registry.entries() if theorem_id is None else [registry.get(theorem_id)]
    start = time.perf_counter()
    lines: list[str] = []
    out: list[dict[str, Any]] = []
    counts = dict.fromkeys(_ORDER, 0)
    for e in chosen:
        lines.append(f"{e.id}  {e.title}  [{_paper(e)}]")
        lines.append(f"    statement: {e.statement}")
        lines.append(f"    paper's claim: {e.paper_claim}")
        if e.a_priori_bound is not None:
            lines.append(f"    a-priori bound: {e.a_priori_bound}")
        obs = e.obligations()
        rows = []
        for i, ob in enumerate(obs):
            if progress is not None:
                progress(f"{e.id}: {ob.id}")
            r = ob.discharge()
            counts[r.status] += 1
            last = i == len(obs) - 1
            lines.append(f"    {'`--' if last else '|--'} {ob.id:<26} {ob.kind:<12} "
                         f"{STATUS_TEXT[r.status]:<32} {r.seconds:7.2f} s")
            pad = "        " if last else "    |   "
            lines.append(f"{pad}{ob.statement}")
            if not r.ok:
                lines.append(f"{pad}-> {r.detail}")
            rows.append({"id": ob.id, "kind": ob.kind, "statement": ob.statement,
                         "status": r.status, "detail": r.detail,
                         "seconds": round(r.seconds, 4)})
        worst = next((s for s in ("failed", "open") if any(x["status"] == s for x in rows)),
                     "proved")
        out.append({"id": e.id, "title": e.title, "paper": dict(e.paper),
                    "paper_claim": e.paper_claim, "statement": e.statement,
                    "a_priori_bound": None if e.a_priori_bound is None
                    else str(e.a_priori_bound),
                    "status": worst, "obligations": rows})
        lines.append("")
    seconds = time.perf_counter() - start
    code = 1 if counts["failed"] else 0
    summary = ", ".join(f"{counts[s]} {STATUS_TEXT[s]}" for s in _ORDER)
    lines.append(f"summary: {summary} ({seconds:.1f} s)")
    obj = {"theorems": out, "summary": counts, "seconds": round(seconds, 3),
           "exit_code": code}
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
    """Our proved a-priori bound for one token of T1 on ``[a - (b-a)/2, b + (b-a)/2]``.

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
        }
    return res
