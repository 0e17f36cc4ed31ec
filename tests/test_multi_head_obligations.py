"""Obligations of Theorem T2 (multi-head, token-wise affine map; issue 4).

Covers: every T2 obligation of the registry except the open rate is proved symbolically or
verified by interval arithmetic (the certificate by the independent checker, both
backends); the rate T2.rate is reported open, never proved; defective T2 networks (a sign
flipped in one head's W_K, one head's key anchor moved, one head's W_O changed, a key reading
the content row, all W_O doubled) make the matching obligation fail while the unrelated ones
still hold.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from certify.network import Attention, AttentionNet, TokenAffine
from theorems import multi_head, obligations, registry, report
from theorems import multi_head_obligations as t2

OK = ("proved-symbolic", "verified-interval")
INST = t2.REGISTRY_INSTANCE
T2_OBS = t2.t2_obligations(with_certificate=False)


def _ids(obs):
    return [o.id for o in obs]


def _status(obs, oid):
    return next(o for o in obs if o.id == oid).discharge()


# ---------------------------------------------------------------------------- proved facts

@pytest.mark.parametrize("ob", T2_OBS, ids=_ids(T2_OBS))
def test_obligation_is_proved(ob):
    r = ob.discharge()
    assert r.status in OK, f"{ob.id}: {r.status}: {r.detail}"
    assert r.status == obligations.SUCCESS_STATUS[ob.kind]


def test_certificate_obligation_is_verified_by_the_checker():
    r = t2.certificate_obligation().discharge()
    assert r.status == "verified-interval", r.detail
    assert "flint" in r.detail and "pyinterval" in r.detail


def test_registry_entry_lists_real_obligations():
    entry = registry.get("multi-head")
    kinds = {o.id: o.kind for o in entry.obligations()}
    assert kinds == {"T2.construction": "construction", "T2.head-average": "construction",
                     "T2.cancellation": "construction", "T2.reduction": "reduction",
                     "T2.bound": "inequality", "T2.certificate": "instance",
                     "T2.rate": "identity", "T2.rate-staircase": "identity",
                     "T2.rate-head": "identity", "T2.rate-spacing": "identity",
                     "T2.rate-series": "identity", "T2.rate-rounding": "identity",
                     "T2.rate-bound": "inequality", "T2.conformance": "construction",
                     "T2.sym-score": "identity", "T2.sym-kappa": "identity",
                     "T2.sym-phases": "identity", "T2.sym-interleave": "identity",
                     "T2.sym-average": "identity", "T2.range-lipschitz": "identity",
                     "T2.assembly": "identity"}
    assert entry.construction is multi_head.construct


def test_check_multi_head_reports_nothing_open_and_exits_0():
    tree, obj, code = report.check_theorems("multi-head")
    assert code == 0, tree
    s = obj["summary"]
    assert s["failed"] == 0 and s["open"] == 0
    own = [n["status"] for n in obj["theorems"][0]["obligations"]]
    assert own.count("proved-symbolic") == 18 and own.count("verified-interval") == 3, own
    # T2.rate is proved; the instance nodes (T2.certificate, T2.rate-bound) remain.
    assert obj["theorems"][0]["status"] == "verified on instances"
    assert "T2.rate" in tree


def test_instance_reaches_beyond_both_ends_and_bound_is_the_proved_one():
    lo, hi = zip(*(t2.y_range(INST, k) for k in range(INST.n)), strict=True)
    assert min(lo) < INST.a and max(hi) > INST.b
    proved = multi_head.a_priori_bound(INST.build(), INST.lo, INST.hi)["bound"]
    assert float(t2.stated_bound(INST)) == proved
    # O(Delta): at least Delta (1/2 + mean |phi_h|), no 1/H factor.
    delta = (INST.b - INST.a) / (INST.n - 1)
    assert proved >= delta * (0.5 + 2 / 9)


# ------------------------------------------------------------------------------- mutations

def _with_head(built, g, **arrays):
    """A copy of ``built`` whose head ``g`` has the given arrays replaced."""
    att = built.net.layers[1]
    heads = list(att.heads)
    heads[g] = dataclasses.replace(heads[g], **arrays)
    layers = (built.net.layers[0], Attention(tuple(heads)), built.net.layers[2])
    return dataclasses.replace(built, net=AttentionNet(built.net.input_shape, layers))


def _with_bias(built, changes):
    """A copy of ``built`` whose token-affine bias entries ``(row, col) -> value`` change."""
    aff = built.net.layers[0]
    bias = aff.bias.copy()
    for (i, j), v in changes.items():
        bias[i, j] = v
    layers = (TokenAffine(aff.weight.copy(), bias),) + built.net.layers[1:]
    return dataclasses.replace(built, net=AttentionNet(built.net.input_shape, layers))


def _obs(bad):
    return t2.t2_obligations(INST, bad, with_certificate=False)


def test_mutation_sign_flip_in_one_heads_WK_fails_construction():
    built = INST.build()
    g = 1
    WK = built.net.layers[1].heads[g].W_K.copy()
    WK[0, 2 + 2 * g] = -WK[0, 2 + 2 * g]  # 2 beta K y -> -2 beta K y in head 1 only
    obs = _obs(_with_head(built, g, W_K=WK))
    r = _status(obs, "T2.construction")
    assert r.status == "failed" and "head 1: token 0 -> key" in r.detail
    assert _status(obs, "T2.cancellation").status == "failed"
    for oid in ("T2.head-average", "T2.reduction"):
        assert _status(obs, oid).status == "proved-symbolic", oid


@pytest.mark.parametrize("consistent", [False, True])
def test_mutation_one_heads_key_anchor_moved_fails_construction(consistent):
    built = INST.build()
    g, j = 2, 1
    K = float(built.net.layers[0].bias[2 + 2 * g, j]) + 0.05
    changes = {(2 + 2 * g, j): K}
    if consistent:  # the stored square moves with the anchor
        changes[(3 + 2 * g, j)] = K * K
    obs = _obs(_with_bias(built, changes))
    r = _status(obs, "T2.construction")
    assert r.status == "failed" and f"head {g}: token 0 -> key {j}" in r.detail
    assert _status(obs, "T2.cancellation").status == "failed"
    for oid in ("T2.head-average", "T2.reduction"):
        assert _status(obs, oid).status == "proved-symbolic", oid


def test_mutation_one_heads_W_O_changed_fails_values_and_average():
    built = INST.build()
    g = 0
    obs = _obs(_with_head(built, g, W_O=np.array([[0.5]])))  # 1/2 instead of fl(1/3)
    r = _status(obs, "T2.construction")
    assert r.status == "failed" and "head 0: value of token" in r.detail
    r = _status(obs, "T2.head-average")
    assert r.status == "failed" and "exceeds the tolerance" in r.detail
    for oid in ("T2.cancellation", "T2.reduction"):
        assert _status(obs, oid).status == "proved-symbolic", oid


def test_mutation_W_O_off_by_rounding_scale_is_caught():
    # fl(1/3) (1 + 2^-40) is not the intended fl(1/3): exact comparison fails, and the
    # head-average tolerance (3 u max|a|,|b| / H) is not vacuous either.
    built = INST.build()
    w = float(built.net.layers[1].heads[1].W_O[0, 0]) * (1 + 2.0**-40)
    obs = _obs(_with_head(built, 1, W_O=np.array([[w]])))
    assert _status(obs, "T2.construction").status == "failed"
    assert _status(obs, "T2.head-average").status == "failed"


def test_mutation_key_reading_the_content_row_fails_reduction():
    built = INST.build()
    g = 1
    WK = built.net.layers[1].heads[g].W_K.copy()
    WK[0, 0] = 1e-3  # head 1's keys now read y_j of their own token
    bad = _with_head(built, g, W_K=WK)
    r = t2.reduction_obligation(INST, bad).discharge()
    assert r.status == "failed" and "other than through y_" in r.detail and "head 1" in r.detail
    assert _status(_obs(bad), "T2.construction").status == "failed"
    assert t2.reduction_obligation(INST, built).discharge().status == "proved-symbolic"


def test_mutation_all_W_O_doubled_violates_the_bound():
    built = INST.build()
    att = built.net.layers[1]
    heads = tuple(dataclasses.replace(h, W_O=2 * h.W_O) for h in att.heads)
    layers = (built.net.layers[0], Attention(heads), built.net.layers[2])
    bad = dataclasses.replace(built, net=AttentionNet(built.net.input_shape, layers))
    r = t2.bound_obligation(INST, bad).discharge()
    assert r.status == "failed" and r.detail.startswith("violated")
    assert t2.bound_obligation(INST, built).discharge().status == "verified-interval"
