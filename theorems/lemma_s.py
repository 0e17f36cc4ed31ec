"""Lemma S: softmax concentrates (docs/mathematics.md, section 2; paper Lemma C.1 in v1, F.1 in v2).

For scores ``s in R^m`` with maximum ``s*`` and an index set J with ``s_j <= s* - delta``
for ``j in J``: ``softmax(s)_j <= exp(s_j - s*)`` and
``sum_{j in J} softmax(s)_j <= |J| exp(-delta)``.

Proof, as checked.  Write the denominator as ``exp(s*) + exp(s_j) + R`` with ``R >= 0`` the
sum of the remaining exponentials (``R`` absorbs any number of scores, so the argument is
for general m).  Then ``exp(s_j - s*) - softmax(s)_j`` equals a manifestly nonnegative
expression (S.pointwise; the case ``j = *`` is S.pointwise-max).  With
``s_j = s* - delta - g_j``, ``g_j >= 0``, each bound ``exp(-delta - g_j) <= exp(-delta)``
follows by monotonicity in ``g_j`` (S.gap), and summing over J gives the claim with ``|J|``
symbolic (S.sum).  S.concrete re-checks the first step with four fully symbolic scores.
"""

from __future__ import annotations

import sympy as sp

from theorems.obligations import Identity, Obligation, TheoremEntry, at_least

ID = "lemma-s"

s_star, s_j, delta = sp.symbols("s_star s_j delta", real=True)
R = sp.Symbol("R", nonnegative=True)
J = sp.Symbol("J", integer=True, positive=True)
i = sp.Symbol("i", integer=True)
g = sp.IndexedBase("g", nonnegative=True)
delta_nn = sp.Symbol("delta", nonnegative=True)


def a_priori_bound() -> sp.Expr:
    """The bound of Lemma S.

    Returns
    -------
    sympy expression
        ``|J| exp(-delta)``, the bound on the softmax mass of the indices in J.
    """
    return J * sp.exp(-delta_nn)


def obligations() -> list[Obligation]:
    """The obligations of Lemma S.

    Returns
    -------
    list of Obligation
        Five identity obligations (S.pointwise, S.pointwise-max, S.concrete, S.gap, S.sum).
    """
    den = sp.exp(s_star) + sp.exp(s_j) + R
    soft_j = sp.exp(s_j) / den
    soft_max = sp.exp(s_star) / (sp.exp(s_star) + R)
    gg = sp.Symbol("gg", nonnegative=True)
    s = sp.symbols("s0:4", real=True)
    den4 = sum(sp.exp(v) for v in s)
    # For any reference score s0 (the claim uses the largest): the gap
    # exp(s_j - s0) - softmax_j is exp(s_j - s0) times the share of the other scores.
    concrete = [at_least(sp.exp(s[k] - s[0]), sp.exp(s[k]) / den4,
                         sp.exp(s[k] - s[0]) * sum(sp.exp(v) for v in s[1:]) / den4,
                         label=f"m=4, j={k}") for k in range(4)]
    return [
        Obligation("S.pointwise", "softmax(s)_j <= exp(s_j - s*) for j != * (any number of "
                   "scores; R >= 0 is the rest of the denominator)",
                   Identity((at_least(sp.exp(s_j - s_star), soft_j,
                                      sp.exp(s_j - s_star) * (sp.exp(s_j) + R) / den),))),
        Obligation("S.pointwise-max", "softmax(s)_* <= 1 = exp(s* - s*)",
                   Identity((at_least(1, soft_max, R / (sp.exp(s_star) + R)),))),
        Obligation("S.concrete", "softmax(s)_j <= exp(s_j - s_0) for four symbolic scores "
                   "(s_0 any reference score, in particular the largest)",
                   Identity(tuple(concrete))),
        Obligation("S.gap", "exp(s_j - s*) <= exp(-delta) when s_j = s* - delta - g, g >= 0 "
                   "(monotonicity in g)",
                   Identity((at_least(sp.exp(-delta_nn), sp.exp(-delta_nn - gg),
                                      sp.exp(-delta_nn) - sp.exp(-delta_nn - gg), via=gg,
                                      at=gg),))),
        Obligation("S.sum", "sum_{j in J} exp(-delta - g_j) <= |J| exp(-delta) for symbolic "
                   "|J| (termwise S.gap)",
                   Identity((at_least(J * sp.exp(-delta_nn),
                                      sp.Sum(sp.exp(-delta_nn - g[i]), (i, 1, J)),
                                      sp.Sum(sp.exp(-delta_nn) - sp.exp(-delta_nn - gg),
                                             (i, 1, J)),
                                      via=gg, at=g[i], termwise=True),))),
    ]


def entry() -> TheoremEntry:
    """Registry entry of Lemma S."""
    sm = sp.Function("softmax")
    return TheoremEntry(
        id=ID, title="Lemma S: softmax concentrates",
        paper={"v1": "Lemma C.1", "v2": "Lemma F.1"},
        paper_claim="softmax mass of scores delta below the maximum is exponentially small "
                    "in delta (the paper's exact statement and constants: unknown; "
                    "docs/mathematics.md, section 2 restates it)",
        hypotheses=(sp.Le(s_j, s_star - delta_nn, evaluate=False),
                    sp.Ge(delta_nn, 0, evaluate=False)),
        conclusion=sp.Le(sp.Sum(sm(i), (i, 1, J)), a_priori_bound()),
        statement="softmax(s)_j <= exp(s_j - s*); sum_{j in J} softmax(s)_j <= |J| e^{-delta} "
                  "when s_j <= s* - delta on J",
        obligations=obligations, construction=None, a_priori_bound=a_priori_bound())
