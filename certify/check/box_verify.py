"""The checker for input-box certificates (theorem ``uap``): the error claim alone.

:func:`check_box_certificate` accepts a certificate iff every statement below holds; it
needs the certificate only (target, domain, network, grid hints, cover, witness, claim)
and imports no engine and no construction code.  Whether the stored network is the one a
construction builds is a separate statement (conformance, checked by :mod:`theorems.uap`).

1. Form: exactly the known keys, finite numbers, the network parses, its SHA-256 matches.
2. Target and domain: the target's normal form parses (:mod:`certify.targets`); the domain
   has one interval per input variable.
3. Structure (:mod:`certify.exact_scores`, exact rationals): the network is one attention
   layer with constant keys and values on one input token of dimension d; every grid
   hint is verified exactly.  Output entries: exactly one, the target's.
4. Coverage: the tree parses as a complete bisection tree of the domain (each split at the
   exact midpoint of the named side); its leaves partition the domain.
5. Boxes: for every leaf box (enclosed outward from its exact rational ends), the
   backend's own bound of ``sup |N - f|`` (:mod:`certify.check.box_bound`) is ``<=
   claim.upper``.  Hence ``sup_{x in domain} |N(x) - f(x)| <= upper``.
6. Witness: the witness lies in the domain and the backend's enclosure of ``|N - f|`` there
   is ``>= claim.lower``; ``lower <= upper``; mode ``prove``: ``upper <= epsilon``; mode
   ``measure``: ``upper <= (1 + tol) lower``, or ``upper <= 2^-40 S_b`` (the *measure
   floor*), where ``S_b`` is the backend's rigorous lower bound of ``S``, the largest
   ``|f|`` at the domain's reference points (:func:`reference_points`,
   :func:`scale_lower`).  So the floor rule holds only if ``upper <= 2^-40 S`` for the
   exact S.  Comparisons are exact rational.  The floor decides only whether a measure
   claim is acceptable; the boxes are bounded by ``claim.upper`` either way.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import itertools
import math
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from certify.check.backends import float_down, float_up, make_backend
from certify.check.box_bound import OutputChecker
from certify.check.model import Rejected
from certify.errors import InputError
from certify.exact_scores import (
    Grid,
    OutputScores,
    StructureError,
    analyse,
    grid_structure,
    parse_grid_hint,
)
from certify.expression import EnclosureFailure, Expr, evaluate, gradient
from certify.interrupts import ignore_sigint
from certify.network import AttentionNet, NetworkFormatError, canonical_json
from certify.targets import Target, parse_domain, parse_target

KEYS = ("schema", "tool", "theorem", "target", "domain", "construction", "parameters",
        "network", "network_sha256", "structure", "claim", "cover", "witness", "method")
SCHEMA = "attncert-certificate/1"
CHUNK = 500
#: Theorems whose certificates hold two-layer networks (certify.check.composed_verify).
COMPOSED_THEOREMS = ("uap-two-layer", "seq2seq", "uap-softmax")
#: The measure floor is this fraction of the scale S of the target's values.
FLOOR_FRACTION = Fraction(1, 2 ** 40)
#: Above this many input variables the reference points are the domain's centre alone.
CORNER_LIMIT = 10
Progress = Callable[[int, int], None]


@dataclass
class Part:
    """One cover to check: every leaf box's bound must be ``<= upper`` (a claim)."""

    name: str
    output: OutputScores
    grids: list[Grid | None]
    expr: Expr
    gradient: tuple[Expr, ...] | None
    leaves: list[tuple[tuple[Fraction, Fraction], ...]]  # exact boxes
    upper: float
    # Two-layer networks (certify.exact_two_layer): the composed output entry, with
    # ``grids`` the layer-1 grids per feature and ``grids2`` the layer-2 grids.
    composed: Any = None
    grids2: Any = None


@dataclass
class BoxProblem:
    target: Target
    lo: list[float]
    hi: list[float]
    output: OutputScores  # the whole network, for the witness
    grids: list[Grid | None]
    gradient: tuple[Expr, ...] | None
    parts: list[Part]
    upper: float
    lower: float
    witness: list[float]
    witness_part: Part | None = None  # default: the single output entry
    # Mode measure with ``upper > (1 + tol) lower``: the target's output expressions, whose
    # scale S decides the measure floor in each backend (run_box_check); else None.
    floor_exprs: list[Expr] | None = None


def _gradient(expr: Expr, d: int) -> tuple[Expr, ...] | None:
    try:
        return gradient(expr, d)
    except InputError:
        return None  # no derivative: the zeroth-order enclosure alone must meet the claim


def _fail(msg: str) -> InputError:
    return InputError(f"certificate: {msg}")


def _num(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _fail(f"{where} must be a number")
    x = float(v)
    if not math.isfinite(x):
        raise _fail(f"{where} must be finite")
    return x


def _obj(v: Any, where: str, keys: tuple[str, ...], optional: tuple[str, ...] = ()
         ) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise _fail(f"{where} must be a JSON object")
    missing = [k for k in keys if k not in v]
    unknown = sorted(set(v) - set(keys) - set(optional))
    if missing:
        raise _fail(f"missing field '{where}.{missing[0]}'")
    if unknown:
        raise _fail(f"unknown field '{where}.{unknown[0]}'")
    return v


def parse_tree(bits: str, D: int, lo: list[Fraction], hi: list[Fraction]
               ) -> list[tuple[tuple[Fraction, Fraction], ...]]:
    """Exact leaf boxes of a pre-order tree (``'0'`` leaf, ``'a'`` split along axis a - 1).

    Raises Rejected if the string ends early, continues after the tree, or names an axis
    beyond D.  The leaves of a complete tree partition the root box.
    """
    leaves = []
    stack = [tuple(zip(lo, hi))]
    pos = 0
    while stack:
        if pos >= len(bits):
            raise Rejected("cover tree is truncated")
        box = stack.pop()
        ch = bits[pos]
        pos += 1
        if ch == "0":
            leaves.append(box)
            continue
        a = ord(ch) - ord("1")
        if not 0 <= a < D:
            raise Rejected(f"cover tree splits along axis {ch!r}, beyond the {D} variables")
        l, h = box[a]
        m = (l + h) / 2
        lower = box[:a] + ((l, m),) + box[a + 1:]
        upper = box[:a] + ((m, h),) + box[a + 1:]
        stack.append(upper)
        stack.append(lower)
    if pos != len(bits):
        raise Rejected("cover tree has characters after its last leaf")
    return leaves


def parse_claim_and_network(obj: dict[str, Any]) -> tuple[str, float, float, float,
                                                           float | None, AttentionNet]:
    """The claim fields and the stored network of an input-box certificate (items 1 and 6's
    form): ``(mode, lower, upper, tol, epsilon, net)``.  InputError for malformed fields;
    Rejected if the hash does not match or the network is not in canonical form."""
    claim = _obj(obj["claim"], "claim", ("mode", "lower", "upper", "tol", "epsilon"))
    mode = claim["mode"]
    if mode not in ("prove", "measure"):
        raise _fail("claim.mode must be prove or measure")
    lower, upper = _num(claim["lower"], "claim.lower"), _num(claim["upper"], "claim.upper")
    tol = _num(claim["tol"], "claim.tol")
    eps = None if claim["epsilon"] is None else _num(claim["epsilon"], "claim.epsilon")
    if mode == "prove" and eps is None:
        raise _fail("claim.epsilon is needed in mode prove")
    if not isinstance(obj["network"], dict):
        raise _fail("network must be a JSON object")
    try:
        net = AttentionNet.from_json_obj(obj["network"])
    except NetworkFormatError as exc:
        raise _fail(str(exc)) from None
    sha = obj["network_sha256"]
    if not isinstance(sha, str):
        raise _fail("network_sha256 must be a string")
    text = canonical_json(obj["network"])
    if hashlib.sha256(text.encode()).hexdigest() != sha:
        raise Rejected("network_sha256 does not match the stored network")
    if net.to_json() != text:
        raise Rejected("stored network is not in canonical form")
    return mode, lower, upper, tol, eps, net


def verify_box_structure(obj: dict[str, Any]) -> BoxProblem:
    """Items 1-4 and the backend-independent part of 6; InputError for malformed input."""
    _obj(obj, "certificate", KEYS)
    if obj["schema"] != SCHEMA:
        raise _fail(f"schema must be {SCHEMA!r}")
    target = parse_target(obj["target"])
    if target.normal != obj["target"]:
        raise _fail("target is not in normal form")
    lo_a, hi_a = parse_domain(obj["domain"], target.d)
    dom = _obj(obj["domain"], "domain", ("lo", "hi"))
    if not (isinstance(dom["lo"], list) and isinstance(dom["hi"], list)):
        raise _fail("domain.lo and domain.hi must be lists")
    lo, hi = [float(v) for v in lo_a], [float(v) for v in hi_a]
    mode, lower, upper, tol, eps, net = parse_claim_and_network(obj)
    if net.input_shape != (target.d, 1):
        raise Rejected(f"network input shape {list(net.input_shape)} does not match the "
                       f"target's {target.d} variable(s) on one token")
    try:
        outputs = analyse(net)
    except StructureError as exc:
        raise Rejected(f"network: {exc}") from None
    if len(outputs) != 1:
        raise Rejected(f"network has {len(outputs)} output entries; the target has one")
    out = outputs[0]
    structure = _obj(obj["structure"], "structure", ("grids",))
    hints = structure["grids"]
    if not isinstance(hints, list) or len(hints) != len(out.heads):
        raise _fail("structure.grids must hold one entry (a grid or null) per head")
    grids: list[Grid | None] = []
    for h, (hs, hint) in enumerate(zip(out.heads, hints)):
        if hint is None:
            grids.append(None)
            continue
        try:
            grids.append(grid_structure(hs, parse_grid_hint(hint, f"structure.grids[{h}]")))
        except StructureError as exc:
            raise Rejected(f"head {h}: {exc}") from None

    cover = obj["cover"]
    if not isinstance(cover, list) or len(cover) != 1:
        raise _fail("cover must be a list with one entry (one output)")
    grad = _gradient(target.expr, target.d)
    if isinstance(cover[0], dict) and "ridges" in cover[0]:
        parts = _ridge_parts(cover[0], out, grids, hints, target, lo, hi, upper)
    else:
        entry = _obj(cover[0], "cover[0]", ("token", "row", "tree", "bounds"))
        if entry["token"] != out.token or entry["row"] != out.row:
            raise Rejected("cover entry does not name the output entry")
        leaves = _leaves(entry, "cover[0]", target.d, lo, hi)
        parts = [Part("input box", out, grids, target.expr, grad, leaves, upper)]

    wit = _obj(obj["witness"], "witness", ("token", "row", "x", "error_lower"))
    x = wit["x"]
    if not isinstance(x, list) or len(x) != target.d:
        raise _fail(f"witness.x must list {target.d} number(s)")
    x = [_num(v, "witness.x") for v in x]
    _num(wit["error_lower"], "witness.error_lower")
    if not all(a <= v <= b for a, v, b in zip(lo, x, hi)):
        raise Rejected("witness lies outside the domain")
    if not lower <= upper:
        raise Rejected(f"claim.lower {lower!r} > claim.upper {upper!r}")
    floor_exprs = None
    if mode == "prove":
        if not Fraction(upper) <= Fraction(eps):
            raise Rejected(f"claim.upper {upper!r} > epsilon {eps!r}")
    elif not Fraction(upper) <= (1 + Fraction(tol)) * Fraction(lower):
        # Only the measure floor can accept the claim now; each backend decides it.
        floor_exprs = [target.expr]
    return BoxProblem(target, lo, hi, out, grids, grad, parts, upper, lower, x,
                      floor_exprs=floor_exprs)


def reference_points(lo: list[float], hi: list[float]) -> list[list[Fraction]]:
    """The domain's reference points, exactly: its centre ``(lo + hi) / 2`` and, when the
    domain has at most :data:`CORNER_LIMIT` variables, its ``2^D`` corners."""
    points = [[(Fraction(a) + Fraction(b)) / 2 for a, b in zip(lo, hi)]]
    if len(lo) <= CORNER_LIMIT:
        points += [[Fraction(v) for v in c] for c in itertools.product(*zip(lo, hi))]
    return points


def scale_lower(backend: str, exprs: list[Expr], lo: list[float], hi: list[float]) -> float:
    """A float ``<= S = max_k max_p |f_k(p)|``, in one backend.

    ``f_k`` are the target's output expressions and ``p`` the domain's reference points
    (:func:`reference_points`).  Each ``f_k(p)`` is enclosed by the backend's expression
    operations (:mod:`certify.check.expr_backends`) over the float box around ``p`` (the
    point itself where it is a float); its contribution is the lower end of ``|f_k(p)|``,
    0 where the enclosure contains 0 or fails.  The result is a lower bound of S.
    """
    bk, ops = make_backend(backend), _ops(backend)
    best = 0.0
    with bk.context():
        for p in reference_points(lo, hi):
            X = [ops.point(float_down(q), float_up(q)) for q in p]
            for expr in exprs:
                try:
                    v = evaluate(expr, X, ops)
                except EnclosureFailure:
                    continue
                low = max(bk.lb(v), bk.lb(-v), 0.0)
                if math.isfinite(low):
                    best = max(best, low)
    return best


def _check_floor(backend: str, problem: BoxProblem) -> float | None:
    """The measure floor's part of item 6 in one backend: None if the claim needs no floor,
    else the backend's lower bound of S; Rejected if ``upper > 2^-40 S_b``."""
    if problem.floor_exprs is None:
        return None
    s = scale_lower(backend, problem.floor_exprs, problem.lo, problem.hi)
    if not Fraction(problem.upper) <= FLOOR_FRACTION * Fraction(s):
        raise Rejected(f"{backend}: claim.upper {problem.upper!r} > (1 + tol) * claim.lower, "
                       f"and > 2^-40 S_b = {float(FLOOR_FRACTION * Fraction(s))!r}, this "
                       f"backend's lower bound of the measure floor (S_b = {s!r} <= S, the "
                       f"largest |f| at the domain's centre and corners)")
    return s


def _leaves(entry: dict[str, Any], where: str, D: int, lo: list[float], hi: list[float]
            ) -> list[tuple[tuple[Fraction, Fraction], ...]]:
    tree, bounds = entry["tree"], entry["bounds"]
    if not isinstance(tree, str) or not tree:
        raise _fail(f"{where}.tree must be a non-empty string")
    if not isinstance(bounds, list):
        raise _fail(f"{where}.bounds must be a list")
    for b in bounds:
        _num(b, f"{where}.bounds")
    leaves = parse_tree(tree, D, [Fraction(v) for v in lo], [Fraction(v) for v in hi])
    if len(leaves) != len(bounds):
        raise Rejected(f"{where}: {len(leaves)} leaves but {len(bounds)} bounds")
    return leaves


def _ridge_parts(entry: Any, out: OutputScores, grids: list[Grid | None], hints: list[Any],
                 target: Target, lo: list[float], hi: list[float], upper: float) -> list[Part]:
    """A ridge cover (:mod:`certify.ridge`): one one-variable part per head.

    Checks the decomposition exactly, that each part's latent interval contains the exact
    range of its latent, and that ``sum_h U_h + constant <= claim.upper`` with ``U_h`` the
    largest bound stated for ridge h (each of its boxes is then checked against ``U_h``)
    and ``constant >= |c_N - b|``.
    """
    from certify.ridge import ridge_decomposition

    entry = _obj(entry, "cover[0]", ("token", "row", "ridges", "constant"))
    if entry["token"] != out.token or entry["row"] != out.row:
        raise Rejected("cover entry does not name the output entry")
    if target.layers is None:
        raise Rejected("a ridge cover needs a ReLU-network target")
    items = entry["ridges"]
    if not isinstance(items, list) or len(items) != len(out.heads):
        raise _fail("cover[0].ridges must hold one entry per head")
    units, parsed = [], []
    for h, it in enumerate(items):
        where = f"cover[0].ridges[{h}]"
        it = _obj(it, where, ("head", "unit", "latent", "upper", "tree", "bounds"))
        if it["head"] != h:
            raise _fail(f"{where}.head must be {h}")
        u = it["unit"]
        if isinstance(u, bool) or not isinstance(u, int):
            raise _fail(f"{where}.unit must be an integer")
        lat = it["latent"]
        if not isinstance(lat, list) or len(lat) != 2:
            raise _fail(f"{where}.latent must be [lo, hi]")
        l0, l1 = _num(lat[0], f"{where}.latent"), _num(lat[1], f"{where}.latent")
        if not l0 < l1:
            raise _fail(f"{where}.latent needs lo < hi")
        units.append(u)
        parsed.append((it, l0, l1))
    parsed_hints = [parse_grid_hint(hh, f"structure.grids[{h}]") if hh is not None else None
                    for h, hh in enumerate(hints)]
    try:
        ridges, cdiff = ridge_decomposition(out, parsed_hints, target.layers, lo, hi, units)
    except StructureError as exc:
        raise Rejected(f"ridge decomposition: {exc}") from None
    constant = _num(entry["constant"], "cover[0].constant")
    if not Fraction(constant) >= abs(cdiff):
        raise Rejected("cover[0].constant is below |network constant - target bias|")
    total = Fraction(constant)
    parts = []
    for r, (it, l0, l1) in zip(ridges, parsed):
        if not (Fraction(l0) <= r.lo and r.hi <= Fraction(l1)):
            raise Rejected(f"ridge {r.head}: latent interval does not contain the latent's "
                           f"range over the domain")
        leaves = _leaves(it, f"cover[0].ridges[{r.head}]", 1, [l0], [l1])
        U_h = _num(it["upper"], f"cover[0].ridges[{r.head}].upper")
        total += Fraction(U_h)
        try:
            g1 = grid_structure(r.scores, r.hint)
        except StructureError as exc:
            raise Rejected(f"ridge {r.head}: {exc}") from None
        expr = r.target()
        parts.append(Part(f"ridge {r.head}", OutputScores(0, 0, [r.scores], Fraction(0)),
                          [g1], expr, _gradient(expr, 1), leaves, U_h))
    if not total <= Fraction(upper):
        raise Rejected(f"the ridges' bounds and the constant sum to {float(total):.17g} > "
                       f"claim.upper {upper:.17g}")
    return parts


def _ops(name: str):
    from certify.check.expr_backends import ArbOps, PyIntervalOps
    return ArbOps() if name == "flint" else PyIntervalOps()


class _Worker:
    """Box checks of one part in one backend."""

    def __init__(self, backend: str, part: Part) -> None:
        self.bk = make_backend(backend)
        self.part = part
        grad = list(part.gradient) if part.gradient is not None else None
        with self.bk.context():
            if part.composed is not None and part.grids2 == "softmax":
                from certify.check.softmax_bound import SoftmaxChecker
                self.checker = SoftmaxChecker(self.bk, _ops(backend), part.composed,
                                              part.grids, part.expr, grad)
            elif part.composed is not None:
                from certify.check.composed_bound import ComposedChecker
                self.checker = ComposedChecker(self.bk, _ops(backend), part.composed,
                                               part.grids, part.grids2, part.expr, grad)
            else:
                self.checker = OutputChecker(self.bk, _ops(backend), part.output, part.grids,
                                             part.expr, grad)

    def run(self, start: int, stop: int) -> tuple[int, float, tuple | None]:
        p = self.part
        largest = 0.0
        with self.bk.context():
            for i in range(start, stop):
                X = [(float_down(a), float_up(b)) for a, b in p.leaves[i]]
                bound = self.checker.box_bound(X, p.upper)
                largest = max(largest, bound)
                if not bound <= p.upper:
                    return i - start + 1, largest, (i, X, bound)
        return stop - start, largest, None


def _witness(backend: str, problem: BoxProblem) -> float:
    """A float lower bound of ``|N(x) - f(x)|`` at the witness, in one backend."""
    part = problem.witness_part or Part("witness", problem.output, problem.grids,
                                        problem.target.expr, None, [], 0.0)
    w = _Worker(backend, part)
    with w.bk.context():
        e = w.checker.error_at(problem.witness)
        if e is None:
            return 0.0
        return max(w.bk.lb(e), w.bk.lb(-e), 0.0)


_WORKER: _Worker | None = None


def _init(backend: str, part: Part) -> None:
    global _WORKER
    ignore_sigint()  # Ctrl-C is the parent's (certify/interrupts.py)
    _WORKER = _Worker(backend, part)


def _run(start: int, stop: int):
    assert _WORKER is not None
    return _WORKER.run(start, stop)


def _check_part(part: Part, backend: str, jobs: int, progress: Progress | None,
                done0: int, total: int) -> tuple[int, float]:
    n = len(part.leaves)
    size = CHUNK if jobs <= 1 else max(20, min(CHUNK, n // (8 * jobs) + 1))
    tasks = [(s, min(s + size, n)) for s in range(0, n, size)]
    largest, done = 0.0, 0
    if jobs <= 1:
        w = _Worker(backend, part)
        results = (w.run(*t) for t in tasks)
        pool = None
    else:
        pool = cf.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                      initializer=_init, initargs=(backend, part))
        results = (f.result() for f in [pool.submit(_run, *t) for t in tasks])
    try:
        for count, big, fail in results:
            done += count
            largest = max(largest, big)
            if progress:
                progress(done0 + done, total)
            if fail is not None:
                i, X, bound = fail
                box = ", ".join(f"[{a:.17g}, {b:.17g}]" for a, b in X)
                raise Rejected(f"{backend}: {part.name}, box {i} ({box}): checker bound "
                               f"{bound:.17g} > {part.upper:.17g}")
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return done, largest


def run_box_check(obj: dict[str, Any], names: list[str], jobs: int = 1,
                  progress: Progress | None = None) -> tuple[bool, str, dict[str, Any]]:
    """Verify an input-box certificate in the named backends; ``(verdict, reason, stats)``."""
    stats: dict[str, Any] = {"backends": {}}
    try:
        if obj.get("theorem") in COMPOSED_THEOREMS:
            from certify.check.composed_verify import verify_composed_structure
            problem = verify_composed_structure(obj)
        else:
            problem = verify_box_structure(obj)
        stats["outputs"] = len(problem.parts) if problem.parts[0].composed is not None else 1
        total = sum(len(p.leaves) for p in problem.parts)
        stats["boxes"] = total
        floors: dict[str, float] = {}
        for name in names:
            t0 = time.perf_counter()
            s = _check_floor(name, problem)
            if s is not None:
                floors[name] = s
            low = _witness(name, problem)
            need = max(problem.lower, float(obj["witness"]["error_lower"]))
            if need > 0 and not low >= need:
                raise Rejected(f"{name}: witness error |e| >= {low:.17g} does not certify "
                               f"claim.lower {need:.17g}")
            t1 = time.perf_counter()
            boxes, largest = 0, 0.0
            for part in problem.parts:
                n, big = _check_part(part, name, jobs, progress, boxes, total)
                boxes += n
                largest = max(largest, big)
            t2 = time.perf_counter()
            stats["backends"][name] = {
                "witness_error_lower": low, "largest_bound": largest, "boxes": boxes,
                "seconds": t2 - t0, "seconds_per_box": (t2 - t1) / max(boxes, 1)}
    except Rejected as exc:
        return False, str(exc), stats
    bounds = ", ".join(f"{s['largest_bound']:.6g} ({n})" for n, s in stats["backends"].items())
    if problem.parts[0].composed is not None:
        what = (f"sup error <= {bounds} <= claim.upper {problem.upper:.6g} for each of "
                f"{len(problem.parts)} output entr{'y' if len(problem.parts) == 1 else 'ies'}")
    elif len(problem.parts) == 1 and problem.parts[0].name == "input box":
        what = f"sup error <= {bounds} <= claim.upper {problem.upper:.6g}"
    else:
        what = (f"sup error <= sum of {len(problem.parts)} ridge bounds + constant <= "
                f"claim.upper {problem.upper:.6g} (largest box bound {bounds})")
    floor = ""
    if floors:
        scales = ", ".join(f"{v:.6g} ({n})" for n, v in floors.items())
        floor = (f"; claim.upper <= the measure floor 2^-40 S, S >= {scales} (the largest "
                 f"|f| at the domain's centre and corners)")
    return True, (f"{what} over {stats['boxes']} boxes; witness error >= claim.lower "
                  f"{problem.lower:.6g}{floor}"), stats
