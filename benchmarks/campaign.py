"""Completeness and soundness campaign for theorems ``single-head`` (T1) and ``multi-head`` (T2).

Random specifications are drawn over the accepted parameter space of both theorems: every
target kind, kappa from 1e-3 to 1e6 or an explicit beta, range, latent and domain scales
from about 1e-150 to 1e100, scalar and per-entry domains (degenerate ones included), a
few tokens and heads, and both modes (``prove`` with an epsilon chosen below or above the
network's sampled error, ``measure`` with a tolerance).  Each spec is

1. parsed (a spec the parser refuses with ``InputError`` is counted as *refused*);
2. certified through :func:`certify.pipeline.certify` under a small budget
   (:func:`certify.engine.run_limits`; a budget stop is counted as *budget*);
3. if a certificate was written, checked by the independent checker with the ``flint``
   and the ``pyinterval`` backends and by conformance (a rejection of our own certificate
   is a defect);
4. compared with an independent mpmath evaluation of ``|N(X) - f(X)|`` written here from
   the stored weights of the network (:class:`MpNetwork`) and the target's definition
   (:class:`MpTarget`), not from engine code:

   a. at the witness, the error must be at least ``claim.lower`` (and the witness's
      ``error_lower``); in prove mode, at a reported counterexample, at least its
      ``error_lower``; for every run, at the engine's witness point, at least its lower
      bound;
   b. at many points (the witness and points near it, a grid over every token's latent
      range, random points and corners of the domain), at most ``claim.upper``.

The three counts that must be zero: checker rejections of our own certificates, an upper
bound below an mpmath value, a lower bound above an mpmath value.  Internal errors (an
exception other than ``InputError`` on a spec the parser accepted) are reported too and
also make the exit status non-zero.

Usage::

    python benchmarks/campaign.py --n 2000 --seed 0 --jobs 2
    python benchmarks/campaign.py --n 2000 --seed 0 --only 1234     # one case, verbose

Each failing case is printed as one JSON line holding its spec, so that it can be
reproduced with ``attncert certify``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import signal
import statistics
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np

#: Relative slack of every comparison with an mpmath value: 1e-30, far above the mpmath
#: accuracy (2^-100 of the compared value) and far below any rounding of the engine.
REL_SLACK = mpmath.mpf("1e-30")
#: Smallest working precision in bits (about 60 decimal digits; mpmath's dps 50 is 169).
MIN_PREC = 200
#: Largest working precision; a spec that would need more is reported as imprecise.
MAX_PREC = 20000
#: Budget of each certification (evaluated boxes and seconds of wall clock).
DEFAULT_MAX_BOXES = 200_000
DEFAULT_TIMEOUT = 20.0
#: Wall-clock limit of each checker backend (and of conformance) on one certificate.
DEFAULT_CHECK_TIMEOUT = 20.0

T1, T2 = "single-head", "multi-head"
ONE_TERM_KINDS = ("truncated-linear", "clip", "hard-tanh", "hard-sigmoid", "relu")
ALL_KINDS = ONE_TERM_KINDS + ("leaky-relu",)
#: Outcomes of a case; exactly one per case.
OUTCOMES = ("refused", "certified", "budget", "not-certified", "refused-late", "error")
#: Counts that must be zero.
MUST_BE_ZERO = ("rejections", "unsound_upper", "lower_above")


# -- the independent evaluator ---------------------------------------------------------------

def _mpf(x: Any) -> mpmath.mpf:
    """``x`` as an mpf; a binary64 number is converted exactly at every precision."""
    return x if isinstance(x, mpmath.mpf) else mpmath.mpf(float(x))


class MpNetwork:
    """The exact-weight output of an ``attncert-network/1`` network of the T1/T2 shape.

    The network must be an affine first layer (``sequence-affine`` or ``token-affine``),
    one ``attention`` layer (``residual`` allowed) and optionally one ``select-columns``
    layer.  It is read from its JSON object directly: every stored weight is a binary64
    number, converted exactly to an mpf.

    :meth:`output` evaluates the network in mpmath at ``prec`` bits: every product and sum
    is rounded to ``prec`` bits, and softmax weights ``exp(s_j - max s)`` below
    ``2^-(prec + log2(m) + 16)`` are left out (their total contribution to an output is at
    most ``2^-prec`` times the largest value magnitude).  The result is therefore the exact
    real output up to an absolute error of order ``2^-prec`` times the magnitudes of the
    scores and values; :meth:`magnitudes` bounds those over a box, so that a precision can
    be chosen for a required accuracy.
    """

    def __init__(self, network: Mapping[str, Any]):
        if network.get("format") != "attncert-network/1":
            raise ValueError("not an attncert-network/1 object")
        self.d, self.n = (int(v) for v in network["input_shape"])
        layers = list(network["layers"])
        if len(layers) not in (2, 3) or layers[1].get("kind") != "attention":
            raise ValueError("expected an affine layer, an attention layer and an optional "
                             "select-columns layer")
        first = layers[0]
        # Z[i][j] = const[i][j] + sum over varying[(i, j)] of v * X[a][b]
        self.const: dict[tuple[int, int], list[float]] = {}
        self.varying: dict[tuple[int, int], list[tuple[int, int, float]]] = {}
        if first["kind"] == "sequence-affine":
            self.dz, self.m = (int(v) for v in first["out_shape"])
            for i, j, a, b, v in first["weights"]:
                self.varying.setdefault((int(i), int(j)), []).append((int(a), int(b), v))
            for i, j, v in first["bias"]:
                self.const.setdefault((int(i), int(j)), []).append(v)
        elif first["kind"] == "token-affine":
            W, c = first["weight"], first["bias"]
            self.dz, self.m = len(W), self.n
            for o in range(self.dz):
                for j in range(self.n):
                    self.const[(o, j)] = [c[o][j]]
                    for i in range(self.d):
                        if W[o][i] != 0:
                            self.varying.setdefault((o, j), []).append((i, j, W[o][i]))
        else:
            raise ValueError(f"unsupported first layer {first['kind']!r}")
        att = layers[1]
        self.residual = bool(att.get("residual", False))
        self.heads = [{k: [list(r) for r in h[k]] for k in ("W_Q", "W_K", "W_V", "W_O")}
                      for h in att["heads"]]
        self.rows = len(self.heads[0]["W_O"])
        if len(layers) == 3:
            if layers[2].get("kind") != "select-columns":
                raise ValueError("the third layer must be select-columns")
            self.queries = [int(c) for c in layers[2]["columns"]]
        else:
            self.queries = list(range(self.m))
        self.varcols = sorted({j for (_, j) in self.varying})
        self._prepared: dict[int, dict[str, Any]] = {}

    # Sparse rows of a dense matrix: skipping zeros changes no value.
    @staticmethod
    def _sparse(M: Sequence[Sequence[float]]) -> list[list[tuple[int, mpmath.mpf]]]:
        return [[(i, _mpf(v)) for i, v in enumerate(row) if v != 0] for row in M]

    @staticmethod
    def _apply(S: list[list[tuple[int, mpmath.mpf]]], col: Sequence[mpmath.mpf]
               ) -> list[mpmath.mpf]:
        out = []
        for row in S:
            acc = mpmath.mpf(0)
            for i, v in row:
                acc += v * col[i]
            out.append(acc)
        return out

    def _prepare(self, prec: int) -> dict[str, Any]:
        """Constants of the evaluation at ``prec`` bits (columns of Z that read no input)."""
        if prec in self._prepared:
            return self._prepared[prec]
        with mpmath.workprec(prec):
            zc = [[mpmath.fsum(_mpf(v) for v in self.const.get((i, j), ()))
                   for j in range(self.m)] for i in range(self.dz)]
            cols = [[zc[i][j] for i in range(self.dz)] for j in range(self.m)]
            var = {key: [(a, b, _mpf(v)) for a, b, v in entries]
                   for key, entries in self.varying.items()}
            heads = []
            for h in self.heads:
                SQ, SK, SV, SO = (self._sparse(h[k]) for k in ("W_Q", "W_K", "W_V", "W_O"))
                keys = [None if j in self.varying_cols else self._apply(SK, cols[j])
                        for j in range(self.m)]
                vals = [None if j in self.varying_cols else
                        self._apply(SO, self._apply(SV, cols[j])) for j in range(self.m)]
                heads.append({"Q": SQ, "K": SK, "V": SV, "O": SO, "keys": keys, "vals": vals})
        prepared = {"cols": cols, "var": var, "heads": heads}
        self._prepared[prec] = prepared
        return prepared

    @property
    def varying_cols(self) -> set[int]:
        """Columns of Z with at least one entry that reads the input."""
        return set(self.varcols)

    def output(self, X: Sequence[Sequence[Any]], prec: int) -> list[list[mpmath.mpf]]:
        """The network's output at the input ``X`` (``d`` rows, ``n`` token columns).

        Parameters
        ----------
        X : nested sequence
            ``X[i][k]``: coordinate i of token k (floats or mpf; any real number).
        prec : int
            Working precision in bits.

        Returns
        -------
        list of list of mpf
            ``out[o][c]``: row o of selected column c, within the accuracy stated in the
            class docstring.
        """
        P = self._prepare(prec)
        with mpmath.workprec(prec):
            cols = list(P["cols"])
            for j in self.varcols:
                col = list(cols[j])
                for i in range(self.dz):
                    entries = P["var"].get((i, j))
                    for a, b, v in entries or ():
                        col[i] += v * _mpf(X[a][b])
                cols[j] = col
            cut = -(prec + math.log2(max(self.m, 2)) + 16) * math.log(2)
            out = [[mpmath.mpf(0)] * len(self.queries) for _ in range(self.rows)]
            for h in P["heads"]:
                keys = [k if k is not None else self._apply(h["K"], cols[j])
                        for j, k in enumerate(h["keys"])]
                vals = [v if v is not None else self._apply(h["O"], self._apply(h["V"], cols[j]))
                        for j, v in enumerate(h["vals"])]
                for c, q in enumerate(self.queries):
                    Q = self._apply(h["Q"], cols[q])
                    nz = [(r, Q[r]) for r in range(len(Q)) if Q[r] != 0]
                    scores = []
                    for key in keys:
                        acc = mpmath.mpf(0)
                        for r, qr in nz:
                            acc += key[r] * qr
                        scores.append(acc)
                    top = max(scores)
                    den = mpmath.mpf(0)
                    num = [mpmath.mpf(0)] * self.rows
                    for s, v in zip(scores, vals):
                        diff = s - top
                        if diff < cut:
                            continue
                        e = mpmath.exp(diff)
                        den += e
                        for o in range(self.rows):
                            num[o] += e * v[o]
                    for o in range(self.rows):
                        out[o][c] += num[o] / den
            if self.residual:
                for c, q in enumerate(self.queries):
                    for o in range(self.rows):
                        out[o][c] += cols[q][o]
            return out

    def magnitudes(self, xabs: Sequence[Sequence[float]]) -> tuple[mpmath.mpf, mpmath.mpf]:
        """Upper bounds of ``|score|`` and ``|value|`` (and residual entries) over a box.

        Parameters
        ----------
        xabs : nested sequence
            ``xabs[i][k] >= |X[i][k]|`` over the box.

        Returns
        -------
        (mpf, mpf)
            ``smax >= sum_r |K_rj| |Q_rq|`` for every head, key j and query q, and ``vmax``
            bounding every value entry ``|(W_O W_V Z)_oj|`` (through ``|W_O| |W_V| |Z|``)
            and, with ``residual``, every ``|Z_oq|``.  Computed with absolute values
            rounded up (53 bits, 2^-40 relative margin), so they are upper bounds.
        """
        with mpmath.workprec(53):
            grow = 1 + mpmath.mpf(2) ** -40
            zabs = [[mpmath.fsum(abs(_mpf(v)) for v in self.const.get((i, j), ()))
                     for j in range(self.m)] for i in range(self.dz)]
            for (i, j), entries in self.varying.items():
                zabs[i][j] += mpmath.fsum(abs(_mpf(v)) * abs(_mpf(xabs[a][b]))
                                          for a, b, v in entries)
            cols = [[zabs[i][j] * grow for i in range(self.dz)] for j in range(self.m)]

            def amul(M, col):
                return [mpmath.fsum(abs(_mpf(v)) * col[i] for i, v in enumerate(row)) * grow
                        for row in M]

            smax = vmax = mpmath.mpf(0)
            for h in self.heads:
                keys = [amul(h["W_K"], cols[j]) for j in range(self.m)]
                for j in range(self.m):
                    vmax = max([vmax] + amul(h["W_O"], amul(h["W_V"], cols[j])))
                for q in self.queries:
                    Q = amul(h["W_Q"], cols[q])
                    for key in keys:
                        smax = max(smax, mpmath.fsum(k * v for k, v in zip(key, Q)) * grow)
            if self.residual:
                vmax = max([vmax] + [cols[q][o] for q in self.queries for o in range(self.rows)])
            return smax, vmax * len(self.heads)


class MpTarget:
    """The target of a T1/T2 spec in normal form, evaluated from its definition.

    Token k's latent is ``y_k = w_k . x_k + t_k`` (T2: the shared ``w``, ``t``).  The value
    is the kind's function of ``y_k`` (``docs/spec.md`` 3.3), not its truncated-linear
    decomposition: ``clamp(y, a, b)`` for ``truncated-linear``, ``clip``, ``hard-tanh``,
    ``hard-sigmoid``; ``max(y, 0)`` for ``relu``; ``max(y, 0) + alpha min(y, 0)`` for
    ``leaky-relu``.  Products of binary64 numbers are exact at 106 bits or more; sums are
    rounded to the working precision.
    """

    def __init__(self, theorem: str, target: Mapping[str, Any]):
        self.kind = target["kind"]
        if theorem == T2:
            n = int(target["tokens"])
            self.w = [list(target["w"])] * n
            self.t = [target["t"]] * n
        else:
            self.w = [list(r) for r in target["w"]]
            self.t = list(target["t"])
        self.n, self.d = len(self.w), len(self.w[0])
        self.target = dict(target)

    def latent(self, k: int, xk: Sequence[Any]) -> mpmath.mpf:
        """``w_k . x_k + t_k`` at the current working precision."""
        return mpmath.fsum([_mpf(w) * _mpf(x) for w, x in zip(self.w[k], xk)]
                           + [_mpf(self.t[k])])

    def value(self, k: int, xk: Sequence[Any]) -> mpmath.mpf:
        """Token k's target value at its input ``xk`` (``d`` numbers)."""
        y = self.latent(k, xk)
        tg = self.target
        if self.kind == "relu":
            return y if y > 0 else mpmath.mpf(0)
        if self.kind == "leaky-relu":
            return y if y > 0 else _mpf(tg["alpha"]) * y
        a, b = _mpf(tg["a"]), _mpf(tg["b"])
        return a if y < a else b if y > b else y

    def scale(self) -> float:
        """``S = sum_i |g_i| max(|a_i|, |b_i|)`` over the target's truncated-linear terms
        (``>= sup |f|`` on the certified domain), as a float."""
        tg = self.target
        if self.kind == "leaky-relu":
            return abs(tg["R"]) + abs(tg["alpha"]) * abs(tg["L"])
        if self.kind == "relu":
            return abs(tg["R"])
        return max(abs(tg["a"]), abs(tg["b"]))

    def windows(self) -> list[tuple[float, float]]:
        """The ``[a_i, b_i]`` of the target's truncated-linear terms."""
        tg = self.target
        if self.kind == "leaky-relu":
            return [(0.0, tg["R"]), (tg["L"], 0.0)]
        if self.kind == "relu":
            return [(0.0, tg["R"])]
        return [(tg["a"], tg["b"])]


class ErrorModel:
    """``N(X) - f(X)`` for a certificate (or a built network with its spec), in mpmath.

    Parameters
    ----------
    theorem : str
        ``single-head`` or ``multi-head``.
    target : dict
        The target in normal form.
    network : dict
        The ``attncert-network/1`` object.
    lo, hi : nested sequence
        The domain as ``[n][d]`` arrays (token-major, the certificate's layout).

    Output column c is token c's output (T1/T2 select the token columns in order); the
    target of every row of column c is token c's target.
    """

    def __init__(self, theorem: str, target: Mapping[str, Any], network: Mapping[str, Any],
                 lo: Sequence[Sequence[float]], hi: Sequence[Sequence[float]]):
        self.net = MpNetwork(network)
        self.target = MpTarget(theorem, target)
        self.lo = [[float(v) for v in row] for row in lo]
        self.hi = [[float(v) for v in row] for row in hi]
        self.n, self.d = len(self.lo), len(self.lo[0])
        if (self.net.d, self.net.n) != (self.d, self.n) or len(self.net.queries) != self.n:
            raise ValueError("network shape does not match the domain")
        self._mag: tuple[mpmath.mpf, mpmath.mpf] | None = None

    @classmethod
    def from_certificate(cls, cert: Mapping[str, Any]) -> ErrorModel:
        """The model of a certificate's stored network, target and domain."""
        return cls(cert["theorem"], cert["target"], cert["network"], cert["domain"]["lo"],
                   cert["domain"]["hi"])

    def precision(self, threshold: float) -> int:
        """Bits at which an error is accurate far below ``1e-30 * threshold``.

        The absolute error of :meth:`errors` is of order ``2^-prec (1 + smax) (vmax + S +
        ymag)`` (:meth:`MpNetwork.magnitudes`, :meth:`MpTarget.scale`, and ``ymag`` bounding
        ``sum_i |w_i x_i| + |t|`` over the domain); the precision makes that
        at most ``2^-110 * threshold`` (``2^-110 < 1e-33``), and at least :data:`MIN_PREC`.
        """
        if self._mag is None:
            xabs = [[max(abs(self.lo[k][i]), abs(self.hi[k][i])) for k in range(self.n)]
                    for i in range(self.d)]
            self._mag = self.net.magnitudes(xabs)
        smax, vmax = self._mag
        S = self.target.scale()
        thr = threshold if threshold > 0 else max(S, 1e-300) * 2.0 ** -60
        with mpmath.workprec(53):
            ymag = max(mpmath.fsum([abs(_mpf(w)) * max(abs(_mpf(self.lo[k][i])),
                                                        abs(_mpf(self.hi[k][i])))
                                    for i, w in enumerate(self.target.w[k])]
                                   + [abs(_mpf(self.target.t[k]))]) for k in range(self.n))
            need = (mpmath.log(1 + smax, 2)
                    + mpmath.log((vmax + S + ymag) / _mpf(thr) + 1, 2)
                    + math.log2(self.net.m + self.d + 4) + 110 + 32)
        return int(min(MAX_PREC, max(MIN_PREC, int(mpmath.ceil(need)))))

    def errors(self, x: Sequence[Sequence[Any]], prec: int) -> list[list[mpmath.mpf]]:
        """Signed ``N(x) - f(x)`` at ``x`` (``[n][d]``, token-major), ``[row][token]``."""
        X = [[x[k][i] for k in range(self.n)] for i in range(self.d)]
        out = self.net.output(X, prec)
        with mpmath.workprec(prec):
            f = [self.target.value(k, x[k]) for k in range(self.n)]
            return [[out[o][k] - f[k] for k in range(self.n)] for o in range(self.net.rows)]

    def abs_errors(self, x: Sequence[Sequence[Any]], prec: int) -> list[list[mpmath.mpf]]:
        """``|N(x) - f(x)|`` at ``x``, ``[row][token]``."""
        return [[abs(e) for e in row] for row in self.errors(x, prec)]

    def confirmed(self, x: Sequence[Sequence[Any]], prec: int, threshold: float
                  ) -> tuple[list[list[mpmath.mpf]], bool]:
        """``|N - f|`` at ``x``, confirmed by a second evaluation at a higher precision.

        Returns the higher-precision values and whether the two evaluations agree within
        ``2^-100 * threshold`` (else the precision is raised, up to :data:`MAX_PREC`).
        """
        thr = threshold if threshold > 0 else max(self.target.scale(), 1e-300) * 2.0 ** -60
        low = self.abs_errors(x, prec)
        while True:
            high_prec = min(MAX_PREC, 2 * prec + 64)
            high = self.abs_errors(x, high_prec)
            with mpmath.workprec(high_prec):
                gap = max(abs(u - v) for ru, rv in zip(low, high) for u, v in zip(ru, rv))
                agree = gap <= _mpf(thr) * mpmath.mpf(2) ** -100
            if agree or high_prec >= MAX_PREC:
                return high, agree
            low, prec = high, high_prec


# -- points at which the error is evaluated ---------------------------------------------------

def latent_segment(model: ErrorModel, k: int, prec: int
                   ) -> tuple[list[mpmath.mpf], list[mpmath.mpf], mpmath.mpf, mpmath.mpf]:
    """The corners of token k's box where its latent is smallest and largest, and the two
    latent values (exact products; sums at ``prec`` bits)."""
    with mpmath.workprec(prec):
        w = model.target.w[k]
        xmin = [_mpf(model.lo[k][i] if w[i] >= 0 else model.hi[k][i]) for i in range(model.d)]
        xmax = [_mpf(model.hi[k][i] if w[i] >= 0 else model.lo[k][i]) for i in range(model.d)]
        return xmin, xmax, model.target.latent(k, xmin), model.target.latent(k, xmax)


def probe_points(model: ErrorModel, rng: np.random.Generator, prec: int,
                 witness: Sequence[Sequence[float]] | None = None, steps: int | None = None,
                 counts: Mapping[str, int] | None = None) -> list[list[list[Any]]]:
    """Points of the domain at which the error is evaluated, each ``[n][d]`` (mpf or float).

    Every point lies in the domain (exactly: coordinates are clipped to ``[lo, hi]``).  The
    groups, sized by ``counts`` (keys ``near``, ``focus``, ``full``, ``random``,
    ``corners``; by default 16, 48, 12, 16 and 6):

    * the witness and ``near`` perturbations of it, of relative size 1e-1 to 1e-12 of the
      box width per coordinate;
    * ``focus`` points whose latents sweep each target term's ``[a_i, b_i]`` widened by two
      anchor spacings (``steps`` anchor intervals), every token on its own latent segment
      (:func:`latent_segment`), placed with ``prec`` bits so that even a latent range far
      wider than ``[a_i, b_i]`` is resolved;
    * ``full`` points sweeping every token's whole latent range;
    * ``random`` uniform points of the box and up to ``corners`` random corners.
    """
    c = {"near": 16, "focus": 48, "full": 12, "random": 16, "corners": 6}
    c.update(counts or {})
    n, d = model.n, model.d
    lo, hi = model.lo, model.hi
    pts: list[list[list[Any]]] = []

    def clip(k: int, i: int, v: mpmath.mpf) -> mpmath.mpf:
        return min(max(v, _mpf(lo[k][i])), _mpf(hi[k][i]))

    with mpmath.workprec(prec):
        if witness is not None:
            pts.append([[float(v) for v in row] for row in witness])
            for _ in range(c["near"]):
                rel = mpmath.mpf(10.0 ** -rng.uniform(1, 12))
                pts.append([[clip(k, i, _mpf(witness[k][i]) + rel * rng.uniform(-1, 1)
                                  * (_mpf(hi[k][i]) - _mpf(lo[k][i])))
                             for i in range(d)] for k in range(n)])
        segs = [latent_segment(model, k, prec) for k in range(n)]

        def on_segments(ys: Sequence[mpmath.mpf | None], ss: Sequence[Any]) -> list:
            point = []
            for k in range(n):
                xmin, xmax, y0, y1 = segs[k]
                if ys[k] is not None and y1 != y0:
                    s = min(max((ys[k] - y0) / (y1 - y0), mpmath.mpf(0)), mpmath.mpf(1))
                else:
                    s = _mpf(ss[k])
                point.append([clip(k, i, xmin[i] + s * (xmax[i] - xmin[i])) for i in range(d)])
            return point

        windows = model.target.windows()
        for wi, (a, b) in enumerate(windows):
            share = c["focus"] // len(windows) + (wi < c["focus"] % len(windows))
            width = _mpf(b) - _mpf(a)
            pad = 2 * width / max(steps or 1, 1)
            for g in range(share):
                y = _mpf(a) - pad + (width + 2 * pad) * (g + rng.uniform(0, 1)) / max(share, 1)
                pts.append(on_segments([y] * n, rng.uniform(0, 1, n)))
        for g in range(c["full"]):
            s = (g + 0.5) / c["full"] if g % 2 == 0 else rng.uniform(0, 1)
            pts.append(on_segments([None] * n, [s] * n))
        for _ in range(c["random"]):
            pts.append([[float(lo[k][i] + rng.uniform(0, 1) * (hi[k][i] - lo[k][i]))
                         for i in range(d)] for k in range(n)])
            # a float sum may leave [lo, hi] by one ulp: clip exactly
            pts[-1] = [[min(max(v, lo[k][i]), hi[k][i]) for i, v in enumerate(row)]
                       for k, row in enumerate(pts[-1])]
        for _ in range(c["corners"]):
            bits = rng.integers(0, 2, (n, d))
            pts.append([[hi[k][i] if bits[k, i] else lo[k][i] for i in range(d)]
                        for k in range(n)])
    return pts


# -- comparing a certificate with the mpmath evaluation ---------------------------------------

@dataclass
class Audit:
    """What the mpmath evaluation found for one certificate.

    ``unsound_upper`` lists points where ``|N - f| > claim.upper (1 + 1e-30)``;
    ``lower_above`` holds a message if the witness error is below
    ``max(claim.lower, witness.error_lower) (1 - 1e-30)``; ``imprecise`` counts confirmations
    whose two precisions disagreed (the evaluation, not the certificate, is then in doubt).
    """

    points: int = 0
    max_error: float = 0.0
    witness_error: float = 0.0
    unsound_upper: list[dict[str, Any]] = field(default_factory=list)
    lower_above: list[str] = field(default_factory=list)
    imprecise: int = 0
    seconds: float = 0.0


def _flat(x: Sequence[Sequence[Any]]) -> list[list[str]]:
    """A point as 25-digit decimal strings, for a report (not exact)."""
    return [[mpmath.nstr(_mpf(v), 25) for v in row] for row in x]


def audit_certificate(cert: Mapping[str, Any], rng: np.random.Generator,
                      counts: Mapping[str, int] | None = None,
                      model: ErrorModel | None = None) -> Audit:
    """Compare a T1/T2 certificate's claim with the mpmath error at many points.

    Guarantees, up to the mpmath accuracy stated in :class:`MpNetwork` (chosen by
    :meth:`ErrorModel.precision` far below ``1e-30`` of the claim, and confirmed at a higher
    precision for the witness, for every point near or above ``claim.upper``, and for a
    sample of the others):

    * ``Audit.lower_above`` is empty iff the error of the witness's output entry at
      ``witness.x`` is at least ``max(claim.lower, witness.error_lower) (1 - 1e-30)``;
    * ``Audit.unsound_upper`` is empty iff every output entry's error at every probe point
      (:func:`probe_points`) is at most ``claim.upper (1 + 1e-30)``.
    """
    start = time.perf_counter()
    model = model or ErrorModel.from_certificate(cert)
    claim, wit = cert["claim"], cert["witness"]
    upper, lower = float(claim["upper"]), float(claim["lower"])
    need = max(lower, float(wit["error_lower"]))
    positive = [v for v in (lower, upper, claim.get("epsilon") or 0.0) if v > 0]
    thr = min(positive) if positive else 0.0
    prec = model.precision(thr)
    steps = (int(cert["construction"]["p"]) - 1 if cert["theorem"] == T1
             else int(cert["target"]["tokens"]) - 1)
    audit = Audit()
    werr, agree = model.confirmed(wit["x"], prec, thr)
    audit.imprecise += not agree
    with mpmath.workprec(2 * prec + 64):
        e_w = werr[int(wit["row"])][int(wit["token"])]
        audit.witness_error = float(e_w)
        if e_w < _mpf(need) * (1 - REL_SLACK):
            audit.lower_above.append(
                f"witness error {mpmath.nstr(e_w, 20)} < max(claim.lower, "
                f"witness.error_lower) = {need!r}")
    pts = probe_points(model, rng, prec, wit["x"], steps, counts)
    bound = _mpf(upper) * (1 + REL_SLACK)
    near = _mpf(upper) * (1 - mpmath.mpf(2) ** -30)
    for idx, x in enumerate(pts):
        errs = model.abs_errors(x, prec)
        top = max(max(row) for row in errs)
        if top >= near or idx % 16 == 0:
            errs, agree = model.confirmed(x, prec, thr)
            audit.imprecise += not agree
            top = max(max(row) for row in errs)
        audit.max_error = max(audit.max_error, float(top))
        if top > bound:
            o, k = max(((o, k) for o in range(len(errs)) for k in range(model.n)),
                       key=lambda ok: errs[ok[0]][ok[1]])
            audit.unsound_upper.append({"x": _flat(x), "row": o, "token": k,
                                        "error": mpmath.nstr(top, 20), "upper": upper})
    audit.points = len(pts)
    audit.seconds = time.perf_counter() - start
    return audit


def lower_bound_holds(model: ErrorModel, x: Sequence[Sequence[Any]], token: int,
                      lower: float) -> tuple[bool, mpmath.mpf, bool]:
    """Whether the largest error over the rows of ``token`` at ``x`` is at least
    ``lower (1 - 1e-30)``; returns ``(holds, that error, precision confirmed)``."""
    prec = model.precision(lower)
    errs, agree = model.confirmed(x, prec, lower)
    e = max(errs[o][token] for o in range(len(errs)))
    with mpmath.workprec(2 * prec + 64):
        return bool(e >= _mpf(lower) * (1 - REL_SLACK)), e, agree


# -- drawing specs ---------------------------------------------------------------------------

def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A number whose log10 is uniform on ``[log10 lo, log10 hi]``."""
    return float(10.0 ** rng.uniform(math.log10(lo), math.log10(hi)))


def _scale(rng: np.random.Generator) -> float:
    """A scale: half the time anywhere in [1e-150, 1e100], else in [1e-3, 1e3]."""
    if rng.random() < 0.5:
        return float(10.0 ** rng.uniform(-150, 100))
    return float(10.0 ** rng.uniform(-3, 3))


def _round_sig(x: float, digits: int) -> float:
    """``x`` rounded to ``digits`` significant decimal digits (a short decimal)."""
    return float(f"{x:.{digits}g}")


def draw_spec(seed: int, index: int) -> tuple[dict[str, Any], float | None]:
    """Random spec number ``index`` of the campaign ``seed`` (deterministic).

    Returns ``(spec, epsilon_factor)``: in mode ``prove`` the spec has no ``epsilon`` yet
    and ``epsilon_factor`` (log-uniform in [0.5, 4]) says where to put it relative to the
    network's sampled error (:func:`choose_epsilon`); in mode ``measure`` it is None.

    The draw covers: both theorems; every kind (``leaky-relu`` with T1 rarely, which the
    parser refuses); d in 1..3; T1 n in 1..3 and p in 2..96 (log-uniform); T2 n in 2..8
    and H in 1..4; kappa log-uniform in [1e-3, 1e6] or an explicit beta; ranges, latents and
    domains at scales from 1e-150 to 1e100, latent ranges that straddle, sit inside, stay
    clamped beyond, dwarf, or collapse onto a point relative to ``[a, b]``; scalar or
    per-entry domains, some degenerate; simple round numbers a quarter of the time; in mode
    measure a tol of 1, 0.5 or 0.2, or log-uniform in [0.02, 0.2].
    """
    rng = np.random.default_rng([seed, index])
    theorem = T1 if rng.random() < 0.5 else T2
    if theorem == T1:
        kind = "leaky-relu" if rng.random() < 0.03 else str(rng.choice(ONE_TERM_KINDS))
    else:
        kind = str(rng.choice(ALL_KINDS))
    simple = rng.random() < 0.25
    d = int(rng.integers(1, 4))
    n = int(rng.integers(1, 4)) if theorem == T1 else int(rng.integers(2, 9))
    s = 1.0 if simple else _scale(rng)
    if kind in ("truncated-linear", "clip"):
        if simple:
            a = float(rng.choice([-2.0, -1.0, -0.5, 0.0]))
            b = a + float(rng.choice([0.5, 1.0, 2.0, 3.0]))
        else:
            a = s * rng.uniform(-2, 1)
            b = a + s * _log_uniform(rng, 0.03, 3.0)
    elif kind == "hard-tanh":
        a, b = -1.0, 1.0
    elif kind == "hard-sigmoid":
        a, b = 0.0, 1.0
    else:  # relu and leaky-relu: the interesting latents are around 0
        a, b = -s, s
    width = b - a
    shape = rng.choice(["straddle", "inside", "clamped", "wide", "point"],
                       p=[0.5, 0.15, 0.1, 0.15, 0.1])
    if shape == "straddle":
        ylo = a - width * _log_uniform(rng, 0.01, 2.0)
        yhi = b + width * _log_uniform(rng, 0.01, 2.0)
    elif shape == "inside":
        u = np.sort(rng.uniform(0, 1, 2))
        ylo, yhi = a + u[0] * width, a + u[1] * width
    elif shape == "clamped":
        gap, span = width * _log_uniform(rng, 1e-3, 10.0), width * _log_uniform(rng, 0.01, 10.0)
        ylo, yhi = (b + gap, b + gap + span) if rng.random() < 0.5 else (a - gap - span, a - gap)
    elif shape == "wide":
        half = width * _log_uniform(rng, 10.0, 1e12)
        ylo, yhi = (a + b) / 2 - half, (a + b) / 2 + half
    else:
        ylo = yhi = a + rng.uniform(-0.5, 1.5) * width
    if rng.random() < 0.9:  # mostly within the parser's latent limit
        ylo, yhi = max(ylo, -0.999e150), min(yhi, 0.999e150)
    if simple:
        ylo, yhi = _round_sig(ylo, 2), _round_sig(yhi, 2)
    sx = 1.0 if simple else _scale(rng)
    per_entry = rng.random() < 0.4
    degenerate = shape == "point" and rng.random() < 0.5 or rng.random() < 0.03

    def box() -> tuple[float, float]:
        lo = sx * rng.uniform(-1.5, 0.5)
        hi = lo if degenerate else lo + sx * _log_uniform(rng, 0.1, 3.0)
        if simple:
            lo, hi = _round_sig(lo, 2), _round_sig(hi, 2) if not degenerate else _round_sig(lo, 2)
        return lo, hi

    if per_entry:
        pairs = [[box() for _ in range(d)] for _ in range(n)]
        lo_arr = [[p[0] for p in row] for row in pairs]
        hi_arr = [[p[1] for p in row] for row in pairs]
        domain: dict[str, Any] = {"lo": lo_arr, "hi": hi_arr}
    else:
        lo_s, hi_s = box()
        lo_arr = [[lo_s] * d for _ in range(n)]
        hi_arr = [[hi_s] * d for _ in range(n)]
        domain = {"lo": lo_s, "hi": hi_s}

    def affine(k: int) -> tuple[list[float], float]:
        if shape == "point" and not degenerate:
            u = np.zeros(d)
        else:
            u = rng.standard_normal(d) * (rng.random(d) > 0.2)
            if not u.any():
                u[int(rng.integers(0, d))] = 1.0
            if simple:
                u = np.array([float(rng.choice([-1.0, -0.5, 0.5, 1.0, 2.0])) for _ in range(d)])
        span = sum(abs(u[i]) * (hi_arr[k][i] - lo_arr[k][i]) for i in range(d))
        w = u * ((yhi - ylo) / span if span > 0 else (yhi - ylo + width) / max(sx, 1e-300))
        if simple:
            w = np.array([_round_sig(v, 2) for v in w])
        t = ylo - sum(min(w[i] * lo_arr[k][i], w[i] * hi_arr[k][i]) for i in range(d))
        return [float(v) for v in w], float(_round_sig(t, 2) if simple else t)

    if theorem == T1:
        wt = [affine(k) for k in range(n)]
        target: dict[str, Any] = {"kind": kind, "w": [w for w, _ in wt], "t": [t for _, t in wt]}
    else:
        w1, t1 = affine(0)
        target = {"kind": kind, "w": w1, "t": t1}
    if kind in ("truncated-linear", "clip"):
        target.update(a=a, b=b)
    elif kind in ("hard-tanh", "hard-sigmoid") and rng.random() < 0.3:
        target.update(a=a, b=b)
    if kind in ("relu", "leaky-relu") and rng.random() < 0.3:
        target["R"] = max(yhi, 0.0) * (1 + _log_uniform(rng, 1e-6, 1.0)) or s
    if kind == "leaky-relu":
        target["alpha"] = float(rng.choice([-1.0, 1.0])) * _log_uniform(rng, 1e-3, 10.0)
        if rng.random() < 0.3:
            target["L"] = min(ylo, 0.0) * (1 + _log_uniform(rng, 1e-6, 1.0)) or -s
    if theorem == T1:
        steps, H = int(round(_log_uniform(rng, 2, 96))) - 1, 1
        construction: dict[str, Any] = {"p": steps + 1}
    else:
        steps, H = n - 1, int(rng.integers(1, 5))
        construction = {"heads": H}
    kappa = _log_uniform(rng, 1e-3, 1e6)
    if rng.random() < 0.75:
        construction["kappa"] = float(_round_sig(kappa, 3) if simple else kappa)
    else:
        r_end = max(abs(yhi), s) if kind in ("relu", "leaky-relu") else width
        delta = r_end / steps
        beta = kappa * H / (delta * delta) * _log_uniform(rng, 0.3, 3.0) if delta > 0 else 0
        if rng.random() < 0.2 or not (math.isfinite(beta) and beta > 0):
            beta = float(10.0 ** rng.uniform(-10, 10))
        construction["beta"] = float(beta)
    spec: dict[str, Any] = {"theorem": theorem, "target": target, "domain": domain,
                            "construction": construction}
    if theorem == T2:
        where = rng.random()
        if where < 0.6:
            spec["tokens"] = n
        elif where < 0.8:
            target["tokens"] = n
        else:
            spec["tokens"] = target["tokens"] = n
    if rng.random() < 0.5:
        spec["mode"] = "prove"
        return spec, _log_uniform(rng, 0.5, 4.0)
    spec["mode"] = "measure"
    spec["tol"] = float(rng.choice([1.0, 0.5, 0.2])) if rng.random() < 0.3 else \
        _log_uniform(rng, 0.02, 0.2)
    return spec, None


def choose_epsilon(spec_obj: Mapping[str, Any], factor: float, rng: np.random.Generator
                   ) -> float:
    """An epsilon of ``factor`` times the built network's sampled error (mpmath).

    With ``factor < 1`` the epsilon lies below an error the network attains, so the claim
    must fail; above 1 it may hold.  A network whose sampled error is negligible (below
    1e-12 of the target's scale S) gets an epsilon of S times 1e-14 to 1e-8 instead.
    """
    from certify.pipeline import build
    from certify.spec import parse_spec

    spec = parse_spec(dict(spec_obj, mode="measure"))
    net = build(spec).net.to_json_obj()
    lo, hi = spec.lo.T.tolist(), spec.hi.T.tolist()
    model = ErrorModel(spec.theorem, spec.target, net, lo, hi)
    S = model.target.scale()
    prec = model.precision(S * 1e-12)
    steps = (int(spec.construction["p"]) - 1 if spec.theorem == T1
             else int(spec.target["tokens"]) - 1)
    pts = probe_points(model, rng, prec, None, steps,
                       {"near": 0, "focus": 32, "full": 8, "random": 8, "corners": 2})
    est = max(float(max(max(r) for r in model.abs_errors(x, prec))) for x in pts)
    if est < 1e-12 * S:
        return float(S * _log_uniform(rng, 1e-14, 1e-8))
    return float(est * factor)


# -- one case --------------------------------------------------------------------------------

class _Timeout(BaseException):
    """Raised by the alarm of :func:`_time_limit` (a BaseException, so that no
    ``except Exception`` in the code under test turns it into a verdict)."""


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`_Timeout` in the block after ``seconds`` of wall clock (main thread
    only; elsewhere, and with None, no limit)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Budget:
    """Limits of one case: certification boxes and seconds, checker seconds, and the
    number of probe points per group (:func:`probe_points`)."""

    max_boxes: int = DEFAULT_MAX_BOXES
    timeout: float = DEFAULT_TIMEOUT
    check_timeout: float = DEFAULT_CHECK_TIMEOUT
    counts: dict[str, int] | None = None


def cover_leaves(cert: Mapping[str, Any]) -> int:
    """The number of leaf boxes the checker bounds: every cover entry's leaves, a shared
    (``same_as``) entry counted again, a packed one (``bounds64``) decoded."""
    counts: list[int] = []
    for e in cert["cover"]:
        if "bounds" in e:
            counts.append(len(e["bounds"]))
        elif "bounds64" in e:
            counts.append(len(base64.b64decode(e["bounds64"])) // 8)
        else:
            counts.append(counts[int(e["same_as"])])
    return sum(counts)


def _empty_case(index: int, spec: dict[str, Any]) -> dict[str, Any]:
    """The record of a case before anything ran (the keys :func:`run_spec` returns)."""
    return {"index": index, "theorem": spec.get("theorem"), "mode": spec.get("mode"),
            "kind": spec.get("target", {}).get("kind"), "spec": spec, "outcome": None,
            "rejections": [], "unsound_upper": [], "lower_above": [], "check_timeouts": [],
            "imprecise": 0, "problems": [], "times": {}, "message": "", "boxes": 0,
            "points": 0}


def run_spec(spec_obj: dict[str, Any], budget: Budget, index: int = 0,
             seed: int = 0) -> dict[str, Any]:
    """Certify, check and audit one spec (its ``epsilon`` already set in mode prove).

    Returns a dict with ``outcome`` (one of :data:`OUTCOMES`), the lists ``rejections``,
    ``unsound_upper``, ``lower_above`` (the must-be-zero findings), ``check_timeouts``,
    ``problems`` (refusals after parsing, internal errors, imprecise evaluations), the
    seconds per stage in ``times``, and the spec.
    """
    from certify.check.verify import check_certificate
    from certify.engine import run_limits
    from certify.errors import InputError
    from certify.pipeline import certify
    from certify.spec import parse_spec
    from theorems.conformance import conformance

    case = _empty_case(index, spec_obj)
    rng = np.random.default_rng([seed, index, 1])
    times = case["times"]
    t0 = time.perf_counter()
    try:
        spec = parse_spec(json.loads(json.dumps(spec_obj)))
    except InputError as exc:
        case["outcome"], case["message"] = "refused", str(exc)
        times["parse"] = time.perf_counter() - t0
        return case
    try:
        with run_limits(budget.max_boxes, budget.timeout):
            result, cert = certify(spec, None, 1)
    except InputError as exc:
        case["outcome"], case["message"] = "refused-late", str(exc)
        case["problems"].append(f"refused after parsing: {exc}")
        times["certify"] = time.perf_counter() - t0
        return case
    except Exception as exc:  # a defect of the code under test: report it, keep going
        case["outcome"], case["message"] = "error", f"{type(exc).__name__}: {exc}"
        case["problems"].append("certify raised: " + traceback.format_exc(limit=8))
        times["certify"] = time.perf_counter() - t0
        return case
    times["certify"] = time.perf_counter() - t0
    case["boxes"] = int(result.evaluated)
    case["message"] = result.message
    if cert is None:
        try:
            _audit_result(case, spec, result)
        except Exception:
            case["outcome"] = "error"
            case["problems"].append("mpmath audit of the engine's result raised: "
                                    + traceback.format_exc(limit=8))
            return case
        budget_stop = result.partial is not None or "within the budget" in result.message
        case["outcome"] = "budget" if budget_stop else "not-certified"
        return case
    case["outcome"] = "certified"
    case["leaves"] = cover_leaves(cert)
    case["claim"] = dict(cert["claim"])
    for name in ("flint", "pyinterval"):
        t1 = time.perf_counter()
        try:
            with _time_limit(budget.check_timeout):
                ok, reason = check_certificate(cert, backend=name, jobs=1)
            if not ok:
                case["rejections"].append(f"{name}: {reason}")
        except _Timeout:
            case["check_timeouts"].append(name)
        except InputError as exc:
            case["rejections"].append(f"{name}: malformed: {exc}")
        except Exception:
            if budget.check_timeout and time.perf_counter() - t1 >= budget.check_timeout:
                # The alarm fired inside a pyinterval operator, whose wrapper turns any
                # exception into NotImplemented and so into a TypeError: a timeout.
                case["check_timeouts"].append(name)
            else:
                case["outcome"] = "error"
                case["problems"].append(f"check {name} raised: "
                                        + traceback.format_exc(limit=8))
        times[name] = time.perf_counter() - t1
    t1 = time.perf_counter()
    try:
        with _time_limit(budget.check_timeout):
            ok, reason = conformance(cert)
        if not ok:
            case["rejections"].append(f"conformance: {reason}")
    except _Timeout:
        case["check_timeouts"].append("conformance")
    except Exception:
        case["outcome"] = "error"
        case["problems"].append("conformance raised: " + traceback.format_exc(limit=8))
    times["conformance"] = time.perf_counter() - t1
    try:
        audit = audit_certificate(cert, rng, budget.counts)
    except Exception:
        case["outcome"] = "error"
        case["problems"].append("mpmath audit raised: " + traceback.format_exc(limit=8))
        return case
    times["mpmath"] = times.get("mpmath", 0.0) + audit.seconds
    case["points"] = audit.points
    case["unsound_upper"].extend(audit.unsound_upper)
    case["lower_above"].extend(audit.lower_above)
    case["imprecise"] += audit.imprecise
    case["max_sampled_over_upper"] = audit.max_error / cert["claim"]["upper"] \
        if cert["claim"]["upper"] > 0 else None
    return case


def _audit_result(case: dict[str, Any], spec, result) -> None:
    """The lower bounds of a run without certificate, against mpmath: the engine's witness
    lower bound (also of a budget stop) and a counterexample's ``error_lower``."""
    from certify.pipeline import build

    t0 = time.perf_counter()
    net_obj = build(spec).net.to_json_obj()
    lo, hi = spec.lo.T.tolist(), spec.hi.T.tolist()
    model = ErrorModel(spec.theorem, spec.target, net_obj, lo, hi)
    checks = []
    if math.isfinite(result.lower) and result.lower > 0 and result.outputs:
        token = result.outputs[result.witness_output].token
        checks.append(("engine witness lower bound", result.witness_x.T.tolist(), token,
                       float(result.lower)))
    if result.counterexample:
        ce = result.counterexample
        checks.append(("counterexample error_lower", ce["x"], int(ce["token"]),
                       float(ce["error_lower"])))
    for what, x, token, lower in checks:
        ok, e, agree = lower_bound_holds(model, x, token, lower)
        case["imprecise"] += not agree
        if not ok:
            case["lower_above"].append(f"{what} {lower!r} > mpmath error "
                                       f"{mpmath.nstr(e, 20)} at x = {_flat(x)}")
    case["times"]["mpmath"] = case["times"].get("mpmath", 0.0) + time.perf_counter() - t0


def run_case(seed: int, index: int, budget: Budget) -> dict[str, Any]:
    """Draw spec ``index`` of campaign ``seed``, set its epsilon (mode prove), and run it
    (:func:`run_spec`).  Never raises: an unexpected exception is an ``error`` outcome."""
    start = time.perf_counter()
    spec, factor = draw_spec(seed, index)
    from certify.errors import InputError

    stage = "choosing epsilon (parse, build, mpmath)"
    try:
        if factor is not None:
            try:
                spec["epsilon"] = choose_epsilon(spec, factor, np.random.default_rng(
                    [seed, index, 2]))
            except InputError:
                spec["epsilon"] = 1.0  # refused anyway; run_spec says why
        stage = "run_spec"
        case = run_spec(spec, budget, index, seed)
    except Exception:
        case = _empty_case(index, spec)
        case["outcome"] = "error"
        case["problems"].append(f"{stage} raised: " + traceback.format_exc(limit=8))
    case["seconds"] = time.perf_counter() - start
    return case


# -- the campaign ----------------------------------------------------------------------------

def failures(case: Mapping[str, Any]) -> list[str]:
    """Names of the defects a case shows: the must-be-zero counts and internal errors."""
    out = [name for name in MUST_BE_ZERO if case[name]]
    if case["outcome"] == "error":
        out.append("error")
    return out


def summarize(cases: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts per (theorem, mode) and in total, and timing statistics.

    Outcomes count specs (one outcome each).  ``rejections`` counts verdicts (one per
    rejecting backend or failed conformance, so a certificate both backends reject counts
    twice), ``unsound_upper`` probe points above ``claim.upper``, ``lower_above`` lower
    bounds above their mpmath error, ``check_timeouts`` checker runs stopped by the time
    limit, ``imprecise`` mpmath confirmations whose two precisions disagreed.
    """
    groups: dict[tuple[str, str], Counter] = {}
    for c in cases:
        key = (str(c["theorem"]), str(c["mode"]))
        g = groups.setdefault(key, Counter())
        g["specs"] += 1
        g[c["outcome"]] += 1
        for name in MUST_BE_ZERO:
            g[name] += len(c[name])
        g["check_timeouts"] += len(c["check_timeouts"])
        g["imprecise"] += c["imprecise"]
    total: Counter = Counter()
    for g in groups.values():
        total.update(g)
    secs = [c["seconds"] for c in cases]
    stage: Counter = Counter()
    for c in cases:
        stage.update(c["times"])
    return {"groups": {f"{t} {m}": dict(g) for (t, m), g in sorted(groups.items())},
            "total": dict(total),
            "seconds": {"sum": sum(secs), "median": statistics.median(secs) if secs else 0.0,
                        "max": max(secs, default=0.0),
                        "stages": {k: round(v, 2) for k, v in sorted(stage.items())}},
            "kinds": dict(Counter(str(c["kind"]) for c in cases if c["outcome"] == "certified"))}


COLUMNS = ("specs", "refused", "certified", "budget", "not-certified", "refused-late", "error",
           "rejections", "unsound_upper", "lower_above", "check_timeouts", "imprecise")


def format_table(summary: Mapping[str, Any]) -> str:
    """The summary as a text table (one row per theorem and mode, then the total)."""
    head = ["group"] + [c.replace("_", " ") for c in COLUMNS]
    rows = [[name] + [str(g.get(c, 0)) for c in COLUMNS]
            for name, g in summary["groups"].items()]
    rows.append(["total"] + [str(summary["total"].get(c, 0)) for c in COLUMNS])
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    lines = ["  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in
                       enumerate(zip(r, widths))) for r in [head] + rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)


def run_campaign(n: int, seed: int, jobs: int = 1, budget: Budget | None = None,
                 indices: Sequence[int] | None = None, progress=None) -> list[dict[str, Any]]:
    """Run cases ``indices`` (default ``range(n)``) of campaign ``seed`` on ``jobs``
    processes (1: in this process); the cases are returned in index order and do not
    depend on ``jobs``."""
    budget = budget or Budget()
    idx = list(range(n)) if indices is None else list(indices)
    cases: list[dict[str, Any]] = []
    if jobs <= 1:
        for i in idx:
            cases.append(run_case(seed, i, budget))
            if progress:
                progress(cases[-1], len(cases), len(idx))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run_case, seed, i, budget) for i in idx]
            for fut in as_completed(futures):
                cases.append(fut.result())
                if progress:
                    progress(cases[-1], len(cases), len(idx))
    return sorted(cases, key=lambda c: c["index"])


def _failure_line(case: Mapping[str, Any], seed: int) -> str:
    """One JSON line with a case's findings and its spec (epsilon included), enough to
    reproduce it with ``attncert certify``."""
    keep = {k: case[k] for k in ("index", "outcome", "message", "rejections", "unsound_upper",
                                 "lower_above", "problems")}
    return json.dumps({"seed": seed, "failures": failures(case), **keep, "spec": case["spec"]},
                      default=str)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the campaign, print the summary table and the failing specs.

    Returns 0 if no checker rejected one of our certificates, no upper bound lay below and
    no lower bound above an mpmath value, and no internal error occurred; else 1.
    """
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="number of random specs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (specs in parallel)")
    ap.add_argument("--max-boxes", type=int, default=DEFAULT_MAX_BOXES)
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                    help="seconds per certification")
    ap.add_argument("--check-timeout", type=float, default=DEFAULT_CHECK_TIMEOUT,
                    help="seconds per checker backend")
    ap.add_argument("--only", type=int, nargs="*", help="run only these case indices, verbosely")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--dump", metavar="FILE", help="write every case as one JSON line")
    args = ap.parse_args(argv)
    budget = Budget(args.max_boxes, args.timeout, args.check_timeout)
    start = time.perf_counter()

    def progress(case, done, total):
        if args.only or failures(case):
            print(json.dumps({"index": case["index"], "outcome": case["outcome"],
                              "message": case["message"], "seconds": round(case["seconds"], 2),
                              "times": {k: round(v, 2) for k, v in case["times"].items()},
                              "spec": case["spec"]}, default=str), file=sys.stderr)
        elif done % 50 == 0:
            print(f"  {done}/{total} cases, {time.perf_counter() - start:.0f} s",
                  file=sys.stderr)

    cases = run_campaign(args.n, args.seed, args.jobs, budget, args.only, progress)
    wall = time.perf_counter() - start
    summary = summarize(cases)
    summary["wall_seconds"] = wall
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as fh:
            for c in cases:
                fh.write(json.dumps(c, default=str) + "\n")
    bad = [c for c in cases if failures(c)]
    late = [c for c in cases if c["outcome"] == "refused-late"]
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"campaign seed {args.seed}: {len(cases)} specs, jobs {args.jobs}, budget "
              f"{args.max_boxes:,} boxes / {args.timeout:g} s per certification, "
              f"{args.check_timeout:g} s per check")
        print(format_table(summary))
        s = summary["seconds"]
        print(f"wall {wall:.1f} s; per spec: median {s['median']:.2f} s, max {s['max']:.1f} s,"
              f" total {s['sum']:.0f} s; by stage (s): {s['stages']}")
        print(f"certified per kind: {summary['kinds']}")
    if bad or late:
        print("failing specs (JSON lines):" if bad else "specs refused after parsing:")
        for c in bad + late:
            print(_failure_line(c, args.seed))
    zero = all(summary["total"].get(name, 0) == 0 for name in MUST_BE_ZERO)
    return 0 if zero and not any(c["outcome"] == "error" for c in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
