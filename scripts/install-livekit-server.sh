#!/usr/bin/env bash
# Build the real LiveKit server (Go module github.com/livekit/livekit-server) into a cache that
# later runs reuse. Needs Go and the Go module proxy only (about 3 minutes on 2 cores, once).
#
# Exits non-zero when it cannot install (no Go, a failed build), unless LKX_SKIP_SERVER=1.
#
# Pinned to v1.13.5: newer releases replace pion modules with forks whose versions the module
# proxy does not serve, so `go install` refuses them; v1.13.5 has no replace directives.
set -euo pipefail
VERSION=${LIVEKIT_SERVER_VERSION:-v1.13.5}
CACHE=${LKX_CACHE:-$HOME/.cache/lkx}
BIN="$CACHE/bin/livekit-server"

if [ "${LKX_SKIP_SERVER:-0}" = "1" ]; then
  echo "livekit-server: not installed (LKX_SKIP_SERVER=1); its tests skip, and fail in CI" >&2
  exit 0
fi
if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "${VERSION#v}"; then
  echo "livekit-server: $("$BIN" --version) already at $BIN"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "livekit-server: cannot install: Go is not installed. Install Go, or" \
    "set LKX_SKIP_SERVER=1 to go on without the server and its tests" >&2
  exit 1
fi
mkdir -p "$CACHE/bin"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
echo "livekit-server: building $VERSION (a few minutes, once)"
# no debug info and no local paths: the link step is the slowest single part of the build
if ! GOBIN="$build" go install -trimpath -ldflags="-s -w" "github.com/livekit/livekit-server/cmd/server@$VERSION"; then
  echo "livekit-server: cannot install: building $VERSION failed (see above)" >&2
  exit 1
fi
mv "$build/server" "$BIN"
if ! "$BIN" --version >/dev/null 2>&1; then
  echo "livekit-server: cannot install: the built $BIN does not run" >&2
  exit 1
fi
echo "livekit-server: $("$BIN" --version) installed at $BIN"
