"""User targets for universal approximation: closed-form expressions and ReLU networks.

A target is a real function ``f`` of ``d`` input coordinates (1 <= d <= 3) with exact
semantics, held as an expression tree (:mod:`certify.expression`):

``{"kind": "expression", "expr": TEXT, "variables": [NAMES]}``
    ``TEXT`` in the whitelisted grammar of :mod:`certify.expression`; numbers are the exact
    rationals written in the text.  Variable i is input coordinate i.
``{"kind": "relu-network", "layers": [{"W": [[..]], "b": [..]}, ...]}``
    ``x -> W_L relu(... relu(W_1 x + b_1) ...) + b_L`` with one output; the weights are the
    binary64 numbers given (exact rationals).  The tree is built from the weights directly,
    never from text.

The normal form (:attr:`Target.normal`) is what a certificate records; parsing it again
gives the same normal form.  Nothing here evaluates untrusted text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from certify.errors import InputError
from certify.expression import Expr, ExpressionError, gradient, num, parse, var

KINDS = ("expression", "relu-network")
MAX_DIM = 3
#: Limits of a ReLU network target: layers and units per layer.
MAX_LAYERS, MAX_WIDTH = 8, 256


@dataclass(frozen=True)
class Target:
    """A validated target: its normal form, dimension and expression tree."""

    normal: dict[str, Any]
    d: int
    expr: Expr
    layers: tuple[tuple[np.ndarray, np.ndarray], ...] | None = None  # relu-network only

    def gradient(self) -> tuple[Expr, ...]:
        """The partial derivatives as trees (sympy; ``sign``/``heaviside`` where not smooth)."""
        return gradient(self.expr, self.d)


def _no_unknown(obj: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise InputError(f"unknown field '{where}.{unknown[0]}' (known: {', '.join(allowed)})")


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"{where} must be a number")
    x = float(v)
    if not math.isfinite(x):
        raise InputError(f"{where} must be finite")
    return x


def parse_target(obj: Any) -> Target:
    """Validate a target object (module docstring); raises InputError naming the field."""
    if not isinstance(obj, dict):
        raise InputError("target must be a JSON object")
    kind = obj.get("kind")
    if kind not in KINDS:
        raise InputError(f"unknown target kind {str(kind)[:40]!r} for theorem uap; known: "
                         f"{', '.join(KINDS)}")
    if kind == "expression":
        _no_unknown(obj, ("kind", "expr", "variables"), "target")
        if "expr" not in obj or "variables" not in obj:
            raise InputError("target needs 'expr' and 'variables'")
        variables = obj["variables"]
        if not isinstance(variables, list) or not 1 <= len(variables) <= MAX_DIM:
            raise InputError(f"target.variables must list 1 to {MAX_DIM} names")
        expr = parse(obj["expr"], variables)
        return Target({"kind": kind, "expr": obj["expr"], "variables": list(variables)},
                      len(variables), expr)
    _no_unknown(obj, ("kind", "layers"), "target")
    layers_obj = obj.get("layers")
    if not isinstance(layers_obj, list) or not 1 <= len(layers_obj) <= MAX_LAYERS:
        raise InputError(f"target.layers must be a list of 1 to {MAX_LAYERS} layers")
    layers, width = [], None
    for i, layer in enumerate(layers_obj):
        where = f"target.layers[{i}]"
        if not isinstance(layer, dict):
            raise InputError(f"{where} must be an object with W and b")
        _no_unknown(layer, ("W", "b"), where)
        W_raw, b_raw = layer.get("W"), layer.get("b")
        if not (isinstance(W_raw, list) and W_raw and all(isinstance(r, list) and r
                                                           for r in W_raw)):
            raise InputError(f"{where}.W must be a non-empty matrix (list of rows)")
        cols = len(W_raw[0])
        if any(len(r) != cols for r in W_raw):
            raise InputError(f"{where}.W rows differ in length")
        if len(W_raw) > MAX_WIDTH or cols > MAX_WIDTH:
            raise InputError(f"{where}.W is too large (at most {MAX_WIDTH} x {MAX_WIDTH})")
        W = np.array([[_number(v, f"{where}.W") for v in r] for r in W_raw])
        if not isinstance(b_raw, list) or len(b_raw) != len(W_raw):
            raise InputError(f"{where}.b must list one number per row of W ({len(W_raw)})")
        b = np.array([_number(v, f"{where}.b") for v in b_raw])
        if width is not None and cols != width:
            raise InputError(f"{where}.W has {cols} columns, expected {width} (the previous "
                             f"layer's outputs)")
        width = len(W_raw)
        layers.append((W, b))
    d = layers[0][0].shape[1]
    if not 1 <= d <= MAX_DIM:
        raise InputError(f"target: {d} inputs; theorem uap supports 1 to {MAX_DIM}")
    if layers[-1][0].shape[0] != 1:
        raise InputError("target: the last layer must have one output")
    normal = {"kind": kind, "layers": [{"W": W.tolist(), "b": b.tolist()} for W, b in layers]}
    return Target(normal, d, relu_expression(layers), tuple(layers))


def relu_expression(layers: list[tuple[np.ndarray, np.ndarray]]) -> Expr:
    """The tree of ``W_L relu(... relu(W_1 x + b_1) ...) + b_L`` with exact float weights."""
    h = [var(i) for i in range(layers[0][0].shape[1])]
    for li, (W, b) in enumerate(layers):
        out = []
        for r in range(W.shape[0]):
            acc = num(Fraction(float(b[r])))
            for c in range(W.shape[1]):
                if W[r, c] != 0:
                    term = Expr("mul", (num(Fraction(float(W[r, c]))), h[c]))
                    acc = Expr("add", (acc, term))
            out.append(acc if li == len(layers) - 1 else Expr("max", (num(0), acc)))
        h = out
    return h[0]


def parse_domain(obj: Any, d: int) -> tuple[np.ndarray, np.ndarray]:
    """``lo``, ``hi`` of shape (d,) from ``{"lo": .., "hi": ..}`` (numbers or d-lists)."""
    if not isinstance(obj, dict):
        raise InputError("domain must be a JSON object with lo and hi")
    _no_unknown(obj, ("lo", "hi"), "domain")
    out = []
    for key in ("lo", "hi"):
        if key not in obj:
            raise InputError(f"missing field 'domain.{key}'")
        v = obj[key]
        if isinstance(v, list):
            if len(v) != d:
                raise InputError(f"domain.{key} must list {d} number(s), one per variable")
            out.append(np.array([_number(x, f"domain.{key}") for x in v]))
        else:
            out.append(np.full(d, _number(v, f"domain.{key}")))
    lo, hi = out
    if np.any(lo >= hi):
        raise InputError("domain: need lo < hi in every coordinate")
    if np.any(np.abs(np.concatenate([lo, hi])) > 1e150):
        raise InputError("domain: coordinates beyond 1e150 are not supported")
    return lo, hi


def check_enclosable(target: Target, lo: np.ndarray, hi: np.ndarray, pieces: int = 64
                     ) -> None:
    """Raise InputError unless ``f`` can be enclosed on the whole domain.

    The domain is cut into ``pieces`` equal parts per axis (fewer in higher dimension) and
    ``f`` is enclosed on each with Arb; the first failure is reported with the
    sub-expression and the reason (e.g. ``log(x - 1): argument may be <= 0``).
    """
    from flint import ctx

    from certify.check.expr_backends import ArbOps
    from certify.expression import EnclosureFailure, evaluate

    k = max(2, int(round(pieces ** (1 / target.d))))
    grids = [np.linspace(lo[i], hi[i], k + 1) for i in range(target.d)]
    ops = ArbOps()
    saved = ctx.prec
    ctx.prec = 80
    try:
        for idx in np.ndindex(*([k] * target.d)):
            x = []
            for i, j in enumerate(idx):
                a, b = float(grids[i][j]), float(grids[i][j + 1])
                x.append(ops.point(a, b))
            try:
                val = evaluate(target.expr, x, ops)
            except EnclosureFailure as exc:
                raise InputError(f"target cannot be enclosed on the domain: {exc}") from None
            if not val.is_finite():
                raise InputError("target cannot be enclosed on the domain: non-finite value")
    finally:
        ctx.prec = saved


class NumpyTarget:
    """The engine's target enclosure (:class:`certify.box_enclosure.TargetEnclosure`)."""

    def __init__(self, target: Target) -> None:
        self.expr = target.expr
        try:
            self.grad = target.gradient()
        except InputError:
            self.grad = None  # no derivative: the engine uses zeroth-order enclosures only

    @classmethod
    def of(cls, expr: Expr, d: int) -> NumpyTarget:
        """The enclosure of an expression in ``d`` variables."""
        return cls(Target({}, d, expr))

    def value(self, lo: np.ndarray, hi: np.ndarray):
        from certify.expression import enclose_numpy
        return enclose_numpy(self.expr, [lo[:, v] for v in range(lo.shape[1])],
                             [hi[:, v] for v in range(hi.shape[1])])

    def gradient(self, lo: np.ndarray, hi: np.ndarray):
        from certify.expression import enclose_numpy
        if self.grad is None:
            inf = np.full(len(lo), np.inf)
            return [(-inf, inf)] * lo.shape[1]
        return [enclose_numpy(g, [lo[:, v] for v in range(lo.shape[1])],
                              [hi[:, v] for v in range(hi.shape[1])]) for g in self.grad]


__all__ = ["Target", "parse_target", "parse_domain", "check_enclosable", "NumpyTarget",
           "ExpressionError"]
