"""Figures of a certificate: the sampled error ``N - f`` and the attention weights.

:func:`make_figure` draws two panels for a certificate of any theorem:

1. **The error** ``N(x) - f(x)`` of the output entry the witness names, in float64 on a
   dense grid.

   - One input variable (``uap``, ``uap-two-layer``, ``uap-softmax``): a curve over the
     domain.
   - Two or more (``uap`` in 2-D or 3-D, ``seq2seq``): a heat map over two variables. With
     more than two variables the map is a 2-D slice through the witness; the title gives
     the values the other variables are held at.
   - ``single-head`` and ``multi-head``: output token k depends on the input only through
     its latent ``y_k = w_k . x_k + t_k`` (the checker's reduction). The curve plots the
     error against ``y_k``. Token k's coordinates move along the segment between the
     corners of its box that minimise and maximise ``y_k``, so the whole latent range is
     drawn; the other tokens stay at the witness.

2. **Attention weights** of head 0 of the first attention layer, in float64. If two or
   more query columns depend on the input, the weights are shown at the witness input
   over (query column, key column). If only one does (a single token attending to anchor
   tokens), they are shown at a row of inputs along the first panel's horizontal axis:
   this is the kernel picture of Lemma I.

Standing of each number on the figure:

- ``U = claim.upper`` is the certificate's proved bound on ``sup |N - f|`` over the whole
  domain. The label says whether it was verified here (``verify=True``, the flint
  checker) or is the certificate's claim, which ``attncert check`` verifies.
- ``L = claim.lower`` is the certified lower bound of ``|N - f|`` at the witness.
- The curve or heat map is a float64 sampling with no guarantee. Its maximum is a
  *sampled lower bound* of ``sup |N - f|``: the sup is at least as large (up to float64
  rounding in the sampled values). It is never an upper bound.
- The attention weights are float64 values, for illustration.

The figure is built with the object-oriented matplotlib API on an Agg canvas: it needs no
screen and does not touch pyplot's global state.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from certify.check.model import Rejected
from certify.errors import InputError
from certify.network import (
    Attention,
    AttentionNet,
    SelectColumns,
    SequenceAffine,
    TokenAffine,
    canonical_json,
)

SCHEMA = "attncert-certificate/1"
BOX_THEOREMS = ("uap", "uap-two-layer", "uap-softmax", "seq2seq")
LATENT_THEOREMS = ("single-head", "multi-head")
THEOREMS = BOX_THEOREMS + LATENT_THEOREMS
#: File types :func:`write_figure` writes (matplotlib picks the format from the suffix).
FORMATS = (".png", ".pdf", ".svg")

#: Float64 operations the error panel may spend, which sets the grid resolution. A large
#: network gets a coarser grid rather than minutes of sampling.
FLOP_BUDGET = 5.0e8
#: Floats of intermediate data one evaluation chunk may hold (memory stays small).
CHUNK_FLOATS = 2_000_000
#: Key columns whose weight stays below this at every plotted input are cropped away.
WEIGHT_FLOOR = 1e-3
#: Most rows of inputs in the attention panel's sweep.
SWEEP_ROWS = 160


@dataclass(frozen=True)
class Problem:
    """What a figure needs from a certificate.

    The ``D`` input variables are flat: coordinate i of token k is index ``k * dim + i``
    (the order of ``witness.x`` and of a seq2seq domain). The network reads them as
    ``X[i, k]``.
    """

    theorem: str
    net: AttentionNet
    tokens: int
    dim: int
    lo: np.ndarray  # (D,)
    hi: np.ndarray  # (D,)
    names: tuple[str, ...]
    token: int  # the plotted output entry: the witness's
    row: int
    outputs: int  # output entries of the target
    witness: np.ndarray  # (D,)
    upper: float
    lower: float
    mode: str
    epsilon: float | None
    target_text: str
    target: Callable[[np.ndarray], np.ndarray]  # float64 f at points (N, D) -> (N,)
    used: tuple[int, ...]  # variables the plotted entry's target reads (box theorems)
    latent: tuple[np.ndarray, float] | None = None  # (coefficients over D, offset)

    @property
    def variables(self) -> int:
        return len(self.lo)

    def inputs(self, P: np.ndarray) -> np.ndarray:
        """Network inputs ``(N, dim, tokens)`` for flat points ``(N, D)``."""
        P = np.asarray(P, dtype=float)
        return P.reshape(len(P), self.tokens, self.dim).transpose(0, 2, 1)

    def network(self, P: np.ndarray) -> np.ndarray:
        """Float64 ``N(x)`` of the plotted output entry at points ``(N, D)``, in chunks."""
        X = self.inputs(P)
        out = np.empty(len(X))
        step = chunk_size(self.net)
        with np.errstate(all="ignore"):
            for s in range(0, len(X), step):
                out[s:s + step] = self.net.evaluate_float(X[s:s + step])[:, self.row,
                                                                          self.token]
        return out

    def error(self, P: np.ndarray) -> np.ndarray:
        """Float64 ``N(x) - f(x)`` at points ``(N, D)``; no guarantee."""
        with np.errstate(all="ignore"):
            return self.network(P) - self.target(P)


@dataclass
class PlotResult:
    """A drawn figure and what it shows.

    ``sampled_max`` is the largest ``|N - f|`` over the ``points`` float64 samples. It is a
    lower bound of ``sup |N - f|`` up to float64 rounding, never an upper bound. ``upper``
    and ``lower`` are the certificate's ``claim.upper`` and ``claim.lower``. ``verified``
    says whether the checker verified the certificate's error claim before drawing.
    """

    figure: Any = field(repr=False)  # matplotlib.figure.Figure
    theorem: str
    token: int
    row: int
    outputs: int
    kind: str  # "curve" or "map"
    axes: tuple[str, ...]  # what the error panel's horizontal (and vertical) axis show
    points: int
    sampled_max: float
    witness_error: float  # float64 N - f at the witness
    upper: float
    lower: float
    verified: bool
    attention: str  # "witness" (query x key at the witness) or "sweep" (inputs x key)
    warnings: list[str] = field(default_factory=list)
    path: str | None = None

    def _repr_png_(self) -> bytes:
        """PNG for IPython's rich display: ``display(result)`` shows the figure in a
        notebook whatever matplotlib backend the kernel uses."""
        import io

        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=100)
        return buf.getvalue()

    def summary(self) -> dict[str, Any]:
        """The numbers of the figure as a JSON-ready dict (no figure)."""
        return {"path": self.path, "theorem": self.theorem,
                "output": {"token": self.token, "row": self.row, "of": self.outputs},
                "kind": self.kind, "axes": list(self.axes), "points": self.points,
                "sampled_max": self.sampled_max, "witness_error_float64": self.witness_error,
                "upper": self.upper, "lower": self.lower, "verified": self.verified,
                "attention": self.attention, "warnings": list(self.warnings)}


# -- reading the certificate --------------------------------------------------------------

def _need(obj: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if key not in obj:
            raise InputError(f"certificate: missing field '{key}'")


def _sha_matches(obj: dict[str, Any]) -> None:
    """Rejected unless ``network_sha256`` is the SHA-256 of the stored network: a figure of
    a network the certificate does not vouch for would be misleading."""
    try:
        text = canonical_json(obj["network"])
    except (TypeError, ValueError):
        raise InputError("certificate: network is not valid JSON data") from None
    if hashlib.sha256(text.encode()).hexdigest() != obj["network_sha256"]:
        raise Rejected("network_sha256 does not match the stored network")


def read_problem(obj: Any) -> Problem:
    """The plotting problem of a decoded certificate.

    The target, domain and network are read with the same parsers the checker uses; the
    error claim itself is not verified here (see :func:`make_figure`).

    Raises
    ------
    InputError
        ``obj`` is not a certificate, names an unknown theorem, or is malformed.
    Rejected
        The stored network's SHA-256 does not match, its input shape is not the target's,
        or the witness names no output entry or lies outside the domain.
    """
    if not isinstance(obj, dict) or obj.get("schema") != SCHEMA:
        raise InputError(f"not an attncert certificate (needs \"schema\": \"{SCHEMA}\")")
    theorem = obj.get("theorem")
    if theorem not in THEOREMS:
        raise InputError(f"certificate: unknown theorem {json.dumps(theorem)[:40]}; known: "
                         f"{', '.join(THEOREMS)}")
    _need(obj, "target", "domain", "network", "network_sha256", "claim", "witness")
    try:
        if theorem in LATENT_THEOREMS:
            return _latent_problem(obj)
        return _box_problem(obj)
    except RecursionError:
        raise InputError("certificate: nested too deeply") from None


def _latent_problem(obj: dict[str, Any]) -> Problem:
    from certify.check.schema import parse_certificate
    from certify.spec import latent_affine, truncated_linear_terms

    cert = parse_certificate(obj)  # form, target, domain, network, witness: as the checker
    _sha_matches(obj)
    spec = cert.spec
    d, n = spec.lo.shape
    if cert.net.input_shape != (d, n):
        raise Rejected(f"network input shape {list(cert.net.input_shape)} does not match "
                       f"the domain's {[d, n]}")
    w, t = latent_affine(cert.theorem, spec.target)
    k, row = cert.witness_token, cert.witness_row
    if not 0 <= k < n:
        raise Rejected("witness names no output entry")
    coef = np.zeros(n * d)
    coef[k * d:(k + 1) * d] = w[k]
    offset = float(t[k])
    terms = [(float(Fraction(num, den)), a, b)
             for num, den, a, b in truncated_linear_terms(spec.target)]

    def target(P: np.ndarray) -> np.ndarray:
        y = np.asarray(P, float) @ coef + offset
        return sum(g * np.clip(y, a, b) for g, a, b in terms)

    kind = spec.target["kind"]
    if kind == "leaky-relu":
        text = (f"max(y, 0) + {spec.target['alpha']:g} min(y, 0) "
                f"(as Range_[0,{spec.target['R']:g}] + alpha Range_[{spec.target['L']:g},0])")
    elif kind == "relu":
        text = f"max(y, 0) (as Range_[0,{spec.target['R']:g}](y))"
    else:
        text = f"Range_[{spec.target['a']:g},{spec.target['b']:g}](y)"
    names = tuple(f"x{j}_{i}" for j in range(n) for i in range(d))
    witness = cert.witness_x.T.reshape(-1)
    lo, hi = spec.lo.T.reshape(-1), spec.hi.T.reshape(-1)
    if not (np.all(lo <= witness) and np.all(witness <= hi)):
        raise Rejected("witness lies outside the domain")
    return Problem(cert.theorem, cert.net, n, d, lo, hi, names, k, row, n, witness,
                   cert.upper, cert.lower, spec.mode, spec.epsilon, text, target,
                   tuple(range(k * d, (k + 1) * d)), (coef, offset))


def _box_problem(obj: dict[str, Any]) -> Problem:
    from certify.check.box_verify import parse_claim_and_network
    from certify.expression import FloatOps, evaluate, variables_used
    from certify.targets import parse_domain, parse_target

    theorem = obj["theorem"]
    try:
        if theorem == "seq2seq":
            from certify.seq_targets import parse_seq_domain, parse_seq_target, variable_names

            st = parse_seq_target(obj["target"])
            lo, hi = parse_seq_domain(obj["domain"], st)
            n, d, exprs = st.tokens, st.dim, st.exprs
            names = tuple(variable_names(n, d))
            texts = st.normal["outputs"]
        else:
            target = parse_target(obj["target"])
            lo, hi = parse_domain(obj["domain"], target.d)
            n, d, exprs = 1, target.d, ((target.expr,),)
            if target.layers is None:
                names = tuple(target.normal["variables"])
                texts = [[target.normal["expr"]]]
            else:
                names = tuple(f"x{i}" for i in range(d))
                widths = [len(b) for _, b in target.layers[:-1]]
                texts = [[f"a ReLU network (hidden widths {widths})"]]
    except InputError as exc:
        raise InputError(f"certificate: {exc}") from None
    mode, lower, upper, _tol, eps, net = parse_claim_and_network(obj)
    if net.input_shape != (d, n):
        raise Rejected(f"network input shape {list(net.input_shape)} does not match the "
                       f"target's {[d, n]}")
    wit = obj["witness"]
    if not isinstance(wit, dict):
        raise InputError("certificate: witness must be a JSON object")
    _need(wit, "token", "row", "x")
    k, row, x = wit["token"], wit["row"], wit["x"]
    for name, v in (("token", k), ("row", row)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise InputError(f"certificate: witness.{name} must be an integer")
    D = n * d
    if not (isinstance(x, list) and len(x) == D and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in x)):
        raise InputError(f"certificate: witness.x must list {D} finite number(s)")
    if not (0 <= k < len(exprs) and 0 <= row < len(exprs[0])):
        raise Rejected("witness names no output entry")
    witness = np.array(x, dtype=float)
    lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
    if not (np.all(lo <= witness) and np.all(witness <= hi)):
        raise Rejected("witness lies outside the domain")
    expr = exprs[k][row]
    ops = FloatOps()

    def f(P: np.ndarray) -> np.ndarray:
        P = np.asarray(P, float)
        with np.errstate(all="ignore"):
            value = evaluate(expr, [P[:, v] for v in range(D)], ops)
        return np.broadcast_to(np.asarray(value, dtype=float), (len(P),)).copy()

    outputs = len(exprs) * len(exprs[0])
    return Problem(theorem, net, n, d, lo, hi, names, k, row, outputs, witness, upper,
                   lower, mode, eps, texts[k][row], f, tuple(sorted(variables_used(expr))))


# -- cost of a float64 evaluation ---------------------------------------------------------

def _costs(net: AttentionNet) -> tuple[float, float]:
    """Rough float64 operations and intermediate floats per input point of
    :meth:`AttentionNet.evaluate_float` (only the selected query columns are computed
    when a column selection follows the attention layer)."""
    rows, cols = net.input_shape
    flops, mem = 0.0, float(rows * cols)
    layers = list(net.layers)
    for i, layer in enumerate(layers):
        if isinstance(layer, SequenceAffine):
            rows, cols = layer.out_shape
            flops += len(layer.weights) + len(layer.bias)
        elif isinstance(layer, TokenAffine):
            rows = layer.weight.shape[0]
            flops += layer.weight.size * cols
        elif isinstance(layer, Attention):
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            q = len(nxt.columns) if isinstance(nxt, SelectColumns) else cols
            for h in layer.heads:
                flops += cols * q * (h.W_Q.shape[0] + 3) + rows * cols * (
                    h.W_K.shape[0] + h.W_O.shape[0])
                mem = max(mem, float(cols * max(q, h.W_K.shape[0], rows)))
            rows = layer.heads[0].W_O.shape[0] if not layer.residual else rows
            cols = q
            if isinstance(nxt, SelectColumns):
                continue
        elif isinstance(layer, SelectColumns):
            cols = len(layer.columns)
        mem = max(mem, float(rows * cols))
    return max(flops, 1.0), max(mem, 1.0)


def chunk_size(net: AttentionNet) -> int:
    """Points per :meth:`AttentionNet.evaluate_float` call that keep memory small."""
    return int(min(8192, max(1, CHUNK_FLOATS // _costs(net)[1])))


def grid_points(net: AttentionNet, dims: int) -> int:
    """Grid points per axis of the error panel: fine where the network is cheap."""
    per_point = _costs(net)[0]
    if dims == 1:
        return int(min(4001, max(201, FLOP_BUDGET / per_point)))
    return int(min(121, max(41, math.sqrt(FLOP_BUDGET / per_point))))


# -- what the error panel shows -----------------------------------------------------------

@dataclass
class View:
    kind: str  # "curve" or "map"
    points: np.ndarray  # (N, D) flat sample points
    labels: tuple[str, ...]  # axis labels
    note: str  # how the points were chosen
    abscissa: np.ndarray | None = None  # curve: horizontal coordinate of every point
    witness_at: tuple[float, ...] = ()  # the witness in the panel's coordinates
    grid: tuple[np.ndarray, np.ndarray] | None = None  # map: the two axes' values
    map_axes: tuple[int, int] | None = None


def _wrap(text: str, width: int = 78) -> str:
    import textwrap
    return "\n".join(textwrap.wrap(text, width))


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _curve_view(pb: Problem, axis: int, count: int) -> View:
    """A curve over variable ``axis`` with the others at the witness."""
    xs = np.linspace(pb.lo[axis], pb.hi[axis], count)
    P = np.tile(pb.witness, (count, 1))
    P[:, axis] = xs
    others = [i for i in range(pb.variables) if i != axis]
    note = ("" if not others else "other variables at the witness: " + ", ".join(
        f"{pb.names[i]} = {_fmt(pb.witness[i])}" for i in others[:4])
        + (", ..." if len(others) > 4 else ""))
    return View("curve", P, (pb.names[axis],), note, xs, (float(pb.witness[axis]),))


def _latent_view(pb: Problem, count: int) -> View:
    """Token k's coordinates on the segment from the corner of its box that minimises
    ``y_k`` to the one that maximises it: the curve covers the latent's whole range."""
    coef, offset = pb.latent
    k, d = pb.token, pb.dim
    block = slice(k * d, (k + 1) * d)
    w = coef[block]
    if not np.any(w != 0):  # y_k is constant: nothing to sweep
        return _curve_view(pb, k * d, count)
    lo, hi, wit = pb.lo[block], pb.hi[block], pb.witness[block]
    c0 = np.where(w > 0, lo, np.where(w < 0, hi, wit))
    c1 = np.where(w > 0, hi, np.where(w < 0, lo, wit))
    s = np.linspace(0.0, 1.0, count)
    P = np.tile(pb.witness, (count, 1))
    P[:, block] = c0 + s[:, None] * (c1 - c0)
    y = P @ coef + offset
    note = (f"token {k}'s input on the segment of its box from the corner minimising "
            f"y_{k} to the corner maximising it; other tokens at the witness")
    return View("curve", P, (f"latent y_{k} = w_{k} . x_{k} + t_{k}",), note, y,
                (float(pb.witness @ coef + offset),))


def _map_axes(pb: Problem, axes: tuple[int, int] | None) -> tuple[int, int]:
    D = pb.variables
    if axes is not None:
        a, b = axes
        if not (0 <= a < D and 0 <= b < D and a != b):
            raise InputError(f"axes must name two different variables in 0..{D - 1}")
        return a, b
    order = list(pb.used) + [i for i in range(D) if i not in pb.used]
    return order[0], order[1]


def _map_view(pb: Problem, side: int, axes: tuple[int, int] | None) -> View:
    a, b = _map_axes(pb, axes)
    xa = np.linspace(pb.lo[a], pb.hi[a], side)
    xb = np.linspace(pb.lo[b], pb.hi[b], side)
    A, B = np.meshgrid(xa, xb)  # rows: b, columns: a
    P = np.tile(pb.witness, (A.size, 1))
    P[:, a], P[:, b] = A.ravel(), B.ravel()
    others = [i for i in range(pb.variables) if i not in (a, b)]
    note = ("" if not others else "slice through the witness: " + ", ".join(
        f"{pb.names[i]} = {_fmt(pb.witness[i])}" for i in others))
    return View("map", P, (pb.names[a], pb.names[b]), note,
                witness_at=(float(pb.witness[a]), float(pb.witness[b])), grid=(xa, xb),
                map_axes=(a, b))


def choose_view(pb: Problem, axes: tuple[int, int] | None = None) -> View:
    """The error panel's sample points (module docstring)."""
    if pb.latent is not None:
        return _latent_view(pb, grid_points(pb.net, 1))
    if pb.variables == 1:
        return _curve_view(pb, 0, grid_points(pb.net, 1))
    return _map_view(pb, grid_points(pb.net, 2), axes)


# -- attention weights --------------------------------------------------------------------

def _before_attention(net: AttentionNet, X: np.ndarray) -> tuple[Attention, np.ndarray]:
    """The first attention layer and its input ``Z`` (float64) for inputs ``X``."""
    Z = np.asarray(X, dtype=float)
    for layer in net.layers:
        if isinstance(layer, Attention):
            return layer, Z
        Z = layer.apply(Z)
    raise Rejected("the network has no attention layer")


def head_weights(net: AttentionNet, X: np.ndarray, queries: list[int] | None = None,
                 head: int = 0) -> np.ndarray:
    """Float64 softmax weights ``(N, keys, len(queries))`` of one head of the first
    attention layer at inputs ``X`` of shape ``(N, d, n)`` (all query columns if None).

    Computed in chunks so that a layer with many anchor tokens stays within memory.
    """
    X = np.asarray(X, dtype=float)
    layer, Z0 = _before_attention(net, X[:1])
    m = Z0.shape[2]
    qs = list(range(m)) if queries is None else list(queries)
    h = layer.heads[head]
    step = int(max(1, CHUNK_FLOATS // (m * max(len(qs), h.W_K.shape[0], Z0.shape[1]))))
    out = np.empty((len(X), m, len(qs)), dtype=np.float32 if m * len(qs) > 10**5 else float)
    with np.errstate(all="ignore"):
        for s in range(0, len(X), step):
            _, Z = _before_attention(net, X[s:s + step])
            Q = np.einsum("qi,Nim->Nqm", h.W_Q, Z[:, :, qs])
            K = np.einsum("qi,Nim->Nqm", h.W_K, Z)
            S = np.einsum("Nqk,Nqm->Nkm", K, Q)
            S -= S.max(axis=1, keepdims=True)
            W = np.exp(S)
            W /= W.sum(axis=1, keepdims=True)
            out[s:s + step] = W
    return out


def varying_columns(pb: Problem) -> list[int]:
    """Columns of the first attention layer's input that depend on the input (sampled at
    the domain's corners and the witness; used only to choose the panel's layout)."""
    P = np.stack([pb.lo, pb.hi, pb.witness, (pb.lo + pb.hi) / 2])
    _, Z = _before_attention(pb.net, pb.inputs(P))
    diff = np.any(Z != Z[:1], axis=(0, 1))
    cols = [int(j) for j in np.flatnonzero(diff)]
    return cols or list(range(Z.shape[2]))


def _key_window(W: np.ndarray) -> tuple[int, int]:
    """First and last key column (with a margin) that carries weight >= WEIGHT_FLOOR."""
    peak = W.max(axis=tuple(i for i in range(W.ndim) if i != 1)) if W.ndim == 3 else W.max(0)
    active = np.flatnonzero(peak >= WEIGHT_FLOOR)
    m = len(peak)
    if len(active) == 0:
        return 0, m - 1
    pad = max(2, (active[-1] - active[0]) // 20)
    return max(0, int(active[0]) - pad), min(m - 1, int(active[-1]) + pad)


# -- the figure ---------------------------------------------------------------------------

def make_figure(obj: dict[str, Any], *, verified: str | None = None,
                axes: tuple[int, int] | None = None) -> PlotResult:
    """Draw the two panels (module docstring) for a decoded certificate.

    Parameters
    ----------
    obj : dict
        The decoded certificate.
    verified : str, optional
        The checker backend with which the caller has verified the certificate's error
        claim, if any; it only changes the label of ``U`` ("verified" versus "claim").
    axes : (int, int), optional
        For two or more input variables: the flat indices of the heat map's horizontal
        and vertical variables (default: the first two the plotted target reads).

    Returns
    -------
    PlotResult
        The figure (a ``matplotlib.figure.Figure`` on an Agg canvas) and its numbers.

    Raises
    ------
    InputError, Rejected
        As :func:`read_problem`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pb = read_problem(obj)
    view = choose_view(pb, axes)
    err = pb.error(view.points)
    finite = np.isfinite(err)
    sampled = float(np.max(np.abs(err[finite]))) if finite.any() else math.nan
    e_w = float(pb.error(pb.witness[None])[0])

    fig = Figure(figsize=(13.0, 6.0))
    FigureCanvasAgg(fig)
    ax_err, ax_att = fig.subplots(1, 2, width_ratios=(1.15, 1.0))
    _error_panel(ax_err, fig, pb, view, err, sampled, e_w, bool(verified))
    mode = _attention_panel(ax_att, fig, pb, view)

    entry = (f"output entry (token {pb.token}, row {pb.row}), the witness's, of "
             f"{pb.outputs}" if pb.outputs > 1 else "")
    head = f"{pb.theorem}: N - f for f = {pb.target_text}"
    fig.suptitle(head + (f"\n{entry}" if entry else ""), fontsize=11)
    if verified:
        u_word, l_word = (f"certified (verified here, checker backend {verified})",
                          "certified (verified here)")
    else:
        u_word, l_word = ("claimed by the certificate (not verified here; `attncert check`)",
                          "claimed by the certificate")
    claim = f"mode {pb.mode}" + (f", epsilon {_fmt(pb.epsilon)}" if pb.epsilon else "")
    where = ("the plotted slice" if view.kind == "map" and pb.variables > 2 else
             "the plotted segment" if pb.latent is not None else "the plotted grid")
    lines = [
        f"{u_word}: sup |N - f| <= U = {_fmt(pb.upper)} over the whole domain ({claim})",
        f"{l_word}: |N - f| >= L = {_fmt(pb.lower)} at the witness x* "
        f"(float64 there: N - f = {e_w:.4g})",
        f"sampled: max |N - f| = {_fmt(sampled)} over {len(view.points):,} float64 points of "
        f"{where}; a sampled lower bound of the sup (up to float64 rounding), not certified",
    ]
    warnings = inconsistencies(pb, sampled)
    fig.text(0.01, 0.005, "\n".join(lines), fontsize=8.5, va="bottom", ha="left",
             family="monospace")
    if warnings:
        fig.text(0.99, 0.995, _wrap("WARNING: " + "; ".join(warnings), 60), fontsize=9,
                 va="top", ha="right", color="tab:red", weight="bold")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.2, top=0.8 if entry else 0.84,
                        wspace=0.25)
    return PlotResult(fig, pb.theorem, pb.token, pb.row, pb.outputs, view.kind, view.labels,
                      len(view.points), sampled, e_w, pb.upper, pb.lower, bool(verified),
                      mode, warnings)


def inconsistencies(pb: Problem, sampled: float) -> list[str]:
    """Statements of the certificate that its own float64 samples contradict.

    A sampled error above ``claim.upper`` (beyond a slack meant to absorb float64
    rounding in the samples) points to a false claim; float64 samples prove nothing
    either way, so the message defers to the checker. ``lower > upper`` is false
    outright. An empty list proves nothing: only the checker verifies a certificate.
    """
    out = []
    if math.isfinite(sampled) and sampled > pb.upper * (1 + 1e-6) + 1e-12:
        out.append(f"the sampled error {sampled:.6g} exceeds claim.upper {pb.upper:.6g} "
                   f"(float64 samples, not a proof; `attncert check` decides)")
    if pb.lower > pb.upper:
        out.append(f"claim.lower {pb.lower:.6g} > claim.upper {pb.upper:.6g}")
    return out


def _error_panel(ax, fig, pb: Problem, view: View, err: np.ndarray, sampled: float,
                 e_w: float, verified: bool) -> None:
    if view.kind == "curve":
        t = view.abscissa
        ax.fill_between(t, -pb.upper, pb.upper, color="tab:green", alpha=0.15, lw=0,
                        label=(f"certified band ±U (U = {pb.upper:.3g})" if verified else
                               f"band ±U, U = claim.upper = {pb.upper:.3g}"))
        ax.plot(t, err, color="tab:blue", lw=1.0, label="N - f (float64 samples)")
        if math.isfinite(sampled):
            for sgn in (1, -1):
                ax.axhline(sgn * sampled, color="tab:orange", ls="--", lw=0.9,
                           label=(f"±sampled max {sampled:.3g} (lower bound of sup)"
                                  if sgn == 1 else None))
        ax.plot([view.witness_at[0]], [e_w], marker="X", color="tab:red", ms=9, ls="none",
                label=f"witness x* (|N - f| >= L = {pb.lower:.3g})")
        # Headroom above the band keeps the legend off the curve.
        top = max(pb.upper, sampled if math.isfinite(sampled) else 0.0, abs(e_w))
        if top > 0:
            ax.set_ylim(-1.15 * top, 2.0 * top)
        ax.set_xlabel(view.labels[0])
        ax.set_ylabel("N - f")
        ax.legend(fontsize=7.5, loc="upper right", framealpha=0.9)
        ax.grid(alpha=0.3)
    else:
        xa, xb = view.grid
        E = err.reshape(len(xb), len(xa))
        lim = sampled if math.isfinite(sampled) and sampled > 0 else 1.0
        im = ax.imshow(E, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                       extent=(xa[0], xa[-1], xb[0], xb[-1]), interpolation="nearest")
        cb = fig.colorbar(im, ax=ax)
        cb.set_label(f"N - f (float64); colour limits ±sampled max {lim:.3g}; U = "
                     f"{pb.upper:.3g}", fontsize=8)
        ax.plot([view.witness_at[0]], [view.witness_at[1]], marker="X", color="k", ms=10,
                ls="none", clip_on=False)
        ax.set_xlabel(view.labels[0])
        ax.set_ylabel(view.labels[1])
    text = "error N - f" + (f" ({view.note})" if view.note else "")
    if view.kind == "map":  # a legend would hide part of the map
        text += f"; black X: the witness x* (|N - f| >= L = {pb.lower:.3g})"
    ax.set_title(_wrap(text), fontsize=9)


def _attention_panel(ax, fig, pb: Problem, view: View) -> str:
    cols = varying_columns(pb)
    if len(cols) >= 2:
        W = head_weights(pb.net, pb.inputs(pb.witness[None]), cols)[0].T  # (queries, keys)
        k0, k1 = _key_window(W[None].transpose(0, 2, 1))
        img = W[:, k0:k1 + 1]
        im = ax.imshow(img, aspect="auto", origin="lower", cmap="viridis", vmin=0,
                       interpolation="nearest",
                       extent=(k0 - 0.5, k1 + 0.5, -0.5, len(cols) - 0.5))
        if len(cols) <= 24:
            ax.set_yticks(range(len(cols)), [str(c) for c in cols])
        ax.set_ylabel("query column (depends on the input)")
        title = "attention weights at the witness input"
        mode = "witness"
    else:
        # Along each candidate axis, keep the one whose weights occupy the fewest key
        # columns: on a tensor grid of anchors that is the axis with stride 1.
        best = None
        for rows in _sweep_points(pb, view):
            W = head_weights(pb.net, pb.inputs(rows[0]), cols)[:, :, 0]  # (inputs, keys)
            k0, k1 = _key_window(W)
            if best is None or k1 - k0 < best[2] - best[1]:
                best = (W, k0, k1, rows)
        W, k0, k1, rows = best
        lo_v, hi_v = rows[1][0], rows[1][-1]
        im = ax.imshow(W[:, k0:k1 + 1], aspect="auto", origin="lower", cmap="viridis",
                       vmin=0, interpolation="nearest",
                       extent=(k0 - 0.5, k1 + 0.5, lo_v, hi_v))
        ax.axhline(rows[2], color="tab:red", ls="--", lw=0.9, label="witness")
        ax.legend(fontsize=8, loc="upper left")
        ax.set_ylabel(f"input: {rows[3]}")
        title = (f"attention weights of query column {cols[0]} at {len(rows[0])} inputs "
                 f"along {rows[3]}")
        mode = "sweep"
    m = _before_attention(pb.net, pb.inputs(pb.witness[None]))[1].shape[2]
    crop = ("all key columns" if (k0, k1) == (0, m - 1) else
            f"key columns {k0}..{k1} of 0..{m - 1}; the others carry weight < "
            f"{WEIGHT_FLOOR:g} here")
    from matplotlib.ticker import MaxNLocator

    if k1 - k0 < 12:
        ax.set_xticks(range(k0, k1 + 1))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(_wrap(f"key column ({crop})", 70), fontsize=8)
    ax.set_title(_wrap(f"first attention layer, head 0 (float64): {title}"), fontsize=9)
    fig.colorbar(im, ax=ax).set_label("softmax weight", fontsize=8)
    return mode


def _sweep_points(pb: Problem, view: View
                  ) -> list[tuple[np.ndarray, np.ndarray, float, str]]:
    """Candidate rows of inputs for the sweep: ``(points, coordinate, witness coordinate,
    label)``, at most :data:`SWEEP_ROWS` points each, in increasing coordinate. A curve
    gives its own axis; a map gives a line through the witness along each of its axes."""
    if view.kind == "curve":
        idx = np.unique(np.linspace(0, len(view.points) - 1, SWEEP_ROWS).round().astype(int))
        t = view.abscissa[idx]
        order = np.argsort(t)
        return [(view.points[idx][order], t[order], view.witness_at[0], view.labels[0])]
    out = []
    for a in view.map_axes:
        xs = np.linspace(pb.lo[a], pb.hi[a], SWEEP_ROWS)
        P = np.tile(pb.witness, (SWEEP_ROWS, 1))
        P[:, a] = xs
        out.append((P, xs, float(pb.witness[a]), f"{pb.names[a]} (others at the witness)"))
    return out


def check_path(path: str, overwrite: bool) -> None:
    """Raise InputError unless a figure may be written to ``path``: a supported suffix, an
    existing directory, and no existing file unless ``overwrite``."""
    if os.path.isdir(path):
        raise InputError(f"{path} is a directory")
    if os.path.splitext(path)[1].lower() not in FORMATS:
        raise InputError(f"{path}: the figure file must end in {', '.join(FORMATS)}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputError(f"{os.path.dirname(path)}: no such directory")
    if os.path.exists(path) and not overwrite:
        raise InputError(f"{path} exists; pass overwrite=True (--force) to replace it")


def write_figure(result: PlotResult, path: str, dpi: int = 120) -> None:
    """Save a figure to ``path`` (format from the suffix: .png, .pdf or .svg).

    Raises
    ------
    InputError
        An unsupported suffix, or the file cannot be written (one line).
    """
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in FORMATS:
        raise InputError(f"{path}: the figure file must end in {', '.join(FORMATS)}")
    try:
        result.figure.savefig(path, dpi=dpi, format=suffix[1:])
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    result.path = path
