"""Running the engine's box evaluations on several local processes or a Dask cluster.

Boxes are independent, so a round of the branch-and-bound is split into chunks that run
anywhere; results come back in order, so the outcome (and the certificate) is the same for
every executor.  Local processes are forked after the prepared outputs exist, so workers
inherit them without pickling; a Dask cluster receives them once through ``scatter``.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from certify.errors import InputError
from certify.interrupts import ignore_sigint

_SHARED: Any = None


def _call(fn: Callable, chunk: Any) -> Any:
    return fn(_SHARED, chunk)


class Serial:
    """Evaluate chunks in this process."""

    def __init__(self, shared: Any):
        self.shared = shared

    def map(self, fn: Callable, chunks: Sequence[Any]) -> list[Any]:
        return [fn(self.shared, c) for c in chunks]

    def close(self) -> None:
        pass


class LocalProcesses:
    """A pool of forked worker processes that share ``shared`` copy-on-write."""

    def __init__(self, shared: Any, jobs: int):
        global _SHARED
        _SHARED = shared
        ctx = multiprocessing.get_context("fork")
        # Workers ignore Ctrl-C; the parent stops them (certify/interrupts.py).
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx,
                                        initializer=ignore_sigint)

    def map(self, fn: Callable, chunks: Sequence[Any]) -> list[Any]:
        return list(self.pool.map(_call, [fn] * len(chunks), chunks))

    def close(self) -> None:
        self.pool.shutdown()


class DaskCluster:
    """Chunks run on a Dask distributed scheduler at ``address``."""

    def __init__(self, shared: Any, address: str):
        try:
            from dask.distributed import Client
        except ImportError:
            raise InputError("--scheduler needs dask[distributed] (pip install "
                             "'attncert[dask]')") from None
        try:
            self.client = Client(address, timeout=10)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        self.shared = self.client.scatter(shared, broadcast=True)

    def map(self, fn: Callable, chunks: Sequence[Any]) -> list[Any]:
        futures = self.client.map(fn, [self.shared] * len(chunks), chunks, pure=False)
        return self.client.gather(futures)

    def close(self) -> None:
        self.client.close()


def make_executor(shared: Any, jobs: int | None = None, scheduler: str | None = None):
    """Dask if ``scheduler`` is given, else forked local processes (``jobs`` > 1), else serial."""
    if scheduler:
        return DaskCluster(shared, scheduler)
    jobs = os.cpu_count() or 1 if jobs is None else jobs
    if jobs > 1:
        return LocalProcesses(shared, jobs)
    return Serial(shared)
