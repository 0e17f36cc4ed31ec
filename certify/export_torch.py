"""PyTorch export of an :class:`~certify.network.AttentionNet` (float64, no guarantee).

:func:`to_torch` turns the framework-neutral network into a ``torch.nn.Module`` whose
``forward`` maps a float64 tensor ``X`` of shape ``(N, d, n)`` (tokens are columns) to a
float64 tensor of shape ``(N, d_out, n_out)``: the same formula as
:meth:`AttentionNet.evaluate_float`, computed with PyTorch float64 kernels.

What is guaranteed, and what is not
-----------------------------------
* Every parameter and buffer holds exactly the binary64 numbers of the network (a
  :class:`SequenceAffine` is stored densely; networks whose layers do not chain, or that
  repeat a SequenceAffine entry, are refused: :func:`check_shapes`).
* ``forward`` evaluates the same formula as ``evaluate_float``, layer by layer, in float64.
  The order of the floating-point operations differs (for example the attention output is
  ``W_O (W_V Z softmax(...))`` here and ``(W_O W_V) Z softmax(...)`` in numpy, and PyTorch
  may block its sums differently), so the two outputs agree up to float64 rounding, not
  bit for bit.  The test suite checks agreement to 1e-9 in the sense of
  :func:`max_relative_difference`; that is a test result, not a bound.
* Nothing here is rigorous: a certificate speaks about the network evaluated in exact real
  arithmetic on its binary64 weights, not about this module or any float evaluation.

Layers
------
``SequenceAffine``
    ``nn.Linear(d * n, d_z * m)`` on the row-major flattened input, built from
    :meth:`SequenceAffine.dense`.  Memory is ``d_z m d n`` float64 numbers.
``TokenAffine``
    ``nn.Linear(d_in, d_out, bias=False)`` applied to every token, plus a per-position
    bias buffer of shape ``(d_out, n)``.
``Attention``
    per head ``nn.Linear`` projections ``W_Q``, ``W_K``, ``W_V`` and ``W_O`` (no biases) and
    ``torch.nn.functional.scaled_dot_product_attention(Q, K, V, scale=1.0)``: scores
    ``(W_K Z)^T (W_Q Z)`` with no ``1/sqrt(d)`` factor, softmax over the keys.  Heads may
    have different query/value sizes; they are evaluated one after another and summed in
    head order (after the input ``Z`` when ``residual`` is set).  An attention layer
    followed by ``SelectColumns`` computes only the selected query columns (the selection
    layer is then absorbed), as ``evaluate_float`` does.
``RowSoftmax``
    ``torch.softmax(Z, dim=1)``.
``SelectColumns``
    ``Z.index_select(2, columns)``.

Saving and loading
------------------
:func:`export` writes a ``torch.export`` program (``torch.export.export`` with a dynamic
batch dimension, then ``torch.export.save``).  ``torch.jit.script`` also works in torch
2.13, but ``torch.jit.script`` and ``torch.jit.load`` both emit a ``DeprecationWarning``
("Please switch to torch.compile or torch.export"), so a file meant to be loaded later
uses the supported format.  Loading needs only PyTorch, not attncert::

    import torch
    with open("net.pt", "rb") as f:              # any file name
        program = torch.export.load(f)           # an ExportedProgram
    model = program.module()                     # a callable torch.nn.Module
    Y = model(X)                                 # X: float64, shape (N, d, n); any N >= 0

``torch.export.load("net.pt2")`` (a path) works as well when the name ends in ``.pt2``;
for other names torch 2.13 logs a warning that a future version may turn into an error,
so pass an open file.  The program checks the input's shape (``d`` and ``n`` are fixed,
only ``N`` varies) and expects float64.  The file also holds a small JSON record
``attncert.json`` (input and output shapes, the network's SHA-256) that
``torch.export.load(f, extra_files={"attncert.json": ""})`` fills in.

Importing this module needs PyTorch; no other attncert module imports it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from certify.network import (
    Attention,
    AttentionNet,
    Head,
    NetworkFormatError,
    RowSoftmax,
    SelectColumns,
    SequenceAffine,
    TokenAffine,
)

DTYPE = torch.float64
#: Name of the JSON record stored beside the program by :func:`export`.
EXTRA_FILE = "attncert.json"


# -- shape checks ---------------------------------------------------------------------------

def _indices(values: np.ndarray, size: int, what: str) -> np.ndarray:
    """Integer indices in ``[0, size)``; anything else is a malformed network."""
    values = np.asarray(values, dtype=float)
    if values.size and not (np.all(values == np.floor(values)) and np.all(values >= 0)
                            and np.all(values < size)):
        raise NetworkFormatError(f"{what}: index outside 0..{size - 1} or not an integer")
    return values.astype(np.int64)


def _positive(shape: tuple[int, ...], what: str) -> None:
    if any(int(s) < 1 for s in shape):
        raise NetworkFormatError(f"{what}: zero-size dimension {tuple(shape)}")


def check_shapes(net: AttentionNet) -> list[tuple[int, int]]:
    """The shape ``(d, n)`` after each layer; raises if the layers do not chain.

    Parameters
    ----------
    net : AttentionNet

    Returns
    -------
    list of (int, int)
        ``[input_shape, shape after layer 0, shape after layer 1, ...]``.

    Raises
    ------
    NetworkFormatError
        A matrix has the wrong shape for its input, an index (SequenceAffine entry,
        selected column) is not an integer in range (negative indices, which numpy would
        wrap, are refused), a dimension is zero, or a SequenceAffine repeats an index
        ``(i, j, a, b)`` or ``(i, j)``.  Repeated entries are refused as the engine and the
        checker refuse them; for a repeated bias entry ``SequenceAffine.apply`` (hence
        ``evaluate_float``) keeps the last value while ``SequenceAffine.dense`` sums them,
        so no single module could match both.
    """
    try:
        d, n = (int(v) for v in net.input_shape)
    except (TypeError, ValueError):
        raise NetworkFormatError("input_shape must be two integers") from None
    _positive((d, n), "input_shape")
    shapes = [(d, n)]
    for idx, layer in enumerate(net.layers):
        where = f"layer {idx} ({getattr(layer, 'kind', type(layer).__name__)})"
        if isinstance(layer, SequenceAffine):
            if len(layer.out_shape) != 2:
                raise NetworkFormatError(f"{where}: out_shape must have two entries")
            dz, m = (int(v) for v in layer.out_shape)
            _positive((dz, m), where)
            w, b = np.asarray(layer.weights), np.asarray(layer.bias)
            if w.ndim != 2 or w.shape[1] != 5 or b.ndim != 2 or b.shape[1] != 3:
                raise NetworkFormatError(f"{where}: weights need 5 columns, bias 3")
            wi = np.stack([_indices(w[:, c], size, where)
                           for c, size in enumerate((dz, m, d, n))], axis=1)
            bi = np.stack([_indices(b[:, c], size, where) for c, size in enumerate((dz, m))],
                          axis=1)
            if len(np.unique(wi, axis=0)) < len(wi) or len(np.unique(bi, axis=0)) < len(bi):
                raise NetworkFormatError(f"{where}: repeated affine entry")
            d, n = dz, m
        elif isinstance(layer, TokenAffine):
            W, c = np.asarray(layer.weight), np.asarray(layer.bias)
            if W.ndim != 2 or W.shape[1] != d:
                raise NetworkFormatError(f"{where}: weight must have shape (d_out, {d}), "
                                         f"got {W.shape}")
            _positive(W.shape, where)
            if c.shape != (W.shape[0], n):
                raise NetworkFormatError(f"{where}: bias must have shape "
                                         f"{(W.shape[0], n)}, got {c.shape}")
            d = W.shape[0]
        elif isinstance(layer, Attention):
            if not layer.heads:
                raise NetworkFormatError(f"{where}: no heads")
            d_out = None
            for hi, h in enumerate(layer.heads):
                Q, K, V, O = (np.asarray(getattr(h, k)) for k in ("W_Q", "W_K", "W_V", "W_O"))
                hw = f"{where} head {hi}"
                if any(a.ndim != 2 for a in (Q, K, V, O)):
                    raise NetworkFormatError(f"{hw}: every matrix must be 2-d")
                for a in (Q, K, V, O):
                    _positive(a.shape, hw)
                if Q.shape[1] != d or K.shape[1] != d or V.shape[1] != d:
                    raise NetworkFormatError(f"{hw}: W_Q, W_K, W_V need {d} columns")
                if Q.shape[0] != K.shape[0]:
                    raise NetworkFormatError(f"{hw}: W_Q and W_K need the same row count")
                if O.shape[1] != V.shape[0]:
                    raise NetworkFormatError(f"{hw}: W_O needs {V.shape[0]} columns")
                if d_out is not None and O.shape[0] != d_out:
                    raise NetworkFormatError(f"{hw}: heads differ in output size")
                d_out = O.shape[0]
            if layer.residual and d_out != d:
                raise NetworkFormatError(f"{where}: residual needs output size {d}, "
                                         f"got {d_out}")
            d = int(d_out)
        elif isinstance(layer, SelectColumns):
            _indices(np.asarray(layer.columns, dtype=float), n, where)
            n = len(layer.columns)
        elif isinstance(layer, RowSoftmax):
            pass
        else:
            raise NetworkFormatError(f"{where}: unknown layer type {type(layer).__name__}")
        shapes.append((d, n))
    return shapes


# -- modules --------------------------------------------------------------------------------

def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=DTYPE)


def _linear(weight: np.ndarray, bias: np.ndarray | None = None) -> nn.Linear:
    """``nn.Linear`` holding exactly ``weight`` (out x in) and ``bias`` (float64)."""
    out_f, in_f = weight.shape
    lin = nn.utils.skip_init(nn.Linear, in_f, out_f, bias=bias is not None, dtype=DTYPE)
    with torch.no_grad():
        lin.weight.copy_(_tensor(weight))
        if bias is not None:
            lin.bias.copy_(_tensor(bias))
    return lin


class SequenceAffineModule(nn.Module):
    """``Z = reshape(M flat(X) + c)``: a dense ``nn.Linear`` on the flattened input."""

    def __init__(self, layer: SequenceAffine, in_shape: tuple[int, int]) -> None:
        super().__init__()
        M, c = layer.dense(in_shape)
        self.in_size = int(in_shape[0] * in_shape[1])
        self.out_rows, self.out_cols = (int(v) for v in layer.out_shape)
        self.linear = _linear(M.reshape(self.out_rows * self.out_cols, self.in_size),
                              c.reshape(-1))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        N = X.shape[0]
        Y = self.linear(X.reshape(N, self.in_size))
        return Y.reshape(N, self.out_rows, self.out_cols)


class TokenAffineModule(nn.Module):
    """``Z[:, j] = W X[:, j] + c[:, j]``: ``nn.Linear`` per token plus a bias buffer."""

    def __init__(self, layer: TokenAffine) -> None:
        super().__init__()
        self.linear = _linear(layer.weight)
        self.register_buffer("bias", _tensor(layer.bias))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.linear(X.transpose(1, 2)).transpose(1, 2) + self.bias


class HeadModule(nn.Module):
    """The four projections of one head, ``nn.Linear`` without bias."""

    def __init__(self, head: Head) -> None:
        super().__init__()
        self.W_Q = _linear(head.W_Q)
        self.W_K = _linear(head.W_K)
        self.W_V = _linear(head.W_V)
        self.W_O = _linear(head.W_O)

    def forward(self, Zq: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
        """``Zq``: (N, m, d) query tokens, ``Z``: (N, n, d) all tokens; returns (N, m, o)."""
        A = F.scaled_dot_product_attention(self.W_Q(Zq), self.W_K(Z), self.W_V(Z), scale=1.0)
        return self.W_O(A)


class AttentionModule(nn.Module):
    """Sum of heads (plus ``Z`` with ``residual``); optionally only some query columns."""

    def __init__(self, layer: Attention, queries: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.heads = nn.ModuleList(HeadModule(h) for h in layer.heads)
        self.residual = bool(layer.residual)
        self.select = queries is not None
        self.register_buffer("queries", torch.tensor(list(queries or ()), dtype=torch.long))

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        Zt = Z.transpose(1, 2)  # (N, n, d): tokens as rows, the layout torch expects
        Zq = Zt.index_select(1, self.queries) if self.select else Zt
        out = Zq if self.residual else None
        for head in self.heads:
            y = head(Zq, Zt)
            out = y if out is None else out + y
        assert out is not None
        return out.transpose(1, 2)


class RowSoftmaxModule(nn.Module):
    """Softmax down the rows of every column."""

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(Z, dim=1)


class SelectColumnsModule(nn.Module):
    """Keeps the listed columns, in order."""

    def __init__(self, layer: SelectColumns) -> None:
        super().__init__()
        self.register_buffer("columns", torch.tensor(list(layer.columns), dtype=torch.long))

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        return Z.index_select(2, self.columns)


class AttentionNetModule(nn.Module):
    """The whole network: float64 ``(N, d, n) -> (N, d_out, n_out)``.

    Attributes
    ----------
    input_shape, output_shape : tuple of int
        ``(d, n)`` and ``(d_out, n_out)``.
    layers : torch.nn.Sequential
        One module per layer of the network, except that a ``SelectColumns`` directly
        after an ``Attention`` is absorbed into the attention module.
    """

    def __init__(self, net: AttentionNet) -> None:
        super().__init__()
        shapes = check_shapes(net)
        self.input_shape = shapes[0]
        self.output_shape = shapes[-1]
        mods: list[nn.Module] = []
        layers = list(net.layers)
        i = 0
        while i < len(layers):
            layer = layers[i]
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if isinstance(layer, SequenceAffine):
                mods.append(SequenceAffineModule(layer, shapes[i]))
            elif isinstance(layer, TokenAffine):
                mods.append(TokenAffineModule(layer))
            elif isinstance(layer, Attention):
                if isinstance(nxt, SelectColumns) and nxt.columns:
                    mods.append(AttentionModule(layer, tuple(nxt.columns)))
                    i += 1
                else:
                    mods.append(AttentionModule(layer))
            elif isinstance(layer, RowSoftmax):
                mods.append(RowSoftmaxModule())
            else:
                mods.append(SelectColumnsModule(layer))
            i += 1
        self.layers = nn.Sequential(*mods)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if X.dim() != 3 or (X.shape[1], X.shape[2]) != self.input_shape:
            raise ValueError(f"expected input of shape (N, {self.input_shape[0]}, "
                             f"{self.input_shape[1]}), got {tuple(X.shape)}")
        if X.dtype != DTYPE:
            raise TypeError(f"expected a float64 tensor, got {X.dtype}")
        return self.layers(X)


def to_torch(net: AttentionNet) -> AttentionNetModule:
    """The network as a float64 ``torch.nn.Module`` (module docstring), in eval mode.

    Parameters
    ----------
    net : AttentionNet

    Returns
    -------
    AttentionNetModule
        ``forward(X)`` takes a float64 tensor of shape ``(N, d, n)`` and returns a float64
        tensor of shape ``(N, d_out, n_out)``: the formula of ``net.evaluate_float`` in
        float64, equal to it up to rounding (no bound on the difference is claimed).

    Raises
    ------
    NetworkFormatError
        The layers do not chain (see :func:`check_shapes`).
    """
    return AttentionNetModule(net).eval()


def export(net: AttentionNet, path: str | os.PathLike[str]) -> torch.export.ExportedProgram:
    """Write ``net`` to ``path`` as a ``torch.export`` program with a dynamic batch size.

    Parameters
    ----------
    net : AttentionNet
    path : str or path-like
        The file to write (replaced if it exists).  Load it with
        ``torch.export.load(open(path, "rb")).module()`` (module docstring); attncert is
        not needed for that.

    Returns
    -------
    torch.export.ExportedProgram
        The program that was saved.

    Raises
    ------
    NetworkFormatError
        The layers do not chain.
    OSError
        The file cannot be written.
    """
    module = to_torch(net)
    d, n = module.input_shape
    example = torch.zeros((2, d, n), dtype=DTYPE)
    batch = torch.export.Dim("N", min=0)
    program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    record = {"format": "attncert-torch-export/1", "input_shape": [d, n],
              "output_shape": list(module.output_shape), "network_sha256": net.sha256(),
              "dtype": "float64"}
    # An open file, not a path: torch 2.13 warns about paths not ending in ".pt2".
    with open(path, "wb") as fh:
        torch.export.save(program, fh, extra_files={EXTRA_FILE: json.dumps(record)})
    return program


def load(path: str | os.PathLike[str]) -> nn.Module:
    """The saved program as a module: what a user without attncert would write."""
    with open(path, "rb") as fh:
        return torch.export.load(fh).module()


def evaluate(module: Any, X: np.ndarray) -> np.ndarray:
    """Run a module (or a loaded program's module) on a numpy batch; float64 numpy out."""
    with torch.no_grad():
        return module(torch.tensor(np.asarray(X, dtype=np.float64), dtype=DTYPE)).numpy()


def max_relative_difference(reference: np.ndarray, other: np.ndarray) -> float:
    """``max_i |reference_i - other_i| / max(1, |reference_i|)`` over all entries.

    A relative difference for entries of magnitude above 1 and an absolute one below;
    0.0 for empty arrays; NaN if any entry is NaN.  Raises ValueError if shapes differ.
    """
    a, b = np.asarray(reference, dtype=float), np.asarray(other, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    with np.errstate(invalid="ignore"):
        r = np.abs(a - b) / np.maximum(1.0, np.abs(a))
    if np.any(np.isnan(r)):
        return float("nan")
    return float(np.max(r))
