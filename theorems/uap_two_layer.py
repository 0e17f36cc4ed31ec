"""Universal approximation with two attention layers (docs/mathematics.md, section 10).

The construction works on *piecewise-linear blocks*.  A block approximates ``coef G(sigma)``
for a function ``G`` of one real variable and a latent ``sigma = P . z + t`` (z the block's
inputs) by the piecewise-linear interpolant on knots ``y_0 < ... < y_m`` covering the range
of ``sigma``::

    coef G(sigma) ~ coef G(y_0) + sum_i c_i Range_[0,1]((sigma - y_i) / h_i),
    c_i = coef (G(y_{i+1}) - G(y_i)),

and each truncated linear term is one head over ``p = 2^k + 1`` shared anchors ``L_j = j
2^-k`` on [0, 1] (query ``(s, 1)``, key ``(2 beta L_j, -beta L_j^2)``, value ``L_j``,
``W_O = c_i``), the Lemma I head of docs/mathematics.md section 3.  With ``p - 1`` a power of
two the anchors, their squares and ``beta = kappa (p - 1)^2`` are exact binary64 numbers,
so every stored score equals the ideal one.

Layer 1 computes *features*: blocks over the input x (``phi_r = G_r(a_r . x + t_r)``), plus
the coordinates ``x_i`` themselves (through the skip connection, exactly).  Layer 2 computes
blocks whose latents are linear combinations of features; the output map adds layer-2
blocks, features and a constant.

Targets (:func:`compile_expression`, :func:`compile_relu_network`).  An expression is
compiled by placing every non-linearity at the lowest layer it can live in: a function of
one affine form is a layer-1 feature; a function of a sum of features, a product ``u v =
((u + v)^2 - (u - v)^2) / 4`` of features, and ``max``/``min`` (``max(u, v) = u +
relu(v - u)``) of features are layer-2 blocks.  An expression that needs a third level is
refused.  If nothing needs layer 2 (a sum of functions of affine forms, e.g. ``x*y``
through squares of sums), the affine forms become layer-1 truncated linear features
(identity blocks) and the functions move to layer 2: the paper's arrangement, layer 1
truncated linear features, layer 2 truncated linear functions of their combinations.  A
ReLU network with two hidden layers is compiled unit by unit (``relu`` blocks are exact:
their knots include 0).

A-priori bound (:func:`a_priori_bound`), proved term by term (section 10): per feature,
``E_r >= |phi_r_network - phi_r_exact|`` from the knot error, the rounding of the stored
coefficients and latents, and the head errors (I3: ``delta c_in`` for the one term whose
latent is inside [0, 1], ``delta c_out`` for the others, plus Lemma S leakage of the token's
own column); per layer-2 block, the same plus ``Lip * sum_r |P_r| E_r``, where ``Lip =
max_i |c_i| / h_i`` is the Lipschitz constant of the interpolant, which is all a layer-1
error can do to it (each ``Range`` is 1-Lipschitz).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from flint import arb, ctx

from certify.errors import InputError
from certify.exact_scores import GridHint
from certify.expression import (
    Expr,
    _fold,
    _node,
    _pow,
    enclose_numpy,
    num,
    var,
    variables_used,
)
from certify.network import (
    Attention,
    AttentionNet,
    Head,
    SelectColumns,
    SequenceAffine,
    TokenAffine,
)
from certify.targets import Target
from theorems.uap import (
    DEFAULT_KAPPA,
    LEAK,
    _arb_q,
    _f_arb,
    _float_mid,
    _jsonable,
    _parameter_count,
    _up,
    adaptive_knots,
    interpolant_error,
    kernel_constants,
)

ID = "uap-two-layer"
CONSTRUCTION_KEYS = ("p", "kappa", "knot_error")
#: Largest k in p = 2^k + 1 anchors.
MAX_LOG2_P = 14
MAX_BLOCKS = 4096
ARB_PREC = 96


# -- the compiled program -------------------------------------------------------------------

@dataclass(frozen=True)
class Affine:
    """``coef . x + const`` with exact rational coefficients."""

    coef: tuple[Fraction, ...]
    const: Fraction

    def __add__(self, o: Affine) -> Affine:
        return Affine(tuple(a + b for a, b in zip(self.coef, o.coef)), self.const + o.const)

    def scale(self, q: Fraction) -> Affine:
        return Affine(tuple(a * q for a in self.coef), self.const * q)

    def is_const(self) -> bool:
        return not any(self.coef)


@dataclass(frozen=True)
class Term:
    """``G(arg)`` with ``G`` a function of variable 0 and ``arg`` affine in x; ``kind`` is
    ``smooth``, ``relu``, ``abs`` or ``linear`` (the last three have exact interpolants
    on knots that include 0)."""

    G: Expr
    arg: Affine
    kind: str


@dataclass
class Level1:
    """``lin(x) + sum_T coef_T T(x)`` (T a :class:`Term`)."""

    lin: Affine
    terms: dict[Term, Fraction] = field(default_factory=dict)

    def add(self, o: Level1, q: Fraction = Fraction(1)) -> Level1:
        terms = dict(self.terms)
        for t, c in o.terms.items():
            terms[t] = terms.get(t, Fraction(0)) + q * c
        return Level1(self.lin + o.lin.scale(q), {t: c for t, c in terms.items() if c})

    def scale(self, q: Fraction) -> Level1:
        return Level1(self.lin.scale(q), {t: c * q for t, c in self.terms.items() if c * q})


@dataclass
class Level2:
    """``l1(x) + sum_b coef_b G_b(arg_b(x))`` with ``arg_b`` a :class:`Level1`."""

    l1: Level1
    blocks: list[tuple[Fraction, Expr, str, Level1]] = field(default_factory=list)

    def add(self, o: Level2, q: Fraction = Fraction(1)) -> Level2:
        return Level2(self.l1.add(o.l1, q),
                      self.blocks + [(c * q, G, k, a) for c, G, k, a in o.blocks])


Y = var(0, "y")
RELU = _node("max", Y, num(0))
ABS = _node("abs", Y)
SQUARE = _pow(Y, Fraction(2))


class CompileError(InputError):
    """The expression needs more than two layers, or uses a form the compiler lacks."""


def _rename(e: Expr, i: int) -> Expr:
    """``e`` with variable i renamed to variable 0 (``y``)."""
    if e.op == "var":
        return Y
    if not e.args:
        return e
    return Expr(e.op, tuple(_rename(a, i) for a in e.args), e.value, e.index, e.name)


def _kind(G: Expr) -> str:
    if G == RELU:
        return "relu"
    if G == ABS:
        return "abs"
    if G == Y:
        return "linear"
    return "smooth"


def compile_expression(expr: Expr, D: int, lo: list[Fraction] | None = None,
                       hi: list[Fraction] | None = None) -> Level2:
    """The two-level form of ``expr`` (module docstring); raises :class:`CompileError`.

    With the domain box ``lo``, ``hi``, a ``relu`` of an affine form of one sign on the box
    is replaced by the form or by 0 (exactly equal there).
    """
    zero = Affine(tuple([Fraction(0)] * D), Fraction(0))
    memo: dict[int, Any] = {}

    def lvl(v) -> int:
        return {"c": 0, "a": 0, "1": 1, "2": 2}[v[0]]

    def as1(v) -> Level1:
        if v[0] == "c":
            return Level1(Affine(zero.coef, v[1]))
        if v[0] == "a":
            return Level1(v[1])
        return v[1]

    def as2(v) -> Level2:
        return v[1] if v[0] == "2" else Level2(as1(v))

    def term1(G: Expr, arg: Affine, coef: Fraction = Fraction(1)):
        return ("1", Level1(zero, {Term(G, arg, _kind(G)): coef}))

    def block(G: Expr, arg: Level1, coef: Fraction = Fraction(1)):
        if not arg.terms:  # an affine argument: a layer-1 term
            if arg.lin.is_const():
                raise CompileError("a function of a constant argument is not compiled; "
                                   "simplify the target")
            if G == RELU and lo is not None:
                # relu of an affine form that keeps one sign on the domain is affine.
                r0, r1 = _range_affine(list(arg.lin.coef), arg.lin.const, lo, hi)
                if r1 <= 0:
                    return ("c", Fraction(0))
                if r0 >= 0:
                    return ("a", arg.lin.scale(coef))
            return term1(G, arg.lin, coef)
        return ("2", Level2(Level1(zero), [(coef, G, _kind(G), arg)]))

    def combine(a, b, q: Fraction):
        if a[0] == "c" and b[0] == "c":
            return ("c", a[1] + q * b[1])
        if max(lvl(a), lvl(b)) == 0:
            la = a[1] if a[0] == "a" else Affine(zero.coef, a[1])
            lb = b[1] if b[0] == "a" else Affine(zero.coef, b[1])
            return ("a", la + lb.scale(q))
        if max(lvl(a), lvl(b)) == 1:
            return ("1", as1(a).add(as1(b), q))
        return ("2", as2(a).add(as2(b), q))

    def scale(a, q: Fraction):
        return combine(("c", Fraction(0)), a, q)

    def relu_of(w):  # relu of a value of level <= 1
        if lvl(w) > 1:
            raise CompileError("a max/min of terms that already need two layers needs three "
                               "layers")
        if w[0] == "c":
            return ("c", max(w[1], Fraction(0)))
        return block(RELU, as1(w))

    def go(e: Expr):
        key = id(e)
        if key in memo:
            return memo[key]
        memo[key] = r = _go(e)
        return r

    def _go(e: Expr):
        used = variables_used(e)
        if not used:
            q = _fold(e)
            if q is None:
                raise CompileError(f"the constant {_text(e)} is not rational; write it "
                                   f"inside a function of one variable")
            return ("c", q)
        op = e.op
        if op == "var":
            c = [Fraction(0)] * D
            c[e.index] = Fraction(1)
            return ("a", Affine(tuple(c), Fraction(0)))
        if op in ("add", "sub"):
            return combine(go(e.args[0]), go(e.args[1]), Fraction(1 if op == "add" else -1))
        if op == "neg":
            return scale(go(e.args[0]), Fraction(-1))
        if op == "mul":
            a, b = go(e.args[0]), go(e.args[1])
            if a[0] == "c":
                return scale(b, a[1])
            if b[0] == "c":
                return scale(a, b[1])
            if len(used) == 1:
                return _single(e, used)
            if max(lvl(a), lvl(b)) > 1:
                raise CompileError(f"{_text(e)}: a product with a factor that already needs "
                                   f"two layers needs three")
            u, v = as1(a), as1(b)
            s, d = u.add(v), u.add(v, Fraction(-1))
            first = block(SQUARE, s, Fraction(1, 4))
            if d.terms or any(d.lin.coef):
                return combine(first, block(SQUARE, d, Fraction(-1, 4)), Fraction(1))
            return combine(first, ("c", -d.lin.const ** 2 / 4), Fraction(1))
        if op == "div":
            b = go(e.args[1])
            if b[0] == "c" and b[1] != 0:
                return scale(go(e.args[0]), 1 / b[1])
            if len(used) == 1:
                return _single(e, used)
            raise CompileError(f"{_text(e)}: division by a function of several variables is "
                               f"not compiled")
        if op in ("max", "min"):
            vals = [go(a) for a in e.args]
            acc = vals[0]
            for v in vals[1:]:
                if op == "max":  # max(a, v) = a + relu(v - a)
                    acc = combine(acc, relu_of(combine(v, acc, Fraction(-1))), Fraction(1))
                else:  # min(a, v) = a - relu(a - v)
                    acc = combine(acc, relu_of(combine(acc, v, Fraction(-1))), Fraction(-1))
            return acc
        if len(used) == 1:
            return _single(e, used)
        # A function of one argument of several variables.
        if op == "pow" or len(e.args) == 1:
            a = go(e.args[0])
            if lvl(a) > 1:
                raise CompileError(f"{_text(e)}: a function of a term that already needs "
                                   f"two layers needs three")
            G = _pow(Y, e.value) if op == "pow" else _node(op, Y)
            return block(G, as1(a))
        raise CompileError(f"{_text(e)}: not compiled into two layers")

    def _single(e: Expr, used) -> Any:
        (i,) = used
        c = [Fraction(0)] * D
        c[i] = Fraction(1)
        return term1(_rename(e, i), Affine(tuple(c), Fraction(0)))

    out = go(expr)
    return as2(out)


def _text(e: Expr) -> str:
    from certify.expression import text
    return text(e)


def compile_relu_network(layers, D: int, lo: list[Fraction], hi: list[Fraction]) -> Level2:
    """``W3 relu(W2 relu(W1 x + b1) + b2) + b3`` (or one hidden layer) in two-level form.

    A first-layer unit of one sign on the domain box is replaced exactly by 0 or by its
    pre-activation."""
    if not 2 <= len(layers) <= 3 or layers[-1][0].shape[0] != 1:
        raise CompileError("the two-layer construction takes a ReLU network with one or two "
                           "hidden layers and one output")
    q = lambda v: Fraction(float(v))  # noqa: E731
    (W1, b1) = layers[0]
    units = []
    for u in range(W1.shape[0]):
        arg = Affine(tuple(q(w) for w in W1[u]), q(b1[u]))
        r0, r1 = _range_affine(list(arg.coef), arg.const, lo, hi)
        zero_lin = Affine(tuple([Fraction(0)] * D), Fraction(0))
        if r1 <= 0:
            units.append(Level1(zero_lin))
        elif r0 >= 0:
            units.append(Level1(arg))
        else:
            units.append(Level1(zero_lin, {Term(RELU, arg, "relu"): Fraction(1)}))
    Wl, bl = layers[-1]
    zero = Level1(Affine(tuple([Fraction(0)] * D), q(bl[0])))
    if len(layers) == 2:
        out = zero
        for u, lv in enumerate(units):
            out = out.add(lv, q(Wl[0, u]))
        return Level2(out)
    W2, b2 = layers[1]
    res = Level2(zero)
    for v in range(W2.shape[0]):
        arg = Level1(Affine(tuple([Fraction(0)] * D), q(b2[v])))
        for u, lv in enumerate(units):
            arg = arg.add(lv, q(W2[v, u]))
        c = q(Wl[0, v])
        if not c:
            continue
        if not arg.terms:
            if arg.lin.is_const():
                res = res.add(Level2(Level1(Affine(zero.lin.coef, max(arg.lin.const, 0) * c))))
            else:
                res = res.add(Level2(Level1(Affine(zero.lin.coef, Fraction(0)),
                                            {Term(RELU, arg.lin, "relu"): c})))
            continue
        res.blocks.append((c, RELU, "relu", arg))
    return res


# -- blocks ---------------------------------------------------------------------------------

@dataclass
class Block:
    """``coef G(sigma)``, ``sigma = P . z + t``, as ramps over knots (module docstring)."""

    G: Expr
    kind: str
    P: list[Fraction]
    t: Fraction
    coef: Fraction
    lo: Fraction = Fraction(0)  # range of the exact latent
    hi: Fraction = Fraction(0)
    knots: list[Fraction] = field(default_factory=list)
    c: list[arb] = field(default_factory=list)  # exact increments coef (G(y+) - G(y))
    c_f: list[float] = field(default_factory=list)
    P_f: list[list[float]] = field(default_factory=list)  # per ramp
    t_f: list[float] = field(default_factory=list)
    g0: arb | None = None  # coef G(y_0)
    knot_error: float = 0.0


def _range_affine(P: list[Fraction], t: Fraction, zlo: list[Fraction], zhi: list[Fraction]
                  ) -> tuple[Fraction, Fraction]:
    lo = hi = t
    for p, a, b in zip(P, zlo, zhi):
        lo += min(p * a, p * b)
        hi += max(p * a, p * b)
    return lo, hi


def _down(q: Fraction) -> float:
    f = float(q)
    return f if Fraction(f) <= q else math.nextafter(f, -math.inf)


def _upf(q: Fraction) -> float:
    f = float(q)
    return f if Fraction(f) >= q else math.nextafter(f, math.inf)


def place_knots(b: Block, budget: float) -> None:
    """Knots covering ``[b.lo, b.hi]`` and the block's ramps (stored floats, exact data)."""
    lo_f, hi_f = _down(b.lo), _upf(b.hi)
    if not lo_f < hi_f:
        hi_f = math.nextafter(lo_f, math.inf) if lo_f == hi_f else hi_f
    if b.kind in ("relu", "abs", "linear"):
        ys = [lo_f, hi_f] if (lo_f >= 0 or hi_f <= 0 or b.kind == "linear") else [lo_f, 0.0,
                                                                                   hi_f]
        b.knots = [Fraction(y) for y in ys]
        b.knot_error = 0.0  # G is affine between consecutive knots: the interpolant is G
    else:
        tgt = Target({}, 1, b.G)
        scaled = budget / max(abs(float(b.coef)), 1e-300)
        b.knots = adaptive_knots(tgt, lo_f, hi_f, scaled, None)
        b.knot_error = interpolant_error(tgt, b.knots, None) * abs(float(b.coef)) * (1 + 2**-40)
    with ctx.workprec(ARB_PREC):
        Gy = [_f_arb(b.G, [y]) for y in b.knots]
        cq = _arb_q(b.coef)
        b.g0 = cq * Gy[0]
        b.c = [cq * (Gy[i + 1] - Gy[i]) for i in range(len(b.knots) - 1)]
    b.c_f, b.P_f, b.t_f = [], [], []
    for i in range(len(b.knots) - 1):
        h = b.knots[i + 1] - b.knots[i]
        b.c_f.append(_float_mid(b.c[i]) if not b.c[i].is_zero() else 0.0)
        b.P_f.append([float(p / h) for p in b.P])
        b.t_f.append(float((b.t - b.knots[i]) / h))


def _ramps(b: Block) -> list[int]:
    """The ramps that become heads: those with a non-zero stored coefficient."""
    return [i for i, c in enumerate(b.c_f) if c != 0.0]


@dataclass
class Program:
    """Features (layer 1), layer-2 blocks and the output map of a two-layer construction."""

    D: int
    lo: list[Fraction]
    hi: list[Fraction]
    affine_features: list[int]  # input coordinate of each affine feature
    feature_blocks: list[Block]  # one block per layer-1 feature (coef 1, P over x)
    blocks2: list[Block]  # P over the features (affine features first)
    omega: list[Fraction]  # output weight of each feature
    bias: Fraction
    lifted: bool

    @property
    def n_features(self) -> int:
        return len(self.affine_features) + len(self.feature_blocks)


def program_from(level: Level2, D: int, lo: list[Fraction], hi: list[Fraction]) -> Program:
    """Features and blocks of the two-level form (lifting a layer-1-only form)."""
    top = level.l1
    lifted = not level.blocks
    terms: list[Term] = []
    index: dict[Term, int] = {}

    def feat(t: Term) -> int:
        if t not in index:
            index[t] = len(terms)
            terms.append(t)
        return index[t]

    blocks2 = []
    omega_terms: dict[int, Fraction] = {}
    lin_out = top.lin
    if lifted:
        # Layer 1: the distinct affine arguments as truncated linear features (identity
        # blocks); layer 2: the functions of them.
        args: dict[Affine, int] = {}
        for t, c in top.terms.items():
            if t.arg not in args:
                args[t.arg] = feat(Term(Y, t.arg, "linear"))
            blocks2.append(("feature", args[t.arg], c, t.G, t.kind))
    else:
        for t, c in top.terms.items():
            omega_terms[feat(t)] = omega_terms.get(feat(t), Fraction(0)) + c
        for c, G, kind, arg in level.blocks:
            for t in arg.terms:
                feat(t)
            blocks2.append(("level1", arg, c, G, kind))
    if len(terms) + len(blocks2) > MAX_BLOCKS:
        raise CompileError(f"more than {MAX_BLOCKS} blocks")
    used = set(i for i in range(D) if top.lin.coef[i])
    for item in blocks2:
        if item[0] == "level1":
            used |= {i for i in range(D) if item[1].lin.coef[i]}
    aff = sorted(used)
    nA = len(aff)
    fblocks = []
    for t in terms:
        b = Block(t.G, t.kind, list(t.arg.coef), t.arg.const, Fraction(1))
        b.lo, b.hi = _range_affine(b.P, b.t, lo, hi)
        fblocks.append(b)
    R = nA + len(fblocks)
    out_blocks = []
    for item in blocks2:
        if item[0] == "feature":
            _, f, c, G, kind = item
            P = [Fraction(0)] * R
            P[nA + f] = Fraction(1)
            out_blocks.append(Block(G, kind, P, Fraction(0), c))
        else:
            _, arg, c, G, kind = item
            P = [Fraction(0)] * R
            for a, i in enumerate(aff):
                P[a] += arg.lin.coef[i]
            for t, q in arg.terms.items():
                P[nA + index[t]] += q
            out_blocks.append(Block(G, kind, P, arg.lin.const, c))
    omega = [Fraction(0)] * R
    for a, i in enumerate(aff):
        omega[a] = lin_out.coef[i]
    for f, c in omega_terms.items():
        omega[nA + f] = c
    return Program(D, lo, hi, aff, fblocks, out_blocks, omega, lin_out.const, lifted)


def feature_ranges(prog: Program) -> list[tuple[Fraction, Fraction]]:
    """Exact-rational enclosures of the exact features' ranges over the domain."""
    out = [(prog.lo[i], prog.hi[i]) for i in prog.affine_features]
    for b in prog.feature_blocks:
        k = 256
        ys = np.linspace(_down(b.lo), _upf(b.hi), k + 1)
        ys[0], ys[-1] = _down(b.lo), _upf(b.hi)
        glo, ghi = enclose_numpy(b.G, [ys[:-1]], [ys[1:]])
        lo_, hi_ = float(np.min(glo)), float(np.max(ghi))
        if not (math.isfinite(lo_) and math.isfinite(hi_)):
            raise InputError(f"cannot enclose {_text(b.G)} on [{float(b.lo):.6g}, "
                             f"{float(b.hi):.6g}]")
        out.append((Fraction(lo_), Fraction(hi_)))
    return out


# -- the network ----------------------------------------------------------------------------

@dataclass
class Built2:
    net: AttentionNet
    hints1: list[GridHint]
    hints2: list[GridHint]
    construction: dict[str, Any]
    resources: dict[str, Any]
    program: Program
    bound: dict[str, float] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        return dict(self.resources)

    def structure_json(self) -> dict[str, Any]:
        return {"outputs": [{"layer1": [h.to_json_obj() for h in self.hints1],
                             "layer2": [h.to_json_obj() for h in self.hints2]}]}


def _beta_G(kappa: float) -> float:
    return float(LEAK + 1 + 0.26 * kappa)


def build_network(prog: Program, p: int, kappa: float) -> tuple[AttentionNet, list, list]:
    """The two-layer network of a placed program with ``p = 2^k + 1`` anchors."""
    k = int(round(math.log2(p - 1)))
    if 2 ** k + 1 != p:
        raise InputError("p must be 2^k + 1")
    D = prog.D
    L = [j / (p - 1) for j in range(p)]
    beta = kappa * float((p - 1) ** 2)
    if not math.isfinite(beta) or Fraction(beta) != Fraction(kappa) * (p - 1) ** 2:
        raise InputError("beta = kappa (p - 1)^2 is not exact in binary64; choose another "
                         "kappa")
    bG = _beta_G(kappa)
    ramps1 = [(f, i) for f, b in enumerate(prog.feature_blocks) for i in _ramps(b)]
    ramps2 = [(g, i) for g, b in enumerate(prog.blocks2) for i in _ramps(b)]
    if not ramps2:
        raise InputError("the compiled target has no layer-2 term")
    if not ramps1:
        raise InputError("the compiled target has no layer-1 feature")
    U1 = len(ramps1)
    nA = len(prog.affine_features)
    R = prog.n_features
    lat0 = 0
    feat0 = U1
    row_one, row_l, row_l2, row_out = U1 + R, U1 + R + 1, U1 + R + 2, U1 + R + 3
    dz = U1 + R + 4
    weights, bias = [], [(row_one, 0, 1.0)]
    for u, (f, i) in enumerate(ramps1):
        b = prog.feature_blocks[f]
        weights += [(lat0 + u, 0, v, 0, b.P_f[i][v]) for v in range(D) if b.P_f[i][v] != 0]
        if b.t_f[i] != 0:
            bias.append((lat0 + u, 0, b.t_f[i]))
    for a, i in enumerate(prog.affine_features):
        weights.append((feat0 + a, 0, i, 0, 1.0))
    for f, b in enumerate(prog.feature_blocks):
        g0 = _float_mid(b.g0)
        if g0 != 0:
            bias.append((feat0 + nA + f, 0, g0))
    for j, x in enumerate(L):
        if x != 0:
            bias += [(row_l, 1 + j, x), (row_l2, 1 + j, x * x)]
    affine = SequenceAffine((dz, 1 + p), np.array(weights, float).reshape(-1, 5),
                            np.array(bias, float).reshape(-1, 3))

    def head(qrow: dict[int, float], w_o_row: int, c: float) -> Head:
        W_Q = np.zeros((2, dz))
        for r, v in qrow.items():
            W_Q[0, r] = v
        W_Q[1, row_one] = 1.0
        W_K = np.zeros((2, dz))
        W_K[0, row_l] = 2 * beta
        W_K[1, row_l2] = -beta
        W_K[1, row_one] = -bG
        W_V = np.zeros((1, dz))
        W_V[0, row_l] = 1.0
        W_O = np.zeros((dz, 1))
        W_O[w_o_row, 0] = c
        return Head(W_Q, W_K, W_V, W_O)

    axes = (tuple(L),)
    heads1, hints1 = [], []
    for u, (f, i) in enumerate(ramps1):
        b = prog.feature_blocks[f]
        heads1.append(head({lat0 + u: 1.0}, feat0 + nA + f, b.c_f[i]))
        hints1.append(GridHint((tuple(b.P_f[i]),), (b.t_f[i],), (beta,), axes, 1, (1,)))
    heads2, hints2 = [], []
    for g, i in ramps2:
        b = prog.blocks2[g]
        q = {feat0 + r: b.P_f[i][r] for r in range(R) if b.P_f[i][r] != 0}
        if b.t_f[i] != 0:
            q[row_one] = b.t_f[i]
        heads2.append(head(q, row_out, b.c_f[i]))
        hints2.append(GridHint((tuple(b.P_f[i]),), (b.t_f[i],), (beta,), axes, 1, (1,)))
    W = np.zeros((1, dz))
    W[0, row_out] = 1.0
    for r in range(R):
        W[0, feat0 + r] = float(prog.omega[r])
    with ctx.workprec(ARB_PREC):
        bias_arb = _arb_q(prog.bias) + sum((b.g0 for b in prog.blocks2), arb(0))
    out_map = TokenAffine(W, np.array([[_float_mid(bias_arb)]]))
    net = AttentionNet((D, 1), (affine, Attention(tuple(heads1), True),
                                Attention(tuple(heads2), True), SelectColumns((0,)), out_map))
    return net, hints1, hints2


# -- the a-priori bound ---------------------------------------------------------------------

def _ramp_rounding(b: Block, i: int, zmax: list[Fraction]) -> Fraction:
    """``sup |s~_i(z) - (sigma(z) - y_i) / h_i|`` for ``|z_r| <= zmax_r`` (exact)."""
    h = b.knots[i + 1] - b.knots[i]
    err = abs(Fraction(b.t_f[i]) - (b.t - b.knots[i]) / h)
    for r, p in enumerate(b.P):
        err += abs(Fraction(b.P_f[i][r]) - p / h) * zmax[r]
    return err


def _block_terms(b: Block, zmax: list[Fraction], delta: float, kc: dict, leak: arb,
                 own_constant: bool) -> tuple[arb, float]:
    """``(error of the block against coef G(sigma), Lip of its interpolant)``.

    The error holds at inputs ``|z_r| <= zmax_r`` with the block's latent computed from
    those inputs; ``own_constant``: the block stores ``coef G(y_0)`` rounded by itself
    (a feature) rather than in the output bias.
    """
    idx = _ramps(b)
    W = [abs(b.c_f[i]) for i in idx]
    err = arb(b.knot_error)
    if own_constant:
        err += abs(arb(_float_mid(b.g0)) - b.g0)
    for i in range(len(b.c)):  # dropped ramps (stored 0) count with their whole size
        err += abs(arb(b.c_f[i]) - b.c[i])
    for i in idx:
        err += abs(b.c_f[i]) * _arb_q(_ramp_rounding(b, i, zmax))
    if W:
        err += arb(delta * (kc["c_in"] * max(W) + kc["c_out"] * sum(W))) + leak * sum(W)
    lip = max((abs(b.c_f[i]) / float(b.knots[i + 1] - b.knots[i]) for i in idx), default=0.0)
    return err, lip * (1 + 2 ** -40)


def a_priori_bound(prog: Program, p: int, kappa: float) -> dict[str, float]:
    """Proved bound of ``sup |N - f|`` over the domain (module docstring, section 10)."""
    delta = 1.0 / (p - 1)
    kc = kernel_constants(Fraction(kappa))
    franges = feature_ranges(prog)
    xmax = [max(abs(a), abs(b)) for a, b in zip(prog.lo, prog.hi)]
    with ctx.workprec(ARB_PREC):
        leak = (-arb(_beta_G(kappa)) + _arb_q(Fraction(kappa)) / 4).exp()
        E = [arb(0)] * len(prog.affine_features)
        knots1 = 0.0
        for b in prog.feature_blocks:
            e, _ = _block_terms(b, xmax, delta, kc, leak, True)
            E.append(e)
            knots1 += b.knot_error
        Eu = [Fraction(_up(e)) for e in E]
        fmax = [max(abs(a), abs(b)) + e for (a, b), e in zip(franges, Eu)]
        total = arb(0)
        for r, w in enumerate(prog.omega):
            wf = float(w)
            total += abs(wf) * E[r] + abs(_arb_q(Fraction(wf) - w)) * _arb_q(
                max(abs(franges[r][0]), abs(franges[r][1])))
        layer2 = arb(0)
        for b in prog.blocks2:
            e, lip = _block_terms(b, fmax, delta, kc, leak, False)
            prop = sum((abs(_arb_q(pr)) * E[r] for r, pr in enumerate(b.P) if pr), arb(0))
            layer2 += e + lip * prop
        bias_arb = _arb_q(prog.bias) + sum((b.g0 for b in prog.blocks2), arb(0))
        bias_err = abs(arb(_float_mid(bias_arb)) - bias_arb)
        total += layer2 + bias_err
        heads = delta * (kc["c_in"] + kc["c_out"])
    return {"bound": _up(total) * (1 + 2 ** -40), "layer1_features": max(
        [_up(e) for e in E] + [0.0]), "layer2": _up(layer2), "knots": knots1 + sum(
        b.knot_error for b in prog.blocks2), "head_factor": heads}


# -- resolve --------------------------------------------------------------------------------

def _place_all(prog: Program, budget: float) -> None:
    franges = None
    for b in prog.feature_blocks:
        place_knots(b, budget)
    franges = feature_ranges(prog)
    flo = [a for a, _ in franges]
    fhi = [b for _, b in franges]
    for b in prog.blocks2:
        # The latent of the exact features; its knots cover that range.
        b.lo, b.hi = _range_affine(b.P, b.t, flo, fhi)
        place_knots(b, budget)


def _level(target: Target, lo: list[Fraction], hi: list[Fraction]) -> Level2:
    if target.layers is not None:
        return compile_relu_network(target.layers, target.d, lo, hi)
    return compile_expression(target.expr, target.d, lo, hi)


def resolve(target: Target, lo: np.ndarray, hi: np.ndarray, construction: dict[str, Any],
            epsilon: float | None) -> Built2:
    """Compile, place knots and choose ``p`` so that the a-priori bound is <= epsilon."""
    kappa = float(construction.get("kappa", DEFAULT_KAPPA))
    lo_q = [Fraction(float(v)) for v in lo]
    hi_q = [Fraction(float(v)) for v in hi]
    level = _level(target, lo_q, hi_q)
    p_given = construction.get("p")
    kerr = construction.get("knot_error")
    if kerr is None:
        if epsilon is None:
            raise InputError("give construction.knot_error and construction.p, or epsilon")
        kerr = epsilon / 8
    kerr = float(kerr)
    prog = None
    for _ in range(12):
        prog = program_from(level, target.d, lo_q, hi_q)
        n_blocks = len(prog.feature_blocks) + len(prog.blocks2)
        _place_all(prog, kerr / max(1, n_blocks) ** 0.5)
        if epsilon is None or p_given is not None:
            break
        # The knot part alone (heads of zero error) must leave room for the heads.
        if a_priori_bound(prog, 2 ** MAX_LOG2_P + 1, kappa)["bound"] <= 0.7 * epsilon:
            break
        kerr /= 2
    assert prog is not None
    if p_given is not None:
        p = int(p_given)
        bound = a_priori_bound(prog, p, kappa)
    else:
        for k in range(2, MAX_LOG2_P + 1):
            p = 2 ** k + 1
            bound = a_priori_bound(prog, p, kappa)
            if bound["bound"] <= epsilon:
                break
        else:
            raise InputError(f"could not meet epsilon = {epsilon:g} with the a-priori bound "
                             f"within {2 ** MAX_LOG2_P + 1} anchors")
    net, hints1, hints2 = build_network(prog, p, kappa)
    heads1 = len(net.layers[1].heads)
    heads2 = len(net.layers[2].heads)
    resources = {"tokens": 1 + p, "anchors": p, "heads_layer1": heads1,
                 "heads_layer2": heads2, "features": prog.n_features,
                 "width": net.layers[0].out_shape[0], "parameters": _parameter_count(net),
                 "kappa": kappa, "beta": kappa * float((p - 1) ** 2),
                 "lifted": prog.lifted}
    cons = {"p": p, "kappa": kappa, "knot_error": kerr}
    return Built2(net, hints1, hints2, cons, resources, prog, bound)


def parameters_json(built: Built2) -> dict[str, Any]:
    out = dict(built.resources)
    out["a_priori_bound"] = built.bound["bound"]
    return _jsonable(out)


def conformance(cert_obj: dict[str, Any]) -> tuple[bool, str]:
    """Is the certificate's network the one this construction builds?  (A separate statement
    from the error claim.)"""
    from theorems.uap import rebuild, same_as_built

    built, why = rebuild(ID, cert_obj, resolve)
    if built is None:
        return False, why
    why = same_as_built(cert_obj, built.net, built.structure_json(), parameters_json(built))
    if why is not None:
        return False, why
    return True, (f"the network is theorem {ID} with {built.resources['anchors']} anchors, "
                  f"{built.resources['heads_layer1']} + {built.resources['heads_layer2']} "
                  f"heads")
