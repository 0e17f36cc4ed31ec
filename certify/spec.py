"""Reading and validating a SPEC.json: target, domain, construction and mode.

Every check here raises :class:`certify.errors.InputError` with a message that names the
offending field, so that the command line can print one line and exit with code 2.
Numbers are read as binary64 (nearest to the decimal text); the certificate records the
binary64 values, which are the exact semantics of the target.

Theorems
--------
``single-head`` (T1)
    ``target.w`` is a list of n token vectors of length d, ``target.t`` a list of n numbers
    (token k's latent is ``y_k = w_k . x_k + t_k``); ``construction`` holds ``p`` and
    exactly one of ``kappa``, ``beta``.
``multi-head`` (T2)
    ``tokens`` (n >= 2) at the top level; ``target.w`` is one vector of length d (a list
    holding one vector is accepted), ``target.t`` one number, shared by all tokens;
    ``construction`` holds ``heads`` (H >= 1) and exactly one of ``kappa``, ``beta``.  The
    normal form stores n as ``target.tokens`` (a spec may give it there too; if both are
    given they must agree): the target is the map on sequences of n tokens, and a
    certificate's target then carries everything needed to rebuild.

Target kinds (the generalized ReLU family; ``y`` is the latent scalar of a token)
----------------------------------------------------------------------------------
Every kind is a sum of truncated-linear terms ``g Range_[a,b](y)`` with an exact rational
``g`` (:func:`truncated_linear_terms`); the sum equals the kind's value for every y the
domain reaches (every real y except for ``relu`` and ``leaky-relu``, see ``R`` and ``L``).

``truncated-linear``, ``clip``
    ``Range_[a,b](y)``; ``a < b`` given.
``hard-tanh``
    ``Range_[-1,1](y)``.
``hard-sigmoid``
    ``Range_[0,1](y)``.  Convention: the latent is the argument of the clamp, so PyTorch's
    ``hardsigmoid(z) = Range_[0,1](z/6 + 1/2)`` is the target with ``w = w_z/6`` and
    ``t = t_z/6 + 1/2``; the certificate is for the binary64 values of ``w`` and ``t`` that
    the spec holds.
``relu``
    ``max(y, 0)``, certified as ``Range_[0,R](y)``, which equals it for ``y <= R``.  ``R``
    may be given (it must be > 0 and >= the largest y over the domain, checked exactly);
    otherwise ``R`` is the smallest binary64 number >= the exact largest y over the domain
    (1 if that is <= 0, where ReLU vanishes on the whole domain).
``leaky-relu``
    ``max(y, 0) + alpha min(y, 0)`` with ``alpha != 0`` (its binary64 value, an exact
    rational), certified as ``Range_[0,R](y) + alpha Range_[L,0](y)``, equal to it for
    ``L <= y <= R``; ``R`` as for ``relu`` and ``L`` symmetrically (``L < 0``, ``L <=`` the
    smallest y; default the largest binary64 number <= the smallest y, or -1 if that is
    >= 0).  Two terms: only theorems with one head per term (``multi-head``) accept it.

The normal form of a target (``Spec.target``) holds ``kind``, the fields above (``a`` and
``b`` for every one-term kind, ``R``/``alpha``/``L`` where they apply), ``w``, ``t`` and
for ``multi-head`` ``tokens``;
parsing a normal form again gives the same normal form.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from certify.errors import InputError

THEOREMS = ("single-head", "multi-head", "uap", "uap-two-layer", "uap-softmax", "seq2seq")
MODES = ("measure", "prove")
TARGET_KINDS = ("truncated-linear", "clip", "hard-tanh", "hard-sigmoid", "relu", "leaky-relu")
#: Size limits of a multi-head spec (memory of the token-affine bias and the heads).
MAX_TOKENS, MAX_HEADS, MAX_TOKEN_HEADS = 2**16, 2**10, 2**20


@dataclass(frozen=True)
class Spec:
    """A validated spec.

    ``target`` is the normal form (module docstring): for ``single-head`` ``w`` is an
    (n x d) list and ``t`` an n-list; for ``multi-head`` ``w`` is a d-list, ``t`` a
    number and ``tokens`` is n.  ``lo``, ``hi`` have shape (d, n) for both theorems.
    """

    theorem: str
    target: dict[str, Any]
    lo: np.ndarray  # (d, n)
    hi: np.ndarray  # (d, n)
    construction: dict[str, Any]
    mode: str
    tol: float
    epsilon: float | None
    raw: dict[str, Any]
    parsed_target: Any = None  # theorem uap: the certify.targets.Target


def load_json_file(path: str) -> Any:
    """The JSON document in ``path`` (``-``: standard input), read strictly: duplicate keys
    and non-finite numbers are refused with one line."""
    try:
        if path == "-":
            import sys
            return json.load(sys.stdin, parse_constant=_reject_constant,
                             parse_float=_finite_float, object_pairs_hook=unique_keys("<stdin>"))
        with open(path, encoding="utf-8") as fh:
            return json.load(fh, parse_constant=_reject_constant, parse_float=_finite_float,
                             object_pairs_hook=unique_keys(path))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        where = "<stdin>" if path == "-" else path
        raise InputError(f"{where}: malformed JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def unique_keys(path: str):
    """A JSON object hook that refuses duplicate keys (the last would silently win)."""
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise InputError(f"{path}: duplicate key {k!r} in JSON")
            out[k] = v
        return out
    return hook


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
    """A finite float array of exactly ``shape`` from nested JSON lists of numbers.

    Every entry must be a JSON number: ``true`` and ``"0.5"`` are refused with the entry
    named (``np.array(..., dtype=float)`` alone would read them as 1.0 and 0.5).
    """
    try:
        a = np.array(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{name} must be an array of numbers of shape {list(shape)}") from None
    if a.shape != shape:
        raise InputError(f"{name} has shape {list(a.shape)}, expected {list(shape)}")
    _numbers_only(value, name)
    if not np.all(np.isfinite(a)):
        raise InputError(f"{name} holds a NaN or infinite number")
    return a


def _numbers_only(value: Any, where: str) -> None:
    """Raise naming the first leaf of nested lists that is not a JSON number."""
    if isinstance(value, list):
        for i, v in enumerate(value):
            _numbers_only(v, f"{where}[{i}]")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where} must be a number, got {json.dumps(value)[:40]}")


def parse_spec(obj: Any) -> Spec:
    """Validate a decoded SPEC.json and normalise it."""
    if not isinstance(obj, dict):
        raise InputError("spec must be a JSON object")
    theorem = _field(obj, "theorem", "spec")
    if theorem not in THEOREMS:
        known = ", ".join(THEOREMS)
        raise InputError(f"unknown theorem {json.dumps(theorem)[:40]}; known: {known}")
    if theorem == "uap":
        return _parse_uap(obj)
    if theorem == "uap-two-layer":
        return _parse_uap_two_layer(obj)
    if theorem == "uap-softmax":
        return _parse_uap_softmax(obj)
    if theorem == "seq2seq":
        return _parse_seq2seq(obj)
    _no_unknown_keys(obj, SPEC_KEYS + (("tokens",) if theorem == "multi-head" else ()), "spec")
    t_obj = _field(obj, "target", "spec")
    _no_unknown_keys(t_obj, TARGET_KEYS, "target")
    _no_unknown_keys(obj.get("construction"), ("heads" if theorem == "multi-head" else "p",
                                               "kappa", "beta"), "construction")
    kind = _target_kind(t_obj)
    if theorem == "multi-head":
        n = _tokens(obj, t_obj)
        w1, t1 = _shared_affine(t_obj)
        d = len(w1)
        w, t = np.tile(w1, (n, 1)), np.full(n, t1)
        lo, hi = _parse_domain(_field(obj, "domain", "spec"), d, n)
        target = _kind_fields(kind, t_obj, w, t, lo, hi)
        target.update(w=w1.tolist(), t=float(t1), tokens=n)
        construction = _parse_multi_head_construction(_field(obj, "construction", "spec"), n)
    else:
        w, t = _per_token_affine(t_obj)
        n, d = w.shape
        lo, hi = _parse_domain(_field(obj, "domain", "spec"), d, n)
        target = _kind_fields(kind, t_obj, w, t, lo, hi)
        n_terms = len(truncated_linear_terms(target))
        if n_terms > 1:
            raise InputError(f"target kind {kind} is a sum of {n_terms} truncated-linear "
                             f"terms; theorem {theorem} has one head: use theorem multi-head")
        target.update(w=w.tolist(), t=t.tolist())
        construction = _parse_construction(_field(obj, "construction", "spec"))
    check_magnitudes(theorem, target, w, t, lo, hi, construction)
    mode, tol, epsilon = _mode_tol_epsilon(obj, epsilon_needed=True)
    return Spec(theorem, target, lo, hi, construction, mode, tol, epsilon, obj)


#: Largest magnitude of a latent value ``y`` over the domain and of a range end (``a``,
#: ``b``, ``R``, ``L``) for single-head and multi-head: squares (``L_j^2``, ``beta y^2``)
#: must stay far inside the binary64 range.
MAX_MAGNITUDE = 1e150
#: Largest ``beta (M^2 + Delta^2)`` (M the largest magnitude above): the stored scores and
#: key weights (``2 beta``, ``beta G``) stay finite with room for rounding.
MAX_SCORE = 1e300
#: Smallest ``beta``: quantities such as ``60 / beta`` must stay finite.
MIN_BETA = 1e-300


def check_magnitudes(theorem: str, target: dict[str, Any], w: np.ndarray, t: np.ndarray,
                     lo: np.ndarray, hi: np.ndarray, construction: dict[str, Any]) -> None:
    """Refuse (one line naming the field) a single-head or multi-head spec whose network
    would overflow or divide by zero in binary64.

    Checked, in this order, with exact latent bounds (:func:`latent_bounds`):

    * ``|w_k . x_k + t_k| <= MAX_MAGNITUDE`` over the domain (``target.t`` or ``target.w``);
    * every range end of the target's terms is at most ``MAX_MAGNITUDE`` in magnitude;
    * ``beta`` (given, or ``kappa / Delta^2`` with ``Delta = (b - a)/(p - 1)``, times H for
      multi-head, computed as the construction computes it) is a finite positive binary64
      number, and ``2 beta`` too;
    * ``MIN_BETA <= beta`` and ``beta (M^2 + Delta^2) <= MAX_SCORE`` with M the largest
      magnitude above.

    ``w`` is (n, d), ``t`` (n,), ``lo``/``hi`` (d, n) as :func:`latent_bounds` takes them.
    """
    ymin, ymax = latent_bounds(w, t, lo, hi)
    big = max(abs(ymin), abs(ymax))
    if big > MAX_MAGNITUDE:
        field = "target.t" if np.any(np.abs(t) > MAX_MAGNITUDE) else "target.w"
        raise InputError(f"{field}: the latent w . x + t reaches {float(big):.3g} in magnitude "
                         f"on the domain (at most {MAX_MAGNITUDE:g} is supported)")
    names = {"truncated-linear": ("a", "b"), "clip": ("a", "b"), "hard-tanh": ("a", "b"),
             "hard-sigmoid": ("a", "b"), "relu": ("a", "R"), "leaky-relu": ("R", "L")}
    for key in names[target["kind"]]:
        if abs(target[key]) > MAX_MAGNITUDE:
            raise InputError(f"target.{key} = {target[key]:.3g} is beyond {MAX_MAGNITUDE:g} in "
                             f"magnitude (not supported)")
    terms = truncated_linear_terms(target)
    if theorem == "multi-head":
        steps, H = int(target["tokens"]) - 1, int(construction["heads"])
    else:
        steps, H = int(construction["p"]) - 1, 1
    M = max([float(big)] + [max(abs(a), abs(b)) for _, _, a, b in terms])
    for _, _, a, b in terms:
        ends = "target.a, target.b" if target["kind"] in ("truncated-linear", "clip") else \
            "the target's range"
        delta = (b - a) / steps if theorem == "single-head" else \
            float((Fraction(b) - Fraction(a)) / steps)
        if "beta" in construction:
            beta, field = float(construction["beta"]), "construction.beta"
        else:
            dd = delta * delta if theorem == "single-head" else delta ** 2
            beta = float(construction["kappa"]) * H / dd if dd > 0 else math.inf
            field = "construction.kappa"
            if not (math.isfinite(beta) and math.isfinite(2 * beta)):
                raise InputError(f"{ends}: b - a = {b - a:.3g} is too small for {steps + 1} "
                                 f"anchors: beta = kappa / Delta^2 with Delta = (b - a)/{steps} "
                                 f"is beyond the binary64 range (widen [a, b], or use fewer "
                                 f"anchors or a smaller kappa)")
        if not (math.isfinite(2 * beta) and beta > 0):
            raise InputError(f"{field}: beta = {beta:.3g} is beyond the binary64 range")
        if beta < MIN_BETA:  # the leakage separation G ~ 60 / beta would overflow
            raise InputError(f"{field}: beta = {beta:.3g} is below {MIN_BETA:g} (raise kappa "
                             f"or beta, or narrow [a, b])")
        if beta * (M * M + delta * delta) > MAX_SCORE:
            raise InputError(f"{field}: scores beta y^2 reach {beta * (M * M):.3g}, beyond "
                             f"{MAX_SCORE:g} (lower kappa or beta, or the magnitudes of the "
                             f"target and domain)")


#: Keys a spec may hold; anything else is refused, so a misspelt key never goes unnoticed.
SPEC_KEYS = ("theorem", "target", "domain", "construction", "mode", "tol", "epsilon",
             "description")
#: Target keys: the user's fields and those of the normal form a certificate records.
TARGET_KEYS = ("kind", "a", "b", "w", "t", "alpha", "R", "L", "tokens")


def _no_unknown_keys(obj: Any, allowed: tuple[str, ...], where: str) -> None:
    if isinstance(obj, dict):
        unknown = sorted(set(obj) - set(allowed))
        if unknown:
            raise InputError(f"unknown field '{where}.{unknown[0]}' (known: "
                             f"{', '.join(allowed)})")


def _target_kind(t: Any) -> str:
    kind = _field(t, "kind", "target")
    if kind not in TARGET_KINDS:
        raise InputError(f"unknown target kind {json.dumps(kind)[:40]}; known: "
                         f"{', '.join(TARGET_KINDS)}")
    return kind


def _per_token_affine(t: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``w`` (n, d) and ``t`` (n,) of a single-head target."""
    w_raw = _field(t, "w", "target")
    if not isinstance(w_raw, list) or not w_raw or not isinstance(w_raw[0], list) or not w_raw[0]:
        raise InputError("target.w must be a non-empty list of n token vectors of length d")
    n, d = len(w_raw), len(w_raw[0])
    w = real_array(w_raw, "target.w", (n, d))
    t_raw = _field(t, "t", "target")
    if isinstance(t_raw, list) and len(t_raw) != n:
        raise InputError(f"target.w holds {n} token vector(s) but target.t holds "
                         f"{len(t_raw)} entries: one w_k and one t_k per token")
    tt = real_array(t_raw, "target.t", (n,))
    return w, tt


def _shared_affine(t: dict[str, Any]) -> tuple[np.ndarray, float]:
    """The shared ``w`` (d,) and ``t`` of a multi-head target."""
    w_raw = _field(t, "w", "target")
    if isinstance(w_raw, list) and len(w_raw) == 1 and isinstance(w_raw[0], list):
        w_raw = w_raw[0]  # a list holding one vector
    if not isinstance(w_raw, list) or not w_raw or isinstance(w_raw[0], list):
        raise InputError("target.w must be one non-empty vector of length d (shared by all "
                         "tokens)")
    w = real_array(w_raw, "target.w", (len(w_raw),))
    t_raw = _field(t, "t", "target")
    if isinstance(t_raw, list) and len(t_raw) == 1:
        t_raw = t_raw[0]
    return w, real(t_raw, "target.t")


def _float_up(q: Fraction) -> float:
    """The smallest binary64 number >= q."""
    f = float(q)
    return f if Fraction(f) >= q else math.nextafter(f, math.inf)


def _float_down(q: Fraction) -> float:
    """The largest binary64 number <= q."""
    f = float(q)
    return f if Fraction(f) <= q else math.nextafter(f, -math.inf)


def latent_bounds(w: np.ndarray, t: np.ndarray, lo: np.ndarray, hi: np.ndarray
                  ) -> tuple[Fraction, Fraction]:
    """Exact ``min`` and ``max`` of ``w_k . x_k + t_k`` over all tokens k and ``lo <= X <= hi``.

    ``w`` has shape (n, d), ``t`` shape (n,), ``lo`` and ``hi`` shape (d, n); every binary64
    number is taken as the rational it is, so both results are exact.
    """
    ymin = ymax = None
    for k in range(len(t)):
        s_lo = s_hi = Fraction(float(t[k]))
        for i in range(w.shape[1]):
            if w[k, i] != 0:
                p, q = (Fraction(float(w[k, i])) * Fraction(float(v))
                        for v in (lo[i, k], hi[i, k]))
                s_lo, s_hi = s_lo + min(p, q), s_hi + max(p, q)
        ymin = s_lo if ymin is None else min(ymin, s_lo)
        ymax = s_hi if ymax is None else max(ymax, s_hi)
    return ymin, ymax


def _kind_fields(kind: str, t: dict[str, Any], w: np.ndarray, tt: np.ndarray,
                 lo: np.ndarray, hi: np.ndarray) -> dict[str, Any]:
    """The kind-specific part of the normal form (module docstring); ``w`` is (n, d)."""
    if kind in ("truncated-linear", "clip"):
        a = real(_field(t, "a", "target"), "target.a")
        b = real(_field(t, "b", "target"), "target.b")
        if not a < b:
            raise InputError("target needs a < b")
        return {"kind": kind, "a": a, "b": b}
    if kind in ("hard-tanh", "hard-sigmoid"):
        a, b = (-1.0, 1.0) if kind == "hard-tanh" else (0.0, 1.0)
        _fixed(t, kind, a=a, b=b)
        return {"kind": kind, "a": a, "b": b}
    ymin, ymax = latent_bounds(w, tt, lo, hi)
    R = _range_end(t, "R", ymax, upper=True)
    if kind == "relu":
        _fixed(t, kind, a=0.0, b=R)
        return {"kind": kind, "R": R, "a": 0.0, "b": R}
    alpha = real(_field(t, "alpha", "target"), "target.alpha")
    if alpha == 0:
        raise InputError("target.alpha must be != 0 (alpha = 0 is kind relu)")
    L = _range_end(t, "L", ymin, upper=False)
    return {"kind": kind, "alpha": alpha, "R": R, "L": L}


def _fixed(t: dict[str, Any], kind: str, **values: float) -> None:
    """Fields a kind determines may be repeated in the spec, but only with their value."""
    for key, v in values.items():
        if key in t and real(t[key], f"target.{key}") != v:
            raise InputError(f"target.{key} must be {v!r} for kind {kind} (or be omitted)")


def _range_end(t: dict[str, Any], key: str, extreme: Fraction, upper: bool) -> float:
    """``R`` (upper) or ``L`` (lower) end of a ReLU term, given or derived from the domain."""
    sign, word = (1, "largest") if upper else (-1, "smallest")
    if key in t:
        v = real(t[key], f"target.{key}")
        if sign * v <= 0:
            raise InputError(f"target.{key} must be {'> 0' if upper else '< 0'}")
        if sign * Fraction(v) < sign * extreme:
            raise InputError(f"target.{key} = {v!r} does not cover the {word} y over the "
                             f"domain ({float(extreme)!r})")
        return v
    if sign * extreme <= 0:
        return float(sign)
    return _float_up(extreme) if upper else _float_down(extreme)


def latent_affine(theorem: str, target: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(w, t)`` of shape (n, d) and (n,): token k's latent is ``y_k = w[k] . x_k + t[k]``.

    ``single-head``: the target's per-token ``w`` and ``t``; ``multi-head``: the shared
    ``w``, ``t`` repeated for ``target["tokens"]`` tokens.
    """
    if theorem == "multi-head":
        n = int(target["tokens"])
        return np.tile(np.array(target["w"], float), (n, 1)), np.full(n, float(target["t"]))
    return np.array(target["w"], float), np.array(target["t"], float)


def truncated_linear_terms(target: dict[str, Any]) -> list[tuple[int, int, float, float]]:
    """The normalised target as ``sum_i (num_i/den_i) Range_[a_i, b_i](y)``.

    Returns
    -------
    list of (num, den, a, b)
        Exact rational coefficients (``den >= 1``) and binary64 ends ``a < b``; the sum
        equals the target's value for every y the target is certified on (module docstring).
    """
    if target["kind"] == "leaky-relu":
        alpha = Fraction(target["alpha"])
        return [(1, 1, 0.0, target["R"]),
                (alpha.numerator, alpha.denominator, target["L"], 0.0)]
    return [(1, 1, target["a"], target["b"])]


def _integer(value: Any, name: str, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be an integer")
    if value < minimum:
        raise InputError(f"{name} must be >= {minimum}")
    if value > maximum:
        raise InputError(f"{name} is too large (at most {maximum})")
    return value


def _tokens(obj: dict[str, Any], t: dict[str, Any]) -> int:
    """n of a multi-head spec: top-level ``tokens`` and/or ``target.tokens``."""
    given = [(name, v) for name, v in (("tokens", obj.get("tokens")),
                                       ("target.tokens", t.get("tokens"))) if v is not None]
    if not given:
        raise InputError("missing field 'tokens' (theorem multi-head needs the number of "
                         "tokens n)")
    values = [_integer(v, name, 2, MAX_TOKENS) for name, v in given]
    if len(set(values)) > 1:
        raise InputError("tokens and target.tokens differ")
    return values[0]


def _kappa_or_beta(c: dict[str, Any], out: dict[str, Any]) -> None:
    if ("kappa" in c) == ("beta" in c):
        raise InputError("construction needs exactly one of kappa, beta")
    for key in ("kappa", "beta"):
        if key in c:
            v = real(c[key], f"construction.{key}")
            if v <= 0:
                raise InputError(f"construction.{key} must be > 0")
            out[key] = v


def _parse_multi_head_construction(c: Any, n: int) -> dict[str, Any]:
    if not isinstance(c, dict):
        raise InputError("construction must be a JSON object")
    H = _integer(_field(c, "heads", "construction"), "construction.heads", 1, MAX_HEADS)
    if n * H > MAX_TOKEN_HEADS:
        raise InputError(f"tokens x heads is too large (at most {MAX_TOKEN_HEADS})")
    out: dict[str, Any] = {"heads": H}
    _kappa_or_beta(c, out)
    return out


def _parse_domain(dom: Any, d: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    _no_unknown_keys(dom, ("lo", "hi"), "domain")
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
    out: dict[str, float] = {"p": p}
    _kappa_or_beta(c, out)
    return out


# -- theorem uap ---------------------------------------------------------------------------

UAP_CONSTRUCTION_KEYS = ("route", "p", "knots", "kappa", "lipschitz")
#: Largest anchor count per axis a uap spec may ask for.
MAX_UAP_P = 1 << 18


def _mode_tol_epsilon(obj: dict[str, Any], epsilon_needed: bool
                      ) -> tuple[str, float, float | None]:
    mode = obj.get("mode", "measure")
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}")
    tol = real(obj.get("tol", 0.01), "tol")
    if not 0 < tol <= 1:
        raise InputError("tol must lie in (0, 1]")
    epsilon = None
    if mode == "prove" or (not epsilon_needed and "epsilon" in obj):
        epsilon = real(_field(obj, "epsilon", "spec"), "epsilon")
        if epsilon <= 0:
            raise InputError("epsilon must be > 0")
    return mode, tol, epsilon


def _parse_uap(obj: dict[str, Any]) -> Spec:
    """Theorem ``uap``: target (expression or relu-network), box domain, construction.

    ``construction.route`` is ``interpolation`` (default) or ``relu``; ``p`` (anchors per
    axis: an integer or one per variable; route relu: anchors per head), ``knots`` (route
    relu, 1-D expressions), ``kappa`` (> 0, default 3) and ``lipschitz`` (> 0, a Lipschitz
    constant of the target in the Euclidean norm, taken as a hypothesis of the a-priori
    bound) may be given; what is not given is chosen from the a-priori bound and
    ``epsilon`` (needed then, also in mode measure).
    """
    from certify.targets import parse_domain, parse_target

    _no_unknown_keys(obj, SPEC_KEYS, "spec")
    target = parse_target(_field(obj, "target", "spec"))
    lo, hi = parse_domain(_field(obj, "domain", "spec"), target.d)
    c = obj.get("construction", {"route": "interpolation"})
    if not isinstance(c, dict):
        raise InputError("construction must be a JSON object")
    _no_unknown_keys(c, UAP_CONSTRUCTION_KEYS, "construction")
    route = c.get("route", "interpolation")
    if route not in ("interpolation", "relu"):
        raise InputError("construction.route must be interpolation or relu")
    out: dict[str, Any] = {"route": route}
    if "p" in c:
        p = c["p"]
        if isinstance(p, list) and route == "interpolation":
            if len(p) != target.d:
                raise InputError(f"construction.p must list {target.d} integer(s), one per "
                                 f"variable")
            out["p"] = [_integer(v, "construction.p", 2, MAX_UAP_P) for v in p]
        else:
            out["p"] = _integer(p, "construction.p", 2, MAX_UAP_P)
    if "knots" in c:
        if route != "relu":
            raise InputError("construction.knots applies to route relu")
        k = c["knots"]
        if isinstance(k, list):
            if not 2 <= len(k) <= 4097:
                raise InputError("construction.knots must list 2 to 4097 positions")
            out["knots"] = [real(v, "construction.knots") for v in k]
        else:
            out["knots"] = _integer(k, "construction.knots", 1, 4096)
    for key in ("kappa", "lipschitz"):
        if key in c:
            v = real(c[key], f"construction.{key}")
            if not v > 0:
                raise InputError(f"construction.{key} must be > 0")
            if v > 1e6:
                raise InputError(f"construction.{key} is too large (at most 1e6)")
            out[key] = v
    mode, tol, epsilon = _mode_tol_epsilon(obj, epsilon_needed=False)
    return Spec("uap", target.normal, lo[:, None].copy(), hi[:, None].copy(), out, mode, tol,
                epsilon, obj, target)


TWO_LAYER_CONSTRUCTION_KEYS = ("p", "kappa", "knot_error")


def _parse_uap_two_layer(obj: dict[str, Any]) -> Spec:
    """Theorem ``uap-two-layer``: target and domain as for ``uap``; ``construction`` may give
    ``p`` (anchors, ``2^k + 1``), ``kappa`` (> 0, default 3; ``kappa (p - 1)^2`` must be
    exact) and ``knot_error`` (> 0, the interpolation budget per block); what is not given
    is chosen from the a-priori bound and ``epsilon``."""
    from certify.targets import parse_domain, parse_target

    _no_unknown_keys(obj, SPEC_KEYS, "spec")
    target = parse_target(_field(obj, "target", "spec"))
    lo, hi = parse_domain(_field(obj, "domain", "spec"), target.d)
    c = obj.get("construction", {})
    if not isinstance(c, dict):
        raise InputError("construction must be a JSON object")
    _no_unknown_keys(c, TWO_LAYER_CONSTRUCTION_KEYS, "construction")
    out: dict[str, Any] = {}
    if "p" in c:
        p = _integer(c["p"], "construction.p", 3, (1 << 14) + 1)
        if (p - 1) & (p - 2):
            raise InputError("construction.p must be 2^k + 1 (3, 5, 9, 17, ...)")
        out["p"] = p
    for key in ("kappa", "knot_error"):
        if key in c:
            v = real(c[key], f"construction.{key}")
            if not v > 0:
                raise InputError(f"construction.{key} must be > 0")
            if v > 1e6:
                raise InputError(f"construction.{key} is too large (at most 1e6)")
            out[key] = v
    mode, tol, epsilon = _mode_tol_epsilon(obj, epsilon_needed=False)
    if epsilon is None and not ("p" in out and "knot_error" in out):
        raise InputError("give epsilon, or construction.p and construction.knot_error")
    return Spec("uap-two-layer", target.normal, lo[:, None].copy(), hi[:, None].copy(), out,
                mode, tol, epsilon, obj, target)


def _parse_uap_softmax(obj: dict[str, Any]) -> Spec:
    """Theorem ``uap-softmax``: as ``uap`` (expression targets; ``route``, ``p``, ``knots``,
    ``kappa``), for the attention layer that approximates the logit of the rescaled target."""
    import dataclasses

    spec = _parse_uap(dict(obj, theorem="uap"))
    if "lipschitz" in spec.construction:
        raise InputError("construction.lipschitz does not apply to uap-softmax (the layer "
                         "approximates the logit of the rescaled target)")
    if spec.parsed_target.layers is not None:
        raise InputError("uap-softmax takes an expression target")
    return dataclasses.replace(spec, theorem="uap-softmax", raw=obj)


SEQ_CONSTRUCTION_KEYS = ("kappa", "mix_beta", "design_epsilon")


def _parse_seq2seq(obj: dict[str, Any]) -> Spec:
    """Theorem ``seq2seq``: a sequence target (:mod:`certify.seq_targets`), its domain, and a
    construction that may give ``kappa`` (step sharpness, in [1/4, 64], default 6),
    ``mix_beta`` (inverse temperature of the soft-extremum heads, in (0, 2^20]) and
    ``design_epsilon`` (the a-priori bound the construction is sized for; default
    ``epsilon``, which is then needed in both modes).  ``lo``, ``hi`` have shape (D, 1) with
    ``D = tokens * dim`` in flat order."""
    from certify.seq_targets import parse_seq_domain, parse_seq_target

    _no_unknown_keys(obj, SPEC_KEYS, "spec")
    st = parse_seq_target(_field(obj, "target", "spec"))
    lo, hi = parse_seq_domain(_field(obj, "domain", "spec"), st)
    c = obj.get("construction", {})
    if not isinstance(c, dict):
        raise InputError("construction must be a JSON object")
    _no_unknown_keys(c, SEQ_CONSTRUCTION_KEYS, "construction")
    out: dict[str, Any] = {}
    limits = {"kappa": (0.25, 64.0), "mix_beta": (0.0, 2.0 ** 20),
              "design_epsilon": (0.0, 1e6)}
    for key, (a, b) in limits.items():
        if key in c:
            v = real(c[key], f"construction.{key}")
            if not (a < v <= b or (key == "kappa" and v == a)):
                raise InputError(f"construction.{key} must lie in ({a:g}, {b:g}]")
            out[key] = v
    mode, tol, epsilon = _mode_tol_epsilon(obj, epsilon_needed=False)
    if epsilon is None and "design_epsilon" not in out:
        raise InputError("theorem seq2seq needs epsilon (or construction.design_epsilon)")
    return Spec("seq2seq", st.normal, np.array(lo)[:, None], np.array(hi)[:, None], out, mode,
                tol, epsilon, obj, st)
