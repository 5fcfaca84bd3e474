#!/usr/bin/env bash
# Rebuild the browser playground that `lkx dev` serves, from web/playground (livekit-client and
# esbuild pinned by its package-lock.json), into livekitex_cli/playground/static. The built files
# are committed: installing or running lkx needs no Node. Same lockfile -> the same bytes.
set -euo pipefail
cd "$(dirname "$0")/../web/playground"
if ! command -v npm >/dev/null 2>&1; then
  echo "build-playground: npm is not installed (Node.js 18+ is needed to rebuild the page)" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
node build.mjs
