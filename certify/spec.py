"""Reading and validating a SPEC.json: target, domain, construction and mode.

Every check here raises :class:`certify.errors.InputError` with a message that names the
offending field, so that the command line can print one line and exit with code 2.
Numbers are read as binary64 (nearest to the decimal text); the certificate records the
binary64 values, which are the exact semantics of the target.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from certify.errors import InputError

THEOREMS = ("single-head",)
MODES = ("measure", "prove")


@dataclass(frozen=True)
class Spec:
    theorem: str
    target: dict[str, Any]  # normalised: kind, a, b, w (n x d list), t (n list)
    lo: np.ndarray  # (d, n)
    hi: np.ndarray  # (d, n)
    construction: dict[str, float]
    mode: str
    tol: float
    epsilon: float | None
    raw: dict[str, Any]


def load_json_file(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh, parse_constant=_reject_constant, parse_float=_finite_float)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON ({exc.msg} at line {exc.lineno})") from None


def _reject_constant(name: str) -> float:
    raise InputError(f"non-finite number {name} in JSON")


def _finite_float(text: str) -> float:
    x = float(text)
    if not math.isfinite(x):
        raise InputError(f"number {text[:30]} overflows to infinity")
    return x


def _field(obj: dict[str, Any], key: str, where: str) -> Any:
    if not isinstance(obj, dict):
        raise InputError(f"{where} must be a JSON object")
    if key not in obj:
        raise InputError(f"missing field '{where}.{key}'" if where != "spec" else
                         f"missing field '{key}'")
    return obj[key]


def real(value: Any, name: str) -> float:
    """A finite real number (bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name} must be a number, got {json.dumps(value)[:40]}")
    x = float(value)
    if not math.isfinite(x):
        raise InputError(f"{name} must be finite")
    return x


def real_array(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        a = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an array of numbers of shape {list(shape)}") from None
    if a.shape != shape:
        raise InputError(f"{name} has shape {list(a.shape)}, expected {list(shape)}")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{name} holds a NaN or infinite number")
    return a


def parse_spec(obj: Any) -> Spec:
    """Validate a decoded SPEC.json and normalise it."""
    if not isinstance(obj, dict):
        raise InputError("spec must be a JSON object")
    theorem = _field(obj, "theorem", "spec")
    if theorem not in THEOREMS:
        known = ", ".join(THEOREMS)
        raise InputError(f"unknown theorem {json.dumps(theorem)[:40]}; known: {known}")
    target = _parse_truncated_linear(_field(obj, "target", "spec"))
    n, d = len(target["t"]), len(target["w"][0])
    lo, hi = _parse_domain(_field(obj, "domain", "spec"), d, n)
    construction = _parse_construction(_field(obj, "construction", "spec"))
    mode = obj.get("mode", "measure")
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}")
    tol = real(obj.get("tol", 0.01), "tol")
    if not 0 < tol <= 1:
        raise InputError("tol must lie in (0, 1]")
    epsilon = None
    if mode == "prove":
        epsilon = real(_field(obj, "epsilon", "spec"), "epsilon")
        if epsilon <= 0:
            raise InputError("epsilon must be > 0")
    return Spec(theorem, target, lo, hi, construction, mode, tol, epsilon, obj)


def _parse_truncated_linear(t: Any) -> dict[str, Any]:
    kind = _field(t, "kind", "target")
    if kind != "truncated-linear":
        raise InputError(f"unknown target kind {json.dumps(kind)[:40]}; known: truncated-linear")
    a = real(_field(t, "a", "target"), "target.a")
    b = real(_field(t, "b", "target"), "target.b")
    if not a < b:
        raise InputError("target needs a < b")
    w_raw = _field(t, "w", "target")
    if not isinstance(w_raw, list) or not w_raw or not isinstance(w_raw[0], list) or not w_raw[0]:
        raise InputError("target.w must be a non-empty list of n token vectors of length d")
    n, d = len(w_raw), len(w_raw[0])
    w = real_array(w_raw, "target.w", (n, d))
    tt = real_array(_field(t, "t", "target"), "target.t", (n,))
    return {"kind": kind, "a": a, "b": b, "w": w.tolist(), "t": tt.tolist()}


def _parse_domain(dom: Any, d: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    bounds = []
    for key in ("lo", "hi"):
        v = _field(dom, key, "domain")
        if isinstance(v, list):
            a = real_array(v, f"domain.{key}", (n, d)).T.copy()
        else:
            a = np.full((d, n), real(v, f"domain.{key}"))
        bounds.append(a)
    lo, hi = bounds
    if np.any(lo > hi):
        raise InputError("domain is empty: lo > hi")
    return lo, hi


def _parse_construction(c: Any) -> dict[str, float]:
    if not isinstance(c, dict):
        raise InputError("construction must be a JSON object")
    p = _field(c, "p", "construction")
    if isinstance(p, bool) or not isinstance(p, int):
        raise InputError("construction.p must be an integer")
    if p < 2:
        raise InputError("construction.p must be >= 2")
    if p > 2**22:
        raise InputError("construction.p is too large (at most 4194304)")
    if ("kappa" in c) == ("beta" in c):
        raise InputError("construction needs exactly one of kappa, beta")
    out: dict[str, float] = {"p": p}
    for key in ("kappa", "beta"):
        if key in c:
            v = real(c[key], f"construction.{key}")
            if v <= 0:
                raise InputError(f"construction.{key} must be > 0")
            out[key] = v
    return out
