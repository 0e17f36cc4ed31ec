"""``attncert audit``: the paper's claims beside certified numbers (docs/audit.md).

The audit runs a fixed set of certifications (:mod:`certify.audit_plan`) through the real
pipeline, writes every certificate to ``DIR/certs/`` and re-verifies each file with the
independent checker (backend flint) and the conformance check (:mod:`certify.audit_tasks`).
It trains the paper's own attention model where PyTorch is available
(:mod:`certify.audit_train`; sampled errors only), then writes

* ``DIR/audit.json`` (schema ``attncert-audit/1``): every number as a *figure* with its
  evidence (:mod:`certify.audit_report`), the claims and their verdicts
  (:mod:`certify.audit_fit`), the certificate index, the tasks and their times;
* ``DIR/audit.md``: the readable report (:mod:`certify.audit_render`);
* PNG plots.

Soundness: a certified figure is read back from a certificate file that the checker
accepted; a certificate the checker rejects is reported as rejected and makes the command
exit 1.  Sampled figures are labelled as sampled.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from certify import __version__, audit_render, audit_report
from certify import audit_plan as ap
from certify.audit_tasks import run_task
from certify.errors import InputError

#: Section headings of audit.md (re-exported for tests and docs).
REQUIRED_SECTIONS = audit_render.SECTIONS


def prepare_out_dir(path: str, force: bool) -> str:
    """Check (and create) the output directory before any computation.

    An existing non-empty directory is refused without ``force``; with ``force`` the
    audit's own files in it are replaced and other files are left alone.

    Returns
    -------
    str
        The absolute path.

    Raises
    ------
    InputError
        ``path`` is a file, an existing non-empty directory without ``force``, cannot be
        created, or cannot be written (one line).
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputError(f"{path}: not a directory")
    if os.path.isdir(path) and os.listdir(path) and not force:
        raise InputError(f"{path} exists and is not empty; pass --force to write into it")
    try:
        os.makedirs(path, exist_ok=True)
        for sub in ("certs", "counterexamples"):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        probe = os.path.join(path, f".attncert-audit-probe-{os.getpid()}")
        with open(probe, "w", encoding="utf-8") as fh:  # os.access says yes to root
            fh.write("")
        os.remove(probe)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return os.path.abspath(path)


def _environment(torch_info: tuple[bool, str]) -> dict[str, Any]:
    import numpy

    try:
        import flint
        flint_version = getattr(flint, "__version__", "unknown")
    except ImportError:  # the checker needs it; recorded for the report only
        flint_version = None
    return {"attncert": __version__, "python": platform.python_version(),
            "numpy": numpy.__version__, "python-flint": flint_version,
            "torch": torch_info[1] if torch_info[0] else None,
            "platform": platform.platform()}


def _torch_probe() -> tuple[bool, str]:
    # In a child process: importing torch here would make later forks unsafe.
    import subprocess

    code = "import torch; print(torch.__version__)"
    try:
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"PyTorch could not be probed ({exc})"
    if res.returncode == 0:
        return True, res.stdout.strip()
    last = (res.stderr.strip().splitlines() or ["import failed"])[-1]
    return False, f"PyTorch is not installed ({last}); pip install torch==2.13.0"


def execute(task_list: list[dict[str, Any]], out_dir: str, jobs: int,
            progress: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """Run the tasks on ``jobs`` worker processes (in this process if ``jobs == 1``).

    Returns
    -------
    dict
        Task name -> record (:func:`certify.audit_tasks.run_task`); every task has one.
    """
    results: dict[str, dict[str, Any]] = {}
    total = len(task_list)

    def done(rec: dict[str, Any]) -> None:
        results[rec["name"]] = rec
        if progress:
            progress(f"{len(results)}/{total} {rec['name']}: {rec['status']} "
                     f"({rec['seconds']:.1f} s)")

    if jobs <= 1:
        for task in task_list:
            done(run_task(task, out_dir))
        return results
    with cf.ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_task, task, out_dir): task for task in task_list}
        for fut in cf.as_completed(futures):
            task = futures[fut]
            try:
                rec = fut.result()
            except Exception as exc:  # a worker died; the task still gets a record
                rec = {"name": task["name"], "kind": task["kind"], "params": task["params"],
                       "status": "error", "error": f"{type(exc).__name__}: {exc}",
                       "seconds": 0.0}
            done(rec)
    return results


def run_audit(out_dir: str, quick: bool = False, jobs: int = 1,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the audit into ``out_dir`` (prepared by :func:`prepare_out_dir`).

    Parameters
    ----------
    out_dir : str
        Output directory; ``audit.json``, ``audit.md``, PNG plots, ``certs/`` and
        ``counterexamples/`` are written there.
    quick : bool
        The reduced plan (no training).
    jobs : int
        Worker processes; each runs whole tasks (one certification or search at a time).
    progress : callable, optional
        Called with one line per finished task.

    Returns
    -------
    dict
        The ``audit.json`` object.  ``summary`` counts the certificates and how many the
        checker and the conformance check accepted.
    """
    t0 = time.perf_counter()
    plan = ap.make_plan(quick)
    torch_info = _torch_probe() if plan["train"] else (False, "--quick skips training")
    if progress:
        progress(f"{plan['mode']} audit: {len(ap.tasks(plan))} tasks (and a refinement of "
                 f"c(kappa)) on {jobs} process(es)")
    results = execute(ap.tasks(plan), out_dir, jobs, progress)
    # Second pass: refine c(kappa) between the grid neighbours of its grid minimiser.
    c_of = {}
    for i, kappa in enumerate(plan["kappa_grid"]):
        rec = results.get(ap.name_kappa(i))
        if audit_report.ok(rec):
            c_of[kappa] = float(rec["claim"]["upper"]) / float(rec["parameters"]["delta"])
    plan["kappa_refine_values"] = ap.kappa_refinement(plan, c_of)
    results.update(execute(ap.refinement_tasks(plan), out_dir, jobs, progress))
    body = audit_report.build(plan, results, torch_info)
    index = audit_report.certificates_index(results, out_dir)
    verified = sum(1 for v in index.values() if (v.get("check") or {}).get("verified"))
    audit: dict[str, Any] = {
        "schema": audit_report.SCHEMA, "mode": plan["mode"], "plan": plan,
        "environment": _environment(torch_info),
        "machine": {"cpus": os.cpu_count(), "jobs": jobs},
        "summary": {"certificates": len(index), "verified": verified,
                    "rejected": len(index) - verified,
                    "task_errors": sorted(n for n, r in results.items()
                                          if r["status"] == "error")},
        **body, "certificates": index,
        "tasks": sorted(({"name": n, "kind": r["kind"], "status": r["status"],
                          "seconds": r["seconds"], **({"error": r["error"]}
                                                      if r["status"] == "error" else {})}
                         for n, r in results.items()), key=lambda t: t["name"]),
        "plots": []}
    if progress:
        progress("writing plots and the report")
    audit["plots"] = audit_render.write_plots(audit, out_dir)
    audit["seconds"] = round(time.perf_counter() - t0, 2)
    with open(os.path.join(out_dir, "audit.md"), "w", encoding="utf-8") as fh:
        fh.write(audit_render.render_markdown(audit))
    with open(os.path.join(out_dir, "audit.json"), "w", encoding="utf-8") as fh:
        json.dump(audit, fh, indent=1, allow_nan=False, default=_json_default)
        fh.write("\n")
    return audit


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def text_summary(audit: dict[str, Any], out_dir: str) -> str:
    """The command's report on standard output (the claims and the total time)."""
    width = max(len(c["id"]) for c in audit["claims"])
    lines = [f"{c['id']:<{width}}  {c['verdict']:<24}  {c['ours']}" for c in audit["claims"]]
    s = audit["summary"]
    lines.append(f"{s['certificates']} certificates, {s['verified']} verified (flint + "
                 f"conformance), {s['rejected']} rejected; {len(s['task_errors'])} task "
                 f"error(s)")
    lines.append(f"audit written to {out_dir}/audit.md, audit.json, "
                 f"{len(audit['plots'])} plots; total time {audit['seconds']:.1f} s")
    return "\n".join(lines)
