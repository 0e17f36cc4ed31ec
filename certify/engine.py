"""The certification engine: branch-and-bound over the latent scalar of every output.

The engine searches; it does not need to be trusted.  Every bound it reports comes from
:mod:`certify.enclosure` (outward-rounded float64) and is re-verified box by box by the
independent checker (:mod:`certify.check`), which does not import this module.

Modes
-----
``measure``
    an enclosure ``[L, U]`` of the sup error with ``U <= (1 + tol) L``; boxes are split
    until their bound is within the tolerance of the best witness found so far, or below
    the *measure floor* ``F = 2^-40 S`` (:func:`measure_floor`, ``S`` the scale of the
    target's values).  A run whose every box ends below the floor claims ``sup error <=
    U`` with ``U <= F`` (the error is negligible, and may be 0, so no ratio exists).
``prove``
    ``sup error <= epsilon``: boxes are split until their bound is <= epsilon; a point whose
    rigorous error lower bound exceeds epsilon ends the run with a counterexample.

Budgets.  A run stops, not certified, once the boxes it would have to evaluate exceed
``max_boxes`` or the wall clock passes its deadline (:class:`Limits`, :func:`run_limits`);
the budget is checked before every level and between the waves of boxes a level is
evaluated in, so no level runs unchecked.

Boxes are nodes of a dyadic bisection tree over the rigorous enclosure ``[Ylo, Yhi]`` of
each output's latent scalar: node (depth, i) is the exact real interval
``[Ylo + (Yhi - Ylo) i / 2^depth, Ylo + (Yhi - Ylo) (i+1) / 2^depth]``, which the engine
encloses outward in float64.  The leaves partition ``[Ylo, Yhi]`` by construction.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from certify import intervals as iv
from certify.enclosure import Term, error_bounds, prepare_head
from certify.errors import InputError
from certify.parallel import make_executor
from certify.reduction import reduce_network

CHUNK = 4096
MAX_DEPTH = 50
#: Default box budget: the search stops (claim not certified) rather than evaluate more.
MAX_EVALUATED = 50_000_000
INITIAL_DEPTH_CAP = 20
#: measure mode splits until U <= (1 + SAFETY * tol) L, leaving room for the witness.
SAFETY = 0.9
#: The measure floor is FLOOR_FRACTION times the scale of the target's values.
FLOOR_FRACTION = Fraction(1, 2 ** 40)


@dataclass(frozen=True)
class Limits:
    """A budget: at most ``max_boxes`` evaluated boxes (None: the engine's default) and, if
    ``timeout`` is given, no new wave of boxes after ``start + timeout`` seconds
    (``time.monotonic`` clock).  ``spent[0]`` counts the boxes earlier runs under the same
    budget evaluated (e.g. the per-head runs of a ridge cover), so the budget is shared."""

    max_boxes: int | None = None
    timeout: float | None = None
    start: float = field(default_factory=time.monotonic)
    spent: list[int] = field(default_factory=lambda: [0], compare=False)

    def boxes(self, default: int) -> int:
        """The boxes a run starting now may evaluate."""
        return (default if self.max_boxes is None else self.max_boxes) - self.spent[0]

    def expired(self) -> bool:
        return self.timeout is not None and time.monotonic() - self.start > self.timeout

    def describe(self, default: int, timed_out: bool) -> str:
        if timed_out:
            return f"timeout {self.timeout:g} s"
        return f"{default if self.max_boxes is None else self.max_boxes:,} boxes"


_LIMITS: contextvars.ContextVar[Limits | None] = contextvars.ContextVar("attncert_limits",
                                                                        default=None)


@contextlib.contextmanager
def run_limits(max_boxes: int | None = None, timeout: float | None = None) -> Iterator[Limits]:
    """Every engine run inside the block obeys this budget (the clock starts now).

    Both engines (:mod:`certify.engine`, :mod:`certify.box_engine`) read it when they are
    not given explicit limits; ``None`` keeps an engine's default box budget / no timeout.
    """
    limits = Limits(max_boxes, timeout, time.monotonic())
    token = _LIMITS.set(limits)
    try:
        yield limits
    finally:
        _LIMITS.reset(token)


def current_limits(max_boxes: int | None = None, timeout: float | None = None) -> Limits:
    """The budget of a run starting now: explicit values, else those of :func:`run_limits`."""
    ctx = _LIMITS.get() or Limits()
    if max_boxes is None and timeout is None:
        return ctx
    return Limits(ctx.max_boxes if max_boxes is None else max_boxes,
                  ctx.timeout if timeout is None else timeout,
                  ctx.start if timeout is None and ctx.timeout is not None
                  else time.monotonic())


def evaluate_in_waves(executor, fn, chunks: list, limits: Limits, sizes: list[int]):
    """``executor.map(fn, chunks)`` in waves, stopping between waves once ``limits`` expire.

    Returns ``(results, complete)``: the results of the chunks evaluated, in order, and
    whether every chunk was.  The wave length adapts (doubling while a wave takes under a
    second, halving above four), so a timeout is noticed within a few seconds; the results
    do not depend on the waves.  ``sizes`` holds one wave length, carried between calls.
    """
    out: list = []
    i = 0
    while i < len(chunks):
        if limits.expired():
            return out, False
        t0 = time.monotonic()
        wave = chunks[i:i + sizes[0]]
        out.extend(executor.map(fn, wave))
        i += len(wave)
        took = time.monotonic() - t0
        if took < 1.0:
            sizes[0] = min(sizes[0] * 2, 1 << 12)
        elif took > 4.0:
            sizes[0] = max(sizes[0] // 2, 1)
    return out, True


def measure_floor(terms: list[tuple[int, int, float, float]]) -> Fraction:
    """The measure floor ``F = 2^-40 S``, exactly, of a target ``sum_i g_i Range_[a_i, b_i]``.

    ``S = sum_i |g_i| max(|a_i|, |b_i|) >= sup |f|`` is the scale of the target's values
    (``terms``: the target's truncated-linear terms, grouped by ``[a, b]``).
    A measure run whose every box bound is below the floor stops there: the error is
    negligible against the values it is made of.  The checker computes F the same way.
    """
    S = sum((abs(Fraction(num, den)) * max(abs(Fraction(a)), abs(Fraction(b)))
             for num, den, a, b in terms), Fraction(0))
    return FLOOR_FRACTION * S


@dataclass
class Output:
    """One output entry: its latent scalar ``y = coef . X + const`` and prepared heads."""

    token: int
    row: int
    coef: np.ndarray
    const: float
    Ylo: float
    Yhi: float
    heads: list
    leaves_depth: list = field(default_factory=list)
    leaves_index: list = field(default_factory=list)
    leaves_bound: list = field(default_factory=list)


@dataclass
class Result:
    holds: bool
    lower: float
    upper: float
    outputs: list[Output]
    witness_x: np.ndarray
    witness_output: int
    evaluated: int
    seconds: float
    message: str
    counterexample: dict | None = None
    #: measure mode: the floor F, when the claim holds because ``upper <= F``.
    floor: float | None = None
    #: a run stopped by its budget: the best enclosure found so far (engine's, unchecked).
    partial: tuple[float, float] | None = None


def coef_interval(num: int, den: int) -> tuple[float, float]:
    """A float enclosure of the rational ``num/den``."""
    f = Fraction(num, den)
    x = float(f)
    if Fraction(x) == f:
        return x, x
    return float(iv.down(np.float64(x))), float(iv.up(np.float64(x)))


def y_range(coef: np.ndarray, const: float, lo: np.ndarray, hi: np.ndarray) -> tuple[float, float]:
    """Rigorous enclosure of ``{coef . X + const : lo <= X <= hi}``.

    Entries with a zero coefficient contribute exactly 0 and are left out, so the result
    does not depend on where the non-zero coefficients sit (tokens of T2 get equal ranges).
    """
    nz = coef.ravel() != 0
    c, lo, hi = coef.ravel()[nz], lo.ravel()[nz], hi.ravel()[nz]
    plo, phi = iv.mul(c, c, lo, hi)
    slo = iv.sum_down(np.concatenate([plo, [const]]), axis=0)
    shi = iv.sum_up(np.concatenate([phi, [const]]), axis=0)
    return float(slo), float(shi)


def box_bounds(out: Output, depth: np.ndarray, index: np.ndarray):
    """Outward float enclosure of the exact dyadic boxes (depth, index) of ``out``."""
    scale = np.ldexp(1.0, -depth.astype(np.int64))  # exact powers of two
    t0, t1 = index * scale, (index + 1) * scale  # exact while index < 2^53
    wlo, whi = iv.down(np.float64(out.Yhi - out.Ylo)), iv.up(np.float64(out.Yhi - out.Ylo))
    if out.Yhi - out.Ylo == 0:
        wlo = whi = 0.0
    lo = iv.down(out.Ylo + iv.down(wlo * t0))
    hi = iv.up(out.Ylo + iv.up(whi * t1))
    lo = np.where(t0 == 0, out.Ylo, np.maximum(lo, out.Ylo))
    hi = np.where(t1 == 1, out.Yhi, np.minimum(hi, out.Yhi))
    return lo, hi


def prepare_outputs(net, terms, w, t, lo, hi) -> list[Output]:
    problems = reduce_network(net)
    outs = []
    for tp in problems:
        d, n = net.input_shape
        expected = np.zeros((d, n))
        expected[:, tp.token] = w[tp.token]
        if not (np.array_equal(tp.y_coef, expected) and tp.y_const == t[tp.token]):
            raise InputError(f"network does not read token {tp.token}'s target y_k")
        if len(terms) != len(tp.heads):
            raise InputError("target terms and heads differ in number")
        Ylo, Yhi = y_range(tp.y_coef, tp.y_const, lo, hi)
        heads = [prepare_head(hp, Term(*coef_interval(num, den), a, b), Ylo, Yhi)
                 for hp, (num, den, a, b) in zip(tp.heads, terms)]
        outs.append(Output(tp.token, tp.row, tp.y_coef, tp.y_const, Ylo, Yhi, heads))
    return outs


def initial_depth(out: Output) -> int:
    width = out.Yhi - out.Ylo
    spacings = [ph.dmin for ph in out.heads if ph.dmin > 0]
    if width <= 0:
        return 0
    step = min(spacings) if spacings else width / 64
    return int(min(INITIAL_DEPTH_CAP, max(0, math.ceil(math.log2(width / step)))))


def _evaluate_chunk(outputs: list[Output], chunk):
    k, depth, index = chunk
    out = outputs[k]
    # Overflow and invalid operations give inf or NaN ends, which the enclosures turn into
    # trivial bounds (NaN -> inf); they are expected for extreme scores, not reported.
    with np.errstate(all="ignore"):
        lo, hi = box_bounds(out, depth, index)
        u, low, c = error_bounds(out.heads, lo, hi)
    return u, low, c, hi - lo


def _evaluate(executor, k: int, depth, index, limits: Limits, sizes: list[int]):
    """Bounds of the boxes ``(depth, index)`` of output k, or None if the time ran out."""
    chunks = [(k, depth[s:s + CHUNK], index[s:s + CHUNK]) for s in range(0, len(depth), CHUNK)]
    parts, complete = evaluate_in_waves(executor, _evaluate_chunk, chunks, limits, sizes)
    if not complete:
        return None
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))


@dataclass
class _Search:
    """What :func:`run` found besides the leaves (see its docstring)."""

    best: float
    best_k: int
    best_c: float
    evaluated: int
    message: str
    ok: bool
    budget: bool = False  # stopped by max_boxes or the timeout
    upper_so_far: float = math.inf  # engine bound over the whole domain when it stopped

    def __iter__(self):  # (best, best_k, best_c, evaluated, message, ok), as before
        return iter((self.best, self.best_k, self.best_c, self.evaluated, self.message,
                     self.ok))


def run(outputs: list[Output], mode: str, tol: float, epsilon: float | None,
        progress=None, jobs: int | None = 1, scheduler: str | None = None,
        floor: float = 0.0, limits: Limits | None = None) -> _Search:
    """Branch-and-bound over all outputs; fills each output's leaves.

    Returns a :class:`_Search` that unpacks as ``(best_lower, best_output, best_c,
    evaluated, message, ok)``; ``ok`` is False when a counterexample was found (prove), the
    depth limit stopped refinement, or the budget ``limits`` (default: :func:`current_limits`)
    ran out (``budget`` True, with the engine's bound ``upper_so_far`` over the domain).  In
    measure mode a box whose bound is at most ``floor`` is a leaf.  Boxes are evaluated on
    ``jobs`` local processes or on the Dask ``scheduler``; the result does not depend on
    where they run.
    """
    limits = current_limits() if limits is None else limits
    executor = make_executor(outputs, jobs, scheduler)
    try:
        res = _run(outputs, mode, tol, epsilon, progress, executor, floor, limits)
    finally:
        executor.close()
    limits.spent[0] += res.evaluated
    return res


def _signature(out: Output) -> bytes:
    """Everything the search over ``out`` depends on: ``[Ylo, Yhi]`` and its prepared heads."""
    parts = [np.float64(out.Ylo).tobytes(), np.float64(out.Yhi).tobytes()]

    def add(v) -> None:
        if isinstance(v, np.ndarray):
            parts.extend((str(v.dtype).encode(), str(v.shape).encode(), v.tobytes()))
        elif isinstance(v, (tuple, list)):
            parts.append(f"({len(v)}".encode())
            for x in v:
                add(x)
        elif isinstance(v, Term):
            add((v.g_lo, v.g_hi, v.a, v.b))
        else:
            parts.append(repr(v).encode())
        parts.append(b";")

    for ph in out.heads:
        add([getattr(ph, f.name) for f in dataclasses.fields(ph)])
    return b"".join(parts)


def _run(outputs, mode, tol, epsilon, progress, executor, floor, limits):
    # Outputs with identical search data (e.g. every token of T2 on a uniform domain) get
    # identical covers: only the first of each class is searched and the others copy its
    # leaves.  Duplicates would produce the same bounds in the same rounds, so the result
    # (leaves, best witness, message) is exactly what searching all of them would give.
    first: dict[bytes, int] = {}
    rep = [first.setdefault(_signature(out), k) for k, out in enumerate(outputs)]
    try:
        return _search([out if rep[k] == k else None for k, out in enumerate(outputs)],
                       mode, tol, epsilon, progress, executor, floor, limits)
    finally:
        for k, out in enumerate(outputs):
            if rep[k] != k:
                src = outputs[rep[k]]
                out.leaves_depth = list(src.leaves_depth)
                out.leaves_index = list(src.leaves_index)
                out.leaves_bound = list(src.leaves_bound)


def _search(outputs, mode, tol, epsilon, progress, executor, floor, limits):
    """Branch-and-bound over the outputs that are not None (see :func:`run`)."""
    active = []
    for k, out in enumerate(outputs):
        if out is None:
            continue
        d0 = initial_depth(out)
        n0 = 2 ** d0
        active.append((k, np.full(n0, d0, np.int64), np.arange(n0, dtype=np.int64),
                       np.full(n0, np.inf)))
    res = _Search(0.0, 0, next(o.Ylo for o in outputs if o is not None), 0, "", True)
    max_boxes = limits.boxes(MAX_EVALUATED)
    sizes = [4]

    def stop(pending: list, timed_out: bool) -> _Search:
        # Every box not yet a leaf becomes a leaf with an infinite bound (the cover stays a
        # partition); the bound so far is the largest over leaves and the pending boxes'
        # last known bounds (a box's parent bound covers it).
        so_far = 0.0
        for o in outputs:
            done = np.concatenate(o.leaves_bound) if o is not None and o.leaves_bound else []
            if len(done):
                so_far = max(so_far, float(np.max(done)))
        for k, depth, index, bound in pending:
            out = outputs[k]
            out.leaves_depth.append(depth)
            out.leaves_index.append(index)
            out.leaves_bound.append(np.full(len(depth), np.inf))
            if len(bound):
                so_far = max(so_far, float(np.max(bound)))
        res.ok, res.budget, res.upper_so_far = False, True, so_far
        res.message = (f"not certified within the budget "
                       f"({limits.describe(MAX_EVALUATED, timed_out)})")
        return res

    while active:
        level = sum(len(depth) for _, depth, _, _ in active)
        # Every box of the level must be evaluated before the run can end, so a level that
        # does not fit the budget ends the run now (and no larger arrays are built).
        if res.evaluated + level > max_boxes:
            return stop(active, False)
        if limits.expired():
            return stop(active, True)
        results = []
        for pos, (k, depth, index, _) in enumerate(active):
            ev = _evaluate(executor, k, depth, index, limits, sizes)
            if ev is None:
                evaluated_now = [(kk, d, i, u) for kk, d, i, u, _ in results]
                return stop(evaluated_now + active[pos:], True)
            u, low, c, width = ev
            res.evaluated += len(depth)
            j = int(np.argmax(low))
            if low[j] > res.best:
                res.best, res.best_k, res.best_c = float(low[j]), k, float(c[j])
            results.append((k, depth, index, u, width))
        if progress:
            progress(res.evaluated, res.best)
        if mode == "prove" and res.best > epsilon:
            res.message, res.ok = "counterexample", False
            return res
        if mode == "prove":
            threshold = epsilon
        else:
            # The floor ends the search where the error is negligible (or 0: with best = 0
            # the relative threshold alone would split every box to the depth limit).
            threshold = max(res.best * (1 + SAFETY * tol), floor)
        nxt = []
        for k, depth, index, u, width in results:
            out = outputs[k]
            done = u <= threshold
            stuck = ~done & ((depth >= MAX_DEPTH) | (width <= 8 * np.spacing(
                np.maximum(abs(out.Ylo), abs(out.Yhi)))))
            if np.any(stuck):
                res.ok = False
                res.message = "depth limit reached before the bound met its target"
            leaf = done | stuck
            out.leaves_depth.append(depth[leaf])
            out.leaves_index.append(index[leaf])
            out.leaves_bound.append(u[leaf])
            sd, si, su = depth[~leaf], index[~leaf], u[~leaf]
            if len(sd):
                nxt.append((k, np.repeat(sd + 1, 2), np.stack([2 * si, 2 * si + 1], 1).ravel(),
                            np.repeat(su, 2)))
        active = nxt
    return res


def witness_point(out: Output, c: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A point X of the box whose latent scalar is (close to) ``c``."""
    coef = out.coef
    xmin = np.where(coef >= 0, lo, hi)
    xmax = np.where(coef >= 0, hi, lo)
    ymin = float(np.sum(coef * xmin) + out.const)
    ymax = float(np.sum(coef * xmax) + out.const)
    lam = 0.0 if ymax == ymin else min(1.0, max(0.0, (c - ymin) / (ymax - ymin)))
    x = xmin + lam * (xmax - xmin)
    x = np.where(coef == 0, lo, x)
    return np.clip(x, lo, hi)


def witness_lower(out: Output, x: np.ndarray) -> float:
    """Rigorous lower bound of ``|e|`` at the input ``x`` (its exact latent scalar)."""
    ylo, yhi = y_range(out.coef, out.const, x, x)
    _, _, _, (elo, ehi) = error_bounds(out.heads, np.array([ylo]), np.array([yhi]),
                                       with_enclosure=True)
    return float(max(0.0, elo[0], -ehi[0]))


def certify_built(net, terms, w, t, lo, hi, mode, tol, epsilon, progress=None,
                  jobs: int | None = 1, scheduler: str | None = None,
                  max_boxes: int | None = None, timeout: float | None = None) -> Result:
    """Certify a constructed network against its target on the box ``[lo, hi]``.

    ``terms`` are the per-head terms; their sum is the target.  ``max_boxes`` and
    ``timeout`` (seconds) bound the search (default: :func:`current_limits`); a run that
    reaches them is not certified, and ``Result.partial`` holds the best ``(L, U)`` found.
    In measure mode the claim holds if ``U <= (1 + tol) L``, or if ``U <= F``, the measure
    floor (:func:`measure_floor`; ``Result.floor`` is then F): exactly the checker's rule.
    """
    start = time.perf_counter()
    limits = current_limits(max_boxes, timeout)
    floor_q = measure_floor(_grouped_terms(terms)) if mode == "measure" else Fraction(0)
    # Leaves stop a little below F, so that the claim (with its slack) stays below F.
    floor = float(iv.down(np.float64(float(floor_q) * (1 - 2.0 ** -20))))
    with np.errstate(all="ignore"):  # extreme scores overflow to trivial bounds, silently
        outputs = prepare_outputs(net, terms, w, t, lo, hi)
        search = run(outputs, mode, tol, epsilon, progress, jobs, scheduler, floor, limits)
        best, best_k, best_c, evaluated, message, ok = search
        x = witness_point(outputs[best_k], best_c, lo, hi)
        lower = witness_lower(outputs[best_k], x)
    # A counterexample can end the search before any box of some output became a leaf.
    leaf_bounds = [np.concatenate(o.leaves_bound) if o.leaves_bound else np.zeros(0)
                   for o in outputs]
    upper = max(float(np.max(b)) for b in leaf_bounds) \
        if all(b.size for b in leaf_bounds) else math.inf
    # Slack for the checker's independent rounding (2^-30 relative).
    upper = float(iv.up(np.float64(upper * (1 + 2.0 ** -30))))
    holds = ok
    counterexample = None
    floor_claim = None
    partial = None
    if search.budget:
        partial = (lower, search.upper_so_far)
        if math.isfinite(search.upper_so_far):
            message += (f"; best so far: sup error in [{lower:.6g}, "
                        f"{search.upper_so_far:.6g}] (engine bounds, not checked)")
        else:
            message += f"; best so far: sup error >= {lower:.6g}, no upper bound yet"
    if mode == "prove":
        holds = False
        if message == "counterexample":
            # The search found a latent value with error > epsilon; the input realising it
            # is re-evaluated rigorously, and only then called a counterexample.
            if Fraction(lower) > Fraction(epsilon):
                counterexample = {"x": x.T.tolist(), "token": outputs[best_k].token,
                                  "error_lower": lower}
                message = f"counterexample: error >= {lower:.6g} > epsilon = {epsilon:.6g}"
            else:
                message = ("not proved: an error above epsilon was found in the latent "
                           "scalar, but not confirmed at an input of the domain")
        elif ok:
            holds = Fraction(upper) <= Fraction(epsilon)
            message = "holds" if holds else "bound above epsilon"
            room = min(Fraction(epsilon), measure_floor(_grouped_terms(terms)))
            if holds and Fraction(upper) < room:
                # A negligible error (a clamped latent, an exactly represented target):
                # every claim between the bound and epsilon is true, and one at the floor
                # F (or epsilon, if smaller) leaves the checker room for its own rounding,
                # which at this level may exceed the engine's bound itself.
                upper = _float_down(room)
    elif ok:
        # exact rational comparisons, as the checker makes them
        holds = Fraction(upper) <= (1 + Fraction(tol)) * Fraction(lower)
        # Also when the ratio holds: a bound far below the values' scale (an error of
        # 1e-36 against values of 1e3) is beyond the checker's binary64 backend, while a
        # claim at the floor is within it.
        if Fraction(upper) <= floor_q:
            # Every bound is below the floor: claim F itself (rounded down), which leaves
            # the checker room for its own rounding whatever the engine's noise was.
            upper = _float_down(floor_q)
            holds, floor_claim = True, upper
        message = "holds" if holds else "tolerance not reached"
    return Result(holds, lower, upper, outputs, x, best_k, evaluated,
                  time.perf_counter() - start, message, counterexample, floor_claim, partial)


def _grouped_terms(terms) -> list[tuple[int, int, float, float]]:
    """Per-head terms grouped by ``[a, b]`` into the target's terms (exact coefficients)."""
    out: dict[tuple[float, float], Fraction] = {}
    for num, den, a, b in terms:
        out[(a, b)] = out.get((a, b), Fraction(0)) + Fraction(num, den)
    return [(g.numerator, g.denominator, a, b) for (a, b), g in out.items() if g != 0]


def _float_down(q: Fraction) -> float:
    """The largest binary64 number ``<= q`` (q >= 0, within range)."""
    f = float(q)
    return f if Fraction(f) <= q else math.nextafter(f, -math.inf)


def certify_spec(spec_obj: dict) -> dict:
    """Certificate object for a decoded SPEC.json (see :func:`certify.pipeline.certify_spec`)."""
    from certify.pipeline import certify_spec as _certify_spec
    return _certify_spec(spec_obj)
