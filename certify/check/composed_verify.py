"""The checker for two-layer certificates (theorems ``uap-two-layer``, ``seq2seq``): the error
claim alone, from the certificate only; imports no engine and no construction code.

A certificate is accepted iff:

1. Form: exactly the known keys, finite numbers, the network parses, its SHA-256 matches
   and it is in canonical form.
(Theorem ``uap-softmax``, one attention layer followed by a softmax, is checked the same
way with :mod:`certify.exact_softmax` and :mod:`certify.check.softmax_bound`; its
``structure`` is ``{"grids": [...]}``, one hint per head, shared by the logit rows.)

2. Target and domain: the target parses (:mod:`certify.targets`, or the sequence target of
   :mod:`certify.seq_targets`) and is in normal form; the domain has one interval per
   input variable; the network's input shape is the target's.
3. Structure (:mod:`certify.exact_two_layer`, exact rationals): the network has two
   attention layers with skip connections; layer-1 scores are affine in the input (a key
   may read the input only where the query does not), layer-2 keys and values constant;
   every grid hint of a head that enters an output entry as an anchor head is verified
   exactly, and a hint for a head that enters as a soft-extremum (mix) head is refused.
   Theorem ``seq2seq``: the first layer is token-affine and output token k is read at
   token k.  Output entries: one per target output, in order.
4. Coverage: per output entry, the tree is a complete bisection tree of the domain.
5. Boxes: for every leaf of every entry, the backend's bound of ``sup |N_k - f_k|``
   (:mod:`certify.check.composed_bound`) is ``<= claim.upper``.
6. Witness: the witness names an output entry, lies in the domain, and the backend's
   enclosure of ``|N_k - f_k|`` there is ``>= claim.lower``; ``lower <= upper``; mode
   ``prove``: ``upper <= epsilon``; ``measure``: ``upper <= (1 + tol) lower``, or ``upper
   <= 2^-40 S_b`` with ``S_b`` the backend's lower bound of ``S``, the largest ``|f_k|``
   over every output entry k at the domain's reference points (the measure floor,
   :func:`certify.check.box_verify.scale_lower`).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from certify.check.box_verify import (
    KEYS,
    SCHEMA,
    BoxProblem,
    Part,
    _fail,
    _gradient,
    _leaves,
    _num,
    _obj,
    parse_claim_and_network,
)
from certify.check.model import Rejected
from certify.exact_scores import StructureError, grid_structure, parse_grid_hint
from certify.exact_softmax import analyse_softmax
from certify.exact_two_layer import analyse_two_layer


def _targets(obj: dict[str, Any]):
    """``(exprs per output entry, variable count, input shape, lo, hi, target)``."""
    from certify.targets import parse_domain, parse_target

    if obj["theorem"] == "seq2seq":
        from certify.seq_targets import parse_seq_domain, parse_seq_target

        st = parse_seq_target(obj["target"])
        if st.normal != obj["target"]:
            raise _fail("target is not in normal form")
        lo, hi = parse_seq_domain(obj["domain"], st)
        return st.outputs_flat, st.variables, (st.dim, st.tokens), lo, hi, st
    target = parse_target(obj["target"])
    if target.normal != obj["target"]:
        raise _fail("target is not in normal form")
    lo, hi = parse_domain(obj["domain"], target.d)
    return [target.expr], target.d, (target.d, 1), list(lo), list(hi), target


def _token_wise(net, st) -> None:
    """Theorem seq2seq's networks use token-wise maps only: the first and last layers are
    token-affine (one weight matrix for every token; the first layer's per-token bias is the
    positional encoding) and output entry k is read at token k."""
    from certify.network import SelectColumns, TokenAffine

    layers = net.layers
    if not (layers and isinstance(layers[0], TokenAffine)):
        raise Rejected("seq2seq: the first layer must be token-affine (no sequence-wise map)")
    if not (len(layers) == 5 and isinstance(layers[3], SelectColumns)
            and tuple(layers[3].columns) == tuple(range(st.tokens))):
        raise Rejected("seq2seq: the output must read every token in order")


def verify_composed_structure(obj: dict[str, Any]) -> BoxProblem:
    """Items 1-4 and the backend-independent part of 6; InputError for malformed input."""
    _obj(obj, "certificate", KEYS)
    if obj["schema"] != SCHEMA:
        raise _fail(f"schema must be {SCHEMA!r}")
    exprs, D, shape, lo_a, hi_a, target = _targets(obj)
    dom = _obj(obj["domain"], "domain", ("lo", "hi"))
    if not (isinstance(dom["lo"], list) and isinstance(dom["hi"], list)):
        raise _fail("domain.lo and domain.hi must be lists")
    lo, hi = [float(v) for v in lo_a], [float(v) for v in hi_a]
    mode, lower, upper, tol, eps, net = parse_claim_and_network(obj)
    if net.input_shape != shape:
        raise Rejected(f"network input shape {list(net.input_shape)} does not match the "
                       f"target's {list(shape)}")
    if obj["theorem"] == "seq2seq":
        _token_wise(net, target)
    softmax = obj["theorem"] == "uap-softmax"
    try:
        outputs = analyse_softmax(net) if softmax else analyse_two_layer(net)
    except StructureError as exc:
        raise Rejected(f"network: {exc}") from None
    if softmax:
        return _softmax_problem(obj, net, outputs, exprs, target, D, lo, hi, upper, lower,
                                mode, tol, eps)
    if len(outputs) != len(exprs):
        raise Rejected(f"network has {len(outputs)} output entries; the target has "
                       f"{len(exprs)}")
    n1, n2 = len(net.layers[1].heads), len(net.layers[2].heads)
    structure = _obj(obj["structure"], "structure", ("outputs",))
    hints = structure["outputs"]
    if not isinstance(hints, list) or len(hints) != len(outputs):
        raise _fail("structure.outputs must hold one entry per output entry")
    cover = obj["cover"]
    if not isinstance(cover, list) or len(cover) != len(outputs):
        raise _fail("cover must hold one entry per output entry")
    parts = []
    for k, (out, expr) in enumerate(zip(outputs, exprs)):
        where = f"structure.outputs[{k}]"
        h = _obj(hints[k], where, ("layer1", "layer2"))
        if not (isinstance(h["layer1"], list) and len(h["layer1"]) == n1
                and isinstance(h["layer2"], list) and len(h["layer2"]) == n2):
            raise _fail(f"{where} must list one grid (or null) per head of each layer")

        def grid(hs, hint, name):
            if hint is None:
                return None
            try:
                return grid_structure(hs, parse_grid_hint(hint, name))
            except StructureError as exc:
                raise Rejected(f"{name}: {exc}") from None

        for f in out.features:
            for g in f.mix:
                if h["layer1"][g.head] is not None:
                    raise Rejected(f"{where}.layer1[{g.head}]: a grid hint for a head whose "
                                   f"scores and values both depend on the input")
        grids1 = [[grid(a, h["layer1"][i], f"{where}.layer1[{i}]")
                   for a, i in zip(f.anchor, f.anchor_ids)] for f in out.features]
        grids2 = [grid(a, h["layer2"][i], f"{where}.layer2[{i}]")
                  for a, i in zip(out.heads, out.head_ids)]
        entry = _obj(cover[k], f"cover[{k}]", ("token", "row", "tree", "bounds"))
        if entry["token"] != out.token or entry["row"] != out.row:
            raise Rejected(f"cover[{k}] does not name output entry {k}")
        leaves = _leaves(entry, f"cover[{k}]", D, lo, hi)
        parts.append(Part(f"output ({out.token}, {out.row})", None, grids1, expr,
                          _gradient(expr, D), leaves, upper, out, grids2))

    wit = _obj(obj["witness"], "witness", ("token", "row", "x", "error_lower"))
    x = wit["x"]
    if not isinstance(x, list) or len(x) != D:
        raise _fail(f"witness.x must list {D} number(s)")
    x = [_num(v, "witness.x") for v in x]
    _num(wit["error_lower"], "witness.error_lower")
    wk = [k for k, o in enumerate(outputs) if (o.token, o.row) == (wit["token"], wit["row"])]
    if not wk:
        raise Rejected("witness names no output entry")
    floor = _claim_checks(x, D, lo, hi, lower, upper, mode, tol, eps)
    wp = parts[wk[0]]
    witness_part = Part("witness", None, wp.grids, wp.expr, None, [], 0.0, wp.composed,
                        wp.grids2)
    return BoxProblem(target, lo, hi, None, [], None, parts, upper, lower, x, witness_part,
                      floor_exprs=list(exprs) if floor else None)


def _claim_checks(x, D, lo, hi, lower, upper, mode, tol, eps) -> bool:
    """The backend-independent part of item 6.  Returns True when a measure claim is not
    met by ``upper <= (1 + tol) lower`` and so needs the measure floor, which each backend
    decides (:func:`certify.check.box_verify.run_box_check`)."""
    if not all(a <= v <= b for a, v, b in zip(lo, x, hi)):
        raise Rejected("witness lies outside the domain")
    if not lower <= upper:
        raise Rejected(f"claim.lower {lower!r} > claim.upper {upper!r}")
    if mode == "prove":
        if not Fraction(upper) <= Fraction(eps):
            raise Rejected(f"claim.upper {upper!r} > epsilon {eps!r}")
        return False
    return not Fraction(upper) <= (1 + Fraction(tol)) * Fraction(lower)


def _softmax_problem(obj, net, outputs, exprs, target, D, lo, hi, upper, lower, mode, tol,
                     eps) -> BoxProblem:
    """Items 3-6 for one attention layer followed by a softmax."""
    if len(outputs) != len(exprs):
        raise Rejected(f"network has {len(outputs)} output entries; the target has "
                       f"{len(exprs)}")
    structure = _obj(obj["structure"], "structure", ("grids",))
    hints = structure["grids"]
    n_heads = len(net.layers[1].heads)
    if not isinstance(hints, list) or len(hints) != n_heads:
        raise _fail("structure.grids must hold one entry (a grid or null) per head")
    cover = obj["cover"]
    if not isinstance(cover, list) or len(cover) != len(outputs):
        raise _fail("cover must hold one entry per output entry")
    parts = []
    for k, (out, expr) in enumerate(zip(outputs, exprs)):
        grids = []
        for h, hint in enumerate(hints):
            if hint is None:
                grids.append(None)
                continue
            try:
                parsed = parse_grid_hint(hint, f"structure.grids[{h}]")
                per_row = [grid_structure(lg.heads[h], parsed) for lg in out.logits]
            except StructureError as exc:
                raise Rejected(f"structure.grids[{h}]: {exc}") from None
            grids.append(per_row[0])
        # The grid data depend on the scores only, which every logit row shares; each row
        # was verified above.
        entry = _obj(cover[k], f"cover[{k}]", ("token", "row", "tree", "bounds"))
        if entry["token"] != out.token or entry["row"] != out.row:
            raise Rejected(f"cover[{k}] does not name output entry {k}")
        leaves = _leaves(entry, f"cover[{k}]", D, lo, hi)
        parts.append(Part(f"output ({out.token}, {out.row})", None, grids, expr,
                          _gradient(expr, D), leaves, upper, out, "softmax"))
    wit = _obj(obj["witness"], "witness", ("token", "row", "x", "error_lower"))
    x = wit["x"]
    if not isinstance(x, list) or len(x) != D:
        raise _fail(f"witness.x must list {D} number(s)")
    x = [_num(v, "witness.x") for v in x]
    _num(wit["error_lower"], "witness.error_lower")
    wk = [k for k, o in enumerate(outputs) if (o.token, o.row) == (wit["token"], wit["row"])]
    if not wk:
        raise Rejected("witness names no output entry")
    floor = _claim_checks(x, D, lo, hi, lower, upper, mode, tol, eps)
    wp = parts[wk[0]]
    witness_part = Part("witness", None, wp.grids, wp.expr, None, [], 0.0, wp.composed,
                        "softmax")
    return BoxProblem(target, lo, hi, None, [], None, parts, upper, lower, x, witness_part,
                      floor_exprs=list(exprs) if floor else None)
