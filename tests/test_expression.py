"""The user expression language: safe parsing, sympy derivatives, rigorous evaluators.

Containment is checked against mpmath references at 50 digits (more than the 30 the
brief asks for, so that a reference rounded at 30 digits can never straddle a float end
point of an exact product).  Hand-written mpmath formulas give the function values
independently of the parser; sympy (on trusted expressions written here) gives the
derivative references.
"""

from __future__ import annotations

import math
import zlib
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certify import expression as ex
from certify import intervals as iv
from certify.check.expr_backends import ArbOps, PyIntervalOps
from certify.errors import InputError
from certify.expression import (
    EnclosureFailure,
    Expr,
    ExpressionError,
    FloatOps,
    MpOps,
    NumpyIntervalOps,
    enclose_numpy,
    evaluate,
    from_sympy,
    gradient,
    hessian,
    parse,
    size,
    symbols_for,
    text,
    to_sympy,
)

MP = mpmath.MPContext()
MP.dps = 50
CMP = mpmath.MPContext()
CMP.prec = 400  # exact for every end point compared here (floats, 80-bit Arb points)
XY = ["x", "y"]


@pytest.fixture
def arb80():
    from flint import ctx

    saved = ctx.prec
    ctx.prec = 80
    try:
        yield ArbOps()
    finally:
        ctx.prec = saved


# ------------------------------------------------------------------------- parsing

ACCEPTED = [
    "exp(-(x**2 + y**2))", "abs(x) - x**2/2", "sin(3*x)", "x*y", "max(x, y) - min(x, y)",
    "sqrt(1 + x**2)", "x**(1/3)", "atan(x)/pi", "E**x", "tanh(x) + tan(y) - cos(x)",
    "log(1 + x**2)", "min(x, y, 0.5)", "+x - -y", "x**-1", "x**(-3)", "2**(1/2)*x",
    "1_000.5e-3*x", "(x)", "x**((1/2))", "x ** 2.5",
]


@pytest.mark.parametrize("src", ACCEPTED)
def test_parser_accepts_the_grammar_and_text_round_trips(src):
    e = parse(src, XY)
    assert isinstance(e, Expr) and size(e) >= 1
    assert parse(text(e), XY) == e
    hash(e)


def test_numbers_are_exact_rationals():
    assert parse("0.1", XY) == ex.num(Fraction(1, 10))
    assert parse("1e-3", XY) == ex.num(Fraction(1, 1000))
    assert parse("2.5E2", XY).value == 250
    e = parse("x**(1/3)", XY)
    assert e.op == "pow" and e.value == Fraction(1, 3)
    assert parse("x**-3", XY).value == -3
    assert parse("x**0.5", XY).value == Fraction(1, 2)


def test_e_to_a_variable_power_is_exp():
    assert parse("E**x", XY) == parse("exp(x)", XY)
    assert parse("E**(2*y)", XY) == parse("exp(2*y)", XY)
    assert parse("E**2", XY).op == "pow"


REFUSED = [
    ("__import__('os').system('ls')", "__import__"),
    ("x.real", "attribute"),
    ("x[0]", "subscript"),
    ("lambda: 1", "lambda"),
    ("open('f')", "unknown name 'open'"),
    ("foo(x)", "unknown name 'foo' in 'foo(x)'"),
    ("z + 1", "variable 'z' is not listed in target.variables"),
    ("x**y", "exp(b*log(a))"),
    ("2**x", "exp(b*log(a))"),
    ("x**pi", "exp(b*log(a))"),
    ("1 if x else 2", "conditional"),
    ("x < y", "comparison"),
    ("sin(x=1)", "keyword"),
    ("max(x, y, key=abs)", "keyword"),
    ("", "empty"),
    ("   ", "empty"),
    ("x" * 20001, "longer than 20000"),
    ("(" * 300 + "x" + ")" * 300, "target.expr"),
    ("sin(" * 201 + "x" + ")" * 201, "target.expr"),
    ("-" * 19000 + "x", "target.expr"),
    ("sin(x, y)", "exactly 1 argument"),
    ("min(x)", "2 or more"),
    ("True", "boolean"),
    ("'a'", "string"),
    ("1j", "complex"),
    ("x // 2", "'//'"),
    ("x % 2", "'%'"),
    ("not x", "not"),
    ("sign(x)", "unknown name 'sign'"),
    ("heaviside(x)", "unknown name 'heaviside'"),
    ("sin", "must be called"),
    ("[x]", "list"),
    ("(x, y)", "tuple"),
    ("sin(*[x])", "starred"),
    ("x**(1/0)", "division by zero"),
    ("x**100000", "too large"),
    ("x**((10**100)**100)", "too large"),
    ("1e5000*x", "out of range"),
    ("x +", "syntax error"),
    ("globals()", "unknown name 'globals'"),
    ("(lambda: 0).__class__", "attribute"),
]


@pytest.mark.parametrize("src,needle", REFUSED)
def test_parser_refuses_with_one_line(src, needle):
    with pytest.raises(ExpressionError) as info:
        parse(src, XY)
    msg = str(info.value)
    assert isinstance(info.value, InputError)
    assert "\n" not in msg and msg.startswith("target.expr: ")
    assert needle in msg, msg
    assert len(msg) < 400


@pytest.mark.parametrize("variables,needle", [
    (["x", "x"], "twice"), (["pi"], "reserved"), (["E"], "reserved"), (["sin"], "reserved"),
    (["max"], "reserved"), (["1a"], "not a valid"), (["lambda"], "not a valid"),
    (["a b"], "not a valid"), ("xy", "list of names"), (["\u210c"], "NFKC"), ([3], "not a valid"),
])
def test_variable_lists_are_validated(variables, needle):
    with pytest.raises(ExpressionError, match=needle) as info:
        parse("1", variables)
    assert str(info.value).startswith("target.variables: ")


def test_parse_never_evaluates(monkeypatch):
    import builtins

    def boom(*a, **k):
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "eval", boom)
    monkeypatch.setattr(builtins, "exec", boom)
    monkeypatch.setattr(sp, "sympify", boom)
    for src in ACCEPTED:
        parse(src, XY)
    with pytest.raises(ExpressionError):
        parse("__import__('os').system('echo hacked')", XY)


_leaf = st.sampled_from(["x", "y", "0.5", "2", "pi", "1/3"])
_grammar = st.recursive(
    _leaf,
    lambda s: st.one_of(
        st.tuples(st.sampled_from(["sin", "cos", "atan", "tanh", "abs", "-", "exp"]), s)
        .map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(s, st.sampled_from(["+", "-", "*", "/"]), s)
        .map(lambda t: f"({t[0]}){t[1]}({t[2]})"),
        st.tuples(s, st.sampled_from(["2", "3", "-1", "(1/2)", "(-3/2)"])).map(
            lambda t: f"({t[0]})**{t[1]}"),
        st.tuples(st.sampled_from(["min", "max"]), s, s).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
    ),
    max_leaves=10,
)


_QUIET = pytest.mark.filterwarnings("ignore:Generating overly large repr")


@_QUIET
@settings(max_examples=150, deadline=None)
@given(_grammar)
def test_text_is_a_canonical_rendering(src):
    e = parse(src, XY)
    assert parse(text(e), XY) == e
    try:
        s = to_sympy(e, symbols_for(2))
    except (ValueError, TypeError):
        # e.g. min(x, 1/sin(pi)): sympy refuses Min(x, zoo).  gradient() must then say so.
        with pytest.raises(ExpressionError, match="cannot be differentiated"):
            gradient(e, 2)
        return
    try:
        assert isinstance(from_sympy(s, symbols_for(2)), Expr)
    except ValueError:
        # sympy evaluates e.g. (-1/2)**(1/2) to a complex number or 1/0 to zoo: the
        # expression is undefined there, and refusing it is right.
        assert s.has(sp.I, sp.zoo, sp.nan, sp.oo, -sp.oo), s


def test_pickle_rebuilds_the_hash():
    import pickle

    e = parse("exp(-(x**2 + y**2)) + max(x, y)", XY)
    back = pickle.loads(pickle.dumps(e))
    assert back == e and hash(back) == hash(e)
    # A pickled hash from another process would be stale: it must not be in the pickle.
    assert str(e._hash).encode() not in pickle.dumps(e)
    with pytest.raises(ValueError):
        Expr("eval", ())


def test_size_counts_tree_nodes():
    assert size(parse("x", XY)) == 1
    assert size(parse("sin(x*y) + sin(x*y)", XY)) == 9
    assert size(parse("min(x, y, 1)", XY)) == 4


# ------------------------------------------------------------ containment (values)

# (text, hand-written mpmath formula, domain of x, domain of y)
CASES = [
    ("exp(-(x**2 + y**2))", lambda x, y: MP.exp(-(x ** 2 + y ** 2)), (-2, 2), (-2, 2)),
    ("abs(x) - x**2/2", lambda x, y: abs(x) - x ** 2 / 2, (-2, 2), (-1, 1)),
    ("sin(3*x)", lambda x, y: MP.sin(3 * x), (-4, 4), (-1, 1)),
    ("x*y", lambda x, y: x * y, (-3, 3), (-3, 3)),
    ("max(x, y) - min(x, y)", lambda x, y: max(x, y) - min(x, y), (-1, 1), (-1, 1)),
    ("sqrt(1 + x**2)", lambda x, y: MP.sqrt(1 + x ** 2), (-5, 5), (0, 1)),
    ("x**(1/3)", lambda x, y: MP.cbrt(x), (0.01, 3), (0, 1)),
    ("atan(x)/pi", lambda x, y: MP.atan(x) / MP.pi, (-10, 10), (0, 1)),
    ("tan(x) + cos(y)", lambda x, y: MP.tan(x) + MP.cos(y), (-1.4, 1.4), (-7, 7)),
    ("log(1 + x**2) - log(y)", lambda x, y: MP.log(1 + x ** 2) - MP.log(y), (-3, 3), (0.1, 3)),
    ("tanh(2*x - y)*E**x", lambda x, y: MP.tanh(2 * x - y) * MP.exp(x), (-2, 2), (-2, 2)),
    ("min(x, y, 0.5) + max(x*y, -1/3)",
     lambda x, y: min(x, y, MP.mpf(1) / 2) + max(x * y, -MP.mpf(1) / 3), (-1, 1), (-1, 1)),
    ("x**3 - 2*x*y**2 + 0.1", lambda x, y: x ** 3 - 2 * x * y ** 2 + MP.mpf(1) / 10,
     (-2, 2), (-2, 2)),
    ("(1 + x**2)**(-3/2) + y**(-2)", lambda x, y: (1 + x ** 2) ** (-MP.mpf(3) / 2) + y ** -2,
     (-2, 2), (0.5, 2)),
    ("sqrt(abs(x*y)) + cos(pi*x)", lambda x, y: MP.sqrt(abs(x * y)) + MP.cos(MP.pi * x),
     (0.1, 2), (-2, -0.1)),
    ("exp(sin(x))/(2 + cos(y))", lambda x, y: MP.exp(MP.sin(x)) / (2 + MP.cos(y)),
     (-7, 7), (-7, 7)),
    ("x**(5/2) - atan(y)**2", lambda x, y: x ** (MP.mpf(5) / 2) - MP.atan(y) ** 2,
     (0, 2), (-3, 3)),
]


def _boxes(dom_x, dom_y, n, seed):
    """Random boxes inside the domain (widths from 1e-6 to the full domain), some points."""
    rng = np.random.default_rng(seed)
    boxes = []
    for k in range(n):
        box = []
        for lo, hi in (dom_x, dom_y):
            w = (hi - lo) * 10.0 ** rng.uniform(-6, 0)
            a = rng.uniform(lo, hi - w)
            if k < 3:
                # Boxes around the domain's centre, where most CASES have a kink (0 or
                # x = y), so that sign/heaviside hulls are exercised.
                w = (hi - lo) * (0.2, 1e-3, 0.0)[k]
                a = (lo + hi) / 2 - w / 2
            box.append((float(max(a, lo)), float(min(a + w, hi))))
        pts = [tuple(b[0] for b in box), tuple(b[1] for b in box)]
        for _ in range(3):
            pts.append(tuple(float(np.clip(rng.uniform(b[0], b[1]), b[0], b[1])) for b in box))
        boxes.append((box, pts))
    return boxes


def _inside(lo, hi, v) -> bool:
    """``lo <= v <= hi`` compared exactly (``lo``, ``hi``: floats or exact Arb points)."""
    return CMP.mpf(lo) <= CMP.mpf(v) <= CMP.mpf(hi)


def _bounds(ops, r):
    if isinstance(ops, ArbOps):
        return r.lower(), r.upper()
    return ops.lo(r), ops.hi(r)


def _violations(expr, f_mp, boxes, backend):
    """Boxes and points where ``backend`` fails to enclose ``f_mp`` (empty if rigorous)."""
    bad = []
    if isinstance(backend, NumpyIntervalOps):
        los = [np.array([b[0][i][0] for b in boxes]) for i in range(2)]
        his = [np.array([b[0][i][1] for b in boxes]) for i in range(2)]
        x = [(lo, hi) for lo, hi in zip(los, his)]
        lo, hi = evaluate(expr, x, backend)
        lo, hi = np.broadcast_to(lo, los[0].shape), np.broadcast_to(hi, los[0].shape)
        for k, (box, pts) in enumerate(boxes):
            if not (np.isfinite(lo[k]) and np.isfinite(hi[k])):
                bad.append((box, "no enclosure"))
            for p in pts:
                v = f_mp(*(MP.mpf(t) for t in p))
                if not _inside(float(lo[k]), float(hi[k]), v):
                    bad.append((box, p))
        return bad
    for box, pts in boxes:
        r = evaluate(expr, [backend.point(*b) for b in box], backend)
        lo, hi = _bounds(backend, r)
        for p in pts:
            v = f_mp(*(MP.mpf(t) for t in p))
            if not _inside(lo, hi, v):
                bad.append((box, p))
    return bad


@pytest.mark.parametrize("src,f,dx,dy", CASES, ids=[c[0] for c in CASES])
def test_enclosures_contain_mpmath_values(src, f, dx, dy, arb80):
    e = parse(src, XY)
    boxes = _boxes(dx, dy, 25, seed=zlib.crc32(src.encode()))
    for backend in (NumpyIntervalOps(), arb80, PyIntervalOps()):
        assert _violations(e, f, boxes, backend) == [], type(backend).__name__
    # The parse is the hand-written formula: MpOps agrees with it at interior points.
    mp_ops = MpOps(50)
    for _, pts in boxes[:5]:
        v = evaluate(e, mp_ops.point(pts[2]), mp_ops)
        assert abs(v - f(*(MP.mpf(t) for t in pts[2]))) <= MP.mpf(10) ** -40 * (1 + abs(v))


def _sympy_gradient_reference(e):
    syms = symbols_for(2)
    f = to_sympy(e, syms)

    def heaviside(u, h0=0.5):
        return mpmath.mpf(1) if u > 0 else mpmath.mpf(0) if u < 0 else mpmath.mpf(h0)

    mods = [{"sign": mpmath.sign, "Heaviside": heaviside}, "mpmath"]
    funcs = [sp.lambdify(syms, sp.diff(f, s), modules=mods) for s in syms]

    def ref(k):
        def g(x, y):
            with mpmath.workdps(50):
                return MP.mpf(funcs[k](mpmath.mpf(x), mpmath.mpf(y)))
        return g
    return [ref(0), ref(1)]


@pytest.mark.parametrize("src,f,dx,dy", CASES, ids=[c[0] for c in CASES])
def test_gradient_enclosures_contain_sympy_derivatives(src, f, dx, dy, arb80):
    e = parse(src, XY)
    grad = gradient(e, 2)
    refs = _sympy_gradient_reference(e)
    boxes = _boxes(dx, dy, 8, seed=1 + zlib.crc32(src.encode()))
    for g, ref in zip(grad, refs):
        for backend in (NumpyIntervalOps(), arb80, PyIntervalOps()):
            assert _violations(g, ref, boxes, backend) == [], (text(g), type(backend).__name__)


@_QUIET
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(src=_grammar,
       cx=st.floats(-2, 2), cy=st.floats(-2, 2),
       wx=st.floats(0, 0.5), wy=st.floats(0, 0.5),
       tx=st.floats(0, 1), ty=st.floats(0, 1))
def test_random_expressions_are_enclosed(src, cx, cy, wx, wy, tx, ty):
    from flint import ctx

    e = parse(src, XY)
    box = [(cx, cx + wx), (cy, cy + wy)]
    pts = [(cx, cy), (cx + wx, cy + wy), (cx + tx * wx, cy + ty * wy)]
    pts = [tuple(min(max(p, b[0]), b[1]) for p, b in zip(pt, box)) for pt in pts]
    mp_ops = MpOps(50)
    values = []
    for p in pts:
        try:
            values.append(evaluate(e, mp_ops.point(p), mp_ops))
        except EnclosureFailure:
            values.append(None)
    saved = ctx.prec
    ctx.prec = 80
    try:
        for backend in (ArbOps(), PyIntervalOps()):
            try:
                r = evaluate(e, [backend.point(*b) for b in box], backend)
            except EnclosureFailure:
                continue  # division by/near 0, negative powers: allowed to give up
            lo, hi = _bounds(backend, r)
            for v in values:
                assert v is not None, "an enclosure on a box where the function is undefined"
                assert _inside(lo, hi, v), (type(backend).__name__, src, box)
    finally:
        ctx.prec = saved
    lo, hi = enclose_numpy(e, [np.array([box[0][0]]), np.array([box[1][0]])],
                           [np.array([box[0][1]]), np.array([box[1][1]])])
    assert not (np.isnan(lo).any() or np.isnan(hi).any())
    if np.isfinite(lo[0]):
        for v in values:
            assert v is not None
            assert _inside(float(lo[0]), float(hi[0]), v), ("numpy", src, box)


def test_constants_are_enclosed(arb80):
    n = NumpyIntervalOps()
    p = PyIntervalOps()
    for ops_val, exact in ((n.pi(), MP.pi), (n.e(), MP.e)):
        assert _inside(float(ops_val[0]), float(ops_val[1]), exact)
    for r, exact in ((arb80.pi(), MP.pi), (arb80.e(), MP.e)):
        assert _inside(r.lower(), r.upper(), exact)
    for r, exact in ((p.pi(), MP.pi), (p.e(), MP.e)):
        assert _inside(p.lo(r), p.hi(r), exact)
    for q in (Fraction(1, 10), Fraction(-7, 3), Fraction(1, 10 ** 400)):
        exact = CMP.mpf(q.numerator) / q.denominator
        lo, hi = n.const(q)
        assert _inside(float(lo), float(hi), exact)
        r = arb80.const(q)
        assert _inside(r.lower(), r.upper(), exact)
        r = p.const(q)
        assert _inside(p.lo(r), p.hi(r), exact)
    r = arb80.const(Fraction(10 ** 400, 3))
    assert _inside(r.lower(), r.upper(), CMP.mpf(10) ** 400 / 3)
    big = n.const(Fraction(10 ** 400))
    assert big[0] == -np.inf and big[1] == np.inf  # no float enclosure: "no enclosure"


def test_numpy_ops_are_tight_where_exact():
    n = NumpyIntervalOps()
    a = (np.array([-1.0, 0.0, 2.0, -3.0]), np.array([2.0, 2.0, 3.0, -2.0]))
    assert list(n.pow_int(a, 2)[0]) == [0.0, 0.0, pytest.approx(4.0), pytest.approx(4.0)]
    assert list(n.sign(a)[0]) == [-1.0, 0.0, 1.0, -1.0]
    assert list(n.sign(a)[1]) == [1.0, 1.0, 1.0, -1.0]
    assert list(n.heaviside(a)[0]) == [0.0, 0.0, 1.0, 0.0]
    assert list(n.heaviside(a)[1]) == [1.0, 1.0, 1.0, 0.0]
    assert list(n.abs(a)[0]) == [0.0, 0.0, 2.0, 2.0]
    assert list(n.abs(a)[1]) == [2.0, 2.0, 3.0, 3.0]
    s_lo, s_hi = n.sin((np.array([1.0, 4.0]), np.array([2.0, 5.0])))
    assert s_hi[0] == 1.0 and s_lo[1] == -1.0
    c_lo, c_hi = n.cos((np.array([-0.1, 3.0]), np.array([0.1, 3.3])))
    assert c_hi[0] == 1.0 and c_lo[1] == -1.0
    t_lo, t_hi = n.tan((np.array([1.0, 1.6, -0.5]), np.array([2.0, 1.7, 0.5])))
    assert np.isinf(t_lo[0]) and np.isinf(t_hi[0]) and np.isfinite(t_lo[1:]).all()


def _sin_cos_range(f, a, b):
    """Exact range ends of sin/cos over [a, b] from the positions of the extrema."""
    ma, mb = MP.mpf(a), MP.mpf(b)
    shift = {"sin": MP.pi / 2, "cos": 0}[f]
    fn = {"sin": MP.sin, "cos": MP.cos}[f]

    def hits(r):  # some r + 2 k pi in [a, b]?
        k = MP.floor((mb - r) / (2 * MP.pi))
        return r + 2 * k * MP.pi >= ma

    vals = [fn(ma), fn(mb)]
    lo = -1 if hits(shift + MP.pi) else min(vals)
    hi = 1 if hits(shift) else max(vals)
    return lo, hi


def test_numpy_trig_ranges_contain_the_true_ranges():
    rng = np.random.default_rng(7)
    top = iv.TRIG_MAX_ARG - 20
    a = np.concatenate([rng.uniform(-20, 20, 300), rng.uniform(-top, top, 300)])
    b = a + 10.0 ** rng.uniform(-8, 1, a.size)
    n = NumpyIntervalOps()
    for f in ("sin", "cos"):
        lo, hi = getattr(n, f)((a, b))
        for k in range(a.size):
            tlo, thi = _sin_cos_range(f, a[k], b[k])
            assert lo[k] <= tlo and thi <= hi[k], (f, a[k], b[k])
    lo, hi = n.tan((a, b))
    for k in range(a.size):
        ma, mb = MP.mpf(a[k]), MP.mpf(b[k])
        j = MP.floor((mb - MP.pi / 2) / MP.pi)
        pole = MP.pi / 2 + j * MP.pi >= ma
        if pole:
            assert np.isinf(lo[k]) and np.isinf(hi[k])
        elif np.isfinite(lo[k]):
            assert _inside(float(lo[k]), float(hi[k]), MP.tan(ma))
            assert _inside(float(lo[k]), float(hi[k]), MP.tan(mb))
        else:  # conservative only within the pole margin
            dist = min(abs(ma - (MP.pi / 2 + j * MP.pi)), abs(mb - (MP.pi / 2 + (j + 1) * MP.pi)))
            assert dist < 1e-5


def _max_ulp_error(f, mf, x):
    y = f(x)
    worst = 0.0
    for xi, yi in zip(x, y):
        exact = mf(MP.mpf(float(xi)))
        u = np.spacing(abs(yi)) if yi != 0 else 5e-324
        worst = max(worst, float(abs(MP.mpf(float(yi)) - exact) / u))
    return worst


def test_numpy_function_errors_are_within_the_documented_widening():
    rng = np.random.default_rng(3)
    n = 1500
    k = rng.integers(-600_000, 600_000, n)
    near = np.array([float(MP.mpf(int(j)) * MP.pi / 2) for j in k])
    trig = [rng.uniform(-iv.TRIG_MAX_ARG, iv.TRIG_MAX_ARG, n), rng.uniform(-10, 10, n), near,
            rng.uniform(-1, 1, n) * 10.0 ** rng.uniform(-300, 0, n)]
    wide = rng.standard_normal(n) * 10.0 ** rng.uniform(-300, 300, n)
    checks = [(np.sin, MP.sin, trig), (np.cos, MP.cos, trig), (np.tan, MP.tan, trig),
              (np.arctan, MP.atan, [wide, rng.uniform(-10, 10, n)]),
              (np.tanh, MP.tanh, [rng.uniform(-20, 20, n), rng.uniform(-1, 1, n) * 1e-5]),
              (np.log, MP.log,
               [np.abs(wide), rng.uniform(0.5, 2, n), 1 + rng.uniform(-1e-6, 1e-6, n)])]
    for f, mf, sets in checks:
        for x in sets:
            assert _max_ulp_error(f, mf, x) < iv.FUNC_ULPS, f.__name__


POINT_OPS = [
    ("exp(x)", MP.exp, (-700, 700)), ("log(x)", MP.log, (1e-300, 1e300)),
    ("sqrt(x)", MP.sqrt, (0, 1e6)), ("sin(x)", MP.sin, (-100, 100)),
    ("cos(x)", MP.cos, (-100, 100)), ("tan(x)", MP.tan, (-1.5, 1.5)),
    ("atan(x)", MP.atan, (-50, 50)), ("tanh(x)", MP.tanh, (-20, 20)),
    ("x**(1/3)", MP.cbrt, (0, 1e3)), ("x**(-5/2)", lambda x: x ** (-MP.mpf(5) / 2), (0.01, 1e3)),
    ("x**7", lambda x: x ** 7, (-30, 30)), ("x**(-3)", lambda x: x ** -3, (0.1, 30)),
    ("1/x", lambda x: 1 / x, (0.001, 1e3)), ("x/3", lambda x: x / 3, (-1e3, 1e3)),
    ("x*0.1", lambda x: x / 10, (-1e3, 1e3)), ("x - 0.3", lambda x: x - MP.mpf(3) / 10, (-1, 1)),
    ("x + pi", lambda x: x + MP.pi, (-1, 1)), ("x*E", lambda x: x * MP.e, (-1, 1)),
]


@pytest.mark.parametrize("src,f,dom", POINT_OPS, ids=[c[0] for c in POINT_OPS])
def test_every_operation_encloses_its_value_at_points(src, f, dom, arb80):
    """Point boxes give the tightest enclosures: any missing outward rounding shows here."""
    rng = np.random.default_rng(zlib.crc32(src.encode()))
    pts = rng.uniform(*dom, 60)
    if dom[0] > 0 and dom[1] / dom[0] > 1e6:
        pts = 10.0 ** rng.uniform(math.log10(dom[0]), math.log10(dom[1]), 60)
    boxes = [([(float(t), float(t)), (0.0, 0.0)], [(float(t), 0.0)]) for t in pts]
    e = parse(src, XY)
    for backend in (NumpyIntervalOps(), arb80, PyIntervalOps()):
        assert _violations(e, lambda x, y: f(x), boxes, backend) == [], type(backend).__name__


@pytest.mark.parametrize("make", ["numpy", "arb", "pyinterval"])
def test_sign_heaviside_abs_hulls(make, arb80):
    backend = {"numpy": NumpyIntervalOps(), "arb": arb80, "pyinterval": PyIntervalOps()}[make]
    cases = {  # box -> (sign hull, heaviside hull, abs range)
        (-1.0, 2.0): ((-1, 1), (0, 1), (0, 2)),
        (0.0, 2.0): ((0, 1), (0, 1), (0, 2)),
        (-2.0, 0.0): ((-1, 0), (0, 1), (0, 2)),
        (0.0, 0.0): ((0, 0), (0, 1), (0, 0)),
        (0.5, 2.0): ((1, 1), (1, 1), (0.5, 2)),
        (-2.0, -0.5): ((-1, -1), (0, 0), (0.5, 2)),
    }
    for box, hulls in cases.items():
        for op, (want_lo, want_hi) in zip(("sign", "heaviside", "abs"), hulls):
            e = parse(f"{op}(x)", ["x"]) if op == "abs" else Expr(op, (ex.var(0, "x"),))
            if make == "numpy":
                lo, hi = enclose_numpy(e, [np.array([box[0]])], [np.array([box[1]])])
                lo, hi = float(lo[0]), float(hi[0])
            else:
                r = evaluate(e, [backend.point(*box)], backend)
                lo, hi = (float(t) for t in _bounds(backend, r))
            # Contains the hull, and is at most 1e-7 wider (Arb radii have 30-bit precision).
            assert lo <= want_lo and hi >= want_hi, (op, box, lo, hi)
            assert lo >= want_lo - 1e-7 and hi <= want_hi + 1e-7, (op, box, lo, hi)
            if want_lo == 0 and op in ("abs", "heaviside"):
                assert lo == 0  # exactly: sqrt(abs(x)) must not fail on a box around 0


# --------------------------------------------------------------- invalid enclosures


@pytest.mark.parametrize("src,box,needle", [
    ("log(x)", (-1.0, 1.0), "log(x): argument may be <= 0"),
    ("1/x", (-1.0, 1.0), "1/x: divisor may be 0"),
    ("log(x - 1)", (0.5, 3.0), "log(x - 1): argument may be <= 0"),
    ("sqrt(x)", (-1.0, 1.0), "sqrt(x): argument may be < 0"),
    ("tan(x)", (1.0, 2.0), "tan(x): argument may contain a pole of tan"),
    ("x**(1/3)", (-1.0, 1.0), "x**(1/3): base may be < 0"),
    ("x**(-1/2)", (0.0, 1.0), "x**(-1/2): base may be <= 0"),
    ("x**(-2)", (-1.0, 1.0), "x**(-2)"),
    ("sin(log(x)) + 1", (-1.0, 1.0), "log(x)"),
    ("exp(exp(x))", (0.0, 10.0), "exp(exp(x))"),
])
def test_undefined_operations_fail_to_enclose(src, box, needle, arb80):
    e = parse(src, ["x"])
    backends = [arb80, PyIntervalOps()]
    if src == "exp(exp(x))":
        backends = backends[1:]  # Arb has no overflow: e^(e^10) is a finite ball
    for backend in backends:
        with pytest.raises(EnclosureFailure) as info:
            evaluate(e, [backend.point(*box)], backend)
        assert needle in str(info.value), str(info.value)
        assert "\n" not in str(info.value)
    lo, hi = enclose_numpy(e, [np.array([box[0], 2.0, 0.25])], [np.array([box[1], 2.5, 0.75])])
    assert lo[0] == -np.inf and hi[0] == np.inf
    assert not np.isnan(lo).any() and not np.isnan(hi).any()
    if src not in ("tan(x)", "exp(exp(x))", "log(x - 1)"):
        assert np.isfinite(lo[1:]).all() and np.isfinite(hi[1:]).all()


def test_numpy_never_returns_nan_and_propagates_no_enclosure():
    e = parse("min(sin(log(x)), heaviside_free) ", ["x", "heaviside_free"])
    lo, hi = enclose_numpy(e, [np.array([-1.0, np.nan, 1.0, 2.0]), np.array([0.0] * 4)],
                           [np.array([1.0, 1.0, np.inf, 1.0]), np.array([1.0] * 4)])
    assert list(lo) == [-np.inf, -np.inf, -np.inf, -np.inf]  # last box is empty (lo > hi)
    assert list(hi) == [np.inf] * 4
    const = enclose_numpy(parse("2*pi", ["x"]), [np.zeros(3)], [np.ones(3)])
    assert const[0].shape == (3,) and (const[0] < 2 * math.pi).all()


def test_mpops_and_floatops_agree():
    e = parse("exp(-(x**2 + y**2)) + abs(x) - max(x, y)**(1/2)", XY)
    mp_ops = MpOps(30)
    x, y = np.array([0.3, 0.7]), np.array([0.2, -0.1])
    fv = evaluate(e, [x, y], FloatOps())
    for k in range(2):
        v = evaluate(e, mp_ops.point([x[k], y[k]]), mp_ops)
        assert abs(float(v) - fv[k]) < 1e-14
    with pytest.raises(EnclosureFailure, match="log"):
        evaluate(parse("log(x)", ["x"]), mp_ops.point([-1.0]), mp_ops)


def test_shared_subtrees_are_evaluated_once():
    calls = []

    class Counting(FloatOps):
        def sin(self, a):
            calls.append(a)
            return super().sin(a)

    e = parse("sin(x*y) + sin(x*y)**2", XY)
    evaluate(e, [np.array(1.0), np.array(2.0)], Counting())
    assert len(calls) == 1


# ------------------------------------------------------------------ mutation tests
# The containment check above must be able to fail: the same helper catches evaluators
# that drop the outward widening or the radius.


def _point_boxes(seed, n, lo=-5.0, hi=5.0):
    rng = np.random.default_rng(seed)
    return [([(float(t), float(t)), (0.0, 0.0)], [(float(t), 0.0)])
            for t in rng.uniform(lo, hi, n)]


def test_mutation_numpy_without_function_widening_is_caught(monkeypatch):
    e = parse("sin(x)", XY)
    boxes = _point_boxes(11, 2000)
    f = lambda x, y: MP.sin(x)  # noqa: E731
    assert _violations(e, f, boxes, NumpyIntervalOps()) == []
    monkeypatch.setattr(iv, "FUNC_ULPS", 0)
    assert _violations(e, f, boxes, NumpyIntervalOps()) != []


def test_mutation_numpy_without_exp_widening_is_caught(monkeypatch):
    e = parse("exp(x)", XY)
    boxes = _point_boxes(12, 2000)
    f = lambda x, y: MP.exp(x)  # noqa: E731
    assert _violations(e, f, boxes, NumpyIntervalOps()) == []
    monkeypatch.setattr(iv, "EXP_ULPS", 0)
    assert _violations(e, f, boxes, NumpyIntervalOps()) != []


def test_mutation_shrunk_interval_is_caught():
    class Shrunk(NumpyIntervalOps):
        def mul(self, a, b):
            lo, hi = super().mul(a, b)
            lo = iv.up(lo, 2)  # the honest lower end is one ulp below an exact product
            return lo, np.maximum(lo, hi)

    e = parse("x*x", XY)
    # 3 * 3 = 9 exactly: the honest enclosure has 9 inside, the shrunk one excludes it.
    boxes = [([(3.0, 3.0), (0.0, 0.0)], [(3.0, 0.0)])]
    f = lambda x, y: x * x  # noqa: E731
    assert _violations(e, f, boxes, NumpyIntervalOps()) == []
    assert _violations(e, f, boxes, Shrunk()) != []


def test_mutation_backends_without_radius_are_caught(arb80, monkeypatch):
    boxes = _point_boxes(13, 40)
    e_exp, f_exp = parse("exp(x)", XY), lambda x, y: MP.exp(x)
    e_sin, f_sin = parse("sin(x)", XY), lambda x, y: MP.sin(x)
    assert _violations(e_exp, f_exp, boxes, arb80) == []
    assert _violations(e_sin, f_sin, boxes, PyIntervalOps()) == []
    # Arb without the radius of exp; pyinterval with round-to-nearest sin.
    monkeypatch.setattr(ArbOps, "exp", lambda self, a: self._arb(a.exp().mid()))
    assert _violations(e_exp, f_exp, boxes, arb80) != []
    monkeypatch.setattr(PyIntervalOps, "sin",
                        lambda self, a: self._make(math.sin(self.lo(a)), math.sin(self.hi(a))))
    assert _violations(e_sin, f_sin, boxes, PyIntervalOps()) != []


# ------------------------------------------------------------------- derivatives


def _ops_in(expr):
    return {n.op for n in ex._postorder(expr)}


def test_gradient_of_abs_uses_sign_and_of_max_uses_heaviside():
    (g,) = gradient(parse("abs(x) - x**2/2", ["x"]), 1)
    assert "sign" in _ops_in(g)
    n = NumpyIntervalOps()
    lo, hi = evaluate(g, [(np.array([-0.5, 0.5]), np.array([0.5, 1.0]))], n)
    assert lo[0] <= -1 and hi[0] >= 1  # sign over [-1/2, 1/2] is the hull [-1, 1]
    gx, gy = gradient(parse("max(x, y)", XY), 2)
    assert "heaviside" in _ops_in(gx) and "heaviside" in _ops_in(gy)
    lo, hi = evaluate(gx, [(np.array(0.0), np.array(1.0)), (np.array(0.5), np.array(0.5))], n)
    assert lo == 0 and hi == 1


def test_gradient_shapes_and_unused_variables():
    g = gradient(parse("x*y + sin(x)", XY), 3)
    assert len(g) == 3 and g[2] == ex.num(0)
    assert text(g[1]) == "x"


def test_non_whitelisted_derivatives_are_refused(monkeypatch):
    with pytest.raises(ExpressionError, match="construction.lipschitz"):
        hessian(parse("abs(x)", ["x"]), 1)  # DiracDelta
    h = hessian(parse("x**3*y", XY), 2)
    assert text(h[0][0]) == "6*x*y" and text(h[0][1]) == text(h[1][0]) == "3*x**2"
    x = sp.Symbol("_v0", real=True)
    monkeypatch.setattr(sp, "diff", lambda f, s: sp.Piecewise((x, x > 0), (0, True)))
    with pytest.raises(ExpressionError, match="Piecewise") as info:
        gradient(parse("x", ["x"]), 1)
    assert "\n" not in str(info.value)


def test_from_sympy_whitelist():
    syms = symbols_for(2)
    x, y = syms
    for bad in (sp.Piecewise((x, x > 0), (0, True)), sp.Float(0.5) * x, x ** y,
                sp.Derivative(sp.Function("f")(x), x), sp.zoo, sp.nan, sp.oo, sp.I * x,
                sp.Function("f")(x), sp.Symbol("z"), sp.asin(x), sp.DiracDelta(x),
                x ** sp.pi, sp.Heaviside(x, 2), sp.Subs(x, x, 1)):
        with pytest.raises(ValueError):
            from_sympy(bad, syms)
    assert from_sympy(sp.Heaviside(x), syms).op == "heaviside"
    assert from_sympy(sp.Heaviside(x, 0), syms).op == "heaviside"
    assert from_sympy(sp.sqrt(x), syms).op == "sqrt"
    assert from_sympy(sp.exp(x) * sp.E, syms) is not None


@pytest.mark.parametrize("src,f,dx,dy", CASES, ids=[c[0] for c in CASES])
def test_sympy_round_trip_evaluates_the_same(src, f, dx, dy):
    e = parse(src, XY)
    syms = symbols_for(2)
    back = from_sympy(to_sympy(e, syms), syms, XY)
    mp_ops = MpOps(40)
    for _, pts in _boxes(dx, dy, 4, seed=5):
        p = mp_ops.point(pts[2])
        a, b = evaluate(e, p, mp_ops), evaluate(back, p, mp_ops)
        assert abs(a - b) <= mp_ops.ctx.mpf(10) ** -30 * (1 + abs(a))


def test_enclosure_failure_names_the_sub_expression_once():
    class Failing(FloatOps):
        def log(self, a):
            raise EnclosureFailure("argument may be <= 0")

    with pytest.raises(EnclosureFailure) as info:
        evaluate(parse("sin(log(x - 1)) + 2", ["x"]), [np.array(0.0)], Failing())
    assert str(info.value) == "log(x - 1): argument may be <= 0"
    assert info.value.where == "log(x - 1)" and info.value.reason == "argument may be <= 0"
