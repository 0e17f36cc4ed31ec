"""Obligations of Theorem T2 (:mod:`theorems.multi_head`), parameterised by the network.

Every function here takes a :class:`T2Instance` (the target ``Range_[a,b](w . x_k + t)``, the
input box and the construction parameters n, H, kappa) and optionally a
:class:`~theorems.multi_head.Built` network to check; by default the network is built with
:func:`theorems.multi_head.construct`.  A test may pass a deliberately defective network: the
obligations check the network's stored matrices against numbers computed independently from
the instance, not against the arrays that were meant to produce them.

Notation: ``Delta = (b - a)/(n - 1)`` (exact rational), ``phi_h = (2h + 1 - H)/(2H)``
(:func:`theorems.multi_head.phases`); the intended stored numbers are the binary64 roundings
of exact rationals, as the construction specifies:

* ``V^_j = fl(a + j Delta)`` (the common value grid, j = 0..n-1);
* ``K^_j^h = fl(a + (j + phi_h) Delta)`` (head h's phase-shifted key anchors) and
  ``Q^_j^h = fl(K^_j^h K^_j^h)`` (their binary64 squares);
* ``omega^ = fl(1/H)`` (every head's ``W_O``);
* ``beta^`` the stored ``Built.betas[0]`` (``fl(kappa H / Delta^2)`` by construction).

``y_k = w . x_k + t`` with the stored binary64 ``w``, ``t`` and a symbol for every input entry.
Network columns ``0..n-1`` are the tokens (the tokens are the anchors: p = n).

General obligations: the symbolic template T2.sym-* of :mod:`theorems.symbolic` (scores,
``beta Delta^2 = kappa H``, phases, the interleaving of the hardmax jumps into a grid of
step Delta/H, the head average), T2.range-lipschitz and T2.assembly (the derivation of
:func:`theorems.multi_head.a_priori_bound` from I3, the shift and the rounding lemma), and the
O(Delta/H) chain of :mod:`theorems.t2_rate` (T2.rate-staircase, T2.rate-head,
T2.rate-spacing, T2.rate-series, T2.rate, T2.rate-rounding).  T2.conformance compares the
network with the template at the instance's exact parameters, independently of
:func:`theorems.multi_head.phases` and of the stored ``betas``; the other network checks use
:func:`intended`.

Proof of T2.bound from the obligations.  By T2.reduction output k is ``o(y_k)`` for one
function o of one variable (the same for every k, as every key and value is positional), so
it suffices to bound it over the range of ``y_k``.  By T2.construction and T2.cancellation
head h is the Lemma I head with keys ``K^^h``, values ``V^`` and output weight ``omega^``;
:func:`theorems.multi_head.a_priori_bound` turns this into the explicit O(Delta) bound (Lemma
I3 at ``y - phi_h Delta``, the shift, and the rounding of every stored number).  T2.bound
verifies that bound on the instance by interval branch and bound on the network's exact
output; T2.certificate asks the independent checker to accept an engine certificate.

The paper's O(1/(n H)) rate is T2.rate, proved for all n >= 2, H >= 1, kappa > 0 for the
template in exact arithmetic; :func:`theorems.multi_head.rate_bound` adds the rounding of a
stored network (T2.rate-rounding), and T2.rate-bound verifies that bound on the instance
the same way as T2.bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from theorems.lemma_i import range_expr
from theorems.multi_head import ID, Built, a_priori_bound, construct, phases, rate_bound
from theorems.obligations import (
    Case,
    Claim,
    Construction,
    Identity,
    Inequality,
    Instance,
    Obligation,
    Reduction,
    at_least,
    equal,
    exact,
    latent_expr,
    latent_range,
    symbolic_network,
)

#: Unit roundoff of binary64.
U53 = sp.Rational(1, 2**53)
#: Slack for results in the subnormal range (absolute).
TINY = sp.Rational(1, 2**1070)

y_s = sp.Symbol("y", real=True)


@dataclass(frozen=True)
class T2Instance:
    """Target ``Range_[a,b](w . x_k + t)`` at every token on the box ``[lo, hi]``.

    ``w`` has shape ``(d,)`` (the shared weight), ``t`` is a float (the shared offset),
    ``lo``/``hi`` have shape ``(d, n)``; ``n`` tokens, ``heads`` = H, temperature ``kappa``
    (``beta = kappa H / Delta^2``).
    """

    a: float
    b: float
    w: np.ndarray
    t: float
    lo: np.ndarray
    hi: np.ndarray
    heads: int
    kappa: float
    tol: float = field(default=0.05)

    @property
    def n(self) -> int:
        return int(np.asarray(self.lo).shape[1])

    @property
    def d(self) -> int:
        return int(np.asarray(self.w).reshape(-1).shape[0])

    def build(self) -> Built:
        """The network of :func:`theorems.multi_head.construct` for this instance."""
        return construct(self.a, self.b, np.asarray(self.w, float), float(self.t), self.n,
                         self.heads, kappa=self.kappa)

    def spec(self) -> dict[str, Any]:
        """The SPEC.json object of this instance (measure mode, tolerance ``tol``)."""
        return {"theorem": ID, "tokens": self.n,
                "target": {"kind": "truncated-linear", "a": float(self.a), "b": float(self.b),
                           "w": np.asarray(self.w, float).reshape(-1).tolist(),
                           "t": float(self.t)},
                "domain": {"lo": np.asarray(self.lo, float).T.tolist(),
                           "hi": np.asarray(self.hi, float).T.tolist()},
                "construction": {"heads": int(self.heads), "kappa": float(self.kappa)},
                "mode": "measure", "tol": float(self.tol)}


#: The small instance checked by ``theorems check`` (d = 2, n = 4, H = 3, kappa = 3); the
#: latent ``y_k`` ranges over ``[-1.375, 1.625]`` (token 3: up to 2.125), beyond both ends.
REGISTRY_INSTANCE = T2Instance(
    a=-1.0, b=1.0, w=np.array([1.0, 0.5]), t=0.125,
    lo=-np.ones((2, 4)), hi=np.array([[1.0, 1.0, 1.0, 1.5], [1.0, 1.0, 1.0, 1.0]]),
    heads=3, kappa=3.0)


def y_expr(inst: T2Instance, k: int) -> sp.Expr:
    """The latent of token k with symbolic input.

    Parameters
    ----------
    inst : T2Instance
    k : int
        Token index.

    Returns
    -------
    sympy expression
        ``y_k = w . x_k + t`` with the binary64 ``w``, ``t`` converted exactly, in the symbols
        of :func:`theorems.obligations.input_symbols`.
    """
    return latent_expr(inst.w, float(inst.t), k, inst.n)


def y_range(inst: T2Instance, k: int) -> tuple[Fraction, Fraction]:
    """The exact range of ``y_k`` over the input box.

    Parameters
    ----------
    inst : T2Instance
    k : int

    Returns
    -------
    (Fraction, Fraction)
        ``min`` and ``max`` of ``w . x_k + t`` over ``lo <= X <= hi`` (exact rational
        arithmetic on the binary64 data).
    """
    lo, hi = np.asarray(inst.lo, float), np.asarray(inst.hi, float)
    return latent_range(inst.w, float(inst.t), lo[:, k], hi[:, k])


@dataclass(frozen=True)
class Intended:
    """The intended stored numbers of the instance (module docstring), as exact rationals.

    Attributes
    ----------
    delta : Fraction
        ``(b - a)/(n - 1)``, exact.
    values : list of sympy.Rational
        ``V^_j = fl(a + j Delta)``.
    keys, squares : list of list of sympy.Rational
        ``keys[h][j] = K^_j^h = fl(a + (j + phi_h) Delta)``, ``squares[h][j] = fl(K^ K^)``.
    omega : sympy.Rational
        ``fl(1/H)``.
    """

    delta: Fraction
    values: list[sp.Rational]
    keys: list[list[sp.Rational]]
    squares: list[list[sp.Rational]]
    omega: sp.Rational


def intended(inst: T2Instance) -> Intended:
    """The stored numbers the construction specifies, computed from the instance alone.

    Parameters
    ----------
    inst : T2Instance

    Returns
    -------
    Intended
        Each number is one correct rounding of an exact rational (Python's ``float`` of a
        ``Fraction`` and of a product of two floats are correctly rounded).
    """
    n = inst.n
    fa = Fraction(float(inst.a))
    delta = (Fraction(float(inst.b)) - fa) / (n - 1)
    values = [exact(float(fa + j * delta)) for j in range(n)]
    keys, squares = [], []
    for phi in phases(inst.heads):
        K = [float(fa + (j + phi) * delta) for j in range(n)]
        keys.append([exact(k) for k in K])
        squares.append([exact(k * k) for k in K])
    return Intended(delta, values, keys, squares, exact(float(Fraction(1, inst.heads))))


def construction_obligations(inst: T2Instance, built: Built | None = None
                             ) -> list[Obligation]:
    """Exact checks of a network's scores, values and head average against the construction.

    Parameters
    ----------
    inst : T2Instance
    built : Built, optional
        The network to check (default ``inst.build()``); only its stored ``betas[0]`` is read
        as an intended number, everything else is compared with :func:`intended`.

    Returns
    -------
    list of Obligation
        T2.construction (every score of every head exactly
        ``2 beta^ K^_j^h y_k - beta^ Q^_j^h``; every value of head h exactly
        ``omega^ V^_j``), T2.head-average (each head's value is ``(a + j Delta)/H`` up to
        ``3 u max(|a|, |b|)/H``: W_O averages the heads over the common grid) and
        T2.cancellation (per head, ``beta y^2`` cancels between any two keys up to the
        rounding of the stored squares).
    """
    built = inst.build() if built is None else built
    n, H = inst.n, inst.heads
    it = intended(inst)
    bt = exact(built.betas[0])
    ys = [y_expr(inst, k) for k in range(n)]
    scores = tuple(Claim("score", (h, j, k),
                         2 * bt * it.keys[h][j] * ys[k] - bt * it.squares[h][j],
                         label=f"head {h}: token {k} -> key {j}")
                   for h in range(H) for k in range(n) for j in range(n))
    values = tuple(Claim("value", (h, 0, j), it.omega * it.values[j],
                         label=f"head {h}: value of token {j}")
                   for h in range(H) for j in range(n))
    a, b = exact(inst.a), exact(inst.b)
    tol = 3 * U53 * sp.Max(abs(a), abs(b)) / H + TINY
    dl = sp.Rational(it.delta.numerator, it.delta.denominator)
    average = tuple(Claim("value", (h, 0, j), (a + j * dl) / H, tol,
                          label=f"head {h}: value of token {j} is (a + {j} Delta)/H")
                    for h in range(H) for j in range(n))
    cancel = []
    for h in range(H):
        K = it.keys[h]
        for k in range(n):
            for i in range(n):
                for j in range(i + 1, n):
                    cancel.append(Claim(
                        "score-difference", (h, i, j, k),
                        bt * ((ys[k] - K[i]) ** 2 - (ys[k] - K[j]) ** 2),
                        bt * (U53 * (K[i] ** 2 + K[j] ** 2) + 2 * TINY),
                        label=f"head {h}, token {k}, keys {i} < {j}"))
    return [
        Obligation("T2.construction", "for every head h, query token k and key token j: score "
                   "== 2 beta^ K^_j^h y_k - beta^ Q^_j^h and value == fl(1/H) V^_j exactly "
                   "(phase-shifted key anchors K^_j^h = fl(a + (j + phi_h) Delta), common "
                   "value grid V^_j = fl(a + j Delta), stored squares Q^ = fl(K^ K^))",
                   Construction(built.net, scores + values)),
        Obligation("T2.head-average", "W_O averages the heads over the common grid: every "
                   "head's value of token j is (a + j Delta)/H up to 3 u max(|a|, |b|)/H "
                   "(binary64 rounding of 1/H and of the grid)",
                   Construction(built.net, average)),
        Obligation("T2.cancellation", "per head, beta y^2 cancels: score_j - score_i - beta^ "
                   "((y_k - K^_i)^2 - (y_k - K^_j)^2) is free of the input and at most "
                   "beta^ u (K^_i^2 + K^_j^2) in absolute value (the rounding of the stored "
                   "squares)", Construction(built.net, tuple(cancel))),
    ]


def reduction_obligation(inst: T2Instance, built: Built | None = None) -> Obligation:
    """Output token k depends on X only through ``y_k = w . x_k + t`` (exact gradient test).

    The token-wise affine map has the shared weight ``w`` on the content row only; the keys
    and values read only positional rows (bias), so every score of query k is a function of
    ``y_k`` and every value a constant.  The engine's bisection on ``y_k``
    (``certify/reduction.py``) relies on this fact: a certificate over the range of ``y_k``
    is a certificate over the whole input box.

    Parameters
    ----------
    inst : T2Instance
    built : Built, optional
        The network to check (default ``inst.build()``).

    Returns
    -------
    Obligation
        T2.reduction, of kind ``reduction`` (all heads, all output columns).
    """
    built = inst.build() if built is None else built
    return Obligation(
        "T2.reduction", "output token k depends on the input X only through "
        "y_k = w . x_k + t (every score and value of every head it reads is a function of "
        "y_k; keys and values read only positional rows)",
        Reduction(built.net, tuple(y_expr(inst, k) for k in range(inst.n))))


def _line_functions(inst: T2Instance, built: Built, k: int
                    ) -> tuple[list[list[sp.Expr]], list[list[sp.Expr]]]:
    """Per head, the scores and values (row 0) read by output k, as functions of ``y = y_k``.

    Obtained by restricting X to a line on which ``y_k = y`` (one entry of token k moves,
    all others are 0); by T2.reduction they do not depend on the choice of the line.
    """
    sn = symbolic_network(built.net)
    w = np.asarray(inst.w, float).reshape(-1)
    sub = {x: 0 for x in sn.X}
    nz = [i for i in range(len(w)) if w[i] != 0.0]
    if nz:
        sub[sn.X[nz[0], k]] = (y_s - exact(inst.t)) / exact(w[nz[0]])
    q = sn.columns[k]
    scores, values = [], []
    for head in sn.heads:
        m = head.S.shape[0]
        scores.append([sp.expand(head.S[j, q].subs(sub)) for j in range(m)])
        values.append([sp.expand(head.V[0, j].subs(sub)) for j in range(m)])
    return scores, values


def stated_bound(inst: T2Instance) -> sp.Rational:
    """The proved a-priori bound of the intended network, as an exact rational.

    Parameters
    ----------
    inst : T2Instance

    Returns
    -------
    sympy.Rational
        ``a_priori_bound(inst.build(), lo, hi)["bound"]`` (a binary64 number above an Arb
        enclosure of ``Delta c(kappa H) + Delta mean_h |phi_h|`` plus the rounding terms;
        :func:`theorems.multi_head.a_priori_bound`), taken exactly.
    """
    return exact(a_priori_bound(inst.build(), np.asarray(inst.lo, float),
                                np.asarray(inst.hi, float))["bound"])


def _error_cases(inst: T2Instance, built: Built, bound: sp.Expr) -> tuple[Case, ...]:
    """``+-(o_k(y) - Range(y)) <= bound`` for every token k over the exact range of ``y_k``.

    ``o_k`` is the exact output of the stored network written as ``sum_h sum_j (omega_h V_j -
    Range(y)/H_tot) / sum_i exp(s_hi - s_hj)`` (each head's softmax weights sum to 1;
    ``H_tot`` is the network's number of heads).
    """
    a, b = exact(inst.a), exact(inst.b)
    f = range_expr(y_s, a, b)
    cases = []
    for k in range(inst.n):
        scores, values = _line_functions(inst, built, k)
        G = len(scores)
        err = sp.Add(*[(values[h][j] - f / G) / sp.Add(*[sp.exp(si - sj) for si in scores[h]])
                       for h in range(G) for j, sj in enumerate(scores[h])])
        lo, hi = y_range(inst, k)
        box = ((y_s, lo, hi),)
        cases += [Case(err, box, bound, f"token {k} upper"),
                  Case(-err, box, bound, f"token {k} lower")]
    return tuple(cases)


def bound_obligation(inst: T2Instance, built: Built | None = None) -> Obligation:
    """The proved a-priori bound holds on this network, by interval branch and bound on y.

    Parameters
    ----------
    inst : T2Instance
    built : Built, optional
        The network to check (default ``inst.build()``); the bound is always that of the
        intended network (:func:`stated_bound`).

    Returns
    -------
    Obligation
        T2.bound, of kind ``inequality``: for every token k and every y in the exact range
        of ``y_k``, ``|o_k(y) - Range_[a,b](y)| <= stated_bound(inst)``, with ``o_k`` the
        exact output of the stored network written as
        ``sum_h sum_j (omega_h V_j - Range(y)/H_tot) / sum_i exp(s_hi - s_hj)`` (each head's
        softmax weights sum to 1; ``H_tot`` is the network's number of heads).  No sampling.
    """
    built = inst.build() if built is None else built
    bound = stated_bound(inst)
    cases = _error_cases(inst, built, bound)
    return Obligation(
        "T2.bound", f"|N(X)_k - Range(y_k)| <= {float(bound):.6g} (the proved O(Delta) bound "
        "a_priori_bound: Delta c(kappa H) + Delta mean|phi_h| + rounding) for every X in the "
        "box (via T2.reduction: for every y in the range of y_k)", Inequality(cases))


def certificate_obligation(inst: T2Instance = REGISTRY_INSTANCE) -> Obligation:
    """An engine certificate for ``inst`` passes the independent checker (both backends).

    Parameters
    ----------
    inst : T2Instance
        Default :data:`REGISTRY_INSTANCE` (d = 2, n = 4, H = 3, kappa = 3).

    Returns
    -------
    Obligation
        T2.certificate, of kind ``instance``; the engine (``certify.engine.certify_spec``) and
        the checker are imported only when it is discharged.
    """
    spec = inst.spec()

    def make() -> dict:
        from certify.engine import certify_spec
        return certify_spec(spec)

    return Obligation(
        "T2.certificate", f"an engine certificate for n = {inst.n}, H = {inst.heads}, "
        f"kappa = {inst.kappa:g}, d = {inst.d} is accepted by certify.check (flint and "
        "pyinterval)", Instance(make, f"multi-head n={inst.n} H={inst.heads} "
                                      f"kappa={inst.kappa:g}"))


def stated_rate_bound(inst: T2Instance) -> sp.Rational:
    """The proved O(Delta/H) bound of the intended network, as an exact rational.

    Parameters
    ----------
    inst : T2Instance

    Returns
    -------
    sympy.Rational
        ``rate_bound(inst.build(), lo, hi)["bound"]`` (a binary64 number above an Arb
        enclosure of ``Delta (1/2 + C(kappa_eff))`` plus the rounding terms;
        :func:`theorems.multi_head.rate_bound`), taken exactly.
    """
    return exact(rate_bound(inst.build(), np.asarray(inst.lo, float),
                            np.asarray(inst.hi, float))["bound"])


def rate_bound_obligation(inst: T2Instance, built: Built | None = None) -> Obligation:
    """The proved O(Delta/H) bound holds on this network, by interval branch and bound on y.

    Parameters
    ----------
    inst : T2Instance
    built : Built, optional
        The network to check (default ``inst.build()``); the bound is always that of the
        intended network (:func:`stated_rate_bound`).

    Returns
    -------
    Obligation
        T2.rate-bound, of kind ``inequality`` (instance): for every token k and every y in
        the exact range of ``y_k``, ``|o_k(y) - Range_[a,b](y)| <= stated_rate_bound(inst)``.
        No sampling.
    """
    built = inst.build() if built is None else built
    bound = stated_rate_bound(inst)
    return Obligation(
        "T2.rate-bound", f"|N(X)_k - Range(y_k)| <= {float(bound):.6g} (the proved O(Delta/H) "
        "bound rate_bound: Delta (1/2 + C(kappa_eff)) + rounding) for every X in the box (via "
        "T2.reduction: for every y in the range of y_k)",
        Inequality(_error_cases(inst, built, bound)))


def rate_obligation() -> Obligation:
    """The paper's O(1/(n H)) rate with our constant: :func:`theorems.t2_rate.rate_obligation`.

    Returns
    -------
    Obligation
        T2.rate, of kind ``identity`` (general).
    """
    from theorems import t2_rate
    return t2_rate.rate_obligation()


def conformance_obligation(inst: T2Instance, built: Built | None = None) -> Obligation:
    """The network equals the symbolic T2 template at the instance's exact parameters.

    The intended numbers come from :func:`theorems.symbolic.t2_expected_term` (phases
    ``(2h + 1 - H)/(2H)``, ``beta = kappa H/Delta^2``, ``W_O = 1/H``), not from
    :func:`theorems.multi_head.phases` or the stored ``betas``; compared within
    ``symbolic.REL_TOL`` relative.

    Parameters
    ----------
    inst : T2Instance
    built : Built, optional
        The network to check (default ``inst.build()``).

    Returns
    -------
    Obligation
        T2.conformance, of kind ``construction``.
    """
    from theorems import symbolic

    built = inst.build() if built is None else built
    n, H = inst.n, inst.heads
    ex = symbolic.t2_expected_term(inst.a, inst.b, n, H, 1, 1, inst.kappa, None)
    big = max(abs(exact(inst.a)), abs(exact(inst.b)), sp.Integer(1))
    tol = sp.Rational(symbolic.REL_TOL.numerator, symbolic.REL_TOL.denominator)
    q = lambda v: sp.Rational(v.numerator, v.denominator)  # noqa: E731
    dz = 2 + 2 * H + 1
    claims = []
    for h in range(H):
        for k, (K, K2) in enumerate(ex["keys"][h]):
            claims.append(Claim("z", (2 + 2 * h, k), q(K), tol * big,
                                label=f"head {h}: key anchor of token {k}"))
            claims.append(Claim("z", (3 + 2 * h, k), q(K2), tol * big**2,
                                label=f"head {h}: squared key of token {k}"))
        bt = q(ex["beta"])
        for r, c, v in ((0, 2 + 2 * h, 2 * bt), (1, 3 + 2 * h, -bt)):
            claims.append(Claim("weight", (h, 1, r, c), v, tol * abs(v),
                                label=f"head {h}: W_K[{r}, {c}] vs beta = kappa H/Delta^2"))
        claims.append(Claim("weight", (h, 3, 0, 0), q(ex["W_O"]), tol * q(ex["W_O"]),
                            label=f"head {h}: W_O = 1/H"))
    for k, V in enumerate(ex["values"]):
        claims.append(Claim("z", (dz - 1, k), q(V), tol * big, label=f"value of token {k}"))
    return Obligation(
        "T2.conformance", "the stored network equals the symbolic T2 template at (a, b, n, H, "
        "kappa) of the instance: key anchors a + (k + phi_h) Delta with phi_h = (2h + 1 - H)"
        "/(2H), their squares, values a + k Delta, W_K = (2 beta, -beta) with beta = kappa "
        "H/Delta^2, W_O = 1/H, within relative 2^-40 (binary64 rounding)",
        Construction(built.net, tuple(claims)),
        uses=("T2.sym-score", "T2.sym-kappa", "T2.sym-phases", "T2.sym-average"))


#: The proof DAG of T2.
T2_USES: dict[str, tuple[str, ...]] = {
    "T2.bound": ("T2.assembly", "T2.conformance", "T2.construction", "T2.head-average",
                 "T2.cancellation", "T2.reduction"),
    "T2.certificate": ("T2.conformance",),
    "T2.rate-bound": ("T2.rate-rounding", "T2.conformance", "T2.construction",
                      "T2.head-average", "T2.cancellation", "T2.reduction"),
}


def t2_obligations(inst: T2Instance = REGISTRY_INSTANCE, built: Built | None = None,
                   with_certificate: bool = True) -> list[Obligation]:
    """All obligations of T2 for an instance and a (possibly defective) network.

    Parameters
    ----------
    inst : T2Instance
        Default :data:`REGISTRY_INSTANCE`.
    built : Built, optional
        The network to check (default ``inst.build()``).
    with_certificate : bool
        Append T2.certificate (which does not depend on ``built``).

    Returns
    -------
    list of Obligation
        The general obligations (T2.sym-*, T2.range-lipschitz, T2.assembly, T2.rate-*,
        T2.rate), then the checks of ``built`` (T2.conformance, T2.construction,
        T2.head-average, T2.cancellation, T2.reduction, T2.bound, T2.rate-bound), then
        [T2.certificate].
    """
    import dataclasses

    from theorems import symbolic, t2_rate
    from theorems.single_head_obligations import _construction_failed

    obs = (symbolic.t2_symbolic_obligations() + assembly_obligations()
           + t2_rate.rate_obligations())
    try:
        built = inst.build() if built is None else built
        obs.append(conformance_obligation(inst, built))
        obs += construction_obligations(inst, built)
        obs += [reduction_obligation(inst, built), bound_obligation(inst, built),
                rate_bound_obligation(inst, built)]
    except Exception as exc:  # a crashing construction is a failed obligation, not a crash
        obs.append(_construction_failed("T2.construct", exc))
    if with_certificate:
        obs.append(certificate_obligation(inst))
    return [dataclasses.replace(ob, uses=T2_USES[ob.id]) if ob.id in T2_USES else ob
            for ob in obs]


def assembly_obligations() -> list[Obligation]:
    """The derivation of :func:`theorems.multi_head.a_priori_bound`, for all parameters.

    Returns
    -------
    list of Obligation
        T2.range-lipschitz: ``Range_[a,b]`` is monotone and 1-Lipschitz (the clamps
        ``Max(a, .)`` and ``Min(., b)`` in the three cases relative to a, resp. b; composing
        monotone 1-Lipschitz maps keeps both properties).
        T2.assembly: per head, ``|o^_h(y) - Range(y)| <= rho_h + Delta c(kappa_1) +
        |phi_h| Delta`` (three-term triangle inequality: rounding, I3 at ``y - phi_h Delta``,
        Lipschitz shift), and over the heads ``sum_h omega o^_h - g Range = sum_h omega
        (o^_h - Range) + (H omega - g) Range``, bounded by ``|omega| sum_h |o^_h - Range| +
        |H omega - g| max(|a|, |b|)`` (shown for omega >= 0; omega < 0 swaps the two sides).
    """
    a, t = sp.Symbol("a", real=True), sp.Symbol("t", nonnegative=True)
    pp, qq = sp.symbols("p q", nonnegative=True)
    facts = []
    for name, clamp in (("Max(a, .)", lambda v: sp.Max(a, v)),
                        ("Min(., a)", lambda v: sp.Min(v, a))):
        for case, (u, v) in (("v >= a", (a + pp + t, a + pp)),
                             ("u <= a", (a - qq, a - qq - t)),
                             ("v <= a <= u", (a + pp, a - qq))):
            width = sp.expand(u - v)
            diff = clamp(u) - clamp(v)
            facts += [at_least(width, diff, width - diff, label=f"{name}, {case}: <= u - v"),
                      at_least(diff, 0, diff, label=f"{name}, {case}: >= 0")]
    lipschitz = Obligation(
        "T2.range-lipschitz", "Range_[a,b] = Min(Max(., a), b) is monotone and 1-Lipschitz: "
        "0 <= Range(u) - Range(v) <= u - v for u >= v (each clamp in the three cases "
        "v >= c, u <= c, v <= c <= u, which exhaust u >= v)", Identity(tuple(facts)))
    B = sp.symbols("B1:4", nonnegative=True)
    lam = sp.symbols("l1:4", nonnegative=True)
    x = [Bi * (1 - 2 * li / (1 + li)) for Bi, li in zip(B, lam, strict=True)]
    head = [at_least(sum(B), sum(x), sum(2 * Bi * li / (1 + li)
                                         for Bi, li in zip(B, lam, strict=True)),
                     label="per head, upper: rounding + I3 + shift"),
            at_least(sum(B), -sum(x), sum(2 * Bi / (1 + li) for Bi, li in zip(B, lam,
                                                                              strict=True)),
                     label="per head, lower")]
    h = sp.Symbol("h", integer=True, positive=True)
    H = sp.Symbol("H", integer=True, positive=True)
    om, C, M = sp.symbols("omega C M", nonnegative=True)
    g, R = sp.symbols("g R", real=True)
    o = sp.IndexedBase("o", real=True)
    E = sp.IndexedBase("E", nonnegative=True)
    lh = sp.IndexedBase("l", nonnegative=True)
    nu, mu = sp.symbols("n m", nonnegative=True)
    xh = E[h] * (1 - 2 * lh[h] / (1 + lh[h]))  # o^_h - Range, |.| <= E_h
    cR = C * (1 - 2 * nu / (1 + nu)) * M * (1 - 2 * mu / (1 + mu))  # |c| <= C, |R| <= M
    combine = [
        equal(sp.Sum(om * (o[h] - R), (h, 1, H)) + (H * om - g) * R,
              sp.Sum(om * o[h], (h, 1, H)) - g * R, label="sum over heads"),
        at_least(sp.Sum(om * E[h], (h, 1, H)), sp.Sum(om * xh, (h, 1, H)),
                 sp.Sum(2 * om * E[h] * lh[h] / (1 + lh[h]), (h, 1, H)), termwise=True,
                 label="heads, upper"),
        at_least(sp.Sum(om * E[h], (h, 1, H)), sp.Sum(-om * xh, (h, 1, H)),
                 sp.Sum(2 * om * E[h] / (1 + lh[h]), (h, 1, H)), termwise=True,
                 label="heads, lower"),
        at_least(C * M, cR, 2 * C * M * (nu + mu) / ((1 + nu) * (1 + mu)),
                 label="coefficient error, upper"),
        at_least(C * M, -cR, 2 * C * M * (1 + nu * mu) / ((1 + nu) * (1 + mu)),
                 label="coefficient error, lower")]
    assembly = Obligation(
        "T2.assembly", "|sum_h omega o^_h - g Range| <= |omega| sum_h (rho_h + Delta "
        "c(kappa_1) + |phi_h| Delta) + |H omega - g| max(|a|, |b|): the bound of "
        "multi_head.a_priori_bound, for any n, H, kappa and stored numbers",
        Identity(tuple(head + combine)),
        uses=("T2.sym-score", "T2.sym-kappa", "I3.bound", "I3.bound-outside",
              "T2.range-lipschitz", "T1.rounding"))
    return [lipschitz, assembly]
