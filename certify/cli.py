"""The ``attncert`` command line.

Exit codes: 0 the claim holds (or the certificate is verified), 1 the claim fails, is not
certified within the budget, or the certificate is rejected, 2 bad input, 3 internal error,
130 interrupted.  An error is
reported in one line on stderr, never as a traceback.

With ``--json`` every subcommand prints exactly one JSON document: its report, tagged with
a ``schema`` key (:data:`SCHEMAS`) and its ``exit_code``, or, when it ends with an error
(exit 2, 3 or 130), an error object (:data:`ERROR_SCHEMA`) beside the usual line on
stderr.  The formats are described in ``docs/cli.md``.
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
EXIT_INTERRUPTED = 130

#: The ``schema`` tag of the report each subcommand prints with ``--json``.  The proof
#: export of ``theorems check --json`` is not listed: it is a document of its own, tagged
#: by its ``format`` key, which ``theorems replay`` reads back and which admits no other
#: key.
SCHEMAS = {
    "certify": "attncert-certify-report/1",
    "sweep": "attncert-sweep/1",
    "check": "attncert-check-report/1",
    "plot": "attncert-plot-report/1",
    "build": "attncert-build-report/1",
    "theorems": "attncert-theorems/1",
    "replay": "attncert-replay-report/1",
    "bound": "attncert-bound-report/1",
    "audit": "attncert-audit-report/1",
    "export": "attncert-export-report/1",
}
#: The ``schema`` tag of the object printed with ``--json`` when a command ends in error.
ERROR_SCHEMA = "attncert-error/1"
#: The subcommands, to name the command in an error object when the arguments do not parse.
COMMANDS = ("certify", "sweep", "export", "check", "plot", "build", "theorems", "bound",
            "audit")


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
                   f"(default: {DEFAULT_TIMEOUT:g})")


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


class HelpFormatter(argparse.HelpFormatter):
    """Help that keeps the line breaks of the examples and names each option's default.

    The description is wrapped as usual; an epilog of :func:`examples_epilog` is kept line
    by line, so that each example stays one command to copy.  A default is appended only
    where it means something: not for flags (``False``), not for ``None`` (such options say
    in their help what happens without them) and not where the help already names it.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(EXAMPLES_HEADER):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or "default" in text or default is None
                or default is False or default is argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


#: First line of every ``--help`` epilog of examples.
EXAMPLES_HEADER = "examples:\n"


def examples_epilog(*lines: str) -> str:
    """An epilog of example invocations, one a line."""
    return EXAMPLES_HEADER + "\n".join(f"  {line}" for line in lines)


#: Help of every ``--json`` option.
JSON_HELP = ("print one JSON document on standard output instead of text: the report, or an "
             "error object if the command ends in an error (see docs/cli.md)")


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


def _finite_or_null(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by ``None``: ``NaN`` and ``Infinity``
    are not JSON, and strict readers refuse them."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_null(v) for v in obj]
    return obj


def _report_stream():
    return sys.stderr if _STDOUT_TAKEN else sys.stdout


def emit_report(obj: dict[str, Any], as_json: bool, text: str, schema: str,
          code: int = EXIT_HOLDS, error: str | None = None, message: str | None = None
          ) -> int:
    """Print a command's report: ``text``, or with ``--json`` ``obj`` as a JSON document.

    Parameters
    ----------
    obj : dict
        The report's fields.
    as_json : bool
        Print JSON rather than ``text``.
    text : str
        The human-readable report.
    schema : str
        The document's ``schema`` tag (one of :data:`SCHEMAS`).
    code : int
        The command's exit code, written as ``exit_code``.
    error : str, optional
        With a non-zero ``code``: what went wrong (``fails``, ``not-certified``,
        ``rejected``), written as ``error``.
    message : str, optional
        With a non-zero ``code``: one line saying why, written as ``message`` unless
        ``obj`` has one.

    Returns
    -------
    int
        ``code``, so that a command can end with ``return emit_report(...)``.
    """
    if as_json:
        doc = {"schema": schema, **obj, "exit_code": code}
        if code != EXIT_HOLDS:
            doc["error"] = error
            if doc.get("message") in (None, ""):
                doc["message"] = message
        text = json.dumps(_finite_or_null(doc), indent=2)
    print(text, file=_report_stream())
    return code


def emit_error(kind: str, message: str, code: int, command: str | None) -> None:
    """Print the error object of ``--json`` (one line) where the report would have gone.

    Parameters
    ----------
    kind : str
        ``input`` (exit 2), ``internal`` (exit 3) or ``interrupted`` (exit 130).
    message : str
        The text of the one line on stderr, without its ``attncert: error:`` prefix.
    code : int
        The exit code.
    command : str or None
        The subcommand, when known.
    """
    doc = {"schema": ERROR_SCHEMA, "error": kind, "message": message, "exit_code": code,
           "command": command, "version": __version__}
    try:
        stream = _report_stream()
        print(json.dumps(doc), file=stream)
        stream.flush()
    except (OSError, ValueError):  # the reader has gone: the exit code still tells
        pass


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
    return emit_report(info, args.json, text, SCHEMAS["certify"], *_outcome(result))


def _outcome(result) -> tuple[int, str | None]:
    """The exit code of a certification and, when it does not hold, its ``error`` kind:
    ``fails`` (a counterexample proves the claim false) or ``not-certified`` (a budget
    stop, or bounds that did not reach the claim)."""
    if result.holds:
        return EXIT_HOLDS, None
    return EXIT_FAILS, "fails" if result.counterexample else "not-certified"


def _resources_text(res: dict[str, Any], bound: dict[str, Any]) -> str:
    return (f"  resources: {res['tokens']:,} tokens ({res['anchors']:,} anchors), "
            f"{res['heads']} head(s), width {res['width']}, {res['parameters']:,} parameters, "
            f"kappa {res['kappa']:g}\n"
            f"  proved a-priori bound {bound['bound']:.6g}")


def _box_claim(result, spec, ratio: float | None) -> str:
    """The claim line of an input-box certification that holds (theorem uap or composed)."""
    if spec.mode == "prove":
        return f"sup error <= {result.upper:.6g} <= epsilon = {spec.epsilon:.6g}"
    floor = getattr(result, "floor", None)
    if floor is not None:
        # every bound is below the measure floor: there is no ratio U/L to report
        return (f"sup error <= {result.upper:.6g} (below the measure floor 2^-40 S >= "
                f"{floor:.6g}, S the largest |f| at the domain's centre and corners: the "
                f"error is negligible, no ratio U/L)")
    return f"sup error in [{result.lower:.6g}, {result.upper:.6g}] (U/L = {ratio:.5f})"


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
    floor = getattr(result, "floor", None)  # a ridge result (mode prove) has none
    if floor is not None:
        info["floor"] = floor
    if cert is not None and args.out:
        _write_new(args.out, canonical_json(cert) + "\n", args.force)
        info["certificate"] = args.out
    route = built.construction["route"]
    if result.holds:
        claim = _box_claim(result, spec, info["ratio"])
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
    return emit_report(info, args.json, text, SCHEMAS["certify"], *_outcome(result))


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
    if result.floor is not None:
        info["floor"] = result.floor
    if cert is not None and args.out:
        _write_new(args.out, canonical_json(cert) + "\n", args.force)
        info["certificate"] = args.out
    rtext = ("  resources: " + ", ".join(f"{k} {v:,}" if isinstance(v, int) and
                                         not isinstance(v, bool) else f"{k} {v}"
                                         for k, v in res.items())
             + f"\n  proved a-priori bound {built.bound['bound']:.6g}")
    if result.holds:
        claim = _box_claim(result, spec, info["ratio"])
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
    return emit_report(info, args.json, text, SCHEMAS["certify"], *_outcome(result))


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
    failed = [r for r in rows if not r["holds"]]
    if not args.json:
        return EXIT_FAILS if failed else EXIT_HOLDS
    # One document after the last configuration (not a stream of rows): a reader parses
    # standard output once, and an error ends the sweep with the error object alone.
    return emit_report({"rows": rows}, True, "", SCHEMAS["sweep"],
                 EXIT_FAILS if failed else EXIT_HOLDS,
                 "fails" if any(r.get("counterexample") for r in failed)
                 else "not-certified",
                 f"{len(failed)} of {len(rows)} configuration(s) not certified")


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
        if not ok:
            reason = f"conformance: {why}"
    return emit_report(info, args.json, text, SCHEMAS["check"],
                 EXIT_HOLDS if verified else EXIT_FAILS, "rejected", reason)


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
        return emit_report({"plotted": False, "reason": str(exc)}, args.json,
                     f"REJECTED: {exc}; no figure written", SCHEMAS["plot"], EXIT_FAILS,
                     "rejected", str(exc))
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
    return emit_report(info, args.json, text, SCHEMAS["plot"])


def cmd_build(args) -> int:
    from certify.pipeline import build
    from certify.spec import load_json_file, parse_spec

    spec = parse_spec(load_json_file(args.spec))
    args.force = _may_overwrite(args.out, args.force)  # before the build, not after
    built = build(spec)
    _write_new(args.out, built.net.to_json() + "\n", args.force)
    info = {"network": args.out, "sha256": built.net.sha256(), **built.parameters()}
    return emit_report(info, args.json,
                 f"network written to {args.out} (sha256 {info['sha256'][:16]}...)",
                 SCHEMAS["build"])


def cmd_theorems(args) -> int:
    from theorems import report

    if args.action == "list" or args.action is None:
        rows = report.list_theorems()
        text = "\n".join(f"{r['id']:<22} {r.get('paper', '')}  {r.get('title', '')}"
                         for r in rows)
        return emit_report({"theorems": rows}, args.json, text, SCHEMAS["theorems"])
    if args.action == "replay":
        return _replay_proof(args)
    prog, update = _counter(not args.json, "discharging")
    if prog:
        with prog:
            tree, obj, code = report.check_theorems(args.id, update)
    else:
        tree, obj, code = report.check_theorems(args.id)
    # The proof export as it is (tagged by its "format", with its own "exit_code"):
    # `theorems replay` reads it back and refuses any other key.
    print(json.dumps(obj, indent=2) if args.json else tree, file=_report_stream())
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
    return emit_report({"replayed": ok, "reason": reason, **info}, args.json,
                 f"{'replayed' if ok else 'REJECTED'}: {reason}", SCHEMAS["replay"],
                 EXIT_HOLDS if ok else EXIT_FAILS, "rejected", reason)


def cmd_bound(args) -> int:
    from certify.spec import parse_spec
    from theorems import report

    for name in ("a", "b", "kappa"):
        if not math.isfinite(getattr(args, name)):
            raise InputError(f"--{name} must be finite")
    if args.theorem == "multi-head":
        return _bound_multi_head(args)
    if args.p is None:
        raise InputError("bound single-head needs --p")
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
    result = _certified(spec, args)
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
    return emit_report(obj, args.json, text, SCHEMAS["bound"])


#: Tokens and heads `bound multi-head` accepts: the certification beside the bound is
#: O(n^2 H) work, so the limits keep it to minutes.
BOUND_MAX_TOKENS, BOUND_MAX_HEADS = 512, 64


def _certified(spec, args):
    from certify.pipeline import certify

    prog, update = _progress(not args.json)
    if prog:
        with prog:
            result, _ = certify(spec, update, args.jobs)
    else:
        result, _ = certify(spec, None, args.jobs)
    if not result.holds:
        raise InputError(f"certification did not converge: {result.message}")
    return result


def _bound_multi_head(args) -> int:
    from certify.spec import parse_spec
    from theorems import report

    if args.p is not None:
        raise InputError("bound multi-head takes --n and --heads, not --p")
    if args.n is None or args.heads is None:
        raise InputError("bound multi-head needs --n and --heads")
    if not 2 <= args.n <= BOUND_MAX_TOKENS or not 1 <= args.heads <= BOUND_MAX_HEADS:
        raise InputError(f"--n must lie in [2, {BOUND_MAX_TOKENS}] and --heads in "
                         f"[1, {BOUND_MAX_HEADS}]")
    obj = report.bound_multi_head(args.a, args.b, args.n, args.heads, args.kappa)
    lo, hi = obj["domain"]
    spec = parse_spec({"theorem": "multi-head", "tokens": args.n,
                       "target": {"kind": "truncated-linear", "a": args.a, "b": args.b,
                                  "w": [1.0], "t": 0.0},
                       "domain": {"lo": lo, "hi": hi},
                       "construction": {"heads": args.heads, "kappa": args.kappa},
                       "mode": "measure", "tol": args.tol})
    result = _certified(spec, args)
    obj.update(certified_lower=result.lower, certified_upper=result.upper,
               bound_over_certified=obj["bound"] / result.upper)
    nh = (args.n - 1) * args.heads / (args.b - args.a)
    text = (f"multi-head, a={args.a:g}, b={args.b:g}, n={args.n}, H={args.heads}, "
            f"kappa={args.kappa:g}, domain [{lo:g}, {hi:g}], Delta={obj['delta']:.6g}\n"
            f"  a-priori bound          {obj['bound']:.6g}  (= {obj['bound_times_nH']:.4f} "
            f"(b-a)/((n-1)H); T2.rate {obj['template_bound']:.4g} + rounding "
            f"{obj['rounding_bound']:.2g})\n"
            f"  steps: {obj['proof_note']}\n"
            f"  certified sup error     [{result.lower:.6g}, {result.upper:.6g}]  "
            f"(= [{result.lower * nh:.4f}, {result.upper * nh:.4f}] (b-a)/((n-1)H))\n"
            f"  bound / certified upper {obj['bound_over_certified']:.3f}")
    return emit_report(obj, args.json, text, SCHEMAS["bound"])


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
    # A certificate the checker rejects is a failed claim; everything else is reported.
    rejected = audit["summary"]["rejected"]
    return emit_report(info, args.json, text_summary(audit, args.out), SCHEMAS["audit"],
                 EXIT_FAILS if rejected else EXIT_HOLDS, "rejected",
                 f"{rejected} certificate(s) rejected by the checker")


def _subparser(sub, name: str, summary: str, description: str | None,
               examples: tuple[str, ...]) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` shows its defaults and ends with ``examples``."""
    return sub.add_parser(name, help=summary, description=description or summary,
                          epilog=examples_epilog(*examples), formatter_class=HelpFormatter)


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="attncert", formatter_class=HelpFormatter,
                description="Certified error bounds for softmax-attention approximation "
                "(arXiv 2504.15956).  Exit codes: 0 the claim holds or the certificate is "
                "verified, 1 it fails, is not certified or is rejected, 2 bad input, 3 "
                "internal error, 130 interrupted.  Every subcommand takes --json (one JSON "
                "document on standard output, errors included; see docs/cli.md) and --help.",
                epilog=examples_epilog(
                    "attncert certify examples/uap_sin.json --out sin.cert.json",
                    "attncert check sin.cert.json --backend flint",
                    "attncert sweep examples/single_head.json --vary p=8,16,32",
                    "attncert plot sin.cert.json --out sin.png",
                    "attncert build examples/multi_head.json --out net.json",
                    "attncert export sin.cert.json --torch sin.pt",
                    "attncert theorems list",
                    "attncert bound single-head --a -1 --b 1 --p 64 --kappa 3",
                    "attncert audit --quick --out audit-quick"))
    p.add_argument("--version", action="version", version=f"attncert {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    c = _subparser(sub, "certify", "certify a spec (prove or measure); write a certificate",
                   "Build the network a spec describes and certify its error bound over the "
                   "whole domain (mode prove: sup error <= epsilon; mode measure: the sup "
                   "error enclosed in [L, U]).  Exit 0 certified, 1 a counterexample or not "
                   "certified within the budget, 2 bad input.",
                   ("attncert certify examples/uap_sin.json --out sin.cert.json",
                    "attncert certify examples/single_head.json --json --jobs 2",
                    "attncert certify examples/uap_gauss2d.json --max-boxes 100000 "
                    "--timeout 600",
                    "attncert certify - --out - < examples/uap_sin.json > sin.cert.json"))
    c.add_argument("spec", help="SPEC.json, or - for standard input")
    c.add_argument("--out", help="certificate file to write (- for standard output; the "
                   "report then goes to standard error) (default: no certificate is written)")
    c.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    c.add_argument("--json", action="store_true", help=JSON_HELP)
    c.add_argument("--jobs", type=_positive_int, default=None,
                   help="local worker processes (default: one per core)")
    c.add_argument("--scheduler", help="address of a Dask distributed scheduler (default: "
                   "local worker processes)")
    _add_budget(c)
    c.set_defaults(func=_limited(cmd_certify))

    sw = _subparser(sub, "sweep", "certify every combination of --vary values "
                    "(measure mode) and print a table",
                    "Certify every combination of the --vary values of a single-head or "
                    "multi-head spec in measure mode (the first --vary varies slowest) and "
                    "print one table row per configuration as it is certified; with --json, "
                    "one document holding every row once the sweep ends.",
                    ("attncert sweep examples/single_head.json --vary p=8,16,32",
                     "attncert sweep examples/multi_head.json --vary heads=1,2 "
                     "--vary tokens=4,8 --json",
                     "attncert sweep examples/leaky_relu.json --vary kappa=2,3 "
                     "--out-dir certs"))
    sw.add_argument("spec", help="SPEC.json (theorem single-head or multi-head)")
    sw.add_argument("--vary", action="append", metavar="KEY=V1,V2,...",
                    help="tokens, heads, p, kappa or beta; repeat for a product (default: "
                    "none, the spec as given)")
    sw.add_argument("--out-dir", help="directory for one certificate per configuration "
                    "(default: no certificates are written)")
    sw.add_argument("--force", action="store_true", help="overwrite existing certificates")
    sw.add_argument("--json", action="store_true", help=JSON_HELP)
    sw.add_argument("--jobs", type=_positive_int, default=1,
                    help="local worker processes per certification")
    _add_budget(sw)
    sw.set_defaults(func=cmd_sweep)

    from certify.export_cli import add_parser as add_export_parser
    add_export_parser(sub)

    k = _subparser(sub, "check", "verify a certificate independently",
                   "Re-verify a certificate with the independent checker (Arb through "
                   "python-flint, crlibm through pyinterval, or both), then check that its "
                   "network is the one its theorem's construction builds.  Exit 0 verified, "
                   "1 rejected, 2 not a certificate.",
                   ("attncert certify examples/uap_sin.json --out sin.cert.json",
                    "attncert check sin.cert.json",
                    "attncert check sin.cert.json --backend flint --jobs 2 --json"))
    k.add_argument("certificate", help="CERT.json, as written by attncert certify --out")
    k.add_argument("--backend", choices=("flint", "pyinterval", "both"), default="both",
                   help="interval library that re-evaluates every box")
    k.add_argument("--jobs", type=_positive_int, default=1, help="worker processes")
    k.add_argument("--json", action="store_true", help=JSON_HELP)
    k.set_defaults(func=cmd_check)

    pl = _subparser(sub, "plot", "draw a certificate's sampled error N - f and its "
                    "attention weights",
                    "Draw the error N - f of a certificate's network, sampled in float64 "
                    "over its domain (a curve in 1-D, a heat map over two variables), beside "
                    "its certified bound and attention weights.  Exit 1 with no figure if "
                    "--check rejects the certificate.",
                    ("attncert certify examples/uap_sin.json --out sin.cert.json",
                     "attncert plot sin.cert.json --out sin.png --check",
                     "attncert certify examples/uap_gauss2d.json --out gauss.cert.json",
                     "attncert plot gauss.cert.json --out gauss.svg --axes 1,0 --json"))
    pl.add_argument("certificate", help="CERT.json, as written by attncert certify --out")
    pl.add_argument("--out", required=True, help="figure file (.png, .pdf or .svg)")
    pl.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    pl.add_argument("--check", action="store_true", help="verify the error claim with the "
                    "flint checker first (exit 1 and no figure if rejected)")
    pl.add_argument("--axes", type=_axes, metavar="I,J",
                    help="two or more input variables: the heat map's variables (flat "
                    "indices; default: the first two the plotted target reads)")
    pl.add_argument("--json", action="store_true", help=JSON_HELP)
    pl.set_defaults(func=cmd_plot)

    b = _subparser(sub, "build", "construct the network for a spec",
                   "Construct the network a spec describes and write it as JSON (format "
                   "attncert-network/1), without certifying it.",
                   ("attncert build examples/multi_head.json --out net.json",
                    "attncert build examples/uap_sin.json --out - --json "
                    "> sin.net.json"))
    b.add_argument("spec", help="SPEC.json, or - for standard input")
    b.add_argument("--out", required=True, help="network file to write (- for standard "
                   "output; the report then goes to standard error)")
    b.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    b.add_argument("--json", action="store_true", help=JSON_HELP)
    b.set_defaults(func=cmd_build)

    t = _subparser(sub, "theorems", "list the registry or check its proof obligations",
                   "list: the registered results.  check [ID]: discharge the proof "
                   "obligations of one result (default: all) and print the proof tree; with "
                   "--json the proof export, which replay re-checks.  replay PROOF.json: "
                   "re-check such an export.",
                   ("attncert theorems list",
                    "attncert theorems check single-head",
                    "attncert theorems check lemma-s --json > proof.json",
                    "attncert theorems replay proof.json"))
    t.add_argument("action", nargs="?", choices=("list", "check", "replay"),
                   help="what to do (default: list)")
    t.add_argument("id", nargs="?", help="theorem id (check; default: every result) or "
                   "PROOF.json (replay: re-check an export of `theorems check --json`)")
    t.add_argument("--json", action="store_true", help=JSON_HELP)
    t.set_defaults(func=cmd_theorems)

    bd = _subparser(sub, "bound", "a-priori bound beside the certified sup error",
                    "The proved a-priori bound beside the certified sup error (measure mode) "
                    "of the same network, on [a - (b-a)/2, b + (b-a)/2]: single-head (one "
                    "token, p anchors; Lemma I3 + rounding + leakage) or multi-head (n "
                    "tokens, H heads; the O(1/(nH)) bound T2.rate + rounding).",
                    ("attncert bound single-head --a -1 --b 1 --p 64 --kappa 3",
                     "attncert bound single-head --a 0 --b 2 --p 16 --kappa 2 "
                     "--tol 0.05 --json",
                     "attncert bound multi-head --a -1 --b 1 --n 8 --heads 4 --kappa 3"))
    bd.add_argument("theorem", choices=("single-head", "multi-head"), help="the construction")
    bd.add_argument("--a", type=float, required=True, help="lower truncation level")
    bd.add_argument("--b", type=float, required=True, help="upper truncation level")
    bd.add_argument("--p", type=int, default=None,
                    help="anchors, in [2, 4194304] (single-head only)")
    bd.add_argument("--n", type=int, default=None,
                    help=f"tokens, in [2, {BOUND_MAX_TOKENS}] (multi-head only)")
    bd.add_argument("--heads", type=int, default=None,
                    help=f"heads, in [1, {BOUND_MAX_HEADS}] (multi-head only)")
    bd.add_argument("--kappa", type=float, required=True, help="sharpness of the softmax")
    bd.add_argument("--tol", type=float, default=0.01,
                    help="relative tolerance of the certified sup error")
    bd.add_argument("--jobs", type=_positive_int, default=None,
                    help="local worker processes (default: one per core)")
    bd.add_argument("--json", action="store_true", help=JSON_HELP)
    bd.set_defaults(func=cmd_bound)

    au = _subparser(sub, "audit", "the paper's claims beside certified numbers: run the "
                    "audit's certifications, write DIR/audit.md, audit.json and plots",
                    "Set the paper's claims beside certified numbers: run the audit's "
                    "certifications and checks, and write DIR/audit.md, DIR/audit.json "
                    "(schema attncert-audit/1) and plots.  Exit 1 if the checker rejects a "
                    "certificate.",
                    ("attncert audit --quick --out audit-quick",
                     "attncert audit --out audit --jobs 2 --json"))
    au.add_argument("--out", default="audit", metavar="DIR",
                    help="output directory (default: audit); must be new or empty")
    au.add_argument("--quick", action="store_true", help="a reduced set (under a minute)")
    au.add_argument("--json", action="store_true", help=JSON_HELP)
    au.add_argument("--force", action="store_true", help="write into a non-empty DIR")
    au.add_argument("--jobs", type=_positive_int, default=None,
                    help="worker processes (default: one per core)")
    au.set_defaults(func=cmd_audit)
    return p


def _json_requested(tokens: list[str]) -> bool:
    """Whether ``--json`` (or an abbreviation argparse accepts) is among the arguments:
    needed when they do not parse, before ``args.json`` exists."""
    for token in tokens:
        if token == "--":
            return False
        if token.startswith("--js") and "--json".startswith(token):
            return True
    return False


def _command_named(tokens: list[str]) -> str | None:
    """The subcommand among the arguments, for an error object when they do not parse."""
    return next((t for t in tokens if t in COMMANDS), None)


def main(argv: list[str] | None = None) -> int:
    """Run ``attncert`` with ``argv`` (default: the process's arguments).

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name.

    Returns
    -------
    int
        The exit code (module docstring); every error is one line on stderr and, with
        ``--json``, also an error object (:func:`emit_error`).
    """
    global _STDOUT_TAKEN
    _STDOUT_TAKEN = False
    tokens = list(sys.argv[1:] if argv is None else argv)
    as_json, command = _json_requested(tokens), _command_named(tokens)
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
        as_json, command = bool(getattr(args, "json", False)), getattr(args, "command", None)
        if not command:
            parser.print_help()
            return EXIT_INPUT
        if command in ("certify", "build") and args.out == "-":
            # Standard output holds the document alone, whatever the outcome.
            _STDOUT_TAKEN = True
        return args.func(args)
    except InputError as exc:
        print(f"attncert: error: {exc}", file=sys.stderr)
        if as_json:
            emit_error("input", str(exc), EXIT_INPUT, command)
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
        if as_json:
            emit_error("interrupted", "interrupted", EXIT_INTERRUPTED, command)
        # As the program (argv from the command line), leave at once: exit handlers would
        # join stopped pools, and a second Ctrl-C there would end the process by signal.
        if had_workers or argv is None:
            try:
                sys.stdout.flush()
            except (OSError, ValueError):
                pass
            os._exit(EXIT_INTERRUPTED)  # exit handlers would join the stopped pools again
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader closed the pipe (e.g. `| head`): 128 + SIGPIPE
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:  # an internal error still gets one line, never "verified"
        message = f"{type(exc).__name__}: {exc}"
        print(f"attncert: internal error: {message}", file=sys.stderr)
        if as_json:
            emit_error("internal", message, EXIT_INTERNAL, command)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
