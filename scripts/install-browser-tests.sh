#!/usr/bin/env bash
# Install what the playground's browser tests (tests/playground) need, from package registries
# only: Debian's chromium (never a browser download) and puppeteer-core, pinned by
# tests/browser/package-lock.json. Fails loudly when it cannot install; a second run takes
# about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "install-browser-tests: $*"; }
die() { echo "install-browser-tests: $*" >&2; exit 1; }

apt_install() {
  [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 \
    || die "$1 is missing and cannot be installed here (needs root and apt-get): apt-get install $*"
  apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
    || die "apt-get install $* failed"
}

command -v chromium >/dev/null 2>&1 || apt_install chromium
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' \
  || die "Node.js 18+ is needed, found $(node --version)"
chromium --version >/dev/null 2>&1 || die "chromium is installed but does not run"

lock=$(sha256sum tests/browser/package-lock.json | cut -d' ' -f1)
stamp=tests/browser/node_modules/.lkx-installed
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock" ]; then
  (cd tests/browser && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) \
    || die "npm ci in tests/browser failed"
  echo "$lock" >"$stamp"
fi
(cd tests/browser && node -e 'import("puppeteer-core")') || die "puppeteer-core does not load"
say "$(chromium --version 2>/dev/null) and puppeteer-core $(node -p 'require("./tests/browser/node_modules/puppeteer-core/package.json").version') ready"
