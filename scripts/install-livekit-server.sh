#!/usr/bin/env bash
# Build the real LiveKit server (Go module github.com/livekit/livekit-server) into a cache that
# later runs reuse. Needs Go and the Go module proxy only (about 3 minutes on 2 cores, once).
#
# Pinned to v1.13.5: newer releases replace pion modules with forks whose versions the module
# proxy does not serve, so `go install` refuses them; v1.13.5 has no replace directives.
set -euo pipefail
VERSION=${LIVEKIT_SERVER_VERSION:-v1.13.5}
CACHE=${LKX_CACHE:-$HOME/.cache/lkx}
BIN="$CACHE/bin/livekit-server"

if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "${VERSION#v}"; then
  echo "livekit-server: $("$BIN" --version) already at $BIN"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "livekit-server: Go is not installed; the LiveKit server tests will be skipped" >&2
  exit 0
fi
mkdir -p "$CACHE/bin"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
echo "livekit-server: building $VERSION (a few minutes, once)"
GOBIN="$build" go install "github.com/livekit/livekit-server/cmd/server@$VERSION"
mv "$build/server" "$BIN"
echo "livekit-server: $("$BIN" --version) installed at $BIN"
