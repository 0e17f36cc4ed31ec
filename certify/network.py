"""Framework-neutral description of an attention network, and its float64 evaluator.

An :class:`AttentionNet` is an ordered list of layers acting on a sequence
``X in R^{d x n}`` (tokens are columns).  Every weight is a binary64 number; the
mathematical object a certificate speaks about is the network evaluated in exact real
arithmetic on exactly these numbers.  Three evaluators share this description:

* :func:`evaluate_float` (here): plain float64 numpy, fast, no guarantee;
* :func:`certify.reference.evaluate_mp`: mpmath at a chosen precision (reference values);
* the interval engine (:mod:`certify.engine`) and the independent checker
  (:mod:`certify.check`), which enclose the exact real output rigorously.

Layers
------
``SequenceAffine``
    ``Z[i, j] = sum_{a, b} M[i, j, a, b] X[a, b] + c[i, j]``; stored sparsely as
    ``(i, j, a, b, value)`` and ``(i, j, value)`` entries.  It may append columns
    (anchor tokens) and mix tokens.
``TokenAffine``
    ``Z[:, j] = W X[:, j] + c[:, j]``: the same matrix on every token plus a per-position
    bias (a positional encoding).
``Attention``
    ``sum_h W_O^h W_V^h Z softmax_col((W_K^h Z)^T (W_Q^h Z))``; softmax runs down each
    column of the score matrix, so output column j is a convex combination of values.
    With ``residual`` the layer returns ``Z`` plus that sum (a Transformer's skip
    connection); the JSON key ``"residual": true`` is written only when set.
``RowSoftmax``
    softmax down the rows of every column: ``Z[:, j] -> softmax(Z[:, j])`` (a softmax
    applied token-wise to the attention output).
``SelectColumns``
    keeps the listed columns, in order.

JSON round-trip is exact: binary64 values are written with ``repr`` and read back
unchanged; non-finite numbers are refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FORMAT = "attncert-network/1"


class NetworkFormatError(ValueError):
    """The JSON text does not describe a valid network."""


@dataclass(frozen=True)
class SequenceAffine:
    out_shape: tuple[int, int]
    weights: np.ndarray  # (k, 5): i, j, a, b, value; indices stored as floats are exact
    bias: np.ndarray  # (k, 3): i, j, value
    kind: str = field(default="sequence-affine", init=False)

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Float64 batch evaluation; ``X`` has shape ``(N, d, n)``."""
        N = X.shape[0]
        Z = np.zeros((N, *self.out_shape))
        i, j = self.bias[:, 0].astype(int), self.bias[:, 1].astype(int)
        # add.at sums repeated entries, as dense() and the exact analyses do
        np.add.at(Z, (slice(None), i, j), self.bias[:, 2])
        if len(self.weights):
            i, j, a, b = (self.weights[:, c].astype(int) for c in range(4))
            np.add.at(Z, (slice(None), i, j), X[:, a, b] * self.weights[:, 4])
        return Z

    def dense(self, in_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Dense ``M`` of shape ``out_shape + in_shape`` and ``c`` of shape ``out_shape``."""
        M = np.zeros((*self.out_shape, *in_shape))
        c = np.zeros(self.out_shape)
        for i, j, a, b, v in self.weights:
            M[int(i), int(j), int(a), int(b)] += v
        for i, j, v in self.bias:
            c[int(i), int(j)] += v
        return M, c


@dataclass(frozen=True)
class TokenAffine:
    weight: np.ndarray  # (d_out, d_in)
    bias: np.ndarray  # (d_out, n)
    kind: str = field(default="token-affine", init=False)

    def apply(self, X: np.ndarray) -> np.ndarray:
        return np.einsum("oi,Nin->Non", self.weight, X) + self.bias


@dataclass(frozen=True)
class Head:
    W_Q: np.ndarray
    W_K: np.ndarray
    W_V: np.ndarray
    W_O: np.ndarray


@dataclass(frozen=True)
class Attention:
    heads: tuple[Head, ...]
    residual: bool = False
    kind: str = field(default="attention", init=False)

    def apply(self, Z: np.ndarray, queries: list[int] | None = None) -> np.ndarray:
        """Float64 output; only the query columns ``queries`` (all if None) are computed."""
        Zq = Z if queries is None else Z[:, :, queries]
        out = Zq.copy() if self.residual else 0.0
        for h in self.heads:
            Q = np.einsum("qi,Nim->Nqm", h.W_Q, Zq)
            K = np.einsum("qi,Nim->Nqm", h.W_K, Z)
            V = np.einsum("oi,Nim->Nom", h.W_O @ h.W_V, Z)
            S = np.einsum("Nqk,Nqm->Nkm", K, Q)  # S[:, key, query]
            S = S - S.max(axis=1, keepdims=True)
            W = np.exp(S)
            W /= W.sum(axis=1, keepdims=True)
            out = out + np.einsum("Nok,Nkm->Nom", V, W)
        return out


@dataclass(frozen=True)
class SelectColumns:
    columns: tuple[int, ...]
    kind: str = field(default="select-columns", init=False)

    def apply(self, Z: np.ndarray) -> np.ndarray:
        return Z[:, :, list(self.columns)]


@dataclass(frozen=True)
class RowSoftmax:
    kind: str = field(default="softmax", init=False)

    def apply(self, Z: np.ndarray) -> np.ndarray:
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        return E / E.sum(axis=1, keepdims=True)


Layer = SequenceAffine | TokenAffine | Attention | SelectColumns | RowSoftmax


@dataclass(frozen=True)
class AttentionNet:
    """An attention network on inputs of shape ``input_shape = (d, n)``."""

    input_shape: tuple[int, int]
    layers: tuple[Layer, ...]

    def evaluate_float(self, X: np.ndarray) -> np.ndarray:
        """Plain float64 output for a batch ``X`` of shape ``(N, d, n)`` (no guarantee)."""
        Z = np.asarray(X, dtype=float)
        layers = list(self.layers)
        for i, layer in enumerate(layers):
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if isinstance(layer, Attention) and isinstance(nxt, SelectColumns):
                # Only the selected query columns are needed: same numbers, less work.
                Z = layer.apply(Z, list(nxt.columns))
                for rest in layers[i + 2:]:
                    Z = rest.apply(Z)
                return Z
            Z = layer.apply(Z)
        return Z

    # -- serialisation -------------------------------------------------------------------
    def to_json_obj(self) -> dict[str, Any]:
        return {"format": FORMAT, "input_shape": list(self.input_shape),
                "layers": [_layer_to_obj(layer) for layer in self.layers]}

    def to_json(self) -> str:
        return canonical_json(self.to_json_obj())

    def sha256(self) -> str:
        """SHA-256 of the canonical JSON text; identical networks give identical digests."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @staticmethod
    def from_json_obj(obj: Any) -> AttentionNet:
        try:
            if obj.get("format") != FORMAT:
                raise NetworkFormatError(f"network format must be {FORMAT!r}")
            d, n = (int(v) for v in obj["input_shape"])
            layers = tuple(_layer_from_obj(o) for o in obj["layers"])
        except NetworkFormatError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise NetworkFormatError(f"malformed network: {exc}") from None
        return AttentionNet((d, n), layers)


def canonical_json(obj: Any) -> str:
    """Deterministic JSON text: sorted keys, no spaces, exact ``repr`` of binary64 values."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _matrix(obj: Any, name: str, ndim: int = 2) -> np.ndarray:
    a = np.array(obj, dtype=float)
    if a.ndim != ndim:
        raise NetworkFormatError(f"{name} must be a {ndim}-d array")
    if not np.all(np.isfinite(a)):
        raise NetworkFormatError(f"{name} holds a non-finite number")
    return a


def _layer_to_obj(layer: Layer) -> dict[str, Any]:
    if isinstance(layer, SequenceAffine):
        w = [[int(r[0]), int(r[1]), int(r[2]), int(r[3]), float(r[4])] for r in layer.weights]
        b = [[int(r[0]), int(r[1]), float(r[2])] for r in layer.bias]
        return {"kind": layer.kind, "out_shape": list(layer.out_shape), "weights": w, "bias": b}
    if isinstance(layer, TokenAffine):
        return {"kind": layer.kind, "weight": layer.weight.tolist(), "bias": layer.bias.tolist()}
    if isinstance(layer, Attention):
        obj = {"kind": layer.kind, "heads": [
            {k: getattr(h, k).tolist() for k in ("W_Q", "W_K", "W_V", "W_O")} for h in layer.heads]}
        if layer.residual:
            obj["residual"] = True
        return obj
    if isinstance(layer, RowSoftmax):
        return {"kind": layer.kind}
    if isinstance(layer, SelectColumns):
        return {"kind": layer.kind, "columns": list(layer.columns)}
    raise TypeError(f"unknown layer {layer!r}")


def _layer_from_obj(o: dict[str, Any]) -> Layer:
    kind = o.get("kind")
    if kind == "sequence-affine":
        w = np.array(o["weights"], dtype=float).reshape(-1, 5)
        b = np.array(o["bias"], dtype=float).reshape(-1, 3)
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise NetworkFormatError("sequence-affine holds a non-finite number")
        return SequenceAffine(tuple(int(v) for v in o["out_shape"]), w, b)
    if kind == "token-affine":
        return TokenAffine(_matrix(o["weight"], "weight"), _matrix(o["bias"], "bias"))
    if kind == "attention":
        heads = tuple(Head(*(_matrix(h[k], k) for k in ("W_Q", "W_K", "W_V", "W_O")))
                      for h in o["heads"])
        if not heads:
            raise NetworkFormatError("attention layer without heads")
        if "residual" in o and o["residual"] is not True:
            raise NetworkFormatError("attention.residual must be true or absent")
        residual = "residual" in o
        return Attention(heads, residual)
    if kind == "softmax":
        if set(o) != {"kind"}:
            raise NetworkFormatError("a softmax layer has no other keys")
        return RowSoftmax()
    if kind == "select-columns":
        return SelectColumns(tuple(int(c) for c in o["columns"]))
    raise NetworkFormatError(f"unknown layer kind {kind!r}")
