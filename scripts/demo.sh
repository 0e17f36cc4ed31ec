#!/usr/bin/env bash
# Install attncert into .venv, prove that one attention head approximates sin(x) on
# [-pi, pi] to 0.01 (universal approximation on a user's function), and check the
# certificate with both rigorous backends.  Writes out/uap_sin.cert.json (out/ belongs to
# this script).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
export PIP_CONSTRAINT="$PWD/constraints.txt"   # crlibm (pyinterval) needs setuptools<70
.venv/bin/pip install -q --disable-pip-version-check -e .
mkdir -p out
.venv/bin/attncert certify examples/uap_sin.json --out out/uap_sin.cert.json --force
.venv/bin/attncert check out/uap_sin.cert.json --backend both
