"""One attention layer followed by a softmax (docs/mathematics.md, section 11).

The paper states that one multi-head attention layer followed by a softmax, with linear
maps, approximates any continuous function; its construction for this claim is not
available to us.  The construction here is the closest one we can prove:

* the target's range ``[m, M]`` on the domain is enclosed and widened to ``[a, a + b]``
  (``a = m - (M - m)/4``, ``b = 3 (M - m)/2``, both rounded to binary64; a constant target
  gets ``a = m - 1``, ``b = 2``), so that ``u = (f - a) / b`` lies in ``[1/6, 5/6]``;
* one attention layer (theorem ``uap``, either route) approximates the logit
  ``g = log(u / (1 - u)) = log(f - a) - log(a + b - f)``;
* a token-wise map writes the logits ``(g~, 0)``, a softmax over them gives
  ``sigma(g~)``, and the output map gives ``a + b sigma(g~)``.

Since ``a + b sigma(g) = f`` exactly and ``sigma`` is 1/4-Lipschitz, ``|N - f| <= (|b| / 4)
|g~ - g|``: the a-priori bound is ``|b| / 4`` times the ``uap`` bound for g.  How it differs
from the paper's statement: the output map after the softmax (an affine rescaling to the
target's range) is ours; the paper's claim itself stays unverified in the registry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from certify.errors import InputError
from certify.expression import Expr, _node, enclose_numpy, num
from certify.network import AttentionNet, RowSoftmax, SelectColumns, TokenAffine
from certify.targets import Target
from theorems import uap
from theorems.uap import _jsonable

ID = "uap-softmax"
CONSTRUCTION_KEYS = ("route", "p", "knots", "kappa")


@dataclass
class BuiltSoftmax:
    net: AttentionNet
    hints: list
    construction: dict[str, Any]
    resources: dict[str, Any]
    bound: dict[str, float] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        return dict(self.resources)

    def structure_json(self) -> dict[str, Any]:
        return {"grids": [h.to_json_obj() if h is not None else None for h in self.hints]}


def target_range(target: Target, lo: np.ndarray, hi: np.ndarray, pieces: int = 4096
                 ) -> tuple[float, float]:
    """A rigorous enclosure ``[m, M]`` of f's range on the box (sub-box interval hull)."""
    d = target.d
    k = max(2, int(round(pieces ** (1 / d))))
    edges = [np.linspace(lo[a], hi[a], k + 1) for a in range(d)]
    idx = np.array(list(np.ndindex(*([k] * d))))
    blo = [edges[a][idx[:, a]] for a in range(d)]
    bhi = [edges[a][idx[:, a] + 1] for a in range(d)]
    flo, fhi = enclose_numpy(target.expr, blo, bhi)
    m, M = float(np.min(flo)), float(np.max(fhi))
    if not (math.isfinite(m) and math.isfinite(M)):
        raise InputError("the target's range cannot be enclosed on the domain")
    return m, M


def scaling(target: Target, lo: np.ndarray, hi: np.ndarray) -> tuple[float, float]:
    """``(a, b)``: binary64 numbers with ``(f - a) / b`` in ``[1/6, 5/6]`` on the domain."""
    m, M = target_range(target, lo, hi)
    if M - m <= 0:
        return m - 1.0, 2.0
    a = float(m - (M - m) / 4)
    b = float(1.5 * (M - m))
    # Keep the margins after rounding: f - a >= (M - m)/8 and a + b - f >= (M - m)/8.
    while not (Fraction(m) - Fraction(a) >= Fraction(M - m) / 8
               and Fraction(a) + Fraction(b) - Fraction(M) >= Fraction(M - m) / 8):
        a, b = a - (M - m) / 16, b + (M - m) / 8
    return a, b


def logit_target(target: Target, a: float, b: float) -> Target:
    """The target ``g = log(f - a) - log(a + b - f)`` (an expression tree, built directly)."""
    f = target.expr
    qa, qb = Fraction(a), Fraction(b)
    g: Expr = _node("sub", _node("log", _node("sub", f, num(qa))),
                    _node("log", _node("sub", num(qa + qb), f)))
    return Target({}, target.d, g)


def resolve(target: Target, lo: np.ndarray, hi: np.ndarray, construction: dict[str, Any],
            epsilon: float | None) -> BuiltSoftmax:
    """Build the network; resources not given are chosen from the a-priori bound."""
    if target.layers is not None:
        raise InputError("uap-softmax takes an expression target")
    a, b = scaling(target, lo, hi)
    g = logit_target(target, a, b)
    eps_g = None if epsilon is None else 4 * epsilon / abs(b) * (1 - 1e-9)
    inner = uap.resolve(g, lo, hi, construction, eps_g)
    layers = list(inner.net.layers)
    if len(layers) == 4:  # route relu: the output map carries the constant of g
        bias_g = float(layers[3].bias[0, 0])
        w_g = layers[3].weight
        layers = layers[:3]
    else:
        bias_g, w_g = 0.0, np.ones((1, 1))
    if not isinstance(layers[2], SelectColumns) or w_g.shape != (1, 1):
        raise InputError("unexpected inner network")
    to_logits = TokenAffine(np.array([[float(w_g[0, 0])], [0.0]]), np.array([[bias_g], [0.0]]))
    out_map = TokenAffine(np.array([[b, 0.0]]), np.array([[a]]))
    net = AttentionNet(inner.net.input_shape, tuple(layers) + (to_logits, RowSoftmax(),
                                                               out_map))
    cons = uap.normal_construction(inner, construction)
    res = dict(inner.resources)
    res.update(scale_a=a, scale_b=b)
    g_bound = inner.bound["bound"]
    bound = {"bound": abs(b) / 4 * g_bound * (1 + 2 ** -40), "logit_bound": g_bound}
    return BuiltSoftmax(net, list(inner.hints), cons, res, bound)


def parameters_json(built: BuiltSoftmax) -> dict[str, Any]:
    out = dict(built.resources)
    out["a_priori_bound"] = built.bound["bound"]
    return _jsonable(out)


def conformance(cert_obj: dict[str, Any]) -> tuple[bool, str]:
    """Is the certificate's network the one this construction builds?"""
    from theorems.uap import rebuild, same_as_built

    built, why = rebuild(ID, cert_obj, resolve)
    if built is None:
        return False, why
    why = same_as_built(cert_obj, built.net, built.structure_json(), parameters_json(built))
    if why is not None:
        return False, why
    return True, (f"the network is theorem {ID} (one attention layer, route "
                  f"{built.construction['route']}, then a softmax) with "
                  f"{built.resources['anchors']} anchors")
