"""Mix heads: layer-1 heads whose scores and values both depend on the input.

* Exact analysis: hand-built networks give the expected :class:`MixHead` data (exact
  Fractions); the decomposition, evaluated in mpmath, equals a 50-digit evaluation of the
  layers themselves; a head whose query and keys both read the input is refused.
* Engine: ``prepare_composed(...).network_at`` encloses N and every dN/dx_v (mpmath values
  at random points of random boxes, small and large).
* Checker, both backends: ``output_set`` contains the mpmath value; ``box_bound`` is at least
  the dense mpmath error and, on small boxes, close to it.
* Mutations: an enclosure shifted by 1e-3, or the mix output replaced by the hull of the
  values, is noticed.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest

from certify import composed_enclosure
from certify.check import composed_bound
from certify.check.backends import make_backend
from certify.check.composed_bound import ComposedChecker
from certify.check.expr_backends import ArbOps, PyIntervalOps
from certify.composed_enclosure import prepare_composed
from certify.exact_scores import StructureError
from certify.exact_two_layer import MixHead, analyse_two_layer
from certify.expression import MpOps, evaluate, gradient, parse
from certify.network import Attention, AttentionNet, Head, SelectColumns, TokenAffine

DPS = 50
BETA = 8.0
MASK = -40.0
N_TOK = 3
# Rows of Z: x, one, three positional one-hot rows, then the rows the heads write.
X_ROW, ONE, POS, R_MIX, R_GATHER, R_L2 = 0, 1, 2, 5, 6, 7
BACKENDS = [("flint", ArbOps), ("pyinterval", PyIntervalOps)]


# -- networks ----------------------------------------------------------------------------------

def _first_layer(dz: int) -> TokenAffine:
    W = np.zeros((dz, 1))
    W[X_ROW, 0] = 1.0
    b = np.zeros((dz, N_TOK))
    b[ONE, :] = 1.0
    for k in range(N_TOK):
        b[POS + k, k] = 1.0
    return TokenAffine(W, b)


def _running_max_head(dz: int, beta: float = BETA, query_reads_x: bool = False) -> Head:
    """Score of key j at query k: ``beta x_j + (0 if j <= k else MASK)``; value ``x_j`` into
    row R_MIX."""
    WQ, WK = np.zeros((1 + N_TOK, dz)), np.zeros((1 + N_TOK, dz))
    WQ[0, ONE] = beta
    WK[0, X_ROW] = 1.0
    for i in range(N_TOK):
        WK[1 + i, POS + i] = 1.0
        for k in range(i):  # key i is masked at queries k < i
            WQ[1 + i, POS + k] = MASK
    if query_reads_x:
        WQ[0, X_ROW] = 1.0
    WV = np.zeros((1, dz))
    WV[0, X_ROW] = 1.0
    WO = np.zeros((dz, 1))
    WO[R_MIX, 0] = 1.0
    return Head(WQ, WK, WV, WO)


def _zero_head(dz: int) -> Head:
    return Head(np.zeros((1, dz)), np.zeros((1, dz)), np.zeros((1, dz)), np.zeros((dz, 1)))


def running_max_net(query_reads_x: bool = False) -> AttentionNet:
    """Output at token k: ``sum_{j} softmax_j(beta x_j + mask) x_j``, a soft running maximum."""
    dz = 6
    Wout = np.zeros((1, dz))
    Wout[0, R_MIX] = 1.0
    return AttentionNet((1, N_TOK), (
        _first_layer(dz),
        Attention((_running_max_head(dz, query_reads_x=query_reads_x),), True),
        Attention((_zero_head(dz),), True),
        SelectColumns(tuple(range(N_TOK))),
        TokenAffine(Wout, np.zeros((1, N_TOK)))))


L2_VALUES = (0.5, -0.25, 1.0)


def mixed_net() -> AttentionNet:
    """A mix head (row R_MIX), a gather head attending to token 0 (value ``x_j`` into row
    R_GATHER) and a layer-2 head with scores ``(j - 1) (2 R_MIX - R_GATHER)`` and values
    ``L2_VALUES[j]`` (into row R_L2); output ``R_MIX + R_GATHER / 2 + R_L2``."""
    dz = 8
    gq, gk = np.zeros((1, dz)), np.zeros((1, dz))
    gq[0, ONE] = 30.0
    gk[0, POS] = 1.0
    gv = np.zeros((1, dz))
    gv[0, X_ROW] = 1.0
    go = np.zeros((dz, 1))
    go[R_GATHER, 0] = 1.0
    q2, k2, v2, o2 = np.zeros((1, dz)), np.zeros((1, dz)), np.zeros((1, dz)), np.zeros((dz, 1))
    q2[0, R_MIX], q2[0, R_GATHER] = 2.0, -1.0
    k2[0, POS], k2[0, POS + 2] = -1.0, 1.0
    for i, val in enumerate(L2_VALUES):
        v2[0, POS + i] = val
    o2[R_L2, 0] = 1.0
    Wout = np.zeros((1, dz))
    Wout[0, R_MIX], Wout[0, R_GATHER], Wout[0, R_L2] = 1.0, 0.5, 1.0
    return AttentionNet((1, N_TOK), (
        _first_layer(dz),
        Attention((_running_max_head(dz), Head(gq, gk, gv, go)), True),
        Attention((Head(q2, k2, v2, o2),), True),
        SelectColumns(tuple(range(N_TOK))),
        TokenAffine(Wout, np.zeros((1, N_TOK)))))


# -- mpmath references ---------------------------------------------------------------------------

def mp_layers(net: AttentionNet, x) -> list[list]:
    """All outputs ``Y[o][k]`` at input x (d = 1: ``X[0, k] = x[k]``), from the layers, in
    the current mpmath precision; no structure of the decomposition is used."""
    mpf = mpmath.mpf
    first = net.layers[0]
    dz = first.weight.shape[0]
    Z = [[mpf(float(first.bias[a, j])) + mpf(float(first.weight[a, 0])) * x[j]
          for j in range(N_TOK)] for a in range(dz)]
    for layer in net.layers[1:3]:
        out = [row[:] for row in Z]
        for h in layer.heads:
            def mat(W, Z=Z):
                return [[mpmath.fsum(mpf(float(W[r, a])) * Z[a][j] for a in range(dz)
                                     if W[r, a] != 0) for j in range(N_TOK)]
                        for r in range(W.shape[0])]
            Q, K, V = mat(h.W_Q), mat(h.W_K), mat(h.W_O @ h.W_V)
            for q in range(N_TOK):
                s = [mpmath.fsum(K[r][j] * Q[r][q] for r in range(len(K)))
                     for j in range(N_TOK)]
                top = max(s)
                e = [mpmath.exp(v - top) for v in s]
                tot = mpmath.fsum(e)
                for o in range(dz):
                    out[o][q] += mpmath.fsum(e[j] * V[o][j] for j in range(N_TOK)) / tot
        Z = out
    cols = list(net.layers[3].columns)
    W, b = net.layers[4].weight, net.layers[4].bias
    return [[mpmath.fsum(mpf(float(W[o, a])) * Z[a][c] for a in range(dz)) +
             mpf(float(b[o, k])) for k, c in enumerate(cols)] for o in range(W.shape[0])]


def mp_output(net, out, x):
    """Output entry ``out`` (token, row) at the float point x, 50 digits."""
    with mpmath.workdps(DPS):
        return mp_layers(net, [mpmath.mpf(float(v)) for v in x])[out.row][out.token]


def mp_gradient(net, out, x):
    """Its partial derivatives (mpmath.diff on the layer evaluation)."""
    with mpmath.workdps(DPS):
        def f(*xs):
            return mp_layers(net, list(xs))[out.row][out.token]
        pt = [mpmath.mpf(float(v)) for v in x]
        return [mpmath.diff(f, pt, tuple(int(i == v) for i in range(len(x))))
                for v in range(len(x))]


def inside(lo: float, val: mpmath.mpf, hi: float) -> bool:
    """``lo <= val <= hi`` up to the reference's own error: the 50-digit value of an exact
    ``x`` (all values equal) may land 1e-50 outside an exact enclosure end."""
    with mpmath.workdps(DPS):
        tol = mpmath.mpf(10) ** -35 * (1 + abs(val))
        return bool(lo - tol <= val <= hi + tol)


def _q(v) -> mpmath.mpf:
    v = Fraction(v)
    return mpmath.mpf(v.numerator) / v.denominator


def _softmax_mean(A, B, V0, V1, x):
    s = [_q(a) + mpmath.fsum(_q(b) * xv for b, xv in zip(bj, x)) for a, bj in zip(A, B)]
    top = max(s)
    e = [mpmath.exp(v - top) for v in s]
    vals = [_q(v0) + mpmath.fsum(_q(c) * xv for c, xv in zip(v1, x)) for v0, v1 in zip(V0, V1)]
    return mpmath.fsum(ej * vj for ej, vj in zip(e, vals)) / mpmath.fsum(e)


def mp_decomposed(out, x):
    """The decomposition of :mod:`certify.exact_two_layer` evaluated in mpmath."""
    with mpmath.workdps(DPS):
        x = [mpmath.mpf(float(v)) for v in x]
        D = len(x)
        phi = []
        for f in out.features:
            v = _q(f.a) + mpmath.fsum(_q(b) * xv for b, xv in zip(f.b, x))
            for hs in f.anchor:
                v += _softmax_mean(hs.A, hs.B, hs.V, [(0,) * D] * len(hs.A), x)
            for g in f.gather:
                v += _softmax_mean(g.A, [(0,) * D] * len(g.A), g.V0, g.V1, x)
            for mx in f.mix:
                v += _softmax_mean(mx.A, mx.B, mx.V0, mx.V1, x)
            phi.append(v)
        N = _q(out.const) + mpmath.fsum(_q(w) * p for w, p in zip(out.omega, phi))
        for hs in out.heads:
            N += _softmax_mean(hs.A, hs.B, hs.V, [(0,) * len(phi)] * len(hs.A), phi)
        return N


# -- exact analysis ------------------------------------------------------------------------------

def _expected_mix(k: int) -> MixHead:
    F = Fraction
    A = [F(0) if j <= k else F(MASK) for j in range(N_TOK)]
    B = [tuple(F(BETA) if v == j else F(0) for v in range(N_TOK)) for j in range(N_TOK)]
    V0 = [F(0)] * N_TOK
    V1 = [tuple(F(int(v == j)) for v in range(N_TOK)) for j in range(N_TOK)]
    return MixHead(0, A, B, V0, V1)


def test_analysis_gives_exact_mix_heads():
    outs = analyse_two_layer(running_max_net())
    assert [(o.token, o.row) for o in outs] == [(k, 0) for k in range(N_TOK)]
    for k, out in enumerate(outs):
        (f,) = out.features
        assert f.row == R_MIX and f.a == 0 and f.b == (0,) * N_TOK
        assert not f.anchor and not f.anchor_ids and not f.gather
        assert f.mix == [_expected_mix(k)]
        assert out.omega == [1] and out.const == 0 and not out.heads


def test_analysis_of_mixed_network():
    F = Fraction
    outs = analyse_two_layer(mixed_net())
    for k, out in enumerate(outs):
        f_mix, f_gather = out.features
        assert f_mix.row == R_MIX and f_mix.mix == [_expected_mix(k)] and not f_mix.gather
        assert f_gather.row == R_GATHER and not f_gather.mix and not f_gather.anchor
        (g,) = f_gather.gather
        assert g.head == 1 and g.A == [F(30), F(0), F(0)] and g.V0 == [F(0)] * N_TOK
        assert g.V1 == [tuple(F(int(v == j)) for v in range(N_TOK)) for j in range(N_TOK)]
        assert out.omega == [F(1), F(1, 2)] and out.head_ids == [0]
        (h,) = out.heads
        assert h.A == [F(0)] * N_TOK
        assert h.B == [(F(2 * (j - 1)), F(-(j - 1))) for j in range(N_TOK)]
        assert h.V == [F(v) for v in L2_VALUES]


@pytest.mark.parametrize("make", [running_max_net, mixed_net])
def test_decomposition_reproduces_the_layers(make):
    net = make()
    outs = analyse_two_layer(net)
    rng = np.random.default_rng(11)
    for _ in range(4):
        x = rng.uniform(-2, 2, N_TOK)
        for out in outs:
            assert abs(mp_decomposed(out, x) - mp_output(net, out, x)) < mpmath.mpf(10) ** -40


def test_quadratic_scores_are_refused():
    with pytest.raises(StructureError, match="layer-1 head 0: its scores are quadratic in "
                                             "the input"):
        analyse_two_layer(running_max_net(query_reads_x=True))


# -- engine --------------------------------------------------------------------------------------

def _prepared(out):
    return prepare_composed(out, [[None] * len(f.anchor) for f in out.features],
                            [None] * len(out.heads))


def _random_boxes(rng, widths, count):
    boxes = []
    for _ in range(count):
        w = float(rng.choice(widths))
        a = rng.uniform(-1.5, 1.5 - w, N_TOK)
        boxes.append([(float(u), float(u + w)) for u in a])
    # A box where the three values are close: the weights are spread, the maximum switches.
    c = float(rng.uniform(-1, 1))
    boxes.append([(c - 0.004, c + 0.006), (c - 0.005, c + 0.005), (c - 0.006, c + 0.004)])
    return boxes


def _points(rng, box, count):
    pts = [np.array([rng.uniform(u, v) for u, v in box]) for _ in range(count)]
    return pts + [np.array([u for u, _ in box]), np.array([v for _, v in box])]


def _engine_contains(pc, net, out, box, pts, grad=True):
    lo = np.array([[u for u, _ in box]])
    hi = np.array([[v for _, v in box]])
    o, de = pc.network_at(lo, hi, grad)
    ok = True
    for x in pts:
        val = mp_output(net, out, x)
        ok &= inside(o[0][0], val, o[1][0])
        if grad:
            for v, dv in enumerate(mp_gradient(net, out, x)):
                ok &= inside(de[v][0][0], dv, de[v][1][0])
    return ok, o, de


@pytest.mark.parametrize("make", [running_max_net, mixed_net])
def test_engine_encloses_value_and_derivatives(make):
    net = make()
    rng = np.random.default_rng(5)
    for out in analyse_two_layer(net):
        pc = _prepared(out)
        for box in _random_boxes(rng, [1e-3, 0.01, 0.3, 1.0, 3.0], 4):
            ok, o, de = _engine_contains(pc, net, out, box, _points(rng, box, 3))
            assert ok
            assert all(math.isfinite(e) for e in (o[0][0], o[1][0]))
            assert all(math.isfinite(e) for p in de for e in (p[0][0], p[1][0]))


def test_engine_batch_equals_single_boxes():
    net = mixed_net()
    out = analyse_two_layer(net)[2]
    pc = _prepared(out)
    rng = np.random.default_rng(2)
    boxes = _random_boxes(rng, [0.01, 0.5], 6)
    lo = np.array([[u for u, _ in b] for b in boxes])
    hi = np.array([[v for _, v in b] for b in boxes])
    o, de = pc.network_at(lo, hi, True)
    for i in range(len(boxes)):
        o1, de1 = pc.network_at(lo[i:i + 1], hi[i:i + 1], True)
        assert (o[0][i], o[1][i]) == (o1[0][0], o1[1][0])
        assert all((a[0][i], a[1][i]) == (b[0][0], b[1][0]) for a, b in zip(de, de1))


def test_engine_point_boxes_are_tight():
    net = running_max_net()
    out = analyse_two_layer(net)[2]
    pc = _prepared(out)
    x = np.array([[0.3, -0.2, 0.25]])
    o, de = pc.network_at(x, x, True)
    val = mp_output(net, out, x[0])
    assert inside(o[0][0], val, o[1][0]) and o[1][0] - o[0][0] < 1e-12
    for v, dv in enumerate(mp_gradient(net, out, x[0])):
        assert inside(de[v][0][0], dv, de[v][1][0]) and de[v][1][0] - de[v][0][0] < 1e-10


EXTREME_BOXES = [
    [(-1e6, 1e6)] * 3,
    [(50.0, 60.0), (55.0, 56.0), (-100.0, 100.0)],
    [(1e300, 1e300)] * 3,  # the score differences cancel huge terms
    [(-300.0, -300.0)] * 3,  # equal values: N is exactly -300
]


@pytest.mark.parametrize("make", [running_max_net, mixed_net])
def test_extreme_boxes_engine_and_checker(make):
    net = make()
    rng = np.random.default_rng(21)
    for out in analyse_two_layer(net):
        pc = _prepared(out)
        for box in EXTREME_BOXES:
            pts = _points(rng, box, 2)
            assert _engine_contains(pc, net, out, box, pts, grad=False)[0]
            for bk_name, Ops in BACKENDS:
                bk = make_backend(bk_name)
                with bk.context():
                    checker = _checker(bk, Ops(), out, "x0")
                    assert _checker_contains(bk, checker, net, out, box, pts)


# -- checker -------------------------------------------------------------------------------------

TARGETS = ["x0", "max(x0, x1)", "max(x0, x1, x2)"]
VARS = ["x0", "x1", "x2"]


def _checker(bk, ops, out, text):
    expr = parse(text, VARS)
    return ComposedChecker(bk, ops, out, [[None] * len(f.anchor) for f in out.features],
                           [None] * len(out.heads), expr, list(gradient(expr, N_TOK)))


def _mp_max_error(net, out, text, box, n=5):
    """Max of |N - f| over an n^3 grid of the box (a lower bound of the sup)."""
    expr = parse(text, VARS)
    ops = MpOps(DPS)
    worst = mpmath.mpf(0)
    axes = [np.linspace(u, v, n) for u, v in box]
    for x in itertools.product(*axes):
        f = evaluate(expr, [ops.ctx.mpf(float(v)) for v in x], ops)
        worst = max(worst, abs(mp_output(net, out, x) - mpmath.mpf(f)))
    return worst


def _checker_contains(bk, checker, net, out, box, pts):
    o = checker.output_set(box)
    if o is None:
        return False
    return all(inside(bk.lb(o), mp_output(net, out, x), bk.ub(o)) for x in pts)


@pytest.mark.parametrize("bk_name,Ops", BACKENDS)
@pytest.mark.parametrize("make", [running_max_net, mixed_net])
def test_checker_output_set_contains_values(bk_name, Ops, make):
    net = make()
    bk = make_backend(bk_name)
    rng = np.random.default_rng(9)
    with bk.context():
        for out in analyse_two_layer(net):
            checker = _checker(bk, Ops(), out, TARGETS[out.token])
            for box in _random_boxes(rng, [1e-3, 0.01, 0.3, 1.0, 3.0], 3):
                assert _checker_contains(bk, checker, net, out, box, _points(rng, box, 3))
            x = [0.1, -0.4, 0.35]
            o = checker.output_set([(v, v) for v in x])
            assert bk.ub(o) - bk.lb(o) < 1e-12


@pytest.mark.parametrize("bk_name,Ops", BACKENDS)
def test_checker_gradients_contain_derivatives(bk_name, Ops):
    net = mixed_net()
    bk = make_backend(bk_name)
    rng = np.random.default_rng(4)
    with bk.context():
        for out in analyse_two_layer(net):
            checker = _checker(bk, Ops(), out, TARGETS[out.token])
            for box in _random_boxes(rng, [0.01, 0.3, 2.0], 2):
                grad = checker._gradients(box)
                assert grad is not None
                for x in _points(rng, box, 2):
                    for v, dv in enumerate(mp_gradient(net, out, x)):
                        assert inside(bk.lb(grad[v]), dv, bk.ub(grad[v]))


@pytest.mark.parametrize("bk_name,Ops", BACKENDS)
def test_checker_box_bound_sound_and_tight(bk_name, Ops):
    net = running_max_net()
    bk = make_backend(bk_name)
    rng = np.random.default_rng(13)
    with bk.context():
        for out in analyse_two_layer(net):
            text = TARGETS[out.token]
            checker = _checker(bk, Ops(), out, text)
            for box in _random_boxes(rng, [0.01], 3):
                sampled = _mp_max_error(net, out, text, box)
                bound = checker.box_bound(box, 0.0)  # upper 0: every refinement is tried
                assert sampled <= bound <= 2 * sampled + 1e-3, (box, sampled, bound)
            for box in _random_boxes(rng, [0.5, 2.0], 1):
                bound = checker.box_bound(box, 0.0)
                assert _mp_max_error(net, out, text, box) <= bound < math.inf


@pytest.mark.parametrize("bk_name,Ops", BACKENDS)
def test_checker_box_bound_mixed_network(bk_name, Ops):
    net = mixed_net()
    bk = make_backend(bk_name)
    rng = np.random.default_rng(17)
    with bk.context():
        for out in analyse_two_layer(net):
            text = "max(x0, x1, x2) + 0.5*x0"
            checker = _checker(bk, Ops(), out, text)
            for box in _random_boxes(rng, [0.01, 0.4], 2):
                bound = checker.box_bound(box, 0.0)
                assert _mp_max_error(net, out, text, box, 4) <= bound < math.inf


# -- mutations -----------------------------------------------------------------------------------

SHIFT = 1e-3


def test_shifted_engine_enclosure_is_noticed(monkeypatch):
    net = running_max_net()
    out = analyse_two_layer(net)[2]
    box = [(0.2, 0.2), (-0.1, -0.1), (0.15, 0.15)]
    pts = [np.array([u for u, _ in box])]
    assert _engine_contains(_prepared(out), net, out, box, pts)[0]
    real = composed_enclosure.mix_at

    def shifted(*args, **kw):
        (lo, hi), de = real(*args, **kw)
        return (lo + SHIFT, hi + SHIFT), de

    monkeypatch.setattr(composed_enclosure, "mix_at", shifted)
    assert not _engine_contains(_prepared(out), net, out, box, pts, grad=False)[0]


@pytest.mark.parametrize("bk_name,Ops", BACKENDS)
def test_shifted_checker_enclosure_is_noticed(bk_name, Ops, monkeypatch):
    net = running_max_net()
    out = analyse_two_layer(net)[2]
    box = [(0.2, 0.2), (-0.1, -0.1), (0.15, 0.15)]
    pts = [np.array([u for u, _ in box])]
    bk = make_backend(bk_name)
    real = composed_bound._Mix.enclose
    with bk.context():
        assert _checker_contains(bk, _checker(bk, Ops(), out, "x0"), net, out, box, pts)

        def shifted(self, xs, grad):
            o, de = real(self, xs, grad)
            return o + SHIFT, de

        monkeypatch.setattr(composed_bound._Mix, "enclose", shifted)
        assert not _checker_contains(bk, _checker(bk, Ops(), out, "x0"), net, out, box, pts)


@pytest.mark.parametrize("bk_name,Ops", BACKENDS)
def test_hull_instead_of_weights_is_noticed(bk_name, Ops, monkeypatch):
    """Without the weights the mix output is only the hull of the values: sound, but the
    tightness assertion of the box-bound test fails on a small box."""
    net = running_max_net()
    out = analyse_two_layer(net)[2]
    text = TARGETS[2]
    box = [(0.3, 0.31), (-0.2, -0.19), (0.25, 0.26)]
    sampled = _mp_max_error(net, out, text, box)
    bk = make_backend(bk_name)
    with bk.context():
        assert _checker(bk, Ops(), out, text).box_bound(box, 0.0) <= 2 * sampled + 1e-3

        def hull(self, xs, grad):
            vals = []
            for j in range(self.m):
                s = self.V0[j]
                for v, (c, _nz) in enumerate(self.V1[j]):
                    s = s + c * xs[v]
                vals.append(s)
            lo, hi = min(bk.lb(s) for s in vals), max(bk.ub(s) for s in vals)
            de = [bk.interval(-1.0, 1.0 + BETA * 4) for _ in range(self.D)]
            return bk.interval(lo, hi), de

        monkeypatch.setattr(composed_bound._Mix, "enclose", hull)
        assert _checker(bk, Ops(), out, text).box_bound(box, 0.0) > 2 * sampled + 1e-3
