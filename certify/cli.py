"""The ``attncert`` command line.

Exit codes: 0 the claim holds (or the certificate is verified), 1 the claim fails or the
certificate is rejected, 2 bad input.  Bad input is reported in one line on stderr, never
as a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from typing import Any

from certify import __version__
from certify.errors import InputError

EXIT_HOLDS, EXIT_FAILS, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


#: Most worker processes a command starts (a typo such as --jobs 1000 would otherwise start
#: hundreds of processes on a small machine).
MAX_JOBS = 64


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    if value > MAX_JOBS:
        raise argparse.ArgumentTypeError(f"must be <= {MAX_JOBS}")
    return value


#: Default wall-clock budget of `certify` and of each `sweep` configuration, in seconds.
DEFAULT_TIMEOUT = 3600.0


def _box_budget(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError("must be a finite number of seconds > 0")
    return value


def _add_budget(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-boxes", type=_box_budget, default=None, metavar="N",
                   help="stop (not certified, exit 1) rather than evaluate more than N boxes "
                   "(default: 50,000,000 for single-head/multi-head, 20,000,000 otherwise)")
    p.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"stop (not certified, exit 1) after SECONDS of wall-clock time "
                   f"(default {DEFAULT_TIMEOUT:g})")


def _limited(func):
    """``func(args)`` under the budget of ``--max-boxes`` and ``--timeout``."""
    def run(args) -> int:
        from certify.engine import run_limits
        with run_limits(args.max_boxes, args.timeout):
            return func(args)
    return run


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise InputError(message)


def _may_overwrite(path: str, force: bool) -> bool:
    """True if ``path`` may be written: it is new, ``--force`` was given, or the user agrees.

    Checked before any computation: a directory, a missing parent directory or one that
    cannot be written is a one-line error (exit 2) at once, not after the run.
    """
    if path == "-":  # standard output
        return True
    if os.path.isdir(path):
        raise InputError(f"{path} is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputError(f"{os.path.dirname(path)}: no such directory")
    if not os.access(directory, os.W_OK):
        raise InputError(f"{directory}: not writable")
    if not os.path.exists(path) or force:
        return True
    if sys.stdin.isatty():
        answer = input(f"{path} exists; overwrite? [y/N] ").strip().lower()
        if answer in ("y", "yes"):
            return True
        raise InputError(f"{path} exists; not overwritten")
    raise InputError(f"{path} exists; pass --force to overwrite it")


def _write_new(path: str, text: str, force: bool) -> None:
    """Write ``text`` to ``path`` (``-``: standard output); an existing file is replaced
    only with consent."""
    global _STDOUT_TAKEN
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        _STDOUT_TAKEN = True
        return
    _may_overwrite(path, force)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputError(f"{os.path.dirname(path)}: no such directory")
    # A temporary file renamed into place: an interrupted run leaves no partial file.
    tmp = f"{path}.partial-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


#: Set when a document went to standard output (``--out -``): the report then goes to
#: standard error, so that standard output holds the document alone.
_STDOUT_TAKEN = False


def _emit(obj: dict[str, Any], as_json: bool, text: str) -> None:
    print(json.dumps(obj, indent=2) if as_json else text,
          file=sys.stderr if _STDOUT_TAKEN else sys.stdout)


def _progress(enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    prog = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)
    task = prog.add_task("certifying", total=None)

    def update(evaluated: int, best: float) -> None:
        prog.update(task, description=f"boxes evaluated {evaluated:,}  best lower {best:.6g}")
    return prog, update


def _counter(enabled: bool, label: str):
    """A progress line on standard error for a long command (``None`` when not a terminal
    or with ``--json``): ``update(done, total)`` or ``update(text)``."""
    if not enabled or not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    prog = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)
    task = prog.add_task(label, total=None)

    def update(done, total=None) -> None:
        text = done if isinstance(done, str) else f"{done:,} / {total:,} boxes"
        prog.update(task, description=f"{label}: {text}")
    return prog, update


# -- subcommands --------------------------------------------------------------------------

def cmd_certify(args) -> int:
    from certify.pipeline import certify
    from certify.spec import load_json_file, parse_spec

    spec = parse_spec(load_json_file(args.spec))
    if args.out:
        # Ask (or refuse) before the computation, not after it.
        args.force = _may_overwrite(args.out, args.force)
    if spec.theorem == "uap":
        return _certify_uap(args, spec)
    if spec.theorem in COMPOSED:
        return _certify_composed(args, spec)
    prog, update = _progress(not args.json)
    if prog:
        with prog:
            result, cert = certify(spec, update, args.jobs, args.scheduler)
    else:
        result, cert = certify(spec, None, args.jobs, args.scheduler)
    boxes = sum(sum(len(d) for d in o.leaves_depth) for o in result.outputs)
    info: dict[str, Any] = {
        "theorem": spec.theorem, "mode": spec.mode, "holds": result.holds,
        "lower": result.lower, "upper": result.upper if result.holds else None,
        "ratio": result.upper / result.lower if result.holds and result.lower > 0 else None,
        "boxes": boxes, "evaluated": result.evaluated, "seconds": round(result.seconds, 3),
        "message": result.message, "certificate": None,
    }
    if result.counterexample:
        info["counterexample"] = result.counterexample
    if result.floor is not None:
        info["floor"] = result.floor
    if cert is not None and args.out:
        from certify.network import canonical_json
        _write_new(args.out, canonical_json(cert) + "\n", args.force)
        info["certificate"] = args.out
    if result.holds:
        if result.floor is not None or info["ratio"] is None and spec.mode == "measure":
            # every bound is below the measure floor: there is no ratio U/L to report
            claim = (f"sup error <= {result.upper:.6g} (the measure floor 2^-40 S: the error "
                     f"is negligible, no ratio U/L)")
        else:
            claim = (f"sup error <= {result.upper:.6g} <= epsilon = {spec.epsilon:.6g}"
                     if spec.mode == "prove" else
                     f"sup error in [{result.lower:.6g}, {result.upper:.6g}]"
                     f" (U/L = {info['ratio']:.5f})")
        text = (f"certified ({spec.theorem}, {spec.mode}): {claim}\n"
                f"  witness lower bound {result.lower:.6g}; {boxes:,} boxes; "
                f"{result.seconds:.2f} s")
        if args.out:
            text += f"\n  certificate written to {args.out}"
    elif result.counterexample:
        ce = result.counterexample
        text = (f"FAILS: {result.message}\n  token {ce['token']}, input x (per token) = "
                f"{json.dumps(ce['x'])}")
    else:
        text = f"NOT CERTIFIED: {result.message}"
    _emit(info, args.json, text)
    return EXIT_HOLDS if result.holds else EXIT_FAILS


def _resources_text(res: dict[str, Any], bound: dict[str, Any]) -> str:
    return (f"  resources: {res['tokens']:,} tokens ({res['anchors']:,} anchors), "
            f"{res['heads']} head(s), width {res['width']}, {res['parameters']:,} parameters, "
            f"kappa {res['kappa']:g}\n"
            f"  proved a-priori bound {bound['bound']:.6g}")


def _certify_uap(args, spec) -> int:
    from certify.network import canonical_json
    from certify.pipeline import build_uap, certify_uap

    built = build_uap(spec)
    prog, update = _progress(not args.json)
    if prog:
        with prog:
            result, cert, _ = certify_uap(spec, update, args.jobs, args.scheduler, built)
    else:
        result, cert, _ = certify_uap(spec, None, args.jobs, args.scheduler, built)
    boxes = sum(len(c.leaves) for c in result.covers)
    res = built.parameters()
    info: dict[str, Any] = {
        "theorem": "uap", "route": built.construction["route"], "mode": spec.mode,
        "holds": result.holds, "lower": result.lower,
        "upper": result.upper if result.holds else None,
        "ratio": result.upper / result.lower if result.holds and result.lower > 0 else None,
        "epsilon": spec.epsilon, "construction": built.construction,
        "resources": {k: res[k] for k in ("tokens", "anchors", "heads", "width", "parameters",
                                          "kappa")},
        "a_priori_bound": built.bound["bound"], "boxes": boxes, "evaluated": result.evaluated,
        "seconds": round(result.seconds, 3), "message": result.message, "certificate": None}
    if result.counterexample:
        info["counterexample"] = result.counterexample
    if cert is not None and args.out:
        _write_new(args.out, canonical_json(cert) + "\n", args.force)
        info["certificate"] = args.out
    route = built.construction["route"]
    if result.holds:
        claim = (f"sup error <= {result.upper:.6g} <= epsilon = {spec.epsilon:.6g}"
                 if spec.mode == "prove" else
                 f"sup error in [{result.lower:.6g}, {result.upper:.6g}]"
                 f" (U/L = {info['ratio']:.5f})")
        text = (f"certified (uap, route {route}, {spec.mode}): {claim}\n"
                f"  witness lower bound {result.lower:.6g}; {boxes:,} boxes; "
                f"{result.seconds:.2f} s\n" + _resources_text(res, built.bound))
        if args.out:
            text += f"\n  certificate written to {args.out}"
    elif result.counterexample:
        ce = result.counterexample
        text = (f"FAILS: {result.message}\n  input x = {json.dumps(ce['x'])}\n"
                + _resources_text(res, built.bound))
    else:
        text = f"NOT CERTIFIED: {result.message}\n" + _resources_text(res, built.bound)
    _emit(info, args.json, text)
    return EXIT_HOLDS if result.holds else EXIT_FAILS


#: Theorems with two-layer networks certified over input boxes.
COMPOSED = ("uap-two-layer", "seq2seq", "uap-softmax")


def _composed_functions(theorem: str):
    from certify import pipeline
    return {"uap-two-layer": (pipeline.build_two_layer, pipeline.certify_two_layer),
            "seq2seq": (pipeline.build_seq2seq, pipeline.certify_seq2seq),
            "uap-softmax": (pipeline.build_softmax, pipeline.certify_softmax)}[theorem]


def _certify_composed(args, spec) -> int:
    from certify.network import canonical_json

    build, run = _composed_functions(spec.theorem)
    built = build(spec)
    prog, update = _progress(not args.json)
    if prog:
        with prog:
            result, cert, _ = run(spec, update, args.jobs, args.scheduler, built)
    else:
        result, cert, _ = run(spec, None, args.jobs, args.scheduler, built)
    boxes = sum(len(c.leaves) for c in result.covers)
    res = dict(built.resources)
    info: dict[str, Any] = {
        "theorem": spec.theorem, "mode": spec.mode, "holds": result.holds,
        "lower": result.lower, "upper": result.upper if result.holds else None,
        "ratio": result.upper / result.lower if result.holds and result.lower > 0 else None,
        "epsilon": spec.epsilon, "construction": built.construction, "resources": res,
        "a_priori_bound": built.bound["bound"], "outputs": len(result.covers),
        "boxes": boxes, "evaluated": result.evaluated, "seconds": round(result.seconds, 3),
        "message": result.message, "certificate": None}
    if result.counterexample:
        info["counterexample"] = result.counterexample
    if cert is not None and args.out:
        _write_new(args.out, canonical_json(cert) + "\n", args.force)
        info["certificate"] = args.out
    rtext = ("  resources: " + ", ".join(f"{k} {v:,}" if isinstance(v, int) and
                                         not isinstance(v, bool) else f"{k} {v}"
                                         for k, v in res.items())
             + f"\n  proved a-priori bound {built.bound['bound']:.6g}")
    if result.holds:
        claim = (f"sup error <= {result.upper:.6g} <= epsilon = {spec.epsilon:.6g}"
                 if spec.mode == "prove" else
                 f"sup error in [{result.lower:.6g}, {result.upper:.6g}]"
                 f" (U/L = {info['ratio']:.5f})")
        text = (f"certified ({spec.theorem}, {spec.mode}): {claim}\n"
                f"  witness lower bound {result.lower:.6g}; {len(result.covers)} output "
                f"entr{'y' if len(result.covers) == 1 else 'ies'}; {boxes:,} boxes; "
                f"{result.seconds:.2f} s\n" + rtext)
        if args.out:
            text += f"\n  certificate written to {args.out}"
    elif result.counterexample:
        ce = result.counterexample
        text = (f"FAILS: {result.message}\n  output token {ce['token']}, input x = "
                f"{json.dumps(ce['x'])}\n" + rtext)
    else:
        text = f"NOT CERTIFIED: {result.message}\n" + rtext
    _emit(info, args.json, text)
    return EXIT_HOLDS if result.holds else EXIT_FAILS


def cmd_sweep(args) -> int:
    from certify import sweep
    from certify.spec import load_json_file

    vary = sweep.parse_vary(args.vary or [])
    spec_obj = load_json_file(args.spec)
    if isinstance(spec_obj, dict) and spec_obj.get("theorem") in ("uap",) + COMPOSED:
        raise InputError(f"sweep supports theorems single-head and multi-head; certify "
                         f"{spec_obj.get('theorem')} specs one by one")
    stem = os.path.splitext(os.path.basename(args.spec))[0]
    printed: list[dict[str, Any]] = []

    def show(row: dict[str, Any]) -> None:  # the header comes with the first row, so a
        if not printed:  # rejected sweep prints nothing but its one-line error
            print(sweep.table_header(list(row["config"])), flush=True)
        printed.append(row)
        print(sweep.table_row(row), flush=True)

    rows = sweep.run_sweep(spec_obj, vary, args.out_dir, args.force, stem, args.jobs,
                           None if args.json else show, args.max_boxes, args.timeout)
    if args.json:
        print(sweep.rows_json(rows))
    return EXIT_HOLDS if all(r["holds"] for r in rows) else EXIT_FAILS


def cmd_check(args) -> int:
    import time

    from certify.check.verify import load_certificate, run_check
    from theorems.conformance import conformance

    obj = load_certificate(args.certificate)
    t0 = time.perf_counter()
    prog, update = _counter(not args.json, "checking")
    if prog:
        with prog:
            verified, reason, stats = run_check(obj, backend=args.backend, jobs=args.jobs,
                                                progress=update)
    else:
        verified, reason, stats = run_check(obj, backend=args.backend, jobs=args.jobs)
    stats["seconds"] = time.perf_counter() - t0
    info = {"verified": verified, "reason": reason, "backend": args.backend, **stats}
    text = (f"verified ({args.backend}): {reason}" if verified
            else f"REJECTED ({args.backend}): {reason}")
    if verified:
        # A separate statement: the network is the one the named construction builds.
        ok, why = conformance(obj)
        info["conformance"] = {"verified": ok, "reason": why}
        text += f"\nconformance: {'verified' if ok else 'REJECTED'}: {why}"
        verified = ok
        info["verified"] = ok
    _emit(info, args.json, text)
    return EXIT_HOLDS if verified else EXIT_FAILS


def _axes(text: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two indices I,J, got {text!r}") from None
    return a, b


def cmd_plot(args) -> int:
    from certify import api, plot

    if args.out == "-":
        raise InputError("--out must name a file (.png, .pdf or .svg)")
    obj = api.load_certificate(args.certificate)
    plot.check_path(args.out, overwrite=True)  # the suffix, before any work
    args.force = _may_overwrite(args.out, args.force)  # ask (or refuse) before drawing
    try:
        result = api.plot(obj, args.out, overwrite=True, verify=args.check, axes=args.axes)
    except api.Rejected as exc:  # a false certificate: exit 1, as `attncert check`
        _emit({"plotted": False, "reason": str(exc)}, args.json,
              f"REJECTED: {exc}; no figure written")
        return EXIT_FAILS
    info = {"plotted": True, **result.summary()}
    where = " and ".join(result.axes)
    text = (f"figure written to {args.out}: {result.theorem}, N - f over {where} "
            f"({result.points:,} float64 points), output (token {result.token}, row "
            f"{result.row})\n"
            f"  sampled max |N - f| {result.sampled_max:.6g} (a sampled lower bound of the "
            f"sup); claim.upper U {result.upper:.6g} "
            f"({'verified' if result.verified else 'not verified here: attncert check'})")
    for warning in result.warnings:
        print(f"attncert: warning: {warning}", file=sys.stderr)
    _emit(info, args.json, text)
    return EXIT_HOLDS


def cmd_build(args) -> int:
    from certify.pipeline import build
    from certify.spec import load_json_file, parse_spec

    spec = parse_spec(load_json_file(args.spec))
    args.force = _may_overwrite(args.out, args.force)  # before the build, not after
    built = build(spec)
    _write_new(args.out, built.net.to_json() + "\n", args.force)
    info = {"network": args.out, "sha256": built.net.sha256(), **built.parameters()}
    _emit(info, args.json, f"network written to {args.out} (sha256 {info['sha256'][:16]}...)")
    return EXIT_HOLDS


def cmd_theorems(args) -> int:
    from theorems import report

    if args.action == "list" or args.action is None:
        rows = report.list_theorems()
        text = "\n".join(f"{r['id']:<22} {r.get('paper', '')}  {r.get('title', '')}"
                         for r in rows)
        _emit({"theorems": rows}, args.json, text)
        return EXIT_HOLDS
    if args.action == "replay":
        return _replay_proof(args)
    prog, update = _counter(not args.json, "discharging")
    if prog:
        with prog:
            tree, obj, code = report.check_theorems(args.id, update)
    else:
        tree, obj, code = report.check_theorems(args.id)
    _emit(obj, args.json, tree)
    return code


def _replay_proof(args) -> int:
    from theorems import replay

    if not args.id:
        raise InputError("theorems replay needs the exported proof: PROOF.json")
    try:
        with open(args.id, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {args.id}: {exc}") from None
    try:
        ok, reason, info = replay.replay(replay.load_export(text))
    except replay.Rejected as exc:
        ok, reason, info = False, str(exc), {}
    _emit({"replayed": ok, "reason": reason, **info}, args.json,
          f"{'replayed' if ok else 'REJECTED'}: {reason}")
    return EXIT_HOLDS if ok else EXIT_FAILS


def cmd_bound(args) -> int:
    from certify.pipeline import certify
    from certify.spec import parse_spec
    from theorems import report

    for name in ("a", "b", "kappa"):
        if not math.isfinite(getattr(args, name)):
            raise InputError(f"--{name} must be finite")
    if not 2 <= args.p <= 2**22:  # the single-head spec's limit, checked before any work
        raise InputError("--p must lie in [2, 4194304]")
    obj = report.bound_single_head(args.a, args.b, args.p, args.kappa)
    lo, hi = obj["domain"]
    spec = parse_spec({"theorem": "single-head",
                       "target": {"kind": "truncated-linear", "a": args.a, "b": args.b,
                                  "w": [[1.0]], "t": [0.0]},
                       "domain": {"lo": lo, "hi": hi},
                       "construction": {"p": args.p, "kappa": args.kappa},
                       "mode": "measure", "tol": args.tol})
    prog, update = _progress(not args.json)
    if prog:
        with prog:
            result, _ = certify(spec, update, args.jobs)
    else:
        result, _ = certify(spec, None, args.jobs)
    if not result.holds:
        raise InputError(f"certification did not converge: {result.message}")
    obj.update(certified_lower=result.lower, certified_upper=result.upper,
               bound_over_certified=obj["bound"] / result.upper)
    text = (f"single-head, a={args.a:g}, b={args.b:g}, p={args.p}, kappa={args.kappa:g}, "
            f"domain [{lo:g}, {hi:g}], Delta={obj['delta']:.6g}\n"
            f"  a-priori bound          {obj['bound']:.6g}  (= {obj['bound_over_delta']:.4f} "
            f"Delta; I3 {obj['i3_bound']:.4g} + rounding {obj['rounding_bound']:.2g} + "
            f"leakage {obj['leakage_bound']:.2g})\n"
            f"  steps: {obj['proof_note']}\n"
            f"  certified sup error     [{result.lower:.6g}, {result.upper:.6g}]  "
            f"(= [{result.lower / obj['delta']:.4f}, {result.upper / obj['delta']:.4f}] Delta)\n"
            f"  bound / certified upper {obj['bound_over_certified']:.3f}")
    _emit(obj, args.json, text)
    return EXIT_HOLDS


def cmd_audit(args) -> int:
    import time

    from certify.audit import prepare_out_dir, run_audit, text_summary

    out = prepare_out_dir(args.out, args.force)  # before any computation
    progress = None
    if sys.stderr.isatty():
        t0 = time.perf_counter()

        def progress(line: str) -> None:
            print(f"[{time.perf_counter() - t0:7.1f} s] {line}", file=sys.stderr, flush=True)
    audit = run_audit(out, quick=args.quick, jobs=args.jobs or os.cpu_count() or 1,
                      progress=progress)
    info = {"audit": out, "mode": audit["mode"], "seconds": audit["seconds"],
            "summary": audit["summary"],
            "claims": [{k: c[k] for k in ("id", "verdict", "ours")} for c in audit["claims"]]}
    _emit(info, args.json, text_summary(audit, args.out))
    # A certificate the checker rejects is a failed claim; everything else is reported.
    return EXIT_FAILS if audit["summary"]["rejected"] else EXIT_HOLDS


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="attncert", description="Certified error bounds for softmax-attention "
                "approximation (arXiv 2504.15956).")
    p.add_argument("--version", action="version", version=f"attncert {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    c = sub.add_parser("certify", help="certify a spec (prove or measure); write a certificate")
    c.add_argument("spec", help="SPEC.json, or - for standard input")
    c.add_argument("--out", help="certificate file to write (- for standard output; the "
                   "report then goes to standard error)")
    c.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    c.add_argument("--json", action="store_true")
    c.add_argument("--jobs", type=_positive_int, default=None,
                   help="local worker processes (default: one per core)")
    c.add_argument("--scheduler", help="address of a Dask distributed scheduler")
    _add_budget(c)
    c.set_defaults(func=_limited(cmd_certify))

    sw = sub.add_parser("sweep", help="certify every combination of --vary values "
                        "(measure mode) and print a table")
    sw.add_argument("spec")
    sw.add_argument("--vary", action="append", metavar="KEY=V1,V2,...",
                    help="tokens, heads, p, kappa or beta; repeat for a product")
    sw.add_argument("--out-dir", help="directory for one certificate per configuration")
    sw.add_argument("--force", action="store_true", help="overwrite existing certificates")
    sw.add_argument("--json", action="store_true")
    sw.add_argument("--jobs", type=_positive_int, default=1,
                    help="local worker processes per certification (default 1)")
    _add_budget(sw)
    sw.set_defaults(func=cmd_sweep)

    from certify.export_cli import add_parser as add_export_parser
    add_export_parser(sub)

    k = sub.add_parser("check", help="verify a certificate independently")
    k.add_argument("certificate")
    k.add_argument("--backend", choices=("flint", "pyinterval", "both"), default="both")
    k.add_argument("--jobs", type=_positive_int, default=1)
    k.add_argument("--json", action="store_true")
    k.set_defaults(func=cmd_check)

    pl = sub.add_parser("plot", help="draw a certificate's sampled error N - f and its "
                        "attention weights")
    pl.add_argument("certificate")
    pl.add_argument("--out", required=True, help="figure file (.png, .pdf or .svg)")
    pl.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    pl.add_argument("--check", action="store_true", help="verify the error claim with the "
                    "flint checker first (exit 1 and no figure if rejected)")
    pl.add_argument("--axes", type=_axes, metavar="I,J",
                    help="two or more input variables: the heat map's variables (flat "
                    "indices; default: the first two the plotted target reads)")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=cmd_plot)

    b = sub.add_parser("build", help="construct the network for a spec")
    b.add_argument("spec")
    b.add_argument("--out", required=True)
    b.add_argument("--force", action="store_true")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_build)

    t = sub.add_parser("theorems", help="list the registry or check its proof obligations")
    t.add_argument("action", nargs="?", choices=("list", "check", "replay"))
    t.add_argument("id", nargs="?", help="theorem id (check) or PROOF.json (replay: re-check "
                   "an export of `theorems check --json`)")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_theorems)

    bd = sub.add_parser("bound", help="a-priori bound beside the certified sup error")
    bd.add_argument("theorem", choices=("single-head",))
    bd.add_argument("--a", type=float, required=True)
    bd.add_argument("--b", type=float, required=True)
    bd.add_argument("--p", type=int, required=True)
    bd.add_argument("--kappa", type=float, required=True)
    bd.add_argument("--tol", type=float, default=0.01,
                    help="relative tolerance of the certified sup error")
    bd.add_argument("--jobs", type=_positive_int, default=None)
    bd.add_argument("--json", action="store_true")
    bd.set_defaults(func=cmd_bound)

    au = sub.add_parser("audit", help="the paper's claims beside certified numbers: run the "
                        "audit's certifications, write DIR/audit.md, audit.json and plots")
    au.add_argument("--out", default="audit", metavar="DIR",
                    help="output directory (default: audit); must be new or empty")
    au.add_argument("--quick", action="store_true", help="a reduced set (under a minute)")
    au.add_argument("--json", action="store_true")
    au.add_argument("--force", action="store_true", help="write into a non-empty DIR")
    au.add_argument("--jobs", type=_positive_int, default=None,
                    help="worker processes (default: one per core)")
    au.set_defaults(func=cmd_audit)
    return p


def main(argv: list[str] | None = None) -> int:
    global _STDOUT_TAKEN
    _STDOUT_TAKEN = False
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return EXIT_INPUT
        return args.func(args)
    except InputError as exc:
        print(f"attncert: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        # A second Ctrl-C must not interrupt the clean-up; workers are stopped, not awaited.
        try:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread
            previous = None
        from certify.interrupts import stop_workers

        had_workers = stop_workers()
        print("attncert: interrupted", file=sys.stderr)
        sys.stderr.flush()
        # As the program (argv from the command line), leave at once: exit handlers would
        # join stopped pools, and a second Ctrl-C there would end the process by signal.
        if had_workers or argv is None:
            try:
                sys.stdout.flush()
            except (OSError, ValueError):
                pass
            os._exit(130)  # exit handlers would join the stopped pools again
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        return 130
    except BrokenPipeError:  # the reader closed the pipe (e.g. `| head`): 128 + SIGPIPE
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:  # an internal error still gets one line, never "verified"
        print(f"attncert: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
