"""Theorem seq2seq: certification times and how the resources grow with n and d.

Usage: ``python benchmarks/bench_seq2seq.py [--quick] [--jobs 2]``

Part 1 certifies the required sequences (prove mode at epsilon 0.1, then measure mode for
the tight U) and checks each certificate with both backends; it prints wall times (median of
``--repeat`` certify runs) and the ratio of check time to certify time.  Part 2 builds the
construction (no certification: the input-box cover supports n d <= 3) for growing n and d
and prints heads, width and parameters.  Part 3 times plain float64 evaluation of one
network on the certified cover's box centres against the engine (the rigorous path).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from certify.check.verify import check_certificate
from certify.pipeline import certify_seq2seq
from certify.seq_targets import parse_seq_target
from certify.spec import parse_spec
from theorems.seq2seq import resolve

CASES = {
    "sum/product n=2": ([["x0_0 + x1_0"], ["x0_0 * x1_0"]], 2, 1),
    "running max n=3": ([["x0_0"], ["max(x0_0, x1_0)"], ["max(x0_0, x1_0, x2_0)"]], 3, 1),
    "products n=3": ([["x0_0 * x1_0"], ["x1_0 * x2_0"], ["x2_0 * x0_0"]], 3, 1),
}


def spec(outputs, n, d, mode, eps=0.1):
    s = {"theorem": "seq2seq", "target": {"kind": "expression", "tokens": n, "dim": d,
                                          "outputs": outputs},
         "domain": {"lo": 0, "hi": 1}, "mode": mode, "epsilon": eps}
    if mode == "measure":
        s["tol"] = 0.1
    return parse_spec(s)


def part1(jobs: int, repeat: int, quick: bool) -> None:
    print("case | mode | boxes | certified U | witness L | certify s | check both s | ratio")
    for name, (outs, n, d) in CASES.items():
        if quick and name.startswith("products"):
            continue
        for mode in ("prove", "measure"):
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                result, cert, _ = certify_seq2seq(spec(outs, n, d, mode), None, jobs)
                times.append(time.perf_counter() - t)
            t = time.perf_counter()
            ok, why = check_certificate(cert, backend="both", jobs=jobs)
            tc = time.perf_counter() - t
            assert ok, why
            boxes = sum(len(c.leaves) for c in result.covers)
            tm = statistics.median(times)
            print(f"{name} | {mode} | {boxes:,} | {result.upper:.4g} | {result.lower:.4g} | "
                  f"{tm:.2f} | {tc:.2f} | {tc / tm:.1f}")


def family(n: int, d: int) -> dict:
    """Token k: the product of its first coordinate with the next token's, and the running
    maximum of coordinate 0."""
    outs = []
    for k in range(n):
        nxt = (k + 1) % n
        mx = f"max({', '.join(f'x{j}_0' for j in range(k + 1))})" if k else "x0_0"
        outs.append([f"x{k}_0 * x{nxt}_{d - 1}", mx])
    return {"kind": "expression", "tokens": n, "dim": d, "outputs": outs}


def part2(quick: bool) -> None:
    print("\nn | d | features | heads layer 1 | heads layer 2 | width | parameters | bound")
    sizes = [(2, 1), (4, 1), (8, 1)] if quick else [(2, 1), (4, 1), (8, 1), (16, 1), (2, 2),
                                                     (2, 4), (4, 4), (8, 2)]
    for n, d in sizes:
        st = parse_seq_target(family(n, d), max_variables=n * d)
        t = time.perf_counter()
        b = resolve(st, [0.0] * (n * d), [1.0] * (n * d), {}, 0.1)
        r = b.resources
        print(f"{n} | {d} | {r['features']} | {r['heads_layer1']} | {r['heads_layer2']} | "
              f"{r['width']} | {r['parameters']:,} | {b.bound['bound']:.3g} "
              f"({time.perf_counter() - t:.1f} s to build)")


def part3() -> None:
    from certify.box_engine import certify_boxes
    from certify.pipeline import prepare_composed_outputs
    from certify.targets import NumpyTarget

    s = spec(*CASES["sum/product n=2"], "prove")
    result, _cert, built = certify_seq2seq(s)
    boxes = sum(len(c.leaves) for c in result.covers)
    X = np.random.default_rng(0).uniform(0, 1, size=(boxes, 1, 2))
    reps = []
    for _ in range(5):
        t = time.perf_counter()
        built.net.evaluate_float(X)
        reps.append(time.perf_counter() - t)
    tf = statistics.median(reps)
    prepared = prepare_composed_outputs(built.net, built.structure_json())
    targets = [NumpyTarget.of(e, 2) for e in s.parsed_target.outputs_flat]
    reps = []
    for _ in range(3):
        t = time.perf_counter()
        certify_boxes(prepared, targets, s.lo[:, 0], s.hi[:, 0], "prove", 0.01, 0.1)
        reps.append(time.perf_counter() - t)
    te = statistics.median(reps)
    print(f"\nfloat64 evaluation of {boxes} points: {tf * 1e3:.1f} ms; engine (rigorous cover "
          f"of {boxes} boxes): {te * 1e3:.0f} ms; ratio {te / tf:.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    part1(a.jobs, 1 if a.quick else a.repeat, a.quick)
    part2(a.quick)
    part3()


if __name__ == "__main__":
    main()
