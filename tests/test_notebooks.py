"""The notebooks in notebooks/ run top to bottom without an error, within a time limit.

They are executed in memory (the stored files, which carry their outputs, are not
rewritten). A missing notebook, or nbclient/nbformat/ipykernel not being installed, is a
failure, not a skip: ``pip install -e '.[test]'`` installs them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXPECTED = ("attention_as_interpolation.ipynb", "t1_best_temperature.ipynb",
            "t2_rate.ipynb", "uap_user_functions.ipynb")
#: Seconds a notebook may take (each runs in about a minute or less on 2 cores).
LIMIT = 300


def _all_notebooks() -> list[str]:
    found = {p.name for p in NOTEBOOKS.glob("*.ipynb")} if NOTEBOOKS.is_dir() else set()
    return sorted(found | set(EXPECTED))


def _tools():
    try:
        import ipykernel  # noqa: F401  (the kernel nbclient starts)
        import nbformat
        from nbclient import NotebookClient
    except ImportError as exc:
        pytest.fail(f"notebook tests need nbclient, nbformat and ipykernel "
                    f"(pip install -e '.[test]'): {exc}")
    return nbformat, NotebookClient


@pytest.mark.parametrize("name", _all_notebooks())
def test_notebook_stored_with_outputs(name):
    nbformat, _ = _tools()
    path = NOTEBOOKS / name
    assert path.is_file(), f"missing notebook {path}"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and any(c.cell_type == "markdown" for c in nb.cells)
    assert all(c.execution_count is not None for c in code), "stored without being executed"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs), \
        "no figure in the stored outputs"


@pytest.mark.parametrize("name", _all_notebooks())
def test_notebook_runs(name):
    nbformat, NotebookClient = _tools()
    path = NOTEBOOKS / name
    assert path.is_file(), f"missing notebook {path}"
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=LIMIT, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError at the first failing cell
    elapsed = time.perf_counter() - t0
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, errors[0].get("evalue") if errors else ""
    assert elapsed < LIMIT, f"{name} took {elapsed:.0f} s"
