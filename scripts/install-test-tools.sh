#!/usr/bin/env bash
# What the test suite needs besides Python packages, from Debian's packages and npm only:
# espeak-ng and sox (real speech for the voice tests), chromium (the playground's browser
# tests, never a browser download), redis-server (the Redis that tests/cluster's two LiveKit
# nodes share) and puppeteer-core (scripts/install-browser-tests.sh).
# Fails loudly when it cannot install; a second run takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in espeak-ng sox chromium redis-server; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-tools: please install ${missing[*]} (needs root and apt-get)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
    >/dev/null
fi
espeak-ng --version >/dev/null && sox --version >/dev/null && redis-server --version >/dev/null
scripts/install-browser-tests.sh
