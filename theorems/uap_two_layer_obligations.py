"""Registry entry and obligations of theorem ``uap-two-layer`` (:mod:`theorems.uap_two_layer`).

Two attention layers with skip connections: layer 1 computes features (piecewise-linear
blocks of affine forms of x, one head per truncated linear term), layer 2 computes blocks of
linear combinations of the features, and the output map sums (docs/mathematics.md,
section 10).  What is checked here (each statement says exactly what is proved):

UAP2.ramp-score
    A ramp head's score ``2 beta L s - beta L^2`` equals ``beta (s^2 - (s - L)^2)`` for a
    latent ``s = P . phi + t`` that is any affine form of R = 1, 2, 3 features (symbolic):
    the layer-2 heads are Lemma I heads in their latent, like the layer-1 heads.
UAP2.product
    ``u v == ((u + v)^2 - (u - v)^2) / 4`` for real u, v (symbolic): products of features
    are two squares of sums.
UAP2.max-min
    ``max(u, v) == u + max(0, v - u)`` and ``min(u, v) == u - max(0, u - v)`` (symbolic, on
    both orders ``u = v + t`` and ``u = v - t``, ``t >= 0``).
UAP2.relu-knots
    ``max(0, y)`` equals its piecewise-linear interpolant on the knots ``lo < 0 < hi``
    (symbolic, on ``[lo, 0]`` and ``[0, hi]``): relu blocks carry no interpolation error.
UAP2.piecewise-linear
    The truncated-linear sum of a block equals the interpolant on every knot interval
    (the obligation UAP.piecewise-linear of theorem uap, general knots).
UAP2.interpolant-slope
    On ``[y_i, y_{i+1}]`` the block's sum has derivative ``c_i / h_i`` in its latent
    (symbolic): the interpolant is Lipschitz with ``max_i |c_i| / h_i``, the factor by which
    :func:`theorems.uap_two_layer.a_priori_bound` propagates layer-1 errors.
UAP2.exact-anchors
    With ``p - 1 = 2^k``, ``k <= 26``, every anchor ``j / 2^k`` and its square are binary64
    numbers, so the stored scores equal the ideal ones (integer facts, general j).
UAP2.instance
    An engine certificate for a small spec, accepted by certify.check (both backends).
UAP2.paper-claim
    Open: density (every continuous f is within epsilon of a compiled two-level form) is not
    mechanised; the compiler accepts the forms listed in :mod:`theorems.uap_two_layer`.

Not mechanised (paper arguments, as the combination step of Lemma I3): the assembly of the
a-priori bound from the per-term bounds (triangle inequality, each ``Range`` 1-Lipschitz).
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from theorems.obligations import Identity, Instance, Obligation, Open, TheoremEntry, equal
from theorems.uap_obligations import piecewise_linear_obligation, range01

ID = "uap-two-layer"

INSTANCE_SPEC: dict[str, Any] = {
    "theorem": ID,
    "target": {"kind": "expression", "expr": "sin(3*x)", "variables": ["x"]},
    "domain": {"lo": [-1], "hi": [1]}, "mode": "prove", "epsilon": 0.1}


def ramp_score_obligation(square=lambda s, L: s**2 - (s - L) ** 2) -> Obligation:
    """UAP2.ramp-score; ``square(s, L)`` is the claimed form of ``2 L s - L^2``."""
    beta = sp.Symbol("beta", positive=True)
    L, t = sp.Symbol("L", real=True), sp.Symbol("t", real=True)
    facts = []
    for R in (1, 2, 3):
        P = sp.symbols(f"P_1:{R + 1}", real=True)
        phi = sp.symbols(f"phi_1:{R + 1}", real=True)
        s = sp.Add(*[P[r] * phi[r] for r in range(R)]) + t
        facts.append(equal(beta * (2 * L * s - L**2), beta * square(s, L),
                           label=f"latent of {R} feature(s)"))
    return Obligation(
        "UAP2.ramp-score", "beta (2 L s - L^2) == beta (s^2 - (s - L)^2) for s = P . phi + t, "
        "phi of 1, 2 or 3 features: the common beta s^2 cancels in the softmax, so every head "
        "of either layer is a Lemma I head in its latent", Identity(tuple(facts)))


def product_obligation(factor: Any = None) -> Obligation:
    """UAP2.product; ``factor`` is the claimed factor of the difference of squares (1/4)."""
    factor = sp.Rational(1, 4) if factor is None else factor
    u, v = sp.symbols("u v", real=True)
    return Obligation(
        "UAP2.product", "u v == ((u + v)^2 - (u - v)^2) / 4 for all real u, v",
        Identity((equal(u * v, factor * ((u + v) ** 2 - (u - v) ** 2), label="product"),)))


def max_min_obligation(sign: int = 1) -> Obligation:
    """UAP2.max-min; ``sign`` multiplies the relu term of max (1 is correct)."""
    v = sp.Symbol("v", real=True)
    t = sp.Symbol("t", nonnegative=True)
    facts = []
    for u, name in ((v + t, "u = v + t >= v"), (v - t, "u = v - t <= v")):
        facts.append(equal(sp.Max(u, v), u + sign * sp.Max(0, v - u), label=f"max, {name}"))
        facts.append(equal(sp.Min(u, v), u - sp.Max(0, u - v), label=f"min, {name}"))
    return Obligation(
        "UAP2.max-min", "max(u, v) == u + max(0, v - u) and min(u, v) == u - max(0, u - v) "
        "for all real u, v (both orders)", Identity(tuple(facts)))


def relu_knots_obligation() -> Obligation:
    """UAP2.relu-knots."""
    lo = -sp.Symbol("a", positive=True)
    hi = sp.Symbol("b", positive=True)
    t = sp.Symbol("t", nonnegative=True)
    theta = t / (1 + t)  # [0, 1)
    facts = []
    for th, name in ((theta, "theta in [0, 1)"), (sp.Integer(1), "theta = 1")):
        for y, where in ((lo + th * (0 - lo), "[lo, 0]"), (th * hi, "[0, hi]")):
            P = sp.Max(0, lo) + (sp.Max(0, 0) - sp.Max(0, lo)) * range01((y - lo) / (0 - lo)) \
                + (sp.Max(0, hi) - sp.Max(0, 0)) * range01(y / hi)
            facts.append(equal(P, sp.Max(0, y), label=f"y in {where}, {name}"))
    return Obligation(
        "UAP2.relu-knots", "for lo < 0 < hi the interpolant of max(0, y) on the knots lo, 0, "
        "hi, max(0, lo) + (max(0, 0) - max(0, lo)) Range_[0,1]((y - lo)/(-lo)) + (max(0, hi) "
        "- max(0, 0)) Range_[0,1](y/hi), equals max(0, y) on [lo, hi]", Identity(tuple(facts)))


def interpolant_slope_obligation() -> Obligation:
    """UAP2.interpolant-slope."""
    y, yi, c = sp.symbols("y y_i c_i", real=True)
    h = sp.Symbol("h_i", positive=True)
    inner = c * (y - yi) / h  # the term i on its own interval (Range is the identity there)
    return Obligation(
        "UAP2.interpolant-slope", "on [y_i, y_{i+1}] the block's sum is a constant plus "
        "c_i (y - y_i)/h_i (UAP2.piecewise-linear), whose derivative in y is c_i / h_i",
        Identity((equal(sp.diff(inner, y), c / h, label="slope"),)))


def exact_anchors_obligation(k_max: int = 26) -> Obligation:
    """UAP2.exact-anchors: for ``0 <= j <= 2^k``, ``k <= k_max``, ``j^2 < 2^53``."""
    margin = sp.Integer(2) ** 53 - (sp.Integer(2) ** k_max) ** 2  # > 0 is what is needed
    return Obligation(
        "UAP2.exact-anchors", f"for p - 1 = 2^k with k <= {k_max} and 0 <= j <= 2^k: j^2 <= "
        f"4^{k_max} < 2^53, so j / 2^k and j^2 / 4^k are binary64 numbers (an integer below "
        "2^53 times a power of two), and beta = kappa 4^k is kappa times a power of two",
        Identity((equal(sp.Min(sp.sign(margin), 1), 1, label=f"2^53 - 4^{k_max} > 0"),)))


def instance_obligation(spec: dict[str, Any] = INSTANCE_SPEC) -> Obligation:
    """UAP2.instance: an engine certificate checked by certify.check (both backends)."""

    def make() -> dict:
        from certify.pipeline import certify_two_layer
        from certify.spec import parse_spec

        result, cert, _ = certify_two_layer(parse_spec(spec))
        if cert is None:
            raise RuntimeError(f"the engine did not certify the spec: {result.message}")
        return cert

    return Obligation(
        "UAP2.instance", f"an engine certificate for {spec['target']['expr']} on "
        f"[{spec['domain']['lo']}, {spec['domain']['hi']}], two layers, epsilon "
        f"{spec['epsilon']} is accepted by certify.check (flint and pyinterval)",
        Instance(make, f"uap-two-layer {spec['target']['expr']}"))


def obligations() -> list[Obligation]:
    pl = piecewise_linear_obligation()
    return [
        ramp_score_obligation(),
        product_obligation(),
        max_min_obligation(),
        relu_knots_obligation(),
        Obligation("UAP2.piecewise-linear", pl.statement, pl.payload),
        interpolant_slope_obligation(),
        exact_anchors_obligation(),
        instance_obligation(),
        Obligation("UAP2.paper-claim", "every continuous f on a compact domain is within "
                   "epsilon of a two-layer attention network, for every epsilon > 0",
                   Open("not mechanised: density of the compiled two-level forms (products, "
                        "max/min and functions of affine forms and of feature sums) among "
                        "continuous functions; the instances certify concrete targets")),
    ]


def entry() -> TheoremEntry:
    """Registry entry of theorem uap-two-layer."""
    eps = sp.Symbol("epsilon", positive=True)
    X = sp.Symbol("X")
    f, N = sp.Function("f"), sp.Function("N")
    delta, c_in, c_out, W, S, Lip, E, K = sp.symbols(
        "delta c_in c_out W_max W_sum Lip E_features knot_error", nonnegative=True)
    return TheoremEntry(
        id=ID, title="Universal approximation with two attention layers",
        paper={"v1": "Thm 3.3 (two-layer attention)", "v2": "Thm 3.14"},
        paper_claim="qualitative: two-layer multi-head attention with linear maps "
                    "approximates any continuous function on a compact domain (no rate)",
        hypotheses=(sp.Gt(eps, 0, evaluate=False),),
        conclusion=sp.Le(sp.Abs(N(X) - f(X)), eps),
        statement="for a target compiled into two levels (layer-1 features, layer-2 blocks "
                  "of feature combinations) on a box in d <= 3 variables, the two-layer "
                  "network with p = 2^k + 1 anchors and knots chosen so that the a-priori "
                  "bound is <= epsilon satisfies |N(X) - f(X)| <= epsilon on the box",
        obligations=obligations, construction=None,
        a_priori_bound=K + delta * (c_in * W + c_out * S) + Lip * E)
