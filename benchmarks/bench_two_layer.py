"""Benchmark: theorems uap-two-layer and uap-softmax (mode prove), with two ratios.

Every number is measured in this one run, on this machine.  Cases (``--quick``: the first
two):

* two layers: ``sin(3*x)`` on [-1, 1] at 0.05; ``x*y`` on [0, 1]^2 at 0.05;
  ``max(x, y) - min(x, y)`` on [-1, 1]^2 at 0.05;
* one layer + softmax: ``sin(3*x)`` on [-1, 1] at 0.05 (route relu).

Columns: anchors and heads of the construction; the a-priori bound; certified U and witness
L; boxes = leaves of the cover; certify s = wall time of the pipeline's certify function
(median of 3 runs when the first is under 10 s, serial); check s = ``run_check`` with Arb
(``--jobs`` processes), and with pyinterval too when ``--both`` is given.

Ratios:

1. ours vs float64: certify time over a plain float64 evaluation of the network at as many
   uniform random points as the engine evaluated boxes (timed on at most 20,000 points and
   scaled linearly, labelled); median of 3.
2. ours vs the naive rigorous path: ``error_bounds`` on 256 random boxes of the
   certificate's median leaf width, with monotone heads bounded by their latent's ends
   (ours) and with every head bounded over the whole box by weight boxes (naive: the
   monotone rule switched off); time per box and the mean bound of each.

Usage: ``python benchmarks/bench_two_layer.py [--quick] [--jobs 2] [--both]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

CASES = [
    ("uap-two-layer", "sin(3*x)", ["x"], -1.0, 1.0, 0.05),
    ("uap-two-layer", "x*y", ["x", "y"], 0.0, 1.0, 0.05),
    ("uap-two-layer", "max(x, y) - min(x, y)", ["x", "y"], -1.0, 1.0, 0.05),
    ("uap-softmax", "sin(3*x)", ["x"], -1.0, 1.0, 0.05),
]


def spec_of(theorem, expr, names, lo, hi, eps) -> dict:
    s = {"theorem": theorem, "target": {"kind": "expression", "expr": expr,
                                        "variables": names},
         "domain": {"lo": [lo] * len(names), "hi": [hi] * len(names)}, "mode": "prove",
         "epsilon": eps}
    if theorem == "uap-softmax":
        s["construction"] = {"route": "relu"}
    return s


def _median_time(fn, first: float, reps: int = 3) -> float:
    if first >= 10:
        return first
    times = [first]
    for _ in range(reps - 1):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _float_time(net, n: int, lo, hi) -> tuple[float, bool]:
    m = min(n, 20000)
    rng = np.random.default_rng(0)
    X = rng.uniform(lo, hi, size=(m, len(lo)))[:, :, None]
    times = []
    for _ in range(3):
        t = time.perf_counter()
        for s in range(0, m, 2000):
            net.evaluate_float(X[s:s + 2000])
        times.append(time.perf_counter() - t)
    return statistics.median(times) * n / m, m < n


def _naive_ratio(prepared, target, cert, lo, hi):
    from fractions import Fraction

    from certify.box_enclosure import error_bounds
    from certify.check.box_verify import parse_tree

    leaves = parse_tree(cert["cover"][0]["tree"], len(lo), [Fraction(v) for v in lo],
                        [Fraction(v) for v in hi])
    widths = np.array([[float(b - a) for a, b in leaf] for leaf in leaves])
    w = np.median(widths, axis=0)
    rng = np.random.default_rng(1)
    blo = rng.uniform(lo, np.maximum(lo, hi - w), size=(256, len(lo)))
    bhi = np.minimum(blo + w, hi)
    eps = cert["claim"]["epsilon"]

    def run():
        t = time.perf_counter()
        u, *_ = error_bounds(prepared, target, blo, bhi, eps)
        return time.perf_counter() - t, float(np.mean(np.where(np.isfinite(u), u, np.nan)))

    t_ours, u_ours = run()
    saved = []
    for ph in _heads(prepared):
        saved.append(ph.mono)
        ph.mono = None
    try:
        t_naive, u_naive = run()
    finally:
        for ph, m in zip(_heads(prepared), saved):
            ph.mono = m
    return t_ours / 256, t_naive / 256, u_ours, u_naive


def _heads(prepared):
    return prepared.heads


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--both", action="store_true", help="check with pyinterval too")
    args = ap.parse_args(argv)

    from certify import pipeline
    from certify.check.verify import run_check
    from certify.spec import parse_spec
    from certify.targets import NumpyTarget

    rows = []
    for theorem, expr, names, lo, hi, eps in CASES[:2] if args.quick else CASES:
        spec = parse_spec(spec_of(theorem, expr, names, lo, hi, eps))
        build, run = {"uap-two-layer": (pipeline.build_two_layer, pipeline.certify_two_layer),
                      "uap-softmax": (pipeline.build_softmax, pipeline.certify_softmax)}[theorem]
        built = build(spec)
        t = time.perf_counter()
        result, cert, _ = run(spec, None, 1, None, built)
        first = time.perf_counter() - t
        t_cert = _median_time(
            lambda run=run, spec=spec, built=built: run(spec, None, 1, None, built), first)
        assert cert is not None, result.message
        t = time.perf_counter()
        ok, why, _ = run_check(cert, "flint", args.jobs)
        t_flint = time.perf_counter() - t
        t_py = None
        if args.both:
            t = time.perf_counter()
            ok2, why2, _ = run_check(cert, "pyinterval", args.jobs)
            t_py = time.perf_counter() - t
            ok = ok and ok2
        lo_a, hi_a = spec.lo[:, 0], spec.hi[:, 0]
        t_float, scaled = _float_time(built.net, result.evaluated, lo_a, hi_a)
        if theorem == "uap-two-layer":
            prepared = pipeline.prepare_composed_outputs(built.net, built.structure_json())[0]
        else:
            from certify.exact_scores import grid_structure
            from certify.exact_softmax import analyse_softmax
            from certify.softmax_enclosure import prepare_softmax
            (out,) = analyse_softmax(built.net)
            grids = [grid_structure(h, g) if g is not None else None
                     for h, g in zip(out.logits[0].heads, built.hints)]
            prepared = prepare_softmax(out, grids)
        naive = _naive_ratio(prepared, NumpyTarget(spec.parsed_target), cert, lo_a, hi_a)
        res = built.resources
        heads = (f"{res['heads_layer1']}+{res['heads_layer2']}" if "heads_layer1" in res
                 else str(res["heads"]))
        boxes = sum(len(c.leaves) for c in result.covers)
        rows.append((theorem, expr, eps, res["anchors"], heads, built.bound["bound"],
                     result.upper, result.lower, boxes, t_cert, t_flint, t_py, ok,
                     t_cert / t_float, scaled, naive))
    print("| theorem | target | eps | anchors | heads | a-priori | U | L | boxes | certify s "
          "| check flint s | check pyinterval s | verified |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        py = "-" if r[11] is None else f"{r[11]:.1f}"
        print(f"| {r[0]} | `{r[1]}` | {r[2]:g} | {r[3]} | {r[4]} | {r[5]:.4g} | {r[6]:.4g} | "
              f"{r[7]:.3g} | {r[8]:,} | {r[9]:.2f} | {r[10]:.1f} | {py} | {r[12]} |")
    print()
    for r in rows:
        t_ours, t_naive, u_ours, u_naive = r[15]
        print(f"{r[0]} {r[1]}: certify / float64 at as many points = {r[13]:.3g}"
              f"{' (float64 scaled)' if r[14] else ''}; per box ours {t_ours * 1e3:.2f} ms "
              f"vs naive {t_naive * 1e3:.2f} ms (ratio {t_naive / t_ours:.2f}); mean bound "
              f"ours {u_ours:.4g} vs naive {u_naive:.4g} (ratio {u_naive / u_ours:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
