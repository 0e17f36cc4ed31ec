"""Benchmark: theorem uap (mode prove) -- build, certify and check, with two speed ratios.

Every number is measured in this one run.  Cases (``--quick``: the first three marked q):

* ``sin(x)`` on [-pi, pi], route interpolation, epsilon 1e-2 (q), 1e-3, 1e-4;
* ``sin(x)`` on [-pi, pi], route relu, epsilon 1e-2 (q);
* ``exp(-(x**2+y**2))`` on [-1, 1]^2, route interpolation, epsilon 1e-1 (q), 1e-2;
* ``exp(-(x**2+y**2+z**2))`` on [-1, 1]^3, route interpolation, epsilon 1e-1 (run last,
  with a time limit, ``--case-budget``; over it, a "not measured" row is printed).

Each case runs in a child process (``certify_uap`` serial, ``--certify-jobs``); its
certificate is written under /tmp and checked with ``run_check(cert, "flint", jobs)`` in
another child process with a time limit (``--check-budget``).  A check that would exceed
the budget (projected from the slope of its progress reports once a few hundred boxes and
three reports are in, or cut at the budget) is reported with its measured rate and the
extrapolated total, labelled "extrapolated".

Table columns: anchors / heads / parameters and the a-priori bound of the construction;
certified U and witness L of the claim; boxes = leaves of the certificate's cover;
build s = ``build_uap``; certify s = ``certify_uap`` wall time (analysis, engine and
certificate; median of --repeat runs when the first run is under --cheap seconds);
check s = wall time of ``run_check`` (flint, --jobs processes); s/box (certify) = engine
seconds / boxes the engine evaluated; s/box (check) = the checker's wall seconds per leaf
box with --jobs processes (``stats["backends"]["flint"]["seconds_per_box"]``).

Ratio lines:

1. ours vs float64: certify time over a plain float64 evaluation of the network
   (``built.net.evaluate_float(X)``, X of shape (N, d, 1), uniform random points in the
   domain, chunks of up to 2000 points, fewer so that a chunk holds at most 2^24
   first-layer activations) at N = boxes the engine evaluated; timed on min(N, 20000)
   points -- fewer when that passes 10 s (many anchors make every point expensive) -- and
   scaled linearly when fewer than N were timed (labelled); median of up to 3 runs.
2. ours vs naive rigorous: ``error_bounds`` per box with the grid hints (far anchors
   aggregated, ``prepare_output(out, grids)``) against the same engine with every anchor
   explicit (``prepare_output(out, [None] * heads)``), on the same random boxes of the
   median leaf width of the certificate, in the engine's chunk size and with the engine's
   threshold epsilon / (1 + SLACK); medians of up to 3 runs (fewer when slow, labelled).

Usage: ``python benchmarks/bench_uap.py [--quick] [--jobs 2] [--check-budget 600]``
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

PI = 3.141592653589793
SIN = ("sin(x)", ["x"], -PI, PI)
GAUSS2 = ("exp(-(x**2+y**2))", ["x", "y"], -1.0, 1.0)
GAUSS3 = ("exp(-(x**2+y**2+z**2))", ["x", "y", "z"], -1.0, 1.0)

#: name -> (target, route, epsilon, in --quick, naive ratio (full / quick), time-limited)
CASES = {
    "sin-i-1e-2": (SIN, "interpolation", 1e-2, True, (False, True), False),
    "sin-i-1e-3": (SIN, "interpolation", 1e-3, False, (True, False), False),
    "sin-i-1e-4": (SIN, "interpolation", 1e-4, False, (True, False), False),
    "sin-r-1e-2": (SIN, "relu", 1e-2, True, (False, False), False),
    "gauss2-i-1e-1": (GAUSS2, "interpolation", 1e-1, True, (False, True), False),
    "gauss2-i-1e-2": (GAUSS2, "interpolation", 1e-2, False, (True, False), False),
    "gauss3-i-1e-1": (GAUSS3, "interpolation", 1e-1, False, (False, False), True),
}
FLOAT_CAP = 20_000
FLOAT_CHUNK = 2000
FLOAT_TIME = 10.0
#: Activations per evaluate_float call (float64 elements of the first layer's output).
FLOAT_ELEMENTS = 1 << 24
NAIVE_BOXES = 300
#: Repeat a naive-ratio timing (up to 3 runs) only while the runs so far took less.
NAIVE_TIME = 30.0
#: A running check is projected once it has done this many boxes (and PROJECT_AFTER_S).
PROJECT_BOXES = 300
PROJECT_AFTER_S = 20.0


def spec_obj(name: str) -> dict:
    (expr, variables, lo, hi), route, eps, *_ = CASES[name]
    return {"theorem": "uap",
            "target": {"kind": "expression", "expr": expr, "variables": variables},
            "domain": {"lo": lo, "hi": hi}, "construction": {"route": route},
            "mode": "prove", "epsilon": eps}


# -- measurements (in a child process) --------------------------------------------------

def _write_json(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(obj, fh)
    os.replace(tmp, path)


def leaf_widths(cover, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Side lengths (leaves, D) of the leaf boxes of a BoxCover (node ids in heap order)."""
    D = len(lo)
    ids = list(cover.leaves)
    halvings = np.zeros((len(ids), D), dtype=int)
    for row, node in enumerate(ids):
        while node > 1:
            node >>= 1
            halvings[row, cover.splits[node]] += 1
    return (hi - lo)[None, :] / np.exp2(halvings)


def float_chunk(net) -> int:
    """Points per ``evaluate_float`` call: FLOAT_CHUNK, fewer so that a call's activations
    (points x width x tokens after the first layer) stay under FLOAT_ELEMENTS."""
    per_point = int(np.prod(net.layers[0].out_shape))
    return max(16, min(FLOAT_CHUNK, FLOAT_ELEMENTS // per_point))


def time_float(net, n_points: int, lo: np.ndarray, hi: np.ndarray, reps: int = 3):
    """Seconds of plain float64 evaluation at n_points; the points timed, runs, chunk.

    Timed on min(n_points, FLOAT_CAP) uniform random points in chunks of
    :func:`float_chunk`, stopping after the chunk that passes FLOAT_TIME seconds; scaled
    linearly to n_points.  Median of up to ``reps`` runs (repeated while the runs so far
    took < FLOAT_TIME).
    """
    m = min(n_points, FLOAT_CAP)
    chunk = float_chunk(net)
    rng = np.random.default_rng(0)
    X = (lo + (hi - lo) * rng.random((m, len(lo))))[:, :, None]
    per_point, timed = [], m
    while len(per_point) < reps and (not per_point or sum(per_point) * timed < FLOAT_TIME):
        t0 = time.perf_counter()
        done = 0
        for s in range(0, m, chunk):
            net.evaluate_float(X[s:s + chunk])
            done = min(s + chunk, m)
            if time.perf_counter() - t0 > FLOAT_TIME:
                break
        timed = done
        per_point.append((time.perf_counter() - t0) / done)
    return statistics.median(per_point) * n_points, timed, len(per_point), chunk


def time_naive(spec, built, result, reps: int = 3) -> dict:
    """Per-box ``error_bounds`` time: grid hints against every anchor explicit."""
    from certify.box_enclosure import error_bounds, prepare_output
    from certify.box_engine import SLACK, _block
    from certify.exact_scores import analyse, grid_structure
    from certify.targets import NumpyTarget

    lo, hi = spec.lo[:, 0], spec.hi[:, 0]
    out = analyse(built.net)[0]
    grids = [grid_structure(h, hint) if hint is not None else None
             for h, hint in zip(out.heads, built.hints)]
    fast = prepare_output(out, grids)
    naive = prepare_output(out, [None] * len(out.heads))
    target = NumpyTarget(spec.parsed_target)
    width = np.median(leaf_widths(result.covers[0], lo, hi), axis=0)
    rng = np.random.default_rng(1)
    c = lo + width / 2 + (hi - lo - width) * rng.random((NAIVE_BOXES, len(lo)))
    blo, bhi = c - width / 2, c + width / 2
    threshold = spec.epsilon / (1 + SLACK)

    def run(prep):
        size = _block(prep)
        t0 = time.perf_counter()
        ups = [error_bounds(prep, target, blo[s:s + size], bhi[s:s + size], threshold)[0]
               for s in range(0, NAIVE_BOXES, size)]
        return time.perf_counter() - t0, np.concatenate(ups), size

    res = {}
    for key, prep in (("grid", fast), ("naive", naive)):
        runs = [run(prep)]
        while len(runs) < reps and sum(r[0] for r in runs) < NAIVE_TIME:
            runs.append(run(prep))
        res[key] = statistics.median(r[0] for r in runs) / NAIVE_BOXES
        res[key + "_reps"] = len(runs)
        res[key + "_median_upper"] = float(np.median(runs[0][1]))
        res[key + "_met"] = int(np.sum(runs[0][1] <= threshold))
        res[key + "_chunk"] = runs[0][2]
    res["boxes"] = NAIVE_BOXES
    res["width"] = width.tolist()
    return res


def measure_case(name: str, repeat: int, cheap: float, naive: bool, certify_jobs: int,
                 out_path: str, cert_path: str, progress_path: str) -> None:
    from certify.pipeline import build_uap, certify_uap
    from certify.spec import parse_spec

    spec = parse_spec(spec_obj(name))
    row: dict = {"name": name}
    t0 = time.perf_counter()
    built = build_uap(spec)
    row["build_s"] = time.perf_counter() - t0
    res = built.resources
    row.update(anchors=res["anchors"], heads=res["heads"], parameters=res["parameters"],
               a_priori=built.bound["bound"], construction=built.construction)
    _write_json(out_path + ".partial", row)
    lo, hi = spec.lo[:, 0], spec.hi[:, 0]

    with open(progress_path, "w") as prog:
        start = time.perf_counter()

        def progress(evaluated, best):
            prog.write(f"{time.perf_counter() - start:.3f} {evaluated} {best!r}\n")
            prog.flush()

        walls, engines = [], []
        result = cert = None
        for i in range(max(1, repeat)):
            t0 = time.perf_counter()
            result, cert, built = certify_uap(spec, progress if i == 0 else None,
                                              certify_jobs, None, built)
            walls.append(time.perf_counter() - t0)
            engines.append(result.seconds)
            if walls[0] > cheap:
                break
    row.update(certify_s=statistics.median(walls), certify_runs=walls,
               engine_s=statistics.median(engines), evaluated=result.evaluated,
               leaves=sum(len(c.leaves) for c in result.covers), upper=result.upper,
               lower=result.lower, holds=bool(result.holds), message=result.message)
    t_float, m, reps, chunk = time_float(built.net, result.evaluated, lo, hi)
    row.update(float_s=t_float, float_points=m, float_reps=reps, float_chunk=chunk)
    if naive and result.covers:
        row["naive"] = time_naive(spec, built, result)
    if cert is not None:
        with open(cert_path, "w") as fh:
            json.dump(cert, fh)
        row["cert_path"] = cert_path
    _write_json(out_path, row)


def check_case(cert_path: str, jobs: int, out_path: str, progress_path: str) -> None:
    from certify.check.verify import run_check

    with open(cert_path) as fh:
        cert = json.load(fh)
    with open(progress_path, "w") as prog:
        start = time.perf_counter()

        def progress(done, total):
            prog.write(f"{time.perf_counter() - start:.3f} {done} {total}\n")
            prog.flush()

        ok, reason, stats = run_check(cert, "flint", jobs, progress=progress)
        wall = time.perf_counter() - start
    _write_json(out_path, {"ok": ok, "reason": reason, "stats": stats, "seconds": wall})


# -- orchestration (parent) -------------------------------------------------------------

def _progress(path: str) -> list[list[str]]:
    try:
        with open(path) as fh:
            return [ln.split() for ln in fh if ln.strip()]
    except OSError:
        return []


def _last_progress(path: str) -> list[str] | None:
    lines = _progress(path)
    return lines[-1] if lines else None


def _check_rate(path: str):
    """``(seconds per box, projected total seconds, done, total, elapsed)`` of a check.

    The rate is the slope between the first and the last progress report (one-time setup
    -- structure verification, witness, worker start -- excluded), or the mean rate when
    there are fewer than three reports; the projection adds the remaining boxes at that
    rate to the elapsed time.
    """
    pts = [(float(a), int(b), int(c)) for a, b, c in _progress(path)]
    if not pts:
        return None
    t, done, total = pts[-1]
    t0, d0, _ = pts[0]
    if len(pts) >= 3 and done > d0 and t > t0:
        rate = (t - t0) / (done - d0)
    else:
        rate = t / max(done, 1)
    return rate, t + rate * (total - done), done, total, t


def _child(argv: list[str], err_path: str) -> subprocess.Popen:
    with open(err_path, "w") as err:
        return subprocess.Popen([sys.executable, os.path.abspath(__file__)] + argv,
                                start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=err)


def _failure(proc: subprocess.Popen, err_path: str) -> str:
    try:
        with open(err_path) as fh:
            tail = fh.read().strip().splitlines()[-1:]
    except OSError:
        tail = []
    return tail[0] if tail else f"exit code {proc.returncode}"


def _stop(proc: subprocess.Popen) -> None:
    """End the child we started and its worker processes (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def run_case(name: str, args, workdir: str) -> dict:
    """Measure one case in a child process; a time-limited case may come back unfinished."""
    out = os.path.join(workdir, f"{name}.row.json")
    cert = os.path.join(workdir, f"{name}.cert.json")
    prog = os.path.join(workdir, f"{name}.certify.progress")
    naive = CASES[name][4][1 if args.quick else 0]
    limit = args.case_budget if CASES[name][5] else None
    err = os.path.join(workdir, f"{name}.certify.stderr")
    proc = _child(["--_case", name, "--_out", out, "--_cert", cert, "--_progress", prog,
                   "--repeat", str(args.repeat), "--cheap", str(args.cheap),
                   "--certify-jobs", str(args.certify_jobs)] + (["--_naive"] if naive else []),
                  err)
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        _stop(proc)
        row = {"name": name, "timeout": limit}
        if os.path.exists(out + ".partial"):
            with open(out + ".partial") as fh:
                row.update(json.load(fh))
        last = _last_progress(prog)
        row["last_progress"] = last
        return row
    if proc.returncode != 0 or not os.path.exists(out):
        return {"name": name, "failed": _failure(proc, err)}
    with open(out) as fh:
        return json.load(fh)


def run_check_child(row: dict, args, workdir: str) -> dict:
    """Check the certificate in a child process within the budget (or extrapolate)."""
    name = row["name"]
    out = os.path.join(workdir, f"{name}.check.json")
    prog = os.path.join(workdir, f"{name}.check.progress")
    err = os.path.join(workdir, f"{name}.check.stderr")
    proc = _child(["--_check", row["cert_path"], "--_out", out, "--_progress", prog,
                   "--jobs", str(args.jobs)], err)
    t0 = time.perf_counter()
    projected = None
    while proc.poll() is None:
        time.sleep(1.0)
        elapsed = time.perf_counter() - t0
        est = _check_rate(prog)
        if est is not None:
            rate, total_s, done, total, t = est
            # Project only from a slope (three reports or more): the first report also
            # carries the one-time setup, which can be most of it for large grids.
            if (len(_progress(prog)) >= 3 and done >= PROJECT_BOXES and t >= PROJECT_AFTER_S
                    and done < total and total_s > 1.25 * args.check_budget):
                projected = "projected from progress"
                break
        if elapsed > args.check_budget:
            if est is not None and est[2] >= est[3] and elapsed < args.check_budget + 60:
                continue  # every box is done: let it finish
            projected = "cut at the budget"
            break
    if projected is None:
        proc.wait()
        if proc.returncode != 0 or not os.path.exists(out):
            return {"failed": _failure(proc, err)}
        with open(out) as fh:
            res = json.load(fh)
        fl = res["stats"].get("backends", {}).get("flint", {})
        return {"ok": res["ok"], "reason": res["reason"], "seconds": res["seconds"],
                "per_box": fl.get("seconds_per_box"), "boxes": res["stats"].get("boxes")}
    _stop(proc)
    est = _check_rate(prog)
    if est is None:
        return {"extrapolated": True, "why": projected, "done": 0,
                "elapsed": time.perf_counter() - t0}
    rate, total_s, done, total, t = est
    return {"extrapolated": True, "why": projected, "done": done, "total": total,
            "elapsed": t, "per_box": rate, "seconds": total_s}


def _g(x, digits=4) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def format_row(row: dict, check: dict | None) -> str:
    (expr, *_), route, eps, *_ = CASES[row["name"]]
    cells = [f"`{expr}`", route, f"{eps:.0e}", str(row.get("anchors", "-")),
             str(row.get("heads", "-")), str(row.get("parameters", "-")),
             _g(row.get("a_priori"))]
    if "failed" in row:
        return "| " + " | ".join(cells + [f"failed: {row['failed']}"] + [""] * 7) + " |"
    if "timeout" in row:
        lp = row.get("last_progress")
        if "build_s" not in row:
            what = "the build did not finish"
        elif lp:
            what = (f"certify unfinished: {lp[1]} boxes evaluated in {float(lp[0]):.0f} s, "
                    f"best lower bound {float(lp[2]):.3g}")
        else:
            what = "certify unfinished"
        msg = f"not measured: over the time budget ({row['timeout']:.0f} s; {what})"
        # certified U (message), witness L, boxes, build s, then the four timing columns
        return "| " + " | ".join(cells + [msg, "", "", _g(row.get("build_s"), 3)]
                                 + [""] * 4) + " |"
    cert_s = f"{row['certify_s']:.2f}"
    if len(row["certify_runs"]) > 1:
        cert_s += f" (med. {len(row['certify_runs'])})"
    U = f"{row['upper']:.6g}" + ("" if row["holds"] else f" (NOT PROVED: {row['message']})")
    if check is None:
        chk, chk_pb = "not run (no certificate)", "-"
    elif "failed" in check:
        chk, chk_pb = f"failed: {check['failed']}", "-"
    elif check.get("extrapolated"):
        if check.get("done", 0) == 0:
            chk, chk_pb = (f"over budget: no box done in {check['elapsed']:.0f} s "
                           f"(not extrapolated)"), "-"
        else:
            chk = (f"~{check['seconds']:.0f} extrapolated ({check['done']}/{check['total']} "
                   f"boxes in {check['elapsed']:.0f} s, {check['why']})")
            chk_pb = f"{check['per_box']:.3g} (measured rate)"
    else:
        chk = f"{check['seconds']:.2f}" + ("" if check["ok"] else " REJECTED")
        chk_pb = _g(check.get("per_box"), 3)
    cells += [U, f"{row['lower']:.4g}", str(row["leaves"]), f"{row['build_s']:.2f}", cert_s,
              chk, f"{row['engine_s'] / max(row['evaluated'], 1):.3g}", chk_pb]
    return "| " + " | ".join(cells) + " |"


HEADER = ("| target | route | epsilon | anchors | heads | parameters | a-priori bound | "
          "certified U | witness L | boxes | build s | certify s | check s (flint) | "
          "s/box certify | s/box check |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="reduced set for smoke runs")
    ap.add_argument("--jobs", type=int, default=2, help="processes for the check")
    ap.add_argument("--check-budget", type=float, default=None,
                    help="seconds per check before extrapolating (default 600; 20 with "
                         "--quick)")
    ap.add_argument("--case-budget", type=float, default=600.0,
                    help="seconds for the time-limited (3-D) case: build, certify, timing")
    ap.add_argument("--repeat", type=int, default=None,
                    help="certify runs for the median (default 3; 1 with --quick)")
    ap.add_argument("--cheap", type=float, default=30.0,
                    help="repeat certify only when its first run is under this many s")
    ap.add_argument("--certify-jobs", type=int, default=1, help="processes for the engine")
    ap.add_argument("--keep", action="store_true", help="keep the certificates under /tmp")
    # internal: child processes
    ap.add_argument("--_case", help=argparse.SUPPRESS)
    ap.add_argument("--_check", help=argparse.SUPPRESS)
    ap.add_argument("--_out", help=argparse.SUPPRESS)
    ap.add_argument("--_cert", help=argparse.SUPPRESS)
    ap.add_argument("--_progress", help=argparse.SUPPRESS)
    ap.add_argument("--_naive", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.check_budget is None:
        args.check_budget = 10.0 if args.quick else 600.0

    if args._case:
        measure_case(args._case, args.repeat, args.cheap, args._naive, args.certify_jobs,
                     args._out, args._cert, args._progress)
        return 0
    if args._check:
        check_case(args._check, args.jobs, args._out, args._progress)
        return 0

    names = [n for n, c in CASES.items() if c[3] or not args.quick]
    names.sort(key=lambda n: CASES[n][5])  # time-limited cases last
    workdir = tempfile.mkdtemp(prefix="bench_uap_", dir="/tmp")
    started = time.time()
    print(f"# bench_uap: {'quick' if args.quick else 'full'} run, {os.cpu_count()} cores, "
          f"load average at start {os.getloadavg()[0]:.2f} / {os.getloadavg()[1]:.2f} / "
          f"{os.getloadavg()[2]:.2f} (1/5/15 min); certify jobs {args.certify_jobs}, check "
          f"jobs {args.jobs}, check budget {args.check_budget:.0f} s, case budget "
          f"{args.case_budget:.0f} s (3-D)", flush=True)
    rows, checks, loads = [], [], []
    for name in names:
        loads.append((name, os.getloadavg()[0]))
        print(f"# running {name} ...", file=sys.stderr, flush=True)
        row = run_case(name, args, workdir)
        check = None
        if "cert_path" in row:
            print(f"# checking {name} ...", file=sys.stderr, flush=True)
            check = run_check_child(row, args, workdir)
        rows.append(row)
        checks.append(check)
        print(format_row(row, check), file=sys.stderr, flush=True)

    print()
    print(HEADER)
    print("|" + "---|" * HEADER.count(" | ") + "---|")
    for row, check in zip(rows, checks):
        print(format_row(row, check))
    print()
    print("Ratios (same run):")
    for row in rows:
        if "certify_s" not in row:
            continue
        (expr, *_), route, eps, *_ = CASES[row["name"]]
        scaled = row["float_points"] < row["evaluated"]
        how = (f"timed on {row['float_points']} points, scaled linearly to {row['evaluated']}"
               if scaled else f"timed on all {row['evaluated']} points")
        how += f", chunks of {row['float_chunk']}"
        how += f"; median of {row['float_reps']}" if row["float_reps"] > 1 else "; one run"
        r_all, r_eng = row["certify_s"] / row["float_s"], row["engine_s"] / row["float_s"]
        print(f"- ours vs float64, {expr} {route} eps={eps:.0e} ({row['anchors']} anchors): "
              f"certify {row['certify_s']:.3f} s (engine alone {row['engine_s']:.3f} s) / "
              f"float64 {row['float_s']:.4g} s at {row['evaluated']} points ({how}) = "
              f"{r_all:.3g}x (engine alone {r_eng:.3g}x)")
    for row in rows:
        nv = row.get("naive")
        if not nv:
            continue
        (expr, *_), route, eps, *_ = CASES[row["name"]]
        width = ", ".join(f"{w:.3g}" for w in nv["width"])
        print(f"- ours vs naive rigorous, {expr} {route} eps={eps:.0e} ({row['anchors']} "
              f"anchors): error_bounds on {nv['boxes']} random boxes of the median leaf "
              f"width ({width}): grid hints {nv['grid'] * 1e3:.3f} ms/box (chunks of "
              f"{nv['grid_chunk']}), every anchor explicit {nv['naive'] * 1e3:.3f} ms/box "
              f"(chunks of {nv['naive_chunk']}) -> naive/ours = "
              f"{nv['naive'] / nv['grid']:.1f}x per box (medians of {nv['grid_reps']} and "
              f"{nv['naive_reps']} runs); boxes meeting "
              f"epsilon: {nv['grid_met']} vs {nv['naive_met']}, median bound "
              f"{nv['grid_median_upper']:.3g} vs {nv['naive_median_upper']:.3g}")
    print()
    print("Load average (1 min) when each case started: "
          + ", ".join(f"{n} {v:.2f}" for n, v in loads)
          + f"; at the end {os.getloadavg()[0]:.2f}.  Total wall time "
          f"{time.time() - started:.0f} s.")
    if args.keep:
        print(f"Certificates and progress files kept in {workdir}")
    else:
        for f in os.listdir(workdir):
            os.remove(os.path.join(workdir, f))
        os.rmdir(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
