#!/usr/bin/env bash
# Install attncert with its test extras into .venv and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
export PIP_CONSTRAINT="$PWD/constraints.txt"   # crlibm (pyinterval) needs setuptools<70
.venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
# PyTorch for the cross-check in tests/test_multi_head.py.  torch 2.13 needs setuptools>=77,
# which the constraint above forbids, so this step runs without it (crlibm is built by now).
env -u PIP_CONSTRAINT .venv/bin/pip install -q torch==2.13.0
.venv/bin/python -m pytest -n 2 -p no:cacheprovider "$@"
