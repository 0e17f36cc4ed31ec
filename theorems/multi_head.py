"""Theorem T2: multi-head attention with a token-wise affine map (docs/mathematics.md, section 5).

Paper: Thm 3.2 (v1), Thm 3.9 (v2).  Claim: with a token-wise affine map (shared weights
plus a per-position bias) and H heads, the shared target ``Range_[a,b](w . x_k + t)`` is
approximated at every token with error O(1/(n H)).

Construction (:func:`construct`, :func:`construct_terms`).  A token-wise affine map
(shared weight ``w``, per-position bias = positional encoding) sends token k to
``(y_k, 1, K_k^1, (K_k^1)^2, ..., K_k^H, (K_k^H)^2, V_k)`` with ``y_k = w . x_k + t``; head h
has query ``(y_k, 1)``, key ``beta (2 K_k^h, -(K_k^h)^2)``, value ``V_k`` and
``W_O^h = 1/H``, so the output projection averages the heads.  The n tokens are the anchors
(p = n, no extra tokens).  With ``Delta = (b - a)/(n - 1)``:

* value grid ``V_k = a + k Delta`` (k = 0..n-1): inside ``[a, b]``, both end points in
  every head;
* key anchors ``K_k^h = V_k + phi_h Delta`` with the phases ``phi_h = (2h + 1 - H)/(2H)``
  (the fractions h/H, centred: ``|phi_h| < 1/2``).

Head h is therefore the Lemma I head evaluated at ``y - phi_h Delta``.  In the hardmax limit
head h is a staircase on the grid V whose jumps sit at ``a + (i + (h + 1/2)/H) Delta``; the
H jump sets interleave into one grid of step Delta/H, so the average is the staircase of
step Delta/H with error <= Delta/(2H) on the whole line, end points included (Hermite's
identity).  Design choice: shifting the values together with the keys (anchors
``a + (k + h/H) Delta`` clipped to ``[a, b]``) leaves each head a staircase whose first and
last steps are shorter; near a and b the heads then agree instead of interleaving, and the
measured sup error stays of order Delta for every H (float64 sampling: U n H grows linearly
in H).  Only the keys carry the phase here.

Temperature.  ``kappa`` sets ``beta = kappa H / Delta^2`` (``kappa = beta Delta (Delta/H)``;
T1's kappa for H = 1).  Measured and certified (tests/test_multi_head.py): at ``kappa = 3``
the sup error is ``0.079 Delta / H`` within 1% for n in {4, 16, 64} and H in {1, .., 16}
(and ``0.0788 Delta/H`` in float64 sampling for H up to 32), i.e. ``U (n - 1) H/(b - a)`` is
constant.  With ``beta`` fixed instead (H-independent), the error at y = a stops
decreasing with H.

Bounds.  Proved for all n >= 2, H >= 1, kappa > 0 (T2.rate, :mod:`theorems.t2_rate`): the
construction in exact arithmetic is within ``|g| (Delta/H) (1/2 + C(kappa))`` of the
target, ``C(kappa) = sum_{m>=1} m e^{-kappa m (m-1)}/(1 - e^{-kappa})`` (1.5576 at
kappa = 3, against the certified 0.079).  :func:`rate_bound` adds the rounding of a stored
network (T2.rate-rounding).  :func:`a_priori_bound` is the older O(Delta) bound (Lemma I3
per head plus the phase shift), which does not decrease with H.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from certify.network import Attention, AttentionNet, Head, SelectColumns, TokenAffine
from certify.spec import truncated_linear_terms
from theorems.obligations import Obligation, TheoremEntry

ID = "multi-head"


def entry() -> TheoremEntry:
    """Registry entry of T2.

    Returns
    -------
    TheoremEntry
        Conclusion: our explicit O(1/(n H)) bound for the construction in exact arithmetic
        (``(b - a)/((n - 1) H) (1/2 + Psi_4(kappa)/(1 - e^{-kappa}))``, T2.rate, proved for
        all parameters), which is also ``a_priori_bound``.  The obligations
        (:func:`theorems.multi_head_obligations.t2_obligations`) are the general ones (the
        template T2.sym-*, the O(Delta) assembly, the O(Delta/H) chain T2.rate-* and T2.rate)
        and the checks of the small registry instance (n = 4, d = 2, H = 3, kappa = 3): the
        construction (scores, values, head average, ``beta y^2`` cancellation; exact), the
        reduction to ``y_k`` (exact), the O(Delta) bound :func:`a_priori_bound` and the
        O(Delta/H) bound :func:`rate_bound` of the stored network (interval arithmetic on its
        exact output), and an engine certificate accepted by the checker.
    """
    from theorems import t2_rate

    a, b = sp.symbols("a b", real=True)
    n, H = sp.symbols("n H", integer=True, positive=True)
    kappa, beta = t2_rate.kappa, sp.Symbol("beta", positive=True)
    y = sp.Symbol("y_k", real=True)
    N = sp.Function("N")
    delta = (b - a) / (n - 1)
    bound = delta / H * t2_rate.rate_constant(kappa)

    def obligations() -> list[Obligation]:
        from theorems.multi_head_obligations import t2_obligations
        return t2_obligations()

    return TheoremEntry(
        id=ID, title="Theorem T2: multi-head attention, token-wise affine map",
        paper={"v1": "Thm 3.2", "v2": "Thm 3.9"},
        paper_claim="error O(1/(n H)) at every token with H heads and n tokens "
                    "(constant: unknown)",
        hypotheses=(sp.Lt(a, b, evaluate=False), sp.Ge(n, 2, evaluate=False),
                    sp.Ge(H, 1, evaluate=False), sp.Gt(kappa, 0, evaluate=False),
                    sp.Eq(beta, kappa * H / delta**2, evaluate=False)),
        conclusion=sp.Le(sp.Abs(N(y) - sp.Min(sp.Max(y, a), b)), bound),
        statement="with H heads and a token-wise affine map, every token is within "
                  "(Delta/H) (1/2 + C(kappa)) of Range_[a,b](w . x_k + t), Delta = "
                  "(b - a)/(n - 1), C(kappa) = sum_{m>=1} m e^{-kappa m(m-1)}/(1 - "
                  "e^{-kappa}) (1.5576 at kappa = 3): O(1/(n H)), proved for the "
                  "construction in exact arithmetic for all n >= 2, H >= 1, kappa > 0 "
                  "(T2.rate); a stored network adds its rounding (T2.rate-rounding, "
                  "multi_head.rate_bound, checked on an instance by T2.rate-bound)",
        obligations=obligations, construction=construct, a_priori_bound=bound)


# -- construction (issue 4) ----------------------------------------------------------------
#
# Layout of Z = A(X) in R^{dz x n}, dz = 2 + 2 G + T (G = T H heads, T target terms):
#   row 0            y_k = w . x_k + t              (shared weight row w, bias t)
#   row 1            1                              (bias)
#   rows 2+2g, 3+2g  K_k^g, fl((K_k^g)^2)           (positional bias: head g's key anchors)
#   row 2+2G+i       V_k^i = fl(a_i + k Delta_i)    (positional bias: term i's value grid)


def phases(heads: int) -> list[Fraction]:
    """Phases ``phi_h = (2h + 1 - H) / (2H)``, h = 0..H-1: the fractions h/H of Delta,
    centred so that ``phi_{H-1-h} = -phi_h`` and every ``|phi_h| < 1/2``."""
    return [Fraction(2 * h + 1 - heads, 2 * heads) for h in range(heads)]


@dataclass(frozen=True)
class Built:
    """A constructed T2 network and the numbers that determine it.

    Attributes
    ----------
    net : AttentionNet
        TokenAffine -> Attention (``len(terms) * heads`` heads) -> SelectColumns(0..n-1).
    tokens, heads : int
        n and the number H of heads per target term.
    terms : list of (num, den, a, b)
        The target ``sum_i (num_i/den_i) Range_[a_i,b_i](y)``; heads ``i H .. i H + H - 1``
        carry term i.
    betas, deltas : list of float
        Per term: the stored inverse temperature and the float value of the value-grid
        spacing ``Delta_i = (b_i - a_i)/(n - 1)``.
    """

    net: AttentionNet
    tokens: int
    heads: int
    terms: list[tuple[int, int, float, float]]
    betas: list[float]
    deltas: list[float]

    def parameters(self) -> dict[str, Any]:
        """JSON-ready parameters (lists, ints and floats only, so they survive JSON)."""
        return {"tokens": self.tokens, "heads": self.heads,
                "total_heads": self.heads * len(self.terms),
                "beta": list(self.betas), "delta": list(self.deltas)}


def construct_terms(terms: Sequence[tuple[int, int, float, float]], w: np.ndarray, t: float,
                    n: int, heads: int, kappa: float | None = None,
                    beta: float | None = None) -> Built:
    """Build the T2 network for ``f(y) = sum_i (num_i/den_i) Range_[a_i,b_i](y)``.

    Parameters
    ----------
    terms : sequence of (num, den, a, b)
        Integers ``num``, ``den >= 1`` and binary64 ends ``a < b``.
    w : array of shape (d,)
        Shared weight: token k's latent is ``y_k = w . x_k + t``.
    t : float
        Shared offset.
    n : int
        Number of tokens, ``n >= 2``; every head uses the n tokens as its anchors.
    heads : int
        H >= 1 heads per term.
    kappa, beta : float
        Exactly one.  ``kappa`` gives ``beta_i = fl(kappa H / Delta_i^2)`` for term i, i.e.
        kappa is ``beta Delta (Delta / H)``: the single-head kappa of T1 for H = 1, and the
        scaling with H under which the measured sup error is ``c(kappa) Delta / H`` (module
        docstring).  ``beta`` is used as given for every head.

    Returns
    -------
    Built
        The network below, with every weight a binary64 number computed from exact rationals
        by one correct rounding; identical input gives a bit-identical network.

    Notes
    -----
    Term i, head h (global index ``g = i H + h``), ``Delta = Delta_i``, phase ``phi_h``
    (:func:`phases`): key anchors ``K_k = fl(a_i + (k + phi_h) Delta)``, value grid
    ``V_k = fl(a_i + k Delta)`` (``V_0 = a_i``, ``V_{n-1} = b_i`` exactly), ``W_Q z = (y, 1)``,
    ``W_K z = (2 beta K, -beta fl(K^2))``, ``W_V z = V``, ``W_O = fl(num_i / (den_i H))``.
    Query k against key j scores ``beta (2 K_j y_k - K_j^2) = beta (y_k^2 - (y_k - K_j)^2)``
    up to the rounding of ``fl(K^2)``, so head g is the T1 head with anchors ``V`` evaluated at
    ``y - phi_h Delta`` (keys shifted, values not).
    """
    w = np.asarray(w, dtype=float).reshape(-1)
    d = len(w)
    if n < 2 or heads < 1 or not terms:
        raise ValueError("need n >= 2, heads >= 1 and at least one term")
    if (kappa is None) == (beta is None):
        raise ValueError("give exactly one of kappa, beta")
    G, T = heads * len(terms), len(terms)
    dz = 2 + 2 * G + T
    weight = np.zeros((dz, d))
    weight[0] = w
    bias = np.zeros((dz, n))
    bias[0], bias[1] = float(t), 1.0
    e = np.eye(dz)
    head_list, betas, deltas = [], [], []
    for i, (num, den, a, b) in enumerate(terms):
        if not a < b:
            raise ValueError("every term needs a < b")
        fa, delta = Fraction(a), (Fraction(b) - Fraction(a)) / (n - 1)
        bt = float(beta) if beta is not None else float(kappa) * heads / float(delta) ** 2
        if not (math.isfinite(bt) and bt > 0):
            raise ValueError("beta must be finite and > 0")
        betas.append(bt)
        deltas.append(float(delta))
        bias[2 + 2 * G + i] = [float(fa + k * delta) for k in range(n)]
        w_o = np.array([[float(Fraction(num, den * heads))]])
        for h, phi in enumerate(phases(heads)):
            g = i * heads + h
            keys = [fa + (k + phi) * delta for k in range(n)]
            K = np.array([float(q) for q in keys])
            bias[2 + 2 * g] = K
            bias[3 + 2 * g] = [float(Fraction(float(k)) ** 2) for k in K]
            W_K = np.zeros((2, dz))
            W_K[0, 2 + 2 * g], W_K[1, 3 + 2 * g] = 2.0 * bt, -bt
            head_list.append(Head(e[[0, 1]].copy(), W_K, e[[2 + 2 * G + i]].copy(), w_o.copy()))
    net = AttentionNet((d, n), (TokenAffine(weight, bias), Attention(tuple(head_list)),
                                SelectColumns(tuple(range(n)))))
    return Built(net, n, heads, [tuple(x) for x in terms], betas, deltas)


def construct(a: float, b: float, w: np.ndarray, t: float, n: int, heads: int,
              kappa: float | None = None, beta: float | None = None) -> Built:
    """The T2 network for the single target ``Range_[a,b](w . x_k + t)`` at every token k.

    Same as :func:`construct_terms` with the one term ``(1, 1, a, b)``: H heads, each with
    ``W_O = fl(1/H)``, so the output projection averages the heads.
    """
    return construct_terms([(1, 1, float(a), float(b))], w, t, n, heads, kappa, beta)


# -- glue used by the engine and the checker -----------------------------------------------

def build_from_spec(target: dict, lo: np.ndarray, hi: np.ndarray, construction: dict) -> Built:
    """The network a normalised multi-head spec asks for (:mod:`certify.spec`).

    ``lo`` and ``hi`` are not needed: every key is a positional anchor, so no score depends
    on the domain (unlike T1's token-token separation G); named targets already carry their
    domain-dependent ends (``R``, ``L``) in the normal form.
    """
    return construct_terms(truncated_linear_terms(target), np.array(target["w"], float),
                           float(target["t"]), int(target["tokens"]),
                           int(construction["heads"]), kappa=construction.get("kappa"),
                           beta=construction.get("beta"))


def target_terms(target: dict, n_heads: int) -> list[tuple[int, int, float, float]]:
    """One term per head: ``(num, den H, a, b)`` for each of the H heads of every target term.

    ``n_heads`` is the total number of heads of the network (``len(terms) H``); the
    coefficients are exact rationals, e.g. ``[(1, H, a, b)] * H`` for one term.
    """
    base = truncated_linear_terms(target)
    if n_heads % len(base):
        raise ValueError("the number of heads is not a multiple of the number of terms")
    H = n_heads // len(base)
    out = []
    for num, den, a, b in base:
        q = Fraction(num, den * H)
        out += [(q.numerator, q.denominator, a, b)] * H
    return out


def token_affine_targets(target: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(w, t)``: the shared weight repeated, ``w`` of shape (n, d), ``t`` of shape (n,).

    n is the normal form's ``target["tokens"]``; token k's target reads
    ``y_k = w[k] . x_k + t[k]`` with ``w[k] = target["w"]`` and ``t[k] = target["t"]``.
    """
    n = int(target["tokens"])
    return (np.tile(np.array(target["w"], float), (n, 1)), np.full(n, float(target["t"])))


# -- a-priori bound (proved; H-independent) ------------------------------------------------

def _arb_up(x: Any) -> float:
    """The smallest binary64 number >= every point of the Arb ball ``x``."""
    from flint import arb

    u = x.upper()
    f = float(u)
    if not arb(f) >= u:
        f = math.nextafter(f, math.inf)
    return f


def a_priori_bound(built: Built, lo: np.ndarray, hi: np.ndarray) -> dict[str, Any]:
    """Our proved bound of ``sup_{X in [lo, hi]} max_k |N(X)_k - f(y_k)|`` for ``built``.

    ``N`` is the stored binary64 network evaluated in exact real arithmetic and
    ``f = sum_i g_i Range_[a_i,b_i]`` the target of ``built.terms``.  The bound does not
    decrease with H: it is ``O(Delta)``, not ``O(Delta/H)``; the O(1/(nH)) bound is
    :func:`rate_bound` (smaller for H >= 3 and kappa >= 1).

    Proof.  Fix term i with ``Delta = (b - a)/(n - 1)`` (exact), ``V_k = a + k Delta``, stored
    ``beta``, ``kappa_1 = beta Delta^2`` (exact), and head h with shift ``s_h = phi_h Delta``.
    The *ideal* head has keys ``K_k = V_k + s_h`` and values ``V_k`` exactly; its scores are
    ``beta (y^2 - (y - s_h - V_k)^2)``, so it is the Lemma I head (anchors and values
    ``V``) at ``z = y - s_h``, and I3 gives ``|o(z) - Range(z)| <= Delta c(kappa_1)`` for every
    real z, ``c(kappa) = 1/2 + 2 sum_k (k+1) e^{-kappa k^2}`` (:mod:`theorems.lemma_i`).  As
    Range is 1-Lipschitz, ``|o(y - s_h) - Range(y)| <= Delta c(kappa_1) + |s_h|``.  The stored
    head differs: with ``eps`` = the largest ``|stored score - ideal score|`` over keys and
    ``y`` in the latent range (linear in y, so taken at its exact ends) each weight moves by
    a factor in ``[e^{-2 eps}, e^{2 eps}]``, and ``o^ - o = sum w^ (V^ - V) + sum (w^ - w)
    (V - Range(z))``, so ``|o^ - o| <= eps_V + (e^{2 eps} - 1) Delta (c(kappa_1) + 1/2)``
    (``sum_k w_k |V_k - Range(z)| <= Delta (c + 1/2)`` by the facts behind I3), with
    ``eps_V = max_k |V^_k - V_k|``.  The output projection ``W_O = omega`` (stored) of every
    head of the term gives ``|sum_h omega o^_h - g Range| <= |omega| sum_h |o^_h - Range| +
    |H omega - g| max(|a|, |b|)``.  Summing over h and over the terms gives ``bound``.

    Parameters
    ----------
    built : Built
        From :func:`construct` or :func:`construct_terms`.
    lo, hi : arrays of shape (d, n)
        The domain.

    Returns
    -------
    dict
        ``i3_bound`` (``sum_i |omega_i| H Delta_i c(kappa_1)``), ``shift_bound``
        (``sum_i |omega_i| H Delta_i mean_h |phi_h|``), ``rounding_bound`` (the stored-number
        terms), ``bound`` (their sum), each the smallest binary64 number above an Arb
        enclosure; ``bound_times_nH`` = ``bound (n - 1) H / max_i (b_i - a_i)`` in float.
    """
    from flint import arb

    from theorems.lemma_i import a_priori_bound_I3_arb

    n, H = built.tokens, built.heads
    ph = phases(H)
    mean_phi = sum(abs(p) for p in ph) / H
    i3 = shift = rnd = arb(0)
    for term in _stored_terms(built, lo, hi):
        delta, omega, eps, eps_v = term["delta"], term["omega"], term["eps"], term["eps_v"]
        kappa1 = term["beta_built"] * delta * delta
        c_delta = a_priori_bound_I3_arb(kappa1, delta)  # Delta c(kappa_1)
        d_arb = arb(delta.numerator) / delta.denominator
        scale = arb(abs(omega).numerator) / abs(omega).denominator * H
        i3 += scale * c_delta
        shift += scale * d_arb * arb(mean_phi.numerator) / mean_phi.denominator
        rnd += scale * _head_rounding(eps, eps_v, c_delta, d_arb) + _coefficient_error(term, H)
    total = i3 + shift + rnd
    width = max(b - a for _, _, a, b in built.terms)
    bound = _arb_up(total)
    return {"i3_bound": _arb_up(i3), "shift_bound": _arb_up(shift),
            "rounding_bound": _arb_up(rnd), "bound": bound,
            "bound_times_nH": bound * (n - 1) * H / width}


def _stored_terms(built: Built, lo: np.ndarray, hi: np.ndarray) -> list[dict[str, Any]]:
    """Per target term, the exact numbers the bounds need (all Fractions).

    ``delta`` = ``(b - a)/(n - 1)``; ``omega`` = the stored W_O of the term's first head;
    ``omegas`` and ``betas`` = every head's stored W_O and ``-W_K[1]`` (the stored beta);
    ``beta_built`` = ``built.betas[i]``; ``eps`` = the largest ``|stored score - ideal
    score|`` over the term's heads, keys and the two ends of the exact latent range (the
    ideal head has keys ``V_k + phi_h Delta`` exactly and that head's stored beta; the score
    difference is affine in y); ``eps_v`` = ``max_k |V^_k - (a + k Delta)|``; and the term's
    ``num``, ``den``, ``a``, ``b``.
    """
    from certify.spec import latent_bounds

    n, H = built.tokens, built.heads
    att = built.net.layers[1]
    bias = built.net.layers[0].bias
    G = H * len(built.terms)
    d = built.net.input_shape[0]
    w_rows = np.tile(built.net.layers[0].weight[0], (n, 1)).reshape(n, d)
    ylo, yhi = latent_bounds(w_rows, bias[0], lo, hi)
    ph = phases(H)
    out = []
    for i, (num, den, a, b) in enumerate(built.terms):
        fa = Fraction(a)
        delta = (Fraction(b) - fa) / (n - 1)
        V_ideal = [fa + k * delta for k in range(n)]
        eps_v = max(abs(Fraction(float(v)) - q) for v, q in zip(bias[2 + 2 * G + i], V_ideal))
        eps = Fraction(0)
        betas, omegas = [], []
        for h, phi in enumerate(ph):
            g = i * H + h
            W_K = att.heads[g].W_K
            b2, bq = Fraction(float(W_K[0, 2 + 2 * g])), Fraction(float(W_K[1, 3 + 2 * g]))
            beta = -bq
            betas.append(beta)
            omegas.append(Fraction(float(att.heads[g].W_O[0, 0])))
            for k in range(n):
                K = V_ideal[k] + phi * delta
                Ks, K2s = Fraction(float(bias[2 + 2 * g, k])), Fraction(float(bias[3 + 2 * g, k]))
                for y in (ylo, yhi):
                    stored = b2 * Ks * y + bq * K2s
                    ideal = beta * (2 * K * y - K * K)
                    eps = max(eps, abs(stored - ideal))
        out.append({"num": num, "den": den, "a": a, "b": b, "delta": delta,
                    "omega": omegas[0], "omegas": omegas, "betas": betas,
                    "beta_built": Fraction(float(built.betas[i])), "eps": eps,
                    "eps_v": eps_v})
    return out


def _head_rounding(eps: Fraction, eps_v: Fraction, c_delta: Any, d_arb: Any) -> Any:
    """``eps_V + (e^{2 eps} - 1) (Delta c(kappa_1) + Delta/2)``: stored head minus ideal head
    (T1.rounding), as an Arb ball; ``c_delta`` encloses ``Delta c(kappa_1)``."""
    from flint import arb

    e2 = (2 * arb(eps.numerator) / eps.denominator).exp() - 1
    return arb(eps_v.numerator) / eps_v.denominator + e2 * (c_delta + d_arb / 2)


def _coefficient_error(term: dict[str, Any], heads: int) -> Any:
    """``|H omega - g| max(|a|, |b|)``: the stored W_O against ``g/H``, as an Arb ball."""
    from flint import arb

    coef_err = abs(heads * term["omega"] - Fraction(term["num"], term["den"]))
    return arb(coef_err.numerator) / coef_err.denominator * max(abs(term["a"]), abs(term["b"]))


def rate_bound(built: Built, lo: np.ndarray, hi: np.ndarray) -> dict[str, Any]:
    """Our proved O(Delta/H) bound of ``sup_{X in [lo, hi]} max_k |N(X)_k - f(y_k)|``.

    ``N`` is the stored binary64 network evaluated in exact real arithmetic and
    ``f = sum_i g_i Range_[a_i,b_i]`` the target of ``built.terms``.

    Proof (T2.rate-rounding).  Fix term i, its stored output weight omega (the same for its H
    heads) and stored beta (the same for its H heads), ``Delta = (b - a)/(n - 1)`` and
    ``kappa_eff = beta Delta^2/H`` (exact).  The *ideal* heads have keys
    ``V_k + phi_h Delta`` and values ``V_k`` exactly and the stored beta: they are the T2
    template with kappa = kappa_eff, so T2.rate gives ``|sum_h o_h - H Range| <= Delta (1/2 +
    C(kappa_eff))``.  Each stored head is within ``rho = eps_V + (e^{2 eps} - 1) Delta
    (c(kappa_1) + 1/2)`` of its ideal head (T1.rounding, ``kappa_1 = beta Delta^2``; eps and
    eps_V as in :func:`a_priori_bound`), and ``sum_h omega o^_h - g Range = omega sum_h
    (o^_h - o_h) + omega (sum_h o_h - H Range) + (H omega - g) Range``.  Summing over the
    terms gives ``bound``.

    Parameters
    ----------
    built : Built
        From :func:`construct` or :func:`construct_terms`.
    lo, hi : arrays of shape (d, n)
        The domain.

    Returns
    -------
    dict
        ``template_bound`` (``sum_i |omega_i| Delta_i (1/2 + C(kappa_eff))``),
        ``rounding_bound`` (the stored-number terms), ``bound`` (their sum), each the
        smallest binary64 number above an Arb enclosure; ``constant`` (``1/2 + C`` of the
        first term, rounded up) and ``bound_times_nH`` = ``bound (n - 1) H / max_i (b_i -
        a_i)`` in float.

    Raises
    ------
    ValueError
        If the heads of a term do not share one stored W_O and one stored beta (the
        theorem is about such heads).
    """
    from flint import arb

    from theorems.lemma_i import a_priori_bound_I3_arb
    from theorems.t2_rate import rate_constant_arb

    n, H = built.tokens, built.heads
    template = rnd = arb(0)
    constants = []
    for term in _stored_terms(built, lo, hi):
        if len(set(term["omegas"])) != 1 or len(set(term["betas"])) != 1:
            raise ValueError("rate_bound needs one W_O and one beta per target term")
        delta, omega, beta = term["delta"], term["omega"], term["betas"][0]
        if not beta > 0:
            raise ValueError("rate_bound needs beta > 0")
        const = rate_constant_arb(beta * delta * delta / H)  # 1/2 + C(kappa_eff)
        constants.append(const)
        d_arb = arb(delta.numerator) / delta.denominator
        w_arb = arb(abs(omega).numerator) / abs(omega).denominator
        template += w_arb * d_arb * const
        c_delta = a_priori_bound_I3_arb(beta * delta * delta, delta)
        rnd += (w_arb * H * _head_rounding(term["eps"], term["eps_v"], c_delta, d_arb)
                + _coefficient_error(term, H))
    total = template + rnd
    width = max(b - a for _, _, a, b in built.terms)
    bound = _arb_up(total)
    return {"template_bound": _arb_up(template), "rounding_bound": _arb_up(rnd),
            "bound": bound, "constant": _arb_up(constants[0]),
            "bound_times_nH": bound * (n - 1) * H / width}
