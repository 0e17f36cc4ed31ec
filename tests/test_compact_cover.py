"""Compact covers: ``same_as`` entries and packed trees (``tree64``/``bounds64``).

The stored forms change the certificate's size, never what the checker verifies: every
form is expanded to the plain tree and bounds before the usual checks, a malformed packed
field is a one-line input error, and a shared cover still has to hold for the output that
points at it.
"""

from __future__ import annotations

import base64
import json
import random
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certify.certificate import PACK_LEAVES, cover_entries, pack_bounds, pack_tree
from certify.check import check_certificate
from certify.check.schema import parse_certificate, unpack_bounds, unpack_tree
from certify.check.verify import parse_tree
from certify.cli import main
from certify.errors import InputError
from certify.pipeline import certify
from certify.spec import parse_spec


def _t2(n: int = 5, H: int = 2, lo=-1.0, hi=1.0) -> dict:
    return {"theorem": "multi-head", "tokens": n,
            "target": {"kind": "truncated-linear", "a": -1.0, "b": 1.0, "w": [1.0], "t": 0.0},
            "domain": {"lo": lo, "hi": hi}, "construction": {"heads": H, "kappa": 3.0},
            "mode": "measure", "tol": 0.05}


def _t1(p: int, w=((1.0,),), t=(0.0,), tol=0.01) -> dict:
    return {"theorem": "single-head",
            "target": {"kind": "truncated-linear", "a": -1.0, "b": 1.0,
                       "w": [list(r) for r in w], "t": list(t)},
            "domain": {"lo": -1.25, "hi": 1.25}, "construction": {"p": p, "kappa": 3.0},
            "mode": "measure", "tol": tol}


@cache
def _text(kind: str) -> str:
    spec = {"t2": _t2(), "t1-large": _t1(256, tol=0.002),
            "t1-two": _t1(8, w=((1.0,), (0.5,)), t=(0.0, 0.0))}[kind]
    _, cert = certify(parse_spec(spec))
    assert cert is not None
    return json.dumps(cert)


def _cert(kind: str) -> dict:
    return json.loads(_text(kind))


def _random_tree(rng: random.Random, budget: int) -> str:
    if budget <= 1 or rng.random() < 0.35:
        return "0"
    left = rng.randint(1, budget - 1)
    return "1" + _random_tree(rng, left) + _random_tree(rng, budget - left)


# -- the encodings, exactly --------------------------------------------------------------

@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(0, 2**32), st.integers(1, 400))
def test_packed_tree_round_trip(seed, size):
    bits = _random_tree(random.Random(seed), size)
    assert unpack_tree(pack_tree(bits), "e") == bits
    assert len(parse_tree(bits)) == bits.count("0")


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.floats(min_value=0, max_value=1e300, allow_nan=False), min_size=1,
                max_size=50))
def test_packed_bounds_round_trip_bit_for_bit(values):
    back = unpack_bounds(pack_bounds(np.array(values)), "e")
    assert [v.hex() for v in back] == [float(v).hex() for v in values]


@pytest.mark.parametrize("text, message", [
    (base64.b64encode(bytes([0xFF])).decode(), "ends before"),           # splits only
    (base64.b64encode(bytes([0b01000000])).decode(), "bits after"),      # non-zero padding
    (base64.b64encode(bytes([0b00000000, 0])).decode(), "bits after"),   # a trailing byte
    ("", "empty"),
    ("AA", "valid base64"),                                              # missing padding
    ("A A=", "valid base64"),
    ("AB==", "canonical"),                                               # non-zero pad bits
    (7, "base64 string"),
])
def test_malformed_packed_tree_is_refused(text, message):
    with pytest.raises(InputError, match=message):
        unpack_tree(text, "cover[0]")


def test_malformed_packed_bounds_are_refused():
    with pytest.raises(InputError, match="whole number"):
        unpack_bounds(base64.b64encode(b"\0" * 12).decode(), "e")
    with pytest.raises(InputError, match="non-finite"):
        unpack_bounds(pack_bounds(np.array([1.0, np.nan])), "e")
    with pytest.raises(InputError, match="non-finite"):
        unpack_bounds(pack_bounds(np.array([np.inf])), "e")


def test_cover_entries_share_and_pack_only_what_is_equal():
    small = {"token": 0, "row": 0, "y_lo": -1.0, "y_hi": 1.0, "tree": "100",
             "bounds": [0.5, 0.25]}
    other = dict(small, token=1, bounds=[0.5, 0.5])
    big_tree = "1" * (PACK_LEAVES - 1) + "0" * PACK_LEAVES  # a comb: PACK_LEAVES leaves
    big = {"token": 2, "row": 0, "y_lo": -1.0, "y_hi": 1.0, "tree": big_tree,
           "bounds": [0.1] * PACK_LEAVES}
    out = cover_entries([small, dict(small, token=3), other, big, dict(big, token=4)])
    assert out[0] == small and out[2] == other
    assert out[1] == {"token": 3, "row": 0, "same_as": 0}
    assert out[4] == {"token": 4, "row": 0, "same_as": 3}
    assert set(out[3]) == {"token", "row", "y_lo", "y_hi", "tree64", "bounds64"}
    assert unpack_tree(out[3]["tree64"], "e") == big_tree


# -- certificates ---------------------------------------------------------------------------

def test_t2_tokens_share_one_stored_cover_and_check():
    cert = _cert("t2")
    assert [e.get("same_as") for e in cert["cover"]] == [None, 0, 0, 0, 0]
    ok, msg = check_certificate(cert, backend="both")
    assert ok, msg
    parsed = parse_certificate(cert)
    assert len({(e.tree, tuple(e.bounds), e.y_lo, e.y_hi) for e in parsed.cover}) == 1
    assert [e.token for e in parsed.cover] == [0, 1, 2, 3, 4]


def test_large_cover_is_packed_and_equals_its_plain_form():
    cert = _cert("t1-large")
    e = cert["cover"][0]
    assert "tree64" in e and "bounds64" in e
    plain = json.loads(json.dumps(cert))
    tree, bounds = unpack_tree(e["tree64"], "e"), unpack_bounds(e["bounds64"], "e")
    assert len(bounds) >= PACK_LEAVES and len(parse_tree(tree)) == len(bounds)
    plain["cover"][0] = {k: e[k] for k in ("token", "row", "y_lo", "y_hi")}
    plain["cover"][0].update(tree=tree, bounds=bounds)
    assert len(json.dumps(cert)) < 0.6 * len(json.dumps(plain))
    for c in (cert, plain):
        ok, msg = check_certificate(c, backend="flint")
        assert ok, msg


def _merge_sibling_leaves(tree: str, bounds: list[float]) -> tuple[str, list[float]]:
    """Every node with two leaf children (``100`` in pre-order) made one leaf."""
    out_tree, out_bounds, leaf, pos = [], [], 0, 0
    while pos < len(tree):
        if tree.startswith("100", pos):
            out_tree.append("0")
            out_bounds.append(max(bounds[leaf], bounds[leaf + 1]))
            leaf, pos = leaf + 2, pos + 3
        else:
            out_tree.append(tree[pos])
            if tree[pos] == "0":
                out_bounds.append(bounds[leaf])
                leaf += 1
            pos += 1
    return "".join(out_tree), out_bounds


def test_tampered_packed_tree_is_rejected():
    cert = _cert("t1-large")
    e = cert["cover"][0]
    tree, bounds = unpack_tree(e["tree64"], "e"), unpack_bounds(e["bounds64"], "e")
    merged, merged_bounds = _merge_sibling_leaves(tree, bounds)
    assert len(parse_tree(merged)) == len(merged_bounds) < len(bounds)
    # The tree alone changed: the bound count no longer matches.
    e["tree64"] = pack_tree(merged)
    ok, msg = check_certificate(cert, backend="flint")
    assert not ok and "leaves" in msg
    # Tree and bounds changed together: still a partition of [y_lo, y_hi].  One level
    # coarser is verified (the checker bisects a leaf it cannot bound whole, and the claim
    # is true); one leaf for all 256 anchors is beyond its six levels of splits.
    e["bounds64"] = pack_bounds(np.array(merged_bounds))
    ok, msg = check_certificate(cert, backend="flint")
    assert ok, msg
    e["tree64"], e["bounds64"] = pack_tree("0"), pack_bounds(np.array([max(bounds)]))
    ok, msg = check_certificate(cert, backend="flint")
    assert not ok and "claim.upper" in msg


def test_same_as_must_point_back():
    for j in (0, 1, 5):
        cert = _cert("t2")
        cert["cover"][0] = {"token": 0, "row": 0, "same_as": j}
        with pytest.raises(InputError, match="earlier entry"):
            parse_certificate(cert)


@pytest.mark.parametrize("mutate, message", [
    (lambda e: e.update(y_lo=0.0), "unknown field"),
    (lambda e: e.update(same_as=True), "same_as must be an integer"),
    (lambda e: e.update(same_as=-1), "same_as must be an integer"),
])
def test_malformed_same_as_is_refused(mutate, message):
    cert = _cert("t2")
    mutate(cert["cover"][1])
    with pytest.raises(InputError, match=message):
        parse_certificate(cert)


def test_mixed_forms_are_refused():
    cert = _cert("t1-large")
    cert["cover"][0]["tree"] = "0"
    with pytest.raises(InputError, match="unknown field"):
        parse_certificate(cert)
    cert = _cert("t1-large")
    del cert["cover"][0]["bounds64"]
    with pytest.raises(InputError, match="missing field"):
        parse_certificate(cert)


def test_shared_cover_must_hold_for_the_output_that_uses_it():
    """Token 1 reads y = x/2: its cover is [-0.625, 0.625] at most.  Pointing it at token
    0's cover (y over [-1.25, 1.25]) is legitimate only because that range contains its
    own; pointing token 0 at token 1's narrower cover must fail the range check."""
    cert = _cert("t1-two")
    assert all("tree" in e for e in cert["cover"])
    cert["cover"][1] = {"token": 1, "row": 0, "same_as": 0}
    ok, msg = check_certificate(cert, backend="flint")
    assert ok, msg  # a wider cover of an output's own latent is still a cover
    cert = _cert("t1-two")
    first = cert["cover"][0]
    cert["cover"][0] = dict(cert["cover"][1], token=0)
    cert["cover"][1] = {"token": 1, "row": 0, "same_as": 0}
    assert first["y_hi"] > cert["cover"][0]["y_hi"]
    ok, msg = check_certificate(cert, backend="flint")
    assert not ok and "does not contain" in msg


def test_check_command_accepts_compact_certificates(tmp_path, capfd):
    path = tmp_path / "c.json"
    path.write_text(_text("t2"))
    assert main(["check", str(path), "--backend", "flint"]) == 0
    out, _ = capfd.readouterr()
    assert "verified" in out
