"""Reading a certificate (schema ``attncert-certificate/1``) into typed fields.

Everything here is about form, not truth: a missing key, a wrong type, a non-finite number
or inconsistent shapes raise :class:`certify.errors.InputError` with one line naming the
problem (the command line exits with code 2).  Whether the certificate's statements hold
is decided by :mod:`certify.check.verify`.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import sys
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from certify.errors import InputError
from certify.network import AttentionNet, NetworkFormatError
from certify.spec import Spec, parse_spec, truncated_linear_terms

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


#: The measure floor is this fraction of the scale of the target's values.
FLOOR_FRACTION = Fraction(1, 2 ** 40)


def measure_floor(target: dict[str, Any]) -> Fraction:
    """The measure floor ``F = 2^-40 S`` of a target in normal form, exactly.

    ``S = sum_i |g_i| max(|a_i|, |b_i|)`` over the target's truncated-linear terms
    ``g_i Range_[a_i, b_i]`` (:func:`certify.spec.truncated_linear_terms`), so
    ``S >= sup |f|``.  In mode measure a claim is met if ``upper <= (1 + tol) lower`` or
    ``upper <= F``: below the floor the error is negligible against the values it is made
    of, and may be 0, so no ratio exists.  Either way the certificate states only
    ``sup |N - f| <= upper``, verified box by box.
    """
    S = sum((abs(Fraction(num, den)) * max(abs(Fraction(a)), abs(Fraction(b)))
             for num, den, a, b in truncated_linear_terms(target)), Fraction(0))
    return FLOOR_FRACTION * S


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
    return np.array([[_number(x, f"{where}[{i}][{j}]") for j, x in enumerate(r)]
                     for i, r in enumerate(v)], dtype=float)


def _keys(obj: dict[str, Any], where: str, keys: tuple[str, ...]) -> None:
    """Exactly ``keys``: a missing or an unknown key is refused, naming it."""
    for key in keys:
        if key not in obj:
            raise _fail(f"missing field '{where}.{key}'" if where else f"missing field '{key}'")
    unknown = sorted(set(obj) - set(keys))
    if unknown:
        raise _fail(f"unknown field '{where + '.' if where else ''}{unknown[0]}'")


def _string(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise _fail(f"{where} must be a string")
    return v


def _numbers(v: Any, where: str, depth: int) -> None:
    """``v`` is nested lists ``depth`` deep whose leaves are JSON numbers (not booleans)."""
    if depth == 0:
        _number(v, where)
        return
    if not isinstance(v, list):
        raise _fail(f"{where} must be a list")
    for i, x in enumerate(v):
        _numbers(x, f"{where}[{i}]", depth - 1)


def _integers(v: Any, where: str) -> None:
    if not isinstance(v, list):
        raise _fail(f"{where} must be a list of integers")
    for i, x in enumerate(v):
        _integer(x, f"{where}[{i}]")


#: Fields of each network layer kind: (key, check) with check "numbers:k" (nested k deep),
#: "integers", or "true" (the literal true).
_LAYER_FIELDS: dict[str, dict[str, str]] = {
    "sequence-affine": {"out_shape": "integers", "weights": "numbers:2", "bias": "numbers:2"},
    "token-affine": {"weight": "numbers:2", "bias": "numbers:2"},
    "attention": {"heads": "heads"},
    "softmax": {},
    "select-columns": {"columns": "integers"},
}
_OPTIONAL_LAYER_FIELDS = {"attention": ("residual",)}


def _network_types(net: dict[str, Any]) -> None:
    """Every key and every value of a stored network has its type (before it is parsed).

    The network parser reads arrays with ``numpy.array(..., dtype=float)``, which would take
    ``true`` as 1.0 and ``"0.5"`` as 0.5; here a boolean or a string where a number belongs
    is refused with the field named, and so is an unknown key.
    """
    _keys(net, "network", ("format", "input_shape", "layers"))
    _string(net["format"], "network.format")
    _integers(net["input_shape"], "network.input_shape")
    layers = net["layers"]
    if not isinstance(layers, list):
        raise _fail("network.layers must be a list")
    for i, layer in enumerate(layers):
        where = f"network.layers[{i}]"
        layer = _dict(layer, where)
        kind = layer.get("kind")
        if kind not in _LAYER_FIELDS:
            raise _fail(f"{where}.kind must be one of {', '.join(_LAYER_FIELDS)}")
        fields = _LAYER_FIELDS[kind]
        optional = _OPTIONAL_LAYER_FIELDS.get(kind, ())
        _keys({k: v for k, v in layer.items() if k not in optional}, where,
              ("kind",) + tuple(fields))
        if "residual" in layer and layer["residual"] is not True:
            raise _fail(f"{where}.residual must be true or absent")
        for key, check in fields.items():
            v, at = layer[key], f"{where}.{key}"
            if check == "integers":
                _integers(v, at)
            elif check.startswith("numbers:"):
                _numbers(v, at, int(check.split(":")[1]))
            else:
                if not isinstance(v, list):
                    raise _fail(f"{at} must be a list")
                for h, head in enumerate(v):
                    head = _dict(head, f"{at}[{h}]")
                    _keys(head, f"{at}[{h}]", ("W_Q", "W_K", "W_V", "W_O"))
                    for m in ("W_Q", "W_K", "W_V", "W_O"):
                        _numbers(head[m], f"{at}[{h}].{m}", 2)


#: Keys of ``parameters`` per theorem (docs/certificates.md, section 3.1).
PARAMETER_KEYS = {"single-head": ("beta", "G", "delta", "p"),
                  "multi-head": ("tokens", "heads", "total_heads", "beta", "delta")}


def _tree_bits(tree: Any, where: str) -> str:
    if not isinstance(tree, str) or not tree or set(tree) - {"0", "1"}:
        raise _fail(f"{where}.tree must be a non-empty string of 0 and 1")
    return tree


def _base64(text: Any, where: str) -> bytes:
    """Strict standard base64 (alphabet, padding; no white space)."""
    if not isinstance(text, str):
        raise _fail(f"{where} must be a base64 string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _fail(f"{where} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:  # one spelling per byte string
        raise _fail(f"{where} is not in canonical base64")
    return raw


def unpack_tree(text: Any, where: str) -> str:
    """The pre-order bit string of a packed tree (``tree64``), exactly.

    The bytes are read most significant bit first until the tree is complete; the rest of
    the last byte must be zero bits and no byte may follow.  Completeness itself is checked
    again, with the leaves, by the checker.
    """
    raw = _base64(text, f"{where}.tree64")
    if not raw:
        raise _fail(f"{where}.tree64 is empty")
    bits = bin(int.from_bytes(raw, "big"))[2:].zfill(8 * len(raw))
    open_nodes, end = 1, 0
    while open_nodes and end < len(bits):
        open_nodes += 1 if bits[end] == "1" else -1
        end += 1
    if open_nodes:
        raise _fail(f"{where}.tree64 ends before its tree is complete")
    if len(bits) - end >= 8 or "1" in bits[end:]:
        raise _fail(f"{where}.tree64 has bits after its tree (padding must be zero, under "
                    "one byte)")
    return bits[:end]


def unpack_bounds(text: Any, where: str) -> list[float]:
    """The float64 values of ``bounds64`` (little-endian binary64); all must be finite."""
    raw = _base64(text, f"{where}.bounds64")
    if len(raw) % 8:
        raise _fail(f"{where}.bounds64 is not a whole number of binary64 values")
    values = np.frombuffer(raw, dtype="<f8")
    if not np.isfinite(values).all():
        raise _fail(f"non-finite number in {where}.bounds64")
    return [float(v) for v in values]


def _cover_entry(e: dict[str, Any], where: str, before: list[CoverEntry]) -> CoverEntry:
    """One cover entry in any of its three stored forms, expanded (docs/certificates.md).

    ``same_as: j`` copies ``y_lo``, ``y_hi``, tree and bounds of entry ``j < i``; every
    statement about the copy (its latent range, its boxes) is then checked for this entry
    as for any other.
    """
    token = _integer(_get(e, "token", where), f"{where}.token")
    row = _integer(_get(e, "row", where), f"{where}.row")
    if "same_as" in e:
        _keys(e, where, ("token", "row", "same_as"))
        j = _integer(e["same_as"], f"{where}.same_as")
        if j >= len(before):
            raise _fail(f"{where}.same_as must name an earlier entry")
        src = before[j]
        return CoverEntry(token, row, src.y_lo, src.y_hi, src.tree, src.bounds)
    packed = "tree64" in e or "bounds64" in e
    _keys(e, where, ("token", "row", "y_lo", "y_hi") +
          (("tree64", "bounds64") if packed else ("tree", "bounds")))
    y_lo = _number(e["y_lo"], f"{where}.y_lo")
    y_hi = _number(e["y_hi"], f"{where}.y_hi")
    if y_lo > y_hi:
        raise _fail(f"{where} has y_lo > y_hi")
    if packed:
        return CoverEntry(token, row, y_lo, y_hi, unpack_tree(e["tree64"], where),
                          unpack_bounds(e["bounds64"], where))
    tree = _tree_bits(e["tree"], where)
    bounds = e["bounds"]
    if not isinstance(bounds, list):
        raise _fail(f"{where}.bounds must be a list")
    return CoverEntry(token, row, y_lo, y_hi, tree,
                      [_number(b, f"{where}.bounds[{j}]") for j, b in enumerate(bounds)])


def parse_certificate(obj: Any) -> Certificate:
    """Validate the form of a decoded certificate; raise InputError naming the problem.

    Form only, and strictly: every object has exactly its documented keys (an unknown key
    is refused, as a misspelt one would otherwise be ignored), and every field that holds
    a number holds a JSON number (``true`` or ``"0.5"`` is refused, with the field named).
    """
    obj = _dict(obj, "certificate")
    _keys(obj, "", KEYS)
    _finite_everywhere(obj, "certificate")
    tool = _dict(obj["tool"], "tool")
    _keys(tool, "tool", ("name", "version"))
    _string(tool["name"], "tool.name")
    _string(tool["version"], "tool.version")
    method = _dict(obj["method"], "method")
    _keys(method, "method", ("engine", "enclosure", "reduction"))
    for key in ("engine", "enclosure", "reduction"):
        _string(method[key], f"method.{key}")
    if obj["schema"] != SCHEMA:
        raise _fail(f"schema must be {SCHEMA!r}")
    theorem = obj["theorem"]
    if not isinstance(theorem, str):
        raise _fail("theorem must be a string")
    claim = _dict(obj["claim"], "claim")
    _keys(claim, "claim", ("mode", "lower", "upper", "tol", "epsilon"))
    mode = _get(claim, "mode", "claim")
    _number(claim["tol"], "claim.tol")
    if claim["epsilon"] is not None:
        _number(claim["epsilon"], "claim.epsilon")
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
    _network_types(network)
    try:
        net = AttentionNet.from_json_obj(network)
    except NetworkFormatError as exc:
        raise _fail(str(exc)) from None
    sha = obj["network_sha256"]
    if not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
        raise _fail("network_sha256 must be 64 lower-case hex digits")
    params = _dict(obj["parameters"], "parameters")
    if theorem in PARAMETER_KEYS:
        _keys(params, "parameters", PARAMETER_KEYS[theorem])
        for key, v in params.items():
            _numbers(v, f"parameters.{key}", 1 if isinstance(v, list) else 0)

    lower = _number(_get(claim, "lower", "claim"), "claim.lower")
    upper = _number(_get(claim, "upper", "claim"), "claim.upper")

    cover_obj = obj["cover"]
    if not isinstance(cover_obj, list) or not cover_obj:
        raise _fail("cover must be a non-empty list")
    cover: list[CoverEntry] = []
    for i, e in enumerate(cover_obj):
        cover.append(_cover_entry(_dict(e, f"cover[{i}]"), f"cover[{i}]", cover))

    wit = _dict(obj["witness"], "witness")
    _keys(wit, "witness", ("token", "row", "x", "error_lower"))
    x = _matrix(_get(wit, "x", "witness"), "witness.x", (n, d)).T.copy()
    return Certificate(
        theorem, spec, obj["parameters"], terms, network, net, sha, lower, upper, cover,
        _integer(_get(wit, "token", "witness"), "witness.token"),
        _integer(_get(wit, "row", "witness"), "witness.row"), x,
        _number(_get(wit, "error_lower", "witness"), "witness.error_lower"))
