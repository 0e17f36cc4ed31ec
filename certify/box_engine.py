"""Branch-and-bound over boxes of the input domain (engine for general one-layer networks).

The cover of the domain ``[lo, hi] in R^D`` is a bisection tree: node 1 is the domain;
node ``i`` split along axis ``a`` has children ``2i`` (lower half) and ``2i + 1`` (upper
half), the halves meeting at the exact midpoint of the node's side a.  The tree is written
in pre-order (:func:`encode_tree`): ``'0'`` for a leaf, the digit ``a + 1`` for a split
along axis a.  Boxes are enclosed outward in float64 where a midpoint is not a float, so
each evaluated box contains the exact box of its node.

Modes, as for the latent-scalar engine (:mod:`certify.engine`): ``prove`` splits until every
leaf's bound is <= epsilon, and stops at a confirmed counterexample; ``measure`` splits
until every leaf's bound is <= (1 + SAFETY tol) times the best witness lower bound, or
below the *measure floor* ``F = 2^-40 S`` (:func:`scale_lower`: ``S`` is the largest
``|f_k|`` at the domain's reference points).  A measure run whose bounds all end below
the floor claims ``sup error <= U`` with ``U <= F`` (the error is negligible against the
target's values, and may be 0, so no ratio ``U/L`` exists).
The engine searches and need not be trusted; :mod:`certify.check` re-verifies every leaf
and recomputes the floor from the target.

Budgets (:func:`certify.engine.run_limits`): a run stops, not certified, before a level
whose boxes would exceed ``max_boxes`` evaluations, and between the waves of a level once
its timeout has passed.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from certify import intervals as iv
from certify.box_enclosure import PreparedOutput, TargetEnclosure, error_bounds
from certify.engine import current_limits, evaluate_in_waves
from certify.parallel import make_executor

MAX_DEPTH = 60
SAFETY = 0.9
#: Relative room left between the engine's leaf bounds and the claim, for the checker.
SLACK = 2.0 ** -16
DEFAULT_MAX_BOXES = 20_000_000
#: The measure floor is FLOOR_FRACTION times the scale S of the target's values.
FLOOR_FRACTION = Fraction(1, 2 ** 40)
#: Above this many input variables the reference points are the domain's centre alone.
CORNER_LIMIT = 10


@dataclass
class BoxCover:
    """The leaves of one output's cover: node ids (heap numbering), bounds, split axes."""

    token: int
    row: int
    splits: dict[int, int] = field(default_factory=dict)  # internal node -> axis
    leaves: dict[int, float] = field(default_factory=dict)  # leaf node -> bound

    def upper(self) -> float:
        return max(self.leaves.values()) if self.leaves else math.inf


@dataclass
class BoxResult:
    holds: bool
    lower: float
    upper: float
    covers: list[BoxCover]
    witness_x: np.ndarray  # (D,)
    witness_output: int
    evaluated: int
    seconds: float
    message: str
    counterexample: dict | None = None
    #: a run stopped by its budget: the best enclosure found so far (engine's, unchecked).
    partial: tuple[float, float] | None = None
    #: measure mode, a claim that holds by the measure floor: a binary64 number ``<= F =
    #: 2^-40 S`` (the engine's own lower bound of F); ``upper`` is then at most half of it.
    floor: float | None = None


def reference_boxes(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float boxes ``(K, D)`` containing the domain's reference points, one box each.

    The reference points of the domain ``[lo, hi]`` are its centre ``(lo + hi) / 2``
    (exact) and, when ``D <= CORNER_LIMIT``, its ``2^D`` corners.  A corner is a float
    point; the centre's box is the point itself where the midpoint is a float, else the
    two floats around it (rounded from the exact rational midpoint).
    """
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    mids = [(Fraction(float(a)) + Fraction(float(b))) / 2 for a, b in zip(lo, hi)]
    rows_lo = [np.array([_float_down(q) for q in mids], dtype=float)]
    rows_hi = [np.array([_float_up(q) for q in mids], dtype=float)]
    if len(lo) <= CORNER_LIMIT:
        for corner in itertools.product(*zip(lo, hi)):
            rows_lo.append(np.array(corner))
            rows_hi.append(np.array(corner))
    return np.stack(rows_lo), np.stack(rows_hi)


def scale_lower(target, lo: np.ndarray, hi: np.ndarray) -> float:
    """A float ``<= S``, the scale of the target's values that sets the measure floor.

    ``S = max_k max_p |f_k(p)|`` over the output entries k and the domain's reference
    points p (:func:`reference_boxes`); ``target`` is one target enclosure for every
    output entry, or a list with one per entry.  Each ``f_k(p)`` is enclosed by the engine's
    rigorous target enclosure; a point whose enclosure contains 0 (or fails) contributes
    0, so the result is a lower bound of S, and 0 when nothing positive is proved.
    """
    plo, phi = reference_boxes(lo, hi)
    targets = target if isinstance(target, list) else [target]
    best = 0.0
    with np.errstate(all="ignore"):
        for t in targets:
            flo, fhi = t.value(plo, phi)
            low = np.maximum(np.maximum(flo, -fhi), 0.0)
            low = np.where(np.isfinite(low), low, 0.0)  # NaN or an unbounded enclosure
            if low.size:
                best = max(best, float(np.max(low)))
    return best


def _float_down(q: Fraction) -> float:
    """The largest binary64 number ``<= q`` (q within range)."""
    f = float(q)
    return f if Fraction(f) <= q else math.nextafter(f, -math.inf)


def _float_up(q: Fraction) -> float:
    """The smallest binary64 number ``>= q`` (q within range)."""
    f = float(q)
    return f if Fraction(f) >= q else math.nextafter(f, math.inf)


def encode_tree(cover: BoxCover) -> tuple[str, list[float]]:
    """Pre-order string and leaf bounds of a complete cover (module docstring)."""
    bits, bounds, stack = [], [], [1]
    while stack:
        node = stack.pop()
        axis = cover.splits.get(node)
        if axis is None:
            bits.append("0")
            bounds.append(cover.leaves[node])
        else:
            bits.append(str(axis + 1))
            stack.append(2 * node + 1)
            stack.append(2 * node)
    return "".join(bits), bounds


def _split(lo: np.ndarray, hi: np.ndarray, axis: np.ndarray):
    """Children of boxes split at the midpoint of ``axis``; outward where it is not a float."""
    rows = np.arange(len(lo))
    a, b = lo[rows, axis], hi[rows, axis]
    mid = a * 0.5 + b * 0.5
    exact = (mid - a == b - mid) & (a <= mid) & (mid <= b) & np.isfinite(mid)
    m_lo = np.where(exact, mid, iv.down(mid))
    m_hi = np.where(exact, mid, iv.up(mid))
    lo_l, hi_l, lo_r, hi_r = lo.copy(), hi.copy(), lo.copy(), hi.copy()
    hi_l[rows, axis] = np.minimum(m_hi, b)
    lo_r[rows, axis] = np.maximum(m_lo, a)
    return lo_l, hi_l, lo_r, hi_r


def _evaluate(shared, chunk):
    outputs, target = shared
    k, lo, hi, threshold = chunk
    return error_bounds(outputs[k], _target_of(target, k), lo, hi, threshold)


def _target_of(target, k: int):
    """The target of output k: one target for all outputs, or a list with one per output."""
    return target[k] if isinstance(target, list) else target


def _block(out: PreparedOutput) -> int:
    cols = 1
    for ph in out.heads:
        n = len(ph.extra) + 1
        if ph.grid is not None:
            n += int(np.prod(ph.grid.W))
        cols += n * ph.n_heads
    return max(16, min(8192, (1 << 20) // (cols * 8)))


def certify_boxes(outputs: list[PreparedOutput], target: TargetEnclosure, lo: np.ndarray,
                  hi: np.ndarray, mode: str, tol: float, epsilon: float | None,
                  progress=None, jobs: int | None = 1, scheduler: str | None = None,
                  max_boxes: int | None = None, timeout: float | None = None) -> BoxResult:
    """Branch-and-bound over the domain box ``[lo, hi]`` (D,) for every output.

    Returns a :class:`BoxResult`; ``holds`` is decided by exact rational comparisons of the
    final bounds, as the checker decides them.  ``max_boxes`` (default
    :data:`DEFAULT_MAX_BOXES`) and ``timeout`` (seconds) bound the search (default: the
    enclosing :func:`certify.engine.run_limits`); a run that reaches them is not certified
    and ``partial`` holds the best ``(L, U)`` found (engine bounds).

    In measure mode the claim holds if ``U <= (1 + tol) L``, or else if every bound ends
    below the measure floor: with ``S_e`` the engine's lower bound of S
    (:func:`scale_lower`), the claim is then ``U = 2^-41 S_e`` rounded down, and
    ``floor`` is ``2^-40 S_e`` rounded down.  The checker accepts ``U <= 2^-40 S_c`` with
    its own lower bound ``S_c`` of S; the factor 2 leaves room for its rounding.
    """
    start = time.perf_counter()
    limits = current_limits(max_boxes, timeout)
    max_boxes = limits.boxes(DEFAULT_MAX_BOXES)
    sizes = [4]
    stopped: str | None = None
    so_far = 0.0
    executor = make_executor((outputs, target), jobs, scheduler)
    covers = [BoxCover(o.token, o.row) for o in outputs]
    best, best_k, best_c = 0.0, 0, (lo + hi) / 2
    evaluated, ok, message = 0, True, ""
    root = np.maximum(hi - lo, np.finfo(float).tiny)
    scale = max([abs(o.const[0]) + abs(o.const[1]) for o in outputs] + [
        float(np.max(np.abs(ph.Vmin)) + np.max(np.abs(ph.Vmax))) for o in outputs
        for ph in o.heads] + [1e-300])
    # An absolute part of the room left for the checker's rounding, for errors near zero.
    floor = scale * 2.0 ** -44
    # The measure floor: a claim of at most half the engine's own lower bound of F.
    s_low = scale_lower(target, lo, hi) if mode == "measure" else 0.0
    floor_low = _float_down(FLOOR_FRACTION * Fraction(s_low))
    floor_claim = _float_down(FLOOR_FRACTION * Fraction(s_low) / 2)
    # Leaves at most ``below`` give, with the room added at the end, a claim <= floor_claim.
    below = max(0.0, (floor_claim - floor) / (1 + SLACK))
    absolute = max(floor, below)
    active = [(k, np.array([1], dtype=np.int64), lo[None, :].astype(float),
               hi[None, :].astype(float), np.zeros(1, dtype=np.int64), np.full(1, np.inf))
              for k in range(len(outputs))]

    def stop(pending: list) -> None:
        # Pending boxes become leaves with infinite bounds (the cover stays a partition);
        # their last known bounds (a parent's covers its children) enter the bound so far.
        nonlocal so_far
        for k, ids, bound in pending:
            covers[k].leaves.update((int(i), math.inf) for i in ids)
            if len(bound):
                so_far = max(so_far, float(np.max(bound)))

    try:
        while active:
            # Every box of a level must be evaluated before the run can end: a level that
            # does not fit the budget ends the run now.
            level = sum(len(a[1]) for a in active)
            if evaluated + level > max_boxes or limits.expired():
                stopped = limits.describe(DEFAULT_MAX_BOXES, evaluated + level <= max_boxes)
                stop([(k, ids, pb) for k, ids, _, _, _, pb in active])
                break
            results = []
            # Boxes whose zeroth-order bound already meets the current threshold skip the
            # centred form (the threshold only grows in measure mode, so they stay leaves).
            guess = (epsilon if mode == "prove" else best * (1 + SAFETY * tol)) / (1 + SLACK)
            if mode == "measure":
                guess = max(guess, absolute)
            for pos, (k, ids, blo, bhi, depth, _) in enumerate(active):
                size = _block(outputs[k])
                chunks = [(k, blo[s:s + size], bhi[s:s + size], guess)
                          for s in range(0, len(ids), size)]
                parts, complete = evaluate_in_waves(executor, _evaluate, chunks, limits, sizes)
                if not complete:
                    stopped = limits.describe(DEFAULT_MAX_BOXES, True)
                    stop([(r[0], r[1], r[5]) for r in results]
                         + [(a[0], a[1], a[5]) for a in active[pos:]])
                    break
                u, low, c, contrib = (np.concatenate([p[i] for p in parts]) for i in range(4))
                evaluated += len(ids)
                j = int(np.argmax(low))
                if low[j] > best:
                    best, best_k, best_c = float(low[j]), k, c[j].copy()
                results.append((k, ids, blo, bhi, depth, u, contrib))
            if stopped:
                ok, message = False, f"not certified within the budget ({stopped})"
                break
            if progress:
                progress(evaluated, best)
            if mode == "prove" and best > epsilon:
                for k, ids, *_ in results:
                    covers[k].leaves.update((int(i), math.inf) for i in ids)
                ok, message = False, "counterexample"
                break
            threshold = (epsilon if mode == "prove" else best * (1 + SAFETY * tol)) / (1 + SLACK)
            if mode == "prove":
                threshold -= floor
            if mode == "measure":
                # The measure floor ends the search where the error is negligible against
                # the target's values, or 0 (a constant or exactly represented target),
                # where the relative threshold alone would split to the depth limit.
                threshold = max(threshold, absolute)
            nxt = []
            for k, ids, blo, bhi, depth, u, contrib in results:
                done = u <= threshold
                width = bhi - blo
                stuck = ~done & ((depth >= MAX_DEPTH) | np.all(
                    width <= 8 * np.spacing(np.maximum(np.abs(blo), np.abs(bhi))), axis=1))
                if np.any(stuck):
                    ok, message = False, "depth limit reached before the bound met its target"
                leaf = done | stuck
                covers[k].leaves.update(zip(ids[leaf].tolist(), u[leaf].tolist()))
                sel = ~leaf
                if not np.any(sel):
                    continue
                # Split the axis contributing most; unbounded boxes split their longest
                # side relative to the domain.
                rel = width[sel] / root
                score = np.where(np.isfinite(u[sel])[:, None], contrib[sel] + 1e-300 * rel, rel)
                score = np.where(width[sel] > 0, score, -1.0)
                axis = np.argmax(score, axis=1)
                sid = ids[sel]
                covers[k].splits.update(zip(sid.tolist(), axis.tolist()))
                lo_l, hi_l, lo_r, hi_r = _split(blo[sel], bhi[sel], axis)
                nd = depth[sel] + 1
                nxt.append((k, np.concatenate([2 * sid, 2 * sid + 1]),
                            np.concatenate([lo_l, lo_r]), np.concatenate([hi_l, hi_r]),
                            np.concatenate([nd, nd]), np.concatenate([u[sel], u[sel]])))
            active = nxt
        if stopped and not message:
            ok, message = False, f"not certified within the budget ({stopped})"
    finally:
        executor.close()
        limits.spent[0] += evaluated

    x = np.asarray(best_c, dtype=float)
    # Room below the engine's own witness bound for the checker's independent rounding.
    wl = witness_lower(outputs[best_k], _target_of(target, best_k), x)
    lower = max(0.0, float(iv.down(np.float64(wl * (1 - SLACK)))))
    partial = None
    if stopped:
        finite = [b for c in covers for b in c.leaves.values() if math.isfinite(b)]
        so_far = max([so_far] + finite)
        partial = (lower, so_far)
        message += (f"; best so far: sup error in [{lower:.6g}, {so_far:.6g}] (engine "
                    f"bounds, not checked)" if math.isfinite(so_far) else
                    f"; best so far: sup error >= {lower:.6g}, no upper bound yet")
    largest = max(c.upper() for c in covers)
    # Room for the checker's independent rounding: relative, plus an absolute part for
    # errors near zero.
    upper = (float(iv.up(np.float64(largest * (1 + SLACK / 2) + floor)))
             if math.isfinite(largest) else largest)
    holds, counterexample, floor_used = ok, None, None
    if mode == "prove":
        holds = False
        if message == "counterexample":
            if Fraction(lower) > Fraction(epsilon):
                counterexample = {"x": x.tolist(), "token": outputs[best_k].token,
                                  "error_lower": lower}
                message = f"counterexample: error >= {lower:.6g} > epsilon = {epsilon:.6g}"
            else:
                message = "not proved: an error above epsilon was not confirmed at a point"
        elif ok:
            holds = math.isfinite(upper) and Fraction(upper) <= Fraction(epsilon)
            message = "holds" if holds else "bound above epsilon"
    elif ok:
        # exact rational comparisons, as the checker makes them
        holds = math.isfinite(upper) and Fraction(upper) <= (1 + Fraction(tol)) * Fraction(lower)
        # Also when the ratio holds: a bound far below the values' scale is beyond the
        # checker's binary64 backend, while the floor claim is within it.
        if floor_claim > 0 and math.isfinite(upper) \
                and Fraction(upper) <= Fraction(floor_claim):
            # Every bound is below the floor: claim half the engine's floor, which leaves
            # the checker room for its own rounding of the boxes and of S.
            upper, holds, floor_used = floor_claim, True, floor_low
        message = "holds" if holds else "tolerance not reached"
        if not holds and largest <= absolute:
            why = ("|f| has no positive lower bound at the domain's centre and corners, so "
                   "there is no measure floor" if s_low == 0 else
                   "the measure floor 2^-40 S is below the network's rounding")
            message = (f"the error is at most {upper:.3g} everywhere, with no positive lower "
                       f"bound to measure against ({why}); use mode prove with an epsilon")
    return BoxResult(holds, lower, upper, covers, x, best_k, evaluated,
                     time.perf_counter() - start, message, counterexample, partial, floor_used)


def witness_lower(out: PreparedOutput, target: TargetEnclosure, x: np.ndarray) -> float:
    """Rigorous lower bound of ``|N(x) - f(x)|`` at the float point ``x``."""
    p = x[None, :]
    _, low, _, _ = error_bounds(out, target, p, p)
    return float(low[0])
