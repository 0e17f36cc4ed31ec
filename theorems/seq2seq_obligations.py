"""Registry entry and obligations of theorem ``seq2seq`` (:mod:`theorems.seq2seq`).

Two attention layers with token-wise maps only approximate a sequence-to-sequence target
(docs/mathematics.md, section 12).  Checked here, each for all parameters under the stated
hypotheses unless it says otherwise:

S2S.telescoping
    ``f(y_0) + sum_{l < i} (f(y_{l+1}) - f(y_l)) == f(y_i)`` for every i (symbolic sum),
    and the split of the staircase error ``S - f`` into the steps below, the step at the
    latent, the interpolant and the steps above (a polynomial identity in the step outputs).
S2S.sigmoid-tail
    ``sigmoid(-z) <= e^-z`` (certificate ``e^-z - sigmoid(-z) = e^-z sigmoid(-z)``) and
    ``sum_{m >= 1} q^m = q / (1 - q)`` for ``q = e^-kappa`` in (0, 1): the far steps add at
    most ``T(kappa) = 2 cosh(kappa/2) q / (1 - q)`` and the slope sum at most ``1/4 + 2
    e^{-kappa/2} / (1 - q)``.
S2S.step-kernel
    ``g(u) = sigmoid(kappa u) - u - 1/2`` is odd, ``g'(u) = kappa s (1 - s) - 1`` with ``s =
    sigmoid(kappa u)``, and for ``kappa > 4`` the critical point ``u* = logit(s+)/kappa``
    has ``s+ (1 - s+) = 1/kappa``: so ``max_{|u| <= 1/2} |g| = max(g(u*), 1 -
    sigmoid(kappa/2))`` (and ``1 - sigmoid(kappa/2)`` for ``kappa <= 4``), the ``A(kappa)``
    of the bound.
S2S.soft-max
    ``d/du (u e^-u) = (1 - u) e^-u`` and ``u e^-u = e^-1`` at ``u = 1``: so ``t e^{-beta
    t} <= 1/(e beta)`` for t >= 0, and a soft maximum over ``k`` tokens is within ``(k - 1)
    / (e beta)`` of the maximum.
S2S.gather
    ``1 - e^G / (e^G + n - 1) = (n - 1) / (e^G + n - 1) <= (n - 1) e^-G``: a gather head
    reads its token with weight at least ``1 - (n - 1) e^-G``.
S2S.instance-sum-product, S2S.instance-running-max
    Engine certificates for the sum/product and running-maximum sequences at epsilon 0.1,
    accepted by certify.check (flint and pyinterval): verified on instances.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from theorems.obligations import (
    Identity,
    Instance,
    Obligation,
    TheoremEntry,
    at_least,
    equal,
)

ID = "seq2seq"

INSTANCE_SPECS: tuple[dict[str, Any], ...] = (
    {"theorem": ID, "target": {"kind": "expression", "tokens": 2, "dim": 1,
                               "outputs": [["x0_0 + x1_0"], ["x0_0 * x1_0"]]},
     "domain": {"lo": 0, "hi": 1}, "mode": "prove", "epsilon": 0.1},
    {"theorem": ID, "target": {"kind": "expression", "tokens": 3, "dim": 1,
                               "outputs": [["x0_0"], ["max(x0_0, x1_0)"],
                                           ["max(x0_0, x1_0, x2_0)"]]},
     "domain": {"lo": 0, "hi": 1}, "mode": "prove", "epsilon": 0.1},
)


def _sig(z: Any) -> Any:
    return 1 / (1 + sp.exp(-z))


def telescoping_obligation(shift: int = 0) -> Obligation:
    """S2S.telescoping; ``shift`` moves the sum's upper end (0 is correct)."""
    l_ = sp.Symbol("l", integer=True, nonnegative=True)
    i = sp.Symbol("i", integer=True, positive=True)
    F = sp.Function("f")
    # The error split with symbolic step outputs H_l (m = 6 steps, latent in step 2); the
    # identity is termwise, so the same algebra holds for every m and i.
    m, at = 6, 2
    H = sp.symbols(f"H0:{m}")
    c = sp.symbols(f"c0:{m}")
    f0, fsig, u = sp.symbols("f_y0 f_sigma u")
    fy_i = f0 + sum(c[:at])
    S = f0 + sum(cl * hl for cl, hl in zip(c, H))
    P = fy_i + c[at] * (u + sp.Rational(1, 2))
    split = (sum(c[l] * (H[l] - 1) for l in range(at)) + c[at] * (H[at] - (u + sp.Rational(1, 2)))
             + (P - fsig) + sum(c[l] * H[l] for l in range(at + 1, m)))
    return Obligation(
        "S2S.telescoping", "f(y_0) + sum_{l<i} (f(y_{l+1}) - f(y_l)) == f(y_i) for every i; "
        "S - f == sum_{l<i} c_l (H_l - 1) + c_i (H_i - u - 1/2) + (P - f) + sum_{l>i} c_l H_l "
        "(termwise, shown with 6 symbolic steps)",
        Identity((equal(sp.Sum(F(l_ + 1) - F(l_), (l_, 0, i - 1 + shift)), F(i) - F(0),
                        label="telescoping"),
                  equal(S - fsig, split, label="error split"))))


def sigmoid_tail_obligation(factor: Any = 2) -> Obligation:
    """S2S.sigmoid-tail; ``factor`` is the claimed count of steps per distance (2)."""
    z = sp.Symbol("z", nonnegative=True)
    kappa = sp.Symbol("kappa", positive=True)
    u = sp.Symbol("u", real=True)
    M = sp.Symbol("M", integer=True, positive=True)
    q = sp.exp(-kappa)
    closed = factor * sp.cosh(kappa * u) * q * (1 - q ** M) / (1 - q)
    term = sp.exp(-kappa * (M + u)) + sp.exp(-kappa * (M - u))
    return Obligation(
        "S2S.sigmoid-tail", "sigmoid(-z) <= e^-z for z >= 0; T(M) = 2 cosh(kappa u) q (1 - q^M)"
        "/(1 - q), q = e^-kappa, has T(0) = 0 and T(M) - T(M-1) = e^{-kappa(M+u)} + "
        "e^{-kappa(M-u)} (so T(M) is the partial sum, by induction) and T(M) <= 2 cosh(kappa "
        "u) q/(1 - q)",
        Identity((at_least(sp.exp(-z), _sig(-z), sp.exp(-z) * _sig(-z), label="sigmoid"),
                  equal(closed.subs(M, 0), 0, label="tail at 0"),
                  equal((closed - closed.subs(M, M - 1)).rewrite(sp.exp), term.rewrite(sp.exp),
                        label="geometric tail"))))


def step_kernel_obligation(root_sign: int = 1) -> Obligation:
    """S2S.step-kernel; ``root_sign`` picks the root s+ (1) or s- (-1, wrong for u >= 0)."""
    kappa = sp.Symbol("kappa", positive=True)
    u = sp.Symbol("u", real=True)
    r = sp.Symbol("r", positive=True)  # kappa = 4 + r > 4
    g = _sig(kappa * u) - u - sp.Rational(1, 2)
    s = _sig(kappa * u)
    K = 4 + r
    sp_ = (1 + root_sign * sp.sqrt(1 - 4 / K)) / 2
    ustar = sp.log(sp_ / (1 - sp_)) / K
    return Obligation(
        "S2S.step-kernel", "g(u) = sigmoid(kappa u) - u - 1/2 is odd; g' = kappa s(1 - s) - 1; "
        "for kappa = 4 + r > 4, s+ = (1 + sqrt(1 - 4/kappa))/2 has s+(1 - s+) = 1/kappa and "
        "u* = logit(s+)/kappa >= 0 with sigmoid(kappa u*) = s+",
        Identity((equal(g.subs(u, -u), -g, label="odd"),
                  equal(sp.diff(g, u), kappa * s * (1 - s) - 1, label="derivative"),
                  equal(sp_ * (1 - sp_), 1 / K, label="critical value"),
                  equal(_sig(K * ustar), sp_, label="critical point"),
                  at_least(sp_, sp.Rational(1, 2), root_sign * sp.sqrt(1 - 4 / K) / 2,
                           label="u* >= 0"))))


def soft_max_obligation(scale: Any = 1) -> Obligation:
    """S2S.soft-max; ``scale`` multiplies the claimed maximum value e^-1 (1 is correct)."""
    t = sp.Symbol("u", nonnegative=True)
    h = t * sp.exp(-t)
    return Obligation(
        "S2S.soft-max", "d/du (u e^-u) == (1 - u) e^-u, zero only at u = 1, where u e^-u == "
        "e^-1; so t e^{-beta t} <= 1/(e beta) (u = beta t) and a soft maximum over k tokens "
        "is within (k - 1)/(e beta) of the maximum",
        Identity((equal(sp.diff(h, t), (1 - t) * sp.exp(-t), label="derivative"),
                  equal(h.subs(t, 1), scale * sp.exp(-1), label="maximum"))))


def gather_obligation(power: Any = 1) -> Obligation:
    """S2S.gather; ``power`` is the exponent of (n - 1) in the claim (1 is correct)."""
    G = sp.Symbol("G", positive=True)
    k = sp.Symbol("k", nonnegative=True)  # k = n - 1 other tokens
    miss = 1 - sp.exp(G) / (sp.exp(G) + k)
    claim = k ** power * sp.exp(-G)
    return Obligation(
        "S2S.gather", "1 - e^G/(e^G + n - 1) == (n - 1)/(e^G + n - 1) <= (n - 1) e^-G",
        Identity((equal(miss, k / (sp.exp(G) + k), label="weight"),
                  at_least(claim, miss, k * k * sp.exp(-G) / (sp.exp(G) + k),
                           label="leakage"))))


def instance_obligation(spec: dict[str, Any], name: str) -> Obligation:
    def make() -> dict:
        from certify.pipeline import certify_seq2seq
        from certify.spec import parse_spec

        result, cert, _ = certify_seq2seq(parse_spec(spec))
        if cert is None:
            raise RuntimeError(f"the engine did not certify the spec: {result.message}")
        return cert

    outs = "; ".join(", ".join(row) for row in spec["target"]["outputs"])
    return Obligation(
        f"S2S.instance-{name}", f"an engine certificate for the sequence ({outs}) on [0, 1], "
        f"epsilon {spec['epsilon']}, token-wise maps only, is accepted by certify.check "
        f"(flint and pyinterval)", Instance(make, f"seq2seq {name}"))


def obligations() -> list[Obligation]:
    return [telescoping_obligation(), sigmoid_tail_obligation(), step_kernel_obligation(),
            soft_max_obligation(), gather_obligation(),
            instance_obligation(INSTANCE_SPECS[0], "sum-product"),
            instance_obligation(INSTANCE_SPECS[1], "running-max")]


def entry() -> TheoremEntry:
    eps = sp.Symbol("epsilon", positive=True)
    X = sp.Symbol("X")
    f, N = sp.Function("f"), sp.Function("N")
    I, cmax, A, T, Eg = sp.symbols("I c_max A T E_rest", nonnegative=True)
    return TheoremEntry(
        id=ID, title="Sequence-to-sequence approximation, two layers, token-wise maps only",
        paper={"v1": "Thm 3.2 (sequence-to-sequence)", "v2": "Thm 3.13"},
        paper_claim="qualitative: two-layer multi-head attention with token-wise linear maps "
                    "and positional encodings approximates any continuous "
                    "sequence-to-sequence function on a compact domain (no rate)",
        hypotheses=(sp.Gt(eps, 0, evaluate=False),),
        conclusion=sp.Le(sp.Abs(N(X) - f(X)), eps),
        statement="for a sequence target whose every output entry is an affine form plus "
                  "functions of one affine form each of the tokens' inputs and of soft "
                  "extrema of one coordinate over tokens, layer 1 gathers the inputs by "
                  "position (and computes the extrema), layer 2 computes each function as a "
                  "gated staircase of sigmoid heads; per entry |N - f| <= sum over blocks of "
                  "I + c_max (A(kappa) + T(kappa)) plus rounding, feature and leakage terms",
        obligations=obligations, construction=None, a_priori_bound=I + cmax * (A + T) + Eg)
