"""Certify a family of configurations of one spec (``attncert sweep``).

``attncert sweep SPEC.json --vary heads=1,2,4 --vary tokens=4,16`` certifies every
combination of the listed values (the first ``--vary`` varies slowest) in measure mode with
the spec's ``tol``, and reports per configuration the certified ``[L, U]``, ``U n H``, the
number of leaf boxes and the seconds.  ``n`` is the number of tokens for ``multi-head`` and
the number of anchors ``p`` for ``single-head`` (whose error scale is 1/p); ``H`` is the
number of heads per target term (1 for ``single-head``).

Every configuration is validated (:func:`certify.spec.parse_spec`) and every certificate
path is checked before the first certification starts, so a bad value or an existing file
is reported at once and nothing is written.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
from collections.abc import Callable
from typing import Any

from certify.errors import InputError
from certify.network import canonical_json
from certify.spec import Spec, parse_spec

#: Keys that ``--vary`` accepts: where they live in the spec and their type.
VARY_KEYS: dict[str, tuple[str, type]] = {
    "tokens": ("spec", int), "heads": ("construction", int), "p": ("construction", int),
    "kappa": ("construction", float), "beta": ("construction", float),
}

Config = dict[str, int | float]


def parse_vary(items: list[str]) -> list[tuple[str, list[int | float]]]:
    """``["heads=1,2", "tokens=4"]`` -> ``[("heads", [1, 2]), ("tokens", [4])]``.

    Raises
    ------
    InputError
        An item without ``=``, an unknown or repeated key, an empty list, or a value that is
        not an integer (``tokens``, ``heads``, ``p``) or a finite number (``kappa``, ``beta``).
    """
    out: list[tuple[str, list[int | float]]] = []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep:
            raise InputError(f"--vary {item!r}: expected KEY=V1,V2,...")
        if key not in VARY_KEYS:
            raise InputError(f"--vary: unknown key {key!r}; known: {', '.join(VARY_KEYS)}")
        if any(k == key for k, _ in out):
            raise InputError(f"--vary: {key} given twice")
        if text.strip() == "":
            raise InputError(f"--vary {key}: no values")
        kind = VARY_KEYS[key][1]
        values: list[int | float] = []
        for v in text.split(","):
            v = v.strip()
            try:
                x = int(v) if kind is int else float(v)
            except ValueError:
                raise InputError(f"--vary {key}: {v!r} is not "
                                 f"{'an integer' if kind is int else 'a number'}") from None
            if isinstance(x, float) and not math.isfinite(x):
                raise InputError(f"--vary {key}: {v!r} is not finite")
            values.append(x)
        out.append((key, values))
    if not out:
        raise InputError("sweep needs at least one --vary KEY=V1,V2,...")
    return out


def apply_config(spec_obj: dict[str, Any], config: Config) -> dict[str, Any]:
    """A copy of the decoded spec with the configuration's values, in measure mode."""
    if not isinstance(spec_obj, dict):
        raise InputError("spec must be a JSON object")
    obj = copy.deepcopy(spec_obj)
    obj["mode"] = "measure"
    obj.pop("epsilon", None)
    for key, value in config.items():
        where = VARY_KEYS[key][0]
        if key == "tokens":
            dom = obj.get("domain")
            if isinstance(dom, dict) and any(isinstance(dom.get(k), list) for k in ("lo", "hi")):
                raise InputError("cannot vary tokens: the domain is given per token; give "
                                 "domain.lo and domain.hi as numbers")
            obj["tokens"] = value
            if isinstance(obj.get("target"), dict) and "tokens" in obj["target"]:
                obj["target"]["tokens"] = value
        elif where == "construction":
            c = obj.get("construction")
            if not isinstance(c, dict):
                raise InputError("construction must be a JSON object")
            if key in ("kappa", "beta"):
                c.pop("beta" if key == "kappa" else "kappa", None)
            c[key] = value
    return obj


def scale_nH(spec: Spec) -> tuple[int, int]:
    """``(n, H)`` of the ``U n H`` column (module docstring)."""
    if spec.theorem == "multi-head":
        return int(spec.target["tokens"]), int(spec.construction["heads"])
    return int(spec.construction["p"]), 1


def certificate_name(stem: str, config: Config) -> str:
    """File name of a configuration's certificate, e.g. ``t2-heads4-tokens16.json``."""
    return "-".join([stem] + [f"{k}{v}" for k, v in config.items()]) + ".json"


def run_sweep(spec_obj: dict[str, Any], vary: list[tuple[str, list[int | float]]],
              out_dir: str | None = None, force: bool = False, stem: str = "spec",
              jobs: int | None = 1, on_row: Callable[[dict[str, Any]], None] | None = None,
              max_boxes: int | None = None, timeout: float | None = None
              ) -> list[dict[str, Any]]:
    """Certify every configuration; one row per configuration, in sweep order.

    Parameters
    ----------
    spec_obj : dict
        The decoded SPEC.json.
    vary : list of (key, values)
        From :func:`parse_vary`.
    out_dir : str, optional
        Directory for the certificates (created if missing); None writes nothing.
    force : bool
        Overwrite existing certificate files; otherwise an existing file is an InputError
        raised before anything runs.
    stem : str
        Prefix of the certificate names (:func:`certificate_name`).
    jobs : int or None
        Worker processes per certification (None: one per core).
    on_row : callable, optional
        Called with each row as soon as it is known.
    max_boxes, timeout : int or float, optional
        The budget of each configuration (:func:`certify.engine.run_limits`): at most
        ``max_boxes`` evaluated boxes (default: the engine's) and ``timeout`` seconds (default:
        none).  A configuration that reaches it is a row that does not hold, with the
        budget named in its message.

    Returns
    -------
    list of dict
        Keys: ``config``, ``theorem``, ``n``, ``H``, ``holds``, ``lower``, ``upper``,
        ``ratio`` (U/L), ``UnH`` (``U n H``), ``boxes`` (leaf boxes of the cover),
        ``evaluated``, ``seconds``, ``message``, ``certificate`` (path or None).  ``upper``,
        ``ratio`` and ``UnH`` are None when the configuration is not certified.
    """
    from certify.engine import run_limits
    from certify.pipeline import certify

    keys = [k for k, _ in vary]
    configs = [dict(zip(keys, values)) for values in itertools.product(*[v for _, v in vary])]
    specs = []
    for config in configs:
        try:
            specs.append(parse_spec(apply_config(spec_obj, config)))
        except InputError as exc:
            label = ", ".join(f"{k}={v}" for k, v in config.items())
            raise InputError(f"configuration {label}: {exc}") from None
    paths: list[str | None] = [None] * len(configs)
    if out_dir is not None:
        if os.path.exists(out_dir) and not os.path.isdir(out_dir):
            raise InputError(f"{out_dir}: not a directory")
        paths = [os.path.join(out_dir, certificate_name(stem, c)) for c in configs]
        if not force:
            for p in paths:
                if os.path.exists(p):
                    raise InputError(f"{p} exists; pass --force to overwrite it")
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{out_dir}: cannot create ({exc.strerror or exc})") from None
    rows = []
    for config, spec, path in zip(configs, specs, paths):
        with run_limits(max_boxes, timeout):
            result, cert = certify(spec, None, jobs)
        n, H = scale_nH(spec)
        holds = bool(result.holds)
        row: dict[str, Any] = {
            "config": dict(config), "theorem": spec.theorem, "n": n, "H": H, "holds": holds,
            "lower": result.lower, "upper": result.upper if holds else None,
            "ratio": result.upper / result.lower if holds and result.lower > 0 else None,
            "UnH": result.upper * n * H if holds else None,
            "boxes": sum(sum(len(d) for d in o.leaves_depth) for o in result.outputs),
            "evaluated": result.evaluated, "seconds": round(result.seconds, 3),
            "message": result.message, "certificate": None,
        }
        if cert is not None and path is not None:
            try:
                with open(path, "w" if force else "x", encoding="utf-8") as fh:
                    fh.write(canonical_json(cert) + "\n")
            except FileExistsError:
                raise InputError(f"{path} exists; pass --force to overwrite it") from None
            row["certificate"] = path
        rows.append(row)
        if on_row:
            on_row(row)
    return rows


def table_header(keys: list[str]) -> str:
    """Header line of the text table."""
    cols = [f"{k:>8}" for k in keys]
    return " ".join(cols + [f"{'L':>12}", f"{'U':>12}", f"{'U/L':>8}", f"{'U*n*H':>9}",
                            f"{'boxes':>10}", f"{'seconds':>8}"])


def table_row(row: dict[str, Any]) -> str:
    """One line of the text table."""
    cols = [f"{v!s:>8}" for v in row["config"].values()]
    if row["holds"]:
        vals = [f"{row['lower']:>12.6g}", f"{row['upper']:>12.6g}", f"{row['ratio']:>8.5f}",
                f"{row['UnH']:>9.5f}"]
    else:
        vals = [f"{row['lower']:>12.6g}", f"{'-':>12}", f"{'-':>8}", f"{'-':>9}"]
    line = " ".join(cols + vals + [f"{row['boxes']:>10,}", f"{row['seconds']:>8.2f}"])
    if not row["holds"]:
        line += f"  NOT CERTIFIED: {row['message']}"
    return line


def rows_json(rows: list[dict[str, Any]]) -> str:
    """The rows as a JSON document ``{"rows": [...]}``."""
    return json.dumps({"rows": rows}, indent=2)
