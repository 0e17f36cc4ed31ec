"""A small Python API for notebooks and scripts: build, certify, check, evaluate, plot.

Import it as ``from certify import api``::

    from certify import api

    result, cert = api.certify("examples/uap_sin.json")   # the engine; cert is a dict
    ok, message = api.check(cert)                         # the independent checker
    api.plot(cert, "sin.png")                             # sampled error + attention

Every function here is a thin layer over the code the ``attncert`` command runs
(:mod:`certify.pipeline`, :mod:`certify.check`, :mod:`theorems.conformance`,
:mod:`certify.plot`). The same spec gives the same network and the same certificate as
``attncert certify``.

What is guaranteed and what is not:

- :func:`check` is the only function whose ``True`` means *proved*. It runs the
  independent checker (Arb and/or crlibm interval arithmetic) on the certificate and, by
  default, conformance. ``True`` means ``sup over the domain of |N - f| <= claim.upper``
  for the stored network in exact real arithmetic, ``|N - f| >= claim.lower`` at the
  witness, and the stored network is the construction's.
- :func:`certify` runs the engine (outward-rounded interval arithmetic). Its certificate
  is *meant* to pass :func:`check`, but only :func:`check` verifies it.
- :func:`evaluate` and :func:`sample_error` are plain float64 with no error bound. A
  maximum of sampled errors is a lower estimate of the sup error, never an upper bound.
- :func:`plot` draws float64 samples. Its figure labels ``claim.upper`` as verified only
  if ``verify=True`` made the checker accept the certificate first.

Errors: bad input (an unreadable or malformed file, an invalid spec or certificate, a wrong
shape) raises :class:`certify.errors.InputError` with a one-line message. A certificate
that is well formed but false raises :class:`certify.check.model.Rejected` where a
function needs a valid certificate (:func:`plot` with ``verify=True``); :func:`check`
returns ``(False, reason)`` instead.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from certify.check.model import Rejected
from certify.errors import InputError
from certify.network import FORMAT as NETWORK_FORMAT
from certify.network import AttentionNet, NetworkFormatError
from certify.spec import Spec, load_json_file, parse_spec

__all__ = ["load_json", "load_spec", "load_certificate", "build", "certify", "check",
           "evaluate", "sample_error", "plot", "dumps", "InputError", "Rejected"]

PathLike = str | os.PathLike

#: Certificates the checker accepted in this process: ``(SHA-256 of the canonical JSON,
#: backend)``. ``plot(verify=True)`` reuses a verdict only for byte-identical content, so a
#: certificate changed after :func:`check` is checked again.
_VERIFIED: set[tuple[str, str]] = set()


def _fingerprint(obj: Mapping[str, Any]) -> str | None:
    import hashlib

    from certify.network import canonical_json

    try:
        return hashlib.sha256(canonical_json(obj).encode()).hexdigest()
    except (TypeError, ValueError):  # not plain JSON data: never reuse a verdict
        return None


def _already_verified(obj: Mapping[str, Any], backend: str) -> bool:
    key = _fingerprint(obj)
    return key is not None and ((key, backend) in _VERIFIED or (key, "both") in _VERIFIED)


def load_json(path: PathLike) -> Any:
    """The JSON document in a file, read strictly.

    Duplicate keys, ``NaN``/``Infinity`` and numbers that overflow binary64 are refused,
    as by the command line (:func:`certify.spec.load_json_file`).

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    Any
        The decoded document.

    Raises
    ------
    InputError
        Unreadable file, not UTF-8, malformed JSON, a duplicate key or a non-finite
        number (one line naming the file).
    """
    name = os.fspath(path)
    try:
        return load_json_file(name)
    except OSError as exc:  # e.g. permission denied: still one line, not a traceback
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from None
    except RecursionError:
        raise InputError(f"{name}: JSON nested too deeply") from None


def load_spec(spec: Mapping[str, Any] | PathLike | Spec) -> Spec:
    """A validated spec from a dict, a SPEC.json path or an already parsed :class:`Spec`.

    A dict is deep-copied first, so later changes to it do not affect the result.

    Raises
    ------
    InputError
        The spec is invalid (one line naming the field) or the file cannot be read.
    """
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        return parse_spec(load_json(spec))
    if isinstance(spec, Mapping):
        return parse_spec(copy.deepcopy(dict(spec)))
    raise InputError(f"spec must be a dict, a path or a Spec, not {type(spec).__name__}")


def load_certificate(path: PathLike) -> dict[str, Any]:
    """A certificate file, decoded strictly (as :func:`load_json`).

    Only the outer form is checked here: a JSON object whose ``schema`` is
    ``attncert-certificate/1``. Nothing in it is verified; use :func:`check`.

    Raises
    ------
    InputError
        As :func:`load_json`, or the document is not an attncert certificate.
    """
    obj = load_json(path)
    if not isinstance(obj, dict) or obj.get("schema") != "attncert-certificate/1":
        raise InputError(f"{os.fspath(path)}: not an attncert certificate (needs "
                         f"\"schema\": \"attncert-certificate/1\")")
    return obj


def _certificate(cert: Mapping[str, Any] | PathLike) -> dict[str, Any]:
    if isinstance(cert, (str, os.PathLike)):
        return load_certificate(cert)
    if isinstance(cert, Mapping):
        return dict(cert)
    raise InputError(f"certificate must be a dict or a path, not {type(cert).__name__}")


def build(spec: Mapping[str, Any] | PathLike | Spec):
    """The network a spec asks for, with every resource resolved.

    Parameters
    ----------
    spec : dict, str, os.PathLike or Spec
        A spec (``docs/spec.md``), as a dict, a file path, or parsed.

    Returns
    -------
    object
        The construction's built object (the same one ``attncert build`` writes): ``.net``
        is the :class:`~certify.network.AttentionNet`; ``.parameters()`` (single-head,
        multi-head, uap) or ``.resources`` (uap-two-layer, uap-softmax, seq2seq) report
        its size. Nothing about its error is claimed; see :func:`certify`.

    Raises
    ------
    InputError
        Invalid spec, or a target that cannot be enclosed on the domain.
    """
    from certify.pipeline import build as _build

    return _build(load_spec(spec))


def certify(spec: Mapping[str, Any] | PathLike | Spec, jobs: int | None = 1
            ) -> tuple[Any, dict[str, Any] | None]:
    """Build the network of a spec and run the certifying engine on it.

    Parameters
    ----------
    spec : dict, str, os.PathLike or Spec
        The spec; its ``mode`` (``prove`` with ``epsilon``, or ``measure`` with ``tol``)
        says what to establish.
    jobs : int or None
        Local worker processes for the boxes (None: one per core). The certificate does
        not depend on it.

    Returns
    -------
    (result, certificate)
        ``result`` is the engine's result (``holds``, ``lower``, ``upper``, ``message``,
        ``counterexample``, ``evaluated``, ``seconds``). ``certificate`` is the decoded
        certificate (the dict ``attncert certify --out`` writes) if ``result.holds``,
        else None. In mode ``prove``, ``holds`` False with a ``counterexample`` means an
        input where the error provably exceeds epsilon. The certificate is the engine's
        claim; :func:`check` verifies it independently.

    Raises
    ------
    InputError
        Invalid spec.
    """
    from certify.pipeline import certify as _certify

    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise InputError("jobs must be a positive integer or None")
    return _certify(load_spec(spec), None, jobs)


def check(cert: Mapping[str, Any] | PathLike, backend: str = "flint", *,
          conformance: bool = True, jobs: int = 1) -> tuple[bool, str]:
    """Verify a certificate with the independent checker, as ``attncert check`` does.

    Parameters
    ----------
    cert : dict, str or os.PathLike
        The decoded certificate or its file.
    backend : {"flint", "pyinterval", "both"}
        The rigorous arithmetic: Arb (python-flint), crlibm (pyinterval), or both (both
        must accept). ``attncert check`` defaults to "both"; "flint" is the fast path.
    conformance : bool
        Also require conformance: the stored network is exactly the one the named
        construction builds (:mod:`theorems.conformance`). ``attncert check`` requires it.
    jobs : int
        Worker processes for the leaf boxes.

    Returns
    -------
    (bool, str)
        ``(True, summary)`` only if the checker verified the error claim (``sup |N - f| <=
        claim.upper`` over the whole domain for the stored network in exact real
        arithmetic, and the witness error ``>= claim.lower``) and, with ``conformance``,
        conformance holds. Otherwise ``(False, reason)`` with the first failure.

    Raises
    ------
    InputError
        The certificate is malformed (missing keys, wrong types, NaN, bad shapes), or
        ``backend``/``jobs`` is invalid.
    """
    from certify.check.verify import check_certificate

    obj = _certificate(cert)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InputError("jobs must be a positive integer")
    key = _fingerprint(obj)
    ok, reason = check_certificate(obj, backend=backend, jobs=jobs)
    if not ok:
        return False, f"rejected ({backend}): {reason}"
    if key is not None:
        _VERIFIED.add((key, backend))
    message = f"verified ({backend}): {reason}"
    if conformance:
        from theorems.conformance import conformance as _conformance

        c_ok, why = _conformance(obj)
        message += f"; conformance: {'verified' if c_ok else 'REJECTED'}: {why}"
        return c_ok, message
    return True, message


def _network(net_or_cert: Any) -> AttentionNet:
    if isinstance(net_or_cert, AttentionNet):
        return net_or_cert
    if isinstance(getattr(net_or_cert, "net", None), AttentionNet):
        return net_or_cert.net  # a built construction
    obj = net_or_cert
    if isinstance(obj, (str, os.PathLike)):
        obj = load_json(obj)
    if isinstance(obj, Mapping):
        if obj.get("format") == NETWORK_FORMAT:
            network = obj
        elif isinstance(obj.get("network"), Mapping):
            network = obj["network"]
        else:
            raise InputError("expected a network (format attncert-network/1) or a "
                             "certificate holding one")
        try:
            return AttentionNet.from_json_obj(dict(network))
        except NetworkFormatError as exc:
            raise InputError(str(exc)) from None
    raise InputError(f"cannot take a network from a {type(net_or_cert).__name__}")


def evaluate(net_or_cert: Any, X: Any) -> np.ndarray:
    """Float64 output of a network: no error bound.

    Parameters
    ----------
    net_or_cert : AttentionNet, built object, dict or path
        A network, a built construction (:func:`build`), a certificate (its stored
        network), a network JSON object, or a file holding either.
    X : array_like
        Inputs of shape ``(d, n)`` (one sequence of n tokens of dimension d) or
        ``(N, d, n)`` (a batch), where ``(d, n)`` is the network's ``input_shape``.
        Tokens are columns: for a certificate whose ``witness.x`` lists tokens (``[n][d]``
        or flat ``k * d + i``), column k is token k.

    Returns
    -------
    numpy.ndarray
        ``(d_out, n_out)`` or ``(N, d_out, n_out)``: the values of
        :meth:`AttentionNet.evaluate_float`, applied to chunks of the batch so that
        networks with many anchor tokens stay within memory.

    Raises
    ------
    InputError
        Not a network, a wrong shape, or a non-finite input.
    """
    from certify.plot import chunk_size

    net = _network(net_or_cert)
    try:
        A = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise InputError("X must be an array of numbers") from None
    single = A.ndim == 2
    if single:
        A = A[None]
    if A.ndim != 3 or A.shape[1:] != tuple(net.input_shape):
        raise InputError(f"X has shape {list(np.shape(X))}; the network takes "
                         f"{list(net.input_shape)} or [N, {net.input_shape[0]}, "
                         f"{net.input_shape[1]}]")
    if not np.all(np.isfinite(A)):
        raise InputError("X holds a NaN or infinite number")
    step = chunk_size(net)
    parts = [net.evaluate_float(A[s:s + step]) for s in range(0, len(A), step)]
    out = np.concatenate(parts) if parts else net.evaluate_float(A)
    return out[0] if single else out


def sample_error(cert: Mapping[str, Any] | PathLike, points: Any) -> np.ndarray:
    """Float64 ``N(x) - f(x)`` of a certificate's witness output entry: no error bound.

    Parameters
    ----------
    cert : dict, str or os.PathLike
        The certificate (its network, target and domain are used; nothing is verified).
    points : array_like
        Shape ``(N, D)``: flat inputs, coordinate i of token k at index ``k * dim + i``
        (the layout of ``witness.x``; for one-token theorems simply the D variables).

    Returns
    -------
    numpy.ndarray
        Shape ``(N,)``. ``max |result|`` is a sampled lower estimate of ``sup |N - f|``
        (up to float64 rounding), never an upper bound.

    Raises
    ------
    InputError, Rejected
        As :func:`certify.plot.read_problem`, or ``points`` has the wrong shape.
    """
    from certify.plot import read_problem

    pb = read_problem(_certificate(cert))
    P = np.asarray(points, dtype=float)
    if P.ndim != 2 or P.shape[1] != pb.variables:
        raise InputError(f"points must have shape [N, {pb.variables}]")
    return pb.error(P)


def plot(cert: Mapping[str, Any] | PathLike, path: PathLike | None = None, *,
         overwrite: bool = False, verify: bool = False, backend: str = "flint",
         axes: tuple[int, int] | None = None):
    """Draw a certificate's error and attention figure (:mod:`certify.plot`).

    Parameters
    ----------
    cert : dict, str or os.PathLike
        The certificate.
    path : str or os.PathLike, optional
        Write the figure there (``.png``, ``.pdf`` or ``.svg``). None: only return it.
    overwrite : bool
        Replace an existing ``path``; without it an existing file is an InputError.
    verify : bool
        Run the checker (``backend``; error claim only, no conformance) first and raise
        :class:`Rejected` if it rejects. The figure then labels ``claim.upper`` as
        verified; otherwise as the certificate's claim. A certificate that :func:`check`
        accepted in this process with the same backend (or "both"), byte for byte in
        canonical JSON, is not checked again.
    backend : {"flint", "pyinterval", "both"}
        The checker's backend for ``verify``.
    axes : (int, int), optional
        For two or more input variables: the flat indices of the heat map's axes.

    Returns
    -------
    certify.plot.PlotResult
        ``.figure`` (a matplotlib Figure; in a notebook, display it) and the numbers on
        it: ``upper``/``lower`` (the claim), ``sampled_max`` (float64, a sampled lower
        bound of the sup error), ``points``, ``kind``, ``verified``.

    Raises
    ------
    InputError
        Not a certificate, unknown theorem, malformed fields, a bad ``path`` suffix, an
        existing ``path`` without ``overwrite``, or a file that cannot be written.
    Rejected
        The network's hash does not match, the witness names no output entry or lies
        outside the domain, or ``verify`` and the checker rejects.
    """
    from certify import plot as _plot

    obj = _certificate(cert)
    target = None if path is None else os.fspath(path)
    if target is not None:  # refuse before any drawing, not after
        _plot.check_path(target, overwrite)
    _plot.read_problem(obj)  # malformed input fails before a possibly long check
    if verify and not _already_verified(obj, backend):
        from certify.check.verify import check_certificate

        key = _fingerprint(obj)
        ok, reason = check_certificate(obj, backend=backend, jobs=1)
        if not ok:
            raise Rejected(f"{backend}: {reason}")
        if key is not None:
            _VERIFIED.add((key, backend))
    result = _plot.make_figure(obj, verified=backend if verify else None, axes=axes)
    if target is not None:
        _plot.write_figure(result, target)
    return result


def dumps(cert: Mapping[str, Any]) -> str:
    """The canonical JSON text ``attncert certify --out`` writes for a certificate."""
    from certify.network import canonical_json

    return canonical_json(dict(cert)) + "\n"

