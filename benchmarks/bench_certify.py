"""Benchmark: certification time against plain float64 evaluation and the naive rigorous path.

For each p, one T1 network (theorem single-head, kappa = 3, one token, [a, b] = [-1, 1],
domain [-1.25, 1.25], tol 1%) is certified in measure mode.  Printed, all measured in this
one run (medians of --repeat runs where marked):

* ``cert s``     certification time (engine, serial, median);
* ``boxes``      boxes the engine evaluated (N) and leaves in the certificate;
* ``float s``    plain float64 evaluation of the same network at N points (the same
                 resolution); timed on min(N, 20000) points and scaled linearly when N is larger;
* ``cert/float`` their ratio;
* ``naive s``    the naive rigorous path: scalar pyinterval, one box at a time, every anchor
                 evaluated explicitly (the checker's pyinterval backend with far aggregation
                 off), timed on a subset of boxes and scaled to N;
* ``naive/cert`` the speed-up of the engine over the naive path;
* ``check s``    ``attncert check`` on the certificate with each backend (2 processes).

Usage: ``python benchmarks/bench_certify.py [--p 64 1024 16384] [--repeat 3] [--jobs 2]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from certify.pipeline import build, certify
from certify.spec import parse_spec


def spec_for(p: int) -> dict:
    return {"theorem": "single-head",
            "target": {"kind": "truncated-linear", "a": -1.0, "b": 1.0, "w": [[1.0]],
                       "t": [0.0]},
            "domain": {"lo": -1.25, "hi": 1.25}, "construction": {"p": p, "kappa": 3.0},
            "mode": "measure", "tol": 0.01}


def time_float(net, n_points: int, lo: float, hi: float, cap: int = 20_000) -> tuple[float, bool]:
    m = min(n_points, cap)
    X = np.linspace(lo, hi, m).reshape(m, 1, 1)
    start = time.perf_counter()
    for s in range(0, m, 2000):
        net.evaluate_float(X[s:s + 2000])
    elapsed = time.perf_counter() - start
    return elapsed * n_points / m, m < n_points


def time_naive(cert: dict, n_boxes: int, budget_s: float = 20.0) -> tuple[float, int]:
    """Seconds per box of the naive path, measured on as many boxes as fit in the budget."""
    from certify.check.verify import time_boxes

    per_box, measured = time_boxes(cert, backend="pyinterval", far_aggregation=False,
                                   budget_seconds=budget_s)
    return per_box * n_boxes, measured


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--p", type=int, nargs="+", default=[64, 1024, 16384])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2, help="processes for attncert check")
    ap.add_argument("--skip-check", action="store_true")
    args = ap.parse_args(argv)
    from certify.check import check_certificate

    header = (f"{'p':>6} {'cert s':>8} {'boxes N':>9} {'leaves':>8} {'float s':>9} "
              f"{'cert/float':>10} {'naive s':>10} {'naive/cert':>10} "
              f"{'check flint s':>13} {'check pyint s':>13}  U/L")
    print(header)
    notes = []
    for p in args.p:
        spec = parse_spec(spec_for(p))
        times, result, cert = [], None, None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            result, cert = certify(spec, jobs=1)
            times.append(time.perf_counter() - t0)
        t_cert = statistics.median(times)
        n_eval = result.evaluated
        leaves = sum(len(b) for b in (c["bounds"] for c in cert["cover"]))
        net = build(spec).net
        t_float, scaled = time_float(net, n_eval, -1.25, 1.25)
        if scaled:
            notes.append(f"p={p}: float64 time scaled from 20000 points to {n_eval}")
        t_naive, measured = time_naive(cert, n_eval)
        notes.append(f"p={p}: naive path timed on {measured} boxes, scaled to {n_eval}")
        checks = []
        for backend in ("flint", "pyinterval"):
            if args.skip_check:
                checks.append(float("nan"))
                continue
            t0 = time.perf_counter()
            ok, reason = check_certificate(cert, backend=backend, jobs=args.jobs)
            checks.append(time.perf_counter() - t0)
            if not ok:
                print(f"check with {backend} REJECTED: {reason}", file=sys.stderr)
                return 1
        print(f"{p:>6} {t_cert:>8.2f} {n_eval:>9} {leaves:>8} {t_float:>9.3f} "
              f"{t_cert / t_float:>10.2f} {t_naive:>10.1f} {t_naive / t_cert:>10.0f} "
              f"{checks[0]:>13.1f} {checks[1]:>13.1f}  {result.upper / result.lower:.4f}",
              flush=True)
    for note in notes:
        print("note:", note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
