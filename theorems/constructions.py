"""Theorems that have a construction the engine can certify, by spec id."""

from __future__ import annotations

from types import ModuleType

from certify.errors import InputError


def module_for(theorem: str) -> ModuleType:
    if theorem == "single-head":
        from theorems import single_head
        return single_head
    if theorem == "multi-head":
        from theorems import multi_head
        return multi_head
    raise InputError(f"unknown theorem {theorem!r}")
