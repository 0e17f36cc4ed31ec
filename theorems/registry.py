"""The registry: one module per lemma or theorem, each exposing ``entry()``.

Every entry (:class:`theorems.obligations.TheoremEntry`) carries the id, the paper's
numbering in v1 and v2, the paper's claim in asymptotic form (or "unknown"), the statement
with sympy hypotheses and conclusion, the construction where there is one, our a-priori
bound as a sympy expression, and its obligations.
"""

from __future__ import annotations

import importlib

from certify.errors import InputError
from theorems.obligations import TheoremEntry

#: Registered modules, in the order of docs/mathematics.md.
MODULES: tuple[str, ...] = ("theorems.lemma_s", "theorems.lemma_i", "theorems.single_head",
                            "theorems.multi_head", "theorems.uap",
                            "theorems.uap_two_layer_obligations",
                            "theorems.uap_softmax_obligations",
                            "theorems.seq2seq_obligations", "theorems.universal")


def entries() -> list[TheoremEntry]:
    """Every registered entry.

    Returns
    -------
    list of TheoremEntry
        One per module of :data:`MODULES`, in that order.
    """
    return [importlib.import_module(m).entry() for m in MODULES]


def ids() -> list[str]:
    """The registered theorem ids.

    Returns
    -------
    list of str
    """
    return [e.id for e in entries()]


def get(theorem_id: str) -> TheoremEntry:
    """The registered entry with this id.

    Parameters
    ----------
    theorem_id : str

    Returns
    -------
    TheoremEntry

    Raises
    ------
    certify.errors.InputError
        For an unknown id (the message lists the known ones).
    """
    for e in entries():
        if e.id == theorem_id:
            return e
    raise InputError(f"unknown theorem {theorem_id!r}; known: {', '.join(ids())}")
