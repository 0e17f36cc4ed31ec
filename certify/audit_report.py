"""From task records to ``audit.json`` (every number with its evidence) and the claims.

Figures
-------
Every number in the ``results`` and ``claims`` of ``audit.json`` is a *figure*:
``{"value": v, "kind": k, "certificates": [...], ...}``.  The kind says what the number is:

``certified-upper`` / ``certified-lower``
    ``claim.upper`` (sup error <= it) or ``claim.lower`` (the checker proved the error at
    the witness input is >= it) of the cited certificate.
``resource``
    a resource read from the cited certificate (anchors, heads, beta, parameters, boxes).
``derived``
    arithmetic on figures of the cited certificates (e.g. ``U / Delta``).
``fit``
    a least-squares summary of the cited certificates' figures (not itself certified).
``a-priori``
    a proved a-priori bound (theorem code, Arb), about the network of the cited certificate.
``counterexample``
    from a prove-mode counterexample, re-evaluated with the checker's arithmetic; carries
    the ``counterexample`` file instead of certificates.
``sampled``
    float evaluation at finitely many inputs (``sampled_on`` says which); a largest sampled
    error is only a lower bound of the sup error.  Trained models have no certificate.

Inputs (``inputs`` of a row: the resources and accuracies the audit chose) are plain
numbers; they are what was asked, not what was found.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from typing import Any

from certify import audit_fit as vf
from certify import audit_plan as ap
from certify.audit_tasks import PAPER_D, PAPER_N, PAPER_X_MAX, T1_A, T1_B, T1_HI, T1_LO

SCHEMA = "attncert-audit/1"
CERTIFIED_KINDS = ("certified-upper", "certified-lower", "resource", "derived", "fit",
                   "a-priori")
KINDS = CERTIFIED_KINDS + ("counterexample", "sampled")
SPAN_T1 = T1_B - T1_A


def fig(value: Any, kind: str, certs: Any = (), **extra: Any) -> dict[str, Any]:
    """A figure (module docstring); ``certs`` are certificate paths relative to DIR."""
    if kind not in KINDS:
        raise ValueError(f"unknown figure kind {kind!r}")
    if isinstance(value, float) and not math.isfinite(value):
        value = None
    return {"value": value, "kind": kind,
            "certificates": sorted({c for c in certs if c}), **extra}


def ok(rec: dict[str, Any] | None) -> bool:
    """True iff the record's certificate exists and passed the checker and conformance."""
    return bool(rec and rec.get("status") == "ok" and rec.get("holds")
                and rec.get("check", {}).get("verified"))


def status(rec: dict[str, Any] | None) -> str:
    """One-phrase status of a certification record."""
    if rec is None:
        return "missing"
    if rec.get("status") == "error":
        return f"error: {rec.get('error')}"
    if rec.get("status") == "not run":
        return f"not run: {rec.get('reason')}"
    if not rec.get("holds", True):
        return f"not certified: {rec.get('message')}"
    chk = rec.get("check")
    if chk is not None and not chk.get("verified"):
        return f"rejected: {chk.get('reason')} / conformance: {chk['conformance']['reason']}"
    return "certified"


def _cu(rec: dict[str, Any]) -> tuple[str, float, float]:
    return rec["certificate"], float(rec["claim"]["upper"]), float(rec["claim"]["lower"])


def _value(f: dict[str, Any] | None) -> Any:
    return None if f is None else f.get("value")


# -- sections -----------------------------------------------------------------------------------

def t1_rate(plan: dict[str, Any], R: dict[str, Any]) -> dict[str, Any]:
    """T1: certified sup error against p at fixed kappa; fitted order in Delta and constant
    ``C = U / Delta``."""
    rows, good = [], []
    for p in plan["t1_p"]:
        rec = R.get(ap.name_t1(p))
        row: dict[str, Any] = {"inputs": {"p": p, "kappa": plan["kappa"]}, "status": status(rec)}
        if ok(rec):
            c, U, L = _cu(rec)
            d = float(rec["parameters"]["delta"])
            row["figures"] = {
                "upper": fig(U, "certified-upper", [c]), "lower": fig(L, "certified-lower", [c]),
                "delta": fig(d, "resource", [c]),
                "beta": fig(float(rec["parameters"]["beta"]), "resource", [c]),
                "c_upper": fig(U / d, "derived", [c]), "c_lower": fig(L / d, "derived", [c]),
                "boxes": fig(rec["check"]["boxes"], "resource", [c])}
            good.append((p, d, U, L, c))
        rows.append(row)
    certs = [g[4] for g in good]
    fu = vf.fit_power_law([g[1] for g in good], [g[2] for g in good])
    fl = vf.fit_power_law([g[1] for g in good], [g[3] for g in good])
    fp = vf.fit_power_law([g[0] for g in good], [g[2] for g in good])
    cs = vf.summary([g[2] / g[1] for g in good])
    figures: dict[str, Any] = {}
    if fu and fl and fp and cs:
        figures = {
            "order_upper": fig(fu["exponent"], "fit", certs, r2=fu["r2"]),
            "order_lower": fig(fl["exponent"], "fit", certs, r2=fl["r2"]),
            "exponent_in_p": fig(fp["exponent"], "fit", certs, r2=fp["r2"]),
            "constant_median": fig(cs["median"], "derived", certs),
            "constant_min": fig(cs["min"], "derived", certs),
            "constant_max": fig(cs["max"], "derived", certs)}
    verdict = vf.rate_verdict(fu["exponent"] if fu else None, 1.0,
                              complete=len(good) == len(rows))
    return {"target": _t1_target(), "rows": rows, "figures": figures, "verdict": verdict}


def _t1_target() -> dict[str, Any]:
    return {"function": f"Range_[{T1_A:g},{T1_B:g}](x)", "domain": [T1_LO, T1_HI],
            "b_minus_a": SPAN_T1}


def t1_kappa(plan: dict[str, Any], R: dict[str, Any]) -> dict[str, Any]:
    """c(kappa) = U / Delta at one p over the kappa grid; its minimiser and the ratio to the
    hardmax limit 1/2 (docs/mathematics.md, I4), beside the proved I3 constant."""
    from theorems.uap import kernel_constants

    rows, good = [], []
    points = ([(kappa, ap.name_kappa(i), False) for i, kappa in enumerate(plan["kappa_grid"])]
              + [(kappa, ap.name_kappa_refine(i), True)
                 for i, kappa in enumerate(plan.get("kappa_refine_values", []))])
    for kappa, name, refined in sorted(points):
        rec = R.get(name)
        row: dict[str, Any] = {"inputs": {"p": plan["kappa_p"], "kappa": kappa,
                                          "refinement": refined},
                               "status": status(rec)}
        if ok(rec):
            c, U, L = _cu(rec)
            d = float(rec["parameters"]["delta"])
            c_in = kernel_constants(Fraction(kappa))["c_in"]
            row["figures"] = {
                "upper": fig(U, "certified-upper", [c]), "lower": fig(L, "certified-lower", [c]),
                "c_upper": fig(U / d, "derived", [c]), "c_lower": fig(L / d, "derived", [c]),
                "c_a_priori": fig(c_in, "a-priori", [c],
                                  source="theorems.uap.kernel_constants: I3, c_in = 1/2 + "
                                         "2 sum (k+1) exp(-kappa k^2) (Arb)")}
            good.append((kappa, U / d, L / d, c, refined))
        rows.append(row)
    figures: dict[str, Any] = {}
    ratio = None
    grid = [g for g in good if not g[4]]
    if good:
        best = min(good, key=lambda g: g[1])
        ratio = best[1] / 0.5
        largest = max(good, key=lambda g: g[0])
        best_grid = min(grid, key=lambda g: g[1]) if grid else best
        figures = {
            "kappa_star_grid": fig(best_grid[0], "derived", [best_grid[3]]),
            "c_min_grid": fig(best_grid[1], "derived", [best_grid[3]]),
            "kappa_star": fig(best[0], "derived", [best[3]]),
            "c_min": fig(best[1], "derived", [best[3]]),
            "c_min_lower": fig(best[2], "derived", [best[3]]),
            "ratio_to_hardmax": fig(ratio, "derived", [best[3]]),
            "kappa_largest": fig(largest[0], "derived", [largest[3]]),
            "c_at_largest_kappa": fig(largest[1], "derived", [largest[3]])}
        idx = [g[0] for g in good].index(best[0])
        figures["kappa_bracket"] = {
            "low": fig(good[max(idx - 1, 0)][0], "derived", [good[max(idx - 1, 0)][3]]),
            "high": fig(good[min(idx + 1, len(good) - 1)][0], "derived",
                        [good[min(idx + 1, len(good) - 1)][3]])}
    expected = len(plan["kappa_grid"]) + len(plan.get("kappa_refine_values", []))
    verdict = vf.limit_verdict(ratio, complete=bool(good) and len(good) == expected)
    return {"target": _t1_target(), "p": plan["kappa_p"], "rows": rows, "figures": figures,
            "hardmax_limit_c": 0.5, "verdict": verdict}


def _search_rows(plan: dict[str, Any], R: dict[str, Any], names: list[tuple[dict, str]],
                 variable: str) -> list[dict[str, Any]]:
    rows = []
    for inputs, name in names:
        rec = R.get(name)
        row: dict[str, Any] = {"inputs": inputs}
        if rec is None or rec.get("status") != "ok":
            row["status"] = status(rec)
            rows.append(row)
            continue
        row["trace"] = rec.get("trace")
        hold = rec.get("hold")
        figures: dict[str, Any] = {}
        if hold is not None:
            if hold.get("check", {}).get("verified"):
                c = hold["certificate"]
                params = hold["parameters"]
                beta = params["beta"][0] if isinstance(params["beta"], list) else params["beta"]
                delta = (params["delta"][0] if isinstance(params["delta"], list)
                         else params["delta"])
                figures.update({
                    variable: fig(hold[variable], "resource", [c]),
                    "beta": fig(float(beta), "resource", [c]),
                    "delta": fig(float(delta), "resource", [c]),
                    "upper": fig(float(hold["claim"]["upper"]), "certified-upper", [c]),
                    "lower": fig(float(hold["claim"]["lower"]), "certified-lower", [c])})
                row["status"] = "found"
            else:
                row["status"] = "rejected: " + hold.get("check", {}).get("reason", "")
        else:
            row["status"] = f"not found: {variable} <= {rec.get('cap')} does not reach epsilon"
        below = rec.get("below")
        if below is not None:
            row["below"] = {"outcome": below["outcome"], "verified": below.get("verified"),
                            "reason": below.get("reason")}
            if below.get("outcome") == "fails" and below.get("verified") and "file" in below:
                figures[variable + "_below"] = fig(below[variable], "counterexample",
                                                   counterexample=below["file"])
                figures["error_below"] = fig(below["error_lower"], "counterexample",
                                             counterexample=below["file"])
            elif below.get("outcome") == "fails" and below.get("verified"):
                c = [below["certificate"]]
                figures[variable + "_below"] = fig(below[variable], "resource", c)
                figures["error_below"] = fig(below["error_lower"], "certified-lower", c)
        row["figures"] = figures
        rows.append(row)
    return rows


def _constant_brackets(rows: list[dict[str, Any]], variable: str, scale) -> list[tuple]:
    """Per search row, the bracket ``(lo, hi]`` of the constant C of ``error = C s / r``.

    ``scale(row, r)`` is the constant at which resource r meets epsilon exactly; a row
    that holds at r gives ``C <= scale(r)`` (certificate), a failure at r' gives
    ``C > scale(r')`` (counterexample or certificate).  The brackets are added to the
    rows as figures ``constant_high`` and ``constant_low``.
    """
    out = []
    for r in rows:
        f = r.get("figures", {})
        if variable not in f and variable + "_below" not in f:
            continue
        hi, lo = math.inf, 0.0
        if variable in f:
            hi = scale(r, _value(f[variable]))
            f["constant_high"] = fig(hi, "derived", f[variable]["certificates"])
        below = f.get(variable + "_below")
        if below is not None:
            lo = scale(r, _value(below))
            if below["kind"] == "counterexample":
                f["constant_low"] = fig(lo, "counterexample",
                                        counterexample=below["counterexample"])
            else:
                f["constant_low"] = fig(lo, "derived", below["certificates"])
        out.append((lo, hi))
    return out


def _bracket_figures(verdict_bounds, rows: list[dict[str, Any]]) -> dict[str, Any]:
    if verdict_bounds is None:
        return {}
    lo, hi = verdict_bounds
    lows = [r["figures"]["constant_low"] for r in rows if "constant_low" in r.get("figures", {})]
    highs = [r["figures"]["constant_high"] for r in rows
             if "constant_high" in r.get("figures", {})]
    best_lo = max(lows, key=_value) if lows else None
    best_hi = min(highs, key=_value) if highs else None
    out = {}
    if best_lo is not None:
        out["constant_low"] = dict(best_lo)
    if best_hi is not None:
        out["constant_high"] = dict(best_hi)
    return out


def how_large_t1(plan: dict[str, Any], R: dict[str, Any]) -> dict[str, Any]:
    """Smallest p (prove-mode search) per epsilon at fixed kappa, with its beta; the
    constant C of ``error = C (b - a)/(p - 1)`` bracketed by every row."""
    names = [({"epsilon": e, "kappa": plan["kappa"], "p_cap": plan["t1_p_cap"]},
              ap.name_t1_search(e)) for e in plan["epsilons"]]
    rows = _search_rows(plan, R, names, "p")
    brackets = _constant_brackets(rows, "p", lambda r, p: r["inputs"]["epsilon"] * (p - 1)
                                  / SPAN_T1)
    found = [(r["inputs"]["epsilon"], r["figures"]) for r in rows if r.get("status") == "found"]
    certs = [c for _, f in found for c in f["p"]["certificates"]]
    fit = vf.fit_power_law([e for e, _ in found], [_value(f["delta"]) for _, f in found])
    figures: dict[str, Any] = {}
    if fit:
        figures["order"] = fig(fit["exponent"], "fit", certs, r2=fit["r2"])
    searched = [r for r in rows if r.get("status") == "found"
                or r.get("status", "").startswith("not found")]
    verdict, bounds = vf.bracket_verdict(brackets, fit["exponent"] if fit else None,
                                         complete=len(searched) == len(rows))
    figures.update(_bracket_figures(bounds, rows))
    return {"target": _t1_target(), "rows": rows, "figures": figures, "verdict": verdict}


def how_large_t2(plan: dict[str, Any], R: dict[str, Any]) -> dict[str, Any]:
    """Smallest H (prove-mode search) per (epsilon, n); the constant C of
    ``error = C Delta / H`` bracketed by every row."""
    names = [({"epsilon": e, "n": n, "kappa": plan["kappa"], "h_cap": ap.h_cap(plan, n)},
              ap.name_t2_search(e, n)) for e in plan["epsilons"] for n in plan["t2_search_n"]]
    rows = _search_rows(plan, R, names, "heads")
    for r in rows:
        f = r.get("figures", {})
        if "heads" in f:
            c = f["heads"]["certificates"]
            r["figures"]["n_times_heads"] = fig(r["inputs"]["n"] * _value(f["heads"]),
                                                "derived", c)
    brackets = _constant_brackets(
        rows, "heads",
        lambda r, h: r["inputs"]["epsilon"] * h * (r["inputs"]["n"] - 1) / SPAN_T1)
    # H* = 1 says only that the error is below epsilon: no information on the rate.
    used = [(r["inputs"]["epsilon"], r["figures"]) for r in rows
            if r.get("status") == "found" and _value(r["figures"]["heads"]) >= 2]
    certs = [c for _, f in used for c in f["heads"]["certificates"]]
    # Midpoints of the brackets of H: a resource of 2 stands for anything in (1, 2].
    fit = vf.fit_power_law([e for e, _ in used],
                           [_value(f["delta"]) / (_value(f["heads"]) - 0.5) for _, f in used])
    figures: dict[str, Any] = {}
    if fit:
        figures["order"] = fig(fit["exponent"], "fit", certs, r2=fit["r2"])
    searched = [r for r in rows if r.get("status") == "found"
                or r.get("status", "").startswith("not found")]
    verdict, bounds = vf.bracket_verdict(brackets, fit["exponent"] if fit else None,
                                         complete=len(searched) == len(rows))
    figures.update(_bracket_figures(bounds, rows))
    return {"target": _t1_target(), "nh_cap": plan["t2_nh_cap"],
            "cost_cap": plan["t2_cost_cap"], "rows": rows, "figures": figures,
            "verdict": verdict}


def t2_rate(plan: dict[str, Any], R: dict[str, Any]) -> dict[str, Any]:
    """T2: certified sup error on an (n, H) grid; fitted orders in Delta and 1/H; U n H."""
    rows, good = [], []
    for n in plan["t2_n"]:
        for h in plan["t2_heads"]:
            rec = R.get(ap.name_t2(n, h))
            row: dict[str, Any] = {"inputs": {"n": n, "heads": h, "kappa": plan["kappa"]},
                                   "status": status(rec)}
            if ok(rec):
                c, U, L = _cu(rec)
                d = float(rec["parameters"]["delta"][0])
                row["figures"] = {
                    "upper": fig(U, "certified-upper", [c]),
                    "lower": fig(L, "certified-lower", [c]),
                    "UnH": fig(U * n * h, "derived", [c]),
                    "c_upper": fig(U * h / d, "derived", [c]),
                    "beta": fig(float(rec["parameters"]["beta"][0]), "resource", [c]),
                    "boxes": fig(rec["check"]["boxes"], "resource", [c])}
                good.append((d, h, U, c, n))
            rows.append(row)
    certs = [g[3] for g in good]
    fit = vf.fit_two_factors([g[0] for g in good], [1.0 / g[1] for g in good],
                             [g[2] for g in good])
    unh = vf.summary([g[2] * g[4] * g[1] for g in good])
    cs = vf.summary([g[2] * g[1] / g[0] for g in good])
    figures: dict[str, Any] = {}
    verdict = vf.rate_verdict(None, complete=len(good) == len(rows))
    if fit and unh and cs:
        figures = {"order_delta": fig(fit["exponent_1"], "fit", certs, r2=fit["r2"]),
                   "order_heads": fig(fit["exponent_2"], "fit", certs, r2=fit["r2"]),
                   "UnH_median": fig(unh["median"], "derived", certs),
                   "UnH_min": fig(unh["min"], "derived", certs),
                   "UnH_max": fig(unh["max"], "derived", certs),
                   "constant_median": fig(cs["median"], "derived", certs),
                   "constant_min": fig(cs["min"], "derived", certs),
                   "constant_max": fig(cs["max"], "derived", certs)}
        v1 = vf.rate_verdict(fit["exponent_1"], 1.0, complete=len(good) == len(rows))
        v2 = vf.rate_verdict(fit["exponent_2"], 1.0, complete=len(good) == len(rows))
        verdict = _worst(v1, v2)
    return {"target": _t1_target(), "rows": rows, "figures": figures, "verdict": verdict}


def _worst(*verdicts: str) -> str:
    order = [vf.NOT_REPRODUCED, vf.NOT_RUN, vf.INSUFFICIENT, vf.REFINED, vf.CONFIRMED]
    return min(verdicts, key=order.index)


def uap(plan: dict[str, Any], R: dict[str, Any]) -> dict[str, Any]:
    """uap, both routes: resources against epsilon, beside the ReLU network the relu route's
    knots define (3 parameters per hidden unit plus the output bias)."""
    from certify.audit_tasks import UAP_TARGETS

    rows, total, done = [], 0, 0
    fits: dict[str, Any] = {}
    for target in plan["uap_targets"]:
        for route, epss in plan["uap_eps"].items():
            pts = []
            for eps in epss:
                total += 1
                rec = R.get(ap.name_uap(target, route, eps))
                expr, lo, hi = UAP_TARGETS[target]
                row: dict[str, Any] = {"inputs": {"target": expr, "domain": [lo, hi],
                                                  "route": route, "epsilon": eps},
                                       "status": status(rec)}
                if ok(rec):
                    done += 1
                    c, U, L = _cu(rec)
                    prm = rec["parameters"]
                    f = {"upper": fig(U, "certified-upper", [c]),
                         "lower": fig(L, "certified-lower", [c]),
                         "anchors": fig(prm["anchors"], "resource", [c]),
                         "heads": fig(prm["heads"], "resource", [c]),
                         "tokens": fig(prm["tokens"], "resource", [c]),
                         "parameters": fig(prm["parameters"], "resource", [c]),
                         "beta": fig(prm["beta"][0] if isinstance(prm["beta"], list)
                                     else prm["beta"], "resource", [c]),
                         "a_priori_bound": fig(prm["a_priori_bound"], "a-priori", [c],
                                               source="theorems/uap.py (docs/mathematics.md, "
                                                      "sections 6.1, 6.2)")}
                    knots = rec.get("construction", {}).get("knots")
                    if route == "relu" and isinstance(knots, list):
                        m = len(knots) - 1
                        f["relu_units"] = fig(m, "resource", [c])
                        f["relu_network_parameters"] = fig(3 * m + 1, "derived", [c])
                        interp = rec.get("a_priori", {}).get("interpolant")
                        if interp is not None:
                            f["relu_network_error_bound"] = fig(
                                interp, "a-priori", [c],
                                source="theorems.uap.interpolant_error: proved bound of "
                                       "|f - P| for the piecewise-linear interpolant on the "
                                       "certificate's knots")
                    row["figures"] = f
                    pts.append((eps, prm["parameters"], prm["anchors"], prm["heads"], c))
                rows.append(row)
            certs = [p[4] for p in pts]
            fp = vf.fit_power_law([p[0] for p in pts], [p[1] for p in pts])
            fa = vf.fit_power_law([p[0] for p in pts], [p[2] for p in pts])
            fh = vf.fit_power_law([p[0] for p in pts], [p[3] for p in pts])
            key = f"{target}/{route}"
            fits[key] = {}
            for label, fit in (("parameters", fp), ("anchors", fa), ("heads", fh)):
                if fit:
                    fits[key][f"{label}_exponent"] = fig(fit["exponent"], "fit", certs,
                                                         r2=fit["r2"])
    return {"rows": rows, "fits": fits, "verdict": vf.existence_verdict(done, total),
            "relu_network_parameter_count": "3 per hidden unit (weight, bias, output "
                                            "weight) + 1 output bias; one unit per knot "
                                            "interval of the relu route"}


def paper_experiment(plan: dict[str, Any], R: dict[str, Any], torch_info: tuple[bool, str]
                     ) -> dict[str, Any]:
    """The paper's experimental setting: our certified construction beside the trained
    model (sampled) with the same tokens and heads."""
    cons: dict[tuple[int, float], dict[str, Any]] = {}
    crow = []
    for p_total, span in plan["paper_certs"]:
        rec = R.get(ap.name_paper(p_total, span))
        row: dict[str, Any] = {"inputs": {"p_total": p_total, "anchors": p_total - PAPER_N,
                                          "span": span, "kappa": plan["kappa"]},
                               "status": status(rec)}
        if ok(rec):
            c, U, L = _cu(rec)
            f = {"upper": fig(U, "certified-upper", [c]), "lower": fig(L, "certified-lower", [c]),
                 "beta": fig(float(rec["parameters"]["beta"]), "resource", [c])}
            for key, s in rec.get("sampled", {}).items():
                f[f"sampled_max_{key}"] = fig(s["max_abs"], "sampled", [c], sampled_on=_on(key, s))
                f[f"sampled_mse_{key}"] = fig(s["mse"], "sampled", [c], sampled_on=_on(key, s))
            row["figures"] = f
            cons[(p_total, span)] = row
        crow.append(row)
    trows = []
    ran = bool(plan["train"]) and torch_info[0]
    reason = ("--quick skips training" if not plan["train"] else
              (None if torch_info[0] else torch_info[1]))
    for h, p_total, span in plan["train"]:
        rec = R.get(ap.name_train(h, p_total, span))
        row = {"inputs": {"heads": h, "p_total": p_total, "span": span,
                          "epochs": plan["epochs"]}}
        if rec is None or rec.get("status") != "ok":
            row["status"] = status(rec)
            if rec is not None and rec.get("status") != "ok":
                ran = False
                reason = reason or row["status"]
        else:
            row["status"] = "trained (sampled)"
            f = {"paper_metric": fig(rec["paper_metric"], "sampled",
                                     sampled_on="held-out test split (200 sequences), MSE "
                                                "over all 32 output coordinates as in "
                                                "truncated.py")}
            for key, s in rec["sampled"].items():
                f[f"sampled_max_{key}"] = fig(s["max_abs"], "sampled", sampled_on=_on(key, s))
                f[f"sampled_mse_{key}"] = fig(s["mse"], "sampled", sampled_on=_on(key, s))
            row["figures"] = f
            row["training"] = {"seconds": rec.get("train_seconds"),
                               "final_train_loss": rec.get("final_train_loss"),
                               "steps": rec.get("steps"), "seed": rec.get("seed")}
            c = cons.get((p_total, span))
            if c is not None:
                cu = c["figures"]["upper"]
                row["construction"] = {"certificate": cu["certificates"][0],
                                       "heads_used": 1}
                row["figures"]["sampled_max_over_certified"] = fig(
                    s_max(rec) / _value(cu), "sampled", cu["certificates"],
                    sampled_on="the trained model's largest sampled error (a lower bound of "
                               "its sup error) divided by the certified sup error of the "
                               "construction with the same tokens")
        trows.append(row)
    claims = {}
    groups = {
        "heads": ([r for r in trows if r["inputs"]["p_total"] == 60
                   and r["inputs"]["span"] == 50.0], "heads", -1),
        "p": ([r for r in trows if r["inputs"]["heads"] == 1 and r["inputs"]["span"] == 50.0],
              "p_total", -1),
        "span": ([r for r in trows if r["inputs"]["heads"] == 1
                  and r["inputs"]["p_total"] == 60], "span", 1)}
    for key, (rs, var, direction) in groups.items():
        pts = [(r["inputs"][var], _value(r["figures"]["paper_metric"])) for r in rs
               if "figures" in r]
        verdict, slope = vf.trend_verdict([p[0] for p in pts], [p[1] for p in pts],
                                          direction, ran)
        ratios = [r["figures"]["sampled_max_over_certified"] for r in rs
                  if "sampled_max_over_certified" in r.get("figures", {})]
        claims[key] = {"verdict": verdict, "slope": (fig(slope, "sampled",
                                                         sampled_on="log-log slope of the "
                                                         "trained models' test MSE")
                                                     if slope is not None else None),
                       "direction": direction, "variable": var,
                       "ratio_min": min(ratios, key=_value) if ratios else None,
                       "ratio_max": max(ratios, key=_value) if ratios else None}
    return {"setting": {"source": "MAGICS-LAB/UAP_Attention, truncated.py",
                        "sequence_length": PAPER_N, "dimension": PAPER_D,
                        "inputs": [-PAPER_X_MAX, PAPER_X_MAX], "hidden": 32, "batch": 32,
                        "lr": 1e-3, "optimizer": "Adam", "samples": 1000, "train": 800,
                        "epochs_paper": 50, "epochs_here": plan["epochs"],
                        "seeds_paper": 11, "seeds_here": 1,
                        "targets": "Range_[-span/2, span/2](w_k . x_k + t_k), w_k, t_k "
                                   "standard normal per token"},
            "construction": crow, "trained": trows, "ran": ran, "not_run_reason": reason,
            "claims": claims}


def s_max(rec: dict[str, Any]) -> float:
    """The trained model's largest sampled error over all of its sample sets."""
    return max(s["max_abs"] for s in rec["sampled"].values())


def _on(key: str, s: dict[str, Any]) -> str:
    what = {"test": "held-out test split of the training data",
            "uniform": "independent uniform random sequences",
            "diagonal": "diagonal grid x_k = s sign(w_k), s in [-5, 5]"}[key]
    return f"{what}; {s['points']:,} token outputs; float evaluation"


# -- claims -----------------------------------------------------------------------------------

def _registry() -> dict[str, dict[str, Any]]:
    from theorems import report
    return {r["id"]: r for r in report.list_theorems()}


def claims(sec: dict[str, Any]) -> list[dict[str, Any]]:
    """The claims table: each paper claim beside our figure and a verdict."""
    reg = _registry()
    out = []

    def add(cid: str, section: str, paper: str, claim: str, ours: str, verdict: str,
            figures: dict[str, Any]) -> None:
        out.append({"id": cid, "section": section, "paper": paper, "claim": claim,
                    "ours": ours, "verdict": verdict, "figures": figures})

    t1, kap, h1, h2, t2, u, ex = (sec[k] for k in ("t1_rate", "t1_kappa", "how_large_t1",
                                                    "how_large_t2", "t2_rate", "uap",
                                                    "paper_experiment"))
    f = t1["figures"]
    add("T1-rate", "t1_rate", reg["single-head"]["paper"], reg["single-head"]["paper_claim"],
        (f"U ~ C Delta^a with a = {_g(f, 'order_upper', 4)} (lower bounds: "
         f"{_g(f, 'order_lower', 4)}); C = U/Delta in [{_g(f, 'constant_min')}, "
         f"{_g(f, 'constant_max')}] at kappa = {t1['rows'][0]['inputs']['kappa']:g}")
        if f else "no fit", t1["verdict"],
        {k: f[k] for k in ("order_upper", "constant_median") if k in f})
    f = kap["figures"]
    add("T1-temperature", "t1_kappa", reg["single-head"]["paper"],
        "no value of beta is given; as beta -> infinity the head tends to the hardmax "
        "staircase, whose sup error is Delta/2 (docs/mathematics.md, I4)",
        (f"c(kappa) = U/Delta is smallest at kappa* = {_g(f, 'kappa_star')}: c = "
         f"{_g(f, 'c_min')}, {_g(f, 'ratio_to_hardmax')} x the limit 1/2; "
         f"c({_g(f, 'kappa_largest')}) = {_g(f, 'c_at_largest_kappa')}") if f else "no data",
        kap["verdict"], {k: f[k] for k in ("kappa_star", "c_min", "ratio_to_hardmax") if k in f})
    f = h1["figures"]
    add("T1-how-large", "how_large_t1", reg["single-head"]["paper"],
        "p = O(1/epsilon) anchors suffice, with beta = kappa/Delta^2 = O(p^2) (from the O(1/p) "
        "rate; no constants)",
        f"smallest certified p per epsilon (table: p, beta); {bracket_text(f, 'p - 1')}",
        h1["verdict"], {k: f[k] for k in ("constant_low", "constant_high", "order") if k in f})
    f = t2["figures"]
    add("T2-rate", "t2_rate", reg["multi-head"]["paper"], reg["multi-head"]["paper_claim"],
        (f"U ~ C Delta^a H^-b with a = {_g(f, 'order_delta', 4)}, b = {_g(f, 'order_heads', 4)};"
         f" U n H in [{_g(f, 'UnH_min')}, {_g(f, 'UnH_max')}]") if f else "no fit",
        t2["verdict"], {k: f[k] for k in ("order_delta", "order_heads", "UnH_median") if k in f})
    f = h2["figures"]
    add("T2-how-large", "how_large_t2", reg["multi-head"]["paper"],
        "n H = O(1/epsilon) (from the O(1/(nH)) rate; no constants)",
        f"smallest certified H per (epsilon, n) (table); {bracket_text(f, 'H (n - 1)')}",
        h2["verdict"], {k: f[k] for k in ("constant_low", "constant_high", "order") if k in f})
    n_rows = len(u["rows"])
    n_ok = sum(1 for r in u["rows"] if r["status"] == "certified")
    add("UAP", "uap", reg["uap"]["paper"], reg["uap"]["paper_claim"],
        f"{n_ok} of {n_rows} (target, route, epsilon) certified in mode prove; resources in "
        f"the table", u["verdict"], {})
    claim_text = {
        "heads": "test MSE decreases as the number of heads H grows (truncated.py, head "
                 "experiment: n = 50, p = 60, d = 10, [a, b] = [-25, 25])",
        "p": "test MSE decreases as p (tokens in the attention layer) grows (p experiment)",
        "span": "test MSE grows with |b - a| (range experiment)"}
    for key, c in ex["claims"].items():
        slope = c["slope"]
        ours = ("not run: " + str(ex["not_run_reason"]) if c["verdict"] == vf.NOT_RUN else
                f"trained (sampled): log-log slope {_v(slope)} of the test MSE in "
                f"{c['variable']}; their largest sampled errors are {_v(c['ratio_min'])} to "
                f"{_v(c['ratio_max'])} times the certified sup error of our construction "
                f"with the same tokens (one head)")
        add(f"E-{key}", "paper_experiment", "experiments (public code: truncated.py)",
            claim_text[key],
            ours, c["verdict"], {"slope": slope} if slope else {})
    return out


def bracket_text(f: dict[str, Any], resource: str) -> str:
    """One sentence on the constant bracketed by the search rows (:func:`how_large_t1`)."""
    lo, hi = _value(f.get("constant_low")), _value(f.get("constant_high"))
    if lo is None or hi is None:
        return "too few rows bracket the constant"
    model = f"error = C (b - a) / ({resource})"
    if lo <= hi:
        return f"one constant C in ({lo:.5g}, {hi:.5g}] fits every row ({model})"
    return (f"the rows' brackets of C ({model}) miss each other by {lo / hi - 1:.2%}: "
            f"largest lower end {lo:.5g} > smallest upper end {hi:.5g}")


def _g(f: dict[str, Any], key: str, digits: int = 3) -> str:
    v = _value(f.get(key))
    return "n/a" if v is None else f"{v:.{digits}g}"


def _v(f: dict[str, Any] | None, digits: int = 3) -> str:
    v = _value(f)
    return "n/a" if v is None else f"{v:.{digits}g}"


def build(plan: dict[str, Any], R: dict[str, Any], torch_info: tuple[bool, str]
          ) -> dict[str, Any]:
    """The ``results`` sections and the claims of ``audit.json``."""
    sec = {"t1_rate": t1_rate(plan, R), "t1_kappa": t1_kappa(plan, R),
           "how_large_t1": how_large_t1(plan, R), "how_large_t2": how_large_t2(plan, R),
           "t2_rate": t2_rate(plan, R), "uap": uap(plan, R),
           "paper_experiment": paper_experiment(plan, R, torch_info)}
    return {"results": sec, "claims": claims(sec)}


def certificates_index(R: dict[str, Any], out_dir: str) -> dict[str, Any]:
    """Every certificate file the audit wrote, with its check result and task."""
    index: dict[str, Any] = {}
    for name, rec in R.items():
        for r in (rec, rec.get("hold")):
            if isinstance(r, dict) and r.get("certificate"):
                index[r["certificate"]] = {
                    "task": name, "theorem": r.get("theorem"), "check": r.get("check"),
                    "bytes": os.path.getsize(os.path.join(out_dir, r["certificate"]))}
        below = rec.get("below")
        if isinstance(below, dict) and below.get("certificate"):
            index[below["certificate"]] = {
                "task": name, "theorem": None, "check": below.get("check"),
                "bytes": os.path.getsize(os.path.join(out_dir, below["certificate"]))}
    return dict(sorted(index.items()))
