"""``attncert export NET --torch OUT.pt``: write a network as a PyTorch ``torch.export`` file.

``NET`` is a JSON file holding either a network (``"format": "attncert-network/1"``) or a
certificate (an object with a ``"network"`` key).  The file written is loaded with
PyTorch alone (see :mod:`certify.export_torch`)::

    with open("OUT.pt", "rb") as f:
        model = torch.export.load(f).module()

After writing, the file is loaded back and run on 64 random inputs drawn uniformly from
``[-1, 1]^(d x n)`` (a fixed seed); the success line reports the largest difference from
:meth:`AttentionNet.evaluate_float` as defined by
:func:`certify.export_torch.max_relative_difference` (float64 against float64; a
consistency check, not a bound).

Exit codes: 0 written, 2 bad input (missing or unreadable file, bad JSON, duplicate keys,
malformed network, PyTorch not installed, ``OUT`` exists without ``--force``, ``OUT``'s
directory missing or not writable); errors are one line on stderr, never a traceback.

With ``--json`` the success line is replaced by one JSON document
(``"schema": "attncert-export-report/1"``), and bad input is also printed as the error
object of :func:`certify.cli.emit_error` on standard output (see ``docs/cli.md``).

Wiring into :mod:`certify.cli` (``make_parser``)::

    from certify.export_cli import add_parser as add_export_parser
    add_export_parser(sub)

``add_parser`` sets ``func=run``, so ``main``'s ``args.func(args)`` dispatches to it.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from typing import Any

from certify.errors import InputError

EXIT_OK, EXIT_INPUT = 0, 2
#: Random inputs used for the float64 comparison after export.
SAMPLES, SEED = 64, 0
PROG = "attncert export"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``export`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        As returned by ``ArgumentParser.add_subparsers``; its ``parser_class`` is used
        (``certify.cli`` passes one whose ``error`` raises InputError).

    Returns
    -------
    argparse.ArgumentParser
        The new subparser, with defaults ``func=run``.
    """
    from certify.cli import JSON_HELP, HelpFormatter, examples_epilog

    p = subparsers.add_parser(
        "export", help="write a network (or a certificate's network) as a PyTorch file",
        description="Write the network in NET (a network JSON file or a certificate) as a "
                    "torch.export program; load it with torch.export.load(open(OUT, 'rb'))"
                    ".module().  Float64, same formula as the float evaluator; no "
                    "guarantee.  The file is loaded back and compared with the float "
                    f"evaluator on {SAMPLES} random inputs (seed {SEED}).",
        epilog=examples_epilog("attncert build examples/multi_head.json --out net.json",
                         "attncert export net.json --torch net.pt",
                         "attncert certify examples/uap_sin.json --out sin.cert.json",
                         "attncert export sin.cert.json --torch sin.pt --force --json"),
        formatter_class=HelpFormatter)
    p.add_argument("net", metavar="NET", help="network or certificate JSON file")
    p.add_argument("--torch", dest="torch_out", metavar="OUT.pt", required=True,
                   help="PyTorch file to write (torch.export format)")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(func=run)
    return p


def _load_network(path: str):
    from certify.network import FORMAT, AttentionNet, NetworkFormatError
    from certify.spec import load_json_file  # refuses duplicate keys (spec.unique_keys)

    try:
        obj = load_json_file(path)
    except OSError as exc:  # load_json_file reports missing files; this is the rest
        raise InputError(f"{path}: cannot read: {exc.strerror or _short(exc)}") from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: expected a JSON object (a network or a certificate)")
    if obj.get("format") == FORMAT:
        net_obj = obj
    elif "network" in obj:
        net_obj = obj["network"]
        if not isinstance(net_obj, dict):
            raise InputError(f"{path}: 'network' must be a JSON object")
    else:
        raise InputError(f"{path}: neither a network (\"format\": \"{FORMAT}\") nor a "
                         f"certificate (no 'network' key)")
    try:
        return AttentionNet.from_json_obj(net_obj)
    except (NetworkFormatError, ValueError, TypeError) as exc:
        raise InputError(f"{path}: malformed network: {_short(exc)}") from None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."


def _check_output(path: str, force: bool) -> str:
    """The absolute directory of ``path`` after checking that ``path`` may be written."""
    if not path:
        raise InputError("--torch needs a file name")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory")
    if os.path.exists(path) and not force:
        raise InputError(f"{path} exists; pass --force to overwrite it")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputError(f"{os.path.dirname(path) or directory}: no such directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError(f"{os.path.dirname(path) or directory}: directory not writable")
    return directory


def _export(args) -> float:
    """Write ``args.net``'s network to ``args.torch_out``; the float64 difference found."""
    net = _load_network(args.net)
    try:
        import torch  # noqa: F401
    except ImportError:
        raise InputError("PyTorch is not installed (pip install 'attncert[torch]')") from None
    import numpy as np

    from certify import export_torch
    from certify.network import NetworkFormatError

    out = args.torch_out
    directory = _check_output(out, args.force)
    try:
        export_torch.check_shapes(net)
    except NetworkFormatError as exc:
        raise InputError(f"{args.net}: malformed network: {_short(exc)}") from None
    # Write beside the target and rename: a failure never leaves a partial OUT behind.
    fd, tmp = tempfile.mkstemp(prefix=".attncert-export-", suffix=".tmp", dir=directory)
    os.close(fd)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)  # mkstemp creates 0600; give OUT the usual permissions
    try:
        try:
            export_torch.export(net, tmp)
            model = export_torch.load(tmp)
        except OSError as exc:
            raise InputError(f"{out}: cannot write: {exc.strerror or _short(exc)}") from None
        d, n = net.input_shape
        X = np.random.default_rng(SEED).uniform(-1.0, 1.0, (SAMPLES, d, n))
        diff = export_torch.max_relative_difference(net.evaluate_float(X),
                                                    export_torch.evaluate(model, X))
        try:
            os.replace(tmp, out)
        except OSError as exc:
            raise InputError(f"{out}: cannot write: {exc.strerror or _short(exc)}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return diff


def run(args) -> int:
    """Run ``export``; returns 0 on success and 2 (one line on stderr) on bad input.

    With ``args.json`` the report is a JSON document, and bad input also prints the error
    object of :func:`certify.cli.emit_error`.
    """
    as_json = getattr(args, "json", False)
    try:
        diff = _export(args)
    except InputError as exc:
        message = _short(exc)
        print(f"{PROG}: error: {message}", file=sys.stderr)
        if as_json:
            from certify.cli import emit_error
            emit_error("input", message, EXIT_INPUT, "export")
        return EXIT_INPUT
    out = args.torch_out
    if as_json:
        from certify.cli import SCHEMAS, emit_report
        return emit_report({"network": args.net, "torch": out, "format": "torch.export",
                      "dtype": "float64", "samples": SAMPLES, "seed": SEED,
                      "max_relative_difference": diff if math.isfinite(diff) else None},
                     True, "", SCHEMAS["export"])
    print(f"wrote {out} (torch.export program, float64; load with "
          f"torch.export.load(open(path, 'rb')).module()); max relative difference "
          f"vs evaluate_float on {SAMPLES} random inputs uniform in [-1, 1]: {diff:.3g} "
          f"(float64 vs float64)")
    return EXIT_OK
