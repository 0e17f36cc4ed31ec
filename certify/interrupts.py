"""Ctrl-C with worker processes: one line, exit 130, no partial file, every time.

Worker processes of the engine and of the checker ignore SIGINT (:func:`ignore_sigint` is
their initializer), so a Ctrl-C reaches only the main process.  The main process then
terminates every child (:func:`stop_workers`) instead of waiting on a pool whose workers
may be blocked on their queues, and leaves with ``os._exit`` so that no exit handler joins
them again.
"""

from __future__ import annotations

import multiprocessing
import signal


def ignore_sigint(*_args: object) -> None:
    """Pool initializer: this process ignores SIGINT (the parent handles it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def stop_workers(timeout: float = 2.0) -> bool:
    """Terminate every child process of this process; True if there was one.

    SIGTERM first, then SIGKILL for a child still alive after ``timeout`` seconds.
    """
    children = multiprocessing.active_children()
    for p in children:
        p.terminate()
    for p in children:
        p.join(timeout)
        if p.is_alive():
            p.kill()
            p.join(timeout)
    return bool(children)
