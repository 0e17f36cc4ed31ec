"""Sequence-to-sequence targets: one expression per output entry of every token.

``{"kind": "expression", "tokens": n, "dim": d, "outputs": [[TEXT, ...], ...]}``
    The input is a sequence of ``n`` tokens of dimension ``d``; variable ``x{k}_{i}`` is
    coordinate i of token k (flat index ``k d + i``, the order of the input box).
    ``outputs[k]`` lists token k's output entries, the same number ``d_out >= 1`` for every
    token; each entry is an expression in the whitelisted grammar of
    :mod:`certify.expression` over the variables ``x0_0, ..., x{n-1}_{d-1}``.

Domain: ``{"lo": L, "hi": H}`` with ``L`` and ``H`` a number (every coordinate) or a list of
``n`` lists of ``d`` numbers (per token and coordinate).

The normal form (:attr:`SeqTarget.normal`) is the object itself with ``kind``, ``tokens``,
``dim`` and ``outputs`` only; parsing it again gives the same normal form.  Nothing here
evaluates untrusted text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from certify.errors import InputError
from certify.expression import Expr, gradient, parse
from certify.targets import _number

#: Input variables a certificate's box cover supports (tokens x dim).
MAX_SEQ_VARIABLES = 3
#: Output entries per token.
MAX_OUTPUTS = 8


@dataclass(frozen=True)
class SeqTarget:
    """A validated sequence-to-sequence target.

    ``exprs[k][o]`` is token k's output entry o as a tree over ``variables = tokens * dim``
    variables; :attr:`outputs_flat` lists them tokens outer, entries inner (the order of the
    network's output entries).
    """

    normal: dict[str, Any]
    tokens: int
    dim: int
    exprs: tuple[tuple[Expr, ...], ...]

    @property
    def variables(self) -> int:
        return self.tokens * self.dim

    @property
    def d_out(self) -> int:
        return len(self.exprs[0])

    @property
    def outputs_flat(self) -> list[Expr]:
        return [e for row in self.exprs for e in row]

    def gradient(self, k: int, o: int) -> tuple[Expr, ...]:
        return gradient(self.exprs[k][o], self.variables)


def variable_names(tokens: int, dim: int) -> list[str]:
    """``x{k}_{i}`` in flat order ``k dim + i``."""
    return [f"x{k}_{i}" for k in range(tokens) for i in range(dim)]


def _count(obj: dict[str, Any], key: str, lo: int, hi: int) -> int:
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise InputError(f"target.{key} must be an integer")
    if not lo <= v <= hi:
        raise InputError(f"target.{key} must lie in [{lo}, {hi}]")
    return v


def parse_seq_target(obj: Any, max_variables: int = MAX_SEQ_VARIABLES) -> SeqTarget:
    """Validate a sequence-to-sequence target (module docstring); InputError names the field.

    ``max_variables`` bounds ``tokens * dim`` (the certificate's input-box cover supports
    :data:`MAX_SEQ_VARIABLES`; a larger value serves resource reports only).
    """
    if not isinstance(obj, dict):
        raise InputError("target must be a JSON object")
    unknown = sorted(set(obj) - {"kind", "tokens", "dim", "outputs"})
    if unknown:
        raise InputError(f"unknown field 'target.{unknown[0]}' (known: kind, tokens, dim, "
                         f"outputs)")
    if obj.get("kind") != "expression":
        raise InputError("theorem seq2seq takes a target of kind expression")
    for key in ("tokens", "dim", "outputs"):
        if key not in obj:
            raise InputError(f"missing field 'target.{key}'")
    n = _count(obj, "tokens", 1, 64)
    d = _count(obj, "dim", 1, 64)
    if n < 2:
        raise InputError("theorem seq2seq needs at least 2 tokens (one token: use uap-two-layer)")
    if n * d > max_variables:
        raise InputError(f"{n} tokens of dimension {d} make {n * d} input variables; "
                         f"certification over input boxes supports at most {max_variables}")
    outs = obj["outputs"]
    if not isinstance(outs, list) or len(outs) != n:
        raise InputError(f"target.outputs must list {n} token(s), one list of expressions each")
    names = variable_names(n, d)
    exprs = []
    width = None
    for k, row in enumerate(outs):
        where = f"target.outputs[{k}]"
        if not isinstance(row, list) or not 1 <= len(row) <= MAX_OUTPUTS:
            raise InputError(f"{where} must list 1 to {MAX_OUTPUTS} expressions")
        if width is not None and len(row) != width:
            raise InputError(f"{where} has {len(row)} entries; every token needs the same "
                             f"number ({width})")
        width = len(row)
        parsed = []
        for o, text in enumerate(row):
            if not isinstance(text, str):
                raise InputError(f"{where}[{o}] must be a string")
            parsed.append(parse(text, names, where=f"{where}[{o}]", variables_where="target"))
        exprs.append(tuple(parsed))
    normal = {"kind": "expression", "tokens": n, "dim": d,
              "outputs": [list(row) for row in outs]}
    return SeqTarget(normal, n, d, tuple(exprs))


def parse_seq_domain(obj: Any, st: SeqTarget) -> tuple[list[float], list[float]]:
    """Flat ``lo``, ``hi`` (index ``k d + i``) from a number or per-token lists."""
    if not isinstance(obj, dict):
        raise InputError("domain must be a JSON object with lo and hi")
    unknown = sorted(set(obj) - {"lo", "hi"})
    if unknown:
        raise InputError(f"unknown field 'domain.{unknown[0]}' (known: lo, hi)")
    out = []
    for key in ("lo", "hi"):
        if key not in obj:
            raise InputError(f"missing field 'domain.{key}'")
        v = obj[key]
        if isinstance(v, list):
            if len(v) != st.tokens or not all(isinstance(r, list) and len(r) == st.dim
                                               for r in v):
                raise InputError(f"domain.{key} must be a number or {st.tokens} list(s) of "
                                 f"{st.dim} number(s), one per token and coordinate")
            out.append([_number(x, f"domain.{key}") for r in v for x in r])
        else:
            out.append([_number(v, f"domain.{key}")] * st.variables)
    lo, hi = out
    if any(a >= b for a, b in zip(lo, hi)):
        raise InputError("domain: need lo < hi in every coordinate")
    if any(abs(x) > 1e150 for x in lo + hi):
        raise InputError("domain: coordinates beyond 1e150 are not supported")
    return lo, hi
