"""Double Ctrl-C during a parallel certify or check: exit 130, one line, no partial file.

Each run is a real ``attncert`` process with two worker processes, interrupted twice at a
random moment (seeded); it must end within 30 s (no hang waiting on workers), print exactly
``attncert: interrupted`` on standard error, exit 130, and leave no output file behind, and
no worker process may survive it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ATTNCERT = [sys.executable, "-m", "certify.cli"]

LONG_SPEC = {"theorem": "uap",
             "target": {"kind": "expression", "expr": "exp(-(x**2 + y**2))",
                        "variables": ["x", "y"]},
             "domain": {"lo": [-1, -1], "hi": [1, 1]}, "mode": "prove", "epsilon": 0.01}


def _interrupt_twice(cmd: list[str], rng: random.Random, cwd: Path, tag: str
                     ) -> tuple[int, list[str]]:
    env = dict(os.environ, ATTNCERT_TEST_TAG=tag)  # inherited by every worker process
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=cwd, env=env)
    # Interrupt only once the parallel work runs (its worker processes exist), then at a
    # random moment: on a loaded machine the start-up alone can take seconds.
    deadline = time.monotonic() + 120
    while len(_survivors(tag)) < 2:
        assert p.poll() is None, "the command ended before it could be interrupted"
        assert time.monotonic() < deadline, "no worker process started within 120 s"
        time.sleep(0.05)
    time.sleep(rng.uniform(0.2, 2.0))
    assert p.poll() is None, "the command ended before it could be interrupted"
    p.send_signal(signal.SIGINT)
    time.sleep(rng.uniform(0.0, 0.3))
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail("the interrupted command did not end within 30 s")
    return p.returncode, err.strip().splitlines()


def _no_leftovers(directory: Path, name: str) -> None:
    left = [f.name for f in directory.iterdir() if f.name.startswith(name)]
    assert not left, left


def _survivors(tag: str) -> list[int]:
    """Processes still carrying the run's tag in their environment (workers included)."""
    needle = f"ATTNCERT_TEST_TAG={tag}".encode()
    alive = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if needle in (d / "environ").read_bytes().split(b"\0"):
                    alive.append(int(d.name))
            except OSError:
                pass
    return alive


def _children_gone(tag: str) -> None:
    for _ in range(20):
        if not _survivors(tag):
            return
        time.sleep(0.25)
    assert not _survivors(tag)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_double_ctrl_c_during_parallel_certify(tmp_path, seed):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(LONG_SPEC))
    tag = f"certify-{seed}-{os.getpid()}"
    code, err = _interrupt_twice(ATTNCERT + ["certify", str(spec), "--out",
                                             str(tmp_path / "cert.json"), "--jobs", "2"],
                                 random.Random(seed), Path(__file__).parent.parent, tag)
    assert code == 130 and err == ["attncert: interrupted"], (code, err)
    _no_leftovers(tmp_path, "cert.json")
    _children_gone(tag)


@pytest.fixture(scope="module")
def slow_certificate(tmp_path_factory) -> Path:
    root = Path(__file__).parent.parent
    out = tmp_path_factory.mktemp("cert") / "gauss.cert.json"
    subprocess.run(ATTNCERT + ["certify", str(root / "examples" / "uap_gauss2d.json"),
                               "--out", str(out)], check=True, capture_output=True, cwd=root)
    return out


@pytest.mark.parametrize("seed", [4, 5])
def test_double_ctrl_c_during_parallel_check(slow_certificate, seed):
    tag = f"check-{seed}-{os.getpid()}"
    code, err = _interrupt_twice(ATTNCERT + ["check", str(slow_certificate), "--backend",
                                             "both", "--jobs", "2"],
                                 random.Random(seed), Path(__file__).parent.parent, tag)
    assert code == 130 and err == ["attncert: interrupted"], (code, err)
    _children_gone(tag)


def test_write_is_atomic(tmp_path, monkeypatch):
    """The certificate appears whole or not at all: the writer renames a finished file."""
    from certify import cli

    target = tmp_path / "c.json"

    def boom(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        cli._write_new(str(target), "{}\n", False)
    assert list(tmp_path.iterdir()) == []
