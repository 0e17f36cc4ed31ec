"""Obligations of Theorem T1 (:mod:`theorems.single_head`), parameterised by the network.

Every function here takes a :class:`T1Instance` (the target, the input box and the
construction parameters) and optionally a :class:`~theorems.single_head.Built` network to
check; by default the network is built with :func:`theorems.single_head.construct`.  A test
may pass a deliberately defective network: the obligations check the network's stored
matrices, not the parameters that were meant to produce them.

Notation: ``beta^`` is the stored ``Built.beta``, ``L^_j`` the stored anchors
``Built.anchors[j]``, ``Q^_j = fl(L^_j * L^_j)`` their binary64 squares, ``G^`` the stored
``Built.G`` and ``fl(beta^ G^)`` the binary64 product; ``y_k = w_k . x_k + t_k`` with the
stored binary64 ``w``, ``t`` and a symbol for every input entry.  Network columns
``0..n-1`` are the tokens and ``n..n+p-1`` the anchors.

General obligations (no network): the symbolic template T1.sym-* of
:mod:`theorems.symbolic`, T1.leakage-split, T1.rounding-weights, T1.rounding-spread,
T1.rounding and T1.leakage-margin.  T1.conformance compares the network with the template
at the instance's exact parameters (nothing read back from ``Built``); the remaining
network checks are instance checks.  Every obligation names what it uses (``uses``).

Proof of T1 from the obligations (the a-priori bound :func:`a_priori_bound_T1`).  By
T1.reduction output k is ``o(y_k)`` for a function o of one variable, so it suffices to
bound it over the range of ``y_k``.  By T1.scores-anchor, T1.scores-token, T1.values and
T1.cancellation, o is the Lemma I head on the stored anchors plus n token keys of value 0
and score ``-fl(beta^ G^)``.  Writing ``W_A`` for the anchors' total weight,
``o = W_A o_A`` with o_A the anchors-only head, so
``|o - Range| <= |o_A - Range| + (1 - W_A) max_j |L_j|``; Lemma S bounds ``1 - W_A`` by
``n exp(-beta (G + m))`` and Lemma I3 bounds ``|o_A - Range|`` by ``Delta c(kappa)``.
T1.leakage proves ``beta^ (G^ + m) >= LEAK_EXPONENT`` for this network over the exact range
of every ``y_k``; T1.bound verifies the combined bound on the instance by interval branch and
bound; T1.certificate asks the independent checker to accept an engine certificate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from theorems.lemma_i import a_priori_bound_I3, kappa, range_expr
from theorems.obligations import (
    Case,
    Claim,
    Construction,
    Identity,
    Inequality,
    Instance,
    Obligation,
    Reduction,
    TheoremEntry,
    at_least,
    equal,
    exact,
    latent_expr,
    latent_range,
    symbolic_network,
)
from theorems.single_head import ID, LEAK_EXPONENT, Built, construct

#: Unit roundoff of binary64.
U53 = sp.Rational(1, 2**53)
#: Slack for results in the subnormal range (absolute).
TINY = sp.Rational(1, 2**1070)

a_s, b_s = sp.symbols("a b", real=True)
p_s = sp.Symbol("p", integer=True, positive=True)
n_s = sp.Symbol("n", integer=True, positive=True)
beta_s, G_s = sp.symbols("beta G", positive=True)
m_s = sp.Symbol("m", real=True)
y_s = sp.Symbol("y", real=True)


@dataclass(frozen=True)
class T1Instance:
    """Targets ``Range_[a,b](w_k . x_k + t_k)`` on the box ``[lo, hi]`` and the construction.

    ``w`` has shape ``(n, d)``, ``t`` ``(n,)``, ``lo``/``hi`` ``(d, n)`` (as in
    :func:`theorems.single_head.construct`).
    """

    a: float
    b: float
    w: np.ndarray
    t: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    p: int
    kappa: float
    tol: float = field(default=0.05)

    @property
    def n(self) -> int:
        return int(np.asarray(self.w).shape[0])

    def build(self) -> Built:
        """The network of :func:`theorems.single_head.construct` for this instance."""
        return construct(self.a, self.b, np.asarray(self.w, float), np.asarray(self.t, float),
                         np.asarray(self.lo, float), np.asarray(self.hi, float), self.p,
                         kappa=self.kappa)

    def spec(self) -> dict[str, Any]:
        """The SPEC.json object of this instance (measure mode, tolerance ``tol``)."""
        return {"theorem": ID,
                "target": {"kind": "truncated-linear", "a": float(self.a), "b": float(self.b),
                           "w": np.asarray(self.w, float).tolist(),
                           "t": np.asarray(self.t, float).tolist()},
                "domain": {"lo": np.asarray(self.lo, float).T.tolist(),
                           "hi": np.asarray(self.hi, float).T.tolist()},
                "construction": {"p": int(self.p), "kappa": float(self.kappa)},
                "mode": "measure", "tol": float(self.tol)}


#: The small instance checked by ``theorems check`` (d = 2, n = 2, p = 5).
REGISTRY_INSTANCE = T1Instance(
    a=-1.0, b=1.0, w=np.array([[1.0, 0.5], [0.25, -1.0]]), t=np.array([0.0, 0.1]),
    lo=-np.ones((2, 2)), hi=np.ones((2, 2)), p=5, kappa=1.0)

#: The one-token instance whose engine certificate the checker must accept.
CERTIFICATE_INSTANCE = T1Instance(
    a=-1.0, b=1.0, w=np.array([[1.0]]), t=np.array([0.0]), lo=np.full((1, 1), -1.5),
    hi=np.full((1, 1), 1.5), p=5, kappa=1.0, tol=0.05)


def y_expr(inst: T1Instance, k: int) -> sp.Expr:
    """The target scalar of token k with symbolic input.

    Parameters
    ----------
    inst : T1Instance
    k : int
        Token index.

    Returns
    -------
    sympy expression
        ``y_k = w_k . x_k + t_k`` with the binary64 ``w``, ``t`` converted exactly, in the
        symbols of :func:`theorems.obligations.input_symbols`.
    """
    w = np.asarray(inst.w, float)
    return latent_expr(w[k], float(inst.t[k]), k, w.shape[0])


def y_range(inst: T1Instance, k: int) -> tuple[Fraction, Fraction]:
    """The exact range of ``y_k`` over the input box.

    Parameters
    ----------
    inst : T1Instance
    k : int

    Returns
    -------
    (Fraction, Fraction)
        ``min`` and ``max`` of ``w_k . x_k + t_k`` over ``lo <= X <= hi`` (exact rational
        arithmetic on the binary64 data).
    """
    lo, hi = np.asarray(inst.lo, float), np.asarray(inst.hi, float)
    return latent_range(np.asarray(inst.w, float)[k], float(inst.t[k]), lo[:, k], hi[:, k])


def a_priori_bound_T1() -> sp.Expr:
    """Our a-priori bound of T1 as a sympy expression.

    Returns
    -------
    sympy expression
        ``Delta c(kappa) + n exp(-beta (G + m)) max(|a|, |b|)`` with ``Delta = (b - a)/(p - 1)``,
        ``c`` the closed form of :func:`theorems.lemma_i.a_priori_bound_I3` and m a lower
        bound of ``max_j (2 L_j y - L_j^2)`` over the range of the ``y_k`` (symbols a, b, p,
        kappa, n, beta, G, m).
    """
    dl = (b_s - a_s) / (p_s - 1)
    return (a_priori_bound_I3(kappa, dl)
            + n_s * sp.exp(-beta_s * (G_s + m_s)) * sp.Max(sp.Abs(a_s), sp.Abs(b_s)))


def stated_bound(inst: T1Instance) -> sp.Expr:
    """The bound the construction states for an instance.

    Parameters
    ----------
    inst : T1Instance

    Returns
    -------
    sympy expression (constant)
        ``Delta c(kappa) + n e^{-LEAK_EXPONENT} max(|a|, |b|)``: the T1 bound once
        T1.leakage has proved ``beta (G + m) >= LEAK_EXPONENT``.
    """
    a, b = exact(inst.a), exact(inst.b)
    dl = (b - a) / (inst.p - 1)
    return (a_priori_bound_I3(exact(inst.kappa), dl)
            + inst.n * sp.exp(-exact(LEAK_EXPONENT)) * sp.Max(abs(a), abs(b)))


def _stored(built: Built) -> tuple[sp.Rational, list[sp.Rational], list[sp.Rational]]:
    anchors = np.asarray(built.anchors, float)
    return (exact(built.beta), [exact(v) for v in anchors],
            [exact(float(v) * float(v)) for v in anchors])


def construction_obligations(inst: T1Instance, built: Built | None = None
                             ) -> list[Obligation]:
    """Exact checks of a network's scores and values against the intended construction.

    Parameters
    ----------
    inst : T1Instance
    built : Built, optional
        The network to check (default ``inst.build()``); its ``beta``, ``G`` and ``anchors``
        define the intended numbers, its ``net`` is what is checked.

    Returns
    -------
    list of Obligation
        Construction obligations T1.scores-anchor, T1.scores-token, T1.values,
        T1.anchor-placement and T1.cancellation (statements say exactly what is compared).
    """
    built = inst.build() if built is None else built
    net, n, p = built.net, inst.n, len(built.anchors)
    bt, L, Q = _stored(built)
    ys = [y_expr(inst, k) for k in range(n)]
    anchor = tuple(Claim("score", (0, n + j, k), 2 * bt * L[j] * ys[k] - bt * Q[j],
                         label=f"token {k} -> anchor {j}")
                   for k in range(n) for j in range(p))
    tt = -exact(float(built.beta) * float(built.G))
    token = tuple(Claim("score", (0, s, k), tt, label=f"token {k} -> token {s}")
                  for k in range(n) for s in range(n))
    values = tuple([Claim("value", (0, 0, s), sp.Integer(0), label=f"value of token {s}")
                    for s in range(n)]
                   + [Claim("value", (0, 0, n + j), L[j], label=f"value of anchor {j}")
                      for j in range(p)])
    a, b = exact(inst.a), exact(inst.b)
    tol = 5 * U53 * (abs(a) + abs(b)) + TINY
    place = tuple(Claim("value", (0, 0, n + j), a + j * (b - a) / (p - 1), tol,
                        label=f"anchor {j} at a + j Delta") for j in range(p))
    cancel = tuple(Claim("score-difference", (0, n + i, n + j, k),
                         bt * ((ys[k] - L[i]) ** 2 - (ys[k] - L[j]) ** 2),
                         bt * (U53 * (L[i] ** 2 + L[j] ** 2) + 2 * TINY),
                         label=f"token {k}, anchors {i} < {j}")
                   for k in range(n) for i in range(p) for j in range(i + 1, p))
    return [
        Obligation("T1.scores-anchor", "token->anchor score == 2 beta^ L^_j y_k - beta^ Q^_j "
                   "exactly (stored anchors L^_j and squares Q^_j)",
                   Construction(net, anchor)),
        Obligation("T1.scores-token", "token->token score == -fl(beta^ G^) exactly, the same "
                   "constant for every pair of tokens", Construction(net, token)),
        Obligation("T1.values", "token values are 0 and anchor values are L^_j exactly "
                   "(W_O W_V Z)", Construction(net, values)),
        Obligation("T1.anchor-placement", "the stored anchor values are a + j (b - a)/(p - 1) "
                   "up to 5 u (|a| + |b|) (binary64 rounding of linspace)",
                   Construction(net, place)),
        Obligation("T1.cancellation", "beta y^2 cancels: score_j - score_i - beta^ ((y - L^_i)^2"
                   " - (y - L^_j)^2) is free of the input and at most beta^ u (L^_i^2 + L^_j^2) "
                   "in absolute value (the rounding of the stored squares)",
                   Construction(net, cancel)),
    ]


def reduction_obligation(inst: T1Instance, built: Built | None = None) -> Obligation:
    """Output token k depends on X only through ``y_k`` (exact gradient test).

    The engine's bisection on ``y_k`` (``certify/reduction.py``) relies on this fact.

    Parameters
    ----------
    inst : T1Instance
    built : Built, optional
        The network to check (default ``inst.build()``).

    Returns
    -------
    Obligation
        T1.reduction, of kind ``reduction``.
    """
    built = inst.build() if built is None else built
    return Obligation(
        "T1.reduction", "output token k depends on the input X only through "
        "y_k = w_k . x_k + t_k (every score and value it reads is a function of y_k)",
        Reduction(built.net, tuple(y_expr(inst, k) for k in range(inst.n))))


def _line_functions(inst: T1Instance, built: Built, k: int
                    ) -> tuple[list[sp.Expr], list[sp.Expr]]:
    """Scores and values (head 0, row 0) read by output k, as functions of ``y = y_k``.

    Obtained by restricting X to a line on which ``y_k = y`` (one entry of token k moves,
    all others are 0); by T1.reduction they do not depend on the choice of the line.
    """
    sn = symbolic_network(built.net)
    w = np.asarray(inst.w, float)
    sub = {x: 0 for x in sn.X}
    nz = [a for a in range(w.shape[1]) if w[k, a] != 0.0]
    if nz:
        a = nz[0]
        sub[sn.X[a, k]] = (y_s - exact(inst.t[k])) / exact(w[k, a])
    q = sn.columns[k]
    head = sn.heads[0]
    scores = [sp.expand(head.S[j, q].subs(sub)) for j in range(head.S.shape[0])]
    values = [sp.expand(head.V[0, j].subs(sub)) for j in range(head.S.shape[0])]
    return scores, values


def leakage_obligation(inst: T1Instance, built: Built | None = None) -> Obligation:
    """The token-token leakage is below the stated level ``n e^{-LEAK_EXPONENT} max|L_j|``.

    For every token k and every y in the exact range of ``y_k``: the best anchor score minus
    the largest token score of the network is at least ``LEAK_EXPONENT``, so by Lemma S the
    tokens carry total weight at most ``n e^{-LEAK_EXPONENT}``.  Scores are read from the
    network (restricted to a line through the input box, valid by T1.reduction).

    Parameters
    ----------
    inst : T1Instance
    built : Built, optional
        The network to check (default ``inst.build()``).

    Returns
    -------
    Obligation
        T1.leakage, of kind ``inequality`` (one case per token).
    """
    built = inst.build() if built is None else built
    n = inst.n
    cases = []
    for k in range(n):
        scores, _ = _line_functions(inst, built, k)
        gap = sp.Max(*scores[n:]) - sp.Max(*scores[:n])
        lo, hi = y_range(inst, k)
        cases.append(Case(exact(LEAK_EXPONENT) - gap, ((y_s, lo, hi),), sp.Integer(0),
                          f"token {k}"))
    return Obligation(
        "T1.leakage", f"for every token k and y in the range of y_k: max_j anchor score - "
        f"max token score >= {LEAK_EXPONENT:g}, i.e. beta (G + m) >= {LEAK_EXPONENT:g}",
        Inequality(tuple(cases)))


def bound_obligation(inst: T1Instance, built: Built | None = None) -> Obligation:
    """The stated a-priori bound holds on this network, by interval branch and bound on y.

    Parameters
    ----------
    inst : T1Instance
    built : Built, optional
        The network to check (default ``inst.build()``).

    Returns
    -------
    Obligation
        T1.bound, of kind ``inequality``: for every token k and y in the exact range of
        ``y_k``, ``|o_k(y) - Range_[a,b](y)| <= stated_bound(inst)``, with ``o_k`` the exact
        network output written as ``sum_j (V_j - Range(y)) / sum_i exp(s_i - s_j)``.
    """
    built = inst.build() if built is None else built
    bound = stated_bound(inst)
    a, b = exact(inst.a), exact(inst.b)
    cases = []
    for k in range(inst.n):
        scores, values = _line_functions(inst, built, k)
        f = range_expr(y_s, a, b)
        err = sp.Add(*[(values[j] - f) / sp.Add(*[sp.exp(si - sj) for si in scores])
                       for j, sj in enumerate(scores)])
        lo, hi = y_range(inst, k)
        box = ((y_s, lo, hi),)
        cases += [Case(err, box, bound, f"token {k} upper"),
                  Case(-err, box, bound, f"token {k} lower")]
    return Obligation(
        "T1.bound", "|N(X)_k - Range(y_k)| <= Delta c(kappa) + n e^{-LEAK} max(|a|, |b|) for "
        "every X in the box (via T1.reduction: for every y in the range of y_k)",
        Inequality(tuple(cases)))


def certificate_obligation(inst: T1Instance = CERTIFICATE_INSTANCE) -> Obligation:
    """An engine certificate for ``inst`` passes the independent checker (both backends).

    Parameters
    ----------
    inst : T1Instance
        Default :data:`CERTIFICATE_INSTANCE` (one token, p = 5, kappa = 1).

    Returns
    -------
    Obligation
        T1.certificate, of kind ``instance``; the engine (``certify.engine.certify_spec``) and
        the checker are imported only when it is discharged.
    """
    spec = inst.spec()

    def make() -> dict:
        from certify.engine import certify_spec
        return certify_spec(spec)

    return Obligation(
        "T1.certificate", f"an engine certificate for p = {inst.p}, kappa = {inst.kappa:g}, "
        f"n = {inst.n} is accepted by certify.check (flint and pyinterval)",
        Instance(make, f"single-head p={inst.p} kappa={inst.kappa:g}"))


def conformance_obligation(inst: T1Instance, built: Built | None = None) -> Obligation:
    """The network equals the symbolic T1 template at the instance's exact parameters.

    Unlike the other construction obligations, nothing is read back from ``built``: the
    intended numbers are :func:`theorems.symbolic.t1_expected` at ``(a, b, p, kappa)``
    (``beta = kappa/Delta^2``, ``L_j = a + j Delta`` exactly), compared within
    ``symbolic.REL_TOL`` relative.  A float construction with a wrong formula fails here.

    Parameters
    ----------
    inst : T1Instance
    built : Built, optional
        The network to check (default ``inst.build()``).

    Returns
    -------
    Obligation
        T1.conformance, of kind ``construction`` (claims on Z and on the weight entries).
    """
    from theorems import symbolic

    built = inst.build() if built is None else built
    n = inst.n
    ex = symbolic.t1_expected(inst.a, inst.b, inst.p, n, inst.kappa)
    big = max(abs(exact(inst.a)), abs(exact(inst.b)), sp.Integer(1))
    tol = sp.Rational(symbolic.REL_TOL.numerator, symbolic.REL_TOL.denominator)
    claims = []
    for j, (L, L2) in enumerate(ex["anchors"]):
        for row, v, scale in ((2, L, big), (3, L2, big**2)):
            claims.append(Claim("z", (row, n + j), sp.Rational(v.numerator, v.denominator),
                                tol * scale, label=f"anchor {j}, row {row}"))
    for (r, c), v in ex["W_K_fixed"].items():
        q = sp.Rational(v.numerator, v.denominator)
        claims.append(Claim("weight", (0, 1, r, c), q, tol * abs(q),
                            label=f"W_K[{r}, {c}] vs the template's beta = kappa/Delta^2"))
    for m, name in ((0, "W_Q"), (2, "W_V"), (3, "W_O")):
        for r, row in enumerate(ex[name]):
            for c, v in enumerate(row):
                claims.append(Claim("weight", (0, m, r, c), sp.Rational(v.numerator,
                                                                        v.denominator),
                                    label=f"{name}[{r}, {c}]"))
    return Obligation(
        "T1.conformance", "the stored network equals the symbolic T1 template instantiated at "
        "(a, b, p, kappa) of the instance: anchors a + j Delta and their squares, W_K = "
        "(2 beta, -beta) with beta = kappa/Delta^2, W_Q, W_V, W_O, within relative "
        "2^-40 (binary64 rounding)", Construction(built.net, tuple(claims)),
        uses=("T1.sym-score", "T1.sym-kappa", "T1.sym-token", "T1.sym-values"))


def leakage_split_obligation() -> Obligation:
    """T1.leakage-split: tokens of value 0 move the output by at most their weight times |Range|.

    Returns
    -------
    Obligation
        Of kind ``identity``, general: with anchor weight ``W_A = 1 - omega`` (omega the token
        weight, in [0, 1]), ``o = W_A o_A``; writing ``o_A - R = E (1 - 2 lambda)`` and
        ``R = M (1 - 2 mu)`` (``|o_A - R| <= E``, ``|R| <= M``), ``E + omega M - (o - R)``
        and ``E + omega M + (o - R)`` are sums of nonnegative terms.
    """
    E, M, s_, l_, u_ = sp.symbols("E M s lambda mu", nonnegative=True)
    om = s_ / (1 + s_)  # the token weight, in [0, 1)
    oA_minus_R = E * (1 - 2 * l_ / (1 + l_))
    R = M * (1 - 2 * u_ / (1 + u_))
    o_minus_R = (1 - om) * (oA_minus_R + R) - R
    up = om * E + 2 * l_ / (1 + l_) * (1 - om) * E + 2 * om * M / (1 + u_)
    down = om * E + 2 * (1 - om) * E / (1 + l_) + 2 * om * M * u_ / (1 + u_)
    return Obligation(
        "T1.leakage-split", "o = W_A o_A + (1 - W_A) 0 gives |o - Range| <= |o_A - Range| + "
        "(1 - W_A) max(|a|, |b|) (general; W_A the anchors' total weight)",
        Identity((at_least(E + om * M, o_minus_R, up, label="o - R <= E + omega M"),
                  at_least(E + om * M, -o_minus_R, down, label="R - o <= E + omega M"))))


def t1_obligations(inst: T1Instance = REGISTRY_INSTANCE, built: Built | None = None,
                   with_certificate: bool = True) -> list[Obligation]:
    """All obligations of T1 for an instance and a (possibly defective) network.

    Parameters
    ----------
    inst : T1Instance
        Default :data:`REGISTRY_INSTANCE` (d = 2, n = 2, p = 5, kappa = 1).
    built : Built, optional
        The network to check (default ``inst.build()``).
    with_certificate : bool
        Append T1.certificate (which does not depend on ``built``).

    Returns
    -------
    list of Obligation
        The general obligations (T1.sym-*, T1.leakage-split, T1.rounding*,
        T1.leakage-margin), then the checks of ``built`` (T1.conformance, the construction,
        reduction, leakage and bound checks), then T1.certificate.  If building the network
        or its checks raises, one failed obligation T1.construct names the exception.
    """
    from theorems import symbolic

    obs = (symbolic.t1_symbolic_obligations() + [leakage_split_obligation()]
           + rounding_obligations() + [leakage_margin_obligation()])
    try:
        built = inst.build() if built is None else built
        net_obs = [conformance_obligation(inst, built)]
        net_obs += construction_obligations(inst, built)
        net_obs += [reduction_obligation(inst, built), leakage_obligation(inst, built),
                    bound_obligation(inst, built)]
        obs += net_obs
    except Exception as exc:  # a crashing construction is a failed obligation, not a crash
        obs.append(_construction_failed("T1.construct", exc))
    if with_certificate:
        obs.append(certificate_obligation())
    return [ob if ob.uses or ob.id not in T1_USES else
            dataclasses.replace(ob, uses=T1_USES[ob.id]) for ob in obs]


#: The proof DAG of T1 (instance checks name the general facts they instantiate).
T1_USES: dict[str, tuple[str, ...]] = {
    "T1.sym-leakage": ("T1.sym-token",),
    "T1.leakage": ("T1.sym-leakage", "T1.reduction", "T1.conformance"),
    "T1.bound": ("I3.bound", "I3.bound-outside", "T1.leakage-split", "S.sum", "T1.leakage",
                 "T1.conformance", "T1.scores-anchor", "T1.scores-token", "T1.values",
                 "T1.cancellation", "T1.reduction"),
    "T1.certificate": ("T1.conformance",),
}


def _construction_failed(oid: str, exc: Exception) -> Obligation:
    """An obligation that fails, naming the exception the construction raised."""
    return Obligation(oid, "the construction builds a network for the instance",
                      Identity((equal(sp.Integer(0), sp.Integer(1),
                                      label=f"construction raised {type(exc).__name__}: "
                                            f"{exc}"),)))


def t1_entry() -> TheoremEntry:
    """Registry entry of Theorem T1."""
    N = sp.Function("N")  # output token k as a function of y_k (T1.reduction)
    M = sp.Function("M")  # M(y) = max_j (2 L_j y - L_j^2), for every y_k in its range
    yk = sp.Symbol("y_k", real=True)
    dl = (b_s - a_s) / (p_s - 1)
    return TheoremEntry(
        id=ID, title="Theorem T1: one softmax head, sequence-wise affine map",
        paper={"v1": "Thm 3.1", "v2": "Thm 3.4"},
        paper_claim="every output token within O(1/p) of Range_[a,b](w_k . x_k + t_k) with p "
                    "anchor tokens (constant and beta: unknown)",
        hypotheses=(sp.Lt(a_s, b_s, evaluate=False), sp.Ge(p_s, 2, evaluate=False),
                    sp.Gt(kappa, 0, evaluate=False),
                    sp.Eq(beta_s, kappa / dl**2, evaluate=False),
                    sp.Le(m_s, M(yk), evaluate=False),
                    sp.Ge(beta_s * (G_s + m_s), exact(LEAK_EXPONENT), evaluate=False)),
        conclusion=sp.Le(sp.Abs(N(yk) - range_expr(yk, a_s, b_s)), a_priori_bound_T1()),
        statement="|N(X)_k - Range_[a,b](y_k)| <= Delta c(kappa) + n e^{-beta (G + m)} "
                  "max_j |L_j| for every X in the box, k = 1..n",
        obligations=t1_obligations, construction=construct,
        a_priori_bound=a_priori_bound_T1())


def rounding_obligations() -> list[Obligation]:
    """The rounding term of the single-head bound, for all parameters (general identities).

    Returns
    -------
    list of Obligation
        T1.rounding-weights: if every stored score differs from the exact one by at most
        eps (``s^_i = s_i + eps - g_i`` and ``s_i - eps + g_i`` with ``g_i >= 0``), the
        softmax denominators satisfy ``e^{-eps} S <= S^ <= e^{eps} S`` and every weight
        ``e^{-2 eps} w_j <= w^_j <= e^{2 eps} w_j``, so ``|w^_j - w_j| <= (e^{2 eps} - 1)
        w_j`` (``1 - e^{-2 eps} <= e^{2 eps} - 1``).
        T1.rounding-spread: ``sum_j w_j |L_j - Range(y)| <= Delta (c(kappa) + 1/2)`` (bracket
        anchors within Delta of y, the tail as in I3.bound; outside [a, b] the I3.bound-outside
        sum, termwise below ``2 (k + 1)``).
        T1.rounding: ``o^ - o = sum w^ (L^ - L) + sum (w^ - w) (L - Range)`` (termwise) and
        the two bounds ``eps_L`` and ``(e^{2 eps} - 1) Delta (c + 1/2)``.
    """
    N = sp.Symbol("N", integer=True, positive=True)
    i = sp.Symbol("i", integer=True, positive=True)
    jj = sp.Symbol("j", integer=True, positive=True)
    eps, gg, r_ = sp.symbols("epsilon g r", nonnegative=True)
    S = sp.Symbol("S", positive=True)
    s = sp.IndexedBase("s", real=True)
    g = sp.IndexedBase("g", nonnegative=True)
    sj = sp.Symbol("s_j", real=True)
    up_w = sp.exp(sj + eps - gg) / (sp.exp(-eps) * S * (1 + r_))  # S^ >= e^{-eps} S
    lo_w = sp.exp(sj - eps + gg) * (1 + r_) / (sp.exp(eps) * S)   # S^ <= e^{eps} S
    w = sp.exp(sj) / S
    weights = Obligation(
        "T1.rounding-weights", "|s^_i - s_i| <= eps for every key gives e^{-eps} S <= S^ <= "
        "e^{eps} S, e^{-2 eps} w_j <= w^_j <= e^{2 eps} w_j and |w^_j - w_j| <= "
        "(e^{2 eps} - 1) w_j (any number N of keys)",
        Identity((
            at_least(sp.Sum(sp.exp(s[i] - eps + g[i]), (i, 1, N)),
                     sp.Sum(sp.exp(s[i] - eps), (i, 1, N)),
                     sp.Sum(sp.exp(s[i] - eps + gg) - sp.exp(s[i] - eps), (i, 1, N)),
                     via=gg, at=g[i], termwise=True, label="S^ >= e^{-eps} S"),
            at_least(sp.Sum(sp.exp(s[i] + eps), (i, 1, N)),
                     sp.Sum(sp.exp(s[i] + eps - g[i]), (i, 1, N)),
                     sp.Sum(sp.exp(s[i] + eps) - sp.exp(s[i] + eps - gg), (i, 1, N)),
                     via=gg, at=g[i], termwise=True, label="S^ <= e^{eps} S"),
            at_least(sp.exp(2 * eps) * w, up_w,
                     sp.exp(2 * eps) * w - sp.exp(sj + eps - gg)
                     / (sp.exp(-eps) * S * (1 + r_)), via=gg, at=gg,
                     label="w^_j <= e^{2 eps} w_j"),
            at_least(lo_w, sp.exp(-2 * eps) * w,
                     sp.exp(sj - eps + gg) * (1 + r_) / (sp.exp(eps) * S)
                     - sp.exp(-2 * eps) * w, via=gg, at=gg, label="w^_j >= e^{-2 eps} w_j"),
            at_least(sp.exp(2 * eps) - 1, 1 - sp.exp(-2 * eps),
                     (sp.exp(eps) - sp.exp(-eps)) ** 2, label="1 - e^{-2 eps} <= e^{2 eps} - 1"),
        )), uses=("S.pointwise",))
    # Spread: bracket average of |L - y| is Delta - alpha (each within Delta), weights and
    # offsets of the tail as in I3.bound.
    K = sp.Symbol("K", integer=True, positive=True)
    k = sp.Symbol("k", integer=True, positive=True)
    kap = sp.Symbol("kappa", positive=True)
    D = sp.Symbol("Delta", positive=True)
    sB, alpha = sp.symbols("s_B alpha", nonnegative=True)
    sr, sl = sp.IndexedBase("s_r", nonnegative=True), sp.IndexedBase("s_l", nonnegative=True)
    dr, dl = sp.IndexedBase("d_r", nonnegative=True), sp.IndexedBase("d_l", nonnegative=True)
    ek = sp.exp(-kap * k**2)
    tail = sp.Sum(ek / (1 + sr[k]) * ((k + 1) * D - dr[k])
                  + ek / (1 + sl[k]) * ((k + 1) * D - dl[k]), (k, 1, K))
    tail_cert = ek * ((k + 1) * D * (sr[k] / (1 + sr[k]) + sl[k] / (1 + sl[k]))
                      + dr[k] / (1 + sr[k]) + dl[k] / (1 + sl[k]))
    so = sp.IndexedBase("s_o", nonnegative=True)
    spread = Obligation(
        "T1.rounding-spread", "sum_j w_j |L_j - Range(y)| <= Delta + 2 Delta sum_{k=1}^{K} "
        "(k+1) e^{-kappa k^2} = Delta (c(kappa) + 1/2) in the limit, for every y (outside "
        "[a, b]: Delta sum k e^{-kappa k^2} w/ k <= 2 (k + 1))",
        Identity((
            at_least(D, (D - alpha) / (1 + sB), alpha / (1 + sB) + D * sB / (1 + sB),
                     label="bracket: W_B mean |L - y| <= Delta"),
            at_least(sp.Sum(2 * (k + 1) * D * ek, (k, 1, K)), tail, sp.Sum(tail_cert, (k, 1, K)),
                     termwise=True, label="tail: two anchors per k"),
            at_least(sp.Sum(2 * (k + 1) * D * ek, (k, 1, K)),
                     sp.Sum(k * D * ek / (1 + so[k]), (k, 1, K)),
                     sp.Sum(D * ek * (k + 2 + k * so[k] / (1 + so[k])), (k, 1, K)),
                     termwise=True, label="outside: k w_k <= 2 (k + 1) e^{-kappa k^2}"))),
        uses=("I3.decomposition", "I3.tail-gap", "I3.tail-distance", "I3.count", "S.pointwise",
              "I3.bound-outside", "I3.tail-series"))
    wh, wv = sp.IndexedBase("wh", real=True), sp.IndexedBase("w", real=True)
    Lh, Lv = sp.IndexedBase("Lh", real=True), sp.IndexedBase("L", real=True)
    R = sp.Symbol("R", real=True)
    rho = sp.IndexedBase("rho", nonnegative=True)
    epsL, t_ = sp.symbols("epsilon_L t", nonnegative=True)
    dd = sp.IndexedBase("delta", nonnegative=True)
    comb = Obligation(
        "T1.rounding", "o^ - o = sum_j w^_j (L^_j - L_j) + sum_j (w^_j - w_j) (L_j - Range) "
        "when sum w^ = sum w = 1; hence |o^ - o| <= eps_L + (e^{2 eps} - 1) Delta (c + 1/2) "
        "with eps_L = max |L^_j - L_j| (T1.rounding-weights, T1.rounding-spread)",
        Identity((
            equal(sp.Sum(wh[jj] * (Lh[jj] - R), (jj, 1, N)) - sp.Sum(wv[jj] * (Lv[jj] - R),
                                                                     (jj, 1, N)),
                  sp.Sum(wh[jj] * (Lh[jj] - Lv[jj]) + (wh[jj] - wv[jj]) * (Lv[jj] - R),
                         (jj, 1, N)), label="decomposition of o^ - o (Sum w^ = Sum w = 1)"),
            at_least(sp.Sum(rho[jj] * epsL, (jj, 1, N)),
                     sp.Sum(rho[jj] * (epsL - dd[jj]), (jj, 1, N)),
                     sp.Sum(rho[jj] * dd[jj], (jj, 1, N)), termwise=True,
                     label="sum w^ (L^ - L) <= eps_L sum w^ (w^ = rho >= 0, L^ - L = eps_L - "
                           "delta)"),
            at_least((sp.exp(2 * eps) - 1) * t_, (sp.exp(2 * eps) - 1) * t_ / (1 + r_),
                     (sp.exp(2 * eps) - 1) * t_ * r_ / (1 + r_), via=eps, at=eps,
                     label="|w^ - w| |L - R| <= (e^{2 eps} - 1) w |L - R|, summed"))),
        uses=("T1.rounding-weights", "T1.rounding-spread"))
    return [weights, spread, comb]


def leakage_margin_obligation() -> Obligation:
    """T1.leakage-margin: the anchor-score margin m and the token gap, for all parameters.

    Returns
    -------
    Obligation
        Of kind ``identity``: (i) for y in [a, b] the nearest anchor L (``|y - L| <=
        Delta/2``, ``y - L = (Delta/2)(1 - 2 lambda)``, ``lambda`` in [0, 1]) has
        ``2 L y - L^2 >= -Delta^2/4``; (ii) outside, anchor a (or b) has the affine score
        ``2 a y - a^2`` on ``[y_lo, a]``, at least the smaller end value (a convex
        combination), and its value ``a^2 >= -Delta^2/4`` at y = a, so ``max_j (2 L_j y -
        L_j^2) >= m = min(-Delta^2/4, 2 a y_lo - a^2, 2 b y_hi - b^2)``; (iii) a stored anchor
        score within eps of ``beta (2 L y - L^2) >= beta m`` exceeds the token score ``-T``
        by at least ``T + beta m - eps``, so by Lemma S the token weight is at most
        ``n e^{-(T + beta m - eps)}``.
    """
    yv, Lv, mv, Tv = sp.symbols("y L m T", real=True)
    Dv, bt = sp.symbols("Delta beta", positive=True)
    lam, tau, u, v, g1, g2, eps = sp.symbols("l tau u v g_1 g_2 epsilon", nonnegative=True)
    lm = lam / (1 + lam)  # in [0, 1)
    y_in = Lv + Dv / 2 * (1 - 2 * lm)
    t = tau / (1 + tau)
    s_hat = bt * (mv + g2) - eps + g1  # stored score: exact score >= beta m, minus eps
    return Obligation(
        "T1.leakage-margin", "max_j (2 L_j y - L_j^2) >= m = min(-Delta^2/4, 2 a y_lo - a^2, "
        "2 b y_hi - b^2) over [y_lo, y_hi], and the stored best anchor score exceeds the token "
        "score -fl(beta G) by >= fl(beta G) + beta m - eps (the leakage exponent)",
        Identity((
            at_least(2 * Lv * y_in - Lv**2, -Dv**2 / 4,
                     y_in**2 + Dv**2 * lam / (1 + lam) ** 2,
                     label="(i) nearest anchor: 2 L y - L^2 >= -Delta^2/4"),
            at_least((1 - t) * (mv + u) + t * (mv + v), mv, (1 - t) * u + t * v,
                     label="(ii) an affine score on [y_lo, a] is >= the smaller end value"),
            at_least(s_hat + Tv, Tv + bt * mv - eps, bt * g2 + g1,
                     label="(iii) gap >= T + beta m - eps"))),
        uses=("T1.sym-score", "T1.sym-token", "T1.rounding-weights"))
