"""Exact structure of one attention layer followed by a softmax (trusted core).

Network shape (:func:`analyse_softmax`): an affine first layer, one attention layer, a
column selection, a token-wise affine map to *logits* ``l = W1 o + b1``, a softmax down the
logits (:class:`certify.network.RowSoftmax`) and a token-wise affine output map ``y = W2
softmax(l) + b2``.  The first four layers are a one-layer network in the sense of
:func:`certify.exact_scores.analyse`, so every logit row r is exactly ``l_r(x) = sum_h
sum_j softmax_j(s^h(x)) V^{h,r}_j + c_r`` with affine scores; the output entry o is

    ``N_o(x) = b2[o] + sum_r W2[o, r] softmax(l(x))_r``

with exact rational ``W2``, ``b2``.  Everything is computed with ``fractions.Fraction``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from certify.exact_scores import OutputScores, StructureError, _q, analyse
from certify.network import AttentionNet, RowSoftmax, TokenAffine


@dataclass(frozen=True)
class SoftmaxOutput:
    """Output entry ``(token, row)``: ``const + sum_r weights[r] softmax(logits)_r``."""

    token: int
    row: int
    logits: list[OutputScores]  # one per logit row, for this token
    weights: list[Fraction]
    const: Fraction


def analyse_softmax(net: AttentionNet) -> list[SoftmaxOutput]:
    """Exact decomposition of every output entry (tokens outer, rows inner).

    Raises
    ------
    StructureError
        The layers are not (affine, attention, select-columns, token-affine, softmax,
        token-affine), or the one-layer part fails :func:`certify.exact_scores.analyse`.
    """
    layers = net.layers
    if not (len(layers) == 6 and isinstance(layers[3], TokenAffine)
            and isinstance(layers[4], RowSoftmax) and isinstance(layers[5], TokenAffine)):
        raise StructureError("expected layers affine, attention, select-columns, "
                             "token-affine, softmax, token-affine")
    prefix = AttentionNet(net.input_shape, layers[:4])
    rows = analyse(prefix)
    R = layers[3].weight.shape[0]
    if R < 1:
        raise StructureError("the softmax needs at least one logit row")
    out_map = layers[5]
    n_cols = len(layers[2].columns)
    if out_map.weight.shape[1] != R or out_map.bias.shape != (out_map.weight.shape[0], n_cols):
        raise StructureError("output map shapes do not fit the softmax")
    result = []
    for k in range(n_cols):
        logits = [o for o in rows if o.token == k]
        if len(logits) != R:
            raise StructureError("logit rows do not fit")
        for o in range(out_map.weight.shape[0]):
            result.append(SoftmaxOutput(k, o, logits, [_q(w) for w in out_map.weight[o]],
                                        _q(out_map.bias[o, k])))
    return result
