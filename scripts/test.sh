#!/usr/bin/env bash
# Set up what the tests need, then run them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# The review UI test drives Debian's chromium with playwright-core (no browser download).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if command -v npm >/dev/null 2>&1 && [ ! -d tests/annotate/browser/node_modules ]; then
  (cd tests/annotate/browser && npm ci --silent --no-audit --no-fund)
fi
exec .venv/bin/python -m pytest "$@"
