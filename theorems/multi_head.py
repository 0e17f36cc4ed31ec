"""Theorem T2: multi-head attention with a token-wise affine map (MATH.md section 5).

Paper: Thm 3.2 (v1), Thm 3.9 (v2).  Claim: with a token-wise affine map (shared weights
plus a per-position bias) and H heads, the shared target ``Range_[a,b](w . x_k + t)`` is
approximated at every token with error O(1/(n H)).  The construction (anchors carried by
the positional bias, head h shifted by a fraction h/H of Delta, W_O averaging the heads) is
specified in its own issue; until then this module holds the statement and open
obligations only.
"""

from __future__ import annotations

import sympy as sp

from theorems.obligations import Obligation, Open, TheoremEntry

ID = "multi-head"


def entry() -> TheoremEntry:
    """Registry entry of T2: statement only; every obligation is open."""
    a, b = sp.symbols("a b", real=True)
    n, H = sp.symbols("n H", integer=True, positive=True)
    y = sp.Symbol("y_k", real=True)
    N = sp.Function("N")
    C = sp.Symbol("C", positive=True)  # the constant the paper hides: unknown
    later = "the multi-head construction is specified in its own issue"

    def obligations() -> list[Obligation]:
        return [
            Obligation("T2.construction", "the token-wise affine map and H phase-shifted "
                       "heads give the intended scores, values and head average",
                       Open(later)),
            Obligation("T2.reduction", "output token k depends on X only through "
                       "y_k = w . x_k + t", Open(later)),
            Obligation("T2.bound", "sup error <= an explicit a-priori bound of order "
                       "(b - a)/((n - 1) H)", Open(later)),
            Obligation("T2.certificate", "an engine certificate for a small instance is "
                       "accepted by certify.check", Open(later)),
        ]

    return TheoremEntry(
        id=ID, title="Theorem T2: multi-head attention, token-wise affine map",
        paper={"v1": "Thm 3.2", "v2": "Thm 3.9"},
        paper_claim="error O(1/(n H)) at every token with H heads and n tokens "
                    "(constant: unknown)",
        hypotheses=(sp.Lt(a, b, evaluate=False), sp.Ge(n, 2, evaluate=False),
                    sp.Ge(H, 1, evaluate=False)),
        conclusion=sp.Le(sp.Abs(N(y) - sp.Min(sp.Max(y, a), b)), C / (n * H)),
        statement="with H heads and a token-wise affine map, every token is within "
                  "O(1/(n H)) of Range_[a,b](w . x_k + t)",
        obligations=obligations, construction=None, a_priori_bound=None)
