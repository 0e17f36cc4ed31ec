"""Soundness campaign for the input-box theorems: ``uap``, ``uap-softmax``, ``uap-two-layer``
and ``seq2seq``.

Random specifications are drawn over what ``docs/spec.md`` (sections 4, 4a, 4b, 4c) accepts:
expression targets from a small grammar (polynomials, ``sin cos exp tanh abs``, ``max``/``min``,
constants, sums and products) in one and two variables, ReLU-network targets where a theorem
takes them, both ``uap`` routes, explicit resources or resources chosen from an epsilon,
domains of tiny (1e-6) to large (1e3) widths at offsets up to 1e6, and both modes.  In mode
``prove`` with explicit resources, epsilon is 0.5 to 4 times the built network's sampled
float64 error, so that both outcomes occur.  Each spec is

1. certified through :func:`certify.api.certify` under a budget (engine timeout and box
   count, plus a hard wall-clock alarm that also covers building); a stop by the budget is
   counted as *budget*, an ``InputError`` as *refused*, a failed ``prove`` as
   *not-certified*;
2. if certified, checked by the independent checker (``flint`` with conformance; also
   ``pyinterval`` when the flint check was cheap); a rejection of our own certificate is a
   defect;
3. compared with an mpmath evaluation of ``N(x) - f(x)`` at no fewer than 60 significant
   digits (more when the magnitudes need it): the network from its stored JSON (every
   binary64 weight converted exactly), through :class:`certify.reference.MpReference` when
   the network is affine -> attention -> select-columns, else through :class:`MpNetwork`
   written here; the target through the project's whitelisted parser
   (:func:`certify.expression.parse`) evaluated with :class:`certify.expression.MpOps`, or,
   for ReLU-network targets, from its weights here.

   * at the witness, ``|N - f|`` must be at least ``max(claim.lower, witness.error_lower)``
     (*L above* otherwise); in mode prove, at a counterexample, at least its
     ``error_lower``;
   * at every probe point (the witness and points near it, every corner of the domain,
     points within 1e-12 to 1e-3 of a face, uniform random points), ``|N - f|`` must be at
     most ``claim.upper`` (*unsound U* otherwise).

The three counts that must be zero: ``rejections``, ``unsound_upper``, ``lower_above``.
Internal errors (an exception other than ``InputError``) are counted as ``error``.

Usage::

    python benchmarks/box_campaign.py --n 80 --seed 0 --jobs 2
    python benchmarks/box_campaign.py --n 80 --seed 0 --only 17 23          # verbose cases
    python benchmarks/box_campaign.py --n 40 --seed 1 --theorems uap,seq2seq --json-out s.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np
from campaign import _time_limit, _Timeout  # the T1/T2 campaign's wall-clock limit

THEOREMS = ("uap", "uap-softmax", "uap-two-layer", "seq2seq")
#: Relative share of each theorem in the draw (uap is the main subject).
THEOREM_WEIGHTS = {"uap": 0.55, "uap-softmax": 0.15, "uap-two-layer": 0.12, "seq2seq": 0.18}
#: Outcomes of a case; exactly one per case.
OUTCOMES = ("refused", "certified", "budget", "not-certified", "error")
#: Counts that must be zero.
MUST_BE_ZERO = ("rejections", "unsound_upper", "lower_above")
#: Relative slack of every comparison with an mpmath value: far above the mpmath accuracy
#: (2^-110 of the compared value, by :meth:`ErrorModel.precision`) and far below any
#: rounding room the engine leaves.
REL_SLACK = mpmath.mpf("1e-30")
#: Working precision in bits: at least 200 (60 decimal digits).
MIN_PREC, MAX_PREC = 200, 20000

DEFAULT_TIMEOUT = 25.0
DEFAULT_MAX_BOXES = 2_000_000
DEFAULT_CHECK_TIMEOUT = 60.0
#: A flint check faster than this is followed by a pyinterval check.
PYINTERVAL_IF_FLINT_UNDER = 1.5


def _mpf(x: Any) -> mpmath.mpf:
    """``x`` as an mpf; a binary64 number converts exactly whatever the precision."""
    return x if isinstance(x, mpmath.mpf) else mpmath.mpf(float(x))


# -- the network in mpmath ---------------------------------------------------------------------

class MpNetwork:
    """Exact-weight evaluation of any ``attncert-network/1`` network, in mpmath.

    Supports the layers of :mod:`certify.network`: ``sequence-affine`` (first layer only),
    ``token-affine``, ``attention`` (``residual`` allowed, several in a row),
    ``select-columns`` and ``softmax``.  Weights are read from the JSON object; each is a
    binary64 number converted exactly.

    Columns are evaluated lazily from the output backwards, so that only what an output
    needs is computed in mpmath.  In an attention layer a key column is left out of a
    query's softmax only if a float64 screening shows its score at least ``cut = prec ln 2
    + ln m + 40`` nats below the best one, after widening every float score by ``1e-6``
    times its absolute magnitude (far above float64 error): the weight so dropped is below
    ``2^-prec e^-40`` relative, which :meth:`precision` accounts for.
    """

    def __init__(self, network: Mapping[str, Any]):
        if network.get("format") != "attncert-network/1":
            raise ValueError("not an attncert-network/1 object")
        self.d, self.n = (int(v) for v in network["input_shape"])
        self.layers: list[dict[str, Any]] = []
        m, rows = self.n, self.d
        for i, o in enumerate(network["layers"]):
            kind = o["kind"]
            L: dict[str, Any] = {"kind": kind}
            if kind == "sequence-affine":
                if i != 0:
                    raise ValueError("sequence-affine only as the first layer")
                rows, m = (int(v) for v in o["out_shape"])
                w = np.array(o["weights"], float).reshape(-1, 5)
                b = np.array(o["bias"], float).reshape(-1, 3)
                bycol: dict[int, list[tuple[int, int, int, mpmath.mpf]]] = defaultdict(list)
                bias: dict[int, list[tuple[int, mpmath.mpf]]] = defaultdict(list)
                for r in o["weights"]:
                    bycol[int(r[1])].append((int(r[0]), int(r[2]), int(r[3]), _mpf(r[4])))
                for r in o["bias"]:
                    bias[int(r[1])].append((int(r[0]), _mpf(r[2])))
                L.update(w=w, b=b, bycol=bycol, bias=bias)
            elif kind == "token-affine":
                W, c = np.array(o["weight"], float), np.array(o["bias"], float)
                if c.shape[1] != m:
                    raise ValueError("token-affine bias width")
                L.update(W=W, c=c, Wm=self._sparse(W), cm=[[_mpf(v) for v in r] for r in c])
                rows = W.shape[0]
            elif kind == "attention":
                heads = []
                for h in o["heads"]:
                    A = {k: np.array(h[k], float) for k in ("W_Q", "W_K", "W_V", "W_O")}
                    A["OV"] = A["W_O"] @ A["W_V"]  # float screening only
                    A.update({k + "m": self._sparse(A[k]) for k in ("W_Q", "W_K", "W_V", "W_O")})
                    heads.append(A)
                L.update(heads=heads, residual=bool(o.get("residual", False)))
                rows = heads[0]["W_O"].shape[0]
            elif kind == "select-columns":
                L["columns"] = [int(c) for c in o["columns"]]
                m = len(L["columns"])
            elif kind != "softmax":
                raise ValueError(f"unsupported layer {kind!r}")
            if i == 0 and kind != "sequence-affine" and kind != "token-affine":
                raise ValueError("the first layer must be affine")
            L["rows"], L["m"] = rows, m
            self.layers.append(L)
        self.rows, self.cols = rows, m
        self._need = self._needed_columns()
        self._abs_cache: tuple[float, float, int] | None = None

    @staticmethod
    def _sparse(W: np.ndarray) -> list[list[tuple[int, mpmath.mpf]]]:
        return [[(i, _mpf(v)) for i, v in enumerate(row) if v != 0] for row in np.atleast_2d(W)]

    @staticmethod
    def _apply(S: list[list[tuple[int, mpmath.mpf]]], col: Sequence[mpmath.mpf]
               ) -> list[mpmath.mpf]:
        return [mpmath.fsum(v * col[i] for i, v in row) for row in S]

    def _needed_columns(self) -> list[np.ndarray]:
        """Output columns of each layer that the network's output depends on."""
        need: list[np.ndarray] = [np.arange(0)] * len(self.layers)
        cur = np.arange(self.layers[-1]["m"])
        for k in range(len(self.layers) - 1, -1, -1):
            need[k] = cur
            L = self.layers[k]
            if L["kind"] == "select-columns":
                cur = np.unique(np.array(L["columns"])[cur])
            elif L["kind"] == "attention":
                cur = np.arange(self.layers[k - 1]["m"])  # every key
        return need

    # -- float64 shadows (screening and magnitudes; no guarantee needed) ---------------------
    def _forward(self, X: np.ndarray, absolute: bool) -> tuple[list[np.ndarray], float]:
        """Float64 output of every layer at its needed columns (NaN elsewhere).

        With ``absolute``, every operation acts on absolute values with values of ``X``
        replaced by ``|X|`` and attention outputs bounded by the largest value of any key:
        an upper bound (up to float rounding) of every magnitude met in the exact
        evaluation.  Returns the outputs and, with ``absolute``, the largest absolute score
        or softmax input (0 otherwise).
        """
        outs: list[np.ndarray] = []
        smax = 0.0
        Z = np.abs(X) if absolute else X
        for k, L in enumerate(self.layers):
            need, kind = self._need[k], L["kind"]
            out = np.full((L["rows"], L["m"]), np.nan)
            if kind == "sequence-affine":
                w, b = L["w"], L["b"]
                acc = np.zeros((L["rows"], L["m"]))
                np.add.at(acc, (b[:, 0].astype(int), b[:, 1].astype(int)),
                          np.abs(b[:, 2]) if absolute else b[:, 2])
                if len(w):
                    prod = Z[w[:, 2].astype(int), w[:, 3].astype(int)] * \
                        (np.abs(w[:, 4]) if absolute else w[:, 4])
                    np.add.at(acc, (w[:, 0].astype(int), w[:, 1].astype(int)), prod)
                out[:, need] = acc[:, need]
            elif kind == "token-affine":
                W, c = (np.abs(L["W"]), np.abs(L["c"])) if absolute else (L["W"], L["c"])
                out[:, need] = W @ Z[:, need] + c[:, need]
            elif kind == "select-columns":
                out = Z[:, L["columns"]]
            elif kind == "softmax":
                if absolute:
                    smax = max(smax, float(np.nanmax(Z[:, need])))
                    out[:, need] = 1.0
                else:
                    E = np.exp(Z[:, need] - Z[:, need].max(axis=0))
                    out[:, need] = E / E.sum(axis=0)
            else:
                acc = Z[:, need].copy() if L["residual"] else np.zeros((L["rows"], len(need)))
                for h in L["heads"]:
                    if absolute:
                        K, Q = np.abs(h["W_K"]) @ Z, np.abs(h["W_Q"]) @ Z[:, need]
                        smax = max(smax, float(K.max(axis=1) @ Q.max(axis=1)))
                        acc += (np.abs(h["W_O"]) @ (np.abs(h["W_V"]) @ Z)).max(axis=1)[:, None]
                        continue
                    K, V = h["W_K"] @ Z, h["OV"] @ Z
                    step = max(1, 4_000_000 // max(Z.shape[1], 1))  # bounded memory
                    for s in range(0, len(need), step):
                        q = need[s:s + step]
                        S = K.T @ (h["W_Q"] @ Z[:, q])
                        S = np.exp(S - S.max(axis=0))
                        acc[:, s:s + step] += (V @ S) / S.sum(axis=0)
                out[:, need] = acc
            outs.append(out)
            Z = out
        return outs, smax

    def magnitudes(self, xabs: np.ndarray) -> tuple[float, float, int]:
        """``(largest |score| or softmax input, largest magnitude of any entry, columns)``
        over inputs with ``|X| <= xabs`` (float estimates, see :meth:`_forward`)."""
        outs, smax = self._forward(np.asarray(xabs, float), absolute=True)
        mag = max(float(np.nanmax(o)) for o in outs)
        return smax, max(mag, float(np.max(xabs))), max(L["m"] for L in self.layers)

    # -- the exact evaluation ------------------------------------------------------------------
    def output(self, X: np.ndarray, prec: int) -> list[list[mpmath.mpf]]:
        """The network's output at ``X`` (shape ``(d, n)``, binary64 entries) at ``prec``
        bits: ``out[o][c]``, row o of output column c."""
        X = np.asarray(X, float)
        fl, _ = self._forward(X, absolute=False)
        memo: dict[tuple[int, int], list[mpmath.mpf]] = {}
        kv: dict[tuple[int, int, int], tuple[list[mpmath.mpf], list[mpmath.mpf]]] = {}
        cut = prec * math.log(2) + math.log(max(L["m"] for L in self.layers) + 1) + 40

        def col(k: int, j: int) -> list[mpmath.mpf]:
            key = (k, j)
            if key in memo:
                return memo[key]
            L = self.layers[k]
            kind = L["kind"]
            if kind == "sequence-affine":
                acc = [mpmath.mpf(0)] * L["rows"]
                terms: list[list[mpmath.mpf]] = [[] for _ in range(L["rows"])]
                for i, v in L["bias"].get(j, ()):
                    terms[i].append(v)
                for i, a, b, v in L["bycol"].get(j, ()):
                    terms[i].append(v * _mpf(X[a, b]))
                acc = [mpmath.fsum(t) for t in terms]
            elif kind == "token-affine":
                z = [_mpf(v) for v in X[:, j]] if k == 0 else col(k - 1, j)
                acc = [a + L["cm"][o][j] for o, a in enumerate(self._apply(L["Wm"], z))]
            elif kind == "select-columns":
                acc = col(k - 1, L["columns"][j])
            elif kind == "softmax":
                z = col(k - 1, j)
                top = max(z)
                e = [mpmath.exp(v - top) for v in z]
                tot = mpmath.fsum(e)
                acc = [v / tot for v in e]
            else:
                zq = col(k - 1, j)
                Zf = fl[k - 1]
                Za = np.abs(Zf)
                acc = list(zq) if L["residual"] else [mpmath.mpf(0)] * L["rows"]
                for hi, h in enumerate(L["heads"]):
                    sf = (h["W_K"] @ Zf).T @ (h["W_Q"] @ Zf[:, j])
                    err = 1e-6 * ((np.abs(h["W_K"]) @ Za).T @ (np.abs(h["W_Q"]) @ Za[:, j])) + 1e-6
                    if np.all(np.isfinite(sf)) and np.all(np.isfinite(err)):
                        keep = np.flatnonzero(sf + err >= np.max(sf - err) - cut)
                    else:
                        keep = np.arange(Zf.shape[1])
                    q = self._apply(h["W_Qm"], zq)
                    scores, values = [], []
                    for jj in keep:
                        kk = (k, hi, int(jj))
                        if kk not in kv:
                            z = col(k - 1, int(jj))
                            kv[kk] = (self._apply(h["W_Km"], z),
                                      self._apply(h["W_Om"], self._apply(h["W_Vm"], z)))
                        kvec, v = kv[kk]
                        scores.append(mpmath.fsum(a * b for a, b in zip(kvec, q)))
                        values.append(v)
                    top = max(scores)
                    e = [mpmath.exp(s - top) for s in scores]
                    tot = mpmath.fsum(e)
                    for o in range(L["rows"]):
                        acc[o] += mpmath.fsum(w * v[o] for w, v in zip(e, values)) / tot
            memo[key] = acc
            return acc

        with mpmath.workprec(prec):
            last = len(self.layers) - 1
            cols = [col(last, c) for c in range(self.cols)]
            return [[cols[c][o] for c in range(self.cols)] for o in range(self.rows)]


# -- the target in mpmath ----------------------------------------------------------------------

class MpTarget:
    """A certificate's (or spec's) target, evaluated in mpmath.

    Expressions go through the project's whitelisted parser and :class:`MpOps` (never
    ``eval``); ReLU networks are evaluated here from their binary64 weights.  ``value(x, k,
    o)`` is output entry ``o`` of token ``k`` at the flat point ``x`` (token-major).
    """

    def __init__(self, theorem: str, target: Mapping[str, Any]):
        from certify.expression import parse

        self.theorem = theorem
        self.kind = target["kind"]
        self.exprs: list[list[Any]] = []
        self.layers: list[tuple[list[list[mpmath.mpf]], list[mpmath.mpf]]] = []
        if self.kind == "relu-network":
            self.layers = [([[_mpf(v) for v in r] for r in lay["W"]], [_mpf(v) for v in lay["b"]])
                           for lay in target["layers"]]
            self.float_layers = [(np.array(lay["W"], float), np.array(lay["b"], float))
                                 for lay in target["layers"]]
        elif theorem == "seq2seq":
            from certify.seq_targets import variable_names

            names = variable_names(int(target["tokens"]), int(target["dim"]))
            self.exprs = [[parse(t, names) for t in row] for row in target["outputs"]]
        else:
            self.exprs = [[parse(target["expr"], list(target["variables"]))]]
        self._ops: dict[int, Any] = {}

    def _mpops(self, dps: int):
        from certify.expression import MpOps

        if dps not in self._ops:
            self._ops[dps] = MpOps(dps)
        return self._ops[dps]

    def value(self, x: Sequence[float], k: int, o: int, prec: int) -> mpmath.mpf:
        """Entry ``o`` of token ``k`` at ``x`` (binary64 numbers), at ``prec`` bits."""
        if self.layers:
            with mpmath.workprec(prec):
                h = [_mpf(v) for v in x]
                for t, (W, b) in enumerate(self.layers):
                    h = [mpmath.fsum([bi] + [w * hv for w, hv in zip(row, h)])
                         for row, bi in zip(W, b)]
                    if t < len(self.layers) - 1:
                        h = [v if v > 0 else mpmath.mpf(0) for v in h]
                return h[0]
        from certify.expression import evaluate

        ops = self._mpops(int(prec / 3.3219) + 10)
        v = evaluate(self.exprs[k][o], ops.point([float(t) for t in x]), ops)
        with mpmath.workprec(prec + 40):
            return mpmath.mpf(v)  # into the global context, exactly at this precision

    def floats(self, P: np.ndarray, k: int, o: int) -> np.ndarray:
        """Float64 values at the rows of ``P`` (no guarantee; used to size epsilon)."""
        if self.layers:
            h = P.T
            for t, (W, b) in enumerate(self.float_layers):
                h = W @ h + b[:, None]
                if t < len(self.float_layers) - 1:
                    h = np.maximum(h, 0)
            return h[0]
        from certify.expression import FloatOps, evaluate

        return np.broadcast_to(evaluate(self.exprs[k][o], list(P.T), FloatOps()), (len(P),))


class ErrorModel:
    """Signed ``N(x) - f(x)`` for a certificate's network, target and domain, in mpmath.

    Output column c of the network is token c; row o of it is the target's entry o of that
    token (for ``uap``-type theorems one token and one row).  The network is evaluated with
    :class:`certify.reference.MpReference` when its shape is affine -> attention ->
    select-columns (and ``use_reference``), else with :class:`MpNetwork`.
    """

    def __init__(self, theorem: str, target: Mapping[str, Any], network: Mapping[str, Any],
                 lo: Sequence[float], hi: Sequence[float], use_reference: bool = True):
        self.net = MpNetwork(network)
        self.target = MpTarget(theorem, target)
        self.network_obj = network
        self.lo, self.hi = [float(v) for v in lo], [float(v) for v in hi]
        self.D = len(self.lo)
        if self.net.d * self.net.n != self.D:
            raise ValueError("network input shape does not match the domain")
        kinds = [L["kind"] for L in self.net.layers]
        self.reference_shape = kinds == ["sequence-affine", "attention", "select-columns"] \
            or kinds == ["token-affine", "attention", "select-columns"]
        self.reference_shape = self.reference_shape and not self.net.layers[1]["residual"]
        self.use_reference = use_reference and self.reference_shape
        self._refs: dict[int, Any] = {}
        self._mag: tuple[float, float, int] | None = None

    @classmethod
    def from_certificate(cls, cert: Mapping[str, Any], use_reference: bool = True
                         ) -> ErrorModel:
        lo, hi = cert["domain"]["lo"], cert["domain"]["hi"]
        flat = (lambda a: [v for row in a for v in row]) if cert["theorem"] == "seq2seq" \
            else (lambda a: list(a))
        return cls(cert["theorem"], cert["target"], cert["network"], flat(lo), flat(hi),
                   use_reference)

    def _X(self, x: Sequence[float]) -> np.ndarray:
        """The flat point as the network's ``(d, n)`` input (coordinate i of token k)."""
        d, n = self.net.d, self.net.n
        return np.array([[float(x[k * d + i]) for k in range(n)] for i in range(d)])

    def precision(self, threshold: float) -> int:
        """Bits at which an error is accurate far below ``2^-110 * threshold``: enough for
        the largest score (the softmax's conditioning), for every magnitude met relative to
        the threshold, and for the domain's coordinates (cancellation in the first layer
        and in the target), with 40 bits to spare."""
        if self._mag is None:
            xabs = self._X([max(abs(a), abs(b)) for a, b in zip(self.lo, self.hi)])
            self._mag = self.net.magnitudes(xabs)
        smax, mag, m = self._mag
        thr = threshold if threshold > 0 else 1e-300
        if not (math.isfinite(smax) and math.isfinite(mag)):
            return MAX_PREC
        need = (150 + math.log2(1 + smax) + math.log2(1 + (mag + 1) / thr)
                + math.log2(m + 2))
        return int(min(MAX_PREC, max(MIN_PREC, math.ceil(need))))

    def network_output(self, x: Sequence[float], prec: int) -> list[list[mpmath.mpf]]:
        if self.use_reference:
            from certify.network import AttentionNet
            from certify.reference import MpReference

            dps = int(prec / 3.3219) + 5
            if dps not in self._refs:
                self._refs[dps] = MpReference(AttentionNet.from_json_obj(self.network_obj), dps)
            out = self._refs[dps].output(self._X(x))
            with mpmath.workprec(prec + 40):
                return [[mpmath.mpf(v) for v in row] for row in out]
        return self.net.output(self._X(x), prec)

    def errors(self, x: Sequence[float], prec: int) -> dict[tuple[int, int], mpmath.mpf]:
        """Signed ``N - f`` at the flat point ``x``: ``{(token, row): value}``."""
        out = self.network_output(x, prec)
        res = {}
        with mpmath.workprec(prec):
            for k in range(self.net.cols):
                for o in range(self.net.rows):
                    res[(k, o)] = out[o][k] - self.target.value(x, k, o, prec)
        return res

    def abs_errors(self, x: Sequence[float], prec: int) -> dict[tuple[int, int], mpmath.mpf]:
        """``|N - f|`` at ``x`` (``abs`` taken at ``prec`` bits: mpmath rounds even ``abs``
        to the working precision, which outside this block is only 53 bits)."""
        errs = self.errors(x, prec)
        with mpmath.workprec(prec):
            return {key: abs(v) for key, v in errs.items()}

    def confirmed(self, x: Sequence[float], prec: int, threshold: float
                  ) -> tuple[dict[tuple[int, int], mpmath.mpf], bool]:
        """``|N - f|`` at ``x`` at ``2 prec + 64`` bits, and whether it agrees with the value
        at ``prec`` bits within ``2^-100 threshold`` (else the evaluation is *imprecise*)."""
        low = self.errors(x, prec)
        hp = min(MAX_PREC, 2 * prec + 64)
        high = self.errors(x, hp)
        with mpmath.workprec(hp):
            gap = max(abs(high[key] - low[key]) for key in high)
            agree = bool(gap <= _mpf(max(threshold, 1e-300)) * mpmath.mpf(2) ** -100)
            return {key: abs(v) for key, v in high.items()}, agree


# -- probe points -------------------------------------------------------------------------------

def probe_points(lo: Sequence[float], hi: Sequence[float], rng: np.random.Generator,
                 witness: Sequence[float] | None, counts: Mapping[str, int] | None = None
                 ) -> list[list[float]]:
    """Binary64 points of the domain (every coordinate in ``[lo, hi]`` exactly).

    Groups (sizes from ``counts``, keys ``near``, ``boundary``, ``random``): the witness and
    ``near`` perturbations of it (1e-1 to 1e-12 of the width); all ``2^D`` corners;
    ``boundary`` points with one or more coordinates within 1e-12 to 1e-3 of the width
    from a face; ``random`` uniform points.
    """
    c = {"near": 8, "boundary": 10, "random": 16}
    c.update(counts or {})
    D = len(lo)
    lo_a, hi_a = np.array(lo, float), np.array(hi, float)
    w = hi_a - lo_a

    def clip(p: np.ndarray) -> list[float]:
        return [float(v) for v in np.minimum(np.maximum(p, lo_a), hi_a)]

    pts: list[list[float]] = []
    if witness is not None:
        wx = np.array(witness, float)
        pts.append(clip(wx))
        for _ in range(c["near"]):
            pts.append(clip(wx + 10.0 ** -rng.uniform(1, 12) * rng.uniform(-1, 1, D) * w))
    for bits in range(2 ** D):
        pts.append([float(hi[i] if bits >> i & 1 else lo[i]) for i in range(D)])
    for _ in range(c["boundary"]):
        p = lo_a + rng.uniform(0, 1, D) * w
        for i in range(D):
            if rng.random() < 0.6:
                off = 10.0 ** -rng.uniform(3, 12) * w[i]
                p[i] = lo_a[i] + off if rng.random() < 0.5 else hi_a[i] - off
        pts.append(clip(p))
    for _ in range(c["random"]):
        pts.append(clip(lo_a + rng.uniform(0, 1, D) * w))
    return pts


# -- comparing a certificate with mpmath ----------------------------------------------------------

@dataclass
class Audit:
    """What the mpmath evaluation found for one certificate.

    ``unsound_upper`` lists probe points with ``|N - f| > claim.upper (1 + 1e-30)``;
    ``lower_above`` holds a message if the witness error is below ``max(claim.lower,
    witness.error_lower) (1 - 1e-30)``; ``imprecise`` counts confirmations whose two
    precisions disagreed; ``mismatch`` notes a disagreement between MpReference and
    :class:`MpNetwork` at the witness (a defect of an evaluator, not of the certificate).
    """

    points: int = 0
    prec: int = 0
    max_error: float = 0.0
    witness_error: float = 0.0
    unsound_upper: list[dict[str, Any]] = field(default_factory=list)
    lower_above: list[str] = field(default_factory=list)
    imprecise: int = 0
    mismatch: list[str] = field(default_factory=list)
    seconds: float = 0.0


def audit_certificate(cert: Mapping[str, Any], rng: np.random.Generator,
                      counts: Mapping[str, int] | None = None,
                      model: ErrorModel | None = None) -> Audit:
    """Compare a certificate's claim with the mpmath error at the witness and at probes.

    Every probe is evaluated at :meth:`ErrorModel.precision` bits; the witness, every probe
    within ``2^-30`` of ``claim.upper`` or above it, and every fourth probe are confirmed at
    ``2 prec + 64`` bits.  When the network has MpReference's shape, the witness is also
    evaluated with :class:`MpNetwork`, and the two must agree.
    """
    start = time.perf_counter()
    model = model or ErrorModel.from_certificate(cert)
    claim, wit = cert["claim"], cert["witness"]
    upper, lower = float(claim["upper"]), float(claim["lower"])
    need = max(lower, float(wit["error_lower"]))
    positive = [v for v in (lower, upper, claim.get("epsilon") or 0.0) if v > 0]
    thr = min(positive) if positive else 0.0
    prec = model.precision(thr)
    audit = Audit(prec=prec)
    werr, agree = model.confirmed(wit["x"], prec, thr)
    audit.imprecise += not agree
    key = (int(wit["token"]), int(wit["row"]))
    e_w = werr[key]
    audit.witness_error = float(e_w)
    with mpmath.workprec(2 * prec + 64):
        if e_w < _mpf(need) * (1 - REL_SLACK):
            audit.lower_above.append(
                f"witness error {mpmath.nstr(e_w, 20)} < max(claim.lower, "
                f"witness.error_lower) = {need!r} at x = {list(wit['x'])}")
    if model.use_reference:
        # two independent evaluators of the same network must agree
        other = ErrorModel(cert["theorem"], cert["target"], cert["network"], model.lo, model.hi,
                           use_reference=False)
        e2 = other.abs_errors(wit["x"], prec)[key]
        with mpmath.workprec(prec):
            if abs(e2 - e_w) > _mpf(max(thr, 1e-300)) * mpmath.mpf(2) ** -90:
                audit.mismatch.append(f"MpReference {mpmath.nstr(e_w, 25)} vs MpNetwork "
                                      f"{mpmath.nstr(e2, 25)} at the witness")
    with mpmath.workprec(2 * prec + 64):  # 1 + 1e-30 would round to 1 at 53 bits
        bound = _mpf(upper) * (1 + REL_SLACK)
        near = _mpf(upper) * (1 - mpmath.mpf(2) ** -30)
    pts = probe_points(model.lo, model.hi, rng, wit["x"], counts)
    for idx, x in enumerate(pts):
        errs = model.abs_errors(x, prec)
        top = max(errs.values())
        if top >= near or idx % 4 == 0:
            errs, agree = model.confirmed(x, prec, thr)
            audit.imprecise += not agree
            top = max(errs.values())
        audit.max_error = max(audit.max_error, float(top))
        if top > bound:
            k, o = max(errs, key=lambda kk: errs[kk])
            audit.unsound_upper.append({"x": x, "token": k, "row": o,
                                        "error": mpmath.nstr(top, 20), "upper": upper})
    audit.points = len(pts)
    audit.seconds = time.perf_counter() - start
    return audit


# -- drawing specs --------------------------------------------------------------------------------

def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(10.0 ** rng.uniform(math.log10(lo), math.log10(hi)))


def _num(x: float) -> str:
    """A float as expression text: its shortest repr, an exact decimal in the grammar."""
    s = repr(float(x))
    return f"({s})" if s.startswith("-") else s


def _draw_interval(rng: np.random.Generator, moderate: bool = False) -> tuple[float, float]:
    """``(lo, hi)``: widths tiny (1e-6..1e-3), ordinary (0.1..10) or large (10..1e3);
    centres at 0, in [-3, 3], or far out (1e2..1e6, either sign).  ``moderate`` keeps the
    width in 0.1..4 and the centre in [-2, 2] (for raw variables and seq2seq)."""
    if moderate:
        w, c = _log_uniform(rng, 0.1, 4.0), float(rng.uniform(-2, 2))
    else:
        u = rng.random()
        w = _log_uniform(rng, 1e-6, 1e-3) if u < 0.15 else \
            _log_uniform(rng, 0.1, 10.0) if u < 0.75 else _log_uniform(rng, 10.0, 1e3)
        v = rng.random()
        c = 0.0 if v < 0.35 else float(rng.uniform(-3, 3)) if v < 0.7 else \
            float(rng.choice([-1.0, 1.0])) * _log_uniform(rng, 1e2, 1e6)
    if rng.random() < 0.3:  # short decimals sometimes, exact binary64 ends otherwise
        lo, hi = float(f"{c - w / 2:.3g}"), float(f"{c + w / 2:.3g}")
        if lo < hi:
            return lo, hi
    lo, hi = c - w / 2, c + w / 2
    return (lo, hi) if lo < hi else (c, math.nextafter(c, math.inf))


def _atom(rng: np.random.Generator, u: str, allow_minmax: bool) -> str:
    """A function of the affine form ``u`` (a normalised variable, about [-1, 1])."""
    a = str(rng.choice(["0.5", "1", "2", "3"]))
    b = str(rng.choice(["0", "0.25", "(-0.5)", "1"]))
    choices = ["u", "u**2", "u**3", "sin", "cos", "exp", "tanh", "abs"]
    if allow_minmax:
        choices += ["max", "min"]
    kind = str(rng.choice(choices))
    if kind == "u":
        return u
    if kind.startswith("u**"):
        return f"{u}{kind[1:]}"
    if kind in ("sin", "tanh"):
        return f"{kind}({a}*{u} + {b})"
    if kind in ("cos", "exp"):
        return f"{kind}({a}*{u})"
    if kind == "abs":
        return f"abs({u} - {b})"
    return f"{kind}({u}, {b})"


def _expression(rng: np.random.Generator, us: Sequence[str], allow_minmax: bool = True) -> str:
    """A target over the normalised variables ``us``: an atom, a weighted sum of two atoms
    (with a constant), or a product of two atoms."""
    def atom() -> str:
        return _atom(rng, str(rng.choice(list(us))), allow_minmax)

    shape = rng.random()
    if shape < 0.3:
        e = atom()
        if len(us) > 1:  # make both variables matter
            e = f"{e} + 0.5*{_atom(rng, us[1] if us[0] in e else us[0], allow_minmax)}"
        return e
    if shape < 0.7:
        c1, c2 = (str(rng.choice(["1", "0.5", "(-2)", "3"])) for _ in range(2))
        k = str(rng.choice(["0", "1", "(-0.25)", "10"]))
        return f"{c1}*{atom()} + {c2}*{atom()} + {k}"
    return f"{atom()}*{atom()}"


def _normalised(rng: np.random.Generator, names: Sequence[str], lo: Sequence[float],
                hi: Sequence[float]) -> list[str]:
    """Per variable, the text of an affine form of it that spans about [-1, 1] on the
    domain (``(x - c)/h``), or the raw variable when the domain is moderate (30%)."""
    out = []
    for nm, a, b in zip(names, lo, hi):
        c, h = (a + b) / 2, (b - a) / 2
        if abs(c) <= 3 and 0.05 <= h <= 5 and rng.random() < 0.3:
            out.append(nm)
        elif c == 0:
            out.append(f"({nm}/{_num(h)})")
        else:
            out.append(f"(({nm} - {_num(c)})/{_num(h)})")
    return out


def _relu_network(rng: np.random.Generator, lo: Sequence[float], hi: Sequence[float],
                  hidden: int) -> dict[str, Any]:
    """A random ReLU network whose first layer reads normalised inputs (so that the
    pre-activations are O(1) on any domain); weights rounded to 3 significant digits."""
    D = len(lo)
    c = np.array([(a + b) / 2 for a, b in zip(lo, hi)])
    h = np.array([(b - a) / 2 for a, b in zip(lo, hi)])
    widths = [D] + [int(rng.integers(2, 7)) for _ in range(hidden)] + [1]

    def r3(v: float) -> float:
        return float(f"{v:.3g}")

    layers = []
    for t in range(len(widths) - 1):
        G = rng.standard_normal((widths[t + 1], widths[t]))
        W = np.vectorize(r3)(G / h if t == 0 else G)
        b = np.vectorize(r3)(rng.uniform(-0.5, 0.5, widths[t + 1]))
        if t == 0:  # centre on the domain with the rounded weights (b stays binary64)
            b = b - W @ c
        layers.append({"W": [[float(v) for v in row] for row in W],
                       "b": [float(v) for v in b]})
    return {"kind": "relu-network", "layers": layers}


def _f_scale(spec: Mapping[str, Any]) -> float:
    """A float estimate of ``max |f|`` at the domain's centre and corners, for sizing an
    epsilon (no guarantee); 1 when f vanishes at all of them."""
    lo, hi = flat_domain(spec)
    D = len(lo)
    P = np.array([[hi[i] if b >> i & 1 else lo[i] for i in range(D)] for b in range(2 ** D)]
                 + [[(a + c) / 2 for a, c in zip(lo, hi)]])
    tgt = MpTarget(spec["theorem"], spec["target"])
    with np.errstate(all="ignore"):
        vals = [np.abs(tgt.floats(P, k, o)) for k, o in _entries(spec)]
    S = float(np.nanmax(np.concatenate(vals)))
    return S if math.isfinite(S) and S > 0 else 1.0


def _entries(spec: Mapping[str, Any]) -> list[tuple[int, int]]:
    """``(token, row)`` of every output entry of a spec's target."""
    if spec["theorem"] == "seq2seq":
        return [(k, o) for k, row in enumerate(spec["target"]["outputs"])
                for o in range(len(row))]
    return [(0, 0)]


def flat_domain(spec: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    """A spec's domain as flat token-major lists (the layout of ``witness.x``), read from
    the spec's JSON: a number is every coordinate, a list is flattened in order."""
    tg = spec["target"]
    if spec["theorem"] == "seq2seq":
        D = int(tg["tokens"]) * int(tg["dim"])
    elif tg["kind"] == "relu-network":
        D = len(tg["layers"][0]["W"][0])
    else:
        D = len(tg["variables"])

    def flat(v: Any) -> list[float]:
        if isinstance(v, (int, float)):
            return [float(v)] * D
        return [float(t) for t in np.asarray(v, float).ravel()]

    return flat(spec["domain"]["lo"]), flat(spec["domain"]["hi"])


def draw_spec(seed: int, index: int, theorems: Sequence[str] = THEOREMS
              ) -> tuple[dict[str, Any], float | None]:
    """Random spec ``index`` of campaign ``seed`` (deterministic given ``theorems``).

    Returns ``(spec, factor)``: ``factor`` (log-uniform in [0.5, 4]) is set when the spec is
    in mode prove with explicit resources and still lacks its epsilon, which
    :func:`choose_epsilon` then puts at ``factor`` times the network's sampled error.
    Resources are otherwise explicit (measure), or chosen by the engine from an epsilon of
    1e-3 to 1e-1 times the target's scale (both modes).
    """
    rng = np.random.default_rng([seed, index, 7])
    w = np.array([THEOREM_WEIGHTS[t] for t in theorems])
    theorem = str(rng.choice(list(theorems), p=w / w.sum()))
    mode = "prove" if rng.random() < 0.5 else "measure"
    auto = rng.random() < 0.3  # resources chosen from epsilon
    spec: dict[str, Any] = {"theorem": theorem, "mode": mode}
    construction: dict[str, Any] = {}
    if theorem == "seq2seq":
        n, d = (2, 1) if rng.random() < 0.6 else (3, 1)
        names = [f"x{k}_0" for k in range(n)]
        if rng.random() < 0.5:
            a, b = _draw_interval(rng, moderate=True)
            spec["domain"] = {"lo": a, "hi": b}
            ivs = [(a, b)] * n
        else:
            ivs = [_draw_interval(rng, moderate=True) for _ in range(n)]
            spec["domain"] = {"lo": [[p[0]] for p in ivs], "hi": [[p[1]] for p in ivs]}
        us = _normalised(rng, names, [p[0] for p in ivs], [p[1] for p in ivs])
        outs = []
        rows = int(rng.integers(1, 3))
        for k in range(n):
            row = []
            for _ in range(rows):
                u = rng.random()
                i, j = (int(v) for v in rng.choice(n, 2, replace=False))
                if u < 0.3:
                    row.append(_atom(rng, us[i], False))
                elif u < 0.5:
                    row.append(f"{names[i]} - 0.5*{names[j]}")
                elif u < 0.7:
                    row.append(f"{names[i]}*{names[j]}")
                else:
                    row.append(f"{str(rng.choice(['max', 'min']))}({', '.join(names[:k + 1])})"
                               if k > 0 else names[0])
            outs.append(row)
        spec["target"] = {"kind": "expression", "tokens": n, "dim": d, "outputs": outs}
        if rng.random() < 0.3:
            construction["kappa"] = float(rng.choice([2.0, 6.0, 12.0]))
        spec["construction"] = construction
        scale = _safe_scale(spec)
        construction["design_epsilon"] = float(f"{scale * _log_uniform(rng, 0.02, 0.3):.3g}")
        if mode == "measure":
            spec["tol"] = float(f"{_log_uniform(rng, 0.05, 1.0):.2g}")
            return spec, None
        return spec, _log_uniform(rng, 0.5, 4.0)

    D = 1 if theorem == "uap-softmax" else int(rng.choice([1, 2], p=[0.6, 0.4]))
    names = ["x", "y"][:D]
    ivs = [_draw_interval(rng) for _ in range(D)]
    lo, hi = [p[0] for p in ivs], [p[1] for p in ivs]
    spec["domain"] = {"lo": lo, "hi": hi} if D > 1 or rng.random() < 0.5 else \
        {"lo": lo[0], "hi": hi[0]}
    relu_target = theorem in ("uap", "uap-two-layer") and rng.random() < 0.25
    route = "interpolation"
    if theorem in ("uap", "uap-softmax"):
        route = "relu" if rng.random() < 0.45 and (D == 1 or relu_target) else "interpolation"
    if relu_target:
        hidden = 1 if route == "relu" else int(rng.integers(1, 3))
        spec["target"] = _relu_network(rng, lo, hi, hidden)
    else:
        us = _normalised(rng, names, lo, hi)
        spec["target"] = {"kind": "expression", "expr": _expression(rng, us),
                          "variables": names}
    if theorem in ("uap", "uap-softmax"):
        construction["route"] = route
        if rng.random() < 0.3:
            construction["kappa"] = float(f"{_log_uniform(rng, 0.5, 30):.3g}")
        if not auto:
            if route == "interpolation":
                p = [int(round(_log_uniform(rng, 4, 300 if D == 1 else 30))) for _ in range(D)]
                construction["p"] = p[0] if D == 1 and rng.random() < 0.5 else p
            else:
                construction["p"] = int(round(_log_uniform(rng, 8, 64)))
                if not relu_target:
                    construction["knots"] = int(round(_log_uniform(rng, 4, 64)))
    elif theorem == "uap-two-layer":
        if rng.random() < 0.3:
            construction["kappa"] = float(rng.choice([1.0, 3.0, 8.0]))
        if not auto:
            construction["p"] = int(rng.choice([9, 17, 33, 65]))
    spec["construction"] = construction
    if mode == "measure":
        spec["tol"] = float(f"{_log_uniform(rng, 0.05, 1.0):.2g}")
    scale = _safe_scale(spec)
    if theorem == "uap-two-layer" and not auto:
        construction["knot_error"] = float(f"{scale * _log_uniform(rng, 1e-3, 3e-2):.3g}")
    if auto or (mode == "measure" and theorem == "uap-two-layer" and rng.random() < 0.3):
        spec["epsilon"] = float(f"{scale * _log_uniform(rng, 3e-3, 1e-1):.3g}")
        return spec, None
    if mode == "prove":
        return spec, _log_uniform(rng, 0.5, 4.0)
    return spec, None


def _safe_scale(spec: Mapping[str, Any]) -> float:
    """:func:`_f_scale`, or 1 if the spec cannot be parsed (it is then refused anyway)."""
    try:
        return _f_scale(spec)
    except Exception:  # an invalid spec is counted when it is certified
        return 1.0


def sampled_error(spec_obj: Mapping[str, Any], rng: np.random.Generator, n: int = 400) -> float:
    """The largest float64 ``|N - f|`` of the built network over ``n`` random points, the
    corners and the centre (a lower estimate of the sup error; no guarantee)."""
    from certify import api
    from certify.spec import parse_spec

    parsed = parse_spec(json.loads(json.dumps(dict(spec_obj, mode="measure"))))
    net = api.build(parsed).net
    lo, hi = flat_domain(spec_obj)
    D = len(lo)
    lo_a, hi_a = np.array(lo), np.array(hi)
    P = lo_a + rng.uniform(0, 1, (n, D)) * (hi_a - lo_a)
    P = np.vstack([P, [[hi[i] if b >> i & 1 else lo[i] for i in range(D)] for b in range(2 ** D)],
                   [(lo_a + hi_a) / 2]])
    P = np.minimum(np.maximum(P, lo_a), hi_a)
    d, ntok = net.input_shape
    X = P.reshape(len(P), ntok, d).transpose(0, 2, 1)
    out = api.evaluate(net, X)
    tgt = MpTarget(spec_obj["theorem"], spec_obj["target"])
    err = 0.0
    for k, o in _entries(spec_obj):
        e = np.abs(out[:, o, k] - tgt.floats(P, k, o))
        err = max(err, float(np.nanmax(e)))
    return err


def choose_epsilon(spec_obj: Mapping[str, Any], factor: float, rng: np.random.Generator
                   ) -> float:
    """``factor`` times the network's sampled error (:func:`sampled_error`); a negligible
    sampled error (below 1e-12 of the target's scale) gives 1e-10 of the scale instead."""
    est = sampled_error(spec_obj, rng)
    S = _safe_scale(spec_obj)
    if not math.isfinite(est) or est < 1e-12 * S:
        return float(S * 1e-10)
    return float(f"{est * factor:.4g}")


# -- one case -------------------------------------------------------------------------------------

@dataclass
class Budget:
    """Limits of one case: engine seconds and boxes (with a hard alarm ``hard_extra``
    seconds later that also covers building), seconds per checker run and for the mpmath
    audit, probe counts (:func:`probe_points`), and whether pyinterval may run."""

    timeout: float = DEFAULT_TIMEOUT
    max_boxes: int = DEFAULT_MAX_BOXES
    hard_extra: float = 30.0
    check_timeout: float = DEFAULT_CHECK_TIMEOUT
    audit_timeout: float = 240.0
    counts: dict[str, int] | None = None
    pyinterval: bool = True


def _empty_case(index: int, spec: dict[str, Any]) -> dict[str, Any]:
    return {"index": index, "theorem": spec.get("theorem"), "mode": spec.get("mode"),
            "route": (spec.get("construction") or {}).get("route"),
            "kind": (spec.get("target") or {}).get("kind"), "spec": spec, "outcome": None,
            "message": "", "rejections": [], "unsound_upper": [], "lower_above": [],
            "check_timeouts": [], "audit_timeouts": 0, "imprecise": 0, "mismatch": [],
            "problems": [], "times": {}, "points": 0, "claim": None, "prec": 0,
            "max_over_upper": None, "seconds": 0.0}


def run_spec(spec_obj: dict[str, Any], budget: Budget, index: int = 0, seed: int = 0
             ) -> dict[str, Any]:
    """Certify, check and audit one spec (epsilon already set).  Never raises for a
    defect of the code under test: it becomes an ``error`` outcome with a traceback."""
    from certify import api
    from certify.engine import run_limits
    from certify.errors import InputError

    case = _empty_case(index, spec_obj)
    times = case["times"]
    rng = np.random.default_rng([seed, index, 3])
    t0 = time.perf_counter()
    try:
        with _time_limit(budget.timeout + budget.hard_extra), \
                run_limits(budget.max_boxes, budget.timeout):
            result, cert = api.certify(json.loads(json.dumps(spec_obj)), jobs=1)
    except InputError as exc:
        case["outcome"], case["message"] = "refused", str(exc)
        times["certify"] = time.perf_counter() - t0
        return case
    except _Timeout:
        case["outcome"] = "budget"
        case["message"] = f"hard time limit {budget.timeout + budget.hard_extra:g} s " \
                          f"(building or between engine waves)"
        times["certify"] = time.perf_counter() - t0
        return case
    except Exception as exc:
        case["outcome"], case["message"] = "error", f"{type(exc).__name__}: {exc}"
        case["problems"].append("certify raised: " + traceback.format_exc(limit=8))
        times["certify"] = time.perf_counter() - t0
        return case
    times["certify"] = time.perf_counter() - t0
    case["message"] = result.message
    if cert is None:
        budget_stop = getattr(result, "partial", None) is not None \
            or "within the budget" in result.message or "timeout" in result.message
        case["outcome"] = "budget" if budget_stop else "not-certified"
        ce = getattr(result, "counterexample", None)
        if ce:
            _audit_counterexample(case, spec_obj, ce, budget)
        return case
    case["outcome"] = "certified"
    case["claim"] = dict(cert["claim"])
    flint_time = math.inf
    for name in ("flint", "pyinterval"):
        if name == "pyinterval" and not (budget.pyinterval
                                         and flint_time < PYINTERVAL_IF_FLINT_UNDER):
            continue
        t1 = time.perf_counter()
        try:
            # pyinterval is the slow backend: it gets at most 20 s
            limit = budget.check_timeout if name == "flint" else min(budget.check_timeout, 20.0)
            with _time_limit(limit):
                ok, reason = api.check(cert, backend=name, conformance=(name == "flint"))
            if not ok:
                case["rejections"].append(f"{name}: {reason}")
        except _Timeout:
            case["check_timeouts"].append(name)
        except InputError as exc:
            case["rejections"].append(f"{name}: malformed: {exc}")
        except Exception:
            if time.perf_counter() - t1 >= min(budget.check_timeout, 20.0):
                # the alarm fired inside a pyinterval operator, whose wrapper turns any
                # exception into a TypeError: still a timeout
                case["check_timeouts"].append(name)
            else:
                case["outcome"] = "error"
                case["problems"].append(f"check {name} raised: " + traceback.format_exc(limit=8))
        times[name] = time.perf_counter() - t1
        if name == "flint":
            flint_time = times[name]
    t1 = time.perf_counter()
    try:
        with _time_limit(budget.audit_timeout):
            audit = audit_certificate(cert, rng, budget.counts)
    except _Timeout:
        case["audit_timeouts"] += 1
        case["problems"].append(f"mpmath audit stopped after {budget.audit_timeout:g} s")
        times["mpmath"] = time.perf_counter() - t1
        return case
    except Exception:
        case["outcome"] = "error"
        case["problems"].append("mpmath audit raised: " + traceback.format_exc(limit=8))
        return case
    times["mpmath"] = time.perf_counter() - t1
    case["points"], case["prec"] = audit.points, audit.prec
    case["unsound_upper"].extend(audit.unsound_upper)
    case["lower_above"].extend(audit.lower_above)
    case["imprecise"] += audit.imprecise
    case["mismatch"].extend(audit.mismatch)
    up = float(cert["claim"]["upper"])
    case["max_over_upper"] = audit.max_error / up if up > 0 else None
    return case


def _audit_counterexample(case: dict[str, Any], spec_obj: Mapping[str, Any],
                          ce: Mapping[str, Any], budget: Budget) -> None:
    """A counterexample's ``error_lower`` must not exceed the mpmath error there (over the
    rows of its token)."""
    from certify import api
    from certify.spec import parse_spec

    t0 = time.perf_counter()
    try:
        with _time_limit(budget.audit_timeout):
            net = api.build(parse_spec(json.loads(json.dumps(spec_obj)))).net.to_json_obj()
            lo, hi = flat_domain(spec_obj)
            model = ErrorModel(spec_obj["theorem"], spec_obj["target"], net, lo, hi)
            lower = float(ce["error_lower"])
            prec = model.precision(lower)
            x = [float(v) for v in np.asarray(ce["x"], float).ravel()]
            errs, agree = model.confirmed(x, prec, lower)
            case["imprecise"] += not agree
            tok = int(ce.get("token", 0))
            e = max(v for (k, _), v in errs.items() if k == tok)
            with mpmath.workprec(2 * prec + 64):
                if e < _mpf(lower) * (1 - REL_SLACK):
                    case["lower_above"].append(
                        f"counterexample error_lower {lower!r} > mpmath error "
                        f"{mpmath.nstr(e, 20)} at x = {x}")
    except _Timeout:
        case["audit_timeouts"] += 1
    except Exception:
        case["problems"].append("counterexample audit raised: " + traceback.format_exc(limit=8))
    case["times"]["mpmath"] = time.perf_counter() - t0


def run_case(seed: int, index: int, budget: Budget, theorems: Sequence[str] = THEOREMS
             ) -> dict[str, Any]:
    """Draw spec ``index`` of campaign ``seed``, set its epsilon, run it.  Never raises."""
    from certify.errors import InputError

    start = time.perf_counter()
    stage = "drawing"
    spec: dict[str, Any] = {}
    try:
        spec, factor = draw_spec(seed, index, theorems)
        if factor is not None:
            stage = "choosing epsilon (build, float64 samples)"
            try:
                with _time_limit(budget.timeout + budget.hard_extra):
                    spec["epsilon"] = choose_epsilon(spec, factor, np.random.default_rng(
                        [seed, index, 2]))
            except (InputError, _Timeout):
                spec["epsilon"] = 1.0  # refused (or too slow to build): run_spec says so
        stage = "run_spec"
        case = run_spec(spec, budget, index, seed)
    except Exception:
        case = _empty_case(index, spec)
        case["outcome"] = "error"
        case["problems"].append(f"{stage} raised: " + traceback.format_exc(limit=8))
    case["seconds"] = time.perf_counter() - start
    return case


# -- the campaign -------------------------------------------------------------------------------

def failures(case: Mapping[str, Any]) -> list[str]:
    """The must-be-zero findings of a case, and ``error`` for an internal error."""
    out = [name for name in MUST_BE_ZERO if case[name]]
    if case["outcome"] == "error":
        out.append("error")
    return out


def summarize(cases: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts per (theorem, mode) and in total, with timing statistics.

    Outcomes count specs.  ``rejections`` counts verdicts (one per rejecting backend),
    ``unsound_upper`` probe points above ``claim.upper``, ``lower_above`` lower bounds
    above their mpmath error; ``check_timeouts``, ``audit_timeouts``, ``imprecise`` and
    ``mismatch`` are limits of this harness, not of the code under test.
    """
    groups: dict[str, Counter] = {}
    for c in cases:
        g = groups.setdefault(f"{c['theorem']} {c['mode']}", Counter())
        g["specs"] += 1
        g[str(c["outcome"])] += 1
        for name in MUST_BE_ZERO + ("check_timeouts", "mismatch"):
            g[name] += len(c[name])
        g["audit_timeouts"] += c["audit_timeouts"]
        g["imprecise"] += c["imprecise"]
    total: Counter = Counter()
    for g in groups.values():
        total.update(g)
    secs = [c["seconds"] for c in cases]
    stages: Counter = Counter()
    for c in cases:
        stages.update(c["times"])
    ratios = [c["max_over_upper"] for c in cases if c["max_over_upper"] is not None]
    return {"groups": {k: dict(v) for k, v in sorted(groups.items())},
            "total": {k: total.get(k, 0) for k in
                      ("specs",) + OUTCOMES + MUST_BE_ZERO
                      + ("check_timeouts", "audit_timeouts", "imprecise", "mismatch")},
            "routes": dict(Counter(f"{c['theorem']}/{c['route'] or '-'}/{c['kind']}"
                                   for c in cases if c["outcome"] == "certified")),
            "max_sampled_over_upper": max(ratios, default=None),
            "seconds": {"sum": sum(secs), "median": statistics.median(secs) if secs else 0.0,
                        "max": max(secs, default=0.0),
                        "stages": {k: round(v, 1) for k, v in sorted(stages.items())}}}


def run_campaign(n: int, seed: int, jobs: int = 1, budget: Budget | None = None,
                 indices: Sequence[int] | None = None, theorems: Sequence[str] = THEOREMS,
                 progress=None) -> list[dict[str, Any]]:
    """Cases ``indices`` (default ``range(n)``) of campaign ``seed`` on ``jobs`` processes
    (1: in this process), in index order; the results do not depend on ``jobs``."""
    budget = budget or Budget()
    idx = list(range(n)) if indices is None else list(indices)
    cases: list[dict[str, Any]] = []
    if jobs <= 1:
        for i in idx:
            cases.append(run_case(seed, i, budget, theorems))
            if progress:
                progress(cases[-1], len(cases), len(idx))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futs = [pool.submit(run_case, seed, i, budget, tuple(theorems)) for i in idx]
            for fut in as_completed(futs):
                cases.append(fut.result())
                if progress:
                    progress(cases[-1], len(cases), len(idx))
    return sorted(cases, key=lambda c: c["index"])


def summary_line(summary: Mapping[str, Any], wall: float) -> str:
    """The one-line summary."""
    t = summary["total"]
    return (f"{t['specs']} specs: certified {t['certified']}, refused {t['refused']}, "
            f"budget {t['budget']}, not-certified {t['not-certified']}, error {t['error']}; "
            f"rejections {t['rejections']}, unsound U {t['unsound_upper']}, "
            f"L above {t['lower_above']} (must be 0); check timeouts {t['check_timeouts']}, "
            f"audit timeouts {t['audit_timeouts']}, imprecise {t['imprecise']}, "
            f"evaluator mismatches {t['mismatch']}; wall {wall:.0f} s")


def _detail(case: Mapping[str, Any], seed: int) -> str:
    keep = {k: case[k] for k in ("index", "outcome", "message", "claim", "rejections",
                                 "unsound_upper", "lower_above", "mismatch", "problems")}
    return json.dumps({"seed": seed, "failures": failures(case), **keep, "spec": case["spec"]},
                      default=str)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the campaign; print the one-line and JSON summaries and every failing case.

    Returns 0 if the must-be-zero counts are zero and no internal error occurred, else 1.
    """
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--n", type=int, default=40, help="number of random specs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (cases in parallel)")
    ap.add_argument("--only", type=int, nargs="*", help="run only these case indices, verbosely")
    ap.add_argument("--theorems", default=",".join(THEOREMS),
                    help="comma-separated subset of " + ",".join(THEOREMS))
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                    help="engine seconds per certification")
    ap.add_argument("--max-boxes", type=int, default=DEFAULT_MAX_BOXES)
    ap.add_argument("--check-timeout", type=float, default=DEFAULT_CHECK_TIMEOUT,
                    help="seconds per checker backend")
    ap.add_argument("--no-pyinterval", action="store_true", help="flint only")
    ap.add_argument("--json-out", metavar="PATH", help="also write the JSON summary here")
    ap.add_argument("--dump", metavar="PATH", help="write every case as one JSON line")
    args = ap.parse_args(argv)
    theorems = tuple(t.strip() for t in args.theorems.split(",") if t.strip())
    bad_names = [t for t in theorems if t not in THEOREMS]
    if bad_names or not theorems:
        ap.error(f"unknown theorem(s) {bad_names}; choose from {', '.join(THEOREMS)}")
    budget = Budget(timeout=args.timeout, max_boxes=args.max_boxes,
                    check_timeout=args.check_timeout, pyinterval=not args.no_pyinterval)
    start = time.perf_counter()

    def progress(case: Mapping[str, Any], done: int, total: int) -> None:
        if args.only or failures(case):
            print(json.dumps({"index": case["index"], "outcome": case["outcome"],
                              "message": case["message"], "claim": case["claim"],
                              "seconds": round(case["seconds"], 1),
                              "times": {k: round(v, 2) for k, v in case["times"].items()},
                              "prec": case["prec"], "points": case["points"],
                              "spec": case["spec"]}, default=str), file=sys.stderr)
        elif done % 10 == 0:
            print(f"  {done}/{total} cases, {time.perf_counter() - start:.0f} s",
                  file=sys.stderr)

    cases = run_campaign(args.n, args.seed, args.jobs, budget, args.only, theorems, progress)
    wall = time.perf_counter() - start
    summary = summarize(cases)
    summary.update(wall_seconds=round(wall, 1), seed=args.seed, n=len(cases),
                   theorems=list(theorems), budget=budget.__dict__)
    print(summary_line(summary, wall))
    text = json.dumps(summary, indent=1, default=str)
    print(text)
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as fh:
            for c in cases:
                fh.write(json.dumps(c, default=str) + "\n")
    bad = [c for c in cases if failures(c)]
    if bad:
        print("cases with a nonzero must-be-zero count or an internal error (JSON lines):")
        for c in bad:
            print(_detail(c, args.seed))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
