"""Sequence-to-sequence approximation with two attention layers (docs/mathematics.md, sec. 12).

Input: ``n >= 2`` tokens of dimension ``d`` (variable ``x{k}_{i}``, flat index ``k d + i``);
output: ``d_out`` entries per token, one expression each (:mod:`certify.seq_targets`).  The
network uses token-wise maps only: a :class:`~certify.network.TokenAffine` first layer
(shared weights, the positional encodings as its per-token bias), two attention layers with
the skip connection, and a token-wise output map.  Rows of the residual stream:

``X_i`` (the token's own input), ``one``, ``pos_k`` (one-hot positional encoding),
``F_v`` (gathered inputs), ``R_s`` (soft extrema), ``acc_o`` (layer-2 sums).

Layer 1.
    *Gather heads* (one per source token j): constant scores ``G [key = j]`` (``G`` =
    :data:`LEAKX`), values ``x_j``; they write ``F_{j d + i} ~ x_j[i]`` at every token with
    error ``<= (n - 1) e^-G range_i`` (Lemma S).  *Soft-extremum heads* (one per slot): at
    query token k the score of key token j is ``+-beta_m x_j[i] + mask_k(j)`` with mask 0
    on the slot's token set ``S_k`` and ``-M_m`` elsewhere, values ``x_j[i]``; the head
    writes ``R_s ~ max_{j in S_k} x_j[i]`` (or min) with error ``<= (|S_k| - 1) / (e
    beta_m)`` plus leakage (section 12.2).  Tokens that use no term of a slot get
    ``S_k = {k}``, so there ``R_s ~ x_k[i]``.
Layer 2.
    A *block* ``coef G(sigma)`` of one output entry (token k), ``sigma = P . phi + t`` over
    the features ``phi = (F, R)``, is a staircase of ``m`` sigmoid steps: knots ``y_l = y_0 +
    l delta`` over the latent's range, centres ``t_l = y_l + delta/2``, heights ``c_l =
    f(y_{l+1}) - f(y_l)`` (``f = coef G``) and ``beta_s = kappa / delta``.  Each step is a
    head over two key tokens (0: score 0, value 0; 1: score ``beta_s (sigma - t_l)``, value
    ``c_l``), so its output is ``c_l sigmoid(beta_s (sigma - t_l))``; keys ``j >= 2`` score
    ``-LEAKX``; at every query token other than k the score of key 1 is lowered by ``M_g``
    so the step is off there (gating by position).
Output map.
    ``y_o = acc_o + omega_o . phi + c_{k,o}`` with ``omega_o`` shared by the tokens (chosen
    so that as few tokens as possible need extra blocks) and the per-token constant
    ``c_{k,o}`` read from the positional rows.

Targets (:func:`compile_target`): per output entry, every ``max``/``min`` of two or more
input variables of one coordinate from distinct tokens becomes a soft-extremum term; the
rest must be a sum of an affine form and functions of one affine form each of variables
and soft extrema (compiled by :func:`theorems.uap_two_layer.compile_expression`; products
through ``((u + v)^2 - (u - v)^2)/4``).  Anything needing a further level is refused.

A-priori bound (:func:`a_priori_bound`), proved term by term in section 12: per block,
``E_b = I + max|c| (A(kappa) + T(kappa)) + sum |c~ - c| + sum |c~_l| eta_l / 4 + Lip
sum_r |P_r| E_r`` (I the interpolation error of the piecewise-linear interpolant on the
knots, ``A`` the sigmoid-versus-chord kernel, ``T`` the tail of the other steps, ``eta``
the rounding of the stored scores, ``Lip`` the staircase's slope bound, ``E_r`` the feature
errors), plus ``|omega| E``, the rounding of ``omega`` and of the constants, and the
leakage of every gated step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from flint import arb, ctx

from certify.errors import InputError
from certify.expression import Expr, _node, num, var
from certify.network import Attention, AttentionNet, Head, SelectColumns, TokenAffine
from certify.seq_targets import SeqTarget, parse_seq_domain, parse_seq_target
from certify.targets import Target
from theorems.uap import (
    _arb_q,
    _f_arb,
    _float_mid,
    _jsonable,
    _parameter_count,
    _up,
    interpolant_error,
)
from theorems.uap_two_layer import Affine, CompileError, Y, _range_affine, compile_expression

ID = "seq2seq"
CONSTRUCTION_KEYS = ("kappa", "mix_beta", "design_epsilon")
#: Step sharpness ``kappa = beta_s delta`` (section 12.3: the kernel A + T is smallest near 6).
DEFAULT_KAPPA = 6.0
#: Score gap of every leakage (gather selection, masks, gating): weights ``<= e^-LEAKX``.
LEAKX = 40
MAX_STEPS = 4096
MAX_LAYER2_HEADS = 20000
ARB_PREC = 96


# -- targets ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MixTerm:
    """``max``/``min`` over the tokens ``S`` of coordinate ``i``."""

    op: str
    i: int
    S: frozenset[int]


@dataclass
class Block:
    """``coef G(P . phi + t)`` of one output entry (``P`` over the feature rows)."""

    G: Expr
    coef: Fraction
    P: list[Fraction]
    t: Fraction
    lo: Fraction = Fraction(0)
    hi: Fraction = Fraction(0)
    m: int = 0
    y0: Fraction = Fraction(0)
    delta: Fraction = Fraction(1)
    c: list[arb] = field(default_factory=list)
    c_f: list[float] = field(default_factory=list)
    a_f: list[list[float]] = field(default_factory=list)  # per step: score weight per row
    b_f: list[float] = field(default_factory=list)  # per step: score constant
    g0: arb | None = None
    interp: float = 0.0


@dataclass
class Entry:
    """One output entry: its blocks and its per-token constant (exact before rounding)."""

    token: int
    row: int
    blocks: list[Block]
    const: Fraction


@dataclass
class SeqProgram:
    st: SeqTarget
    lo: list[Fraction]
    hi: list[Fraction]
    slots: list[tuple[str, int, dict[int, frozenset[int]]]]  # (op, i, token -> set)
    omega: list[list[Fraction]]  # per output row, per feature row
    entries: list[Entry]  # tokens outer, rows inner

    @property
    def D(self) -> int:
        return self.st.variables

    @property
    def n_features(self) -> int:
        return self.D + len(self.slots)

    def slot_set(self, s: int, k: int) -> frozenset[int]:
        return self.slots[s][2].get(k, frozenset({k}))


def _mix_of(e: Expr, d: int) -> MixTerm | None:
    if e.op not in ("max", "min") or len(e.args) < 2:
        return None
    if not all(a.op == "var" for a in e.args):
        return None
    coords = {a.index % d for a in e.args}
    toks = [a.index // d for a in e.args]
    if len(coords) != 1 or len(set(toks)) != len(toks):
        return None
    return MixTerm(e.op, coords.pop(), frozenset(toks))


def _substitute(e: Expr, d: int, D: int, found: dict[MixTerm, int]) -> Expr:
    """``e`` with every soft-extremum term replaced by variable ``D + index``."""
    mt = _mix_of(e, d)
    if mt is not None:
        if mt not in found:
            found[mt] = len(found)
        return var(D + found[mt], f"{mt.op}{sorted(mt.S)}_{mt.i}")
    if not e.args:
        return e
    return Expr(e.op, tuple(_substitute(a, d, D, found) for a in e.args), e.value, e.index,
                e.name)


def _mix_range(mt: MixTerm, d: int, lo: list[Fraction], hi: list[Fraction]
               ) -> tuple[Fraction, Fraction]:
    los = [lo[j * d + mt.i] for j in mt.S]
    his = [hi[j * d + mt.i] for j in mt.S]
    return (max(los), max(his)) if mt.op == "max" else (min(los), min(his))


def compile_target(st: SeqTarget, lo: list[Fraction], hi: list[Fraction]) -> SeqProgram:
    """Slots, shared output weights, and the blocks of every entry (module docstring)."""
    n, d, D = st.tokens, st.dim, st.variables
    slots: list[tuple[str, int, dict[int, frozenset[int]]]] = []
    compiled = []  # per entry: (k, o, lin over rows, terms over rows)
    for k in range(n):
        for o, expr in enumerate(st.exprs[k]):
            found: dict[MixTerm, int] = {}
            e2 = _substitute(expr, d, D, found)
            terms = sorted(found, key=found.get)
            lo2 = lo + [_mix_range(t, d, lo, hi)[0] for t in terms]
            hi2 = hi + [_mix_range(t, d, lo, hi)[1] for t in terms]
            try:
                level = compile_expression(e2, D + len(terms), lo2, hi2)
            except CompileError as exc:
                raise CompileError(f"target.outputs[{k}][{o}]: {exc}") from None
            if level.blocks:
                raise CompileError(f"target.outputs[{k}][{o}]: needs a function of a "
                                   f"non-linear term; after gathering, two attention layers "
                                   f"compute sums of functions of affine forms (and soft "
                                   f"extrema of one coordinate over tokens)")
            row_of = list(range(D))
            for t in terms:
                free = [s for s, (op, i, sets) in enumerate(slots)
                        if op == t.op and i == t.i and sets.get(k, t.S) == t.S]
                if not free:
                    slots.append((t.op, t.i, {}))
                    free = [len(slots) - 1]
                slots[free[0]][2][k] = t.S
                row_of.append(-1 - free[0])  # resolved once the slot count is known
            compiled.append((k, o, level.l1, row_of))
    R = D + len(slots)

    def to_rows(a: Affine, row_of: list[int]) -> list[Fraction]:
        out = [Fraction(0)] * R
        for v, c in enumerate(a.coef):
            if c:
                r = row_of[v]
                out[r if r >= 0 else D + (-1 - r)] += c
        return out

    def ideal(k: int) -> list[list[Fraction]]:
        """Row r's ideal value at token k, as coefficients over (x, slot terms) = rows."""
        rows = []
        for r in range(R):
            vec = [Fraction(0)] * R
            if r < D:
                vec[r] = Fraction(1)
            else:
                s = r - D
                if k in slots[s][2]:
                    vec[r] = Fraction(1)
                else:  # S_k = {k}: the head returns x_k[i]
                    vec[k * d + slots[s][1]] = Fraction(1)
            rows.append(vec)
        return rows

    def residual(lin: list[Fraction], om: list[Fraction], k: int) -> list[Fraction]:
        idl = ideal(k)
        out = list(lin)
        for r, w in enumerate(om):
            if w:
                for q, c in enumerate(idl[r]):
                    out[q] -= w * c
        return out

    d_out = st.d_out
    per = {(k, o): (to_rows(l1.lin, row_of), l1, row_of) for k, o, l1, row_of in compiled}
    omega = []
    for o in range(d_out):
        cands = []
        for k in range(n):
            lin = per[(k, o)][0]
            cands.append(lin)
            swapped = list(lin)
            for s, (_op, i, sets) in enumerate(slots):
                v = k * d + i
                if k not in sets and swapped[v]:
                    swapped[D + s] += swapped[v]
                    swapped[v] = Fraction(0)
            cands.append(swapped)
        best = min(cands, key=lambda om: sum(any(residual(per[(k, o)][0], om, k))
                                             for k in range(n)))
        omega.append(best)
    entries = []
    for k in range(n):
        for o in range(d_out):
            lin_rows, l1, row_of = per[(k, o)]
            res = residual(lin_rows, omega[o], k)
            blocks = []
            for term, coef in l1.terms.items():
                blocks.append(Block(term.G, coef, to_rows(term.arg, row_of), term.arg.const))
            const = l1.lin.const
            if any(res):
                for b in blocks:  # fold into a block with a proportional latent
                    ratio = _proportional(res, b.P)
                    if ratio is not None:
                        # coef G(s) + ratio (s - t) with s = P . phi + t
                        b.G = _node("add", b.G, _node("mul", num(ratio / b.coef), Y))
                        const -= ratio * b.t
                        break
                else:
                    blocks.append(Block(Y, Fraction(1), res, Fraction(0)))
            entries.append(Entry(k, o, blocks, const))
    return SeqProgram(st, lo, hi, slots, omega, entries)


def _proportional(u: list[Fraction], v: list[Fraction]) -> Fraction | None:
    """``q`` with ``u = q v`` (v non-zero), else None."""
    q = None
    for a, b in zip(u, v):
        if b == 0:
            if a:
                return None
            continue
        r = a / b
        if q is None:
            q = r
        elif r != q:
            return None
    return q


# -- ranges and errors of the features -----------------------------------------------------------

def _coord_range(prog: SeqProgram, i: int) -> tuple[Fraction, Fraction]:
    d = prog.st.dim
    los = [prog.lo[j * d + i] for j in range(prog.st.tokens)]
    his = [prog.hi[j * d + i] for j in range(prog.st.tokens)]
    return min(los), max(his)


def feature_ranges(prog: SeqProgram) -> list[tuple[Fraction, Fraction]]:
    """Ranges of the exact features valid at every token."""
    out = [(prog.lo[v], prog.hi[v]) for v in range(prog.D)]
    for _op, i, _sets in prog.slots:
        out.append(_coord_range(prog, i))
    return out


def ranges_at(prog: SeqProgram, k: int) -> list[tuple[Fraction, Fraction]]:
    """Ranges of the exact features at token k."""
    d = prog.st.dim
    out = [(prog.lo[v], prog.hi[v]) for v in range(prog.D)]
    for s, (op, i, _sets) in enumerate(prog.slots):
        out.append(_mix_range(MixTerm(op, i, prog.slot_set(s, k)), d, prog.lo, prog.hi))
    return out


def _leak() -> arb:
    return arb(-LEAKX).exp()


def feature_errors(prog: SeqProgram, mix_beta: float, k: int) -> list[arb]:
    """``E_r >= |phi_r(network) - phi_r(exact)|`` at token k (section 12.2)."""
    n, d = prog.st.tokens, prog.st.dim
    leak = _leak()
    E = []
    for v in range(prog.D):
        a, b = _coord_range(prog, v % d)
        E.append((n - 1) * leak * _arb_q(b - a))
    for s, (_op, i, _sets) in enumerate(prog.slots):
        a, b = _coord_range(prog, i)
        S = prog.slot_set(s, k)
        E.append((len(S) - 1) / (arb(1).exp() * _arb_q(Fraction(mix_beta)))
                 + (n - len(S)) * leak * _arb_q(b - a))
    return E


# -- staircases -------------------------------------------------------------------------------

def stair_kernel(kappa: Fraction) -> tuple[arb, arb, arb]:
    """``(A, T, L)`` for ``kappa = beta_s delta > 0`` (section 12.3, rigorous balls).

    ``A = max_{|u| <= 1/2} |sigmoid(kappa u) - u - 1/2|``; ``T = 2 cosh(kappa/2) e^-kappa /
    (1 - e^-kappa) >= sum_{m >= 1} sigmoid(-kappa (m + u)) + sigmoid(-kappa (m - u))``;
    ``L = 1/4 + 2 e^{-kappa/2} / (1 - e^-kappa) >= sum_l sigmoid'(kappa (u - l - 1/2))``.
    """
    K = _arb_q(kappa)

    def sig(z: arb) -> arb:
        return 1 / (1 + (-z).exp())

    end = 1 - sig(K / 2)
    A = end
    if kappa > 4:
        s = (1 + (1 - 4 / K).sqrt()) / 2
        u = (s / (1 - s)).log() / K
        A = _max_arb(s - u - arb(1) / 2, end)
    q = (-K).exp()
    T = 2 * ((K / 2).exp() + (-K / 2).exp()) / 2 * q / (1 - q)
    L = arb(1) / 4 + 2 * (-K / 2).exp() / (1 - q)
    return A, T, L


def _max_arb(a: arb, b: arb) -> arb:
    """A ball containing both upper ends (used only as an upper bound)."""
    return arb(max(_up(a), _up(b)))


def _G_target(G: Expr) -> Target:
    return Target({}, 1, G)


def place_steps(b: Block, delta: Fraction, kappa: Fraction) -> None:
    """Knots ``y_j = y_0 + j delta`` covering ``[b.lo, b.hi]`` (``delta = q 2^e``, ``y_0`` a
    multiple of it, so every knot is a binary64 number), exact heights, stored step scores."""
    b.delta = delta
    b.y0 = math.floor(b.lo / delta) * delta
    b.m = max(1, math.ceil((b.hi - b.y0) / delta))
    if b.m > MAX_STEPS:
        raise InputError(f"a block needs more than {MAX_STEPS} steps for this epsilon")
    ys = [b.y0 + j * delta for j in range(b.m + 1)]
    if any(Fraction(float(y)) != y for y in ys):
        raise InputError("the knots of a block are not binary64 numbers (domain too large)")
    with ctx.workprec(ARB_PREC):
        cq = _arb_q(b.coef)
        F = [cq * _f_arb(b.G, [y]) for y in ys]
    b.g0 = F[0]
    b.c = [F[j + 1] - F[j] for j in range(b.m)]
    b.c_f = [_float_mid(c) if not c.is_zero() else 0.0 for c in b.c]
    beta = kappa / delta
    b.a_f, b.b_f = [], []
    for j in range(b.m):
        tj = b.y0 + (j + Fraction(1, 2)) * delta
        b.a_f.append([float(beta * p) for p in b.P])
        b.b_f.append(float(beta * (b.t - tj)))
    b.interp = interpolant_error(_G_target(_node("mul", num(b.coef), b.G)), ys, None)


def _eta(b: Block, j: int, kappa: Fraction, zmax: list[Fraction]) -> Fraction:
    """``sup |stored score - beta_s (sigma - t_j)|`` over ``|phi_r| <= zmax_r`` (exact)."""
    beta = kappa / b.delta
    tj = b.y0 + (j + Fraction(1, 2)) * b.delta
    err = abs(Fraction(b.b_f[j]) - beta * (b.t - tj))
    for r, p in enumerate(b.P):
        err += abs(Fraction(b.a_f[j][r]) - beta * p) * zmax[r]
    return err


def block_error(b: Block, kappa: Fraction, kern: tuple[arb, arb, arb], zmax: list[Fraction],
                E: list[arb]) -> arb:
    """Proved bound of ``|staircase(phi~) - coef G(sigma(phi))|`` (section 12.3)."""
    A, T, L = kern
    with ctx.workprec(ARB_PREC):
        cmax = max((abs(c) for c in b.c), key=lambda x: _up(x), default=arb(0))
        err = arb(b.interp) + cmax * (A + T)
        for j in range(b.m):
            err += abs(arb(b.c_f[j]) - b.c[j])
            if b.c_f[j]:
                err += abs(b.c_f[j]) * _arb_q(_eta(b, j, kappa, zmax)) / 4
        cfmax = max((abs(c) for c in b.c_f), default=0.0)
        lip = arb(cfmax) * _arb_q(kappa / b.delta) * L
        prop = sum((abs(_arb_q(p)) * E[r] for r, p in enumerate(b.P) if p), arb(0))
        return err + lip * prop


def _own_error(b: Block, kappa: Fraction, kern) -> float:
    A, T, _ = kern
    cmax = max((abs(c) for c in b.c), key=lambda x: _up(x), default=arb(0))
    return b.interp + _up(cmax * (A + T))


def _deltas(width: Fraction):
    """Step widths ``q 2^e`` (q = 15 .. 8) in decreasing order, from about ``width / 2``."""
    e = math.floor(math.log2(float(width))) - 4
    while True:
        for q in range(15, 7, -1):
            yield Fraction(q) * Fraction(2) ** e
        e -= 1


def choose_steps(b: Block, budget: float, kappa: Fraction, kern) -> None:
    """The widest step (fewest steps) whose own error is at most ``budget``."""
    for delta in _deltas(b.hi - b.lo):
        if (b.hi - b.lo) / delta > MAX_STEPS:
            raise InputError(f"a block needs more than {MAX_STEPS} steps for this epsilon")
        place_steps(b, delta, kappa)
        if _own_error(b, kappa, kern) <= budget:
            return


# -- the network -----------------------------------------------------------------------------

@dataclass
class BuiltSeq:
    net: AttentionNet
    construction: dict[str, Any]
    resources: dict[str, Any]
    program: SeqProgram
    bound: dict[str, float] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        return dict(self.resources)

    def structure_json(self) -> dict[str, Any]:
        n1, n2 = len(self.net.layers[1].heads), len(self.net.layers[2].heads)
        return {"outputs": [{"layer1": [None] * n1, "layer2": [None] * n2}
                            for _ in self.program.entries]}


def _zmax(prog: SeqProgram, E: list[arb]) -> list[Fraction]:
    return [max(abs(a), abs(b)) + Fraction(_up(e)) for (a, b), e in
            zip(feature_ranges(prog), E)]


def _gate(b: Block, j: int, zmax: list[Fraction]) -> int:
    """An integer ``M_g`` with stored score ``- M_g <= -LEAKX`` for every feature value."""
    s = abs(Fraction(b.b_f[j])) + sum((abs(Fraction(a)) * z for a, z in zip(b.a_f[j], zmax)),
                                      Fraction(0))
    return math.ceil(s) + LEAKX


def build_network(prog: SeqProgram, mix_beta: float, zmax: list[Fraction]) -> AttentionNet:
    """The two-layer token-wise network of a program whose steps are placed."""
    st = prog.st
    n, d, D = st.tokens, st.dim, st.variables
    S = len(prog.slots)
    X0, ONE = 0, d
    POS = d + 1
    F0 = POS + n
    R0 = F0 + D
    ACC = R0 + S
    dz = ACC + st.d_out
    W = np.zeros((dz, d))
    for i in range(d):
        W[X0 + i, i] = 1.0
    bias = np.zeros((dz, n))
    bias[ONE, :] = 1.0
    for k in range(n):
        bias[POS + k, k] = 1.0
    first = TokenAffine(W, bias)
    heads1 = []
    for j in range(n):  # gather token j
        W_Q = np.zeros((1, dz))
        W_Q[0, ONE] = 1.0
        W_K = np.zeros((1, dz))
        W_K[0, POS + j] = float(LEAKX)
        W_V = np.zeros((d, dz))
        W_O = np.zeros((dz, d))
        for i in range(d):
            W_V[i, X0 + i] = 1.0
            W_O[F0 + j * d + i, i] = 1.0
        heads1.append(Head(W_Q, W_K, W_V, W_O))
    for s, (op, i, _sets) in enumerate(prog.slots):
        a, b = _coord_range(prog, i)
        Mm = math.ceil(Fraction(mix_beta) * (b - a)) + LEAKX
        W_Q = np.zeros((1 + n, dz))
        W_Q[0, ONE] = mix_beta if op == "max" else -mix_beta
        W_K = np.zeros((1 + n, dz))
        W_K[0, X0 + i] = 1.0
        for k in range(n):
            W_Q[1 + k, POS + k] = 1.0
            Sk = prog.slot_set(s, k)
            for j in range(n):
                if j not in Sk:
                    W_K[1 + k, POS + j] = -float(Mm)
        W_V = np.zeros((1, dz))
        W_V[0, X0 + i] = 1.0
        W_O = np.zeros((dz, 1))
        W_O[R0 + s, 0] = 1.0
        heads1.append(Head(W_Q, W_K, W_V, W_O))
    heads2 = []
    for e in prog.entries:
        for b in e.blocks:
            for j in range(b.m):
                if b.c_f[j] == 0.0:
                    continue
                W_Q = np.zeros((2, dz))
                for r in range(prog.n_features):
                    W_Q[0, F0 + r] = b.a_f[j][r]
                W_Q[0, ONE] = b.b_f[j]
                Mg = float(_gate(b, j, zmax))
                for k in range(n):
                    if k != e.token:
                        W_Q[0, POS + k] = -Mg
                W_Q[1, ONE] = -float(LEAKX)
                W_K = np.zeros((2, dz))
                W_K[0, POS + 1] = 1.0
                for k in range(2, n):
                    W_K[1, POS + k] = 1.0
                W_V = np.zeros((1, dz))
                W_V[0, POS + 1] = 1.0
                W_O = np.zeros((dz, 1))
                W_O[ACC + e.row, 0] = b.c_f[j]
                heads2.append(Head(W_Q, W_K, W_V, W_O))
    if len(heads2) > MAX_LAYER2_HEADS:
        raise InputError(f"the construction needs {len(heads2):,} layer-2 heads (at most "
                         f"{MAX_LAYER2_HEADS:,}); give a larger epsilon")
    if not heads2:
        # No block: layer 2 adds nothing (a head with zero output keeps the two-layer form).
        heads2.append(Head(np.zeros((1, dz)), np.zeros((1, dz)), np.zeros((1, dz)),
                           np.zeros((dz, 1))))
    Wout = np.zeros((st.d_out, dz))
    for o in range(st.d_out):
        Wout[o, ACC + o] = 1.0
        for r, w in enumerate(prog.omega[o]):
            Wout[o, F0 + r] = float(w)
    for e in prog.entries:
        Wout[e.row, POS + e.token] = _float_mid(_entry_const(e))
    out_map = TokenAffine(Wout, np.zeros((st.d_out, n)))
    return AttentionNet((d, n), (first, Attention(tuple(heads1), True),
                                 Attention(tuple(heads2), True),
                                 SelectColumns(tuple(range(n))), out_map))


def _entry_const(e: Entry) -> arb:
    with ctx.workprec(ARB_PREC):
        return _arb_q(e.const) + sum((b.g0 for b in e.blocks), arb(0))


# -- the a-priori bound -------------------------------------------------------------------------

def a_priori_bound(prog: SeqProgram, kappa: Fraction, mix_beta: float) -> dict[str, Any]:
    """Proved bound of ``max_{k,o} sup |N_{k,o} - f_{k,o}|`` (module docstring)."""
    kern = stair_kernel(kappa)
    franges = feature_ranges(prog)
    per = []
    with ctx.workprec(ARB_PREC):
        leak = _leak()
        all_c = sum((abs(c) for e in prog.entries for b in e.blocks for c in b.c_f), 0.0)
        gated = all_c * prog.st.tokens * leak
        Eall = [feature_errors(prog, mix_beta, k) for k in range(prog.st.tokens)]
        Emax = [arb(max(_up(Ek[r]) for Ek in Eall)) for r in range(prog.n_features)]
        zmax = _zmax(prog, Emax)
        for e in prog.entries:
            E = Eall[e.token]
            total = gated
            for r, w in enumerate(prog.omega[e.row]):
                wf = float(w)
                total += abs(wf) * E[r] + abs(_arb_q(Fraction(wf) - w)) * _arb_q(
                    max(abs(franges[r][0]), abs(franges[r][1])))
            for b in e.blocks:
                total += block_error(b, kappa, kern, zmax, E)
            c = _entry_const(e)
            total += abs(arb(_float_mid(c)) - c)
            per.append(_up(total) * (1 + 2 ** -40))
    return {"bound": max(per), "per_output": per}


# -- resolve ----------------------------------------------------------------------------------

def _place(prog: SeqProgram, budget: float, kappa: Fraction) -> None:
    kern = stair_kernel(kappa)
    for e in prog.entries:
        rng = ranges_at(prog, e.token)
        flo, fhi = [a for a, _ in rng], [b for _, b in rng]
        share = budget / max(1, len(e.blocks))
        for b in e.blocks:
            b.lo, b.hi = _range_affine(b.P, b.t, flo, fhi)
            if not b.lo < b.hi:
                raise InputError("a block's latent is constant on the domain")
            choose_steps(b, share, kappa, kern)


def resolve(st: SeqTarget, lo: list[float], hi: list[float], construction: dict[str, Any],
            epsilon: float | None) -> BuiltSeq:
    """Compile, place the steps and choose ``mix_beta`` so that the a-priori bound is at most
    ``construction["design_epsilon"]`` (default ``epsilon``)."""
    epsilon = construction.get("design_epsilon", epsilon)
    if epsilon is None:
        raise InputError("theorem seq2seq needs epsilon (or construction.design_epsilon)")
    epsilon = float(epsilon)
    kappa = Fraction(float(construction.get("kappa", DEFAULT_KAPPA)))
    lo_q = [Fraction(float(v)) for v in lo]
    hi_q = [Fraction(float(v)) for v in hi]
    n = st.tokens
    given_beta = construction.get("mix_beta")
    block_budget, mix_budget = 0.6 * epsilon, 0.25 * epsilon
    prog = bound = None
    mix_beta = 0.0
    for _ in range(10):
        prog = compile_target(st, lo_q, hi_q)
        mix_beta = float(given_beta) if given_beta is not None else float(
            2 ** math.ceil(math.log2((n - 1) / (math.e * mix_budget))))
        _place(prog, block_budget, kappa)
        bound = a_priori_bound(prog, kappa, mix_beta)
        if bound["bound"] <= epsilon:
            break
        block_budget /= 1.5
        mix_budget /= 2
    else:
        raise InputError(f"could not meet epsilon = {epsilon:g} with the a-priori bound")
    assert prog is not None and bound is not None
    Emax = [arb(max(_up(feature_errors(prog, mix_beta, k)[r]) for k in range(n)))
            for r in range(prog.n_features)]
    net = build_network(prog, mix_beta, _zmax(prog, Emax))
    heads2 = sum(1 for e in prog.entries for b in e.blocks for c in b.c_f if c != 0.0)
    resources = {"tokens": n, "dim": st.dim, "outputs_per_token": st.d_out,
                 "features": prog.n_features, "gather_heads": n,
                 "extremum_heads": len(prog.slots), "heads_layer1": len(net.layers[1].heads),
                 "heads_layer2": heads2, "width": net.layers[0].weight.shape[0],
                 "parameters": _parameter_count(net), "kappa": float(kappa),
                 "mix_beta": mix_beta if prog.slots else None}
    cons: dict[str, Any] = {"kappa": float(kappa), "design_epsilon": epsilon}
    if given_beta is not None:
        cons["mix_beta"] = float(given_beta)
    return BuiltSeq(net, cons, resources, prog, bound)


def parameters_json(built: BuiltSeq) -> dict[str, Any]:
    out = dict(built.resources)
    out["a_priori_bound"] = built.bound["bound"]
    return _jsonable(out)


def conformance(cert_obj: dict[str, Any]) -> tuple[bool, str]:
    """Is the certificate's network the one this construction builds for its target, domain,
    construction and epsilon?  (A separate statement from the error claim.)"""
    from theorems.uap import same_as_built

    try:
        st = parse_seq_target(cert_obj["target"])
        lo, hi = parse_seq_domain(cert_obj["domain"], st)
        c = cert_obj["construction"]
        if not isinstance(c, dict) or set(c) - set(CONSTRUCTION_KEYS):
            return False, "certificate construction has unknown fields"
        built = resolve(st, lo, hi, c, None)
    except (InputError, KeyError, TypeError, ValueError) as exc:
        return False, f"cannot rebuild the network: {exc}"
    why = same_as_built(cert_obj, built.net, built.structure_json(), parameters_json(built))
    if why is not None:
        return False, why
    r = built.resources
    return True, (f"the network is theorem {ID} with {r['heads_layer1']} + {r['heads_layer2']} "
                  f"heads, token-wise maps only")
