"""The fixed set of certifications ``attncert audit`` runs (docs/audit.md, "What is run").

Two plans: the full audit and ``--quick`` (a reduced set for tests, under a minute).  A
plan is data; :func:`tasks` turns it into the task list of :mod:`certify.audit_tasks`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: kappa of every T1/T2 run except the kappa scan (the project's default).
KAPPA = 3.0
#: Accuracies of the "how large" searches.
EPSILONS_FULL = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
#: Largest number of heads the T2 construction accepts (certify/spec.py).
MAX_HEADS = 1024


def _kappa_grid(count: int) -> list[float]:
    # Three significant digits keep the grid readable in the report and in JSON.
    return [float(f"{k:.3g}") for k in np.geomspace(0.1, 200.0, count)]


def make_plan(quick: bool) -> dict[str, Any]:
    """The audit's plan: every resource, accuracy and setting it certifies or trains.

    Returns
    -------
    dict
        Keys ``mode``, ``kappa``, ``t1_p``, ``kappa_grid``, ``kappa_p``, ``kappa_refine``
        (points added between the grid neighbours of the minimiser), ``epsilons``,
        ``t1_p_cap``, ``t2_n``, ``t2_heads``, ``t2_search_n``, ``t2_nh_cap``, ``t2_cost_cap``,
        ``uap_targets``, ``uap_eps`` (route -> accuracies), ``paper_certs`` (list of
        ``[p_total, span]``), ``train`` (list of ``[heads, p_total, span]``), ``epochs``.
    """
    if quick:
        return {
            "mode": "quick", "kappa": KAPPA, "t1_p": [4, 8, 16, 32, 64],
            "kappa_grid": _kappa_grid(8), "kappa_p": 16, "kappa_refine": 4,
            "epsilons": [1e-1, 1e-2],
            "t1_p_cap": 4096, "t2_n": [4, 8], "t2_heads": [1, 2], "t2_search_n": [4],
            "t2_nh_cap": 64, "t2_cost_cap": 600, "uap_targets": ["sin", "abs"],
            "uap_eps": {"interpolation": [1e-1], "relu": [1e-1]},
            "paper_certs": [[60, 50.0]], "train": [], "epochs": 0}
    return {
        "mode": "full", "kappa": KAPPA, "t1_p": [4 * 2 ** k for k in range(11)],
        "kappa_grid": _kappa_grid(40), "kappa_p": 64, "kappa_refine": 10,
        "epsilons": list(EPSILONS_FULL),
        "t1_p_cap": 1 << 16, "t2_n": [4, 16, 64], "t2_heads": [1, 2, 4, 8],
        "t2_search_n": [4, 16, 64], "t2_nh_cap": 2048, "t2_cost_cap": 20000,
        "uap_targets": ["sin", "abs"],
        "uap_eps": {"interpolation": [1e-1, 3e-2, 1e-2, 3e-3, 1e-3],
                    "relu": [1e-1, 3e-2, 1e-2]},
        # truncated.py's p experiment (60..120 tokens) and |b - a| experiment (10..50).
        "paper_certs": [[60, 50.0], [90, 50.0], [120, 50.0], [60, 10.0], [60, 30.0]],
        # truncated.py's head experiment (1..16 heads at 60 tokens), and the p and |b - a|
        # experiments with one head.
        "train": ([[h, 60, 50.0] for h in (1, 2, 4, 8, 16)]
                  + [[1, p, 50.0] for p in (90, 120)]
                  + [[1, 60, s] for s in (10.0, 30.0)]),
        "epochs": 50}


def eps_tag(eps: float) -> str:
    """``1e-03`` style tag of an accuracy, for file names."""
    return f"{eps:.0e}".replace("+", "")


def name_t1(p: int) -> str:
    return f"t1-p{p:05d}"


def name_kappa(i: int) -> str:
    return f"t1-kappa{i:02d}"


def name_kappa_refine(i: int) -> str:
    return f"t1-kappa-refine{i:02d}"


def name_t1_search(eps: float) -> str:
    return f"t1-eps{eps_tag(eps)}"


def name_t2(n: int, h: int) -> str:
    return f"t2-n{n:03d}-H{h:03d}"


def name_t2_search(eps: float, n: int) -> str:
    return f"t2-eps{eps_tag(eps)}-n{n:03d}"


def name_uap(target: str, route: str, eps: float) -> str:
    return f"uap-{target}-{route}-eps{eps_tag(eps)}"


def name_paper(p_total: int, span: float) -> str:
    return f"paper-p{p_total:03d}-span{int(span):02d}"


def name_train(h: int, p_total: int, span: float) -> str:
    return f"train-H{h:02d}-p{p_total:03d}-span{int(span):02d}"


def h_cap(plan: dict[str, Any], n: int) -> int:
    """Largest H the T2 search tries at n tokens.

    A T2 certification evaluates about ``n H`` boxes per token with H heads each, so its
    cost grows like ``n H^2``; the plan bounds both ``n H`` and ``n H^2``.
    """
    by_cost = math.isqrt(plan["t2_cost_cap"] // n)
    return max(1, min(MAX_HEADS, plan["t2_nh_cap"] // n, by_cost))


def tasks(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan's tasks, longest first (``cost`` is a rough estimate in seconds, used only
    to order them)."""
    k = plan["kappa"]
    out: list[dict[str, Any]] = []

    def add(kind: str, name: str, cost: float, **params: Any) -> None:
        out.append({"kind": kind, "name": name, "cost": cost, "params": params})

    for p in plan["t1_p"]:
        add("t1-point", name_t1(p), 0.3 + p / 100, p=p, kappa=k, tol=0.01)
    for i, kap in enumerate(plan["kappa_grid"]):
        add("t1-point", name_kappa(i), 0.6, p=plan["kappa_p"], kappa=kap, tol=0.01)
    for eps in plan["epsilons"]:
        add("t1-search", name_t1_search(eps), 0.5 + 8 * 0.16 / eps / 500, epsilon=eps,
            kappa=k, p_cap=plan["t1_p_cap"])
    for n in plan["t2_n"]:
        for h in plan["t2_heads"]:
            add("t2-point", name_t2(n, h), 0.3 + n * h * h / 40, n=n, heads=h, kappa=k,
                tol=0.01)
    for eps in plan["epsilons"]:
        for n in plan["t2_search_n"]:
            cap = h_cap(plan, n)
            heads = min(cap, math.ceil(0.2 / (n * eps)))
            add("t2-search", name_t2_search(eps, n), 1 + 4 * n * heads * heads / 40,
                epsilon=eps, n=n, kappa=k, h_cap=cap)
    for target in plan["uap_targets"]:
        for route, epss in plan["uap_eps"].items():
            for eps in epss:
                cost = (0.02 / eps) if route == "interpolation" else 0.3 / eps
                add("uap", name_uap(target, route, eps), cost, target=target, route=route,
                    epsilon=eps)
    for p_total, span in plan["paper_certs"]:
        add("paper-cert", name_paper(p_total, span), 1.0 * (p_total - 50) + 5,
            p_total=p_total, span=span, kappa=k)
    for h, p_total, span in plan["train"]:
        add("train", name_train(h, p_total, span), 12 * h ** 0.6 * p_total / 60, heads=h,
            p_total=p_total, span=span, epochs=plan["epochs"])
    out.sort(key=lambda t: -t["cost"])
    return out


def kappa_refinement(plan: dict[str, Any], c_of: dict[float, float]) -> list[float]:
    """Values of kappa strictly between the grid neighbours of the grid minimiser.

    Parameters
    ----------
    plan : dict
        The plan (``kappa_grid``, ``kappa_refine``).
    c_of : dict
        Certified ``U / Delta`` per grid kappa (only the certified ones).

    Returns
    -------
    list of float
        ``kappa_refine`` log-spaced values (four significant digits), none on the grid;
        empty when fewer than two grid values are certified.
    """
    if len(c_of) < 2:
        return []
    grid = [k for k in plan["kappa_grid"] if k in c_of]
    i = grid.index(min(grid, key=lambda k: c_of[k]))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    # The grid is log-uniform, so its minimiser is the log-midpoint of its neighbours; an
    # even count of points keeps the refinement off it.
    count = plan["kappa_refine"] + plan["kappa_refine"] % 2
    inner = np.geomspace(lo, hi, count + 2)[1:-1]
    return sorted({float(f"{k:.4g}") for k in inner} - set(plan["kappa_grid"]))


def refinement_tasks(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The tasks of the kappa refinement (``plan["kappa_refine_values"]``)."""
    return [{"kind": "t1-point", "name": name_kappa_refine(i), "cost": 0.6,
             "params": {"p": plan["kappa_p"], "kappa": k, "tol": 0.01}}
            for i, k in enumerate(plan.get("kappa_refine_values", []))]
