"""Reading a certificate (schema ``attncert-certificate/1``) into typed fields.

Everything here is about form, not truth: a missing key, a wrong type, a non-finite number
or inconsistent shapes raise :class:`certify.errors.InputError` with one line naming the
problem (the command line exits with code 2).  Whether the certificate's statements hold
is decided by :mod:`certify.check.verify`.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from certify.errors import InputError
from certify.network import AttentionNet, NetworkFormatError
from certify.spec import Spec, parse_spec

SCHEMA = "attncert-certificate/1"
KEYS = ("schema", "tool", "theorem", "target", "domain", "construction", "parameters",
        "terms", "network", "network_sha256", "claim", "cover", "witness", "method")


@dataclass(frozen=True)
class CoverEntry:
    """The cover of one output entry: a bisection tree over ``[y_lo, y_hi]``."""

    token: int
    row: int
    y_lo: float
    y_hi: float
    tree: str
    bounds: list[float]


@dataclass(frozen=True)
class Certificate:
    """The fields of a well-formed certificate (their truth is not yet checked)."""

    theorem: str
    spec: Spec  # target, domain (lo, hi of shape (d, n)), construction, mode, tol, epsilon
    parameters: dict[str, Any]
    terms: list[tuple[int, int, float, float]]
    network: dict[str, Any]  # as stored
    net: AttentionNet  # as parsed
    network_sha256: str
    lower: float
    upper: float
    cover: list[CoverEntry]
    witness_token: int
    witness_row: int
    witness_x: np.ndarray  # (d, n)
    witness_error_lower: float


def _fail(msg: str) -> InputError:
    return InputError(f"certificate: {msg}")


def _finite_everywhere(obj: Any, path: str) -> None:
    """Raise if any number anywhere in the decoded JSON is NaN, infinite or beyond binary64."""
    if isinstance(obj, float) and not math.isfinite(obj):
        raise _fail(f"non-finite number at {path}")
    if isinstance(obj, int) and not isinstance(obj, bool) and abs(obj) > sys.float_info.max:
        raise _fail(f"number too large at {path}")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _finite_everywhere(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _finite_everywhere(v, f"{path}[{i}]")


def _dict(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _fail(f"{where} must be a JSON object")
    return obj


def _get(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise _fail(f"missing field '{where}.{key}'")
    return obj[key]


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _fail(f"{where} must be a number")
    return float(v)


def _integer(v: Any, where: str, minimum: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise _fail(f"{where} must be an integer >= {minimum}")
    return v


def _matrix(v: Any, where: str, shape: tuple[int, int]) -> np.ndarray:
    """A list of ``shape[0]`` lists of ``shape[1]`` numbers."""
    if not (isinstance(v, list) and len(v) == shape[0]
            and all(isinstance(r, list) and len(r) == shape[1] for r in v)):
        raise _fail(f"{where} must be a {shape[0]} x {shape[1]} array of numbers")
    return np.array([[_number(x, where) for x in r] for r in v], dtype=float)


def parse_certificate(obj: Any) -> Certificate:
    """Validate the form of a decoded certificate; raise InputError naming the problem."""
    obj = _dict(obj, "certificate")
    for key in KEYS:
        if key not in obj:
            raise _fail(f"missing field '{key}'")
    _finite_everywhere(obj, "certificate")
    if obj["schema"] != SCHEMA:
        raise _fail(f"schema must be {SCHEMA!r}")
    theorem = obj["theorem"]
    if not isinstance(theorem, str):
        raise _fail("theorem must be a string")
    claim = _dict(obj["claim"], "claim")
    mode = _get(claim, "mode", "claim")
    spec_obj = {"theorem": theorem, "target": obj["target"], "domain": obj["domain"],
                "construction": obj["construction"], "mode": mode,
                "tol": _get(claim, "tol", "claim"), "epsilon": claim.get("epsilon")}
    try:
        spec = parse_spec(spec_obj)
    except InputError as exc:
        raise _fail(str(exc)) from None
    if obj["target"] != spec.target or obj["construction"] != spec.construction:
        raise _fail("target or construction is not in normal form")
    d, n = spec.lo.shape
    for key in ("lo", "hi"):
        _matrix(_get(_dict(obj["domain"], "domain"), key, "domain"), f"domain.{key}", (n, d))

    terms = []
    if not isinstance(obj["terms"], list) or not obj["terms"]:
        raise _fail("terms must be a non-empty list")
    for i, t in enumerate(obj["terms"]):
        if not isinstance(t, list) or len(t) != 4:
            raise _fail(f"terms[{i}] must be [num, den, a, b]")
        num = t[0]
        if isinstance(num, bool) or not isinstance(num, int):
            raise _fail(f"terms[{i}] numerator must be an integer")
        den = _integer(t[1], f"terms[{i}] denominator", 1)
        a, b = _number(t[2], f"terms[{i}].a"), _number(t[3], f"terms[{i}].b")
        if not a < b:
            raise _fail(f"terms[{i}] needs a < b")
        terms.append((num, den, a, b))

    network = _dict(obj["network"], "network")
    try:
        net = AttentionNet.from_json_obj(network)
    except NetworkFormatError as exc:
        raise _fail(str(exc)) from None
    sha = obj["network_sha256"]
    if not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
        raise _fail("network_sha256 must be 64 lower-case hex digits")
    _dict(obj["parameters"], "parameters")

    lower = _number(_get(claim, "lower", "claim"), "claim.lower")
    upper = _number(_get(claim, "upper", "claim"), "claim.upper")

    cover_obj = obj["cover"]
    if not isinstance(cover_obj, list) or not cover_obj:
        raise _fail("cover must be a non-empty list")
    cover = []
    for i, e in enumerate(cover_obj):
        where = f"cover[{i}]"
        e = _dict(e, where)
        y_lo = _number(_get(e, "y_lo", where), f"{where}.y_lo")
        y_hi = _number(_get(e, "y_hi", where), f"{where}.y_hi")
        if y_lo > y_hi:
            raise _fail(f"{where} has y_lo > y_hi")
        tree = _get(e, "tree", where)
        if not isinstance(tree, str) or not tree or set(tree) - {"0", "1"}:
            raise _fail(f"{where}.tree must be a non-empty string of 0 and 1")
        bounds = _get(e, "bounds", where)
        if not isinstance(bounds, list):
            raise _fail(f"{where}.bounds must be a list")
        cover.append(CoverEntry(_integer(_get(e, "token", where), f"{where}.token"),
                                _integer(_get(e, "row", where), f"{where}.row"), y_lo, y_hi,
                                tree, [_number(b, f"{where}.bounds") for b in bounds]))

    wit = _dict(obj["witness"], "witness")
    x = _matrix(_get(wit, "x", "witness"), "witness.x", (n, d)).T.copy()
    return Certificate(
        theorem, spec, obj["parameters"], terms, network, net, sha, lower, upper, cover,
        _integer(_get(wit, "token", "witness"), "witness.token"),
        _integer(_get(wit, "row", "witness"), "witness.row"), x,
        _number(_get(wit, "error_lower", "witness"), "witness.error_lower"))
