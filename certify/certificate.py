"""Assembling the certificate JSON (schema ``attncert-certificate/1``).

A certificate states: for the network stored in it (exact binary64 weights, exact real
arithmetic) and the stated target, ``sup_{X in domain} |N(X) - f(X)| <= upper``, with a
witness point where the error is ``>= lower``.  The cover lists, for every output entry, a
dyadic bisection tree over the enclosure ``[y_lo, y_hi]`` of its latent scalar, written in
pre-order (``1`` = split, ``0`` = leaf), with the engine's bound for every leaf in the same
order.  Identical input gives byte-identical output (no time stamps, no timings).
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from certify import __version__
from certify.engine import MAX_DEPTH, Result

SCHEMA = "attncert-certificate/1"
METHOD = {
    "engine": "numpy float64, outward rounding by nextafter; exp widened by 4 ulps",
    "enclosure": "window of near columns + far-tail bound (Lemma S) + per-weight softmax "
                 "bounds + LP duality over the simplex + mean-value form in the latent y",
    "reduction": "output k depends on X only through y_k (structural zeros of the matrices)",
}


def encode_tree(depth: np.ndarray, index: np.ndarray) -> tuple[str, np.ndarray]:
    """Pre-order bit string of the tree whose leaves are (depth, index); leaf order."""
    leaves = {(int(d), int(i)): k for k, (d, i) in enumerate(zip(depth, index))}
    bits, order, stack = [], [], [(0, 0)]
    while stack:
        d, i = stack.pop()
        k = leaves.get((d, i))
        if k is not None:
            bits.append("0")
            order.append(k)
        else:
            if d >= MAX_DEPTH:
                raise ValueError("leaves do not form a complete bisection tree")
            bits.append("1")
            stack.append((d + 1, 2 * i + 1))
            stack.append((d + 1, 2 * i))
    return "".join(bits), np.array(order, dtype=np.int64)


#: A cover entry with at least this many leaves is written packed (``tree64``/``bounds64``).
PACK_LEAVES = 1024


def pack_tree(bits: str) -> str:
    """``bits`` (a string of 0 and 1) packed most significant bit first, in base64.

    The last byte is padded with zero bits.  :func:`certify.check.schema.unpack_tree` is
    the inverse; it refuses non-zero padding and trailing bytes.
    """
    padded = bits + "0" * (-len(bits) % 8)
    raw = int(padded, 2).to_bytes(len(padded) // 8, "big") if padded else b""
    return base64.b64encode(raw).decode("ascii")


def pack_bounds(bounds: np.ndarray) -> str:
    """The float64 values of ``bounds``, little-endian IEEE 754 binary64, in base64."""
    return base64.b64encode(np.asarray(bounds, dtype="<f8").tobytes()).decode("ascii")


def cover_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cover in its stored form (docs/certificates.md, section 3).

    An entry whose ``y_lo``, ``y_hi``, tree and bounds equal those of an earlier entry is
    written ``{"token", "row", "same_as": j}`` with ``j`` the index of the first such entry
    (every token of T2 has the same cover); an entry with at least :data:`PACK_LEAVES`
    leaves is written packed.  Nothing is dropped: the checker expands both forms back.
    """
    out: list[dict[str, Any]] = []
    first: dict[tuple, int] = {}
    for j, e in enumerate(entries):
        key = (e["y_lo"], e["y_hi"], e["tree"], np.array(e["bounds"], dtype=np.float64).tobytes())
        if key in first:
            out.append({"token": e["token"], "row": e["row"], "same_as": first[key]})
            continue
        first[key] = j
        if len(e["bounds"]) >= PACK_LEAVES:
            out.append({"token": e["token"], "row": e["row"], "y_lo": e["y_lo"],
                        "y_hi": e["y_hi"], "tree64": pack_tree(e["tree"]),
                        "bounds64": pack_bounds(np.array(e["bounds"], dtype=np.float64))})
        else:
            out.append(e)
    return out


def build_certificate(theorem: str, target: dict, lo: np.ndarray, hi: np.ndarray,
                      construction: dict, parameters: dict, terms: list, net,
                      result: Result, mode: str, tol: float, epsilon: float | None
                      ) -> dict[str, Any]:
    cover = []
    # Outputs that shared one search (every token of T2) have equal leaves: encode once.
    encoded: dict[tuple[bytes, bytes, bytes], tuple[str, list[float]]] = {}
    for out in result.outputs:
        depth = np.concatenate(out.leaves_depth)
        index = np.concatenate(out.leaves_index)
        bound = np.concatenate(out.leaves_bound)
        key = (depth.tobytes(), index.tobytes(), bound.tobytes())
        if key not in encoded:
            tree, order = encode_tree(depth, index)
            encoded[key] = tree, [float(b) for b in bound[order]]
        tree, bounds = encoded[key]
        cover.append({"token": out.token, "row": out.row, "y_lo": out.Ylo, "y_hi": out.Yhi,
                      "tree": tree, "bounds": bounds})
    cover = cover_entries(cover)
    wout = result.outputs[result.witness_output]
    return {
        "schema": SCHEMA,
        "tool": {"name": "attncert", "version": __version__},
        "theorem": theorem,
        "target": target,
        "domain": {"lo": lo.T.tolist(), "hi": hi.T.tolist()},
        "construction": construction,
        "parameters": parameters,
        "terms": [list(t) for t in terms],
        "network": net.to_json_obj(),
        "network_sha256": net.sha256(),
        "claim": {"mode": mode, "lower": result.lower, "upper": result.upper, "tol": tol,
                  "epsilon": epsilon},
        "cover": cover,
        "witness": {"token": wout.token, "row": wout.row, "x": result.witness_x.T.tolist(),
                    "error_lower": result.lower},
        "method": METHOD,
    }


BOX_METHOD = {
    "engine": "numpy float64, outward rounding by nextafter; exp and elementary functions "
              "widened by a few ulps",
    "enclosure": "near anchors explicit, far anchors bounded per axis (Lemma S, factorised) "
                 "+ per-weight softmax bounds + LP duality + centred mean-value form in x",
    "cover": "bisection tree over the input box; '0' leaf, digit a: split along axis a - 1",
}


def build_box_certificate(target: dict, lo: np.ndarray, hi: np.ndarray, construction: dict,
                          parameters: dict, net, hints: list, result, mode: str, tol: float,
                          epsilon: float | None, cover: list | None = None) -> dict[str, Any]:
    """The certificate of an input-box certification (theorem ``uap``).

    ``cover`` replaces the input-box cover built from ``result.covers`` (ridge covers).
    """
    from certify.box_engine import encode_tree

    if cover is None:
        cover = []
        for c in result.covers:
            tree, bounds = encode_tree(c)
            cover.append({"token": c.token, "row": c.row, "tree": tree,
                          "bounds": [float(b) for b in bounds]})
    return {
        "schema": SCHEMA,
        "tool": {"name": "attncert", "version": __version__},
        "theorem": "uap",
        "target": target,
        "domain": {"lo": [float(v) for v in lo], "hi": [float(v) for v in hi]},
        "construction": construction,
        "parameters": parameters,
        "network": net.to_json_obj(),
        "network_sha256": net.sha256(),
        "structure": {"grids": [h.to_json_obj() if h is not None else None for h in hints]},
        "claim": {"mode": mode, "lower": result.lower, "upper": result.upper, "tol": tol,
                  "epsilon": epsilon},
        "cover": cover,
        "witness": {"token": 0, "row": 0,
                    "x": [float(v) for v in result.witness_x], "error_lower": result.lower},
        "method": BOX_METHOD,
    }


COMPOSED_METHOD = {
    "engine": "numpy float64, outward rounding by nextafter; exp and elementary functions "
              "widened by a few ulps; gather weights in Arb",
    "enclosure": "layer-1 features per box (one-layer method: near anchors, far tail, weight "
                 "boxes, LP; soft-extremum heads from their score differences and value "
                 "boxes) with their x-derivatives; layer-2 heads over the box of feature "
                 "values; chain rule for the centred mean-value form in x",
    "cover": "bisection tree over the input box per output entry; '0' leaf, digit a: split "
             "along axis a - 1",
}


def build_composed_certificate(theorem: str, target: dict, lo: np.ndarray, hi: np.ndarray,
                               construction: dict, parameters: dict, net, structure: dict,
                               result, mode: str, tol: float, epsilon: float | None
                               ) -> dict[str, Any]:
    """The certificate of a two-layer network certified over input boxes
    (docs/certificates.md, two-layer certificates)."""
    from certify.box_engine import encode_tree

    cover = []
    for c in result.covers:
        tree, bounds = encode_tree(c)
        cover.append({"token": c.token, "row": c.row, "tree": tree,
                      "bounds": [float(b) for b in bounds]})
    wc = result.covers[result.witness_output]
    return {
        "schema": SCHEMA,
        "tool": {"name": "attncert", "version": __version__},
        "theorem": theorem,
        "target": target,
        "domain": {"lo": [float(v) for v in lo], "hi": [float(v) for v in hi]},
        "construction": construction,
        "parameters": parameters,
        "network": net.to_json_obj(),
        "network_sha256": net.sha256(),
        "structure": structure,
        "claim": {"mode": mode, "lower": result.lower, "upper": result.upper, "tol": tol,
                  "epsilon": epsilon},
        "cover": cover,
        "witness": {"token": wc.token, "row": wc.row,
                    "x": [float(v) for v in result.witness_x], "error_lower": result.lower},
        "method": COMPOSED_METHOD,
    }
