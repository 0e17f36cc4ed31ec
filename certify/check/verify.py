"""The independent certificate checker: the only code a reader must trust.

:func:`check_certificate` accepts a certificate (schema ``attncert-certificate/1``) iff
every statement below is verified; otherwise it returns ``(False, reason)`` naming the
first failure.  A malformed certificate raises :class:`certify.errors.InputError`.

1. Form (:mod:`certify.check.schema`): keys, types, finite numbers, shapes.
2. Identity: ``network_sha256`` is the SHA-256 of the stored network's canonical JSON; the
   per-head ``terms`` add up, exactly, to the target's truncated-linear terms.  Whether the
   network is the one a construction builds (conformance) is a separate statement,
   checked by :mod:`theorems.conformance`; the error claim needs no construction code.
3. Reduction (:mod:`certify.check.model`): each output depends on X only through its
   latent scalar ``y_k``, and ``y_k`` is the target's ``w_k . x_k + t_k`` exactly.
4. Coverage: one cover entry per (output token, output row); every tree parses as a
   complete binary tree with one bound per leaf; ``[y_lo, y_hi]`` contains the exact range
   of ``y_k`` over the domain (exact rational arithmetic).  The leaves of a tree partition
   ``[y_lo, y_hi]``, so the boxes cover every reachable ``y_k``.
5. Boxes (:mod:`certify.check.bound`): for every leaf box the checker's own rigorous bound
   of ``sup |e|`` is certainly ``<= claim.upper``, on the box itself or, failing that, on
   every part of a bisection of it (at most :data:`SPLITS` levels, chosen by the checker).
   Hence ``sup_X |N(X) - f(X)| <= upper``.
6. Witness: the witness lies in the domain and the rigorously evaluated ``|e|`` there is
   certainly ``>= claim.lower`` (and ``>= witness.error_lower``); ``lower <= upper``; in mode
   ``prove`` ``upper <= epsilon``, in mode ``measure`` ``upper <= (1 + tol) lower`` or
   ``upper <= F``, the measure floor (:func:`certify.check.schema.measure_floor`) (exact).

Items 5 and 6 run in each requested backend ("flint", "pyinterval", or "both", which
requires both to accept).  The checker imports no engine module (a test asserts this).
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from certify.check.backends import make_backend
from certify.check.bound import PreparedHead, box_bound, box_endpoints, witness_error
from certify.check.model import OutputProblem, Rejected, latent_at, latent_range, reduce_network
from certify.check.schema import Certificate, measure_floor, parse_certificate
from certify.errors import InputError
from certify.interrupts import ignore_sigint
from certify.network import canonical_json
from certify.spec import latent_affine, truncated_linear_terms, unique_keys

Progress = Callable[[int, int], None]
#: Boxes per task (and between progress reports).
CHUNK = 2000
#: A leaf box whose bound misses the claim is bisected by the checker, at most this many
#: levels deep, before it is rejected: the checker's own arithmetic may be looser than the
#: engine's on some boxes (other rounding, other library), and a finer partition of the
#: same box proves the same statement.
SPLITS = 6
#: No box is split below this depth of the tree over ``[y_lo, y_hi]``.
MAX_SPLIT_DEPTH = 1000


@dataclass
class Problem:
    """A certificate whose backend-independent statements (items 1-4) have been verified."""

    cert: Certificate
    outputs: list[OutputProblem]
    ranges: list[tuple[float, float]]  # [y_lo, y_hi] per output
    leaves: list[list[tuple[int, int]]]  # (depth, index) per leaf, pre-order, per output
    terms: list[tuple[int, int, float, float]]
    witness: int  # index into outputs


def parse_tree(bits: str) -> list[tuple[int, int]]:
    """Leaves ``(depth, index)`` of a pre-order bisection tree, in pre-order (= left to right).

    Node ``(d, i)`` is split ('1') into ``(d+1, 2i)`` then ``(d+1, 2i+1)``, or is a leaf ('0').
    Raises :class:`Rejected` if the string ends before the tree is complete or continues
    after it.  The leaves of a complete tree partition the root interval.
    """
    leaves, stack, pos = [], [(0, 0)], 0
    while stack:
        if pos >= len(bits):
            raise Rejected("cover tree is truncated")
        d, i = stack.pop()
        if bits[pos] == "1":
            stack.append((d + 1, 2 * i + 1))
            stack.append((d + 1, 2 * i))
        else:
            leaves.append((d, i))
        pos += 1
    if pos != len(bits):
        raise Rejected("cover tree has bits after its last leaf")
    return leaves


def _grouped(terms) -> dict[tuple[float, float], Fraction]:
    """``sum_i (num_i/den_i) Range_[a_i, b_i]`` grouped by ``(a, b)`` (exact coefficients)."""
    out: dict[tuple[float, float], Fraction] = {}
    for num, den, a, b in terms:
        out[(a, b)] = out.get((a, b), Fraction(0)) + Fraction(num, den)
    return {k: v for k, v in out.items() if v != 0}


def verify_structure(cert: Certificate) -> Problem:
    """Items 2-4 and the backend-independent parts of 6; raises :class:`Rejected`."""
    spec = cert.spec
    if not cert.lower <= cert.upper:
        raise Rejected(f"claim.lower {cert.lower!r} > claim.upper {cert.upper!r}")
    if spec.mode == "prove":
        if not cert.upper <= spec.epsilon:
            raise Rejected(f"claim.upper {cert.upper!r} > epsilon {spec.epsilon!r}")
    elif not (Fraction(cert.upper) <= (1 + Fraction(spec.tol)) * Fraction(cert.lower)
              or Fraction(cert.upper) <= measure_floor(spec.target)):
        raise Rejected(f"claim.upper {cert.upper!r} > (1 + tol) * claim.lower and > the "
                       f"measure floor {float(measure_floor(spec.target))!r}")

    text = canonical_json(cert.network)
    if hashlib.sha256(text.encode()).hexdigest() != cert.network_sha256:
        raise Rejected("network_sha256 does not match the stored network")
    net = cert.net
    if net.to_json() != text:
        raise Rejected("stored network is not in canonical form")

    w, t = latent_affine(cert.theorem, spec.target)
    outputs = reduce_network(net, w, t)
    n_heads = len(net.layers[1].heads)
    # Head h carries the term terms[h]; together they must be the target, exactly.
    terms = [tuple(x) for x in cert.terms]
    if len(terms) != n_heads or _grouped(terms) != _grouped(truncated_linear_terms(spec.target)):
        raise Rejected("terms do not add up to the target's truncated-linear terms, one per "
                       "head")

    entries: dict[tuple[int, int], Any] = {}
    for e in cert.cover:
        if (e.token, e.row) in entries:
            raise Rejected(f"cover has two entries for output token {e.token} row {e.row}")
        entries[(e.token, e.row)] = e
    if set(entries) != {(o.token, o.row) for o in outputs}:
        raise Rejected("cover entries do not match the outputs (one per token and row)")
    ranges, leaves = [], []
    parsed: dict[str, list[tuple[int, int]]] = {}  # entries written ``same_as`` share a tree
    for o in outputs:
        e = entries[(o.token, o.row)]
        where = f"output token {o.token} row {o.row}"
        if e.tree not in parsed:
            parsed[e.tree] = parse_tree(e.tree)
        lv = parsed[e.tree]
        if len(lv) != len(e.bounds):
            raise Rejected(f"{where}: {len(lv)} leaves but {len(e.bounds)} bounds")
        ymin, ymax = latent_range(o.coef, o.const, spec.lo, spec.hi)
        if not (Fraction(e.y_lo) <= ymin and ymax <= Fraction(e.y_hi)):
            raise Rejected(f"{where}: [y_lo, y_hi] = [{e.y_lo!r}, {e.y_hi!r}] does not contain "
                           f"the range [{float(ymin)!r}, {float(ymax)!r}] of its latent scalar")
        if any(all(b == 0 for b in hd.B) for hd in o.heads):
            raise Rejected(f"{where}: unsupported, no score depends on the latent scalar")
        ranges.append((e.y_lo, e.y_hi))
        leaves.append(lv)

    x = cert.witness_x
    if not ((spec.lo <= x).all() and (x <= spec.hi).all()):
        raise Rejected("witness lies outside the domain")
    idx = [k for k, o in enumerate(outputs)
           if (o.token, o.row) == (cert.witness_token, cert.witness_row)]
    if not idx:
        raise Rejected("witness names no output entry")
    return Problem(cert, outputs, ranges, leaves, terms, idx[0])


# -- boxes, in this process or in workers ---------------------------------------------------

class BoxChecker:
    """Item 5 for ranges of leaf boxes in one backend (one per process).

    Each output's heads are prepared (:class:`PreparedHead`) on first use and kept.
    """

    def __init__(self, backend: str, outputs: list[OutputProblem],
                 ranges: list[tuple[float, float]], leaves: list[list[tuple[int, int]]],
                 terms: list[tuple[int, int, float, float]], upper: float,
                 aggregate: bool) -> None:
        self.bk = make_backend(backend)
        self.outputs, self.ranges, self.leaves = outputs, ranges, leaves
        self.terms, self.upper, self.aggregate = terms, upper, aggregate
        self._heads: dict[int, list[PreparedHead]] = {}

    def heads(self, k: int) -> list[PreparedHead]:
        if k not in self._heads:
            y_lo, y_hi = self.ranges[k]
            self._heads[k] = [
                PreparedHead(self.bk, hd.A, hd.B, hd.V, Fraction(num, den), a, b, y_lo, y_hi,
                             self.aggregate)
                for hd, (num, den, a, b) in zip(self.outputs[k].heads, self.terms)]
        return self._heads[k]

    def run(self, k: int, start: int, stop: int) -> tuple[int, float, tuple | None]:
        """Check leaves ``start..stop-1`` of output k.

        Returns ``(count, largest bound, failure)``; failure is ``(leaf, y0, y1, bound)``
        for the first box whose bound is not certainly ``<= upper``.
        """
        bk = self.bk
        with bk.context():
            heads = self.heads(k)
            y_lo, y_hi = self.ranges[k]
            upper = bk.num(self.upper)
            largest = 0.0
            for i in range(start, stop):
                depth, index = self.leaves[k][i]
                ok, ub, y0, y1 = self._leaf(heads, y_lo, y_hi, upper, depth, index, SPLITS)
                largest = max(largest, ub)
                if not ok:
                    return i - start + 1, largest, (i, y0, y1, ub)
            return stop - start, largest, None

    def _leaf(self, heads: list[PreparedHead], y_lo: float, y_hi: float, upper: Any,
              depth: int, index: int, splits: int) -> tuple[bool, float, float, float]:
        """Whether ``sup |e| <= upper`` is verified on the box ``(depth, index)``.

        The box is bounded whole; if that bound misses ``upper``, its two halves are
        bounded in turn, down to ``splits`` further levels.  The halves partition the box,
        so a box is verified iff every part of some partition of it is.  Returns ``(ok,
        largest bound used, y0, y1)``, the ends (floats) naming the box that failed.
        """
        bk = self.bk
        y0, y1 = box_endpoints(bk, y_lo, y_hi, depth, index)
        keys = (Fraction(index, 2 ** depth), Fraction(index + 1, 2 ** depth))
        bound = box_bound(bk, heads, y0, y1, self.upper, keys)
        if bk.le(bound, upper):
            return True, bk.ub(bound), bk.mid(y0), bk.mid(y1)
        if splits <= 0 or depth >= MAX_SPLIT_DEPTH:
            return False, bk.ub(bound), bk.mid(y0), bk.mid(y1)
        largest = 0.0
        for child in (2 * index, 2 * index + 1):
            ok, ub, c0, c1 = self._leaf(heads, y_lo, y_hi, upper, depth + 1, child, splits - 1)
            largest = max(largest, ub)
            if not ok:
                return False, largest, c0, c1
        return True, largest, bk.mid(y0), bk.mid(y1)


_WORKER: BoxChecker | None = None


def _worker_init(*args: Any) -> None:
    global _WORKER
    ignore_sigint()  # Ctrl-C is the parent's (certify/interrupts.py)
    _WORKER = BoxChecker(*args)


def _worker_run(k: int, start: int, stop: int) -> tuple[int, float, tuple | None]:
    assert _WORKER is not None
    return _WORKER.run(k, start, stop)


def _output_key(problem: Problem, k: int) -> tuple:
    """Everything the box checks of output k depend on, exactly (Fractions and floats)."""
    heads = tuple((tuple(h.A), tuple(h.B), tuple(h.V)) for h in problem.outputs[k].heads)
    return heads, problem.ranges[k], tuple(problem.leaves[k])


def _check_boxes(problem: Problem, backend: str, jobs: int, aggregate: bool,
                 progress: Progress | None) -> tuple[int, float]:
    """Item 5 in one backend; returns ``(boxes, largest bound)`` or raises Rejected."""
    args = (backend, problem.outputs, problem.ranges, problem.leaves, problem.terms,
            problem.cert.upper, aggregate)
    total = sum(len(lv) for lv in problem.leaves)
    size = CHUNK if jobs <= 1 else max(50, min(CHUNK, total // (8 * jobs) + 1))
    # Outputs whose exact data (scores, values, latent range and cover) coincide -- every
    # token of T2 -- pose the same computation; it runs once and counts for all of them.
    first: dict[Any, int] = {}
    rep = [first.setdefault(_output_key(problem, k), k) for k in range(len(problem.leaves))]
    tasks = [(k, s, min(s + size, len(lv))) for k, lv in enumerate(problem.leaves)
             if rep[k] == k for s in range(0, len(lv), size)]
    done = sum(len(lv) for k, lv in enumerate(problem.leaves) if rep[k] != k)
    largest, failures = 0.0, []
    if jobs <= 1:
        checker = BoxChecker(*args)
        results = (checker.run(*t) for t in tasks)
    else:
        pool = cf.ProcessPoolExecutor(jobs, initializer=_worker_init, initargs=args)
        futures = [pool.submit(_worker_run, *t) for t in tasks]
        results = (f.result() for f in futures)
    try:
        for task, (count, big, fail) in zip(tasks, results):
            done += count
            largest = max(largest, big)
            if progress:
                progress(done, total)
            if fail is not None:
                failures.append((task[0], fail))
                break
    finally:
        if jobs > 1:
            pool.shutdown(wait=True, cancel_futures=True)
    if failures:
        k, (i, y0, y1, ub) = failures[0]
        o = problem.outputs[k]
        raise Rejected(f"{backend}: output token {o.token} row {o.row}, box {i} "
                       f"[{y0:.17g}, {y1:.17g}]: checker bound {ub:.17g} > claim.upper "
                       f"{problem.cert.upper:.17g}")
    return done, largest


def time_boxes(cert_obj: dict, backend: str = "flint", far_aggregation: bool = True,
               budget_seconds: float = 10.0) -> tuple[float, int]:
    """Seconds per leaf box of one backend, measured on consecutive boxes within a budget.

    Boxes are taken in order from the middle of the first output's cover (one-time
    preparation is excluded).  Returns ``(seconds_per_box, boxes_measured)``; the boxes'
    verdicts are not used.  For benchmarks only.
    """
    problem = verify_structure(parse_certificate(cert_obj))
    checker = BoxChecker(backend, problem.outputs, problem.ranges, problem.leaves,
                         problem.terms, problem.cert.upper, far_aggregation)
    with checker.bk.context():
        checker.heads(0)
    leaves = len(problem.leaves[0])
    start = stop = leaves // 2
    elapsed = 0.0
    while elapsed < budget_seconds and stop < leaves:
        t0 = time.perf_counter()
        checker.run(0, stop, min(stop + 8, leaves))
        elapsed += time.perf_counter() - t0
        stop = min(stop + 8, leaves)
    return elapsed / max(stop - start, 1), stop - start


def _check_witness(problem: Problem, backend: str) -> float:
    """Item 6 in one backend; returns a float lower bound of ``|e|`` at the witness."""
    bk = make_backend(backend)
    cert = problem.cert
    out = problem.outputs[problem.witness]
    with bk.context():
        y = latent_at(out.coef, out.const, cert.witness_x)
        e = bk.num(0)
        for hd, (num, den, a, b) in zip(out.heads, problem.terms):
            e = e + witness_error(bk, hd.A, hd.B, hd.V, Fraction(num, den), a, b, y)
        need = max(cert.lower, cert.witness_error_lower)
        low = max(bk.lb(e), bk.lb(-e), 0.0)
        if need > 0 and not (bk.le(bk.num(need), e) or bk.le(e, bk.num(-need))):
            raise Rejected(f"{backend}: witness error |e| >= {low:.17g} does not certify "
                           f"claim.lower {need:.17g}")
        return low


def run_check(cert_obj: dict, backend: str = "both", jobs: int = 1,
              far_aggregation: bool = True, progress: Progress | None = None
              ) -> tuple[bool, str, dict[str, Any]]:
    """:func:`check_certificate` plus statistics.

    Returns
    -------
    (bool, str, dict)
        The verdict and reason of :func:`check_certificate`, and ``stats`` with
        ``outputs``, ``boxes`` and, per backend that ran to completion,
        ``witness_error_lower`` (a float lower bound of ``|e|`` at the witness),
        ``largest_bound`` (the largest per-box upper bound the checker proved; the checker
        proves ``sup |e| <= largest_bound``), ``boxes``, ``seconds`` and ``seconds_per_box``.
        A box's bound is the first of its enclosures (zeroth order, then with the
        bicentred form, then with the centred form) that meets ``claim.upper``.
    """
    names = {"both": ["flint", "pyinterval"], "flint": ["flint"],
             "pyinterval": ["pyinterval"]}.get(backend)
    if names is None:
        raise InputError(f"unknown backend {backend!r}; known: flint, pyinterval, both")
    if not isinstance(jobs, int) or jobs < 1:
        raise InputError("jobs must be a positive integer")
    if isinstance(cert_obj, dict) and cert_obj.get("theorem") in ("uap", "uap-two-layer",
                                                                   "seq2seq", "uap-softmax"):
        from certify.check.box_verify import run_box_check
        return run_box_check(cert_obj, names, jobs, progress)
    try:
        cert = parse_certificate(cert_obj)
    except RecursionError:
        raise InputError("certificate: nested too deeply") from None
    stats: dict[str, Any] = {"backends": {}}
    try:
        problem = verify_structure(cert)
        stats["outputs"] = len(problem.outputs)
        stats["boxes"] = sum(len(lv) for lv in problem.leaves)
        for name in names:
            t0 = time.perf_counter()
            low = _check_witness(problem, name)
            t1 = time.perf_counter()
            boxes, largest = _check_boxes(problem, name, jobs, far_aggregation, progress)
            t2 = time.perf_counter()
            stats["backends"][name] = {
                "witness_error_lower": low, "largest_bound": largest, "boxes": boxes,
                "seconds": t2 - t0, "seconds_per_box": (t2 - t1) / max(boxes, 1)}
    except Rejected as exc:
        return False, str(exc), stats
    bounds = ", ".join(f"{s['largest_bound']:.6g} ({name})"
                       for name, s in stats["backends"].items())
    return True, (f"sup error <= {bounds} <= claim.upper {cert.upper:.6g} over "
                  f"{stats['boxes']} boxes; witness error >= claim.lower {cert.lower:.6g}"), stats


def check_certificate(cert_obj: dict, backend: str = "both", jobs: int = 1,
                      far_aggregation: bool = True, progress: Progress | None = None
                      ) -> tuple[bool, str]:
    """Verify a decoded certificate; ``(True, summary)`` or ``(False, first failure)``.

    Parameters
    ----------
    cert_obj : dict
        The decoded JSON certificate.
    backend : {"both", "flint", "pyinterval"}
        Rigorous arithmetic to use; "both" requires both to accept.
    jobs : int
        Worker processes for the leaf boxes (1: in this process).
    far_aggregation : bool
        False evaluates every key column explicitly in every box (the naive rigorous path).
    progress : callable, optional
        Called as ``progress(boxes_done, boxes_total)``.

    Raises
    ------
    InputError
        The certificate is malformed (missing keys, wrong types, NaN, bad shapes).
    """
    ok, reason, _ = run_check(cert_obj, backend, jobs, far_aggregation, progress)
    return ok, reason


def load_certificate(path: str) -> Any:
    """The decoded JSON of a certificate file (duplicate keys and NaN refused).

    Raises
    ------
    InputError
        Unreadable file or malformed JSON (one line).
    """
    def reject_constant(name: str) -> float:
        raise InputError(f"{path}: non-finite number {name} in JSON")

    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh, parse_constant=reject_constant,
                             object_pairs_hook=unique_keys(path))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply") from None


def check_file(path: str, backend: str = "both", jobs: int = 1
               ) -> tuple[bool, str, dict[str, Any]]:
    """Read a certificate file and verify it.

    Parameters
    ----------
    path : str
        A JSON certificate file (NaN/Infinity literals are refused).
    backend, jobs
        As for :func:`check_certificate`.

    Returns
    -------
    (bool, str, dict)
        As :func:`run_check`; ``stats["seconds"]`` is the total wall time.

    Raises
    ------
    InputError
        Unreadable file, malformed JSON or a malformed certificate (one line).
    """
    obj = load_certificate(path)
    t0 = time.perf_counter()
    ok, reason, stats = run_check(obj, backend, jobs)
    stats["seconds"] = time.perf_counter() - t0
    if not math.isfinite(stats["seconds"]):
        stats["seconds"] = 0.0
    return ok, reason, stats
