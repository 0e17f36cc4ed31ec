"""Conformance: is a certificate's network the one its theorem's construction builds?

A certificate makes two separate statements.  The error claim (``sup |N - f| <= upper``
for the stored network N) is verified by :mod:`certify.check` from the certificate alone,
without construction code.  Conformance, checked here, states that N is exactly (canonical
JSON equality) the network the named construction builds for the certificate's target,
domain and construction fields, with the same parameters and per-head terms.
"""

from __future__ import annotations

from typing import Any

from certify.errors import InputError


def conformance(cert_obj: Any) -> tuple[bool, str]:
    """``(True, summary)`` if the stored network is the construction's, else ``(False,
    reason)``.  Malformed certificates give ``(False, reason)``, never an exception."""
    if not isinstance(cert_obj, dict):
        return False, "certificate is not a JSON object"
    theorem = cert_obj.get("theorem")
    if theorem == "uap":
        from theorems.uap import conformance as uap_conformance
        return uap_conformance(cert_obj)
    if theorem == "uap-two-layer":
        from theorems.uap_two_layer import conformance as two_layer_conformance
        return two_layer_conformance(cert_obj)
    if theorem == "seq2seq":
        from theorems.seq2seq import conformance as seq_conformance
        return seq_conformance(cert_obj)
    if theorem == "uap-softmax":
        from theorems.uap_softmax import conformance as softmax_conformance
        return softmax_conformance(cert_obj)
    from certify.check.schema import parse_certificate
    from theorems.constructions import module_for

    try:
        cert = parse_certificate(cert_obj)
        mod = module_for(cert.theorem)
        spec = cert.spec
        built = mod.build_from_spec(spec.target, spec.lo, spec.hi, spec.construction)
    except (InputError, KeyError, TypeError, ValueError, ZeroDivisionError,
            OverflowError) as exc:
        return False, f"cannot rebuild the network ({exc})"
    if built.net.to_json() != cert.net.to_json():
        return False, "stored network differs from the network the construction builds"
    if built.parameters() != cert.parameters:
        return False, "parameters differ from the construction's"
    n_heads = len(built.net.layers[1].heads)
    terms = [list(x) for x in mod.target_terms(spec.target, n_heads)]
    if terms != [list(x) for x in cert.terms]:
        return False, "terms differ from the construction's split of the target"
    # The float construction itself is checked against the symbolic template, so a wrong
    # formula in the construction code cannot conform merely by being reproducible.
    from theorems.symbolic import check_spec_network

    ok, why = check_spec_network(theorem, cert.net, spec)
    if not ok:
        return False, f"the network is not the symbolic construction: {why}"
    return True, (f"the network is theorem {theorem}'s construction for its parameters; "
                  f"{why}")
