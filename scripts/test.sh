#!/usr/bin/env bash
# Install attncert with its test extras into .venv and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
export PIP_CONSTRAINT="$PWD/constraints.txt"   # crlibm (pyinterval) needs setuptools<70
.venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
.venv/bin/python -m pytest -n 2 -p no:cacheprovider "$@"
