"""Rigorous enclosures of the error of a one-layer attention network over input boxes (engine).

Setting (:mod:`certify.exact_scores`).  An output entry is ``N(x) = sum_h sum_j w^h_j(x)
V^h_j + c`` with ``w^h = softmax(s^h)``, ``s^h_j(x) = A_j + B_j . x`` affine in the input
``x in R^D`` (D <= 3), and the target ``f`` is enclosed by a :class:`TargetEnclosure`.  For
a batch of boxes ``X`` (arrays ``lo``, ``hi`` of shape (N, D)) :func:`error_bounds` returns,
per box, an upper bound of ``sup_{x in X} |N(x) - f(x)|`` and a lower bound of ``|N(c) -
f(c)|`` at the box's float centre c.  Everything is outward rounded (:mod:`certify.intervals`).

Method, per head:

1. Reference column R near the box: the grid point nearest the box centre in the head's
   latent ``u = P x + t``.  Softmax is shift invariant, so ``w_j = E_j / sum_k E_k`` with
   ``E_j = exp(s_j - s_R)``.
2. Near grid columns (a window of ``W_a`` points per axis around R): for a grid column J,
   ``s_J - s_R = sum_a beta_a (m_{J,a} - m_{R,a}) (2 u_a - m_{J,a} - m_{R,a}) + rho_J -
   rho_R`` (difference of squares in the identity of :mod:`certify.exact_scores`), a sum of
   per-axis terms that are linear in u_a: enclosed tightly, without the large ``A_j``.
   Extra (non-grid) columns: ``(A_x - A_R) + (B_x - B_R) . x`` directly.
3. Far grid columns, in aggregate (Lemma S, factorised over the axes): with per-axis
   factors ``k_a(j) = exp(beta_a ((u_a - m_{R,a})^2 - (u_a - m_{a,j})^2))`` every grid
   column has ``E_J <= exp(rho_max - rho_R) prod_a k_a(J_a)``, so the far columns (outside
   the window on at least one axis) sum to at most ``exp(rho_max - rho_R) (prod_a (N_a +
   T_a) - prod_a N_a)``, with ``N_a`` the window sum and ``T_a`` the out-of-window sum of
   ``k_a``; the difference of products is expanded into its nonnegative terms.  ``T_a`` is
   a geometric series: beyond the window's end at distance ``D > 0`` from the box, the
   j-th further point is at distance ``>= D + j dmin_a``, so ``(u - m)^2 >= D^2 + 2 j D
   dmin_a``.  Its cost per box does not depend on the number of anchors.
4. Weight boxes ``w_j in [E_lo_j / (E_lo_j + O_hi_j), E_hi_j / (E_hi_j + O_lo_j)]`` with
   ``O`` the sums over the other columns; the far columns form one pseudo-column with
   weight in ``[0, T / (T + S_lo)]`` and values in the range of all values.
5. ``sum_j w_j g_j`` over weights in their boxes summing to 1 is bounded by LP duality
   (:func:`certify.enclosure.lp_max`).
6. The error: the zeroth-order enclosure ``sum_h LP_h(V) + c - F(X)``, intersected with the
   centred form ``e(c) + sum_v de_v(X) (X_v - c_v)`` where ``de_v = sum_h Cov_{w^h}(B_v,
   V) - d_v F(X)`` encloses the partial derivative (``d_v w_j = w_j (B_{j,v} - sum_k w_k
   B_{k,v}})``), each covariance bounded by three LPs around the shifts ``B_R`` and ``V_R``.
   For a Lipschitz target whose derivative enclosure uses ``sign``/``heaviside`` hulls the
   mean-value inclusion still holds: along a segment the error is absolutely continuous
   and its derivative lies, almost everywhere, in the enclosure.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import numpy as np

from certify import intervals as iv
from certify.enclosure import lp_range
from certify.exact_scores import Grid, HeadScores, OutputScores, monotone_form

#: Far anchors are aggregated beyond the window where their kernel is below exp(-TAIL).
TAIL = 36.0
#: Elements (boxes x columns) per vectorised step; bounds memory.
BLOCK_ELEMENTS = 1 << 20

Pair = tuple[np.ndarray, np.ndarray]


class TargetEnclosure(Protocol):
    """Rigorous enclosures of the target over boxes: each returned pair contains the exact
    values, or is ``(-inf, inf)`` where the target cannot be enclosed."""

    def value(self, lo: np.ndarray, hi: np.ndarray) -> Pair: ...

    def gradient(self, lo: np.ndarray, hi: np.ndarray) -> list[Pair]: ...


def _enclose(q: Fraction) -> tuple[float, float]:
    f = float(q)
    if Fraction(f) == q:
        return f, f
    return float(iv.down(np.float64(f))), float(iv.up(np.float64(f)))


def _enclose_all(qs) -> Pair:
    pairs = [_enclose(q) for q in qs]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


@dataclass
class PreparedGrid:
    """Grid data of a group of heads with the same anchors (stacked over the heads)."""

    axes: list[np.ndarray]  # M_a, exact floats (shared)
    beta: np.ndarray  # (k,) (shared)
    P: np.ndarray  # (H, k, D)
    t: np.ndarray  # (H, k)
    shape: tuple[int, ...]
    col: np.ndarray  # key column of each flat grid index (shared)
    rho: Pair  # (H, F)
    rho_max: np.ndarray  # (H,)
    dmin: np.ndarray  # (k,)
    K: np.ndarray  # window half-widths
    W: np.ndarray  # window sizes


@dataclass
class PreparedHead:
    """A group of H heads with the same key-column structure, stacked (H may be 1)."""

    A: Pair  # (H, m)
    B: Pair  # (H, m, D)
    V: Pair  # (H, m)
    grid: PreparedGrid | None
    extra: np.ndarray  # key columns handled one by one (shared)
    Vmin: np.ndarray  # (H,)
    Vmax: np.ndarray  # (H,)
    # Every head monotone in its latent (certify.exact_scores.monotone_form): the group
    # written in the latent, and the latents u = P . x + t (H, D), (H,).
    mono: PreparedHead | None = None
    mono_P: np.ndarray | None = None
    mono_t: np.ndarray | None = None

    @property
    def n_heads(self) -> int:
        return self.A[0].shape[0]


@dataclass
class PreparedOutput:
    token: int
    row: int
    heads: list[PreparedHead]  # groups of heads
    const: tuple[float, float]


def _head_arrays(hs: HeadScores):
    m, D = len(hs.A), len(hs.B[0])
    A = _enclose_all(hs.A)
    Bpairs = [_enclose_all(hs.B[j][v] for j in range(m)) for v in range(D)]
    B = (np.stack([p[0] for p in Bpairs], 1), np.stack([p[1] for p in Bpairs], 1))
    return A, B, _enclose_all(hs.V)


def _grid_key(grid: Grid | None, m: int):
    if grid is None:
        return None
    h = grid.hint
    return (m, h.axes, h.beta, tuple(grid.extra), tuple(grid.columns[:1]), len(grid.columns))


def prepare_group(heads: list[HeadScores], grids: list[Grid | None],
                  monotone: bool = True) -> PreparedHead:
    """Float enclosures of the exact data of heads sharing one grid geometry (stacked)."""
    arrs = [_head_arrays(hs) for hs in heads]
    A = (np.stack([a[0][0] for a in arrs]), np.stack([a[0][1] for a in arrs]))
    B = (np.stack([a[1][0] for a in arrs]), np.stack([a[1][1] for a in arrs]))
    V = (np.stack([a[2][0] for a in arrs]), np.stack([a[2][1] for a in arrs]))
    D = B[0].shape[2]
    m = A[0].shape[1]
    pg = None
    extra = np.arange(m)
    grid = grids[0]
    if grid is not None:
        h = grid.hint
        beta = np.array(h.beta)
        dmin = np.array([float(iv.down(np.float64(float(d)))) for d in grid.dmin])
        kappa = iv.down(beta * dmin * dmin)
        shape = np.array(grid.shape)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            half = np.ceil(np.sqrt(TAIL / kappa))
        # A spacing that rounds to 0 (or a tiny kappa) gives the whole axis as the window.
        K = np.where(np.isfinite(half) & (half < shape), half, shape).astype(int) + 1
        W = np.minimum(2 * K + 1, np.array(grid.shape))
        rhos = [_enclose_all(g.rho) for g in grids]
        rho = (np.stack([r[0] for r in rhos]), np.stack([r[1] for r in rhos]))
        P = np.stack([np.array(g.hint.P, float).reshape(len(h.axes), D) for g in grids])
        t = np.stack([np.array(g.hint.t, float) for g in grids])
        pg = PreparedGrid([np.array(a) for a in h.axes], beta, P, t, grid.shape,
                          np.array(grid.columns), rho, np.max(rho[1], axis=1), dmin, K, W)
        extra = np.array(grid.extra, dtype=int)
    ph = PreparedHead(A, B, V, pg, extra, V[0].min(axis=1), V[1].max(axis=1))
    monos = [monotone_form(h, g) for h, g in zip(heads, grids)] if monotone else [None]
    if all(m is not None for m in monos):
        ph.mono = prepare_group([m.head for m in monos], [m.grid for m in monos], False)
        ph.mono_P = np.array([m.P for m in monos], float)
        ph.mono_t = np.array([m.t for m in monos], float)
    return ph


def mono_output(ph: PreparedHead, lo: np.ndarray, hi: np.ndarray,
                hidx: np.ndarray) -> Pair:
    """Output enclosure of a monotone group over boxes: the hull of the enclosures at the
    two ends of each latent's range (a monotone function's range lies between them)."""
    U = _affine_rows(ph.mono_P[hidx], ph.mono_t[hidx], lo, hi)
    ends = []
    for u in U:
        p = u[:, None]
        ends.append(head_output(head_boxes(ph.mono, p, p, hidx)))
    return (np.minimum(ends[0][0], ends[1][0]), np.maximum(ends[0][1], ends[1][1]))


def group_output(ph: PreparedHead, lo: np.ndarray, hi: np.ndarray, hidx: np.ndarray
                 ) -> tuple[Pair, HeadBoxes | None]:
    """Output enclosure of a group over boxes (monotone heads by their ends)."""
    if ph.mono is not None:
        return mono_output(ph, lo, hi, hidx), None
    hb = head_boxes(ph, lo, hi, hidx)
    return head_output(hb), hb


def prepare_head(hs: HeadScores, grid: Grid | None) -> PreparedHead:
    """One head as a group of one."""
    return prepare_group([hs], [grid])


def prepare_output(out: OutputScores, grids: list[Grid | None]) -> PreparedOutput:
    """Group heads whose grids share anchors, curvatures and extra columns (so that their
    boxes are evaluated together, vectorised over the heads)."""
    groups: dict = {}
    order = []
    if len(grids) != len(out.heads):
        raise ValueError("one grid (or None) per head is needed")
    for i, (hs, g) in enumerate(zip(out.heads, grids)):
        key = _grid_key(g, len(hs.A))
        key = ("single", i) if key is None else key
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(i)
    prepared = [prepare_group([out.heads[i] for i in groups[k]], [grids[i] for i in groups[k]])
                for k in order]
    return PreparedOutput(out.token, out.row, prepared, _enclose(out.const))


# -- a group of heads over a batch of (box, head) rows ----------------------------------------

def _affine_rows(P: np.ndarray, t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> Pair:
    """Enclosure of ``P[r] . x + t[r]`` over box r (P (R, D), t (R,))."""
    acc = (t.copy(), t.copy())
    for v in range(lo.shape[1]):
        c = P[:, v]
        if np.any(c != 0):
            acc = iv.add(*acc, *iv.mul(c, c, lo[:, v], hi[:, v]))
    return acc


def _lin_score(dA: Pair, dB: Pair, lo: np.ndarray, hi: np.ndarray) -> Pair:
    """Enclosure of ``dA + dB . x`` over the boxes; dA (R, C), dB (R, C, D)."""
    acc = dA
    for v in range(lo.shape[1]):
        acc = iv.add(*acc, *iv.mul(dB[0][:, :, v], dB[1][:, :, v], lo[:, v:v + 1],
                                   hi[:, v:v + 1]))
    return acc


def _grid_window(g: PreparedGrid, hidx: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Per row: window flat indices (R, C), exponents, dB shifts, the reference and far tail."""
    N = len(lo)
    k = len(g.axes)
    D = lo.shape[1]
    qs, dBs, flats, Nsum, Tsum, r_idx, windows = [], [], [], [], [], [], []
    for a in range(k):
        Ma = g.axes[a]
        n_a, W_a, K_a = len(Ma), int(g.W[a]), int(g.K[a])
        Pa = g.P[hidx, a]  # (R, D)
        U = _affine_rows(Pa, g.t[hidx, a], lo, hi)
        mid = (U[0] + U[1]) / 2
        r = np.clip(np.searchsorted(Ma, mid), 0, n_a - 1)
        left = np.clip(r - 1, 0, n_a - 1)
        r = np.where(np.abs(Ma[left] - mid) < np.abs(Ma[r] - mid), left, r)
        W_a = window_size(W_a, K_a, n_a, k, U[1] - U[0], g.dmin[a])
        s = np.clip(r - (W_a - 1) // 2, 0, n_a - W_a)
        windows.append(W_a)
        idx = s[:, None] + np.arange(W_a)[None, :]
        mj, mr = Ma[idx], Ma[r][:, None]
        dm = iv.sub(mj, mj, mr, mr)
        two_u = (2 * U[0][:, None], 2 * U[1][:, None])  # exact scaling
        sm = iv.sub(*iv.sub(*two_u, mj, mj), mr, mr)
        q = iv.mul(*iv.mul(dm[0], dm[1], sm[0], sm[1]), g.beta[a], g.beta[a])
        qs.append(q)
        # dB contribution of axis a: 2 beta_a (m_j - m_r) P_a  (R, W_a, D)
        tb = iv.mul(*dm, 2 * g.beta[a], 2 * g.beta[a])
        dBs.append(iv.mul(tb[0][:, :, None], tb[1][:, :, None], Pa[:, None, :],
                          Pa[:, None, :]))
        flats.append(idx)
        r_idx.append(r)
        Nsum.append(iv.sum_up_fast(iv.exp_up(q[1]), axis=1))
        Tsum.append(_axis_tail(g, a, U, r, s, W_a))
    # Combine the axes: C = prod W_a columns in C order.
    stride = np.cumprod([1] + list(g.shape[::-1]))[:-1][::-1]
    expo = qs[0]
    flat = flats[0] * stride[0]
    dB = dBs[0]
    for a in range(1, k):
        expo = iv.add(expo[0][:, :, None], expo[1][:, :, None],
                      qs[a][0][:, None, :], qs[a][1][:, None, :])
        expo = (expo[0].reshape(N, -1), expo[1].reshape(N, -1))
        flat = (flat[:, :, None] + flats[a][:, None, :] * stride[a]).reshape(N, -1)
        nb = dBs[a]
        dB = iv.add(dB[0][:, :, None, :], dB[1][:, :, None, :],
                    nb[0][:, None, :, :], nb[1][:, None, :, :])
        dB = (dB[0].reshape(N, -1, D), dB[1].reshape(N, -1, D))
    f_ref = sum(r_idx[a] * stride[a] for a in range(k))
    rho_ref = (g.rho[0][hidx, f_ref], g.rho[1][hidx, f_ref])
    hcol = hidx[:, None]
    drho = iv.sub(g.rho[0][hcol, flat], g.rho[1][hcol, flat], rho_ref[1][:, None],
                  rho_ref[0][:, None])
    expo = iv.add(*expo, *drho)
    # Far columns: exp(rho_max - rho_R) (prod (N_a + T_a) - prod N_a), expanded.
    far = np.zeros(N)
    for mask in itertools.product((0, 1), repeat=k):
        if not any(mask):
            continue
        term = np.ones(N)
        for a in range(k):
            term = iv.up(term * (Tsum[a] if mask[a] else Nsum[a]))
        far = iv.up(far + term)
    with np.errstate(invalid="ignore", over="ignore"):
        far = iv.up(far * iv.exp_up(iv.up(g.rho_max[hidx] - rho_ref[0])))
    far = np.where(np.isnan(far), np.inf, far)
    any_far = np.any([len(g.axes[a]) > windows[a] for a in range(k)])
    # Range of B_J - B_R over all grid points (for the far pseudo-column).
    bfar = (np.zeros((N, D)), np.zeros((N, D)))
    for a in range(k):
        Ma, mr = g.axes[a], g.axes[a][r_idx[a]]
        span = (iv.down(Ma[0] - mr), iv.up(Ma[-1] - mr))
        tb = iv.mul(*span, 2 * g.beta[a], 2 * g.beta[a])
        Pa = g.P[hidx, a]
        p = iv.mul(tb[0][:, None], tb[1][:, None], Pa, Pa)
        bfar = iv.add(*bfar, *p)
    return flat, expo, dB, g.col[f_ref], (far if any_far else None), bfar


def window_size(W: int, K: int, n: int, k: int, width, dmin: float) -> int:
    """Window (anchors per axis) for a batch: at least ``W``; wider, up to a cap, where the
    latent's range over a box spans more anchors than ``W`` leaves room for (the far-tail
    bound needs the window to reach beyond the range).  A heuristic: no bound depends on it.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        span = float(np.max(width)) / float(dmin) if len(width) else 0.0
    if not np.isfinite(span):
        return W
    need = int(math.ceil(span)) + 2 * K + 1
    cap = (8 if k == 1 else 2) * W
    return int(min(n, need)) if W < need <= cap else W


def _axis_tail(g: PreparedGrid, a: int, U: Pair, r: np.ndarray, s: np.ndarray,
               W_a: int) -> np.ndarray:
    """Upper bound of ``sum_{j outside the window} k_a(j)`` (geometric series, item 3)."""
    Ma = g.axes[a]
    n_a = len(Ma)
    N = len(r)
    beta = np.full(N, g.beta[a])
    mr = Ma[r]
    Q = np.maximum(iv.sqr(*iv.sub(*U, mr, mr))[1], 0.0)
    total = np.zeros(N)
    for side in (1, -1):
        if side == 1:
            j0 = s + W_a
            ok = j0 < n_a
            D = iv.down(Ma[np.minimum(j0, n_a - 1)] - U[1])
            count = (n_a - j0).astype(float)
        else:
            j0 = s - 1
            ok = j0 >= 0
            D = iv.down(U[0] - Ma[np.maximum(j0, 0)])
            count = s.astype(float)
        Dp = np.maximum(D, 0.0)
        with np.errstate(over="ignore", invalid="ignore"):
            bQ = iv.mul(beta, beta, Q, Q)[1]
            bD2 = iv.mul(beta, beta, *iv.sqr(Dp, Dp))[0]
            e1 = iv.exp_up(iv.up(bQ - bD2))
            qq = iv.exp_up(-iv.mul(2 * beta, 2 * beta, *iv.mul(Dp, Dp, g.dmin[a], g.dmin[a]))[0])
            geo = np.where(qq < 1, iv.up(1.0 / iv.down(1.0 - qq)), np.inf)
            t = iv.up(e1 * np.minimum(count, geo))
        t = np.where(D > 0, t, np.inf)
        total = np.where(ok, iv.up(total + t), total)
    return np.where(np.isnan(total), np.inf, total)


@dataclass
class HeadBoxes:
    """One head over a batch of boxes: weight boxes and LP items (module docstring)."""

    wlo: np.ndarray
    whi: np.ndarray
    V: Pair  # values of the items (N, C')
    dB: Pair  # B - B_R of the items (N, C', D)
    V_ref: np.ndarray  # (N,) shift for V


def head_boxes(ph: PreparedHead, lo: np.ndarray, hi: np.ndarray,
               hidx: np.ndarray | None = None) -> HeadBoxes:
    """Weight boxes of head ``hidx[r]`` of the group over box r (``lo``, ``hi``: (R, D))."""
    N, D = lo.shape
    if hidx is None:
        hidx = np.zeros(N, dtype=int)
    hcol = hidx[:, None]
    parts_E, parts_V, parts_dB = [], [], []
    far = None
    if ph.grid is not None:
        flat, expo, dBg, ref_col, far, bfar = _grid_window(ph.grid, hidx, lo, hi)
        cols = ph.grid.col[flat]
        parts_E.append(expo)
        parts_V.append((ph.V[0][hcol, cols], ph.V[1][hcol, cols]))
        parts_dB.append(dBg)
    else:
        # Reference: the column with the largest score at the box centre (a heuristic).
        c = (lo + hi) / 2
        Am = (ph.A[0][hidx] + ph.A[1][hidx]) / 2
        Bm = (ph.B[0][hidx] + ph.B[1][hidx]) / 2
        smid = Am + np.einsum("rmd,rd->rm", Bm, c)
        ref_col = np.argmax(smid, axis=1)
    if len(ph.extra):
        ex = ph.extra[None, :]
        AR = (ph.A[0][hidx, ref_col][:, None], ph.A[1][hidx, ref_col][:, None])
        BR = (ph.B[0][hidx, ref_col][:, None, :], ph.B[1][hidx, ref_col][:, None, :])
        dA = iv.sub(ph.A[0][hcol, ex], ph.A[1][hcol, ex], AR[1], AR[0])
        dBx = iv.sub(ph.B[0][hcol, ex], ph.B[1][hcol, ex], BR[1], BR[0])
        parts_E.append(_lin_score(dA, dBx, lo, hi))
        parts_V.append((ph.V[0][hcol, ex], ph.V[1][hcol, ex]))
        parts_dB.append(dBx)
    cat = lambda xs, axis=1: np.concatenate(xs, axis)  # noqa: E731
    dlo, dhi = cat([p[0] for p in parts_E]), cat([p[1] for p in parts_E])
    Elo, Ehi = iv.exp_down(dlo), iv.exp_up(dhi)
    Vlo, Vhi = cat([p[0] for p in parts_V]), cat([p[1] for p in parts_V])
    Blo, Bhi = cat([p[0] for p in parts_dB]), cat([p[1] for p in parts_dB])
    Slo = iv.sum_down_fast(Elo, axis=1)[:, None]
    Shi = iv.sum_up_fast(Ehi, axis=1)[:, None]
    if far is not None:
        Shi = iv.up(Shi + far[:, None])
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        others_hi = iv.up(Shi - Ehi)
        others_lo = np.maximum(iv.down(Slo - Elo), 0.0)
        wlo = iv.down(Elo / iv.up(Elo + others_hi))
        whi = iv.up(Ehi / iv.down(Ehi + others_lo))
    wlo = np.clip(np.where(np.isnan(wlo), 0.0, wlo), 0.0, 1.0)
    whi = np.clip(np.where(np.isnan(whi), 1.0, whi), 0.0, 1.0)
    if far is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            wf = iv.up(far / iv.down(far + Slo[:, 0]))
        wf = np.clip(np.where(np.isnan(wf), 1.0, wf), 0.0, 1.0)
        wlo = np.concatenate([wlo, np.zeros((N, 1))], 1)
        whi = np.concatenate([whi, wf[:, None]], 1)
        Vlo = np.concatenate([Vlo, ph.Vmin[hidx][:, None]], 1)
        Vhi = np.concatenate([Vhi, ph.Vmax[hidx][:, None]], 1)
        Blo = np.concatenate([Blo, bfar[0][:, None, :]], 1)
        Bhi = np.concatenate([Bhi, bfar[1][:, None, :]], 1)
    V_ref = (ph.V[0][hidx, ref_col] + ph.V[1][hidx, ref_col]) / 2
    return HeadBoxes(wlo, whi, (Vlo, Vhi), (Blo, Bhi), V_ref)


def head_output(hb: HeadBoxes) -> Pair:
    """Enclosure of the head's output over each box."""
    return lp_range(hb.wlo, hb.whi, *hb.V)


def head_covariance(hb: HeadBoxes, v: int) -> Pair:
    """Enclosure of ``Cov_w(B_v, V)`` over each box (module docstring, item 6)."""
    v0 = hb.V_ref[:, None]
    g3 = iv.sub(*hb.V, v0, v0)
    g2 = (hb.dB[0][:, :, v], hb.dB[1][:, :, v])
    g1 = iv.mul(*g2, *g3)
    S1, S2, S3 = (lp_range(hb.wlo, hb.whi, *g) for g in (g1, g2, g3))
    return iv.sub(*S1, *iv.mul(*S2, *S3))


def _sum_heads(x: Pair, N: int, H: int) -> Pair:
    """Per box, the sum over the group's heads of row enclosures (rows box-major)."""
    if H == 1:
        return x
    return (iv.sum_down_fast(x[0].reshape(N, H), axis=1),
            iv.sum_up_fast(x[1].reshape(N, H), axis=1))


def _network_at(out: PreparedOutput, lo: np.ndarray, hi: np.ndarray, grad: bool):
    N, D = lo.shape
    o = (np.full(N, out.const[0]), np.full(N, out.const[1]))
    de = [(np.zeros(N), np.zeros(N)) for _ in range(D)]
    for ph in out.heads:
        H = ph.n_heads
        rlo, rhi = (lo, hi) if H == 1 else (np.repeat(lo, H, 0), np.repeat(hi, H, 0))
        hidx = np.tile(np.arange(H), N)
        oh, hb = group_output(ph, rlo, rhi, hidx)
        o = iv.add(*o, *_sum_heads(oh, N, H))
        if grad:
            if hb is None:
                hb = head_boxes(ph, rlo, rhi, hidx)
            for v in range(D):
                de[v] = iv.add(*de[v], *_sum_heads(head_covariance(hb, v), N, H))
    return o, de


def error_bounds(out: PreparedOutput, target: TargetEnclosure, lo: np.ndarray,
                 hi: np.ndarray, threshold: float = -np.inf):
    """Per box ``[lo, hi]`` (N, D): ``(upper, lower, centre, contribution)``.

    ``upper >= sup_{x in box} |N(x) - f(x)|`` (``inf`` where nothing finite is proved);
    ``lower <= |N(c) - f(c)|`` at the float centre ``c`` (N, D);
    ``contribution[:, v]`` estimates how much of the box's uncertainty axis v causes (for
    choosing the split axis; not a bound).  The centred form is computed only for boxes
    whose zeroth-order bound exceeds ``threshold`` (the others keep that bound).
    """
    N, D = lo.shape
    c = np.clip((lo + hi) / 2, lo, hi)
    # A two-layer output (certify.composed_enclosure) brings its own evaluation.
    net_at = getattr(out, "network_at", None) or (
        lambda lo_, hi_, grad: _network_at(out, lo_, hi_, grad))
    with np.errstate(invalid="ignore", over="ignore"):
        o, _ = net_at(lo, hi, grad=False)
        e0 = iv.sub(*o, *target.value(lo, hi))
        oc, _ = net_at(c, c, grad=False)
        ec = iv.sub(*oc, *target.value(c, c))
        lo_e, hi_e = e0
        u0 = np.maximum(np.maximum(-lo_e, hi_e), 0.0)
        need = ~(u0 <= threshold)
        contrib = np.zeros((N, D))
        if np.any(need):
            sl, sh, sc = lo[need], hi[need], c[need]
            _, de = net_at(sl, sh, grad=True)
            dF = target.gradient(sl, sh)
            mv = (ec[0][need], ec[1][need])
            part = np.zeros((len(sl), D))
            for v in range(D):
                dv = iv.sub(*de[v], *dF[v])
                step = (iv.down(sl[:, v] - sc[:, v]), iv.up(sh[:, v] - sc[:, v]))
                term = iv.mul(*dv, *step)
                mv = iv.add(*mv, *term)
                part[:, v] = np.maximum(np.abs(term[0]), np.abs(term[1]))
            lo_e, hi_e = lo_e.copy(), hi_e.copy()
            lo_e[need] = np.maximum(lo_e[need], mv[0])
            hi_e[need] = np.minimum(hi_e[need], mv[1])
            contrib[need] = part
    upper = np.maximum(np.maximum(-lo_e, hi_e), 0.0)
    upper = np.where(np.isnan(upper), np.inf, upper)
    lower = np.maximum(np.maximum(ec[0], -ec[1]), 0.0)
    lower = np.where(np.isnan(lower), 0.0, lower)
    contrib = np.where(np.isfinite(contrib), contrib, np.inf)
    return upper, lower, c, contrib
