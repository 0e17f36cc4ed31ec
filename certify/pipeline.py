"""From a validated spec to a network, a certificate, or a counterexample."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from certify.certificate import build_certificate
from certify.engine import Result, certify_built
from certify.errors import InputError
from certify.spec import Spec, parse_spec
from theorems.constructions import module_for


def build(spec: Spec):
    """The network the spec asks for (``theorems.<module>.build_from_spec``)."""
    if spec.theorem == "uap":
        return build_uap(spec)
    if spec.theorem == "uap-two-layer":
        return build_two_layer(spec)
    if spec.theorem == "uap-softmax":
        return build_softmax(spec)
    if spec.theorem == "seq2seq":
        return build_seq2seq(spec)
    return module_for(spec.theorem).build_from_spec(spec.target, spec.lo, spec.hi,
                                                    spec.construction)


def certify(spec: Spec, progress: Callable | None = None, jobs: int | None = 1,
            scheduler: str | None = None) -> tuple[Result, dict[str, Any] | None]:
    """Run the engine; the certificate is ``None`` when the claim does not hold.

    ``jobs`` local processes (None: one per core) or a Dask ``scheduler`` address evaluate
    the boxes; the certificate does not depend on them.
    """
    if spec.theorem == "uap":
        result, cert, _ = certify_uap(spec, progress, jobs, scheduler)
        return result, cert
    if spec.theorem == "uap-two-layer":
        result, cert, _ = certify_two_layer(spec, progress, jobs, scheduler)
        return result, cert
    if spec.theorem == "uap-softmax":
        result, cert, _ = certify_softmax(spec, progress, jobs, scheduler)
        return result, cert
    if spec.theorem == "seq2seq":
        result, cert, _ = certify_seq2seq(spec, progress, jobs, scheduler)
        return result, cert
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


def _build_box_network(module: str, spec: Spec):
    """``module.resolve`` for a one-token spec whose target is checked enclosable first;
    overflow while building is a one-line input error."""
    import importlib

    from certify.targets import check_enclosable

    resolve = importlib.import_module(module).resolve
    lo, hi = spec.lo[:, 0], spec.hi[:, 0]
    check_enclosable(spec.parsed_target, lo, hi)
    try:
        return resolve(spec.parsed_target, lo, hi, spec.construction, spec.epsilon)
    except (OverflowError, ZeroDivisionError) as exc:
        raise InputError(f"cannot build the network for this domain and these resources "
                         f"({exc})") from None


def build_uap(spec: Spec):
    """The uap network for a spec, every resource resolved (:func:`theorems.uap.resolve`)."""
    return _build_box_network("theorems.uap", spec)


def certify_uap(spec: Spec, progress: Callable | None = None, jobs: int | None = 1,
                scheduler: str | None = None, built=None):
    """Build and certify a uap spec; returns ``(BoxResult, certificate or None, Built)``."""
    from certify.box_enclosure import prepare_output
    from certify.box_engine import certify_boxes
    from certify.certificate import build_box_certificate
    from certify.exact_scores import analyse, grid_structure
    from certify.targets import NumpyTarget
    from theorems.uap import normal_construction, parameters_json

    if built is None:
        built = build_uap(spec)
    lo, hi = spec.lo[:, 0], spec.hi[:, 0]
    out = analyse(built.net)[0]
    grids = [grid_structure(h, hint) if hint is not None else None
             for h, hint in zip(out.heads, built.hints)]
    prepared = [prepare_output(out, grids)]
    cover = None
    if (spec.mode == "prove" and built.construction["route"] == "relu"
            and spec.parsed_target.layers is not None):
        # The error splits into one-variable problems (certify/ridge.py).
        from certify.ridge import ridge_decomposition
        from certify.ridge_engine import certify_ridges, ridge_cover_json

        ridges, cdiff = ridge_decomposition(out, built.hints, spec.parsed_target.layers,
                                            list(lo), list(hi), built.resources["units"])
        result = certify_ridges(ridges, cdiff, prepared[0], NumpyTarget(spec.parsed_target),
                                lo, hi, spec.epsilon, progress, jobs, scheduler)
        cover = [ridge_cover_json(result)]
    else:
        result = certify_boxes(prepared, NumpyTarget(spec.parsed_target), lo, hi, spec.mode,
                               spec.tol, spec.epsilon, progress, jobs, scheduler)
    cert = None
    if result.holds:
        cert = build_box_certificate(spec.target, lo, hi,
                                     normal_construction(built, spec.construction),
                                     parameters_json(built), built.net, built.hints, result,
                                     spec.mode, spec.tol, spec.epsilon, cover)
    return result, cert, built


def build_two_layer(spec: Spec):
    """The uap-two-layer network for a spec (:func:`theorems.uap_two_layer.resolve`)."""
    return _build_box_network("theorems.uap_two_layer", spec)


def prepare_composed_outputs(net, structure: dict[str, Any]):
    """Exact analysis, verified grid hints and engine data of every output entry."""
    from certify.composed_enclosure import prepare_composed
    from certify.exact_scores import grid_structure, parse_grid_hint
    from certify.exact_two_layer import analyse_two_layer

    outs = analyse_two_layer(net)
    prepared = []
    for k, out in enumerate(outs):
        hs = structure["outputs"][k]
        h1 = [parse_grid_hint(h, "layer1") if h is not None else None for h in hs["layer1"]]
        h2 = [parse_grid_hint(h, "layer2") if h is not None else None for h in hs["layer2"]]
        grids1 = [[grid_structure(a, h1[i]) if h1[i] is not None else None
                   for a, i in zip(f.anchor, f.anchor_ids)] for f in out.features]
        grids2 = [grid_structure(a, h2[i]) if h2[i] is not None else None
                  for a, i in zip(out.heads, out.head_ids)]
        prepared.append(prepare_composed(out, grids1, grids2))
    return prepared


def certify_two_layer(spec: Spec, progress: Callable | None = None, jobs: int | None = 1,
                      scheduler: str | None = None, built=None):
    """Build and certify a uap-two-layer spec; ``(BoxResult, certificate or None, built)``."""
    from certify.box_engine import certify_boxes
    from certify.certificate import build_composed_certificate
    from certify.targets import NumpyTarget
    from theorems.uap_two_layer import parameters_json

    if built is None:
        built = build_two_layer(spec)
    lo, hi = spec.lo[:, 0], spec.hi[:, 0]
    structure = built.structure_json()
    prepared = prepare_composed_outputs(built.net, structure)
    result = certify_boxes(prepared, NumpyTarget(spec.parsed_target), lo, hi, spec.mode,
                           spec.tol, spec.epsilon, progress, jobs, scheduler)
    cert = None
    if result.holds:
        cert = build_composed_certificate(spec.theorem, spec.target, lo, hi,
                                          built.construction, parameters_json(built),
                                          built.net, structure, result, spec.mode, spec.tol,
                                          spec.epsilon)
    return result, cert, built


def build_softmax(spec: Spec):
    """The uap-softmax network for a spec (:func:`theorems.uap_softmax.resolve`)."""
    return _build_box_network("theorems.uap_softmax", spec)


def certify_softmax(spec: Spec, progress: Callable | None = None, jobs: int | None = 1,
                    scheduler: str | None = None, built=None):
    """Build and certify a uap-softmax spec; ``(BoxResult, certificate or None, built)``."""
    from certify.box_engine import certify_boxes
    from certify.certificate import build_composed_certificate
    from certify.exact_scores import grid_structure
    from certify.exact_softmax import analyse_softmax
    from certify.softmax_enclosure import prepare_softmax
    from certify.targets import NumpyTarget
    from theorems.uap_softmax import parameters_json

    if built is None:
        built = build_softmax(spec)
    lo, hi = spec.lo[:, 0], spec.hi[:, 0]
    (out,) = analyse_softmax(built.net)
    grids = [grid_structure(h, hint) if hint is not None else None
             for h, hint in zip(out.logits[0].heads, built.hints)]
    prepared = [prepare_softmax(out, grids)]
    result = certify_boxes(prepared, NumpyTarget(spec.parsed_target), lo, hi, spec.mode,
                           spec.tol, spec.epsilon, progress, jobs, scheduler)
    cert = None
    if result.holds:
        cert = build_composed_certificate(spec.theorem, spec.target, lo, hi,
                                          built.construction, parameters_json(built),
                                          built.net, built.structure_json(), result,
                                          spec.mode, spec.tol, spec.epsilon)
    return result, cert, built


def build_seq2seq(spec: Spec):
    """The seq2seq network for a spec (:func:`theorems.seq2seq.resolve`); every output
    expression is checked enclosable on the domain first."""
    from certify.targets import Target, check_enclosable
    from theorems.seq2seq import resolve

    st = spec.parsed_target
    lo, hi = spec.lo[:, 0], spec.hi[:, 0]
    for k, row in enumerate(st.exprs):
        for o, e in enumerate(row):
            try:
                check_enclosable(Target({}, st.variables, e), lo, hi)
            except InputError as exc:
                raise InputError(f"target.outputs[{k}][{o}]: {exc}") from None
    try:
        return resolve(st, list(lo), list(hi), spec.construction, spec.epsilon)
    except (OverflowError, ZeroDivisionError) as exc:
        raise InputError(f"cannot build the network for this domain and these resources "
                         f"({exc})") from None


def certify_seq2seq(spec: Spec, progress: Callable | None = None, jobs: int | None = 1,
                    scheduler: str | None = None, built=None):
    """Build and certify a seq2seq spec; ``(BoxResult, certificate or None, built)``."""
    from certify.box_engine import certify_boxes
    from certify.certificate import build_composed_certificate
    from certify.targets import NumpyTarget
    from theorems.seq2seq import parameters_json

    if built is None:
        built = build_seq2seq(spec)
    st = spec.parsed_target
    lo, hi = spec.lo[:, 0], spec.hi[:, 0]
    structure = built.structure_json()
    prepared = prepare_composed_outputs(built.net, structure)
    targets = [NumpyTarget.of(e, st.variables) for e in st.outputs_flat]
    result = certify_boxes(prepared, targets, lo, hi, spec.mode, spec.tol, spec.epsilon,
                           progress, jobs, scheduler)
    cert = None
    if result.holds:
        cert = build_composed_certificate(spec.theorem, spec.target, lo, hi,
                                          built.construction, parameters_json(built),
                                          built.net, structure, result, spec.mode, spec.tol,
                                          spec.epsilon)
        d = st.dim
        cert["domain"] = {key: [[float(v[k * d + i]) for i in range(d)]
                                for k in range(st.tokens)] for key, v in (("lo", lo),
                                                                          ("hi", hi))}
    return result, cert, built
