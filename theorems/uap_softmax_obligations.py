"""Registry entry and obligations of theorem ``uap-softmax`` (:mod:`theorems.uap_softmax`).

One attention layer, then a token-wise softmax over two logits ``(g~, 0)``, then an affine
output map ``a + b p_0`` (docs/mathematics.md, section 11).  Checked here:

USM.softmax-two
    ``softmax((z, 0))_0 == 1 / (1 + e^{-z}) = sigma(z)`` (symbolic).
USM.logit-identity
    ``a + b sigma(log(u / (1 - u))) == a + b u = f`` for ``u = (f - a)/b`` in (0, 1)
    (symbolic, u = t / (1 + t), t > 0): the ideal logit reproduces f exactly.
USM.sigma-lipschitz
    ``1/4 - sigma'(z) == (sigma(z) - 1/2)^2 >= 0`` with ``sigma' = sigma (1 - sigma)``
    (symbolic): sigma is 1/4-Lipschitz, so ``|N - f| <= (|b| / 4) |g~ - g|``.
USM.instance
    An engine certificate for a small spec, accepted by certify.check (both backends).
USM.paper-claim
    Open: the paper's own construction for "one layer followed by a softmax" is not
    available; ours rescales after the softmax (an affine output map), which the paper's
    statement may not allow.  The claim as the paper states it stays unverified.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from theorems.obligations import Identity, Instance, Obligation, Open, TheoremEntry, equal

ID = "uap-softmax"

INSTANCE_SPEC: dict[str, Any] = {
    "theorem": ID, "target": {"kind": "expression", "expr": "sin(3*x)", "variables": ["x"]},
    "domain": {"lo": [-1], "hi": [1]}, "construction": {"route": "relu"}, "mode": "prove",
    "epsilon": 0.1}


def softmax_two_obligation() -> Obligation:
    z = sp.Symbol("z", real=True)
    return Obligation(
        "USM.softmax-two", "softmax((z, 0))_0 == exp(z) / (exp(z) + exp(0)) == 1/(1 + e^-z)",
        Identity((equal(sp.exp(z) / (sp.exp(z) + sp.exp(0)), 1 / (1 + sp.exp(-z)),
                        label="two logits"),)))


def logit_identity_obligation(scale: Any = 1) -> Obligation:
    """USM.logit-identity; ``scale`` multiplies the logit (1 is correct)."""
    a = sp.Symbol("a", real=True)
    b = sp.Symbol("b", positive=True)
    t = sp.Symbol("t", positive=True)
    u = t / (1 + t)
    g = scale * sp.log(u / (1 - u))
    return Obligation(
        "USM.logit-identity", "a + b sigma(log(u/(1-u))) == a + b u for every u in (0, 1) "
        "(u = t/(1+t), t > 0); with u = (f - a)/b the ideal logit gives f exactly",
        Identity((equal(a + b / (1 + sp.exp(-g)), a + b * u, label="logit"),)))


def sigma_lipschitz_obligation(quarter: Any = None) -> Obligation:
    """USM.sigma-lipschitz; ``quarter`` is the claimed Lipschitz constant (1/4)."""
    quarter = sp.Rational(1, 4) if quarter is None else quarter
    s = sp.Symbol("s", real=True)
    return Obligation(
        "USM.sigma-lipschitz", "1/4 - s (1 - s) == (s - 1/2)^2 for every real s; with s = "
        "sigma(z), sigma' = sigma (1 - sigma) <= 1/4",
        Identity((equal(quarter - s * (1 - s), (s - sp.Rational(1, 2)) ** 2,
                        label="sigma'"),)))


def instance_obligation(spec: dict[str, Any] = INSTANCE_SPEC) -> Obligation:
    def make() -> dict:
        from certify.pipeline import certify_softmax
        from certify.spec import parse_spec

        result, cert, _ = certify_softmax(parse_spec(spec))
        if cert is None:
            raise RuntimeError(f"the engine did not certify the spec: {result.message}")
        return cert

    return Obligation(
        "USM.instance", f"an engine certificate for {spec['target']['expr']} on "
        f"[{spec['domain']['lo']}, {spec['domain']['hi']}], one layer + softmax, epsilon "
        f"{spec['epsilon']} is accepted by certify.check (flint and pyinterval)",
        Instance(make, f"uap-softmax {spec['target']['expr']}"))


def obligations() -> list[Obligation]:
    return [
        softmax_two_obligation(),
        logit_identity_obligation(),
        sigma_lipschitz_obligation(),
        instance_obligation(),
        Obligation("USM.paper-claim", "one multi-head attention layer followed by a softmax, "
                   "with linear maps, approximates every continuous function on a compact "
                   "domain (the paper's statement)",
                   Open("unverified: the paper's construction is not available; ours adds "
                        "an affine output map after the softmax (a + b p_0) and approximates "
                        "the logit of the rescaled target with theorem uap's layer")),
    ]


def entry() -> TheoremEntry:
    eps = sp.Symbol("epsilon", positive=True)
    X = sp.Symbol("X")
    f, N = sp.Function("f"), sp.Function("N")
    b, Eg = sp.symbols("b E_logit", nonnegative=True)
    return TheoremEntry(
        id=ID, title="One attention layer followed by a softmax (closest provable form)",
        paper={"v1": "Thm 3.3 (one layer + softmax)", "v2": "Thm 3.14"},
        paper_claim="qualitative: one attention layer followed by a softmax approximates any "
                    "continuous function on a compact domain (no rate)",
        hypotheses=(sp.Gt(eps, 0, evaluate=False),),
        conclusion=sp.Le(sp.Abs(N(X) - f(X)), eps),
        statement="for an expression target f on a box (d <= 3), one attention layer that "
                  "approximates g = logit((f - a)/b) within E_logit, followed by a softmax "
                  "over (g~, 0) and the map a + b p_0, satisfies |N - f| <= b E_logit / 4",
        obligations=obligations, construction=None, a_priori_bound=b * Eg / 4)
