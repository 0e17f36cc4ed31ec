"""High-precision reference evaluation of an :class:`~certify.network.AttentionNet` (mpmath).

Every binary64 weight converts exactly to an mpmath number, so with enough digits the
results agree with the exact real network to the working precision.  This evaluator is a
reference for tests and for re-evaluating counterexamples; it proves nothing on its own.
"""

from __future__ import annotations

import mpmath
import numpy as np

from certify.network import Attention, AttentionNet, SelectColumns, SequenceAffine, TokenAffine


def _mpf_matrix(a: np.ndarray) -> list[list[mpmath.mpf]]:
    return [[mpmath.mpf(float(v)) for v in row] for row in np.atleast_2d(a)]


class MpReference:
    """Evaluate ``net`` at single points in mpmath with ``dps`` significant digits.

    Parameters
    ----------
    net : AttentionNet
        A network of the shape affine -> attention -> select-columns.
    dps : int
        Decimal digits of the working precision.
    cutoff : float or None
        If given, key columns whose float64 score lies more than ``cutoff`` below the
        column's largest float64 score are dropped.  Their total softmax weight is at most
        ``m exp(-cutoff + 1)`` (m columns; the 1 covers float64 error in the scores), so a
        cutoff of 200 changes results by less than 1e-80 relative.  ``None`` keeps all.
    """

    def __init__(self, net: AttentionNet, dps: int = 30, cutoff: float | None = None):
        if len(net.layers) != 3 or not isinstance(net.layers[1], Attention) \
                or net.layers[1].residual or not isinstance(net.layers[2], SelectColumns):
            raise ValueError("expected affine, attention, select-columns")
        self.net, self.dps, self.cutoff = net, dps, cutoff
        self.first = net.layers[0]
        self.heads = net.layers[1].heads
        self.cols = list(net.layers[2].columns)

    def _z(self, X: np.ndarray) -> list[list[mpmath.mpf]]:
        """Exact first-layer output (sums of exact products, rounded to ``dps`` digits)."""
        layer = self.first
        d, n = self.net.input_shape
        if isinstance(layer, SequenceAffine):
            dz, m = layer.out_shape
            Z = [[mpmath.mpf(0)] * m for _ in range(dz)]
            for i, j, v in layer.bias:
                Z[int(i)][int(j)] += mpmath.mpf(float(v))
            for i, j, a, b, v in layer.weights:
                Z[int(i)][int(j)] += mpmath.mpf(float(v)) * mpmath.mpf(float(X[int(a), int(b)]))
            return Z
        if isinstance(layer, TokenAffine):
            W, c = _mpf_matrix(layer.weight), _mpf_matrix(layer.bias)
            Xm = _mpf_matrix(X)
            return [[c[i][j] + mpmath.fsum(W[i][a] * Xm[a][j] for a in range(d))
                     for j in range(n)] for i in range(len(W))]
        raise ValueError("first layer must be affine")

    def _prepare(self) -> None:
        """Everything that does not depend on X, computed once."""
        d, n = self.net.input_shape
        self.Z0 = self._z(np.zeros((d, n)))
        Zf0 = self._float(self.Z0)
        Zf1, Zf2 = self._float(self._z(np.ones((d, n)))), self._float(self._z(-2 * np.ones((d, n))))
        varying = np.any((Zf0 != Zf1) | (Zf0 != Zf2), axis=0)
        if isinstance(self.first, TokenAffine):
            varying[:] = True
        self.varying = set(np.flatnonzero(varying)) | set(self.cols)
        self.cache = []
        for h in self.heads:
            WK, WV, WO = _mpf_matrix(h.W_K), _mpf_matrix(h.W_V), _mpf_matrix(h.W_O)
            keys, vals = {}, {}
            for j in range(len(self.Z0[0])):
                if j not in self.varying:
                    keys[j], vals[j] = self._kv(WK, WV, WO, self.Z0, j)
            self.cache.append((WK, WV, WO, _mpf_matrix(h.W_Q), keys, vals, h.W_K @ Zf0))

    @staticmethod
    def _float(Z) -> np.ndarray:
        return np.array([[float(v) for v in row] for row in Z])

    def _z_varying(self, X: np.ndarray) -> dict[int, list[mpmath.mpf]]:
        """Columns of Z that depend on X (and the selected columns), exactly."""
        if isinstance(self.first, TokenAffine):
            Z = self._z(X)
            return {j: [row[j] for row in Z] for j in range(len(Z[0]))}
        cols = {j: [row[j] for row in self.Z0] for j in self.varying}
        for i, j, a, b, v in self.first.weights:
            cols[int(j)][int(i)] += mpmath.mpf(float(v)) * mpmath.mpf(float(X[int(a), int(b)]))
        return cols

    @staticmethod
    def _kv(WK, WV, WO, Z, j):
        k = [mpmath.fsum(WK[r][i] * Z[i][j] for i in range(len(Z))) for r in range(len(WK))]
        v = [mpmath.fsum(WV[r][i] * Z[i][j] for i in range(len(Z))) for r in range(len(WV))]
        return k, [mpmath.fsum(WO[o][r] * v[r] for r in range(len(v))) for o in range(len(WO))]

    def output(self, X: np.ndarray) -> list[list[mpmath.mpf]]:
        """The network output at ``X`` (shape (d, n)) as a (d_out, len(cols)) nested list."""
        with mpmath.workdps(self.dps):
            if not hasattr(self, "cache"):
                self._prepare()
            Zv = self._z_varying(np.asarray(X, float))
            Zcol = [[Zv[j][i] for j in sorted(Zv)] for i in range(len(self.Z0))]
            pos = {j: t for t, j in enumerate(sorted(Zv))}
            out = None
            for h, (WK, WV, WO, WQ, keys, vals, Kf0) in zip(self.heads, self.cache):
                Kf = Kf0.copy()
                Zvf = self._float(Zcol)
                Kf[:, sorted(Zv)] = h.W_K @ Zvf
                res = []
                for col in self.cols:
                    qf = h.W_Q @ Zvf[:, pos[col]]
                    keep = range(Kf.shape[1])
                    if self.cutoff is not None:
                        sf = Kf.T @ qf
                        keep = np.flatnonzero(sf >= sf.max() - self.cutoff)
                    q = [mpmath.fsum(WQ[r][i] * Zv[col][i] for i in range(len(Zv[col])))
                         for r in range(len(WQ))]
                    scores, values = [], []
                    for j in keep:
                        k, v = (keys[j], vals[j]) if j in keys else \
                            self._kv(WK, WV, WO, Zcol, pos[j])
                        scores.append(mpmath.fsum(a * b for a, b in zip(k, q)))
                        values.append(v)
                    smax = max(scores)
                    e = [mpmath.exp(s - smax) for s in scores]
                    tot = mpmath.fsum(e)
                    res.append([mpmath.fsum(e[t] * values[t][o] for t in range(len(e))) / tot
                                for o in range(len(WO))])
                contrib = [[res[c][o] for c in range(len(self.cols))] for o in range(len(WO))]
                out = contrib if out is None else [[x + y for x, y in zip(r1, r2)]
                                                   for r1, r2 in zip(out, contrib)]
            return out


def range_mp(y, a: float, b: float):
    """``Range_[a,b](y) = min(max(y, a), b)`` for an mpmath number ``y``."""
    return min(max(y, mpmath.mpf(a)), mpmath.mpf(b))
