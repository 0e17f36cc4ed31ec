#!/usr/bin/env bash
# Install attncert into .venv, certify the example spec, and check the certificate with
# both rigorous backends.  Writes out/single_head.cert.json (out/ belongs to this script).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
export PIP_CONSTRAINT="$PWD/constraints.txt"   # crlibm (pyinterval) needs setuptools<70
.venv/bin/pip install -q --disable-pip-version-check -e .
mkdir -p out
.venv/bin/attncert certify examples/single_head.json --out out/single_head.cert.json --force
.venv/bin/attncert check out/single_head.cert.json --backend both
