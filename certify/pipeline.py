"""From a validated spec to a network, a certificate, or a counterexample."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from certify.certificate import build_certificate
from certify.engine import Result, certify_built
from certify.spec import Spec, parse_spec
from theorems.constructions import module_for


def build(spec: Spec):
    """The network the spec asks for (``theorems.<module>.build_from_spec``)."""
    return module_for(spec.theorem).build_from_spec(spec.target, spec.lo, spec.hi,
                                                    spec.construction)


def certify(spec: Spec, progress: Callable | None = None, jobs: int | None = 1,
            scheduler: str | None = None) -> tuple[Result, dict[str, Any] | None]:
    """Run the engine; the certificate is ``None`` when the claim does not hold.

    ``jobs`` local processes (None: one per core) or a Dask ``scheduler`` address evaluate
    the boxes; the certificate does not depend on them.
    """
    mod = module_for(spec.theorem)
    built = build(spec)
    n_heads = len(built.net.layers[1].heads)
    terms = mod.target_terms(spec.target, n_heads)
    w, t = mod.token_affine_targets(spec.target)
    result = certify_built(built.net, terms, w, t, spec.lo, spec.hi, spec.mode, spec.tol,
                           spec.epsilon, progress, jobs, scheduler)
    if not result.holds:
        return result, None
    cert = build_certificate(spec.theorem, spec.target, spec.lo, spec.hi, spec.construction,
                             built.parameters(), terms, built.net, result, spec.mode,
                             spec.tol, spec.epsilon)
    return result, cert


def certify_spec(spec_obj: dict) -> dict[str, Any]:
    """Certificate for a decoded SPEC.json object (raises if the claim does not hold)."""
    result, cert = certify(parse_spec(spec_obj))
    if cert is None:
        raise RuntimeError(f"claim does not hold: {result.message}")
    return cert
