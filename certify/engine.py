"""The certification engine: branch-and-bound over the latent scalar of every output.

The engine searches; it does not need to be trusted.  Every bound it reports comes from
:mod:`certify.enclosure` (outward-rounded float64) and is re-verified box by box by the
independent checker (:mod:`certify.check`), which does not import this module.

Modes
-----
``measure``
    an enclosure ``[L, U]`` of the sup error with ``U <= (1 + tol) L``; boxes are split
    until their bound is within the tolerance of the best witness found so far.
``prove``
    ``sup error <= epsilon``: boxes are split until their bound is <= epsilon; a point whose
    rigorous error lower bound exceeds epsilon ends the run with a counterexample.

Boxes are nodes of a dyadic bisection tree over the rigorous enclosure ``[Ylo, Yhi]`` of
each output's latent scalar: node (depth, i) is the exact real interval
``[Ylo + (Yhi - Ylo) i / 2^depth, Ylo + (Yhi - Ylo) (i+1) / 2^depth]``, which the engine
encloses outward in float64.  The leaves partition ``[Ylo, Yhi]`` by construction.
"""

from __future__ import annotations

import dataclasses
import math
import time
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
#: The search stops (claim not certified) after evaluating this many boxes.
MAX_EVALUATED = 50_000_000
INITIAL_DEPTH_CAP = 20
#: measure mode splits until U <= (1 + SAFETY * tol) L, leaving room for the witness.
SAFETY = 0.9


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
    lo, hi = box_bounds(out, depth, index)
    u, low, c = error_bounds(out.heads, lo, hi)
    return u, low, c, hi - lo


def _evaluate(executor, k: int, depth, index):
    chunks = [(k, depth[s:s + CHUNK], index[s:s + CHUNK]) for s in range(0, len(depth), CHUNK)]
    parts = executor.map(_evaluate_chunk, chunks)
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))


def run(outputs: list[Output], mode: str, tol: float, epsilon: float | None,
        progress=None, jobs: int | None = 1, scheduler: str | None = None
        ) -> tuple[float, int, float, int, str, bool]:
    """Branch-and-bound over all outputs; fills each output's leaves.

    Returns ``(best_lower, best_output, best_c, evaluated, message, ok)``; ``ok`` is False
    when a counterexample was found (prove) or the depth limit stopped refinement.  Boxes
    are evaluated on ``jobs`` local processes or on the Dask ``scheduler``; the result does
    not depend on where they run.
    """
    executor = make_executor(outputs, jobs, scheduler)
    try:
        return _run(outputs, mode, tol, epsilon, progress, executor)
    finally:
        executor.close()


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


def _run(outputs, mode, tol, epsilon, progress, executor):
    # Outputs with identical search data (e.g. every token of T2 on a uniform domain) get
    # identical covers: only the first of each class is searched and the others copy its
    # leaves.  Duplicates would produce the same bounds in the same rounds, so the result
    # (leaves, best witness, message) is exactly what searching all of them would give.
    first: dict[bytes, int] = {}
    rep = [first.setdefault(_signature(out), k) for k, out in enumerate(outputs)]
    try:
        return _search([out if rep[k] == k else None for k, out in enumerate(outputs)],
                       mode, tol, epsilon, progress, executor)
    finally:
        for k, out in enumerate(outputs):
            if rep[k] != k:
                src = outputs[rep[k]]
                out.leaves_depth = list(src.leaves_depth)
                out.leaves_index = list(src.leaves_index)
                out.leaves_bound = list(src.leaves_bound)


def _search(outputs, mode, tol, epsilon, progress, executor):
    """Branch-and-bound over the outputs that are not None (see :func:`run`)."""
    active = []
    for k, out in enumerate(outputs):
        if out is None:
            continue
        d0 = initial_depth(out)
        active.append((k, np.full(2 ** d0, d0, np.int64), np.arange(2 ** d0, dtype=np.int64)))
    best, best_k, best_c = 0.0, 0, outputs[0].Ylo
    evaluated, ok, message = 0, True, ""
    while active:
        if evaluated > MAX_EVALUATED:
            for k, depth, index in active:
                out = outputs[k]
                out.leaves_depth.append(depth)
                out.leaves_index.append(index)
                out.leaves_bound.append(np.full(len(depth), np.inf))
            return best, best_k, best_c, evaluated, "box budget exhausted", False
        results = []
        for k, depth, index in active:
            u, low, c, width = _evaluate(executor, k, depth, index)
            evaluated += len(depth)
            j = int(np.argmax(low))
            if low[j] > best:
                best, best_k, best_c = float(low[j]), k, float(c[j])
            results.append((k, depth, index, u, width))
        if progress:
            progress(evaluated, best)
        if mode == "prove" and best > epsilon:
            return best, best_k, best_c, evaluated, "counterexample", False
        threshold = epsilon if mode == "prove" else best * (1 + SAFETY * tol)
        nxt = []
        for k, depth, index, u, width in results:
            out = outputs[k]
            done = u <= threshold
            stuck = ~done & ((depth >= MAX_DEPTH) | (width <= 8 * np.spacing(
                np.maximum(abs(out.Ylo), abs(out.Yhi)))))
            if np.any(stuck):
                ok, message = False, "depth limit reached before the bound met its target"
            leaf = done | stuck
            out.leaves_depth.append(depth[leaf])
            out.leaves_index.append(index[leaf])
            out.leaves_bound.append(u[leaf])
            sd, si = depth[~leaf], index[~leaf]
            if len(sd):
                nxt.append((k, np.repeat(sd + 1, 2), np.stack([2 * si, 2 * si + 1], 1).ravel()))
        active = nxt
    return best, best_k, best_c, evaluated, message, ok


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
                  jobs: int | None = 1, scheduler: str | None = None) -> Result:
    """Certify a constructed network against its target on the box ``[lo, hi]``."""
    start = time.perf_counter()
    outputs = prepare_outputs(net, terms, w, t, lo, hi)
    best, best_k, best_c, evaluated, message, ok = run(outputs, mode, tol, epsilon, progress,
                                                       jobs, scheduler)
    x = witness_point(outputs[best_k], best_c, lo, hi)
    lower = witness_lower(outputs[best_k], x)
    upper = max(float(np.max(np.concatenate(o.leaves_bound))) for o in outputs) \
        if all(o.leaves_bound for o in outputs) else math.inf
    # Slack for the checker's independent rounding (2^-30 relative).
    upper = float(iv.up(np.float64(upper * (1 + 2.0 ** -30))))
    holds = ok
    counterexample = None
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
    elif ok:
        # exact rational comparison, as the checker does
        holds = Fraction(upper) <= (1 + Fraction(tol)) * Fraction(lower)
        message = "holds" if holds else "tolerance not reached"
    return Result(holds, lower, upper, outputs, x, best_k, evaluated,
                  time.perf_counter() - start, message, counterexample)


def certify_spec(spec_obj: dict) -> dict:
    """Certificate object for a decoded SPEC.json (see :func:`certify.pipeline.certify_spec`)."""
    from certify.pipeline import certify_spec as _certify_spec
    return _certify_spec(spec_obj)
