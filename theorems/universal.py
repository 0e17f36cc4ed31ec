"""Universal approximation with softmax attention (docs/mathematics.md, section 6).

Paper: Thm 3.3 (v1); Lemma 3.11 and Thm 3.14 (v2).  Claims: (i) two-layer attention and
(ii) one attention layer followed by a softmax, each with linear transformations only,
approximate any continuous sequence-to-sequence map on a compact domain to any accuracy;
two-layer multi-head attention alone suffices.  Route: continuous f -> a sum of truncated
linear functions -> one attention head per term (Lemma I, T1, T2) -> the terms summed by the
output projection or a second layer.  The constructions that exist are registered on their
own (``uap``: one layer; ``uap-two-layer``: two layers, section 10; ``uap-softmax``, section
11; ``seq2seq``, section 12);
this module holds the paper's qualitative statement and its open obligations.
"""

from __future__ import annotations

import sympy as sp

from theorems.obligations import Obligation, Open, TheoremEntry

ID = "universal"


def entry() -> TheoremEntry:
    """Registry entry of the universal approximation theorem: every obligation is open."""
    eps = sp.Symbol("epsilon", positive=True)
    X = sp.Symbol("X")
    f, N = sp.Function("f"), sp.Function("N")
    softmax = ("the closest provable construction is theorem uap-softmax (USM.*), which adds "
               "an affine map after the softmax; the paper's own form stays unverified "
               "(USM.paper-claim)")
    seq = ("the construction with token-wise maps only and its per-network a-priori bound are "
           "theorem seq2seq (S2S.*), for targets compiled into sums of functions of affine "
           "forms and soft extrema; the limit epsilon -> 0 for every continuous map rests on "
           "U.density")
    density = ("not mechanised: the density of the compiled forms among continuous "
               "functions (Stone-Weierstrass); theorems uap and uap-two-layer prove their "
               "identities in general and certify concrete targets")

    def obligations() -> list[Obligation]:
        return [
            Obligation("U.density", "every continuous f on a compact box is within epsilon "
                       "of a sum of functions of affine forms and of their combinations, "
                       "for every epsilon > 0", Open(density)),
            Obligation("U.two-layer", "two attention layers with linear maps approximate "
                       "every continuous function on a compact box (one token)",
                       Open("the construction and its per-network a-priori bound are "
                            "theorem uap-two-layer (UAP2.*); the limit epsilon -> 0 rests "
                            "on U.density")),
            Obligation("U.one-layer-softmax", "one attention layer followed by a softmax "
                       "suffices", Open(softmax)),
            Obligation("U.seq2seq", "continuous sequence-to-sequence maps on a compact domain "
                       "are approximated to any epsilon", Open(seq)),
        ]

    return TheoremEntry(
        id=ID, title="Universal approximation with softmax attention",
        paper={"v1": "Thm 3.3", "v2": "Lemma 3.11, Thm 3.14"},
        paper_claim="qualitative: for every continuous f on a compact domain and every "
                    "epsilon > 0 a network exists (no rate stated in asymptotic form)",
        hypotheses=(sp.Gt(eps, 0, evaluate=False),),
        conclusion=sp.Le(sp.Abs(N(X) - f(X)), eps),
        statement="two-layer attention (or one layer + softmax), with linear maps only, "
                  "approximates any continuous sequence-to-sequence map on a compact domain",
        obligations=obligations, construction=None, a_priori_bound=None)
